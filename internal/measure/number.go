package measure

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/shizuku-labs/archiver/internal/pyjson"
)

var (
	nan    = math.NaN()
	posInf = math.Inf(1)
	negInf = math.Inf(-1)
)

func nullF(f float64) sql.NullFloat64 { return sql.NullFloat64{Float64: f, Valid: true} }

// ParseNumber turns a JSON number token (or NaN, Infinity, -Infinity)
// into a reading's value: Value holds its float64, and text is the token
// itself when the float64 would not give it back exactly (see
// Reading.ValueText). ok is false for anything that is not a number.
func ParseNumber(tok []byte) (v sql.NullFloat64, text string, ok bool) {
	if f, ok := plainFloat(tok); ok {
		return nullF(f), "", true
	}
	switch kind, valid := pyjson.Classify(tok); {
	case !valid:
		return v, "", false
	case kind == pyjson.NaN:
		return nullF(nan), "", true
	case kind == pyjson.Inf:
		return nullF(posInf), "", true
	case kind == pyjson.NegInf:
		return nullF(negInf), "", true
	case kind != pyjson.Number:
		return v, "", false
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		var ne *strconv.NumError
		if !errors.As(err, &ne) || ne.Err != strconv.ErrRange {
			return v, "", false
		}
		// Out of float64 range: f is ±Inf or ±0, the text is the value.
		return nullF(f), string(tok), true
	}
	var tmp [32]byte
	if !bytes.Equal(pyjson.AppendFloat(tmp[:0], f), tok) {
		text = string(tok)
	}
	return nullF(f), text, true
}

// plainFloat reports, cheaply, whether tok is surely what pyjson.AppendFloat
// writes for its value, so that no text need be kept, and returns the
// value: fixed notation (-?D.F, no leading zeros, no trailing zero but a
// lone ".0"), at most 15 significant digits (distinct such decimals are
// distinct float64s, so the shortest text of the value is these digits)
// and a decimal exponent in [-4, 15] (where Python uses fixed notation).
// Every value the writer's fast path writes is such a token; false means
// "parse and check properly". The digits, as an integer, are below 10^15
// and the divisor a power of ten up to 10^18, both exact in a float64, so
// one correctly rounded division gives the value strconv.ParseFloat would
// (Clinger's fast path) at a fraction of its cost.
func plainFloat(tok []byte) (float64, bool) {
	i := 0
	neg := i < len(tok) && tok[i] == '-'
	if neg {
		i++
	}
	start := i
	var m uint64
	for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
		m = m*10 + uint64(tok[i]-'0')
		i++
	}
	intDigits := i - start
	if intDigits == 0 || intDigits > 15 || (intDigits > 1 && tok[start] == '0') || i >= len(tok) || tok[i] != '.' {
		return 0, false
	}
	i++
	fs := i
	for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
		m = m*10 + uint64(tok[i]-'0')
		i++
	}
	frac := tok[fs:i]
	if i != len(tok) || len(frac) == 0 || len(frac) > 18 || (len(frac) > 1 && frac[len(frac)-1] == '0') {
		return 0, false
	}
	sig := intDigits + len(frac)
	if tok[start] == '0' {
		// 0.000ddd: leading zeros are not significant; below 1e-4 Python
		// writes an exponent.
		z := 0
		for z < len(frac) && frac[z] == '0' {
			z++
		}
		switch {
		case z == len(frac):
			return math.Copysign(0, sign(neg)), len(frac) == 1 // 0.0 (and -0.0)
		case z > 3:
			return 0, false
		}
		sig = len(frac) - z
	} else if len(frac) == 1 && frac[0] == '0' {
		sig = intDigits // trailing zeros of the integer part may be significant or not: at most 15 digits either way
	}
	if sig > 15 {
		return 0, false
	}
	return math.Copysign(float64(m)/pow10[len(frac)], sign(neg)), true
}

func sign(neg bool) float64 {
	if neg {
		return -1
	}
	return 1
}

// pow10 are the powers of ten plainFloat divides by, all exact.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// SetValue sets r's value from the text PostgreSQL gives for a numeric,
// integer or floating-point column ("NaN", "Infinity" and "-Infinity"
// included), keeping it exactly.
func SetValue(r *Reading, text string) error {
	switch text {
	case "NaN":
		r.Value, r.ValueText = nullF(nan), ""
		return nil
	case "Infinity":
		r.Value, r.ValueText = nullF(posInf), ""
		return nil
	case "-Infinity":
		r.Value, r.ValueText = nullF(negInf), ""
		return nil
	}
	v, t, ok := ParseNumber([]byte(text))
	if !ok {
		return fmt.Errorf("value %q is not a number", text)
	}
	r.Value, r.ValueText = v, t
	return nil
}

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
