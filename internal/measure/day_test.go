package measure

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseDay(t *testing.T) {
	for _, s := range []string{"2025-01-15", "2024-02-29", "2000-02-29", "1970-01-01", "0000-01-01", "9999-12-31", "1969-12-31"} {
		d, err := ParseDay(s)
		if err != nil {
			t.Errorf("ParseDay(%q): %v", s, err)
			continue
		}
		if d.String() != s || d.IsZero() {
			t.Errorf("ParseDay(%q) = %v", s, d)
		}
		if want, _ := time.Parse("2006-01-02", s); !d.Start().Equal(want) {
			t.Errorf("%s Start %v, want %v", s, d.Start(), want)
		}
	}
	for _, s := range []string{"", "2025-1-15", "2025-01-5", "2025/01/15", "2025-01-15T00:00:00Z", " 2025-01-15", "2025-01-15 ",
		"2025-13-01", "2025-00-10", "2025-01-00", "2025-02-29", "1900-02-29", "2025-04-31", "+025-01-15", "２０２５-01-15", "2025-01-1a"} {
		_, err := ParseDay(s)
		if err == nil {
			t.Errorf("ParseDay(%q) accepted", s)
			continue
		}
		if !strings.Contains(err.Error(), "YYYY-MM-DD") || !strings.Contains(err.Error(), `"`+s+`"`) {
			t.Errorf("ParseDay(%q) error %q should quote the input and the expected form", s, err)
		}
	}
}

func TestDayMethods(t *testing.T) {
	d := MustParseDay("2024-12-31")
	if got := d.AddDays(1).String(); got != "2025-01-01" {
		t.Errorf("AddDays(1) = %s", got)
	}
	if got := d.AddDays(-366).String(); got != "2023-12-31" {
		t.Errorf("AddDays(-366) = %s", got)
	}
	if !d.End().Equal(d.AddDays(1).Start()) || d.End().Sub(d.Start()) != 24*time.Hour {
		t.Error("End is not the next day's Start")
	}
	if d.Start().Location() != time.UTC {
		t.Error("Start not in UTC")
	}
	if !d.Before(d.AddDays(1)) || d.Before(d) || !d.AddDays(1).After(d) || d.Compare(d) != 0 || !d.Equal(MustParseDay("2024-12-31")) {
		t.Error("ordering")
	}
	var z Day
	if !z.IsZero() || z.String() != "0000-00-00" || !z.Before(MustParseDay("0000-01-01")) || !z.AddDays(3).IsZero() || !z.Start().IsZero() {
		t.Error("zero Day")
	}
	if z == MustParseDay("1970-01-01") {
		t.Error("zero Day equals 1970-01-01")
	}
	// DayOf uses the UTC day whatever the location.
	tokyo := time.FixedZone("JST", 9*3600)
	if got := DayOf(time.Date(2025, 1, 16, 8, 59, 59, 999, tokyo)); got.String() != "2025-01-15" {
		t.Errorf("DayOf in JST = %s", got)
	}
	if got := DayOf(time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)); got.String() != "1969-12-31" {
		t.Errorf("DayOf before epoch = %s", got)
	}
	if !d.Contains(d.Start()) || d.Contains(d.End()) || !d.Contains(d.End().Add(-1)) {
		t.Error("Contains is not [Start, End)")
	}
	m := map[Day]int{MustParseDay("2025-01-15"): 1}
	if m[DayOf(time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC))] != 1 {
		t.Error("Day not usable as a map key")
	}
	// Every day of a few centuries round-trips through civil dates.
	for n := int64(-200000); n < 200000; n += 7 {
		y, m, dd := civilFromDays(n)
		if daysFromCivil(y, m, dd) != n {
			t.Fatalf("civil round trip failed at %d", n)
		}
		want := time.Unix(n*86400, 0).UTC()
		if int(y) != want.Year() || m != int(want.Month()) || dd != want.Day() {
			t.Fatalf("civilFromDays(%d) = %d-%d-%d, want %v", n, y, m, dd, want)
		}
	}
}

func TestDayText(t *testing.T) {
	var v struct{ D Day }
	if err := json.Unmarshal([]byte(`{"D": "2025-01-15"}`), &v); err != nil || v.D.String() != "2025-01-15" {
		t.Fatalf("%v %v", v, err)
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) != `{"D":"2025-01-15"}` {
		t.Fatalf("%s %v", b, err)
	}
	if err := json.Unmarshal([]byte(`{"D": "2025-1-15"}`), &v); err == nil {
		t.Fatal("bad day accepted")
	}
	if _, err := json.Marshal(struct{ D Day }{}); err == nil {
		t.Fatal("zero Day marshalled")
	}
}
