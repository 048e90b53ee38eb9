package cli_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/cli"
)

// TestInterruptedRunConverges: SIGTERM (how Kubernetes stops a Job) or
// SIGINT at a step of a day, or during the purge: the run stops with exit
// 4, the day in progress keeps its rows, what it did is recorded, and the
// next run converges.
func TestInterruptedRunConverges(t *testing.T) {
	for _, c := range []struct {
		point string
		sig   syscall.Signal
	}{
		{"archive.after-read", syscall.SIGTERM},
		{"archive.after-upload", syscall.SIGTERM},
		{"archive.after-backup", syscall.SIGINT},
		{"archive.after-delete", syscall.SIGINT},
		{"archive.before-commit", syscall.SIGTERM},
		{"purge.after-batch", syscall.SIGTERM},
	} {
		t.Run(c.point+"/"+c.sig.String(), func(t *testing.T) {
			h := newHarness(t)
			want, _ := h.toMerge(35, 34, 32)
			if _, err := h.conn.Exec(t.Context(), `INSERT INTO shizuku.raw_measurements (sensor_id, ts) SELECT 's', now() - interval '2 days' FROM generate_series(1, 30)`); err != nil {
				t.Fatal(err)
			}

			run := h.startBinary(t, []string{"ARCHIVER_FAILPOINTS=" + c.point + "=sleep(2s)@1", noHold}, "archive", "--batch-size", "10", "--concurrency", "1")
			time.Sleep(800 * time.Millisecond) // well inside the 2s sleep, after start-up
			if err := run.cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			code, out := run.wait(t, time.Minute)
			if code != cli.ExitInterrupted {
				t.Fatalf("exit %d, want %d\n%s", code, cli.ExitInterrupted, out)
			}
			if !strings.Contains(out, "interrupted") {
				t.Errorf("the log does not say the run was interrupted:\n%s", out)
			}
			if code, out := h.runBinary(t, []string{noHold}, "archive"); code != 0 {
				t.Fatalf("the run after the interrupted one: exit %d\n%s", code, out)
			}
			h.checkObjects(t, fileObjects(t, h.dir), want)
			if n := h.count(`SELECT count(*) FROM shizuku.raw_measurements`); n != 0 {
				t.Errorf("%d raw rows left", n)
			}
		})
	}
}
