package pyjson

import (
	"math"
	"testing"
)

func TestPyFloat(t *testing.T) {
	// Expected strings are Python 3 repr() output.
	cases := []struct {
		f    float64
		want string
	}{
		{5, "5.0"}, {0.1, "0.1"}, {1e-05, "1e-05"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"},
		{123456789.125, "123456789.125"}, {math.Copysign(0, -1), "-0.0"}, {0, "0.0"},
		{0.0001, "0.0001"}, {0.00012345, "0.00012345"}, {1.5e300, "1.5e+300"}, {-1.5e-300, "-1.5e-300"},
		{1.0 / 3, "0.3333333333333333"}, {2.0 / 3 * 1e20, "6.666666666666666e+19"},
		{9007199254740993, "9007199254740992.0"}, {1234567890123456.7, "1234567890123456.8"},
		{12345678901234567, "1.2345678901234568e+16"}, {5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"}, {100, "100.0"}, {-7.25, "-7.25"},
		{math.NaN(), "NaN"}, {math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"},
	}
	for _, c := range cases {
		if got := string(AppendFloat(nil, c.f)); got != c.want {
			t.Errorf("AppendFloat(%v) = %s, want %s", c.f, got, c.want)
		}
	}
}
