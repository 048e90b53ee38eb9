// Package archivefile holds the day archive format: one gzipped JSON document
// per UTC day, in exactly the layout the original Python service wrote, so
// that existing archives and existing readers keep working.
//
//	{"day": "2025-01-15", "data": [{"sensor": "s1", "measurements": [
//	  {"time": "2025-01-15T00:00:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null}]}]}
//
// Writers emit a canonical form (sensors ascending by byte order, readings
// ascending by time, one copy of each reading), so the same set of readings
// always gives the same bytes and the same sha256. Readers accept the
// original service's looser output as well.
package archivefile

import (
	"database/sql"
	"time"
)

// FormatVersion is recorded in every manifest; bump it when the canonical
// encoding changes, because checksums of equal reading sets change with it.
const FormatVersion = 1

// ContentType is set on uploaded objects. The objects are gzip files, not
// gzip-encoded JSON: a Content-Encoding header would make some stores (GCS)
// decompress on read and the checksum would no longer match.
const ContentType = "application/gzip"

// Reading is one clean measurement. Identity is the whole tuple: two readings
// are the same reading only if all five fields are equal (NULL equals NULL,
// NaN equals NaN).
type Reading struct {
	Sensor     string
	Time       time.Time // UTC, microsecond precision in PostgreSQL
	Value      sql.NullFloat64
	QCFlags    sql.NullInt64
	Imputation sql.NullString
}
