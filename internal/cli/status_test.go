package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type statusDoc struct {
	OK               bool           `json:"ok"`
	From             string         `json:"from"`
	To               string         `json:"to"`
	Counts           map[string]int `json:"counts"`
	Overdue          []string       `json:"overdue"`
	OldestPendingAge float64        `json:"oldest_pending_age_seconds"`
	Days             []struct {
		Day        string  `json:"day"`
		State      string  `json:"state"`
		ArchiveKey *string `json:"archive_key"`
		Bytes      *int64  `json:"bytes"`
		Readings   *int64  `json:"readings"`
		Rows       *int64  `json:"rows"`
		Attempts   int     `json:"failed_attempts"`
		RestoredAt *string `json:"restored_at"`
		Reason     *string `json:"reason"`
	} `json:"days"`
}

// TestStatusEveryState builds a database with a day in every state the
// archiver produces (archived, failed, partial by late rows, partial by a
// restore, pending within and beyond --max-pending-days, not due, empty)
// and checks both output forms, the exit status, --from/--to, --counts and
// the status metrics.
func TestStatusEveryState(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	ago := func(n int) string { return today.AddDate(0, 0, -n).Format("2006-01-02") }

	h.insertClean(sample(today, 41, 33, 2)) // days 41..34 ago: due
	// Day 38 ago cannot be uploaded: a directory (not empty) stands where
	// its object must go, so the file:// rename fails.
	failedDay := today.AddDate(0, 0, -38)
	blocker := filepath.Join(h.dir, "archives", failedDay.Format("2006/01"), "archive-"+ago(38)+".json.gz", "x")
	if err := os.MkdirAll(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := h.run("archive"); r.code != 1 {
		t.Fatalf("archive with a blocked day: exit %d, want 1\n%s", r.code, r.stderr)
	}
	h.mustRun("restore", "--day", ago(35))               // partial: restored
	h.mustRun("restore", "--day", ago(39), "--checkout") // checked out
	h.insertClean(sample(today, 37, 36, 1)[:1])          // partial: one late row for day 37 ago
	h.insertClean(sample(today, 46, 45, 1))              // pending since ~15 days: overdue
	h.insertClean(sample(today, 31, 30, 1))              // pending since today 00:00: within the limit
	h.insertClean(sample(today, 5, 4, 1))                // not due
	// Days 45..42 ago hold nothing: empty; days 41, 40, 36, 34 are archived.

	want := map[string]string{
		ago(46): "pending", ago(45): "empty", ago(44): "empty", ago(43): "empty", ago(42): "empty",
		ago(41): "archived", ago(40): "archived", ago(39): "checked out", ago(38): "failed", ago(37): "partial",
		ago(36): "archived", ago(35): "partial", ago(34): "archived", ago(33): "empty", ago(32): "empty",
		ago(31): "pending", ago(30): "not due", ago(5): "not due", ago(0): "not due",
	}
	wantCounts := map[string]int{"failed": 1, "checked out": 1, "partial": 2, "pending": 2, "archived": 4, "empty": 6}
	wantCounts["not due"] = 47 - 1 - 1 - 2 - 2 - 4 - 6 // every day from 46 ago to today

	r := h.run("status", "--format", "json", "--counts")
	if r.code != 1 {
		t.Fatalf("status: exit %d, want 1 (a failed day)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var doc statusDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, r.stdout)
	}
	if doc.OK || doc.From != ago(46) || doc.To != ago(0) || len(doc.Days) != 47 {
		t.Fatalf("status JSON: ok=%v from=%s to=%s days=%d, want false %s %s 47", doc.OK, doc.From, doc.To, len(doc.Days), ago(46), ago(0))
	}
	for _, d := range doc.Days {
		if w, ok := want[d.Day]; ok && d.State != w {
			t.Errorf("%s: state %q, want %q (reason %v)", d.Day, d.State, w, deref(d.Reason))
		}
		switch d.Day {
		case ago(41):
			if d.ArchiveKey == nil || *d.ArchiveKey != "archives/"+today.AddDate(0, 0, -41).Format("2006/01")+"/archive-"+ago(41)+".json.gz" ||
				d.Bytes == nil || *d.Bytes <= 0 || d.Readings == nil || *d.Readings != 48 || d.Rows == nil || *d.Rows != 0 {
				t.Errorf("archived day %s: key %v bytes %v readings %v rows %v", d.Day, deref(d.ArchiveKey), d.Bytes, d.Readings, d.Rows)
			}
		case ago(38):
			if d.Attempts != 1 || d.Reason == nil || !strings.Contains(*d.Reason, "1 failed attempt") || d.Rows == nil || *d.Rows != 48 || d.ArchiveKey != nil {
				t.Errorf("failed day: attempts %d reason %v rows %v key %v", d.Attempts, deref(d.Reason), d.Rows, deref(d.ArchiveKey))
			}
		case ago(37):
			if d.Rows == nil || *d.Rows != 1 || d.Reason == nil || !strings.Contains(*d.Reason, "rows arrived after") {
				t.Errorf("late-row day: rows %v reason %v", d.Rows, deref(d.Reason))
			}
		case ago(35):
			if d.RestoredAt == nil || d.Rows == nil || *d.Rows != 48 || d.Reason == nil || !strings.Contains(*d.Reason, "restored at") {
				t.Errorf("restored day: restored_at %v rows %v reason %v", d.RestoredAt, d.Rows, deref(d.Reason))
			}
		}
	}
	for s, n := range wantCounts {
		if doc.Counts[s] != n {
			t.Errorf("counts[%s] = %d, want %d (all: %v)", s, doc.Counts[s], n, doc.Counts)
		}
	}
	if len(doc.Overdue) != 1 || doc.Overdue[0] != ago(46) {
		t.Errorf("overdue = %v, want [%s]", doc.Overdue, ago(46))
	}
	if min := (15 * 24 * time.Hour).Seconds(); doc.OldestPendingAge < min || doc.OldestPendingAge > min+86400 {
		t.Errorf("oldest pending age %v s, want 15 to 16 days", doc.OldestPendingAge)
	}

	// The calendar: each day's cell in its month's line.
	metricsFile := filepath.Join(t.TempDir(), "archiver.prom")
	r = h.run("status", "--metrics-file", metricsFile)
	if r.code != 1 || strings.Contains(r.stdout, "\x1b[") {
		t.Fatalf("status (text): exit %d (want 1), colour codes when not a terminal: %v\n%s", r.code, strings.Contains(r.stdout, "\x1b["), r.stdout)
	}
	lines := strings.Split(r.stdout, "\n")
	symbol := map[string]byte{"checked out": 'C', "failed": 'X', "partial": '+', "pending": 'o', "archived": '#', "not due": '.', "empty": '-'}
	for day, state := range want {
		tm, _ := time.Parse("2006-01-02", day)
		var line string
		for _, l := range lines {
			if strings.HasPrefix(l, tm.Format("2006-01")+"  ") {
				line = l
			}
		}
		col := 9 + tm.Day() - 1
		if col >= len(line) || line[col] != symbol[state] {
			t.Errorf("calendar cell of %s: line %q, want %q at column %d", day, line, symbol[state], col)
		}
	}
	for _, s := range []string{"# archived 4", "X failed 1", "o pending 2", "+ partial 2", "- empty 6", "C checked out 1",
		"Problem days:", ago(38) + "  failed", ago(46) + "  pending", ago(35) + "  partial", "PROBLEM: 47 days",
		ago(39) + "  checked out  checked out at", "archiver checkin --day " + ago(39)} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("status text lacks %q:\n%s", s, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "1 failed day") || !strings.Contains(r.stderr, "pending for more than 2 days") {
		t.Errorf("stderr does not say why the check failed:\n%s", r.stderr)
	}
	prom, err := os.ReadFile(filepath.Join(filepath.Dir(metricsFile), "archiver-status.prom"))
	if err != nil {
		t.Fatalf("status metrics in their own textfile: %v", err)
	}
	for _, s := range []string{`archiver_status_days{state="failed"} 1`, `archiver_status_days{state="archived"} 4`,
		`archiver_status_days{state="checked out"} 1`, `archiver_status_oldest_pending_age_seconds{command="status"} 1.3`,
		`archiver_last_run_success{command="status"} 0`} {
		if !strings.Contains(string(prom), s) {
			t.Errorf("status metrics lack %q:\n%s", s, prom)
		}
	}
	if _, err := os.Stat(metricsFile); !os.IsNotExist(err) {
		t.Errorf("status wrote the archive run's textfile %s (err %v)", metricsFile, err)
	}

	// --from/--to: a range without the failed or the overdue day passes.
	r = h.run("status", "--from", ago(37), "--to", ago(30))
	if r.code != 0 || !strings.Contains(r.stdout, "OK: 8 days from "+ago(37)+" to "+ago(30)) {
		t.Errorf("status --from %s --to %s: exit %d, want 0\n%s\n%s", ago(37), ago(30), r.code, r.stdout, r.stderr)
	}
	// A --to before the first day with data shows that day, not a range
	// that runs backwards.
	if r := h.run("status", "--to", ago(60)); r.code != 0 || !strings.Contains(r.stdout, "OK: 1 day from "+ago(60)+" to "+ago(60)) {
		t.Errorf("status --to %s: exit %d\n%s", ago(60), r.code, r.stdout)
	}
	// Pending within the limit passes; a limit of 0 does not.
	if r := h.run("status", "--from", ago(31), "--to", ago(31)); r.code != 0 {
		t.Errorf("a day pending for less than 2 days: exit %d, want 0\n%s", r.code, r.stdout)
	}
	if r := h.run("status", "--from", ago(31), "--to", ago(31), "--max-pending-days", "0"); r.code != 1 {
		t.Errorf("a pending day with --max-pending-days 0: exit %d, want 1\n%s", r.code, r.stdout)
	}
	if r := h.run("status", "--from", ago(46), "--to", ago(46), "--max-pending-days", "20"); r.code != 0 {
		t.Errorf("--max-pending-days 20 on a day pending for 15: exit %d, want 0\n%s", r.code, r.stdout)
	}

	// Once the blocker is gone, the next archive run clears every problem
	// but the checkout, which it leaves alone.
	if err := os.RemoveAll(filepath.Dir(blocker)); err != nil {
		t.Fatal(err)
	}
	h.mustRun("archive")
	r = h.mustRun("status", "--format", "json")
	doc = statusDoc{}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if !doc.OK || doc.Counts["failed"]+doc.Counts["pending"]+doc.Counts["partial"] != 0 || doc.Counts["archived"] != 9 || doc.Counts["checked out"] != 1 {
		t.Errorf("after a clean run: ok=%v counts %v, want no problems, 9 archived and 1 checked out", doc.OK, doc.Counts)
	}
	// checkin ends the checkout: the day is archived again.
	h.mustRun("checkin", "--day", ago(39))
	doc = statusDoc{}
	if err := json.Unmarshal([]byte(h.mustRun("status", "--format", "json").stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Counts["archived"] != 10 || doc.Counts["checked out"] != 0 {
		t.Errorf("after checkin: counts %v, want 10 archived and none checked out", doc.Counts)
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// TestStatusColoursOnlyOnATerminal runs the real binary under a
// pseudo-terminal (script(1)): the calendar is coloured there, and plain
// with NO_COLOR set or when stdout is a pipe.
func TestStatusColoursOnlyOnATerminal(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 33, 31, 1))
	h.mustRun("archive")
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Fatalf("script(1) (util-linux) is needed for a pseudo-terminal: %v", err)
	}
	cmdline := strings.Join([]string{archiverBinary(t), "status", "--database-url", "'" + h.dbURL + "'", "--bucket", "'" + h.bucket + "'"}, " ")
	for _, c := range []struct {
		name   string
		env    []string
		colour bool
	}{
		{"terminal", []string{"TERM=xterm"}, true},
		{"NO_COLOR", []string{"TERM=xterm", "NO_COLOR=1"}, false},
		{"TERM=dumb", []string{"TERM=dumb"}, false},
	} {
		cmd := exec.Command(scriptBin, "-q", "-e", "-c", cmdline, "/dev/null")
		cmd.Env = append(os.Environ(), c.env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, out)
		}
		if got := strings.Contains(string(out), "\x1b[32m#\x1b[0m"); got != c.colour {
			t.Errorf("%s: coloured cells %v, want %v:\n%q", c.name, got, c.colour, out)
		}
		if !strings.Contains(string(out), "archived 2") {
			t.Errorf("%s: no legend:\n%s", c.name, out)
		}
	}
	code, out := h.runBinary(t, []string{"TERM=xterm"}, "status")
	if code != 0 || strings.Contains(out, "\x1b[") {
		t.Errorf("to a pipe: exit %d, colour codes %v", code, strings.Contains(out, "\x1b["))
	}
}
