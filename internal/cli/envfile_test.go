package cli_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// envFileValues is an env file whose values hold what a shell mangles
// (& $ ' # = and spaces): sourced with sh, the first line loses everything
// from its "&" on (the assignment runs in a background subshell), so
// DATABASE_URL would not be set at all.
func envFileValues(h *harness, prefix string) string {
	sep := "?"
	if strings.Contains(h.dbURL, "?") {
		sep = "&"
	}
	return strings.Join([]string{
		"# archiver settings, one NAME=value a line",
		"DATABASE_URL=" + h.dbURL + sep + "application_name=archiver-cron",
		"ARCHIVER_BUCKET=" + h.bucket,
		"ARCHIVER_PREFIX=" + prefix,
		`ARCHIVER_CLEAN_TABLE="shizuku.clean_measurements"`,
		"ARCHIVER_CLEAN_IGNORE_COLUMNS=id",
		"ARCHIVER_LOG_LEVEL = info ",
		"",
	}, "\n")
}

// newEnvFileHarness is a migrated harness with a day to archive, and a
// temporary directory holding archiver.env with envFileValues.
func newEnvFileHarness(t *testing.T) (h *harness, dir, envPath string) {
	t.Helper()
	h = newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 34, 33, 1))
	dir = t.TempDir()
	envPath = filepath.Join(dir, "archiver.env")
	if err := os.WriteFile(envPath, []byte(envFileValues(h, trickyPrefix)), 0o640); err != nil {
		t.Fatal(err)
	}
	return h, dir, envPath
}

const trickyPrefix = `a&b $c'd#e=f g`

// checkEnvFileRun checks that a run configured only by envFileValues read
// every value exactly: the archive key starts with the tricky prefix.
func checkEnvFileRun(t *testing.T, h *harness, what string) {
	t.Helper()
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed' AND starts_with(object_key, $1)`, trickyPrefix+"/"); n != 1 {
		var keys string
		h.conn.QueryRow(t.Context(), `SELECT string_agg(coalesce(object_key, '-'), ', ') FROM archiver.archive_runs`).Scan(&keys)
		t.Errorf("%s: %d committed archives under the prefix %q, want 1 (keys: %s)", what, n, trickyPrefix, keys)
	}
}

// cronJob returns the environment lines and the command of the single job
// in deploy/cron/archiver.cron.
func cronJob(t *testing.T) (env []string, command string) {
	t.Helper()
	f, err := os.Open("../../deploy/cron/archiver.cron")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case !strings.ContainsAny(strings.SplitN(line, "=", 2)[0], " \t") && strings.Contains(line, "="):
			env = append(env, line) // cron takes NAME=value literally
		default:
			// Five schedule fields and the user; cron hands the rest of
			// the line, as written, to $SHELL -c.
			rest := line
			for range 6 {
				rest = strings.TrimLeft(rest, " \t")
				rest = rest[strings.IndexAny(rest, " \t"):]
			}
			command = strings.TrimSpace(rest)
		}
	}
	if command == "" {
		t.Fatal("no job in deploy/cron/archiver.cron")
	}
	return env, command
}

// TestCronLineReadsEnvFile runs the exact command of deploy/cron/archiver.cron
// (paths moved into a temporary directory) with the environment cron gives
// it, against an env file whose values hold & $ ' # = and spaces. The old
// line sourced the file with sh and lost DATABASE_URL.
func TestCronLineReadsEnvFile(t *testing.T) {
	h, dir, envPath := newEnvFileHarness(t)
	logPath := filepath.Join(dir, "archiver.log")
	paths := strings.NewReplacer(
		"/etc/archiver/archiver.env", envPath,
		"/usr/local/bin/archiver", archiverBinary(t),
		"/var/lib/archiver/archiver.lock", filepath.Join(dir, "archiver.lock"),
		"/var/log/archiver/archiver.log", logPath,
	)
	cronEnv, command := cronJob(t)
	shell := "/bin/sh"
	env := []string{"HOME=" + dir, "LOGNAME=archiver"}
	for _, e := range cronEnv {
		e = paths.Replace(e)
		if v, ok := strings.CutPrefix(e, "SHELL="); ok {
			shell = v
		}
		env = append(env, e)
	}
	cmd := exec.Command(shell, "-c", paths.Replace(command))
	cmd.Env = env
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	logText, _ := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("cron command %q: %v\n%s\nlog:\n%s", paths.Replace(command), err, out, logText)
	}
	if !strings.Contains(string(logText), "Archiver Service Complete") {
		t.Errorf("log:\n%s", logText)
	}
	checkEnvFileRun(t, h, "cron line")
}

// TestSystemdUnitReadsEnvFile runs deploy/systemd/archiver.service's
// ExecStart with exactly the environment its Environment= lines give it
// (paths moved), reading the same env file as the cron line.
func TestSystemdUnitReadsEnvFile(t *testing.T) {
	h, dir, envPath := newEnvFileHarness(t)
	unit, err := os.ReadFile("../../deploy/systemd/archiver.service")
	if err != nil {
		t.Fatal(err)
	}
	paths := strings.NewReplacer(
		"/etc/archiver/archiver.env", envPath,
		"/usr/local/bin/archiver", archiverBinary(t),
		"/var/lib/node_exporter/textfile_collector/archiver.prom", filepath.Join(dir, "archiver.prom"),
	)
	var env, execStart []string
	for _, line := range strings.Split(string(unit), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "Environment="); ok {
			env = append(env, paths.Replace(strings.Trim(v, `"`)))
		}
		if v, ok := strings.CutPrefix(line, "EnvironmentFile="); ok {
			t.Fatalf("the unit has EnvironmentFile=%s: systemd would parse it, not the archiver", v)
		}
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			execStart = strings.Fields(paths.Replace(v))
		}
	}
	if len(execStart) < 2 {
		t.Fatal("no ExecStart in the unit")
	}
	cmd := exec.Command(execStart[0], execStart[1:]...)
	cmd.Env = append(env, "HOME="+dir)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ExecStart: %v\n%s", err, out)
	}
	checkEnvFileRun(t, h, "systemd unit")
	if _, err := os.Stat(filepath.Join(dir, "archiver.prom")); err != nil {
		t.Errorf("the unit's metrics file: %v", err)
	}
}
