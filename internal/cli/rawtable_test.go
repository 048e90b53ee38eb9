package cli_test

import (
	"path/filepath"
	"testing"

	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// TestCommandsWithoutRawTable: only archive purges the raw table, so only
// archive needs it. status, verify, export, restore and checkin work on a
// database without one (a deployment that dropped it, or never had it),
// with raw.table left at its default; archive refuses, naming the setting.
func TestCommandsWithoutRawTable(t *testing.T) {
	h := newHarness(t)
	day, rs := h.archivedDay()
	h.exec(`DROP TABLE shizuku.raw_measurements`)

	testkit.Contains(t, "status", h.mustRun("status").stdout, "archived 1")
	testkit.Contains(t, "verify", h.mustRun("verify", "--deep").stdout, "1 ok, 0 missing, 0 corrupt")
	out := filepath.Join(t.TempDir(), "day.csv")
	testkit.Contains(t, "export", h.mustRun("export", "--from", rstDay(day), "--to", rstDay(day), "--out", out).stderr, "Export complete: 1 days")
	h.mustRun("restore", "--day", rstDay(day), "--checkout")
	sameReadings(t, "restored", h.cleanRows("true"), rs)
	testkit.Contains(t, "checkin", h.mustRun("checkin", "--day", rstDay(day)).stdout, "Checked in")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows left after checkin", n)
	}

	r := h.run("archive")
	if r.code != cli.ExitUnavailable {
		t.Fatalf("archive without the raw table: exit %d, want %d\n%s", r.code, cli.ExitUnavailable, r.stderr)
	}
	testkit.Contains(t, "archive without the raw table", r.stderr, "shizuku.raw_measurements does not exist", "raw.table")
	h.mustRun("archive", "--raw-table", "")
}
