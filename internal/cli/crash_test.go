package cli_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// archiverBinary builds cmd/archiver once per test binary: crash tests need
// a real process to kill.
func archiverBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "archiver-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "archiver")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/shizuku-labs/archiver/cmd/archiver").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build archiver: %v", buildErr)
	}
	return binPath
}

// runBinary runs the archiver as a child process with extra environment.
func (h *harness) runBinary(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	args = append(args, "--database-url", h.dbURL)
	if args[0] != "migrate" && h.bucket != "" {
		args = append(args, "--bucket", h.bucket)
	}
	cmd := exec.Command(archiverBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out) // -1 when killed by a signal
	}
	t.Fatalf("run archiver: %v", err)
	return 0, ""
}

// killedAt runs the archiver binary with args and env, to be killed
// (SIGKILL, no cleanup) at the nth passage of failpoint point; it fails t
// unless the process died there.
func (h *harness) killedAt(t *testing.T, point, nth string, env []string, args ...string) {
	t.Helper()
	code, out := h.runBinary(t, append([]string{"ARCHIVER_FAILPOINTS=" + point + "=kill@" + nth}, env...), args...)
	if code != -1 || !strings.Contains(out, "failpoint "+point) {
		t.Fatalf("archiver %s was not killed at %s (exit %d):\n%s", args[0], point, code, out)
	}
}

// completes runs the archiver binary with args and env, after a crash; it
// fails t unless the run succeeds.
func (h *harness) completes(t *testing.T, env []string, args ...string) {
	t.Helper()
	if code, out := h.runBinary(t, env, args...); code != 0 {
		t.Fatalf("archiver %s after the crash failed (exit %d):\n%s", args[0], code, out)
	}
}

// toMerge migrates the database, archives the days [from, to) ago, then
// adds late readings of those days (of other sensors) and the new days
// [to, until) ago: what a run has to merge and archive. It returns every
// reading and the late ones.
func (h *harness) toMerge(from, to, until int) (want, late []reading) {
	h.t.Helper()
	h.mustRun("migrate", "up")
	today := h.today()
	first := sample(today, from, to, 2)
	h.insertClean(first)
	h.mustRun("archive") // the days [from, to) have an archive
	late = sample(today, from, to, 1)
	for i := range late {
		late[i].Sensor = "late-" + late[i].Sensor
	}
	more := sample(today, to, until, 2)
	h.insertClean(append(append([]reading{}, late...), more...))
	return append(append(append([]reading{}, first...), late...), more...), late
}

// eachCrash runs f as a subtest (point@nth) for every crash point, killed
// at its first and at its second passage.
func eachCrash(t *testing.T, points []string, f func(t *testing.T, point, nth string)) {
	for _, point := range points {
		for _, nth := range []string{"1", "2"} {
			t.Run(point+"@"+nth, func(t *testing.T) { f(t, point, nth) })
		}
	}
}

// crashPoints are the step boundaries of a run, in order.
var crashPoints = []string{
	"purge.after-batch",
	"archive.after-read",
	"archive.mid-upload",
	"archive.after-backup", // a day with an archive: its copy is made, the new object not yet published
	"archive.before-publish",
	"archive.after-upload",
	"archive.after-verify",
	"archive.after-delete",
	"archive.before-commit",
	"archive.after-commit",
}

// TestCrashAtEveryStepConverges kills the archiver (SIGKILL: no cleanup, no
// rollback message) at every step boundary, runs it again to completion and
// checks that every reading that was in the database is now in its day's
// archive exactly once, that nothing is left behind, and that the manifests
// agree with the objects (I3). The days include one with an existing archive
// and late rows, so merges are crashed too.
func TestCrashAtEveryStepConverges(t *testing.T) {
	eachCrash(t, crashPoints, func(t *testing.T, point, nth string) {
		h := newHarness(t)
		want, _ := h.toMerge(36, 34, 32)
		_, err := h.conn.Exec(context.Background(), `INSERT INTO shizuku.raw_measurements (sensor_id, ts)
					SELECT 's', now() - interval '2 days' FROM generate_series(1, 50)`)
		if err != nil {
			t.Fatal(err)
		}

		h.killedAt(t, point, nth, []string{noHold}, "archive", "--batch-size", "10")
		h.completes(t, []string{noHold}, "archive")
		h.checkConverged(t, want)
		if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements`); n != 0 {
			t.Errorf("%d raw rows left after the purge was resumed", n)
		}
	})
}

// checkConverged is the independent checker after a run that completed:
// nothing of the archived days is left in the database, and the archives
// in the bucket directory are what checkObjects says they must be.
func (h *harness) checkConverged(t *testing.T, want []reading) {
	t.Helper()
	if left := h.cleanRows("true"); len(left) != 0 {
		t.Errorf("%d rows of archived days left in the database", len(left))
	}
	h.checkObjects(t, fileObjects(t, h.dir), want)
}
