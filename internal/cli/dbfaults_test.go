package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/cli"
)

// bgRun is an archiver process running in the background.
type bgRun struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	code int
}

// syncBuffer is the output of a process that the test may read while the
// process still writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitOutput waits until the running archiver has written text, and fails
// the test if it ends or takes longer than timeout first.
func (b *bgRun) waitOutput(t *testing.T, text string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(b.out.String(), text) {
		select {
		case <-b.done:
			if strings.Contains(b.out.String(), text) {
				return
			}
			t.Fatalf("the archiver ended (exit %d) without writing %q:\n%s", b.code, text, b.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the archiver did not write %q within %v:\n%s", text, timeout, b.out.String())
		}
	}
}

func (h *harness) startBinary(t *testing.T, env []string, args ...string) *bgRun {
	t.Helper()
	args = append(args, "--database-url", h.dbURL)
	if args[0] != "migrate" && h.bucket != "" {
		args = append(args, "--bucket", h.bucket)
	}
	b := &bgRun{out: &syncBuffer{}, done: make(chan struct{})}
	b.cmd = exec.Command(archiverBinary(t), args...)
	b.cmd.Env = append(os.Environ(), env...)
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := b.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			b.code = ee.ExitCode()
		default:
			b.code = -2
		}
		close(b.done)
	}()
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			b.cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

func (b *bgRun) wait(t *testing.T, timeout time.Duration) (int, string) {
	t.Helper()
	select {
	case <-b.done:
		return b.code, b.out.String()
	case <-time.After(timeout):
		b.cmd.Process.Kill()
		<-b.done
		t.Fatalf("archiver did not finish within %v:\n%s", timeout, b.out.String())
	}
	return 0, ""
}

// terminateArchiver waits for an archiver backend on the harness's database
// (with inTx, one idle in a transaction: a day stopped at a failpoint) and
// terminates it with pg_terminate_backend, as an administrator or a
// failover would; with all, every backend of the archiver goes. It returns
// how many backends it terminated.
func (h *harness) terminateArchiver(t *testing.T, inTx bool, all bool) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		err := h.conn.QueryRow(context.Background(), `WITH target AS (
				SELECT pid, state FROM pg_stat_activity
				WHERE application_name = 'archiver' AND datname = current_database() AND pid <> pg_backend_pid())
			SELECT count(pg_terminate_backend(pid)) FROM target
			WHERE (NOT $1 OR EXISTS (SELECT 1 FROM target WHERE state = 'idle in transaction'))
			AND ($2 OR NOT $1 OR state = 'idle in transaction')`, inTx, all).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no archiver backend showed up to terminate")
	return 0
}

// connectionLost are the ways a terminated connection shows in an error.
var connectionLost = []string{"terminating connection", "conn closed", "unexpected EOF", "broken pipe",
	"connection reset", "closed network connection", "57P01"}

// TestConnectionTerminatedMidDay: the archiver's connection is terminated
// while it exports a day (after reading), after it deleted the day's rows,
// and after it wrote the manifest row (before commit). The day keeps every
// row, gets a failed manifest saying why, the run exits 1, and the next run
// converges: every reading exactly once, manifests matching objects. A
// second mode terminates every connection of the archiver at once.
func TestConnectionTerminatedMidDay(t *testing.T) {
	for _, point := range []string{"archive.after-read", "archive.after-delete", "archive.before-commit"} {
		for _, all := range []bool{false, true} {
			name := point
			if all {
				name += "/all connections"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t)
				want, late := h.toMerge(34, 33, 32)
				today := h.today()
				keyA := dayKey(today.AddDate(0, 0, -34))

				// One day at a time: day A (oldest) reaches the point first and
				// sleeps there while its connection is terminated.
				run := h.startBinary(t, []string{"ARCHIVER_FAILPOINTS=" + point + "=sleep(3s)@1"}, "archive", "--concurrency", "1")
				h.terminateArchiver(t, true, all)
				code, out := run.wait(t, time.Minute)
				if code != cli.ExitPartial {
					t.Fatalf("exit %d, want %d\n%s", code, cli.ExitPartial, out)
				}
				var errText string
				if err := h.conn.QueryRow(context.Background(), `SELECT coalesce(string_agg(error, ' | '), '') FROM archiver.archive_runs
					WHERE object_key = $1 AND status = 'failed'`, keyA).Scan(&errText); err != nil {
					t.Fatal(err)
				}
				if !containsAny(errText, connectionLost) {
					t.Errorf("failed manifest of %s: %q does not say the connection was lost\n%s", keyA, errText, out)
				}
				have := map[string]bool{}
				for _, r := range h.cleanRows("true") {
					have[r.key()] = true
				}
				for _, r := range late {
					if !have[r.key()] {
						t.Fatalf("row %s of the interrupted day was deleted", r.key())
					}
				}
				if code, out := h.runBinary(t, nil, "archive"); code != 0 {
					t.Fatalf("the run after the terminated one: exit %d\n%s", code, out)
				}
				h.checkObjects(t, fileObjects(t, h.dir), want)
				if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
					t.Errorf("%d rows left", n)
				}
			})
		}
	}
}

// TestConnectionTerminatedDuringPurge: connections terminated between purge
// batches; the purge either carries on with a new connection or stops the
// run, and the next run finishes it. Raw rows newer than the cutoff stay.
func TestConnectionTerminatedDuringPurge(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	_, err := h.conn.Exec(context.Background(), `INSERT INTO shizuku.raw_measurements (sensor_id, ts)
		SELECT 'old', now() - interval '3 days' FROM generate_series(1, 100);
		INSERT INTO shizuku.raw_measurements (sensor_id, ts) SELECT 'new', now() - interval '1 hour' FROM generate_series(1, 7)`)
	if err != nil {
		t.Fatal(err)
	}
	run := h.startBinary(t, []string{"ARCHIVER_FAILPOINTS=purge.after-batch=sleep(3s)@2", noHold}, "archive", "--batch-size", "10")
	// Terminate only once the purge is under way (two batches committed, the
	// run sleeping at the failpoint): earlier, the connection would be cut
	// while the run checks its preconditions, which is another test.
	for deadline := time.Now().Add(30 * time.Second); h.count(`SELECT count(*) FROM shizuku.raw_measurements WHERE sensor_id = 'old'`) > 80; {
		if time.Now().After(deadline) {
			t.Fatal("the purge did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.terminateArchiver(t, false, true)
	code, out := run.wait(t, time.Minute)
	if code != cli.ExitOK && code != cli.ExitPartial {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if code, out := h.runBinary(t, []string{noHold}, "archive", "--batch-size", "10"); code != 0 {
		t.Fatalf("the run after: exit %d\n%s", code, out)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements WHERE sensor_id = 'old'`); n != 0 {
		t.Errorf("%d raw rows older than the cutoff left", n)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements WHERE sensor_id = 'new'`); n != 7 {
		t.Errorf("%d of 7 raw rows newer than the cutoff left", n)
	}
}

// withOptions returns dbURL with libpq options (e.g. -c statement_timeout=500).
func withOptions(t *testing.T, dbURL, options string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("options", options)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestStatementTimeout: with a statement timeout (from the URL's options),
// a DELETE or a manifest write that takes too long fails the day: nothing is
// deleted, the run exits 1 and says why; once the database is fast again the
// next run converges.
func TestStatementTimeout(t *testing.T) {
	for _, c := range []struct {
		name, slow, undo string
	}{
		{"slow delete", `CREATE FUNCTION shizuku.slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$;
			CREATE TRIGGER slow BEFORE DELETE ON shizuku.clean_measurements FOR EACH STATEMENT EXECUTE FUNCTION shizuku.slow()`,
			`DROP TRIGGER slow ON shizuku.clean_measurements`},
		{"slow manifest write", `CREATE FUNCTION shizuku.slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(2); RETURN NEW; END $$;
			CREATE TRIGGER slow BEFORE INSERT ON archiver.archive_runs FOR EACH ROW WHEN (NEW.kind = 'archive') EXECUTE FUNCTION shizuku.slow()`,
			`DROP TRIGGER slow ON archiver.archive_runs`},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.mustRun("migrate", "up")
			rows := sample(h.today(), 33, 31, 2)
			h.insertClean(rows)
			h.exec(c.slow)
			h.dbURL = withOptions(t, h.dbURL, "-cstatement_timeout=500")
			r := h.run("archive")
			if r.code != cli.ExitPartial || !strings.Contains(r.stderr, "statement timeout") {
				t.Fatalf("exit %d, want %d and the reason\n%s", r.code, cli.ExitPartial, r.stderr)
			}
			sameReadings(t, "rows after the timed-out run", h.cleanRows("true"), rows)
			if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed'`); n != 0 {
				t.Errorf("%d committed manifests", n)
			}
			h.exec(c.undo)
			h.mustRun("archive")
			h.checkObjects(t, fileObjects(t, h.dir), rows)
		})
	}
}

// app is the application writing to the clean table while the archiver
// runs: it inserts late rows into the days being archived and updates
// existing rows of those days, and keeps its own record of what the table
// holds (every change is one autocommitted statement with RETURNING, so the
// record is exact).
type app struct {
	conn  *pgx.Conn
	days  []time.Time
	mu    sync.Mutex
	rows  map[int64]reading // by id, as the application last wrote it
	seq   int
	fails int
}

func (a *app) load(t *testing.T) {
	t.Helper()
	a.rows = map[int64]reading{}
	rs, err := a.conn.Query(context.Background(), `SELECT id, sensor_id, ts, value_mm, qc_flags::int8, imputation_method FROM shizuku.clean_measurements`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for rs.Next() {
		var id int64
		var r reading
		if err := rs.Scan(&id, &r.Sensor, &r.Time, &r.Value, &r.QCFlags, &r.Imputation); err != nil {
			t.Fatal(err)
		}
		r.Time = r.Time.UTC()
		a.rows[id] = r
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
}

func (a *app) step(ctx context.Context, rng *rand.Rand) error {
	day := a.days[rng.IntN(len(a.days))]
	if rng.IntN(2) == 0 {
		a.seq++
		var id int64
		var r reading
		err := a.conn.QueryRow(ctx, `INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags)
			VALUES ($1, $2, $3, 0) RETURNING id, sensor_id, ts, value_mm, qc_flags::int8, imputation_method`,
			fmt.Sprintf("late-%04d", a.seq), day.Add(time.Duration(rng.IntN(86400))*time.Second), float64(a.seq)).
			Scan(&id, &r.Sensor, &r.Time, &r.Value, &r.QCFlags, &r.Imputation)
		if err != nil {
			return err
		}
		r.Time = r.Time.UTC()
		a.mu.Lock()
		a.rows[id] = r
		a.mu.Unlock()
		return nil
	}
	// Update one row of the day that the application still believes is
	// there; if the archiver deleted it meanwhile, nothing is updated.
	rows, err := a.conn.Query(ctx, `UPDATE shizuku.clean_measurements SET value_mm = coalesce(value_mm, 0) + 1000, qc_flags = 9
		WHERE id = (SELECT id FROM shizuku.clean_measurements WHERE ts >= $1 AND ts < $2 ORDER BY random() LIMIT 1)
		RETURNING id, sensor_id, ts, value_mm, qc_flags::int8, imputation_method`, day, day.AddDate(0, 0, 1))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var r reading
		if err := rows.Scan(&id, &r.Sensor, &r.Time, &r.Value, &r.QCFlags, &r.Imputation); err != nil {
			return err
		}
		r.Time = r.Time.UTC()
		a.mu.Lock()
		a.rows[id] = r
		a.mu.Unlock()
	}
	return rows.Err()
}

func (a *app) want() []reading {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]reading, 0, len(a.rows))
	for _, r := range a.rows {
		out = append(out, r)
	}
	return out
}

// TestApplicationWritesDuringArchive: an application inserts late rows and
// updates rows of the very days being archived while archiver runs go over
// them, again and again. Whatever the interleaving, once the application
// stops and a last run succeeds, the archives and the table together hold
// exactly the application's last version of every row: nothing lost,
// nothing duplicated, no superseded version brought back. ARCHIVER_TEST_LONG
// runs many more rounds.
func TestApplicationWritesDuringArchive(t *testing.T) {
	rounds := long(3, 40)
	for round := range rounds {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			h := newHarness(t)
			h.mustRun("migrate", "up")
			today := h.today()
			h.insertClean(sample(today, 36, 32, 3))
			conn, err := pgx.Connect(context.Background(), h.dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			a := &app{conn: conn}
			for d := 36; d > 32; d-- {
				a.days = append(a.days, today.AddDate(0, 0, -d))
			}
			a.load(t)
			if round%2 == 1 {
				h.mustRun("archive") // later rounds start from existing archives
				a.load(t)
				a.rows = mergeRecord(a.rows, h, t)
			}

			// Every statement of the application runs to completion (no
			// cancelled context), so that its record stays exact.
			var stopping atomic.Bool
			appDone := make(chan error, 1)
			go func() {
				rng := rand.New(rand.NewPCG(uint64(round), 7))
				for !stopping.Load() {
					if err := a.step(context.Background(), rng); err != nil {
						appDone <- err
						return
					}
				}
				appDone <- nil
			}()
			var wg sync.WaitGroup
			codes := make([]int, 3)
			for i := range codes {
				wg.Go(func() {
					time.Sleep(time.Duration(i*40) * time.Millisecond)
					codes[i] = h.run("archive", "--concurrency", "2").code
				})
			}
			wg.Wait()
			stopping.Store(true)
			if err := <-appDone; err != nil {
				t.Fatalf("application: %v", err)
			}
			for i, c := range codes {
				if c != cli.ExitOK && c != cli.ExitPartial {
					t.Errorf("run %d during the application's writes: exit %d", i, c)
				}
			}
			for i := 0; ; i++ {
				r := h.run("archive")
				if r.code == 0 {
					break
				}
				if i == 2 {
					t.Fatalf("the runs after the application stopped keep failing: exit %d\n%s", r.code, r.stderr)
				}
			}
			h.checkObjects(t, fileObjects(t, h.dir), a.want())
		})
	}
}

// mergeRecord adds the readings already archived to the application's
// record (keyed by negative numbers: they have no row any more).
func mergeRecord(rows map[int64]reading, h *harness, t *testing.T) map[int64]reading {
	var id int64
	for _, doc := range h.archives() {
		for _, r := range doc.readings(t) {
			id--
			rows[id] = r
		}
	}
	return rows
}
