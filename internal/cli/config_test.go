package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shizuku-labs/archiver/internal/cli"
)

// TestBadConfigurationIsAnError: the original silently fell back to
// defaults on bad values; every one of these must stop the run, name the
// setting, and change nothing.
func TestBadConfigurationIsAnError(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 35, 34, 1))
	yaml := func(body string) string {
		p := filepath.Join(t.TempDir(), "archiver.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	envFile := func(body string) string {
		p := filepath.Join(t.TempDir(), "archiver.env")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"zero retention flag", nil, []string{"--clean-retention-days", "0"}, []string{"clean.retention_days", "ARCHIVER_CLEAN_RETENTION_DAYS"}},
		{"negative retention env", map[string]string{"ARCHIVER_RAW_RETENTION_DAYS": "-1"}, nil, []string{"raw.retention_days", "-1"}},
		{"unparsable number env", map[string]string{"ARCHIVER_BATCH_SIZE": "lots"}, nil, []string{"raw.batch_size", "ARCHIVER_BATCH_SIZE", `"lots"`}},
		{"unknown yaml key", nil, []string{"--config", yaml("clean:\n  retention_dayz: 10\n")}, []string{"retention_dayz"}},
		{"bad yaml value", nil, []string{"--config", yaml("archive:\n  concurrency: many\n")}, []string{"many"}},
		{"unknown scheme", nil, []string{"--bucket", "ftp://host/dir"}, []string{`"ftp"`, "file", "mem"}},
		{"bad log level", nil, []string{"--log-level", "loud"}, []string{"log.level", "loud"}},
		{"bad gzip level", map[string]string{"ARCHIVER_GZIP_LEVEL": "12"}, nil, []string{"archive.gzip_level"}},
		{"bad table name", nil, []string{"--raw-table", `a.b.c`}, []string{"raw.table"}},
		{"misspelt env var", map[string]string{"ARCHIVER_CLEAN_RETENTON_DAYS": "1"}, nil, []string{"ARCHIVER_CLEAN_RETENTON_DAYS", "ARCHIVER_CLEAN_RETENTION_DAYS"}},
		// t.Setenv: the env file's values stay in the process environment after the run.
		{"misspelt env-file var", map[string]string{"ARCHIVER_CLEAN_RETENTION_DAYS": "", "ARCHIVER_RAW_RETENTON_DAYS": ""}, []string{"--env-file", envFile("ARCHIVER_CLEAN_RETENTION_DAYS=1\nARCHIVER_RAW_RETENTON_DAYS=2\n")}, []string{"ARCHIVER_RAW_RETENTON_DAYS", "ARCHIVER_RAW_RETENTION_DAYS", "--env-file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			r := h.run(append([]string{"archive"}, c.args...)...)
			if r.code != cli.ExitUsage {
				t.Errorf("exit %d, want %d\n%s", r.code, cli.ExitUsage, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("error lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 24 {
		t.Errorf("bad configurations changed rows: %d left", n)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs`); n != 0 {
		t.Errorf("bad configurations recorded %d manifests", n)
	}
}

// TestConfigLayering: YAML < environment < flags, and flags work before or
// after the command name.
func TestConfigLayering(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	h.insertClean(sample(today, 12, 9, 1)) // days 12, 11, 10 ago
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("clean:\n  retention_days: 5\nstorage:\n  prefix: from-yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// YAML says 5 days, env says 11: env wins, so only day 12 is due.
	t.Setenv("ARCHIVER_CLEAN_RETENTION_DAYS", "11")
	h.mustRun("--config", p, "archive")
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed'`); n != 1 {
		t.Fatalf("%d days archived, want 1 (env must beat YAML)", n)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "from-yaml")); err != nil {
		t.Errorf("prefix from YAML not used: %v", err)
	}
	// The flag says 10: it beats the environment's 11.
	h.mustRun("archive", "--config", p, "--clean-retention-days", "10")
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed'`); n != 2 {
		t.Fatalf("%d days archived, want 2 (flag must beat env)", n)
	}
}

// TestFlagOfAnotherCommandSaysWhere: a command's flag given before the
// command name (archiver --dry-run archive), or to a command that does not
// have it, was refused as "not defined"; the message now names the
// commands that take it and where it goes.
func TestFlagOfAnotherCommandSaysWhere(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--dry-run", "archive"}, "archiver archive --dry-run"},
		{[]string{"status", "--drill", "3"}, "archiver verify --drill"},
		{[]string{"--on-conflict=replace", "restore"}, "archiver restore --on-conflict"},
		{[]string{"archive", "--dryrun"}, "did you mean --dry-run?"},
	} {
		r := h.run(c.args...)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, want %d and %q:\n%s", c.args, r.code, cli.ExitUsage, c.want, r.stderr)
		}
	}
}

// TestConfigErrorWritesFailureMetrics: a run refused for its configuration
// (exit 2: a misspelt variable, a bad value) wrote no metrics, so alerts
// on last_run_success waited for the last success to go stale (26 h). The
// metrics settings that could be read still get the failed run.
func TestConfigErrorWritesFailureMetrics(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		name string
		env  map[string]string
	}{
		{"misspelt variable", map[string]string{"ARCHIVER_BATCH_SIZ": "5"}},
		{"bad value", map[string]string{"ARCHIVER_BATCH_SIZE": "lots"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			prom := filepath.Join(t.TempDir(), "archiver.prom")
			r := h.run("archive", "--metrics-file", prom)
			if r.code != cli.ExitUsage {
				t.Fatalf("exit %d, want %d\n%s", r.code, cli.ExitUsage, r.stderr)
			}
			b, err := os.ReadFile(prom)
			if err != nil {
				t.Fatalf("no metrics written: %v", err)
			}
			if !strings.Contains(string(b), `archiver_last_run_success{command="archive"} 0`) {
				t.Errorf("metrics do not record the failed run:\n%s", b)
			}
		})
	}
}
