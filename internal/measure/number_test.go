package measure

import (
	"strconv"
	"testing"

	"github.com/shizuku-labs/archiver/internal/pyjson"
)

// plainFloat is only a shortcut: wherever it says yes, pyjson.AppendFloat must
// write the token itself.
func TestPlainFloatAgreesWithPyFloat(t *testing.T) {
	toks := []string{"5.2", "-0.0", "0.0", "0.1", "0.0001", "0.00001", "1e-05", "123456789.125", "999999999999999.9",
		"1000000000000000.0", "100000000000000.0", "5.0", "5.50", "05.5", "1.23456789012345", "1.234567890123456",
		"0.000123456789012345", "12.0", "-7.25", "1", "1.", ".5", "9007199254740993.0", "0.30000000000000004"}
	for f := -3.0; f < 3; f += 0.0173 {
		toks = append(toks, string(pyjson.AppendFloat(nil, f)), strconv.FormatFloat(f, 'f', 3, 64))
	}
	for _, tok := range toks {
		if !plainFloat([]byte(tok)) {
			continue
		}
		f, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			t.Fatalf("%s: %v", tok, err)
		}
		if got := string(pyjson.AppendFloat(nil, f)); got != tok {
			t.Errorf("plainFloat(%s) but pyjson.AppendFloat writes %s", tok, got)
		}
	}
}
