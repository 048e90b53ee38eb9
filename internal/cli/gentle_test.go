package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/pgtest"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// noHold turns the raw purge's hold off for tests of the purge itself
// whose clean table is empty or old (the hold is tested here).
const noHold = "ARCHIVER_RAW_REQUIRE_CLEAN=false"

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

	tx := h.appLocks(`SELECT 1 FROM shizuku.clean_measurements WHERE ts >= $1 AND ts < $2 LIMIT 1 FOR UPDATE`, locked, locked.Add(24*time.Hour))

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

	// The upload had gone out before the DELETE hit the lock, so the day
	// has an archive row recording it; status must call the day pending
	// (with the reason), not failed.
	var st struct {
		Days []struct {
			Day, State string
			Reason     *string
		}
	}
	if err := json.Unmarshal([]byte(h.run("status", "--format", "json").stdout), &st); err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Days {
		if d.Day == locked.Format("2006-01-02") {
			if d.State != "pending" || d.Reason == nil || !strings.Contains(*d.Reason, "lock timeout") {
				t.Errorf("status of the locked day: %s (%v), want pending with the lock timeout as reason", d.State, d.Reason)
			}
		}
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	h.mustRun("archive", "--lock-timeout", "300ms", "--metrics-file", metricsFile)
	h.checkConverged(t, rows)
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
	h.appLocks(`SELECT 1 FROM shizuku.raw_measurements FOR UPDATE`)
	r := h.run("archive", "--lock-timeout", "200ms", "--raw-require-clean=false")
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

// appLocks takes locks as an application would: it runs sql (args) in a
// transaction on a connection of its own, left open until the test ends
// or the caller rolls it back.
func (h *harness) appLocks(sql string, args ...any) pgx.Tx {
	h.t.Helper()
	ctx := context.Background()
	app, err := pgx.Connect(ctx, h.dbURL)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { app.Close(ctx) })
	tx, err := app.Begin(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { tx.Rollback(ctx) })
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
	return tx
}

// insertRaw adds one raw reading of sensor at now() - ago.
func (h *harness) insertRaw(sensor string, ago string) {
	h.t.Helper()
	if _, err := h.conn.Exec(context.Background(), `INSERT INTO shizuku.raw_measurements (sensor_id, ts) VALUES ($1, now() - $2::interval)`, sensor, ago); err != nil {
		h.t.Fatal(err)
	}
}

// insertCleanAt adds one clean reading of sensor at now() - ago.
func (h *harness) insertCleanAt(sensor string, ago string) {
	h.t.Helper()
	if _, err := h.conn.Exec(context.Background(), `INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm) VALUES ($1, now() - $2::interval, 1)`, sensor, ago); err != nil {
		h.t.Fatal(err)
	}
}

// archiveLeavesRaw runs archive with args and fails the test unless the
// raw rows left are want (sensor@age in hours, in order).
func (h *harness) archiveLeavesRaw(want []string, args ...string) result {
	h.t.Helper()
	r := h.mustRun(append([]string{"archive"}, args...)...)
	if got := h.rawLeft(); !slices.Equal(got, want) {
		h.t.Fatalf("archive %s: raw rows left: %v, want %v\n%s", strings.Join(args, " "), got, want, r.stderr)
	}
	return r
}

func (h *harness) rawLeft() []string {
	h.t.Helper()
	return h.texts(`SELECT sensor_id || '@' || round(extract(epoch FROM now() - ts) / 3600) || 'h' FROM shizuku.raw_measurements ORDER BY 1`)
}

// TestRawPurgeHeldWhileCleaningIsBehind: cleaning stopped three days ago
// (the newest clean reading is three days old; a reading stamped
// 'infinity' must not count as newer). Raw rows older than the raw
// retention but newer than that are kept, with a warning, a summary line
// and archiver_raw_purge_held_seconds; older ones are purged. With
// --raw-require-clean=false the original's purge by age comes back.
func TestRawPurgeHeldWhileCleaningIsBehind(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertCleanAt("a", "3 days")
	h.exec(`INSERT INTO shizuku.clean_measurements (sensor_id, ts) VALUES ('a', 'infinity')`)
	h.insertRaw("a", "4 days") // cleaned: purged
	h.insertRaw("a", "2 days") // past the retention, not cleaned: kept
	h.insertRaw("a", "1 hour") // young: kept

	if r := h.mustRun("archive", "--dry-run"); !strings.Contains(r.stderr, "would delete 1 raw") {
		t.Errorf("the dry run does not count what the hold lets the purge delete:\n%s", r.stderr)
	}
	metricsFile := filepath.Join(t.TempDir(), "archiver.prom")
	r := h.archiveLeavesRaw([]string{"a@1h", "a@48h"}, "--metrics-file", metricsFile)
	testkit.Contains(t, "output", r.stdout+r.stderr, "raw purge held back: cleaning is behind", "raw.require_clean=false", "Raw purge held back: cleaning is 24h0m", "Raw measurements deleted: 1")
	held, err := strconv.ParseFloat(metricValue(t, metricsFile, "archiver_raw_purge_held_seconds"), 64)
	if err != nil || held < 86400-120 || held > 86400+120 {
		t.Errorf("archiver_raw_purge_held_seconds = %v (%v), want about 86400", held, err)
	}

	h.archiveLeavesRaw([]string{"a@1h"}, "--raw-require-clean=false", "--metrics-file", metricsFile)
	if v := metricValue(t, metricsFile, "archiver_raw_purge_held_seconds"); v != "0" {
		t.Errorf("archiver_raw_purge_held_seconds = %s with the hold off, want 0", v)
	}
}

// TestRawPurgeHeldPerSensor: with an index on the clean table's (sensor,
// time), each sensor's raw rows are held by its own newest clean reading;
// a sensor with no clean reading falls back to the table's newest.
func TestRawPurgeHeldPerSensor(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.exec(`CREATE INDEX ON shizuku.clean_measurements (sensor_id, ts)`)
	h.insertCleanAt("stalled", "4 days") // this sensor's cleaning stopped
	h.insertCleanAt("live", "2 hours")
	h.insertRaw("stalled", "5 days") // cleaned: purged
	h.insertRaw("stalled", "3 days") // not cleaned: kept
	h.insertRaw("live", "3 days")    // cleaned: purged
	h.insertRaw("never", "3 days")   // no clean reading: table's newest (2h) decides: purged
	r := h.archiveLeavesRaw([]string{"stalled@72h"})
	testkit.Contains(t, "the per-sensor hold's warning", r.stderr, "each sensor's newest clean reading", "Raw purge held back: cleaning is 48h0m")
}

// TestRawPurgeTableWideWithoutIndex: without an index on (sensor, time) the
// hold is table-wide, and the log says which index would make it per
// sensor.
func TestRawPurgeTableWideWithoutIndex(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertCleanAt("stalled", "4 days")
	h.insertCleanAt("live", "2 hours")
	h.insertRaw("stalled", "3 days")
	r := h.archiveLeavesRaw(nil) // the table's newest clean reading is 2h old
	testkit.Contains(t, "how to get a per-sensor hold", r.stderr, "CREATE INDEX CONCURRENTLY ON shizuku.clean_measurements (sensor_id, ts)")
}

// TestRawPurgeHeldWhenCleanIsEmpty: an empty clean table means nothing is
// known to be cleaned: every raw row is kept, and the warning says how to
// turn the hold off.
func TestRawPurgeHeldWhenCleanIsEmpty(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertRaw("a", "3 days")
	r := h.archiveLeavesRaw([]string{"a@72h"})
	testkit.Contains(t, "output", r.stdout+r.stderr, "has no reading", "every raw row is kept", "set raw.require_clean=false (ARCHIVER_RAW_REQUIRE_CLEAN=false, --raw-require-clean=false)",
		"Raw purge held back: the clean table has no reading")
}

// TestMaxRuntimeLeavesDaysPending: with a budget shorter than the first
// day (held at a failpoint), the day in progress finishes, no new day
// starts, the run exits 0, the summary says how many due days are left,
// days_pending shows them, and the next run archives them.
func TestMaxRuntimeLeavesDaysPending(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	rows := sample(h.today(), 43, 40, 2) // three days
	h.insertClean(rows)
	metricsFile := filepath.Join(t.TempDir(), "archiver.prom")
	code, out := h.runBinary(t, []string{"ARCHIVER_FAILPOINTS=archive.after-read=sleep(6s)@1"},
		"archive", "--max-runtime", "5s", "--concurrency", "1", "--metrics-file", metricsFile)
	if code != 0 {
		t.Fatalf("exit %d, want 0 (days left by the budget are pending)\n%s", code, out)
	}
	if n := len(h.archives()); n != 1 {
		t.Errorf("%d days archived, want the one in progress when the budget ran out", n)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 96 {
		t.Errorf("%d rows left, want the 96 of the two days not started", n)
	}
	if !strings.Contains(out, "Days pending for the next run: 2 (2 run-time budget)") {
		t.Errorf("summary does not say how many due days are left:\n%s", out)
	}
	if v := metricValue(t, metricsFile, "archiver_days_pending"); v != "2" {
		t.Errorf("archiver_days_pending = %q, want 2", v)
	}
	h.mustRun("archive", "--max-runtime", "5m")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows left after the next run", n)
	}
	if n := len(h.archives()); n != 3 {
		t.Errorf("%d archives, want 3", n)
	}
}

// TestMaxRowsPerSecondPacesTheRun: 3000 rows removed (2400 clean rows of
// two days, 600 raw) at 1000 rows a second take about three seconds of
// wall time (the pacing itself is tested with a fake clock in
// internal/archive; the bound here is loose), every day is archived
// exactly, and each day was deleted in batches, all inside the day's one
// transaction (one manifest row per day, the counts matching).
func TestMaxRowsPerSecondPacesTheRun(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	rows := sample(h.today(), 42, 40, 50) // two days of 50 sensors: 2400 rows
	h.insertClean(rows)
	h.exec(`INSERT INTO shizuku.raw_measurements (sensor_id, ts)
		SELECT 's', now() - interval '3 days' - g * interval '1 second' FROM generate_series(1, 600) g`)
	start := time.Now()
	r := h.mustRun("archive", "--max-rows-per-second", "1000", "--raw-require-clean=false", "--log-level", "debug")
	el := time.Since(start)
	if el < 2*time.Second || el > 2*time.Minute {
		t.Errorf("3000 rows at 1000 rows/s took %v, want about 3s", el)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`) + h.count(`SELECT count(*) FROM shizuku.raw_measurements`); n != 0 {
		t.Fatalf("%d rows left", n)
	}
	got := h.archivedReadings()
	sameReadings(t, "archives", got, rows)
	if c := strings.Count(r.stderr, "deleted the day's rows in paced batches, in its transaction"); c != 2 || !strings.Contains(r.stderr, "rows=1200 batches=3") {
		t.Errorf("the days were not deleted in batches of half a second's worth (want 1200 rows in 3 batches each):\n%s", r.stderr)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed' AND rows_deleted = 1200`); n != 2 {
		t.Errorf("%d committed day manifests with 1200 rows deleted, want 2\n%s", n, r.stderr)
	}
}

// TestMaxRowsPerSecondOnPartitions: the batched DELETE on a partitioned
// clean table (weekly, daily and DEFAULT partitions) removes exactly each
// day's rows.
func TestMaxRowsPerSecondOnPartitions(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	h.partitioned(today, 40, 38)
	rows := sample(today, 43, 36, 3)
	h.insertClean(rows)
	h.mustRun("archive", "--max-rows-per-second", "100000")
	h.checkConverged(t, rows)
}

// TestReplicaLagPausesForARealStandby: a real streaming standby (made by
// pg_basebackup from the test's primary) has its replay paused, so it
// falls behind by the WAL the test then writes; pg_stat_replication's
// replay_lag does not show that reliably, the archiver's own measure must.
// The first day is held at a failpoint past --max-replica-lag, so the lag
// crosses the limit inside it: the day is rolled back (nothing deleted
// while the standby is paused), the run pauses (logged once) and, once
// replay resumes, retries it and archives every day exactly once.
func TestReplicaLagPausesForARealStandby(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	standby := pgtest.NewStandby(t)
	rows := sample(h.today(), 43, 40, 2) // three days
	h.insertClean(rows)
	standby.WaitCaughtUp(t)

	metricsFile := filepath.Join(t.TempDir(), "archiver.prom")
	run := h.startBinary(t, []string{"ARCHIVER_FAILPOINTS=archive.after-read=sleep(4s)@1"},
		"archive", "--max-replica-lag", "500ms", "--concurrency", "1", "--metrics-file", metricsFile)
	// The first day is now at its failpoint, its transaction open: the
	// standby falls behind by the WAL written from here on.
	time.Sleep(time.Second)
	standby.PauseReplay(t)
	resumed := false
	defer func() {
		if !resumed {
			standby.ResumeReplay(t)
		}
	}()
	h.exec(`CREATE TABLE wal_writer AS SELECT g FROM generate_series(1, 10000) g`)
	time.Sleep(6 * time.Second)
	select {
	case <-run.done:
		t.Fatalf("the run finished while the standby was paused (exit %d):\n%s", run.code, run.out.String())
	default:
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != int64(len(rows)) {
		t.Fatalf("%d of %d rows left while the standby was paused: a day was deleted past the lag limit", n, len(rows))
	}
	standby.ResumeReplay(t)
	resumed = true
	code, out := run.wait(t, 2*time.Minute)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	h.checkConverged(t, rows)
	checkPausedOnce(t, out, metricsFile, 2)
	if !strings.Contains(out, "replica lag crossed archive.max_replica_lag during the day: rolled back") {
		t.Errorf("the day in progress was not rolled back when the lag crossed the limit:\n%s", out)
	}
}

// TestReplicaLagCountsADisconnectedStandbysSlot: a physical slot nobody is
// connected to stands for a standby that went away and will come back for
// the WAL: it counts by the slot's position. The pause counts against the
// run-time budget, so the run ends on it with every day pending, exit 0.
func TestReplicaLagCountsADisconnectedStandbysSlot(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	slot := fmt.Sprintf("gone_%d", time.Now().UnixNano())
	h.exec(`SELECT pg_create_physical_replication_slot($1, true)`, slot)
	dropped := false
	drop := func() {
		if _, err := h.conn.Exec(context.Background(), `SELECT pg_drop_replication_slot($1)`, slot); err != nil {
			t.Error(err)
		}
		dropped = true
	}
	defer func() {
		if !dropped {
			drop()
		}
	}()
	rows := sample(h.today(), 43, 40, 2)
	h.insertClean(rows) // WAL beyond the slot's position
	code, out := h.runBinary(t, []string{"ARCHIVER_FAILPOINTS=archive.after-read=sleep(1s)@1"},
		"archive", "--max-replica-lag", "300ms", "--max-runtime", "4s", "--concurrency", "1")
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	if !strings.Contains(out, "replication slot "+slot+" (nobody connected)") {
		t.Errorf("the pause does not name the slot:\n%s", out)
	}
	if !strings.Contains(out, "Days pending for the next run: 3") {
		t.Errorf("the days are not reported pending:\n%s", out)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != int64(len(rows)) {
		t.Fatalf("%d of %d rows left: a day was deleted while the slot lagged", n, len(rows))
	}
	drop()
	h.mustRun("archive", "--max-replica-lag", "300ms")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Fatalf("%d rows left once the slot was dropped", n)
	}
}

// TestReplicaLagNeedsMonitorRole: a role that cannot read the replicas'
// positions is refused at the start, before anything changes, with the
// fix in the message.
func TestReplicaLagNeedsMonitorRole(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 41, 40, 1))
	role := fmt.Sprintf("nomon_%d", time.Now().UnixNano())
	ctx := context.Background()
	if _, err := h.conn.Exec(ctx, `CREATE ROLE `+role+` LOGIN`); err != nil {
		t.Fatal(err)
	}
	defer h.conn.Exec(ctx, `DROP OWNED BY `+role+`; DROP ROLE `+role)
	u, err := url.Parse(h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	var outBuf, errBuf bytes.Buffer
	code := cli.Main(ctx, []string{"archiver", "archive", "--database-url", u.String(), "--bucket", h.bucket, "--max-replica-lag", "10s"},
		&outBuf, &errBuf, cli.Build{Version: "test", Commit: "test"})
	out := outBuf.String() + errBuf.String()
	if code != cli.ExitUnavailable {
		t.Fatalf("exit %d, want %d\n%s", code, cli.ExitUnavailable, out)
	}
	testkit.Contains(t, "message", out, "cannot see the replicas' positions", "GRANT pg_monitor TO "+role, "archive.max_replica_lag")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 24 {
		t.Errorf("%d rows left, want all 24", n)
	}
}

// TestShardsArchiveEveryDayOnce: three processes started together with
// shards 0/3 (--shard), 1/3 (ARCHIVER_SHARD) and 2/3 (ARCHIVER_SHARD_COUNT
// with Kubernetes' JOB_COMPLETION_INDEX) archive every day exactly once
// between them, each only the days whose number mod 3 is its index, and
// only shard 0 purges raw rows.
func TestShardsArchiveEveryDayOnce(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	rows := sample(h.today(), 44, 37, 2) // seven days
	h.insertClean(rows)
	h.exec(`INSERT INTO shizuku.raw_measurements (sensor_id, ts)
		SELECT 's', now() - interval '3 days' FROM generate_series(1, 20)`)
	runs := []*bgRun{
		h.startBinary(t, []string{noHold}, "archive", "--shard", "0/3"),
		h.startBinary(t, []string{noHold, "ARCHIVER_SHARD=1/3"}, "archive"),
		h.startBinary(t, []string{noHold, "ARCHIVER_SHARD_COUNT=3", "JOB_COMPLETION_INDEX=2"}, "archive"),
	}
	for i, run := range runs {
		code, out := run.wait(t, 2*time.Minute)
		if code != 0 {
			t.Fatalf("shard %d/3: exit %d\n%s", i, code, out)
		}
		if want := fmt.Sprintf("Shard %d/3:", i); !strings.Contains(out, want) {
			t.Errorf("shard %d/3 does not say which shard it is:\n%s", i, out)
		}
	}
	h.checkConverged(t, rows)
	if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements`); n != 0 {
		t.Errorf("%d raw rows left", n)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'purge'`); n != 1 {
		t.Errorf("%d purge manifests, want 1 (only shard 0 purges)", n)
	}
	// Every day committed once, and each run's days share one remainder.
	if n := h.count(`SELECT count(*) FROM (SELECT day FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed' GROUP BY day HAVING count(*) = 1) d`); n != 7 {
		t.Errorf("%d days with exactly one committed archive, want 7", n)
	}
	if n := h.count(`SELECT count(*) FROM (SELECT run_id FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed'
		GROUP BY run_id HAVING count(DISTINCT (extract(epoch FROM day)::bigint / 86400) % 3) = 1) r`); n != 3 {
		t.Errorf("%d runs whose days all share one remainder mod 3, want 3", n)
	}
}

// TestShardSettingsAreChecked: a shard that cannot be right is refused
// from the settings alone (exit 2), naming the setting.
func TestShardSettingsAreChecked(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--shard", "3/3"}, "", "INDEX 0 to COUNT-1"},
		{[]string{"--shard", "1-3"}, "", "is not INDEX/COUNT"},
		{[]string{"--shard-count", "3"}, "", "JOB_COMPLETION_INDEX is not set"},
		{[]string{"--shard-count", "3"}, "7", "does the Job's completions match ARCHIVER_SHARD_COUNT"},
	} {
		if c.env != "" {
			t.Setenv("JOB_COMPLETION_INDEX", c.env)
		} else {
			os.Unsetenv("JOB_COMPLETION_INDEX")
		}
		r := h.run(append([]string{"archive"}, c.args...)...)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "archive.shard") {
			t.Errorf("%v (JOB_COMPLETION_INDEX=%q): exit %d, want %d with %q:\n%s", c.args, c.env, r.code, cli.ExitUsage, c.want, r.stderr)
		}
	}
}

// TestRawPurgeSensorColumnOfAnotherType: a raw.sensor_column whose type is
// not the clean sensor column's cannot be compared through the index: the
// hold falls back to table-wide, with a warning, rather than failing the
// purge.
func TestRawPurgeSensorColumnOfAnotherType(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.exec(`CREATE INDEX ON shizuku.clean_measurements (sensor_id, ts)`)
	h.insertCleanAt("live", "2 hours")
	h.insertRaw("other", "3 days")
	r := h.archiveLeavesRaw(nil, "--raw-sensor-column", "id") // bigint, against text
	testkit.Contains(t, "the warning about the sensor column's type", r.stderr, "have different types")
}

// TestMaxRowsPerSecondDaySpanningPartitions: a day that spans two
// partitions (bounds at noon), whose rows share ctids across them, is
// deleted exactly by the batched DELETE: the count matches what was
// archived and nothing of the next day goes.
func TestMaxRowsPerSecondDaySpanningPartitions(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	stmts := slices.Clone(partitionedTableDDL)
	for ago := 44; ago > 38; ago-- {
		from := today.AddDate(0, 0, -ago).Add(12 * time.Hour)
		stmts = append(stmts, fmt.Sprintf(`CREATE TABLE shizuku."clean_noon_%d" PARTITION OF shizuku.clean_measurements FOR VALUES FROM ('%s') TO ('%s')`,
			ago, from.Format(time.RFC3339), from.Add(24*time.Hour).Format(time.RFC3339)))
	}
	for _, s := range stmts {
		h.exec(s)
	}
	rows := sample(today, 43, 39, 20) // four days of 20 sensors, each across two partitions
	h.insertClean(rows)
	// 400 rows/s: batches of 200 against days of 480 rows split 240/240.
	r := h.mustRun("archive", "--max-rows-per-second", "400", "--log-level", "debug")
	h.checkConverged(t, rows)
	if !strings.Contains(r.stderr, "batches=3") {
		t.Errorf("the days were not deleted in several batches:\n%s", r.stderr)
	}
}
