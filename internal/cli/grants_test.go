package cli_test

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/postgres"
)

// leastRole creates a login role holding exactly the grants of
// postgres.Privileges (without the feature-only ones, and without the
// skip-th statement when skip >= 0) on the harness's database, with PUBLIC's
// default database rights revoked so that nothing unlisted helps, and
// returns a harness that runs the archiver as it, and the statements run.
func leastRole(t *testing.T, h *harness, skip int) (*harness, []string) {
	t.Helper()
	ctx := context.Background()
	u, err := url.Parse(h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	role := "archiver_least_" + strings.ToLower(strings.NewReplacer("/", "_", "-", "_").Replace(db))
	if len(role) > 60 {
		role = role[:60]
	}
	for _, sql := range []string{
		`CREATE ROLE ` + pgx.Identifier{role}.Sanitize() + ` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`,
		`REVOKE ALL ON DATABASE ` + pgx.Identifier{db}.Sanitize() + ` FROM PUBLIC`,
		`REVOKE ALL ON SCHEMA public FROM PUBLIC`,
	} {
		if _, err := h.conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	t.Cleanup(func() {
		c := context.Background()
		h.conn.Exec(c, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role)
		h.conn.Exec(c, `DROP OWNED BY `+pgx.Identifier{role}.Sanitize()+`; DROP ROLE `+pgx.Identifier{role}.Sanitize())
	})
	var grants []string
	var seqSchema, seq string
	if err := h.conn.QueryRow(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = pg_get_serial_sequence('shizuku.clean_measurements', 'id')::regclass`).Scan(&seqSchema, &seq); err != nil {
		t.Fatal(err)
	}
	sql := postgres.GrantSQL(postgres.Names{Role: role, Database: db, ManifestSchema: "archiver",
		Raw: []string{"shizuku", "raw_measurements"}, Clean: []string{"shizuku", "clean_measurements"},
		CleanSequences: [][]string{{seqSchema, seq}}})
	lines := strings.Split(strings.TrimSpace(sql), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		comment, stmt := lines[i], lines[i+1]
		if strings.HasPrefix(comment, "-- only for ") {
			continue // a feature this test does not use
		}
		if len(grants) == skip {
			grants = append(grants, "-- left out: "+stmt)
			continue
		}
		if _, err := h.conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		grants = append(grants, stmt)
	}
	u.User = url.User(role)
	r := *h
	r.dbURL = u.String()
	return &r, grants
}

// TestLeastPrivileges runs migrate, archive, status, list, verify, a restore
// drill, export, restore
// (twice: the second stages the archive in a temporary table), a restored
// day archived again, and a checkout and checkin, as a role that holds
// exactly the README's grants and nothing else; and, leaving out one grant
// at a time, shows that each is needed.
func TestLeastPrivileges(t *testing.T) {
	h := newHarness(t)
	least, grants := leastRole(t, h, -1)
	if failed := leastFlow(t, h, least); failed != "" {
		t.Fatalf("as a role with exactly these grants:\n%s\n%s", strings.Join(grants, "\n"), failed)
	}
	for i := range grants {
		t.Run(strings.Join(strings.Fields(grants[i])[:3], " "), func(t *testing.T) {
			h := newHarness(t)
			least, grants := leastRole(t, h, i)
			if failed := leastFlow(t, h, least); failed == "" {
				t.Errorf("every command succeeded without %s: it is not needed", strings.TrimPrefix(grants[i], "-- left out: "))
			}
		})
	}
}

// leastFlow runs the commands an operator runs, as least, and returns the
// first that failed, with its output, or "".
func leastFlow(t *testing.T, h, least *harness) string {
	t.Helper()
	today := h.today()
	h.insertClean(sample(today, 35, 32, 2))
	if _, err := h.conn.Exec(context.Background(), `INSERT INTO shizuku.raw_measurements (sensor_id, ts)
		SELECT 's', now() - interval '3 days' FROM generate_series(1, 20)`); err != nil {
		t.Fatal(err)
	}
	day := today.AddDate(0, 0, -34).Format("2006-01-02")
	for _, args := range [][]string{
		{"migrate", "up"},
		{"archive", "--raw-require-clean=false"},
		{"status"},
		{"list"},
		{"verify", "--deep"},
		{"verify", "--drill", "1"},
		{"export", "--from", day, "--to", day, "--format", "parquet", "--out", filepath.Join(t.TempDir(), "day.parquet")},
		{"restore", "--day", day},
		{"restore", "--day", day},
		{"archive", "--raw-require-clean=false"},
		{"restore", "--day", day, "--checkout"},
		{"checkin", "--day", day},
	} {
		if r := least.run(args...); r.code != 0 {
			return fmt.Sprintf("archiver %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		return fmt.Sprintf("%d clean rows left after archive and checkin", n)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements`); n != 0 {
		return fmt.Sprintf("the raw purge left %d rows", n)
	}
	return ""
}
