package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnlistedColumnExitsThreeBeforeAnythingChanges (issue 11, part 1): a
// clean table column the archive would not hold is known only once the
// database is reached (exit 3); nothing is purged, uploaded or deleted,
// and the message names the column and both settings. Listing it with
// --clean-extra-columns archives it.
func TestUnlistedColumnExitsThreeBeforeAnythingChanges(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	h.insertClean(sample(today, 40, 38, 2))
	if _, err := h.conn.Exec(t.Context(), `ALTER TABLE shizuku.clean_measurements ADD COLUMN station text NOT NULL DEFAULT 'x';
		INSERT INTO shizuku.raw_measurements (sensor_id, ts, value_mm) VALUES ('r', now() - interval '5 days', 1)`); err != nil {
		t.Fatal(err)
	}
	before := h.count(`SELECT count(*) FROM shizuku.clean_measurements`)
	r := h.run("archive")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\n%s", r.code, r.stderr)
	}
	for _, w := range []string{`"station"`, "clean.columns.extra", "ARCHIVER_CLEAN_EXTRA_COLUMNS", "--clean-extra-columns", "clean.columns.ignore", "--clean-ignore-columns"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("message does not name %s:\n%s", w, r.stderr)
		}
	}
	if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements`); n != 1 {
		t.Errorf("raw purge ran: %d raw rows left", n)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != before {
		t.Errorf("%d clean rows left of %d", n, before)
	}
	if entries, _ := os.ReadDir(h.dir); len(entries) != 0 {
		t.Errorf("bucket written: %v", entries)
	}

	h.mustRun("archive", "--clean-extra-columns", "station")
	var found bool
	_ = filepath.Walk(h.dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".json.gz") {
			found = true
		}
		return nil
	})
	if !found || h.count(`SELECT count(*) FROM shizuku.clean_measurements`) != 0 {
		t.Fatalf("archive with --clean-extra-columns station did not archive the days\n")
	}
	h.mustRun("restore", "--from", today.AddDate(0, 0, -40).Format("2006-01-02"), "--to", today.AddDate(0, 0, -39).Format("2006-01-02"), "--clean-extra-columns", "station")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements WHERE station = 'x'`); n != before {
		t.Errorf("restored %d rows with their station, want %d", n, before)
	}
}
