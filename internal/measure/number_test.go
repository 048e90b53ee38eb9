package measure

import (
	"math"
	"math/rand"
	"strconv"
	"testing"

	"github.com/shizuku-labs/archiver/internal/pyjson"
)

// plainFloat is only a shortcut: wherever it says yes, its value must be
// strconv.ParseFloat's bit for bit, and pyjson.AppendFloat must write the token
// itself.
func TestPlainFloatAgreesWithPyFloat(t *testing.T) {
	toks := []string{"5.2", "-0.0", "0.0", "0.1", "0.0001", "0.00001", "1e-05", "123456789.125", "999999999999999.9",
		"1000000000000000.0", "100000000000000.0", "5.0", "5.50", "05.5", "1.23456789012345", "1.234567890123456",
		"0.000123456789012345", "12.0", "-7.25", "1", "1.", ".5", "9007199254740993.0", "0.30000000000000004"}
	for f := -3.0; f < 3; f += 0.0173 {
		toks = append(toks, string(pyjson.AppendFloat(nil, f)), strconv.FormatFloat(f, 'f', 3, 64))
	}
	rng := rand.New(rand.NewSource(7))
	for range 200000 {
		// Random decimals of up to 18 digits around the decimal point,
		// where a wrong rounding of the fast division would show.
		digits := strconv.FormatUint(rng.Uint64()%1_000_000_000_000_000_000, 10)
		p := rng.Intn(len(digits))
		tok := digits[:p+1] + "." + digits[p+1:]
		if p+1 == len(digits) {
			tok += "0"
		}
		if rng.Intn(2) == 0 {
			tok = "-" + tok
		}
		// And integers of up to 15 digits with ".0", whose digits times ten
		// pass 2^53 (even, so still exact).
		toks = append(toks, tok, "0.000"+digits[:1+rng.Intn(min(15, len(digits)))], digits[:1+rng.Intn(min(15, len(digits)))]+".0")
	}
	fast := 0
	for _, tok := range toks {
		v, ok := plainFloat([]byte(tok))
		if !ok {
			continue
		}
		fast++
		f, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			t.Fatalf("%s: %v", tok, err)
		}
		if math.Float64bits(v) != math.Float64bits(f) {
			t.Errorf("plainFloat(%s) = %v (%#x), strconv.ParseFloat %v (%#x)", tok, v, math.Float64bits(v), f, math.Float64bits(f))
		}
		if got := string(pyjson.AppendFloat(nil, f)); got != tok {
			t.Errorf("plainFloat(%s) but pyjson.AppendFloat writes %s", tok, got)
		}
	}
	if fast < len(toks)/4 {
		t.Errorf("plainFloat took only %d of %d tokens: the test does not exercise it", fast, len(toks))
	}
}
