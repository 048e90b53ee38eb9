package cli_test

import (
	"strings"
	"testing"

	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
)

// requestsPerDay archives one day with the archiver's default Vercel Blob
// setup and returns the requests that reached the store, one line each.
func requestsPerDay(t *testing.T, h *harness, srv *vercelblobtest.Server) []string {
	t.Helper()
	srv.ResetCounts()
	h.mustRun("archive")
	var out []string
	for _, r := range srv.Requests() {
		out = append(out, r.String())
	}
	return out
}

// TestRequestsPerArchivedDay: a new day costs at most three requests to
// Vercel Blob, the read-back included, and so does a day merged with its
// archive (late rows).
func TestRequestsPerArchivedDay(t *testing.T) {
	h, srv := vercelHarness(t)
	today := h.today()
	h.insertClean(sample(today, 32, 31, 2))
	newDay := requestsPerDay(t, h, srv)
	t.Logf("new day, %d requests:\n%s", len(newDay), strings.Join(newDay, "\n"))

	late := sample(today, 32, 31, 3)[2*24:] // the third sensor's readings arrive late
	h.insertClean(late)
	merged := requestsPerDay(t, h, srv)
	t.Logf("merged day, %d requests:\n%s", len(merged), strings.Join(merged, "\n"))
	if len(newDay) > 3 || len(merged) > 3 {
		t.Errorf("requests per day: new %d, merged %d; want at most 3 each", len(newDay), len(merged))
	}
}
