package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// metricValue returns the value of the metric line that starts with name
// (plus a space or '{') in a node_exporter textfile, or "" if absent.
func metricValue(t *testing.T, path, name string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			return line[strings.LastIndex(line, " ")+1:]
		}
	}
	return ""
}

// TestLockTimeoutLeavesDayPending: the application holds a row of one day
// locked (SELECT ... FOR UPDATE in an open transaction). The run must not
// queue behind it: after --lock-timeout the day is left pending (exit 0,
// reason in the summary, days_pending 1), its rows and the other days are
// untouched by the wait, and the next run, with the lock gone, archives it.
func TestLockTimeoutLeavesDayPending(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	ctx := context.Background()
	today := h.today()
	rows := sample(today, 43, 40, 2) // three days
	h.insertClean(rows)
	locked := today.AddDate(0, 0, -42)

	app, err := pgx.Connect(ctx, h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM shizuku.clean_measurements WHERE ts >= $1 AND ts < $2 LIMIT 1 FOR UPDATE`, locked, locked.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}

	metricsFile := filepath.Join(t.TempDir(), "archiver.prom")
	start := time.Now()
	r := h.run("archive", "--lock-timeout", "300ms", "--metrics-file", metricsFile)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0 (a day skipped for its locks is pending, not failed)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if el := time.Since(start); el > 60*time.Second {
		t.Fatalf("run took %v: it queued behind the lock", el) // loose: the lock is never released during the run
	}
	out := r.stdout + r.stderr
	if !strings.Contains(out, "Days pending for the next run: 1 (1 lock timeout)") {
		t.Errorf("summary does not report the pending day and its reason:\n%s", out)
	}
	if strings.Contains(out, "Days failed") {
		t.Errorf("a day skipped for its locks was reported as failed:\n%s", out)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements WHERE ts >= $1 AND ts < $2`, locked, locked.Add(24*time.Hour)); n != 48 {
		t.Errorf("locked day has %d rows left, want all 48", n)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 48 {
		t.Errorf("%d rows left, want only the locked day's 48", n)
	}
	if v := metricValue(t, metricsFile, "archiver_days_pending"); v != "1" {
		t.Errorf("archiver_days_pending = %q, want 1", v)
	}
	if v := metricValue(t, metricsFile, `archiver_last_run_success{command="archive"}`); v != "1" {
		t.Errorf("last_run_success = %q, want 1 (nothing failed)", v)
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	h.mustRun("archive", "--lock-timeout", "300ms", "--metrics-file", metricsFile)
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows left after the lock was released", n)
	}
	var got []reading
	for _, doc := range h.archives() {
		got = append(got, doc.readings(t)...)
	}
	sameReadings(t, "archives", got, rows)
	if v := metricValue(t, metricsFile, "archiver_days_pending"); v != "0" {
		t.Errorf("archiver_days_pending = %q after the retry, want 0", v)
	}
}

// TestLockTimeoutStopsRawPurge: a raw row locked by the application stops
// the purge at that batch without failing the run.
func TestLockTimeoutStopsRawPurge(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	ctx := context.Background()
	if _, err := h.conn.Exec(ctx, `INSERT INTO shizuku.raw_measurements (sensor_id, ts)
		SELECT 's', now() - interval '3 days' - g * interval '1 second' FROM generate_series(1, 10) g`); err != nil {
		t.Fatal(err)
	}
	app, err := pgx.Connect(ctx, h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM shizuku.raw_measurements FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	r := h.run("archive", "--lock-timeout", "200ms")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout+r.stderr, "Raw purge stopped early, the next run goes on: lock timeout") {
		t.Errorf("summary does not say the purge stopped for a lock:\n%s%s", r.stdout, r.stderr)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements`); n != 10 {
		t.Errorf("%d raw rows left, want 10", n)
	}
}
