package cli_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/pgtest"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// What counts for archive.max_replica_lag beyond physical standbys: a
// logical consumer and pg_receivewal never replay, so by default they are
// not waited for (a slow one would hold the run forever); named in
// archive.replicas (ARCHIVER_REPLICAS, by application name or slot name)
// they count like a standby. Each case is run twice on the same setup: not
// named, the run ignores the consumer; named, the run pauses for it.

// logicalSlot creates a logical replication slot (test_decoding, shipped
// with the server) in the harness's database and drops it when the test
// ends, before the database is dropped.
func (h *harness) logicalSlot(t *testing.T) string {
	t.Helper()
	var level string
	if err := h.conn.QueryRow(context.Background(), `SHOW wal_level`).Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != "logical" {
		t.Fatalf("the test server runs with wal_level=%s; this test needs wal_level=logical (pgtest's own cluster has it)", level)
	}
	slot := fmt.Sprintf("logical_%d", time.Now().UnixNano())
	h.exec(`SELECT pg_create_logical_replication_slot($1, 'test_decoding')`, slot)
	h.dropSlotAtEnd(t, slot)
	return slot
}

// dropSlotAtEnd drops the replication slot when the test ends.
func (h *harness) dropSlotAtEnd(t *testing.T, slot string) {
	t.Cleanup(func() {
		// A consumer started after this is killed before it, but its
		// walsender may hold the slot a little longer: end it.
		ctx := context.Background()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			_, err := h.conn.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active`, slot)
			if err == nil {
				_, err = h.conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot)
			}
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("drop slot %s: %v", slot, err)
				return
			}
		}
	})
}

// stalledConsumer starts a real WAL consumer (a PostgreSQL client program
// with args), waits until the primary sees it streaming as app with a
// known position, then stops it (SIGSTOP): from here on it falls behind by
// whatever the primary writes, while still connected. It returns a
// function that lets the consumer go on (SIGCONT).
func (h *harness) stalledConsumer(t *testing.T, app, prog string, args ...string) (resume func()) {
	t.Helper()
	cmd := exec.Command(pgtest.Program(t, prog), args...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Some WAL, so that the consumer has something to report.
		h.exec(`SELECT txid_current()`)
		var n int64
		if err := h.conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_replication
			WHERE application_name = $1 AND state = 'streaming' AND COALESCE(flush_lsn, write_lsn) IS NOT NULL`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not stream from the primary:\n%s", prog, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
}

// lagRun archives three days while the consumer set up by setup lags,
// with the consumer named in ARCHIVER_REPLICAS (named(setup's result)) or
// not. The first day is held at a failpoint past --max-replica-lag, so the
// lag of a counted consumer crosses the limit inside it; --max-runtime
// ends a run that pauses for good. Not named: every day is archived and
// nothing pauses. Named: the run pauses, naming who it waits for, and
// leaves every day pending with its rows.
func lagRun(t *testing.T, setup func(h *harness) (name, who string)) {
	for _, named := range []bool{false, true} {
		t.Run(map[bool]string{false: "not named", true: "named"}[named], func(t *testing.T) {
			h := newHarness(t)
			h.mustRun("migrate", "up")
			name, who := setup(h)
			rows := sample(h.today(), 43, 40, 2) // three days, WAL beyond the consumer
			h.insertClean(rows)
			env := []string{"ARCHIVER_FAILPOINTS=archive.after-read=sleep(2s)@1"}
			if named {
				env = append(env, "ARCHIVER_REPLICAS=some_other_standby, "+name)
			}
			code, out := h.runBinary(t, env, "archive", "--max-replica-lag", "300ms", "--max-runtime", "3s", "--concurrency", "1")
			if code != 0 {
				t.Fatalf("exit %d, want 0\n%s", code, out)
			}
			left := h.count(`SELECT count(*) FROM shizuku.clean_measurements`)
			if !named {
				if strings.Contains(out, "Pausing") || left != 0 {
					t.Fatalf("a consumer not named in archive.replicas held the run (%d of %d rows left):\n%s", left, len(rows), out)
				}
				return
			}
			// The misspelt name is told apart from the real one.
			if !strings.Contains(out, "archive.replicas names some_other_standby, which no client") {
				t.Errorf("no warning (or not only) for the name that matches nothing:\n%s", out)
			}
			if !strings.Contains(out, "Pausing: replica "+who+" is") {
				t.Errorf("the run did not pause for %s:\n%s", who, out)
			}
			if !strings.Contains(out, "Days pending for the next run: 3") {
				t.Errorf("the days are not reported pending:\n%s", out)
			}
			if left != int64(len(rows)) {
				t.Errorf("%d of %d rows left: a day was deleted while %s lagged", left, len(rows), who)
			}
		})
	}
}

// TestReplicaLagLogicalSlotCountsOnlyWhenNamed: a logical slot nobody
// reads (its subscriber is down) counts by its confirmed position, named.
func TestReplicaLagLogicalSlotCountsOnlyWhenNamed(t *testing.T) {
	lagRun(t, func(h *harness) (string, string) {
		slot := h.logicalSlot(h.t)
		return slot, "replication slot " + slot + " (nobody connected)"
	})
}

// TestReplicaLagLogicalConsumerCountsOnlyWhenNamed: a connected logical
// consumer (pg_recvlogical on a slot), stalled, counts by the position it
// reported, named by its slot.
func TestReplicaLagLogicalConsumerCountsOnlyWhenNamed(t *testing.T) {
	lagRun(t, func(h *harness) (string, string) {
		slot := h.logicalSlot(h.t)
		h.stalledConsumer(h.t, "pg_recvlogical", "pg_recvlogical", "-d", h.dbURL, "-S", slot, "--start",
			"-f", "-", "-F", "0", "-s", "1", "-n")
		return slot, "pg_recvlogical"
	})
}

// TestReplicaLagReceiveWALCountsOnlyWhenNamed: pg_receivewal without a
// slot (it reports only the position it wrote), stalled, counts named by
// its application name.
func TestReplicaLagReceiveWALCountsOnlyWhenNamed(t *testing.T) {
	lagRun(t, func(h *harness) (string, string) {
		h.stalledConsumer(h.t, "pg_receivewal", "pg_receivewal", "-d", pgtest.URL(t), "-D", h.t.TempDir(),
			"--no-sync", "-s", "1", "-n")
		return "pg_receivewal", "pg_receivewal"
	})
}

// TestReplicaLagReceiveWALOnASlotCountsOnlyWhenNamed: pg_receivewal on a
// physical slot of its own (it then reports the position it flushed),
// stalled while connected, counts named by its slot.
func TestReplicaLagReceiveWALOnASlotCountsOnlyWhenNamed(t *testing.T) {
	lagRun(t, func(h *harness) (string, string) {
		slot := fmt.Sprintf("receivewal_%d", time.Now().UnixNano())
		h.exec(`SELECT pg_create_physical_replication_slot($1, true)`, slot)
		h.dropSlotAtEnd(h.t, slot)
		h.stalledConsumer(h.t, "pg_receivewal", "pg_receivewal", "-d", pgtest.URL(h.t), "-D", h.t.TempDir(),
			"-S", slot, "--no-sync", "-s", "1", "-n")
		return slot, "pg_receivewal"
	})
}

// TestReplicaLagNamedSlotPausesAndResumes: the whole pause for a named
// logical slot: it starts when the slot falls behind (logged once, the day
// in progress rolled back), lasts while it stays behind with no day
// deleted, and ends (logged once, its seconds exported) when the slot goes
// away; then every day is archived.
func TestReplicaLagNamedSlotPausesAndResumes(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	slot := h.logicalSlot(h.t)
	rows := sample(h.today(), 43, 40, 2)
	h.insertClean(rows)
	metricsFile := filepath.Join(t.TempDir(), "archiver.prom")
	run := h.startBinary(t, []string{"ARCHIVER_FAILPOINTS=archive.after-read=sleep(2s)@1", "ARCHIVER_REPLICAS=" + slot},
		"archive", "--max-replica-lag", "300ms", "--concurrency", "1", "--metrics-file", metricsFile)
	run.waitOutput(t, "Pausing: replica replication slot "+slot, 30*time.Second)
	run.waitOutput(t, "replica lag crossed archive.max_replica_lag during the day: rolled back", 30*time.Second)
	time.Sleep(1500 * time.Millisecond)
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != int64(len(rows)) {
		t.Fatalf("%d of %d rows left during the pause: a day was deleted while the slot lagged", n, len(rows))
	}
	h.exec(`SELECT pg_drop_replication_slot($1)`, slot)
	code, out := run.wait(t, 2*time.Minute)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Fatalf("%d rows left after the slot went away:\n%s", n, out)
	}
	var got []reading
	for _, doc := range h.archives() {
		got = append(got, doc.readings(t)...)
	}
	sameReadings(t, "archives", got, rows)
	checkPausedOnce(t, out, metricsFile, 1.5)
}

// TestReplicaLagNamedConsumerPausesUntilItCatchesUp: a named logical
// consumer (pg_recvlogical, reporting every second) that stalls holds the
// run; once it goes on and reports its position again the pause ends
// (logged once each way) and every day is archived, with the consumer
// keeping up (its lag stays within the limit) through the rest of the run.
func TestReplicaLagNamedConsumerPausesUntilItCatchesUp(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	slot := h.logicalSlot(t)
	resume := h.stalledConsumer(t, "pg_recvlogical", "pg_recvlogical", "-d", h.dbURL, "-S", slot, "--start",
		"-f", "-", "-F", "0", "-s", "1", "-n")
	rows := sample(h.today(), 43, 40, 2)
	h.insertClean(rows)
	metricsFile := filepath.Join(t.TempDir(), "archiver.prom")
	// The limit is three times the consumer's status interval, so that
	// once it goes on it stays within it.
	run := h.startBinary(t, []string{"ARCHIVER_FAILPOINTS=archive.after-read=sleep(4s)@1", "ARCHIVER_REPLICAS=" + slot},
		"archive", "--max-replica-lag", "3s", "--concurrency", "1", "--metrics-file", metricsFile)
	run.waitOutput(t, "Pausing: replica pg_recvlogical is", 30*time.Second)
	// The first day, held at its failpoint past the limit, is rolled back.
	run.waitOutput(t, "replica lag crossed archive.max_replica_lag during the day: rolled back", 30*time.Second)
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != int64(len(rows)) {
		t.Fatalf("%d of %d rows left during the pause: a day was deleted while the consumer lagged", n, len(rows))
	}
	resume()
	code, out := run.wait(t, 2*time.Minute)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Fatalf("%d rows left after the consumer caught up:\n%s", n, out)
	}
	checkPausedOnce(t, out, metricsFile, 1)
}

// TestReplicaLagPausesTheRawPurgeBetweenBatches: the raw purge deletes in
// batches, each its own transaction, and checks the lag between them. The
// first batch is held at a failpoint while the standby's replay is paused
// and WAL is written: the purge then waits with no transaction open and
// no lock on the raw table, deletes nothing more while the standby lags,
// and purges the rest once it has caught up.
func TestReplicaLagPausesTheRawPurgeBetweenBatches(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	const total, batch = 2000, 100
	h.exec(`INSERT INTO shizuku.raw_measurements (sensor_id, ts)
		SELECT 's', now() - interval '3 days' - g * interval '1 second' FROM generate_series(1, $1) g`, total)
	standby := pgtest.NewStandby(t)
	standby.WaitCaughtUp(t)
	metricsFile := filepath.Join(t.TempDir(), "archiver.prom")
	run := h.startBinary(t, []string{"ARCHIVER_FAILPOINTS=purge.after-batch=sleep(4s)@1"},
		"archive", "--raw-require-clean=false", "--batch-size", strconv.Itoa(batch), "--max-replica-lag", "300ms",
		"--metrics-file", metricsFile)
	raw := func() int64 { return h.count(`SELECT count(*) FROM shizuku.raw_measurements`) }
	for deadline := time.Now().Add(30 * time.Second); raw() != total-batch; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the first batch was not purged (%d raw rows left):\n%s", raw(), run.out.String())
		}
	}
	// The first batch is committed and held at the failpoint.
	standby.PauseReplay(t)
	resumed := false
	defer func() {
		if !resumed {
			standby.ResumeReplay(t)
		}
	}()
	h.exec(`CREATE TABLE wal_writer AS SELECT g FROM generate_series(1, 10000) g`)
	run.waitOutput(t, "Pausing: replica", 30*time.Second)
	// Past the failpoint's sleep, and a while into the pause.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if n := raw(); n != total-batch {
			t.Fatalf("%d raw rows left during the pause, want %d: the purge went on while the standby lagged", n, total-batch)
		}
		if states := h.texts(`SELECT a.state || ' ' || a.pid FROM pg_stat_activity a
			WHERE a.application_name = 'archiver' AND a.datname = current_database()
			AND (a.state LIKE 'idle in transaction%' OR EXISTS (SELECT 1 FROM pg_locks l
				WHERE l.pid = a.pid AND l.relation = 'shizuku.raw_measurements'::regclass))`); len(states) > 0 {
			t.Fatalf("the archiver waits with a transaction open or a lock on the raw table: %v", states)
		}
	}
	// The check above saw the archiver's sessions, not nobody's.
	if n := h.count(`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'archiver' AND datname = current_database()`); n == 0 {
		t.Fatal("no session of the archiver in pg_stat_activity during the pause")
	}
	select {
	case <-run.done:
		t.Fatalf("the run ended while the standby was paused (exit %d):\n%s", run.code, run.out.String())
	default:
	}
	standby.ResumeReplay(t)
	resumed = true
	code, out := run.wait(t, 2*time.Minute)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if n := raw(); n != 0 {
		t.Fatalf("%d raw rows left after the standby caught up:\n%s", n, out)
	}
	checkPausedOnce(t, out, metricsFile, 2)
}

// TestReplicaLagNamesWithoutALimitWarn: consumers named in archive.replicas
// with archive.max_replica_lag unset are waited for by nobody: the run
// says so rather than let the operator believe they are.
func TestReplicaLagNamesWithoutALimitWarn(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	r := h.mustRun("archive", "--replicas", "pg_receivewal")
	testkit.Contains(t, "output", r.stdout+r.stderr,
		"archive.replicas names WAL consumers to wait for, but archive.max_replica_lag is not set", "--max-replica-lag")
	r = h.mustRun("archive", "--replicas", "pg_receivewal", "--max-replica-lag", "10s")
	if strings.Contains(r.stdout+r.stderr, "archive.max_replica_lag is not set") {
		t.Errorf("warned with the limit set:\n%s%s", r.stdout, r.stderr)
	}
	testkit.Contains(t, "output", r.stdout+r.stderr, "archive.replicas names pg_receivewal, which no client streaming from the primary")
}

// checkPausedOnce checks that a run paused for replica lag once: the
// start and the end of the pause each logged once, and at least min
// seconds paused in the exported metric.
func checkPausedOnce(t *testing.T, out, metricsFile string, min float64) {
	t.Helper()
	if c := strings.Count(out, "Pausing: replica"); c != 1 {
		t.Errorf("pause start logged %d times, want once:\n%s", c, out)
	}
	if c := strings.Count(out, "Resuming: replicas caught up"); c != 1 {
		t.Errorf("pause end logged %d times, want once:\n%s", c, out)
	}
	paused, err := strconv.ParseFloat(metricValue(t, metricsFile, "archiver_replica_lag_paused_seconds"), 64)
	if err != nil || paused < min {
		t.Errorf("archiver_replica_lag_paused_seconds = %v (%v), want at least %v", paused, err, min)
	}
}
