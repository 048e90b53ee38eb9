package cli_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/cli"
)

// TestBadBucketURLs: an unknown backend or a malformed bucket URL stops the
// run before anything is done, says what is wrong and which schemes exist,
// and never repeats a credential that was in the URL.
func TestBadBucketURLs(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 33, 32, 1))
	for _, c := range []struct {
		bucket string
		want   []string
	}{
		{"ftp://archiver:pw-Xk29Lq@host/dir", []string{`"ftp"`, "known schemes"}},
		{"nfs://host/export", []string{`"nfs"`, "known schemes"}},
		{"archives", []string{"has no scheme"}},
		{"/var/archives", []string{"has no scheme"}},
		{"s3://bucket/%zz", []string{"malformed bucket URL"}},
		{"s3://AKIA:pw-Xk29Lq@bucket/%zz", []string{"malformed bucket URL"}},
		{"://nothing", []string{"malformed bucket URL"}},
		{"vercelblob://x?token=pw-Xk29Lq", []string{"credentials do not belong"}},
		{"vercelblob://x?colour=blue", []string{"unknown vercelblob URL parameter"}},
		{"vercelblob://x?retries=lots", []string{"retries"}},
		{"file:///dev/null/not-a-dir", nil},
	} {
		t.Run(c.bucket, func(t *testing.T) {
			t.Setenv("VERCEL_BLOB_RW_TOKEN", "vercel_blob_rw_store_pwXk29LqTokenSecret")
			r := h.run("archive", "--bucket", c.bucket)
			if r.code != cli.ExitUsage && r.code != cli.ExitUnavailable {
				t.Fatalf("exit %d, want %d or %d\n%s", r.code, cli.ExitUsage, cli.ExitUnavailable, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("the error does not say %q:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stdout+r.stderr, "pw-Xk29Lq") || strings.Contains(r.stdout+r.stderr, "pwXk29LqTokenSecret") {
				t.Errorf("a credential is repeated:\n%s", r.stderr)
			}
		})
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 24 {
		t.Errorf("rows changed: %d", n)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive'`); n != 0 {
		t.Errorf("%d archive manifests from bad bucket URLs", n)
	}
}

// silentServer accepts TCP connections and never answers: a database host
// that hangs.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return l.Addr().String()
}

// TestUnreachableDatabase: a database that refuses, hangs, cannot be
// routed to or resolved, or refuses the password, fails the run within the
// connect timeout with a message that says where and why, exit 3, and
// never the password.
func TestUnreachableDatabase(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	good := passwordURL(t, h, "archiver_unreachable_role", "pw-Gq83Zr-right")
	with := func(host, password string) string {
		u, _ := url.Parse(good)
		if host != "" {
			u.Host = host
		}
		if password != "" {
			u.User = url.UserPassword("archiver_unreachable_role", password)
		}
		return u.String()
	}
	for _, c := range []struct {
		name, url string
		want      []string
	}{
		{"closed port", with("127.0.0.1:1", ""), []string{"127.0.0.1:1", "within 1s", "connection refused"}},
		{"server that never answers", with(silentServer(t), ""), []string{"within 1s"}},
		{"unroutable address", with("10.255.255.1:5432", ""), []string{"10.255.255.1", "within 1s"}},
		{"unknown host", with("no-such-host.invalid:5432", ""), []string{"no-such-host.invalid", "within 1s"}},
		{"wrong password", with("", "pw-Wm51Kx-wrong"), []string{"password authentication failed", "archiver_unreachable_role"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, cmd := range [][]string{{"archive"}, {"migrate", "up"}, {"list"}} {
				args := append([]string{"archiver"}, cmd...)
				args = append(args, "--database-url", c.url, "--connect-timeout", "1s", "--bucket", h.bucket)
				if cmd[0] == "migrate" {
					args = args[:len(args)-2]
				}
				start := time.Now()
				var out, errOut strings.Builder
				code := cli.Main(context.Background(), args, &out, &errOut, cli.Build{})
				took := time.Since(start)
				if code != cli.ExitUnavailable {
					t.Errorf("%s: exit %d, want %d\n%s", cmd[0], code, cli.ExitUnavailable, errOut.String())
				}
				if took > 5*time.Second {
					t.Errorf("%s: took %v with --connect-timeout 1s", cmd[0], took)
				}
				for _, w := range c.want {
					if !strings.Contains(errOut.String(), w) {
						t.Errorf("%s: the error does not say %q:\n%s", cmd[0], w, errOut.String())
					}
				}
				if s := out.String() + errOut.String(); strings.Contains(s, "pw-Gq83Zr") || strings.Contains(s, "pw-Wm51Kx") {
					t.Errorf("%s: the password is in the output:\n%s", cmd[0], s)
				}
			}
		})
	}
}

// TestInvalidDatabaseURL: a DATABASE_URL that is not a connection string
// is a bad setting (exit 2): nothing is tried, and it is not repeated.
func TestInvalidDatabaseURL(t *testing.T) {
	bucketDir := t.TempDir() // outside the subtests: their names hold the password
	for _, u := range []string{
		"postgres://archiver:pw-Hy62Vn@127.0.0.1:notaport/db",
		"postgres://archiver:pw-Hy62Vn/?#@127.0.0.1/db",
		"postgres://archiver:pw%zzHy62Vn@127.0.0.1/db",
		"host=127.0.0.1 password='pw-Hy62Vn",
		"postgres://archiver:pw-Hy62Vn@127.0.0.1/db?sslmode=sometimes",
		"   ",
	} {
		t.Run(u, func(t *testing.T) {
			var out, errOut strings.Builder
			code := cli.Main(context.Background(), []string{"archiver", "archive", "--database-url", u, "--bucket", "file://" + bucketDir}, &out, &errOut, cli.Build{})
			if code != cli.ExitUsage {
				t.Errorf("exit %d, want %d\n%s", code, cli.ExitUsage, errOut.String())
			}
			if !strings.Contains(errOut.String(), "database URL") {
				t.Errorf("the error does not name the setting:\n%s", errOut.String())
			}
			if strings.Contains(out.String()+errOut.String(), "Hy62Vn") {
				t.Errorf("the password is in the output:\n%s", errOut.String())
			}
		})
	}
}

// TestMissingTablesAndColumns: a missing raw table, time column, manifest
// table, or a time column that is not a timestamp is reported before
// anything is changed: no raw purge, no archive, no manifest.
func TestMissingTablesAndColumns(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 33, 32, 1))
	if _, err := h.conn.Exec(context.Background(), `INSERT INTO shizuku.raw_measurements (sensor_id, ts) SELECT 's', now() - interval '3 days' FROM generate_series(1, 10);
		ALTER TABLE shizuku.clean_measurements ADD COLUMN ts_text text`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--raw-table", "shizuku.raw_gone"}, []string{"shizuku.raw_gone", "does not exist", "raw.table"}},
		{[]string{"--raw-time-column", "recorded_at"}, []string{`"recorded_at"`, "raw.time_column", "its columns are"}},
		{[]string{"--clean-sensor-column", "station"}, []string{`"station"`, "clean.columns.sensor", "sensor_id"}},
		{[]string{"--clean-time-column", "ts_text"}, []string{`"ts_text"`, "text", "timestamp"}},
		{[]string{"--clean-table", "missing_schema.clean"}, []string{"missing_schema.clean", "does not exist"}},
		{[]string{"--manifest-schema", "nowhere"}, []string{"nowhere", "archiver migrate up"}},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := h.run(append([]string{"archive"}, c.args...)...)
			if r.code != cli.ExitUnavailable {
				t.Errorf("exit %d, want %d\n%s", r.code, cli.ExitUnavailable, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("the error does not say %q:\n%s", w, r.stderr)
				}
			}
		})
	}
	// A manifest table dropped behind the migrations' back: schema_migrations
	// says the latest version, but there is nowhere to record what a run does.
	if _, err := h.conn.Exec(context.Background(), `ALTER TABLE archiver.archive_runs RENAME TO archive_runs_moved`); err != nil {
		t.Fatal(err)
	}
	r := h.run("archive")
	if r.code != cli.ExitUnavailable || !strings.Contains(r.stderr, "archive_runs") {
		t.Errorf("manifest table missing: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := h.conn.Exec(context.Background(), `ALTER TABLE archiver.archive_runs_moved RENAME TO archive_runs`); err != nil {
		t.Fatal(err)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements`); n != 10 {
		t.Errorf("raw rows purged by runs that should not have started: %d of 10 left", n)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 24 {
		t.Errorf("clean rows changed: %d", n)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs`); n != 0 {
		t.Errorf("%d manifests written by runs that should not have started", n)
	}
}

// TestHostileIdentifiers: schema, table and column names holding quotes,
// semicolons and SQL are identifiers, never code. The archiver migrates a
// manifest schema so named, archives a table so named with columns so
// named, restores into it, and the tables the SQL in the names points at
// are untouched.
func TestHostileIdentifiers(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	schema := `ev"il; DROP SCHEMA shizuku CASCADE; --`
	table := `clean"; DELETE FROM shizuku.clean_measurements; --`
	raw := `raw'); TRUNCATE shizuku.raw_measurements; --`
	cols := map[string]string{"sensor": `se"n sor`, "time": `t;s`, "value": `v'al"ue`, "qc": `q"c--`, "imp": `im);p`}
	manifestSchema := `ar"ch; DROP TABLE shizuku.raw_measurements; --`
	q := func(parts ...string) string { return pgx.Identifier(parts).Sanitize() }
	ddl := fmt.Sprintf(`CREATE SCHEMA %s;
		CREATE TABLE %s (id bigserial PRIMARY KEY, %s text NOT NULL, %s timestamptz NOT NULL, %s float8, %s int, %s text);
		CREATE TABLE %s (id bigserial PRIMARY KEY, %s timestamptz NOT NULL);
		INSERT INTO %s (%s, %s) SELECT 'x', now() - interval '3 days' FROM generate_series(1, 5);
		INSERT INTO shizuku.raw_measurements (sensor_id, ts) SELECT 'keep', now() - interval '3 days' FROM generate_series(1, 7)`,
		q(schema), q(schema, table), q(cols["sensor"]), q(cols["time"]), q(cols["value"]), q(cols["qc"]), q(cols["imp"]),
		q(schema, raw), q("t\"s"), q(schema, raw), q("t\"s"), q("t\"s"))
	if _, err := h.conn.Exec(ctx, strings.Replace(ddl, `INSERT INTO `+q(schema, raw)+` (`+q("t\"s")+`, `+q("t\"s")+`) SELECT 'x',`, `INSERT INTO `+q(schema, raw)+` (`+q("t\"s")+`) SELECT`, 1)); err != nil {
		t.Fatal(err)
	}
	rows := sample(h.today(), 33, 31, 2)
	for _, r := range rows {
		if _, err := h.conn.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (%s, %s, %s, %s, %s) VALUES ($1, $2, $3, $4, $5)`,
			q(schema, table), q(cols["sensor"]), q(cols["time"]), q(cols["value"]), q(cols["qc"]), q(cols["imp"])),
			r.Sensor, r.Time, r.Value, r.QCFlags, r.Imputation); err != nil {
			t.Fatal(err)
		}
	}
	h.insertClean(sample(h.today(), 40, 39, 1)) // must stay: the names' SQL would delete it
	configured := func(parts ...string) string {
		var out []string
		for _, p := range parts {
			out = append(out, `"`+strings.ReplaceAll(p, `"`, `""`)+`"`)
		}
		return strings.Join(out, ".")
	}
	args := []string{"--manifest-schema", manifestSchema,
		"--clean-table", configured(schema, table), "--raw-table", configured(schema, raw), "--raw-time-column", `t"s`,
		"--clean-sensor-column", cols["sensor"], "--clean-time-column", cols["time"], "--clean-value-column", cols["value"],
		"--clean-qc-flags-column", cols["qc"], "--clean-imputation-method-column", cols["imp"]}
	// restore and verify read the clean table only.
	cleanArgs := append(append([]string{}, args[:4]...), args[8:]...)
	h.mustRun(append([]string{"migrate", "up"}, args[:2]...)...)
	// The raw rows are newer than the newest clean reading: the purge is
	// held by default (raw.require_clean), and this test is about names.
	h.mustRun(append([]string{"archive", "--clean-retention-days", "35", "--raw-require-clean=false"}, args...)...) // nothing of the table is due yet
	h.mustRun(append([]string{"archive", "--raw-require-clean=false"}, args...)...)

	if n := h.count(`SELECT count(*) FROM ` + q(schema, table)); n != 0 {
		t.Errorf("%d rows of the hostile table left after archiving", n)
	}
	if n := h.count(`SELECT count(*) FROM ` + q(schema, raw)); n != 0 {
		t.Errorf("%d raw rows of the hostile raw table left after purging", n)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 24 {
		t.Errorf("shizuku.clean_measurements has %d rows, want 24: a name was run as SQL", n)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements`); n != 7 {
		t.Errorf("shizuku.raw_measurements has %d rows, want 7: a name was run as SQL", n)
	}
	archived := h.archivedReadings()
	sameReadings(t, "archives of the hostile table", archived, rows)
	if n := h.count(`SELECT count(*) FROM ` + q(manifestSchema, "archive_runs") + ` WHERE kind = 'archive' AND status = 'committed'`); n != 2 {
		t.Errorf("%d committed manifests in the hostile manifest schema, want 2", n)
	}

	// Restore a day back into the table, list and verify with those names.
	day := h.today().AddDate(0, 0, -33).Format(time.DateOnly)
	h.mustRun(append([]string{"restore", "--day", day}, cleanArgs...)...)
	if n := h.count(`SELECT count(*) FROM ` + q(schema, table)); n != int64(len(rows)/2) {
		t.Errorf("restore put %d rows back, want %d", n, len(rows)/2)
	}
	h.mustRun("list", "--manifest-schema", manifestSchema)
	h.mustRun(append([]string{"verify", "--deep"}, cleanArgs...)...)
}

// TestDirtyMigrationState: a migration that failed halfway (dirty) stops
// archive and migrate up alike, with the way out; after the repair and
// `migrate force`, both work.
func TestDirtyMigrationState(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	rows := sample(h.today(), 33, 32, 1)
	h.insertClean(rows)
	h.exec(`UPDATE archiver.schema_migrations SET dirty = true`)
	for _, cmd := range [][]string{{"archive"}, {"archive", "--dry-run"}, {"migrate", "up"}} {
		r := h.run(cmd...)
		if r.code != cli.ExitUnavailable || !strings.Contains(r.stderr, "dirty") || !strings.Contains(r.stderr, "migrate force") {
			t.Errorf("%s on a dirty schema: exit %d\n%s", strings.Join(cmd, " "), r.code, r.stderr)
		}
	}
	if r := h.mustRun("migrate", "version"); !strings.Contains(r.stdout, "dirty") {
		t.Errorf("migrate version does not say dirty:\n%s", r.stdout)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != int64(len(rows)) {
		t.Errorf("rows changed on a dirty schema: %d", n)
	}
	h.mustRun("migrate", "force", latest)
	h.mustRun("migrate", "up")
	h.mustRun("archive")
	h.checkObjects(t, fileObjects(t, h.dir), rows)
}

// TestClockSkewIsRefused: cutoffs come from the database's clock. When it
// and the host's clock disagree by more than a few minutes (either way),
// the run refuses before changing anything: a database clock running ahead
// would purge and archive early. Here the database's now() is shadowed by a
// function in front of pg_catalog on the search path.
func TestClockSkewIsRefused(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	rows := sample(h.today(), 33, 32, 1)
	h.insertClean(rows)
	ctx := context.Background()
	var db string
	if err := h.conn.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	if _, err := h.conn.Exec(ctx, `CREATE SCHEMA skew; ALTER DATABASE `+pgx.Identifier{db}.Sanitize()+` SET search_path = skew, pg_catalog, public`); err != nil {
		t.Fatal(err)
	}
	setSkew := func(interval string) {
		if _, err := h.conn.Exec(ctx, `CREATE OR REPLACE FUNCTION skew.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT pg_catalog.now() + interval '`+interval+`' $$`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.conn.Exec(ctx, `INSERT INTO shizuku.raw_measurements (sensor_id, ts) SELECT 's', pg_catalog.now() - interval '3 days' FROM generate_series(1, 10)`); err != nil {
		t.Fatal(err)
	}
	for _, skew := range []string{"2 hours", "40 days", "-3 hours", "11 minutes"} {
		setSkew(skew)
		for _, args := range [][]string{{"archive"}, {"archive", "--dry-run"}} {
			r := h.run(args...)
			if r.code != cli.ExitUnavailable || !strings.Contains(r.stderr, "clock") || !strings.Contains(r.stderr, "refusing to run") {
				t.Errorf("database clock %s off: %s: exit %d\n%s", skew, strings.Join(args, " "), r.code, r.stderr)
			}
		}
	}
	if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements`); n != 10 {
		t.Errorf("raw rows purged under a skewed clock: %d of 10 left", n)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs`); n != 0 {
		t.Errorf("%d manifests written under a skewed clock", n)
	}
	setSkew("1 minute")
	h.mustRun("archive")
	h.checkObjects(t, fileObjects(t, h.dir), rows)
}
