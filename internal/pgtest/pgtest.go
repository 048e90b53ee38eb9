// Package pgtest gives tests a real, disposable PostgreSQL database.
//
// By default each test binary starts one throwaway PostgreSQL cluster (initdb
// into a temporary directory, fsync off, trust auth on 127.0.0.1) the first
// time a test asks for it (wal_level=logical, so that tests can make logical
// replication slots), and every test gets its own database on it, so
// tests can run in parallel without seeing each other's rows. Set
// ARCHIVER_TEST_DATABASE_URL to a superuser URL of an existing server (for
// example postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) to use
// that server instead; databases are still created per test and dropped
// (tests of logical replication slots then need wal_level=logical on it,
// and tests with a standby need the throwaway cluster: they fail, saying so).
//
// A test that needs PostgreSQL and cannot get one fails, it never skips: a
// skipped database test looks green in CI while testing nothing.
//
// Every package that uses pgtest must stop the cluster when its tests end:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
package pgtest

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// EnvURL names the environment variable that points the tests at an existing
// server instead of a throwaway cluster.
const EnvURL = "ARCHIVER_TEST_DATABASE_URL"

// SchemaSQL is the DDL of the original service's tables (schema shizuku).
// It is embedded from schema.sql so that scripts can apply the very same
// file with psql -f internal/pgtest/schema.sql.
//
//go:embed schema.sql
var SchemaSQL string

const howToFix = "install the PostgreSQL 15 server (apt-get install -y postgresql-15, " +
	"binaries in /usr/lib/postgresql/15/bin) or set " + EnvURL +
	"=postgres://USER@HOST:PORT/postgres?sslmode=disable to use an existing server"

// dirPrefix marks our temporary clusters so that a later run can find and
// remove clusters leaked by a test binary that was killed.
const dirPrefix = "archiver-pgtest-"

var (
	mainCalled atomic.Bool

	startOnce sync.Once
	started   *cluster
	startErr  error

	stopMu sync.Mutex

	dbSeq atomic.Int64

	errStopped = errors.New("the PostgreSQL cluster was stopped (interrupted, or used after TestMain's m.Run returned)")
)

// URL returns the URL of a PostgreSQL server on which the caller may create
// databases, starting the throwaway cluster on first use. It fails the test
// if no server can be had.
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	if !mainCalled.Load() {
		t.Fatalf("pgtest: this package's tests would leak a PostgreSQL cluster; add\n\tfunc TestMain(m *testing.M) { pgtest.Main(m) }\n(or set %s)", EnvURL)
	}
	startOnce.Do(func() { started, startErr = startCluster() })
	if errors.Is(startErr, errStopped) {
		t.Fatalf("pgtest: %v", startErr)
	}
	if startErr != nil {
		t.Fatalf("pgtest: cannot start a throwaway PostgreSQL cluster: %v\nTo fix: %s", startErr, howToFix)
	}
	return started.url
}

// NewDatabase creates an empty database with a unique name on the server
// from URL, drops it when the test ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := URL(t)
	name := databaseName(t.Name())

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := execOn(ctx, base, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		// FORCE: a test that forgot to close a pool must not make cleanup fail.
		if err := execOn(ctx, base, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s is not a URL: %v", EnvURL, err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// CreateSchema applies SchemaSQL to the database at dbURL.
func CreateSchema(t testing.TB, dbURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := execOn(ctx, dbURL, SchemaSQL); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
}

// Main runs the tests, then stops the throwaway cluster (if one was started)
// and exits with the tests' exit code. Call it from TestMain. An interrupt
// or SIGTERM also stops the cluster, because pg_ctl detaches the server into
// its own session where the terminal's signals never reach it.
func Main(m *testing.M) {
	mainCalled.Store(true)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		stopCluster()
		fmt.Fprintf(os.Stderr, "pgtest: %v: stopped the PostgreSQL cluster\n", s)
		os.Exit(1)
	}()

	code := m.Run()
	signal.Stop(sigs)
	close(sigs)
	stopCluster()
	os.Exit(code)
}

func execOn(ctx context.Context, dbURL, sql string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return err
	}
	return nil
}

var nonIdent = regexp.MustCompile(`[^a-z0-9]+`)

// databaseName derives a readable, unique name from the test name, so that
// a leftover database in a shared server points at the test that made it.
func databaseName(testName string) string {
	s := strings.Trim(nonIdent.ReplaceAllString(strings.ToLower(testName), "_"), "_")
	if len(s) > 30 {
		s = s[:30]
	}
	return fmt.Sprintf("t_%s_%d_%d_%d", s, os.Getpid(), time.Now().UnixNano()%1e9, dbSeq.Add(1))
}

// cluster is a running throwaway server.
type cluster struct {
	dir     string // temporary root, removed on stop
	dataDir string
	logFile string
	binDir  string
	cred    *syscall.Credential // nil: run as the current user
	url     string
}

func startCluster() (*cluster, error) {
	binDir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := serverCredential()
	if err != nil {
		return nil, err
	}
	reapLeaked(binDir, cred)

	dir, err := os.MkdirTemp(tempRoot(cred != nil), dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	c := &cluster{
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		logFile: filepath.Join(dir, "postgres.log"),
		binDir:  binDir,
		cred:    cred,
	}
	fail := func(err error) (*cluster, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fail(fmt.Errorf("write owner file: %w", err))
	}
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(fmt.Errorf("chown %s to the postgres user: %w", dir, err))
		}
	}

	if out, err := c.run(30*time.Second, "initdb", "-D", c.dataDir, "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		return fail(fmt.Errorf("initdb: %w\n%s", err, out))
	}

	// The free port is only free until we release it, so a lost race with
	// another process is retried on a new port.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := testkit.FreePort()
		if err != nil {
			return fail(err)
		}
		// wal_level=logical: the replica-lag tests need logical slots (a
		// logical consumer counts only when named). It is set here, on
		// the one cluster, because it takes a restart to change and a
		// second cluster per test would cost an initdb; the extra WAL it
		// writes (a deleted row's key) is a few bytes a row.
		opts := fmt.Sprintf("-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "+
			"-c full_page_writes=off -c max_connections=200 -c wal_level=logical", dir, port)
		out, err := c.run(90*time.Second, "pg_ctl", "-D", c.dataDir, "-l", c.logFile, "-w", "-t", "60", "-o", opts, "start")
		if err == nil {
			c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
			return c, nil
		}
		lastErr = fmt.Errorf("pg_ctl start on port %d: %w\n%s\nserver log (%s):\n%s", port, err, out, c.logFile, logTail(c.logFile, 30))
		// pg_ctl -w may give up while the server is still coming up.
		c.run(30*time.Second, "pg_ctl", "-D", c.dataDir, "-m", "immediate", "-w", "stop")
		if !strings.Contains(lastErr.Error(), "could not bind") && !strings.Contains(lastErr.Error(), "could not create") {
			break
		}
	}
	return fail(lastErr)
}

func stopCluster() {
	stopMu.Lock()
	defer stopMu.Unlock()
	c := started
	if c == nil {
		return
	}
	started = nil
	startErr = errStopped
	c.stop()
}

func (c *cluster) stop() {
	if out, err := c.run(60*time.Second, "pg_ctl", "-D", c.dataDir, "-m", "immediate", "-w", "stop"); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: pg_ctl stop: %v\n%s", err, out)
	}
	if err := os.RemoveAll(c.dir); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: remove %s: %v\n", c.dir, err)
	}
}

// run executes a PostgreSQL program as the server's OS user and returns its
// combined output.
func (c *cluster) run(timeout time.Duration, prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, prog), args...)
	// The test's working directory may not be readable by the postgres user.
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		cmd.Env = append(os.Environ(), "HOME="+c.dir, "USER=postgres", "LOGNAME=postgres")
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %v: %w", prog, timeout, err)
	}
	return string(out), err
}

// findBinDir locates a directory with initdb, pg_ctl and postgres: PATH
// first (resolving Debian's symlinks), then the highest installed
// /usr/lib/postgresql/<version>/bin.
func findBinDir() (string, error) {
	var tried []string
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		d := filepath.Dir(p)
		if hasServerBinaries(d) {
			return d, nil
		}
		tried = append(tried, d)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if hasServerBinaries(d) {
			return d, nil
		}
		tried = append(tried, d)
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or in /usr/lib/postgresql/*/bin (looked in: %s)",
		strings.Join(append(tried, "$PATH"), ", "))
}

func hasServerBinaries(dir string) bool {
	for _, p := range []string{"initdb", "pg_ctl", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// serverCredential returns the postgres OS user's credential when running as
// root, because initdb and postgres refuse to run as root.
func serverCredential() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("running as root, and PostgreSQL refuses to run as root, but there is no \"postgres\" OS user to run it as (%w); create it (useradd --system --user-group postgres) or run the tests as a non-root user", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, 0, 0, fmt.Errorf("postgres OS user has non-numeric uid/gid %q/%q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

// tempRoot picks where the cluster lives. When the server runs as another
// user, every ancestor must be searchable by it; a private TMPDIR (say
// /root/tmp) is not, so fall back to /tmp.
func tempRoot(otherUser bool) string {
	root := os.TempDir()
	if !otherUser {
		return root
	}
	for d := root; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return root
		}
	}
}

// reapLeaked stops and removes clusters whose test binary died without
// running Main's cleanup (killed, or panicked on -timeout), so that repeated
// local runs do not pile up postgres processes.
func reapLeaked(binDir string, cred *syscall.Credential) {
	for _, root := range []string{os.TempDir(), "/tmp"} {
		dirs, _ := filepath.Glob(filepath.Join(root, dirPrefix+"*"))
		for _, dir := range dirs {
			b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
			if err != nil {
				continue
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
				continue
			}
			c := &cluster{dir: dir, dataDir: filepath.Join(dir, "data"), binDir: binDir, cred: cred}
			if _, err := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); err == nil {
				c.run(30*time.Second, "pg_ctl", "-D", c.dataDir, "-m", "immediate", "-w", "stop")
			}
			os.RemoveAll(dir)
		}
	}
}

func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
