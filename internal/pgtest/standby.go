package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/testkit"
)

// Standby is a streaming physical standby of the throwaway primary: made
// with pg_basebackup -R from it and started on its own port, so that tests
// can lag a real replica deterministically (PauseReplay, ResumeReplay).
type Standby struct {
	// URL is a superuser URL of the standby's postgres database.
	URL string
	c   *cluster
}

// NewStandby starts a standby of the server from URL and stops it when
// the test ends. It needs the throwaway cluster (a server named by
// ARCHIVER_TEST_DATABASE_URL cannot be copied by the test) and fails the
// test otherwise. It returns once the standby streams from the primary.
func NewStandby(t testing.TB) *Standby {
	t.Helper()
	if os.Getenv(EnvURL) != "" {
		t.Fatalf("pgtest: a standby is made from the throwaway cluster with pg_basebackup; unset %s to run this test", EnvURL)
	}
	primary := URL(t)
	pu, err := url.Parse(primary)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	cred, uid, gid, err := serverCredential()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dir, err := os.MkdirTemp(tempRoot(cred != nil), dirPrefix+"standby-")
	if err != nil {
		t.Fatalf("pgtest: create standby directory: %v", err)
	}
	c := &cluster{dir: dir, dataDir: filepath.Join(dir, "data"), logFile: filepath.Join(dir, "postgres.log"), binDir: started.binDir, cred: cred}
	t.Cleanup(c.stop)
	// The owner file lets reapLeaked stop the standby of a killed test binary.
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("pgtest: chown %s: %v", dir, err)
		}
	}
	// -X stream copies the WAL written during the copy; -R writes
	// primary_conninfo and standby.signal. No slot: a standby that stops
	// with its test must not keep WAL on the shared primary.
	if out, err := c.run(2*time.Minute, "pg_basebackup", "-h", pu.Hostname(), "-p", pu.Port(), "-U", "postgres",
		"-D", c.dataDir, "-R", "-X", "stream", "-c", "fast", "--no-sync"); err != nil {
		t.Fatalf("pgtest: pg_basebackup: %v\n%s", err, out)
	}
	port, err := testkit.FreePort()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	opts := fmt.Sprintf("-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c hot_standby=on -c wal_receiver_status_interval=1s", dir, port)
	if out, err := c.run(90*time.Second, "pg_ctl", "-D", c.dataDir, "-l", c.logFile, "-w", "-t", "60", "-o", opts, "start"); err != nil {
		t.Fatalf("pgtest: start standby on port %d: %v\n%s\nlog:\n%s", port, err, out, logTail(c.logFile, 30))
	}
	s := &Standby{URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), c: c}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		var streaming bool
		err := queryOn(ctx, s.URL, `SELECT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')`, &streaming)
		if err == nil && streaming {
			return s
		}
		if ctx.Err() != nil {
			t.Fatalf("pgtest: the standby does not stream from the primary (last error: %v)\nlog:\n%s", err, logTail(c.logFile, 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PauseReplay stops the standby applying WAL (it still receives it): from
// now on it falls behind by whatever the primary writes.
func (s *Standby) PauseReplay(t testing.TB) {
	t.Helper()
	if err := execOn(context.Background(), s.URL, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatalf("pgtest: pause replay: %v", err)
	}
}

// ResumeReplay lets the standby catch up.
func (s *Standby) ResumeReplay(t testing.TB) {
	t.Helper()
	if err := execOn(context.Background(), s.URL, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatalf("pgtest: resume replay: %v", err)
	}
}

// WaitCaughtUp waits until the standby has replayed everything the
// primary had written when it was called.
func (s *Standby) WaitCaughtUp(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var lsn string
	if err := queryOn(ctx, URL(t), `SELECT pg_current_wal_lsn()::text`, &lsn); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	for {
		var ok bool
		err := queryOn(ctx, s.URL, `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`, &ok, lsn)
		if err == nil && ok {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("pgtest: the standby did not replay up to %s (last error: %v)", lsn, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func queryOn(ctx context.Context, dbURL, sql string, dest any, args ...any) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(ctx, sql, args...).Scan(dest)
}

// Program returns the path of a PostgreSQL program (pg_receivewal,
// pg_recvlogical) from the installation whose server the tests run, so
// that a test can start a real WAL consumer. It fails the test if there is
// no such program.
func Program(t testing.TB, name string) string {
	t.Helper()
	dir, err := findBinDir()
	if err != nil {
		t.Fatalf("pgtest: %v\nTo fix: %s", err, howToFix)
	}
	p := filepath.Join(dir, name)
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("pgtest: no %s in %s (it comes with the PostgreSQL server package)", name, dir)
	}
	return p
}
