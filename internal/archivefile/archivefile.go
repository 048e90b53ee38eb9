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
// 2: -0 is written -0.0; numeric, integer and real values exactly; the
// "extra" member; fields of other tools kept. An archive of the original
// types without -0 is byte-identical to version 1.
const FormatVersion = 2

// ContentType is set on uploaded objects. The objects are gzip files, not
// gzip-encoded JSON: a Content-Encoding header would make some stores (GCS)
// decompress on read and the checksum would no longer match.
const ContentType = "application/gzip"

// CacheControl is set on uploaded objects. An archive is replaced when late
// readings are merged into its day, and a public store's CDN may go on
// serving the old copy of a URL for the max-age (Vercel Blob's default is a
// month): five minutes bounds how long someone fetching the public URL can
// see an archive without its late readings. The archiver's own reads never
// use a cached copy (the Vercel Blob driver bypasses the CDN).
const CacheControl = "max-age=300"

// Reading is one clean measurement. Identity is the whole reading: two
// readings are the same reading only if every field is equal under the
// Schema's comparison (NULL equals NULL, NaN equals NaN, values compared in
// the value column's type).
type Reading struct {
	Sensor string
	Time   time.Time // UTC, microsecond precision in PostgreSQL
	Value  sql.NullFloat64
	// ValueText is the value's exact JSON number when Value.Float64 does not
	// give it back: a numeric such as 123456789.123456789 or 1.500, an
	// integer ("42", not 42.0), a number out of float64 range. It is ""
	// when the shortest Python-style text of Value.Float64 is the number,
	// which is every value of a double precision column. When set, it is
	// what is written and restored; Value.Float64 is then its nearest
	// float64 (±Inf beyond range), for ordering only.
	ValueText  string
	QCFlags    sql.NullInt64
	Imputation sql.NullString
	// Extra is the reading's "extra" member: a JSON object, exactly as
	// written (see EncodeExtra and ParseExtra), holding the values of the
	// table's columns beyond the five mapped ones (clean.columns.extra).
	// "" when there are none, and then no "extra" member is written.
	Extra string
	// Other holds reading members this format does not define (written by
	// another tool into an archive), as `"key": value` members joined by
	// ", ", values exactly as read. Rewrites carry them over; restore does
	// not load them.
	Other string
}

// Schema says what the archive's values stand for in the table, which
// decides how a value is written and when two values are the same reading.
// The zero Schema is the original format's: a double precision value.
type Schema struct {
	Value ValueType
}

// ValueType is the kind of the value column.
type ValueType uint8

const (
	// ValueFloat8: double precision; values written as Python's json does.
	ValueFloat8 ValueType = iota
	// ValueFloat4: real; written as the shortest text that round-trips to
	// the same float4, compared as float4 (so 5.199999809265137, the
	// float8 form older archives hold, and 5.2 are one value).
	ValueFloat4
	// ValueDecimal: numeric and the integer types; written as exact
	// decimal text (ValueText), compared numerically (1.5 equals 1.500).
	ValueDecimal
)

func (v ValueType) String() string {
	switch v {
	case ValueFloat4:
		return "real"
	case ValueDecimal:
		return "decimal"
	}
	return "double precision"
}
