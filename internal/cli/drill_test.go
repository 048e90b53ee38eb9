package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// drillSnapshot is everything a drill must leave as it was: the clean
// table's rows, archive_runs, and the clean table's id sequence (which no
// rollback would undo).
func (h *harness) drillSnapshot() string {
	h.t.Helper()
	var rows, runs, seq int64
	var sum string
	if err := h.conn.QueryRow(context.Background(), `SELECT count(*), coalesce(md5(string_agg(c::text, ',' ORDER BY id)), '') FROM shizuku.clean_measurements c`).Scan(&rows, &sum); err != nil {
		h.t.Fatal(err)
	}
	runs = h.count(`SELECT count(*) FROM archiver.archive_runs`)
	seq = h.count(`SELECT last_value FROM shizuku.clean_measurements_id_seq`)
	return fmt.Sprintf("%d rows (md5 %s), %d archive_runs rows, sequence at %d", rows, sum, runs, seq)
}

// TestVerifyDrill: `verify --drill N` restores N random archived days, and
// `--day` the given ones, into a temporary table, compares every reading
// (NaN, ±Infinity, NULL vs "", microseconds) and reports per day, in text,
// JSON and metrics; the clean table (with rows of other days in it),
// archive_runs and the table's sequence are untouched.
func TestVerifyDrill(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	first, last, rows := exportFixture(h)
	h.mustRun("archive")
	h.insertClean(sample(h.today(), 2, 0, 2)) // recent rows, not archived
	before := h.drillSnapshot()
	metrics := filepath.Join(t.TempDir(), "archiver.prom")

	r := h.mustRun("verify", "--drill", "2", "--metrics-file", metrics)
	testkit.Contains(t, "drill report", r.stdout, "Restore drill (into a temporary table, rolled back; nothing recorded):", "Restore drill: 2 days restore exactly, 0 failed", "manifest #")
	if n := strings.Count(r.stdout, " ok "); n != 2 {
		t.Errorf("%d days reported ok, want 2:\n%s", n, r.stdout)
	}
	testkit.Contains(t, "log", r.stderr, "Restore drill of 2 randomly chosen archived days")
	if after := h.drillSnapshot(); after != before {
		t.Fatalf("a drill changed the database: %s, was %s", after, before)
	}
	prom, err := os.ReadFile(filepath.Join(filepath.Dir(metrics), "archiver-verify.prom"))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Contains(t, "metrics", string(prom), `archiver_verify_drill_days{result="ok"} 2`, `archiver_verify_drill_days{result="failed"} 0`)

	r = h.mustRun("verify", "--day", rstDay(first), "--day", rstDay(last), "--format", "json")
	var out struct {
		OK    bool `json:"ok"`
		Drill []struct {
			Day      string  `json:"day"`
			OK       bool    `json:"ok"`
			Readings int64   `json:"readings"`
			Restored int64   `json:"restored"`
			Compared int64   `json:"compared"`
			Error    *string `json:"error"`
		} `json:"drill"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	perDay := int64(len(rows) / 3)
	if !out.OK || len(out.Drill) != 2 || out.Drill[0].Day != rstDay(first) || out.Drill[1].Day != rstDay(last) {
		t.Fatalf("json: %+v", out)
	}
	for _, d := range out.Drill {
		if !d.OK || d.Readings != perDay || d.Restored != perDay || d.Compared != perDay || d.Error != nil {
			t.Errorf("drill of %s: %+v, want %d readings restored and compared", d.Day, d, perDay)
		}
	}
	if after := h.drillSnapshot(); after != before {
		t.Fatalf("a drill changed the database: %s, was %s", after, before)
	}
}

// TestVerifyDrillFindsWhatWouldNotRestore: the drill fails a day, exit 1,
// when its archive differs from its manifest, when its readings no longer
// fit the table (a CHECK constraint added since, a value column narrowed to
// real), and when the table cannot hold them exactly (the time column
// narrowed to whole seconds); the other days still pass, and nothing
// changes.
func TestVerifyDrillFindsWhatWouldNotRestore(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	first, last, _ := exportFixture(h)
	h.mustRun("archive")
	mid := first.AddDate(0, 0, 1)
	h.rstPutGzip(rstKey(mid), h.archiveText(rstKey(mid))) // same JSON, other gzip bytes
	before := h.drillSnapshot()

	r := h.run("verify", "--day", rstDay(first), "--day", rstDay(mid), "--day", rstDay(last))
	if r.code != cli.ExitPartial {
		t.Fatalf("exit %d, want %d\n%s\n%s", r.code, cli.ExitPartial, r.stdout, r.stderr)
	}
	testkit.Contains(t, "report", r.stdout, "Restore drill: 2 days restore exactly, 1 failed", "error: "+rstDay(mid)+": archive "+rstKey(mid), "does not match its manifest")

	h.exec(`ALTER TABLE shizuku.clean_measurements ADD CONSTRAINT finite_value CHECK (value_mm > '-Infinity') NOT VALID`)
	r = h.run("verify", "--day", rstDay(first))
	if r.code != cli.ExitPartial || !strings.Contains(r.stdout, "finite_value") {
		t.Fatalf("a CHECK the archive violates: exit %d\n%s", r.code, r.stdout)
	}
	h.exec(`ALTER TABLE shizuku.clean_measurements DROP CONSTRAINT finite_value, ALTER COLUMN ts TYPE timestamptz(0)`)
	r = h.run("verify", "--day", rstDay(first))
	// Refused before the insert: the cast to the column's type is not exact.
	if r.code != cli.ExitPartial || !strings.Contains(r.stdout, `column "ts"`) || !strings.Contains(r.stdout, "cannot hold the archive's values exactly") {
		t.Fatalf("a time column narrowed to whole seconds: exit %d\n%s", r.code, r.stdout)
	}
	h.exec(`ALTER TABLE shizuku.clean_measurements ALTER COLUMN ts TYPE timestamptz, ALTER COLUMN value_mm TYPE real`)
	r = h.run("verify", "--day", rstDay(first))
	// 1/3 as real is rounded (before: only a value out of real's range was found).
	if r.code != cli.ExitPartial || !strings.Contains(r.stdout, `column "value_mm"`) || !strings.Contains(r.stdout, "cannot hold the archive's values exactly") {
		t.Fatalf("a value column narrowed to real: exit %d\n%s", r.code, r.stdout)
	}
	if after := h.drillSnapshot(); after != before {
		t.Fatalf("a failed drill changed the database: %s, was %s", after, before)
	}
}

// TestVerifyDrillBadInput: flag mistakes exit 2 before anything is read.
func TestVerifyDrillBadInput(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--drill", "2", "--day", "2025-01-01"}, "not both"},
		{[]string{"--drill", "-1"}, "number of days"},
		{[]string{"--day", "2025-13-01"}, "no such calendar date"},
	} {
		r := h.run(append([]string{"verify"}, c.args...)...)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("verify %v: exit %d, want %d with %q\n%s", c.args, r.code, cli.ExitUsage, c.want, r.stderr)
		}
	}
	r := h.run("verify", "--drill", "3")
	if r.code != cli.ExitPartial || !strings.Contains(r.stderr, "nothing to drill") {
		t.Errorf("drill with no archive: exit %d\n%s", r.code, r.stderr)
	}
}

// TestVerifyDrillTypedTable: a table with a numeric(12,3) value and extra
// columns of seven types restores exactly in a drill, every value compared
// in its column's type.
func TestVerifyDrillTypedTable(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	first, last := typedTable(h)
	t.Setenv("ARCHIVER_CLEAN_EXTRA_COLUMNS", typedExtras)
	t.Setenv("ARCHIVER_CLEAN_IGNORE_COLUMNS", "id")
	n := h.count(`SELECT count(*) FROM shizuku.clean_measurements WHERE ts < $1::timestamptz + interval '1 day'`, first)
	h.mustRun("archive")
	before := h.drillSnapshot()
	r := h.mustRun("verify", "--day", rstDay(first), "--day", rstDay(last), "--format", "json")
	var out struct {
		OK    bool `json:"ok"`
		Drill []struct {
			OK       bool  `json:"ok"`
			Compared int64 `json:"compared"`
		} `json:"drill"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if !out.OK || len(out.Drill) != 2 || !out.Drill[0].OK || out.Drill[0].Compared != n || !out.Drill[1].OK || out.Drill[1].Compared == 0 {
		t.Fatalf("drill of the typed table: %s", r.stdout)
	}
	if after := h.drillSnapshot(); after != before {
		t.Fatalf("a drill changed the database: %s, was %s", after, before)
	}
}

// TestVerifyDrillOriginalServiceArchive: an archive of the original
// service (no manifest, sensors unsorted, a reading twice) is found by the
// key convention and drills exactly: each distinct reading restored and
// compared once.
func TestVerifyDrillOriginalServiceArchive(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	day := time.Date(2024, 11, 3, 0, 0, 0, 0, time.UTC)
	doc, want := rstPythonArchive(day)
	h.rstPutGzip(rstKey(day), doc)
	r := h.mustRun("verify", "--day", "2024-11-03")
	testkit.Contains(t, "drill", r.stdout, "key convention (no manifest)", "Restore drill: 1 days restore exactly, 0 failed")
	r = h.mustRun("verify", "--day", "2024-11-03", "--format", "json")
	var out struct {
		Drill []struct {
			OK                           bool
			Readings, Restored, Compared int64
			ManifestID                   *int64 `json:"manifest_id"`
		} `json:"drill"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Drill) != 1 {
		t.Fatalf("drill of one day: %s", r.stdout)
	}
	if d := out.Drill[0]; !d.OK || d.Readings != 7 || d.Restored != int64(len(want)) || d.Compared != int64(len(want)) || d.ManifestID != nil {
		t.Errorf("want 7 readings, %d restored and compared, no manifest:\n%s", len(want), r.stdout)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs`) + h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("the drill wrote %d rows", n)
	}
}
