package cli_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/pgtest"
)

// The secrets every test of this file looks for. They are random enough
// that finding any 6 characters of one anywhere means it leaked.
const (
	secretPassword = "Pw-Qx7vZ3kL9-7731/q?x@y#z%z"
	wrongPassword  = "Pw-Wr0ngJd8Hf2-5519"
	secretToken    = "vercel_blob_rw_secretstore_Tk9Qz4Wv8Lm2Xr7Yq5"
	tokenSecret    = "Tk9Qz4Wv8Lm2Xr7Yq5" // the token's secret part, alone
)

// pwGroup is the role whose members must log in with a password; the test
// cluster trusts everyone else.
const pwGroup = "archiver_password_users"

var hbaOnce sync.Once

// passwordAuth makes the throwaway cluster ask members of pwGroup for a
// password (scram-sha-256) over TCP, by putting a rule in front of the
// trust rules of its pg_hba.conf. It reports false when the tests use an
// existing server (ARCHIVER_TEST_DATABASE_URL), whose rules it leaves alone.
func passwordAuth(t *testing.T, h *harness) bool {
	t.Helper()
	if os.Getenv(pgtest.EnvURL) != "" {
		return false
	}
	ctx := context.Background()
	hbaOnce.Do(func() {
		var file, content string
		if err := h.conn.QueryRow(ctx, `SELECT setting, pg_read_file(setting) FROM pg_settings WHERE name = 'hba_file'`).Scan(&file, &content); err != nil {
			t.Fatal(err)
		}
		if _, err := h.conn.Exec(ctx, `DO $$ BEGIN CREATE ROLE `+pwGroup+` NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`); err != nil {
			t.Fatal(err)
		}
		lines := []string{"host all +" + pwGroup + " 127.0.0.1/32 scram-sha-256"}
		for _, l := range strings.Split(content, "\n") {
			lines = append(lines, strings.ReplaceAll(l, "\t", " "))
		}
		quoted := make([]string, len(lines))
		for i, l := range lines {
			quoted[i] = quoteLiteral(l)
		}
		if _, err := h.conn.Exec(ctx, `COPY (SELECT unnest(ARRAY[`+strings.Join(quoted, ",")+`]::text[])) TO `+quoteLiteral(file)); err != nil {
			t.Fatal(err)
		}
		if _, err := h.conn.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
			t.Fatal(err)
		}
	})
	return true
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// passwordURL creates a superuser role with password that must log in with
// it (when passwordAuth could arrange that), and returns the harness's
// database URL for that role with password in it.
func passwordURL(t *testing.T, h *harness, role, password string) string {
	t.Helper()
	enforced := passwordAuth(t, h)
	ctx := context.Background()
	if _, err := h.conn.Exec(ctx, `CREATE ROLE `+pgx.Identifier{role}.Sanitize()+` LOGIN SUPERUSER PASSWORD `+quoteLiteral(password)+` IN ROLE `+pwGroup); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.conn.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role)
		h.conn.Exec(context.Background(), `DROP OWNED BY `+pgx.Identifier{role}.Sanitize()+`; DROP ROLE `+pgx.Identifier{role}.Sanitize())
	})
	u, err := url.Parse(h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, password)
	good := u.String()
	if enforced {
		// The reload is asynchronous: wait until a wrong password is refused.
		u.User = url.UserPassword(role, "not-"+password)
		wrong := u.String()
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := pgx.Connect(ctx, wrong)
			if err != nil {
				break
			}
			c.Close(ctx)
			if time.Now().After(deadline) {
				t.Fatal("the cluster still accepts a wrong password after pg_hba.conf was changed")
			}
			time.Sleep(50 * time.Millisecond)
		}
		c, err := pgx.Connect(ctx, good)
		if err != nil {
			t.Fatalf("the right password is refused: %v", err)
		}
		c.Close(ctx)
	}
	return good
}

// leaks returns the pieces of the secrets found in text: any 6 characters
// in a row of the passwords or of the token's secret part, in their plain
// or percent-encoded form.
func leaks(text string) []string {
	var found []string
	for _, secret := range []string{secretPassword, url.QueryEscape(secretPassword), url.PathEscape(secretPassword),
		url.UserPassword("u", secretPassword).String(), wrongPassword, tokenSecret} {
		secret = strings.TrimPrefix(secret, "u:")
		for i := 0; i+6 <= len(secret); i++ {
			if frag := secret[i : i+6]; strings.Contains(text, frag) && !slices.Contains(found, frag) {
				found = append(found, frag)
			}
		}
	}
	return found
}

// TestSecretsNeverAppear (I8): every command, at debug level, in text and
// JSON logs, successful and failing runs alike, with a recognisable
// database password (in DATABASE_URL, for a role that must log in with it)
// and a recognisable Vercel Blob token: neither appears in stdout, stderr,
// archive_runs, the metrics textfile or the archive objects.
func TestSecretsNeverAppear(t *testing.T) {
	srv := vercelblobtest.NewServer(secretToken)
	t.Cleanup(srv.Close)
	t.Setenv("VERCEL_BLOB_RW_TOKEN", secretToken)
	t.Setenv("VERCEL_BLOB_API_URL", srv.APIURL)
	h := newHarness(t)
	dbURL := passwordURL(t, h, "archiver_secret_role", secretPassword)
	t.Setenv("DATABASE_URL", dbURL)
	metrics := filepath.Join(t.TempDir(), "archiver.prom")
	today := h.today()
	h.insertClean(sample(today, 34, 31, 2))
	h.exec(`INSERT INTO shizuku.raw_measurements (sensor_id, ts) SELECT 's', now() - interval '3 days' FROM generate_series(1, 20)`)
	day := today.AddDate(0, 0, -33).Format(time.DateOnly)

	closedPort := func() string {
		u, _ := url.Parse(dbURL)
		u.Host = "127.0.0.1:1"
		return u.String()
	}()
	wrongURL := func() string {
		u, _ := url.Parse(dbURL)
		u.User = url.UserPassword("archiver_secret_role", wrongPassword)
		return u.String()
	}()

	type step struct {
		args    []string
		env     map[string]string
		fault   bool // storage answers 503 to everything
		wantErr bool
	}
	steps := []step{
		{args: []string{"version"}},
		{args: []string{"backends"}},
		{args: []string{"help"}},
		{args: []string{"completion", "bash"}},
		{args: []string{"migrate", "version"}},
		{args: []string{"migrate", "up"}},
		{args: []string{"migrate", "version"}},
		{args: []string{"migrate", "down", "--yes", latest}},
		{args: []string{"migrate", "up"}},
		{args: []string{"migrate", "force", latest}},
		{args: []string{"list"}},
		{args: []string{"archive", "--dry-run"}},
		{args: []string{"archive", "--metrics-file", metrics}, fault: true, wantErr: true},
		{args: []string{"archive", "--metrics-file", metrics}},
		{args: []string{"archive", "--metrics-file", metrics}},
		{args: []string{"list"}},
		{args: []string{"list", "--format", "json"}},
		{args: []string{"verify"}},
		{args: []string{"verify", "--deep", "--format", "json", "--metrics-file", metrics}},
		{args: []string{"status", "--metrics-file", metrics}},
		{args: []string{"status", "--format", "json", "--counts"}},
		{args: []string{"status"}, env: map[string]string{"DATABASE_URL": wrongURL}, wantErr: true},
		{args: []string{"verify", "--adopt"}},
		{args: []string{"restore", "--day", day, "--dry-run"}},
		{args: []string{"checkin", "--day", day, "--dry-run"}, wantErr: true}, // not checked out
		{args: []string{"restore", "--day", day, "--metrics-file", metrics}},
		{args: []string{"restore", "--day", day}, fault: true, wantErr: true},
		{args: []string{"verify", "--deep"}, fault: true, wantErr: true},
		{args: []string{"export", "--from", day, "--to", day, "--out", "-"}},
		{args: []string{"export", "--from", day, "--to", day, "--out", "-", "--format", "parquet"}, fault: true, wantErr: true},
		{args: []string{"export", "--from", day, "--to", day, "--out", "-"}, env: map[string]string{"DATABASE_URL": wrongURL}, wantErr: true},
		{args: []string{"archive"}, env: map[string]string{"DATABASE_URL": wrongURL}, wantErr: true},
		{args: []string{"migrate", "up"}, env: map[string]string{"DATABASE_URL": wrongURL}, wantErr: true},
		{args: []string{"restore", "--day", day}, env: map[string]string{"DATABASE_URL": wrongURL}, wantErr: true},
		{args: []string{"verify"}, env: map[string]string{"DATABASE_URL": wrongURL}, wantErr: true},
		{args: []string{"list"}, env: map[string]string{"DATABASE_URL": wrongURL}, wantErr: true},
		{args: []string{"archive", "--connect-timeout", "2s"}, env: map[string]string{"DATABASE_URL": closedPort}, wantErr: true},
		{args: []string{"archive"}, env: map[string]string{"DATABASE_URL": dbURL + "&sslmode=bogus"}, wantErr: true},
		{args: []string{"archive"}, env: map[string]string{"DATABASE_URL": "postgres://archiver_secret_role:" + secretPassword + "@127.0.0.1:notaport/db"}, wantErr: true},
		{args: []string{"archive"}, env: map[string]string{"DATABASE_URL": "host=127.0.0.1 port=1 user=x password='" + secretPassword + "' connect_timeout=1"}, wantErr: true},
		{args: []string{"archive", "--bucket", "s3://AKIA:" + secretPassword + "@bucket/%zz"}, wantErr: true},
		{args: []string{"archive", "--bucket", "vercelblob://x?token=" + secretToken}, wantErr: true},
		{args: []string{"archive", "--clean-table", "no.such_table"}, wantErr: true},
	}
	covered := map[string]bool{}
	for _, st := range steps {
		covered[st.args[0]] = true
	}
	for _, c := range cli.New(io.Discard, io.Discard, cli.Build{}).Commands {
		if !covered[c.Name] {
			t.Errorf("command %q is not exercised by this test: add it to the steps", c.Name)
		}
	}

	for _, format := range []string{"text", "json"} {
		for _, st := range steps {
			for k, v := range st.env {
				t.Setenv(k, v)
			}
			if st.fault {
				srv.AddFault(vercelblobtest.Fault{Status: 503, Code: "service_unavailable"})
			}
			args := append([]string{"archiver", "--log-level", "debug", "--log-format", format}, st.args...)
			if st.args[0] == "archive" || st.args[0] == "restore" || st.args[0] == "verify" || st.args[0] == "status" || st.args[0] == "export" || st.args[0] == "checkin" {
				args = append(args, "--bucket", "vercelblob://archives?retries=0")
				if slices.Contains(st.args, "--bucket") {
					args = args[:len(args)-2]
				}
			}
			var out, errOut bytes.Buffer
			code := cli.Main(context.Background(), args, &out, &errOut, cli.Build{Version: "test", Commit: "test"})
			srv.ClearFaults()
			for k := range st.env {
				t.Setenv(k, map[string]string{"DATABASE_URL": dbURL}[k])
			}
			what := format + " " + strings.Join(st.args, " ")
			if (code != 0) != st.wantErr {
				t.Errorf("%s: exit %d (want error: %v)\nstdout:\n%s\nstderr:\n%s", what, code, st.wantErr, out.String(), errOut.String())
			}
			if l := leaks(out.String() + errOut.String()); len(l) > 0 {
				t.Errorf("%s: the output holds %q:\nstdout:\n%s\nstderr:\n%s", what, l, out.String(), errOut.String())
			}
		}
	}

	// archive_runs: every text column of every row.
	manifests := h.texts(`SELECT t::text FROM archiver.archive_runs t`)
	for _, row := range manifests {
		if l := leaks(row); len(l) > 0 {
			t.Errorf("archive_runs row holds %q: %s", l, row)
		}
	}
	if len(manifests) == 0 {
		t.Error("no manifest rows were written")
	}
	proms, _ := filepath.Glob(filepath.Join(filepath.Dir(metrics), "*.prom"))
	if len(proms) != 4 { // archive, restore, verify, status
		t.Errorf("metrics textfiles %v, want one per command", proms)
	}
	for _, p := range proms {
		if data, err := os.ReadFile(p); err != nil {
			t.Errorf("metrics textfile: %v", err)
		} else if l := leaks(string(data)); len(l) > 0 {
			t.Errorf("the metrics textfile %s holds %q", p, l)
		}
	}
	objects := 0
	for _, p := range srv.Pathnames() {
		data, _ := srv.Object(p)
		objects++
		if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
			if plain, err := io.ReadAll(zr); err == nil {
				data = append(data, plain...)
			}
		}
		if l := leaks(string(data) + p); len(l) > 0 {
			t.Errorf("object %s holds %q", p, l)
		}
	}
	if objects == 0 {
		t.Error("no archive objects were written")
	}
}

// leaks4 returns the runs of 4 characters of secret (plain or
// percent-encoded) found in text.
func leaks4(text, secret string) []string {
	var found []string
	for _, s := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
		for i := 0; i+4 <= len(s); i++ {
			if frag := s[i : i+4]; strings.Contains(text, frag) && !slices.Contains(found, frag) {
				found = append(found, frag)
			}
		}
	}
	return found
}

// TestSecretsInNestedURLsAndUnescapedPasswords (I8): a password inside a
// nested URL (an S3-compatible endpoint with user info), in any encoding,
// and a database password holding unescaped "@", "#", "/" or "?" show no 4
// characters in a row anywhere: logs (the Storage line), errors (the
// failed upload's), archive_runs, the metrics file. The unescaped database
// password is refused before anything is tried (exit 2).
func TestSecretsInNestedURLsAndUnescapedPasswords(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 40, 39, 2))
	const nested = "Vq7Jm2Xz9Rk4Wp"
	metrics := filepath.Join(t.TempDir(), "archiver.prom")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-one-we-look-for")
	t.Setenv("AWS_REGION", "us-east-1")
	for _, bucket := range []string{
		"s3://archive?endpoint=http://AKID:" + nested + "@127.0.0.1:1&use_path_style=true",
		"s3://archive?endpoint=" + url.QueryEscape("http://AKID:"+nested+"@127.0.0.1:1") + "&use_path_style=true",
		"s3://archive?use_path_style=true&endpoint=http://AKID:" + nested[:5] + "@" + nested[5:] + "@127.0.0.1:1",
		"s3://archive?use_path_style=true&endpoint=http://AKID:" + nested[:5] + "#" + nested[5:] + "@127.0.0.1:1",
	} {
		for _, format := range []string{"text", "json"} {
			r := h.run("--log-level", "debug", "--log-format", format, "archive", "--bucket", bucket, "--metrics-file", metrics)
			if r.code == 0 {
				t.Errorf("archive to an unreachable endpoint succeeded")
			}
			if l := leaks4(r.stdout+r.stderr, nested); len(l) > 0 {
				t.Errorf("%s %s: the output holds %q:\n%s\n%s", format, bucket, l, r.stdout, r.stderr)
			}
		}
	}
	manifests := h.texts(`SELECT t::text FROM archiver.archive_runs t`)
	for _, row := range manifests {
		if l := leaks4(row, nested); len(l) > 0 {
			t.Errorf("archive_runs row holds %q: %s", l, row)
		}
	}
	if len(manifests) == 0 {
		t.Error("no failed manifest was recorded: the upload was never tried")
	}
	if data, err := os.ReadFile(metrics); err == nil {
		if l := leaks4(string(data), nested); len(l) > 0 {
			t.Errorf("the metrics file holds %q", l)
		}
	}

	for _, pw := range []string{"Hq4@Zt8#Lm2Yw6", "Hq4#Zt8@Lm2Yw6", "Hq4/Zt8@Lm2Yw6", "Hq4?Zt8@Lm2Yw6", "Hq4@Zt8@Lm2Yw6"} {
		u := "postgres://archiver_secret_role:" + pw + "@127.0.0.1:5432/archiver?connect_timeout=2"
		for _, args := range [][]string{{"archive"}, {"migrate", "up"}, {"verify"}, {"list"}} {
			var out, errOut bytes.Buffer
			full := append([]string{"archiver", "--log-level", "debug"}, args...)
			full = append(full, "--database-url", u)
			if args[0] != "migrate" && args[0] != "list" {
				full = append(full, "--bucket", h.bucket)
			}
			code := cli.Main(context.Background(), full, &out, &errOut, cli.Build{})
			if code != cli.ExitUsage {
				t.Errorf("%v with password %q: exit %d, want %d\n%s", args, pw, code, cli.ExitUsage, errOut.String())
			}
			if l := leaks4(out.String()+errOut.String(), pw); len(l) > 0 {
				t.Errorf("%v with password %q: the output holds %q:\n%s", args, pw, l, errOut.String())
			}
		}
	}
}
