package export

import (
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/shizuku-labs/archiver/internal/floattext"
	"github.com/shizuku-labs/archiver/internal/measure"
)

// The text forms PostgreSQL's output functions produce, so that a CSV export
// is byte for byte what `COPY (SELECT ...) TO STDOUT (FORMAT csv, HEADER)`
// writes for the same rows in a UTC session (tested against the server).

// appendPGFloat8 appends f as float8out does with extra_float_digits >= 1
// (the default since PostgreSQL 12): the shortest digits that round-trip,
// in fixed notation when the decimal exponent is in [-4, 15) and as
// "d.ddde±XX" otherwise; NaN, Infinity, -Infinity and -0 as such.
func appendPGFloat8(dst []byte, f float64) []byte { return appendPGFloat(dst, f, 64) }

// appendPGFloat4 appends f (a float4's value) as float4out does: the
// shortest digits that give the float4 back, fixed notation when the
// decimal exponent is in [-4, 6) (FLT_DIG), else "d.ddde±XX".
func appendPGFloat4(dst []byte, f float64) []byte { return appendPGFloat(dst, float64(float32(f)), 32) }

func appendPGFloat(dst []byte, f float64, bits int) []byte {
	if d, ok := floattext.PostgreSQL.AppendSpecial(dst, f); ok {
		return d
	}
	// Go's shortest digits are PostgreSQL's (both Ryu: the shortest string
	// that round-trips, closest to the value) except where the shortest
	// string lies exactly halfway to a neighbouring float: PostgreSQL's Ryu
	// does not accept the bounds, so for 1e23 it writes
	// 9.999999999999999e+22. Only the layout differs otherwise.
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, bits)
	layout := floattext.PostgreSQL // float8out: DBL_DIG
	if bits == 32 {
		layout.FixedBelow = 6 // float4out: FLT_DIG
		if math.Abs(f) >= 1<<24 {
			e = notOnBound32(e, float32(f))
		}
	} else if math.Abs(f) >= 1<<53 {
		e = notOnBound(e, f)
	}
	return layout.Append(dst, e)
}

// appendPGTimestamptz appends t as timestamptz_out does in a UTC session
// with DateStyle ISO: "YYYY-MM-DD HH:MM:SS[.ffffff]+00", trailing fractional
// zeros trimmed. Times finer than a microsecond (PostgreSQL has none) keep
// their digits rather than being rounded.
func appendPGTimestamptz(dst []byte, t time.Time) []byte {
	t = t.UTC()
	dst = t.AppendFormat(dst, "2006-01-02 15:04:05")
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, "+00"...)
}

// appendPGDate appends d as date_out does with DateStyle ISO.
func appendPGDate(dst []byte, d measure.Day) []byte {
	return append(dst, d.String()...)
}

// appendCSVField appends s as COPY's CSV output does with the default
// options (delimiter ',', quote '"', NULL as the empty unquoted string): a
// value is quoted when it is empty (so that it differs from NULL) or holds
// the delimiter, a quote, CR or LF; quotes inside are doubled.
func appendCSVField(dst []byte, s string) []byte {
	quote := s == ""
	for i := 0; i < len(s) && !quote; i++ {
		switch s[i] {
		case ',', '"', '\n', '\r':
			quote = true
		}
	}
	if !quote {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// notOnBound returns e, Go's shortest 'e' form of f (|f| >= 2^53, so f and
// the midpoints to its neighbours are integers), unless it is exactly such
// a midpoint; then the shortest correctly rounded form strictly between
// them, as PostgreSQL writes it.
func notOnBound(e []byte, f float64) []byte {
	if !onBound(e, f) {
		return e
	}
	for prec := 1; prec <= 17; prec++ {
		c := strconv.AppendFloat(nil, f, 'e', prec, 64)
		if back, err := strconv.ParseFloat(string(c), 64); err == nil && back == f && !onBound(c, f) {
			return c
		}
	}
	return e
}

// onBound reports whether the decimal text d equals a midpoint between f and
// one of its neighbouring floats.
func onBound(d []byte, f float64) bool {
	v, ok := new(big.Rat).SetString(string(d))
	if !ok || !v.IsInt() {
		return false
	}
	x, _ := new(big.Float).SetFloat64(f).Int(nil)
	for _, dir := range []float64{math.Inf(1), math.Inf(-1)} {
		n := math.Nextafter(f, dir)
		if math.IsInf(n, 0) {
			continue
		}
		y, _ := new(big.Float).SetFloat64(n).Int(nil)
		mid := new(big.Int).Add(x, y)
		mid.Rsh(mid, 1) // exact: the gap is an even integer
		if mid.Cmp(v.Num()) == 0 {
			return true
		}
	}
	return false
}

// notOnBound32 is notOnBound for a float4 (|f| >= 2^24).
func notOnBound32(e []byte, f float32) []byte {
	if !onBound32(e, f) {
		return e
	}
	for prec := 1; prec <= 9; prec++ {
		c := strconv.AppendFloat(nil, float64(f), 'e', prec, 32)
		if back, err := strconv.ParseFloat(string(c), 32); err == nil && float32(back) == f && !onBound32(c, f) {
			return c
		}
	}
	return e
}

func onBound32(d []byte, f float32) bool {
	v, ok := new(big.Rat).SetString(string(d))
	if !ok || !v.IsInt() {
		return false
	}
	x, _ := new(big.Float).SetFloat64(float64(f)).Int(nil)
	for _, dir := range []float32{float32(math.Inf(1)), float32(math.Inf(-1))} {
		n := math.Nextafter32(f, dir)
		if math.IsInf(float64(n), 0) {
			continue
		}
		y, _ := new(big.Float).SetFloat64(float64(n)).Int(nil)
		mid := new(big.Int).Add(x, y)
		mid.Rsh(mid, 1)
		if mid.Cmp(v.Num()) == 0 {
			return true
		}
	}
	return false
}
