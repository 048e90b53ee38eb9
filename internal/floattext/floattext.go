// Package floattext lays out a float's shortest round-trip digits as other
// programs print floats: Python's repr (the archive's measurements) and
// PostgreSQL's float8out (CSV exports byte-identical to COPY). Both pick
// the same digits as Go's shortest formatting; only the layout differs,
// so the digits come from strconv and only the layout is here.
package floattext

import "math"

// Layout is one program's layout of the digits.
type Layout struct {
	// FixedBelow: decimal exponents in [-4, FixedBelow) are written in
	// fixed notation, the others in exponent notation.
	FixedBelow int
	// Integral is appended to an integral value in fixed notation.
	Integral string
}

var (
	// Python is repr's layout ("1e-05", "0.0001", "1e+16", "5.0").
	Python = Layout{FixedBelow: 16, Integral: ".0"}
	// PostgreSQL is float8out's layout with extra_float_digits >= 1 (the
	// default since PostgreSQL 12): "1e-05", "1e+15", "5". float4out's is
	// the same with FixedBelow 6 (FLT_DIG).
	PostgreSQL = Layout{FixedBelow: 15}
)

// AppendSpecial appends f if it is NaN, an infinity or a zero, which both
// programs spell alike ("NaN", "Infinity", "-Infinity", a signed zero with
// the layout's Integral: Python's "-0.0", PostgreSQL's "-0"); ok is false,
// and nothing appended, for any other value.
func (l Layout) AppendSpecial(dst []byte, f float64) (_ []byte, ok bool) {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...), true
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...), true
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...), true
	case f == 0:
		if math.Signbit(f) {
			dst = append(dst, '-')
		}
		return append(append(dst, '0'), l.Integral...), true
	}
	return dst, false
}

// Append appends a finite, non-zero float given by e, its shortest digits
// in strconv's 'e' form ("[-]d[.ddd]e±XX[X]"), in layout l. Exponent
// notation is that form itself (at least two exponent digits, a sign, no
// ".0" on a single digit), which both programs write.
func (l Layout) Append(dst, e []byte) []byte {
	if e[0] == '-' {
		dst = append(dst, '-')
		e = e[1:]
	}
	var digits [24]byte
	nd, i := 0, 0
	for ; i < len(e) && e[i] != 'e'; i++ {
		if e[i] != '.' {
			digits[nd] = e[i]
			nd++
		}
	}
	exp := 0
	for _, c := range e[i+2:] {
		exp = exp*10 + int(c-'0')
	}
	if e[i+1] == '-' {
		exp = -exp
	}
	if exp < -4 || exp >= l.FixedBelow {
		return append(dst, e...)
	}
	if exp < 0 {
		dst = append(dst, '0', '.')
		for j := -1; j > exp; j-- {
			dst = append(dst, '0')
		}
		return append(dst, digits[:nd]...)
	}
	// exp+1 digits before the point.
	if nd <= exp+1 {
		dst = append(dst, digits[:nd]...)
		for j := nd; j <= exp; j++ {
			dst = append(dst, '0')
		}
		return append(dst, l.Integral...)
	}
	dst = append(dst, digits[:exp+1]...)
	dst = append(dst, '.')
	return append(dst, digits[exp+1:nd]...)
}
