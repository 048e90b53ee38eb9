package status

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
)

// TestDecide: every combination of due, rows and history gets the first
// state that applies, in the documented order.
func TestDecide(t *testing.T) {
	d := measure.MustParseDay("2025-01-10")
	retention := 30 * 24 * time.Hour
	due := d.End().Add(retention).Add(time.Hour)
	early := d.End().Add(retention).Add(-time.Hour)
	at := func(h int) time.Time { return d.End().Add(time.Duration(h) * time.Hour) }
	archived := &manifest.Entry{Kind: manifest.KindArchive, Status: manifest.StatusCommitted, ObjectKey: "k", FinishedAt: at(1)}
	failed := &manifest.Entry{Kind: manifest.KindArchive, Status: manifest.StatusFailed, Error: "boom\nstack", FinishedAt: at(2)}
	restored := &manifest.Entry{Kind: manifest.KindRestore, Status: manifest.StatusCommitted, FinishedAt: at(3)}
	checkedOut := &manifest.Entry{Kind: manifest.KindRestore, Status: manifest.StatusCommitted, Checkout: manifest.CheckoutOpen, OSUser: "ana", Host: "db1", FinishedAt: at(3)}
	for _, c := range []struct {
		name string
		now  time.Time
		rows bool
		h    *dayHistory
		want State
		why  string
	}{
		{"nothing, due", due, false, nil, Empty, ""},
		{"nothing, not due", early, false, nil, NotDue, ""},
		{"rows, not due", early, true, nil, NotDue, ""},
		{"rows, due", due, true, nil, Pending, "never archived"},
		{"rows, due, failed", due, true, &dayHistory{lastAttempt: failed, failures: 1}, Failed, "1 failed attempt"},
		{"rows, not due, failed", early, true, &dayHistory{lastAttempt: failed, failures: 1}, NotDue, ""},
		{"no rows, failed then nothing left", due, false, &dayHistory{lastAttempt: failed, failures: 1}, Empty, ""},
		{"archived", due, false, &dayHistory{archive: archived, lastAttempt: archived}, Archived, ""},
		{"archived, not due any more", early, false, &dayHistory{archive: archived}, Archived, ""},
		{"archived, late rows", due, true, &dayHistory{archive: archived, lastAttempt: archived}, Partial, "rows arrived after"},
		{"archived, restored", due, true, &dayHistory{archive: archived, lastAttempt: archived, restore: restored}, Partial, "restored at"},
		{"checked out", due, true, &dayHistory{archive: archived, lastAttempt: archived, restore: checkedOut, checkout: checkedOut}, CheckedOut, "checked out at"},
		{"checked out, rows deleted by hand", due, false, &dayHistory{archive: archived, lastAttempt: archived, restore: checkedOut, checkout: checkedOut}, CheckedOut, "archiver checkin --day 2025-01-10"},
		{"checked out, then a failed attempt", due, true, &dayHistory{archive: archived, lastAttempt: failed, failures: 1, checkout: checkedOut}, Failed, "1 failed attempt"},
		{"archived, merge failed", due, true, &dayHistory{archive: archived, lastAttempt: failed, failures: 2}, Failed, "2 failed attempts"},
	} {
		got := decide(d, c.now, retention, c.rows, c.h)
		if got.State != c.want || !strings.Contains(got.Reason, c.why) || strings.Contains(got.Reason, "stack") {
			t.Errorf("%s: state %q reason %q, want %q with %q", c.name, got.State, got.Reason, c.want, c.why)
		}
	}
}

// TestCalendarColour: colour only when asked, and the same symbols either way.
func TestCalendarColour(t *testing.T) {
	d := measure.MustParseDay("2025-02-27")
	rep := Report{From: d, To: d.AddDays(2), Counts: map[State]int{Archived: 1, Failed: 1, Empty: 1},
		Days: []Day{{Day: d, State: Archived}, {Day: d.AddDays(1), State: Failed, Reason: "boom"}, {Day: d.AddDays(2), State: Empty}}}
	var plain, colour bytes.Buffer
	WriteCalendar(&plain, rep, false)
	WriteCalendar(&colour, rep, true)
	if strings.Contains(plain.String(), "\x1b[") || !strings.Contains(colour.String(), "\x1b[1;31mX\x1b[0m") {
		t.Errorf("plain:\n%s\ncolour:\n%q", plain.String(), colour.String())
	}
	for _, want := range []string{"2025-02  " + strings.Repeat(" ", 26) + "#X\n", "2025-03  -\n", "2025-02-28  failed       boom", "PROBLEM: 3 days"} {
		if !strings.Contains(plain.String(), want) {
			t.Errorf("calendar lacks %q:\n%s", want, plain.String())
		}
	}
}
