package floattext

import (
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

func TestLayouts(t *testing.T) {
	for _, c := range []struct {
		f      float64
		py, pg string
	}{
		{5, "5.0", "5"},
		{-2.5, "-2.5", "-2.5"},
		{0.0001, "0.0001", "0.0001"},
		{0.00001, "1e-05", "1e-05"},
		{1e15, "1000000000000000.0", "1e+15"},
		{1e16, "1e+16", "1e+16"},
		{123456789012345.6, "123456789012345.6", "123456789012345.6"},
		{-1.5e300, "-1.5e+300", "-1.5e+300"},
		{5e-324, "5e-324", "5e-324"},
	} {
		e := strconv.AppendFloat(nil, c.f, 'e', -1, 64)
		if got := string(Python.Append(nil, e)); got != c.py {
			t.Errorf("Python %v: %q, want %q", c.f, got, c.py)
		}
		if got := string(PostgreSQL.Append(nil, e)); got != c.pg {
			t.Errorf("PostgreSQL %v: %q, want %q", c.f, got, c.pg)
		}
	}
}

// Every layout reads back as the same float, with the shortest digits, in
// the notation its exponent calls for.
func TestLayoutsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for range 200000 {
		f := math.Float64frombits(rng.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) || f == 0 {
			continue
		}
		e := strconv.AppendFloat(nil, f, 'e', -1, 64)
		exp, _ := strconv.Atoi(string(e[strings.IndexByte(string(e), 'e')+1:]))
		for _, l := range []Layout{Python, PostgreSQL} {
			s := string(l.Append(nil, e))
			if g, err := strconv.ParseFloat(s, 64); err != nil || g != f {
				t.Fatalf("%v: %q reads back as %v, %v", f, s, g, err)
			}
			if fixed := !strings.ContainsRune(s, 'e'); fixed != (exp >= -4 && exp < l.FixedBelow) {
				t.Fatalf("%v: %q with exponent %d in %+v", f, s, exp, l)
			}
		}
	}
}

// The values both programs spell alike, but for a zero's integral suffix;
// any other value is left to Append.
func TestAppendSpecial(t *testing.T) {
	for _, c := range []struct {
		f          float64
		python, pg string
		notSpecial bool
	}{
		{f: math.NaN(), python: "NaN", pg: "NaN"},
		{f: math.Inf(1), python: "Infinity", pg: "Infinity"},
		{f: math.Inf(-1), python: "-Infinity", pg: "-Infinity"},
		{f: 0, python: "0.0", pg: "0"},
		{f: math.Copysign(0, -1), python: "-0.0", pg: "-0"},
		{f: 5e-324, notSpecial: true},
		{f: -1.5, notSpecial: true},
	} {
		for _, l := range []struct {
			layout Layout
			want   string
		}{{Python, c.python}, {PostgreSQL, c.pg}} {
			got, ok := l.layout.AppendSpecial([]byte("x"), c.f)
			switch {
			case c.notSpecial && (ok || string(got) != "x"):
				t.Errorf("%v: AppendSpecial = %q, %v; want nothing appended", c.f, got, ok)
			case !c.notSpecial && (!ok || string(got) != "x"+l.want):
				t.Errorf("%v: AppendSpecial = %q, %v; want %q", c.f, got, ok, "x"+l.want)
			}
		}
	}
}
