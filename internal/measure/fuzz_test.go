package measure

import (
	"bytes"
	"strconv"
	"testing"
)

func FuzzParseDay(f *testing.F) {
	for _, s := range []string{"2025-01-15", "2024-02-29", "2025-02-29", "0000-01-01", "9999-12-31", "2025-1-15", "", "2025-01-15T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDay(s)
		if err != nil {
			if !d.IsZero() {
				t.Fatal("error with a non-zero Day")
			}
			if !bytes.Contains([]byte(err.Error()), []byte(strconv.Quote(s))) {
				t.Fatalf("error %q does not quote the input", err)
			}
			return
		}
		if d.String() != s {
			t.Fatalf("ParseDay(%q).String() = %q", s, d.String())
		}
		if DayOf(d.Start()) != d || DayOf(d.End().Add(-1)) != d || DayOf(d.End()) != d.AddDays(1) {
			t.Fatalf("%s: Start/End/DayOf disagree", s)
		}
		if d.AddDays(1).AddDays(-1) != d || !d.Before(d.AddDays(1)) {
			t.Fatalf("%s: AddDays", s)
		}
	})
}
