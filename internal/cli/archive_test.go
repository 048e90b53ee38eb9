package cli_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// TestArchiveRoundTrip is the core promise: every archived row is in its
// day's archive with all five fields, the archived rows (and only they) are
// gone, and each archive has a manifest that describes it.
func TestArchiveRoundTrip(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	old := sample(today, 40, 30, 3)   // days 40..31 ago: due for archiving
	young := sample(today, 30, 25, 3) // days 30..26 ago: not yet
	h.insertClean(append(append([]reading{}, old...), young...))
	_, err := h.conn.Exec(context.Background(), `INSERT INTO shizuku.raw_measurements (sensor_id, ts, value_mm)
		SELECT 's', now() - make_interval(hours => g) + interval '30 minutes', g FROM generate_series(1, 48) g`)
	if err != nil {
		t.Fatal(err)
	}

	// The original's purge, by age alone (the hold is in gentle_test.go).
	r := h.mustRun("archive", "--raw-require-clean=false")
	testkit.Contains(t, "log", r.stderr, "Starting Data Archiver Service", "Step 1: Deleting old raw measurements",
		"Step 2: Archiving old clean measurements", "Created archive for", "Archive files created: 10", "Raw measurements deleted: 24")

	docs := h.archives()
	if len(docs) != 10 {
		t.Fatalf("%d archives, want 10: %v", len(docs), docs)
	}
	var all []reading
	for key, doc := range docs {
		day, err := time.Parse(time.DateOnly, doc.Day)
		if err != nil {
			t.Fatalf("%s: day %q: %v", key, doc.Day, err)
		}
		wantKey := day.Format("archives/2006/01/archive-2006-01-02.json.gz")
		if key != wantKey {
			t.Errorf("archive for %s stored at %s, want %s", doc.Day, key, wantKey)
		}
		for i := 1; i < len(doc.Data); i++ {
			if doc.Data[i-1].Sensor >= doc.Data[i].Sensor {
				t.Errorf("%s: sensors not ascending: %s then %s", key, doc.Data[i-1].Sensor, doc.Data[i].Sensor)
			}
		}
		rs := doc.readings(t)
		for _, rd := range rs {
			if !rd.Time.Truncate(24 * time.Hour).Equal(day) {
				t.Errorf("%s: reading at %s is not on %s", key, rd.Time, doc.Day)
			}
		}
		all = append(all, rs...)
	}
	sameReadings(t, "archived readings", all, old)
	sameReadings(t, "rows left in the database", h.cleanRows("true"), young)
	if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements`); n != 24 {
		t.Errorf("%d raw rows left, want the 24 of the last day", n)
	}

	// One committed manifest per archive, describing it.
	rows, err := h.conn.Query(context.Background(), `SELECT day::text, object_key, location, readings, sensors, rows_deleted,
		bytes, sha256, min_time, max_time, format_version FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed' ORDER BY day`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		var day, key, loc, sha string
		var readings, sensors, deleted, size, format int64
		var minT, maxT time.Time
		if err := rows.Scan(&day, &key, &loc, &readings, &sensors, &deleted, &size, &sha, &minT, &maxT, &format); err != nil {
			t.Fatal(err)
		}
		doc, ok := docs[key]
		if !ok || doc.Day != day {
			t.Errorf("manifest for %s points at %s, which is not that day's archive", day, key)
			continue
		}
		if got := int64(len(doc.readings(t))); readings != got || deleted != got {
			t.Errorf("manifest %s: readings %d deleted %d, archive has %d", day, readings, deleted, got)
		}
		if sensors != 3 || format != archivefile.FormatVersion || len(sha) != 64 || loc != h.bucket {
			t.Errorf("manifest %s: sensors %d format %d sha %q location %q", day, sensors, format, sha, loc)
		}
		st, err := os.Stat(filepath.Join(h.dir, key))
		if err != nil || st.Size() != size {
			t.Errorf("manifest %s: bytes %d, object: %v %v", day, size, st, err)
		}
		if minT.After(maxT) || minT.UTC().Format(time.DateOnly) != day {
			t.Errorf("manifest %s: min %s max %s", day, minT, maxT)
		}
	}
	if n != 10 {
		t.Errorf("%d committed archive manifests, want 10", n)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'purge' AND status = 'committed' AND rows_deleted = 24`); n != 1 {
		t.Errorf("%d purge manifests with 24 rows deleted, want 1", n)
	}
}

// TestRerunIsNoOp: a second run with nothing new uploads nothing, deletes
// nothing and records no archive (I4).
func TestRerunIsNoOp(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 35, 31, 2))
	h.mustRun("archive")
	before := snapshot(t, h.dir)
	manifests := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive'`)

	r := h.mustRun("archive")
	if !strings.Contains(r.stderr, "Archive files created: 0") {
		t.Errorf("second run created archives:\n%s", r.stderr)
	}
	if after := snapshot(t, h.dir); after != before {
		t.Errorf("second run changed storage:\nbefore %s\nafter  %s", before, after)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive'`); n != manifests {
		t.Errorf("second run recorded %d archive manifests", n-manifests)
	}
}

// snapshot lists every object with its size and modification time.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			fmt.Fprintf(&b, "%s %s %d\n", p, info.ModTime().Format(time.RFC3339Nano), info.Size())
		}
		return err
	})
	return b.String()
}

// TestLateRowsAreMerged: rows that arrive for a day already archived are
// merged into that day's archive, which keeps every earlier reading (I5);
// the original service replaced the archive with the late rows only.
func TestLateRowsAreMerged(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	first := sample(today, 33, 32, 2) // one day
	h.insertClean(first)
	h.mustRun("archive")

	late := []reading{
		{Sensor: "sensor-00", Time: today.AddDate(0, 0, -33).Add(90 * time.Second), Value: f64(1.5), QCFlags: i64(4)},
		{Sensor: "a-new-sensor", Time: today.AddDate(0, 0, -33).Add(5 * time.Hour), Value: f64(-2.25)},
	}
	// A late row that duplicates an archived reading exactly must not be
	// archived twice.
	late = append(late, first[0])
	h.insertClean(late)
	h.mustRun("archive")

	docs := h.archives()
	if len(docs) != 1 {
		t.Fatalf("%d archives, want 1 per day", len(docs))
	}
	for _, doc := range docs {
		sameReadings(t, "merged archive", doc.readings(t), append(append([]reading{}, first...), late[:2]...))
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows left after the merge run", n)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed'`); n != 2 {
		t.Errorf("%d committed manifests, want one per run", n)
	}
}

// TestDryRunChangesNothing (I7): no upload, no delete, no manifest.
func TestDryRunChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	rows := sample(h.today(), 34, 31, 2)
	h.insertClean(rows)
	_, err := h.conn.Exec(context.Background(), `INSERT INTO shizuku.raw_measurements (sensor_id, ts) VALUES ('s', now() - interval '3 days')`)
	if err != nil {
		t.Fatal(err)
	}
	r := h.mustRun("archive", "--dry-run", "--raw-require-clean=false")
	if !strings.Contains(r.stderr, "Dry run: would archive") || !strings.Contains(r.stderr, "would delete 1 raw") {
		t.Errorf("dry run does not say what it would do:\n%s", r.stderr)
	}
	if len(h.archives()) != 0 {
		t.Error("dry run uploaded archives")
	}
	if entries, _ := os.ReadDir(h.dir); len(entries) != 0 {
		t.Errorf("dry run wrote to storage: %v", entries)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != int64(len(rows)) {
		t.Errorf("dry run deleted clean rows: %d left of %d", n, len(rows))
	}
	if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements`); n != 1 {
		t.Error("dry run purged raw rows")
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs`); n != 0 {
		t.Errorf("dry run recorded %d manifests", n)
	}
	// ARCHIVER_DRY_RUN, the original's variable, does the same.
	t.Setenv("ARCHIVER_DRY_RUN", "true")
	h.mustRun("archive")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != int64(len(rows)) {
		t.Errorf("ARCHIVER_DRY_RUN=true deleted rows")
	}
}

// TestUnmigratedDatabaseIsRefused: archive needs `migrate up` first and says so.
func TestUnmigratedDatabaseIsRefused(t *testing.T) {
	h := newHarness(t)
	h.insertClean(sample(h.today(), 35, 34, 1))
	r := h.run("archive")
	if r.code != cli.ExitUnavailable || !strings.Contains(r.stderr, "archiver migrate up") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 24 {
		t.Errorf("rows changed on an unmigrated database: %d", n)
	}
	// A dirty migration state is refused too, with the way out.
	h.mustRun("migrate", "up")
	h.exec(`UPDATE archiver.schema_migrations SET dirty = true`)
	r = h.run("archive")
	if r.code != cli.ExitUnavailable || !strings.Contains(r.stderr, "migrate force") {
		t.Fatalf("dirty state: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// TestMissingTableOrColumn fails before anything changes.
func TestMissingTableOrColumn(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 35, 34, 1))
	r := h.run("archive", "--clean-value-column", "value_cm")
	if r.code == 0 || !strings.Contains(r.stderr, `"value_cm"`) || !strings.Contains(r.stderr, "clean.columns.value") {
		t.Errorf("missing column: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	r = h.run("archive", "--clean-table", `shizuku."clean; DROP TABLE shizuku.raw_measurements"`)
	if r.code == 0 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("table name with SQL: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements`); n != 0 {
		t.Fatal("unexpected raw rows") // the table must still exist for this to run
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 24 {
		t.Errorf("rows changed: %d", n)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs`); n != 0 {
		t.Errorf("%d manifests written by failed runs", n)
	}
}

// TestConcurrentRunsArchiveEachDayOnce (I6): two runs at once never both
// archive a day; together they archive everything exactly once.
func TestConcurrentRunsArchiveEachDayOnce(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	rows := sample(h.today(), 45, 31, 4)
	h.insertClean(rows)

	var wg sync.WaitGroup
	results := make([]result, 3)
	for i := range results {
		wg.Go(func() { results[i] = h.run("archive", "--concurrency", "3") })
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("run %d: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed'`); n != 14 {
		t.Errorf("%d committed archives, want 14 (one per day)", n)
	}
	if n := h.count(`SELECT count(DISTINCT day) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed'`); n != 14 {
		t.Errorf("%d distinct days archived, want 14", n)
	}
	all := h.archivedReadings()
	sameReadings(t, "archives after concurrent runs", all, rows)
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows left", n)
	}
}

// TestNaNAndInfinitySurvive: the original's encoder wrote NaN, Infinity and
// -Infinity; they must survive archiving.
func TestNaNAndInfinitySurvive(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	day := h.today().AddDate(0, 0, -35)
	_, err := h.conn.Exec(context.Background(), `INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags)
		VALUES ('s', $1, 'NaN', 0), ('s', $2, 'Infinity', 0), ('s', $3, '-Infinity', 0)`,
		day, day.Add(time.Minute), day.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	h.mustRun("archive")
	data := readObject(t, h.dir, day.Format("archives/2006/01/archive-2006-01-02.json.gz"))
	testkit.Contains(t, "archive", data, `"measurement": NaN`, `"measurement": Infinity`, `"measurement": -Infinity`)
}

func readObject(t *testing.T, dir, key string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, key))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
