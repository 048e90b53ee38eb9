package cli_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/manifest"
)

var createdRE = regexp.MustCompile(`Created archive for (\d{4}-\d{2}-\d{2}):`)

// TestProcessesArchiveEachDayOnce (I6): 2 and 4 archiver processes started
// together on the same database and bucket. Each day is archived by exactly
// one of them (one "Created archive" line and one committed manifest per
// day); a process that finds a day held by another says it skipped it; all
// exit 0; every reading ends up archived exactly once. ARCHIVER_TEST_LONG
// repeats it many times.
func TestProcessesArchiveEachDayOnce(t *testing.T) {
	for _, procs := range []int{2, 4} {
		for round := range long(1, 10) {
			t.Run(fmt.Sprintf("%d processes/%d", procs, round), func(t *testing.T) {
				h := newHarness(t)
				h.mustRun("migrate", "up")
				rows := sample(h.today(), 45, 31, 3) // 14 days
				h.insertClean(rows)
				runs := make([]*bgRun, procs)
				for i := range runs {
					runs[i] = h.startBinary(t, nil, "archive", "--concurrency", "2", "--no-progress")
				}
				created := map[string]int{}
				skipped := 0
				for i, r := range runs {
					code, out := r.wait(t, 2*time.Minute)
					if code != 0 {
						t.Fatalf("process %d: exit %d\n%s", i, code, out)
					}
					for _, m := range createdRE.FindAllStringSubmatch(out, -1) {
						created[m[1]]++
					}
					skipped += strings.Count(out, "day is being archived by another run; skipped")
					if strings.Contains(out, "day failed") {
						t.Errorf("process %d failed a day:\n%s", i, out)
					}
				}
				if len(created) != 14 {
					t.Errorf("%d days archived, want 14: %v", len(created), created)
				}
				for day, n := range created {
					if n != 1 {
						t.Errorf("day %s archived by %d processes", day, n)
					}
				}
				t.Logf("%d day claims found held by another process and skipped", skipped)
				if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed'`); n != 14 {
					t.Errorf("%d committed manifests, want 14", n)
				}
				if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'failed'`); n != 0 {
					t.Errorf("%d failed manifests", n)
				}
				h.checkObjects(t, fileObjects(t, h.dir), rows)
			})
		}
	}
}

// TestSkippedDayIsReported: a day held by another run (here: a process
// paused in the middle of it) is skipped by a second process, which says so
// in its log and summary and exits 0; the first finishes the day.
func TestSkippedDayIsReported(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	rows := sample(h.today(), 33, 32, 2) // one day
	h.insertClean(rows)
	first := h.startBinary(t, []string{"ARCHIVER_FAILPOINTS=archive.after-read=sleep(3s)"}, "archive")
	waitFor(t, func() bool {
		return h.count(`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'archiver' AND datname = current_database() AND state = 'idle in transaction'`) > 0
	})
	code, out := h.runBinary(t, nil, "archive")
	if code != 0 || !strings.Contains(out, "day is being archived by another run; skipped") || !strings.Contains(out, "Days skipped (held by another run): 1") {
		t.Fatalf("second process: exit %d, want 0 and the skip reported\n%s", code, out)
	}
	if code, out := first.wait(t, time.Minute); code != 0 {
		t.Fatalf("first process: exit %d\n%s", code, out)
	}
	h.checkObjects(t, fileObjects(t, h.dir), rows)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMigrateUpConcurrently: `migrate up` started several times at once on
// a fresh database (as parallel deploys do) all succeed, and leave the
// schema at the latest version, clean.
func TestMigrateUpConcurrently(t *testing.T) {
	for round := range long(8, 40) {
		for _, procs := range []int{2, 4} {
			t.Run(fmt.Sprintf("%d at once/%d", procs, round), func(t *testing.T) {
				h := newHarness(t)
				h.bucket = ""
				runs := make([]*bgRun, procs)
				for i := range runs {
					runs[i] = h.startBinary(t, nil, "migrate", "up")
				}
				for i, r := range runs {
					if code, out := r.wait(t, time.Minute); code != 0 {
						t.Errorf("migrate up %d of %d: exit %d\n%s", i+1, procs, code, out)
					}
				}
				if v := h.count(`SELECT version FROM archiver.schema_migrations WHERE NOT dirty`); v != int64(manifest.LatestVersion()) {
					t.Errorf("schema at version %d, want %d", v, manifest.LatestVersion())
				}
			})
		}
	}
}
