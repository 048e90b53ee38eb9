package cli_test

import (
	"strings"
	"testing"

	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
)

// requestsPerDay archives one day with the archiver's default Vercel Blob
// setup and returns the requests of the run's start-up check and those of
// the day, one line each.
func requestsPerDay(t *testing.T, h *harness, srv *vercelblobtest.Server) (start, day []string) {
	t.Helper()
	srv.ResetCounts()
	h.mustRun("archive")
	inDay := false
	for _, r := range srv.Requests() {
		inDay = inDay || strings.HasPrefix(r.Pathname, "archives/")
		if inDay {
			day = append(day, r.String())
		} else {
			start = append(start, r.String())
		}
	}
	return start, day
}

// TestRequestsPerArchivedDay: a new day costs three requests to Vercel
// Blob, the read-back included (was 3); a day merged with its archive (late
// rows) costs five (was 10: the sidecar reads, the copy's head, the head
// before reading the old archive and the head before deleting the backup
// are gone). The start-up check costs one
// list per run (a probe write and delete more on an empty store).
func TestRequestsPerArchivedDay(t *testing.T) {
	h, srv := vercelHarness(t)
	today := h.today()
	h.insertClean(sample(today, 32, 31, 2))
	start, newDay := requestsPerDay(t, h, srv)
	t.Logf("start-up check on an empty store, %d requests:\n%s", len(start), strings.Join(start, "\n"))
	t.Logf("new day, %d requests:\n%s", len(newDay), strings.Join(newDay, "\n"))
	if len(start) != 3 {
		t.Errorf("start-up check on an empty store: %d requests, want 3 (list, probe put, probe delete)", len(start))
	}

	late := sample(today, 32, 31, 3)[2*24:] // the third sensor's readings arrive late
	h.insertClean(late)
	start, merged := requestsPerDay(t, h, srv)
	t.Logf("merged day, %d requests:\n%s", len(merged), strings.Join(merged, "\n"))
	if len(start) != 1 {
		t.Errorf("start-up check: %d requests, want 1 (list)", len(start))
	}
	if len(newDay) > 3 || len(merged) > 5 {
		t.Errorf("requests per day: new %d, merged %d; want at most 3 and 5", len(newDay), len(merged))
	}
}
