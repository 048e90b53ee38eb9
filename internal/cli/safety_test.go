package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/cli"
)

// runRaw runs the archiver with exactly args, nothing added.
func runRaw(args ...string) result {
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), append([]string{"archiver"}, args...), &out, &errOut, cli.Build{Version: "test", Commit: "test"})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// archivedHarness is a migrated database with two archived days: two
// committed archive manifests and a purge manifest.
func archivedHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 34, 32, 1))
	h.mustRun("archive")
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed'`); n != 2 {
		t.Fatalf("%d committed archives, want 2", n)
	}
	return h
}

func (h *harness) hasArchiveRuns() bool {
	h.t.Helper()
	return h.count(`SELECT count(*) FROM pg_tables WHERE schemaname = 'archiver' AND tablename = 'archive_runs'`) == 1
}

// TestMigrateDownNeedsYes: rolling back the first migration drops every
// manifest; it must say so first (with the count) and need --yes, or the
// schema's name typed on a terminal.
func TestMigrateDownNeedsYes(t *testing.T) {
	h := archivedHarness(t)
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs`); n != 3 {
		t.Fatalf("%d manifests, want 3 (2 archives, 1 purge)", n)
	}
	version := func() string { return strings.Fields(h.mustRun("migrate", "version").stdout)[0] }
	restore := cli.SetConfirmInput(strings.NewReader(""), false)
	r := h.run("migrate", "down")
	restore()
	if r.code != cli.ExitUsage {
		t.Errorf("down without --yes: exit %d, want %d\n%s", r.code, cli.ExitUsage, r.stderr)
	}
	for _, w := range []string{"DROPS archive_runs", "3 manifest rows", "2 committed archives", "--yes"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("down: the message lacks %q:\n%s", w, r.stderr)
		}
	}
	if !h.hasArchiveRuns() || version() != latest {
		t.Fatalf("down without --yes changed the schema (version %s)", version())
	}
	if latest != "1" {
		// Rolling back a later migration drops columns: also asked for.
		restore := cli.SetConfirmInput(strings.NewReader(""), false)
		r := h.run("migrate", "down", "1")
		restore()
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "migration "+latest+" drops") || version() != latest {
			t.Errorf("down 1 without --yes: exit %d, version %s\n%s", r.code, version(), r.stderr)
		}
	}
	// On a terminal: a wrong answer cancels, the schema name goes ahead.
	restore = cli.SetConfirmInput(strings.NewReader("yes\n"), true)
	r = h.run("migrate", "down")
	restore()
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "Type the schema name (archiver)") || !h.hasArchiveRuns() {
		t.Fatalf("typed 'yes' instead of the schema name: exit %d, archive_runs kept %t\n%s", r.code, h.hasArchiveRuns(), r.stderr)
	}
	restore = cli.SetConfirmInput(strings.NewReader("archiver\n"), true)
	r = h.run("migrate", "down")
	restore()
	if r.code != 0 || h.hasArchiveRuns() {
		t.Fatalf("typed the schema name: exit %d, archive_runs kept %t\n%s", r.code, h.hasArchiveRuns(), r.stderr)
	}
	h.mustRun("migrate", "up")
	restore = cli.SetConfirmInput(strings.NewReader(""), false)
	defer restore()
	if r := h.mustRun("migrate", "down", "--yes"); !strings.Contains(r.stderr, "0 manifest rows") || h.hasArchiveRuns() {
		t.Fatalf("down --yes: archive_runs kept %t\n%s", h.hasArchiveRuns(), r.stderr)
	}
	if r := h.mustRun("migrate", "down", "--yes"); !strings.Contains(r.stdout, "nothing to roll back") {
		t.Errorf("down at version 0: %q", r.stdout)
	}
}

// TestFlagAfterPositionalIsAnError: urfave/cli stops reading flags at the
// first positional argument, so `migrate down 1 --database-url x` ran
// against $DATABASE_URL; every command must refuse a flag there, naming it.
func TestFlagAfterPositionalIsAnError(t *testing.T) {
	h := archivedHarness(t)
	t.Setenv("DATABASE_URL", h.dbURL)
	other := "postgres://nobody@127.0.0.1:1/other"
	for _, args := range [][]string{
		{"migrate", "down", "1", "--database-url", other},
		{"migrate", "down", "1", "--yes"},
		{"migrate", "force", "1", "--manifest-schema=elsewhere"},
		{"completion", "bash", "--log-level", "debug"},
	} {
		r := runRaw(args...)
		flag := args[len(args)-1]
		for _, a := range args {
			if strings.HasPrefix(a, "-") {
				flag, _, _ = strings.Cut(a, "=")
				break
			}
		}
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "flag "+flag+" comes after the argument") {
			t.Errorf("%v: exit %d, want %d naming %s\n%s", args, r.code, cli.ExitUsage, flag, r.stderr)
		}
		if !h.hasArchiveRuns() {
			t.Fatalf("%v dropped archive_runs", args)
		}
	}
	// A command that takes no arguments says so instead of ignoring them.
	if r := runRaw("archive", "--bucket", h.bucket, "2025-01-01"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "takes no arguments") {
		t.Errorf("archive with an argument: exit %d\n%s", r.code, r.stderr)
	}
	if r := runRaw("frobnicate"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d\n%s", r.code, r.stderr)
	}
}

// TestBadFlagValueIsShort: a bad flag value prints the error and where the
// help is, not the whole help text in which the error scrolls away.
func TestBadFlagValueIsShort(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"archive", "--concurrency", "lots"}, []string{`invalid value "lots" for flag --concurrency`, "Run 'archiver archive --help'"}},
		{[]string{"restore", "--no-such-flag"}, []string{"not defined: --no-such-flag", "Run 'archiver restore --help'"}},
		{[]string{"migrate", "up", "--connect-timeout"}, []string{"needs an argument: --connect-timeout", "Run 'archiver migrate up --help'"}},
		{[]string{"--log-levle", "debug", "archive"}, []string{"not defined: --log-levle", "Run 'archiver --help'"}},
	} {
		r := runRaw(c.args...)
		if r.code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d", c.args, r.code, cli.ExitUsage)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%v: lacks %q:\n%s", c.args, w, r.stderr)
			}
		}
		if all := r.stdout + r.stderr; strings.Contains(all, "USAGE:") || strings.Contains(all, "OPTIONS:") || strings.Count(all, "\n") > 2 {
			t.Errorf("%v: prints more than the error and one line:\n%s%s", c.args, r.stdout, r.stderr)
		}
	}
}

// TestVersionFlag: `archiver --version` answers like `archiver version`.
func TestVersionFlag(t *testing.T) {
	want := runRaw("version")
	got := runRaw("--version")
	if got.code != 0 || got.stdout != want.stdout || !strings.Contains(got.stdout, "archiver test") {
		t.Errorf("--version: exit %d %q, want %q\n%s", got.code, got.stdout, want.stdout, got.stderr)
	}
}

// TestJDBCURLIsRefused: pgx reads a JDBC URL as an odd key=value string
// and connects to the default host; refuse it, naming the expected form,
// without echoing the password.
func TestJDBCURLIsRefused(t *testing.T) {
	h := newHarness(t)
	u, err := url.Parse(h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	jdbc := "jdbc:postgresql://" + u.Host + u.Path + "?user=" + u.User.Username() + "&password=Jd8cS3cretPw"
	for _, args := range [][]string{{"migrate", "up", "--database-url", jdbc}, {"archive", "--database-url", jdbc, "--bucket", h.bucket}} {
		r := runRaw(args...)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "JDBC URL") || !strings.Contains(r.stderr, "postgres://user:password@host:port/database") {
			t.Errorf("%v: exit %d, want %d with the expected form\n%s", args, r.code, cli.ExitUsage, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "S3cr") {
			t.Errorf("%v: the password is echoed:\n%s", args, r.stderr)
		}
	}
	if h.count(`SELECT count(*) FROM pg_namespace WHERE nspname = 'archiver'`) != 0 {
		t.Error("migrate up with a JDBC URL created the schema")
	}
}

// TestRestoreIntoMissingTableNamesInto: the error names the flag the table
// came from, not clean.table.
func TestRestoreIntoMissingTableNamesInto(t *testing.T) {
	h := archivedHarness(t)
	day := h.today().AddDate(0, 0, -34).Format(time.DateOnly)
	r := h.run("restore", "--day", day, "--into", "scratch.nope")
	if r.code != cli.ExitUnavailable || !strings.Contains(r.stderr, "scratch.nope does not exist (flag --into)") || strings.Contains(r.stderr, "setting clean.table") {
		t.Errorf("exit %d, want %d naming --into:\n%s", r.code, cli.ExitUnavailable, r.stderr)
	}
	r = h.run("restore", "--day", day, "--into", "a.b.c")
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "--into") {
		t.Errorf("bad --into name: exit %d\n%s", r.code, r.stderr)
	}
}

var roleSeq atomic.Int64

// restrictedURL creates a login role (trust auth, as the test cluster's)
// that may use the measurement and manifest schemas, runs grants as the
// superuser, and returns the harness's database URL for that role.
func restrictedURL(t *testing.T, h *harness, grants ...string) string {
	t.Helper()
	ctx := context.Background()
	var db string
	if err := h.conn.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	role := "r_" + strings.TrimPrefix(db, "t_")
	if len(role) > 55 {
		role = role[:55]
	}
	role += fmt.Sprintf("_%d", roleSeq.Add(1))
	id := pgx.Identifier{role}.Sanitize()
	stmts := append([]string{
		`CREATE ROLE ` + id + ` LOGIN`,
		`GRANT USAGE ON SCHEMA shizuku TO ` + id,
		`GRANT USAGE ON SCHEMA archiver TO ` + id,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA archiver TO ` + id,
		`GRANT USAGE ON ALL SEQUENCES IN SCHEMA archiver TO ` + id,
	}, grants...)
	for _, s := range stmts {
		if _, err := h.conn.Exec(ctx, strings.ReplaceAll(s, "$ROLE", id)); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	t.Cleanup(func() {
		ctx := context.Background()
		h.conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role)
		h.conn.Exec(ctx, `DROP OWNED BY `+id)
		h.conn.Exec(ctx, `DROP ROLE `+id)
	})
	u, err := url.Parse(h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	return u.String()
}

// TestTablePrivilegesCheckedFirst: a clean table the role cannot delete
// from (no DELETE privilege, or a view that does not take DELETE) used to
// fail at the first DELETE, after uploading, every run. Now the run refuses
// before anything is purged or uploaded, naming the table and privilege;
// the same for the raw table's DELETE and restore's INSERT.
func TestTablePrivilegesCheckedFirst(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 34, 32, 1))
	ctx := context.Background()
	if _, err := h.conn.Exec(ctx, `INSERT INTO shizuku.raw_measurements (sensor_id, ts) SELECT 's', now() - interval '3 days' FROM generate_series(1, 5)`); err != nil {
		t.Fatal(err)
	}
	if _, err := h.conn.Exec(ctx, `CREATE VIEW shizuku.clean_view AS SELECT DISTINCT sensor_id, ts, value_mm, qc_flags, imputation_method FROM shizuku.clean_measurements`); err != nil {
		t.Fatal(err)
	}
	unchanged := func(what string) {
		t.Helper()
		if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 48 {
			t.Errorf("%s: %d clean rows left, want 48", what, n)
		}
		if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements`); n != 5 {
			t.Errorf("%s: %d raw rows left, want 5", what, n)
		}
		if objs := h.archives(); len(objs) != 0 {
			t.Errorf("%s: %d archives uploaded", what, len(objs))
		}
	}
	cases := []struct {
		name   string
		grants []string
		args   []string
		want   []string
	}{
		{"no DELETE on clean", []string{`GRANT SELECT, DELETE ON shizuku.raw_measurements TO $ROLE`, `GRANT SELECT, INSERT ON shizuku.clean_measurements TO $ROLE`},
			[]string{"archive"}, []string{"lacks the DELETE privilege on table shizuku.clean_measurements (setting clean.table)", "GRANT DELETE"}},
		{"no DELETE on raw", []string{`GRANT SELECT ON shizuku.raw_measurements TO $ROLE`, `GRANT SELECT, DELETE ON shizuku.clean_measurements TO $ROLE`},
			[]string{"archive"}, []string{"lacks the DELETE privilege on table shizuku.raw_measurements (setting raw.table)"}},
		{"clean table is a view", []string{`GRANT SELECT, DELETE ON shizuku.raw_measurements TO $ROLE`, `GRANT SELECT, DELETE ON shizuku.clean_view TO $ROLE`},
			[]string{"archive", "--clean-table", "shizuku.clean_view"}, []string{"shizuku.clean_view (setting clean.table) is a view that does not accept DELETE"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("DATABASE_URL", restrictedURL(t, h, c.grants...))
			for _, dry := range []bool{false, true} {
				args := append([]string{c.args[0], "--bucket", h.bucket}, c.args[1:]...)
				if dry {
					args = append(args, "--dry-run")
				}
				r := runRaw(args...)
				if r.code != cli.ExitUnavailable {
					t.Errorf("%v: exit %d, want %d\n%s", args, r.code, cli.ExitUnavailable, r.stderr)
				}
				for _, w := range c.want {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("%v: lacks %q:\n%s", args, w, r.stderr)
					}
				}
				unchanged(c.name)
			}
		})
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs`); n != 0 {
		t.Errorf("%d manifests recorded by refused runs", n)
	}

	// Restore needs INSERT on its target.
	h.mustRun("archive")
	day := h.today().AddDate(0, 0, -34).Format(time.DateOnly)
	t.Setenv("DATABASE_URL", restrictedURL(t, h, `GRANT SELECT, DELETE ON shizuku.clean_measurements TO $ROLE`))
	r := runRaw("restore", "--bucket", h.bucket, "--day", day)
	if r.code != cli.ExitUnavailable || !strings.Contains(r.stderr, "lacks the INSERT privilege on table shizuku.clean_measurements") {
		t.Errorf("restore without INSERT: exit %d\n%s", r.code, r.stderr)
	}
	// checkin rewrites a checked-out day's archive, then deletes its rows:
	// without DELETE it must not get as far as the upload.
	h.mustRun("restore", "--day", day, "--checkout")
	manifests := h.count(`SELECT count(*) FROM archiver.archive_runs`)
	object := h.rstObject(rstKey(h.today().AddDate(0, 0, -34)))
	t.Setenv("DATABASE_URL", restrictedURL(t, h, `GRANT SELECT, INSERT ON shizuku.clean_measurements TO $ROLE`))
	r = runRaw("checkin", "--bucket", h.bucket, "--day", day)
	if r.code != cli.ExitUnavailable || !strings.Contains(r.stderr, "lacks the DELETE privilege on table shizuku.clean_measurements") {
		t.Errorf("checkin without DELETE: exit %d\n%s", r.code, r.stderr)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs`); n != manifests {
		t.Errorf("checkin without DELETE recorded %d manifest rows", n-manifests)
	}
	if !bytes.Equal(h.rstObject(rstKey(h.today().AddDate(0, 0, -34))), object) {
		t.Errorf("checkin without DELETE rewrote the day's archive")
	}
	// --on-conflict replace updates rows: it needs UPDATE too.
	t.Setenv("DATABASE_URL", restrictedURL(t, h, `GRANT SELECT, INSERT ON shizuku.clean_measurements TO $ROLE`))
	r = runRaw("restore", "--bucket", h.bucket, "--day", day, "--on-conflict", "replace")
	if r.code != cli.ExitUnavailable || !strings.Contains(r.stderr, "lacks the UPDATE privilege on table shizuku.clean_measurements") {
		t.Errorf("restore --on-conflict replace without UPDATE: exit %d\n%s", r.code, r.stderr)
	}
}

// TestRawPurgeCanBeSwitchedOff: an empty raw.table runs without the purge;
// a missing raw table stays an error that names this option.
func TestRawPurgeCanBeSwitchedOff(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 34, 33, 1))
	ctx := context.Background()
	if _, err := h.conn.Exec(ctx, `DROP TABLE shizuku.raw_measurements`); err != nil {
		t.Fatal(err)
	}
	r := h.run("archive")
	if r.code != cli.ExitUnavailable || !strings.Contains(r.stderr, "shizuku.raw_measurements does not exist (setting raw.table)") ||
		!strings.Contains(r.stderr, "set raw.table empty") {
		t.Fatalf("missing raw table: exit %d\n%s", r.code, r.stderr)
	}
	t.Setenv("ARCHIVER_RAW_TABLE", "")
	r = h.mustRun("archive")
	if !strings.Contains(r.stderr, "Raw purge switched off") {
		t.Errorf("the log does not say the purge is off:\n%s", r.stderr)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d clean rows left; the day was not archived", n)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'purge'`); n != 0 {
		t.Errorf("%d purge manifests with the purge switched off", n)
	}
	if r := h.run("archive", "--raw-table", "", "--dry-run"); r.code != 0 {
		t.Errorf("--raw-table '': exit %d\n%s", r.code, r.stderr)
	}
}

// TestFailedStartReportsMetrics: a run that cannot start (unreachable
// database, exit 3) used to write no metrics, so the alerts fired only when
// the last success went stale, 26 h later. It now writes and pushes
// last_run_success 0 with the run's timestamp (keeping the last success
// time), and its log never claims "Archiver Service Complete".
func TestFailedStartReportsMetrics(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 34, 33, 1))
	prom := filepath.Join(t.TempDir(), "archiver.prom")
	h.mustRun("archive", "--metrics-file", prom)
	before := readText(t, prom)
	lastSuccess := metricLine(before, `archiver_last_success_timestamp_seconds{command="archive"}`)
	if lastSuccess == "" || metricLine(before, `archiver_last_run_success{command="archive"}`) != "1" {
		t.Fatalf("after a good run:\n%s", before)
	}

	var pushes []string
	var mu sync.Mutex
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		pushes = append(pushes, r.Method+" "+r.URL.Path+"\n"+string(body))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer gw.Close()
	time.Sleep(10 * time.Millisecond) // the failed run's timestamp is later
	unreachable := "postgres://nobody@127.0.0.1:1/db"
	r := runRaw("archive", "--database-url", unreachable, "--connect-timeout", "2s", "--bucket", h.bucket,
		"--metrics-file", prom, "--metrics-push-url", gw.URL)
	if r.code != cli.ExitUnavailable {
		t.Fatalf("unreachable database: exit %d\n%s", r.code, r.stderr)
	}
	after := readText(t, prom)
	if got := metricLine(after, `archiver_last_run_success{command="archive"}`); got != "0" {
		t.Errorf("last_run_success after a failed start = %q, want 0:\n%s", got, after)
	}
	if metricLine(after, `archiver_last_run_timestamp_seconds{command="archive"}`) == metricLine(before, `archiver_last_run_timestamp_seconds{command="archive"}`) {
		t.Errorf("last_run_timestamp_seconds not updated by the failed start:\n%s", after)
	}
	if got := metricLine(after, `archiver_last_success_timestamp_seconds{command="archive"}`); got != lastSuccess {
		t.Errorf("last success %q after a failed start, want the earlier %q", got, lastSuccess)
	}
	mu.Lock()
	if len(pushes) != 1 || !strings.Contains(pushes[0], "archiver_last_run_success") {
		t.Errorf("pushes after a failed start: %q", pushes)
	}
	mu.Unlock()
	if strings.Contains(r.stderr, "Service Complete") {
		t.Errorf("a failed start claims completion:\n%s", r.stderr)
	}

	// A run that fails after connecting (a missing table) says it failed,
	// not that it completed, in text and in JSON.
	for _, format := range []string{"text", "json"} {
		r := h.run("archive", "--clean-table", "shizuku.nope", "--log-format", format, "--metrics-file", prom)
		if r.code != cli.ExitUnavailable || strings.Contains(r.stderr, "Service Complete") || !strings.Contains(r.stderr, "Archiver Service Failed") {
			t.Errorf("%s: a failed run's summary: exit %d\n%s", format, r.code, r.stderr)
		}
		if strings.Contains(r.stderr, "Step 3: Deleted") {
			t.Errorf("%s: a failed run says it deleted:\n%s", format, r.stderr)
		}
	}
	if got := metricLine(readText(t, prom), `archiver_last_run_success{command="archive"}`); got != "0" {
		t.Errorf("last_run_success after a failed run = %q", got)
	}
}

func readText(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// metricLine is the value of the sample named exactly series, or "".
func metricLine(text, series string) string {
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestInfiniteTimestamps: one clean row at -infinity (or infinity) used to
// stop every run (exit 3, "cannot scan -Infinity"). Such rows belong to no
// day: they stay in the table, every run warns with their count and table
// and reports them as a metric, and every other day is archived. Raw rows
// at -infinity are older than any cutoff and purged; raw rows at infinity
// never are.
func TestInfiniteTimestamps(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 34, 32, 1))
	ctx := context.Background()
	for _, sql := range []string{
		`INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm) VALUES ('s', '-infinity', 1), ('s', '-infinity', 2), ('s', 'infinity', 3)`,
		// The raw row of 3 days ago is past the raw retention but newer than
		// the newest finite clean reading (32 days ago), so raw.require_clean
		// keeps it: were the clean row at +infinity taken for the newest
		// reading, it would be purged.
		`INSERT INTO shizuku.raw_measurements (sensor_id, ts) VALUES ('s', '-infinity'), ('s', 'infinity'), ('s', now()), ('s', now() - interval '3 days')`,
	} {
		if _, err := h.conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	prom := filepath.Join(t.TempDir(), "archiver.prom")
	if r := h.mustRun("archive", "--dry-run"); !strings.Contains(r.stderr, "Days that would be archived: 2") || !strings.Contains(r.stderr, "Raw measurements that would be deleted: 1\n") {
		t.Errorf("dry run:\n%s", r.stderr)
	}
	r := h.mustRun("archive", "--metrics-file", prom)
	for _, w := range []string{"3 rows of shizuku.clean_measurements have an infinite time", "minus_infinity=2", "plus_infinity=1", "Rows left with an infinite time (no day): 3", "Archive files created: 2"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("log lacks %q:\n%s", w, r.stderr)
		}
	}
	if got := metricLine(readText(t, prom), "archiver_clean_rows_infinite_time"); got != "3" {
		t.Errorf("archiver_clean_rows_infinite_time = %q, want 3", got)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 3 {
		t.Errorf("%d clean rows left, want the 3 infinite ones", n)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements WHERE isfinite(ts)`); n != 0 {
		t.Errorf("%d finite clean rows left", n)
	}
	raw := h.texts(`SELECT CASE WHEN isfinite(ts) THEN 'finite' ELSE ts::text END FROM shizuku.raw_measurements ORDER BY ts`)
	if strings.Join(raw, ",") != "finite,finite,infinity" {
		t.Errorf("raw rows left: %v, want the two finite ones (one recent, one held for cleaning) and the +infinity one", raw)
	}
	if len(h.archives()) != 2 {
		t.Errorf("%d archives, want 2", len(h.archives()))
	}
	// The next run warns again and changes nothing.
	r = h.mustRun("archive")
	if !strings.Contains(r.stderr, "3 rows of shizuku.clean_measurements have an infinite time") || !strings.Contains(r.stderr, "Archive files created: 0") {
		t.Errorf("second run:\n%s", r.stderr)
	}
	h.mustRun("verify")
}
