package archivefile

import (
	"database/sql"
	"strconv"
	"time"

	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pyjson"
)

// The canonical layout: every byte the Writer puts around the values, in
// one place, so that the Writer and the Reader's fast path (readCanonical)
// read and write the same layout by construction. With <…> for values:
//
//	document: {"day": "<day>", "data": [<group>, <group>]}
//	          (a rewrite's kept top-level members go before the last "}", after ", ")
//	group:    {"sensor": <string>, "measurements": [<reading>, <reading>]}
//	reading:  {"time": "<time>", "measurement": <number|null>, "qc_flags": <integer|null>,
//	           "imputation_method": <string|null>[, "extra": <extra>][, <other tools' members>]}
//	extra:    {<name>: <value>, <name>: <value>}   (names in byte order: measure.EncodeExtra)
//
// Members are separated by ", ", keys by ": ", and there is no other
// whitespace. <time> is YYYY-MM-DDTHH:MM:SS[.fffffffff]Z; strings are
// ASCII (pyjson.AppendString).
const (
	layoutDocStart  = `{"day": "`
	layoutDocData   = `", "data": [`
	layoutDataEnd   = `]`
	layoutDocEnd    = `}`
	layoutSep       = pyjson.ItemSep // between groups, readings and members
	layoutKeySep    = pyjson.KeySep  // between a member's key and its value
	layoutGroup     = `{"sensor": `
	layoutReadings  = `, "measurements": [`
	layoutGroupEnd  = `]}`
	layoutTime      = `{"time": "`
	layoutValue     = `", "measurement": ` // the quote closes the time
	layoutQC        = `, "qc_flags": `
	layoutMethod    = `, "imputation_method": `
	layoutExtra     = `, "extra": `
	layoutNull      = `null`
	layoutReadEnd   = `}`
	layoutTimeUTC   = 'Z'
	layoutTimeSplit = 'T'
)

// The field parsers: the general reader and the fast path both turn a
// field's raw bytes into its value with these, so that the two read every
// value the same way and refuse the same values.

// parseTimeField parses the text of a reading's "time" string (memo: see
// parseTime).
func parseTimeField(b []byte, memo *dateMemo) (time.Time, int64, error) {
	sec, nsec, ok := parseTime(b, memo)
	if !ok {
		return time.Time{}, 0, syntaxf(`invalid "time" %q: want RFC 3339, e.g. 2025-01-15T00:10:00Z`, b)
	}
	return time.Unix(sec, int64(nsec)).UTC(), sec, nil
}

// parseValueField parses the bare token of a reading's "measurement":
// a number, NaN, Infinity, -Infinity or null.
func parseValueField(tok []byte) (v sql.NullFloat64, text string, err error) {
	if string(tok) == layoutNull {
		return v, "", nil
	}
	v, text, ok := measure.ParseNumber(tok)
	if !ok {
		return v, "", syntaxf(`invalid "measurement" %q: want a number, NaN, Infinity, -Infinity or null`, tok)
	}
	return v, text, nil
}

// parseQCField parses the bare token of a reading's "qc_flags": an
// integer in int64 range or null.
func parseQCField(tok []byte) (sql.NullInt64, error) {
	if len(tok) == 1 && tok[0] >= '0' && tok[0] <= '9' {
		return sql.NullInt64{Int64: int64(tok[0] - '0'), Valid: true}, nil // most flags
	}
	kind, ok := pyjson.Classify(tok)
	if !ok || (kind != pyjson.Null && (kind != pyjson.Number || !pyjson.IsInteger(tok))) {
		return sql.NullInt64{}, syntaxf(`invalid "qc_flags" %q: want an integer or null`, tok)
	}
	if kind == pyjson.Null {
		return sql.NullInt64{}, nil
	}
	v, err := strconv.ParseInt(string(tok), 10, 64)
	if err != nil {
		return sql.NullInt64{}, syntaxf(`"qc_flags" %q is out of int64 range`, tok)
	}
	return sql.NullInt64{Int64: v, Valid: true}, nil
}

// parseMethodScalar checks the bare (non-string) token of a reading's
// "imputation_method": only null is one.
func parseMethodScalar(tok []byte) error {
	if string(tok) != layoutNull {
		return syntaxf(`invalid "imputation_method" %q: want a string or null`, tok)
	}
	return nil
}
