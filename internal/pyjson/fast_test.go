package pyjson

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFewDecimalsIsRepr checks AppendFloat's fast path against the
// general algorithm (strconv's shortest digits, re-laid out as Python's
// repr) on millions of values, most of them in the fast path's range.
func TestFewDecimalsIsRepr(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	hits := 0
	check := func(f float64) {
		fast, ok := appendFewDecimals(nil, f)
		if !ok {
			return
		}
		hits++
		if want := referencePyFloat(nil, f); string(fast) != string(want) {
			t.Fatalf("%v (bits %#x): fast path %q, repr %q", f, math.Float64bits(f), fast, want)
		}
	}
	for _, f := range []float64{1e-4, -1e-4, 0.00015, 999999999.999999, 5.2, 1, 100, 0.1, 0.3, 123456.789, -0.5, 1e9 - 1, 0.000123} {
		check(f)
	}
	for i := range 3_000_000 {
		var f float64
		switch i % 6 {
		case 0:
			f = math.Round(rng.Float64()*2000*100) / 100
		case 1:
			f = float64(rng.IntN(2_000_000_000)-1_000_000_000) / math.Pow10(rng.IntN(7))
		case 2:
			f = math.Float64frombits(rng.Uint64())
		case 3:
			f = rng.Float64() * math.Pow10(rng.IntN(14)-4)
		case 4:
			f = math.Nextafter(math.Round(rng.Float64()*1e6)/1e3, math.Inf(1))
		case 5:
			f = -math.Round(rng.NormFloat64()*1e5) / 1e4
		}
		check(f)
	}
	if hits < 1_000_000 {
		t.Fatalf("only %d values took the fast path", hits)
	}
	// Outside its range the fast path declines.
	for _, f := range []float64{5e-5, 1e9, 1e300, math.Nextafter(0.1, 1), 1.0 / 3} {
		if _, ok := appendFewDecimals(nil, f); ok {
			t.Errorf("fast path took %v", f)
		}
	}
}

// referencePyFloat is AppendFloat without the fast path.
func referencePyFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f == 0:
		return append(dst, "0.0"...)
	}
	return appendRepr(dst, f)
}
