package measure

import (
	"database/sql"
	"errors"
	"time"
)

// ErrOutOfOrder: readings were not in canonical order (Merge, and the
// archive writer).
var ErrOutOfOrder = errors.New("readings out of canonical order")

// fmtTime is a reading's time in messages.
func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

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
	// written (see EncodeExtra, and archivefile.ParseExtra), holding the values of the
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
