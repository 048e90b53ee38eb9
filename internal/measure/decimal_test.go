package measure

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCompareDecimal(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.5", "1.500", 0}, {"1.5", "1.50001", -1}, {"-0", "0.0", 0}, {"10", "9.99", 1},
		{"-10", "-9.99", -1}, {"1e3", "1000", 0}, {"12345678901234567890", "12345678901234567000", 1},
		{"0.001", "1e-3", 0}, {"0.0001", "0.001", -1}, {"-1", "0", -1}, {"100", "1.0e2", 0},
	} {
		if got := compareDecimal(c.a, c.b); got != c.want {
			t.Errorf("compareDecimal(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := compareDecimal(c.b, c.a); got != -c.want {
			t.Errorf("compareDecimal(%s, %s) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
	// numeric(12,3) holds 1.500 where an older archive holds 1.5.
	a := Reading{Sensor: "s", ValueText: "1.500", Value: fl(1.5)}
	b := Reading{Sensor: "s", Value: fl(1.5)}
	if (Schema{Value: ValueDecimal}).Compare(&a, &b) != 0 {
		t.Error("1.500 and 1.5 differ as numeric")
	}
}

// compareDecimal is checked against math/big on random decimals in every
// layout JSON allows (exponents, leading and trailing zeros, signs).
func TestCompareDecimalAgreesWithBigRat(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	gen := func() string {
		var b strings.Builder
		if rnd.IntN(2) == 0 {
			b.WriteByte('-')
		}
		ip := rnd.IntN(4)
		if ip == 0 {
			b.WriteByte('0')
		} else {
			b.WriteByte(byte('1' + rnd.IntN(9)))
			for range ip - 1 {
				b.WriteByte(byte('0' + rnd.IntN(10)))
			}
		}
		if rnd.IntN(2) == 0 {
			b.WriteByte('.')
			for range 1 + rnd.IntN(4) {
				b.WriteByte(byte('0' + rnd.IntN(3)))
			}
		}
		if rnd.IntN(3) == 0 {
			fmt.Fprintf(&b, "e%d", rnd.IntN(9)-4)
		}
		return b.String()
	}
	for range 20000 {
		a, b := gen(), gen()
		ra, ok1 := new(big.Rat).SetString(a)
		rb, ok2 := new(big.Rat).SetString(b)
		if !ok1 || !ok2 {
			t.Fatalf("big.Rat cannot read %s or %s", a, b)
		}
		if got, want := compareDecimal(a, b), ra.Cmp(rb); got != want {
			t.Fatalf("compareDecimal(%s, %s) = %d, want %d", a, b, got, want)
		}
	}
}
