package measure

import (
	"math"
	"strconv"
)

// ValueString is a reading's value as text PostgreSQL's input functions of
// every numeric type read back exactly (integers without a fraction, no
// exponent); ok is false for NULL.
func ValueString(r *Reading) (s string, ok bool) {
	if !r.Value.Valid {
		return "", false
	}
	if r.ValueText != "" {
		return r.ValueText, true
	}
	f := r.Value.Float64
	switch {
	case math.IsNaN(f):
		return "NaN", true
	case math.IsInf(f, 1):
		return "Infinity", true
	case math.IsInf(f, -1):
		return "-Infinity", true
	}
	return strconv.FormatFloat(f, 'f', -1, 64), true
}

// MemberKind is the JSON kind of an "extra" value.
type MemberKind uint8

const (
	MemberNull MemberKind = iota
	MemberString
	MemberNumber // also NaN, Infinity, -Infinity
	MemberBool
	MemberJSON // an object or array
)

// Member is one named value of a reading's "extra" object.
type Member struct {
	Name string
	Kind MemberKind
	// Text is the decoded string for MemberString, and the JSON text for
	// every other kind ("null", a number, "true", an object).
	Text string
	// Raw is the value's JSON text exactly as in the archive (a string
	// with its quotes); a json column restores from it.
	Raw string
}
