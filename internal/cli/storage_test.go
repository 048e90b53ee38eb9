package cli_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
	"github.com/shizuku-labs/archiver/internal/cli"
)

const testToken = "vercel_blob_rw_teststore_s3cr3tT0kenValue"

// vercelHarness points the archiver at the Vercel Blob test server through
// the original service's variables only: no bucket URL at all.
func vercelHarness(t *testing.T) (*harness, *vercelblobtest.Server) {
	t.Helper()
	srv := vercelblobtest.NewServer(testToken)
	t.Cleanup(srv.Close)
	t.Setenv("VERCEL_BLOB_RW_TOKEN", testToken)
	t.Setenv("VERCEL_BLOB_API_URL", srv.APIURL)
	h := newHarness(t)
	h.bucket = "" // the default must be Vercel Blob
	h.mustRun("migrate", "up")
	return h, srv
}

// TestDefaultStorageIsVercelBlob: with only VERCEL_BLOB_RW_TOKEN set, as the
// original service was configured, archives go to Vercel Blob under the
// original's keys.
func TestDefaultStorageIsVercelBlob(t *testing.T) {
	h, srv := vercelHarness(t)
	day := h.today().AddDate(0, 0, -32)
	h.insertClean(sample(h.today(), 32, 31, 2))
	r := h.mustRun("archive")
	if strings.Contains(r.stderr, testToken) || strings.Contains(r.stderr, "s3cr3t") {
		t.Fatal("the storage token appears in the log")
	}
	key := day.Format("archives/2006/01/archive-2006-01-02.json.gz")
	if _, ok := srv.Object(key); !ok {
		t.Fatalf("no object %s in Vercel Blob; have %v", key, srv.Pathnames())
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows left", n)
	}
}

// TestFailedUploadDeletesNothing: a day whose upload fails keeps every row,
// gets a failed manifest with the reason, and the run exits non-zero; the
// next run, with storage healthy again, archives it.
func TestFailedUploadDeletesNothing(t *testing.T) {
	h, srv := vercelHarness(t)
	rows := sample(h.today(), 33, 31, 2) // two days
	h.insertClean(rows)
	srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindPut, PathnamePrefix: "archives/", Status: http.StatusBadRequest, Code: "bad_request", Message: "injected: disk full"})

	r := h.run("archive")
	if r.code != cli.ExitPartial {
		t.Fatalf("exit %d, want %d (days failed)\n%s", r.code, cli.ExitPartial, r.stderr)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != int64(len(rows)) {
		t.Fatalf("a failed upload deleted rows: %d left of %d", n, len(rows))
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'failed' AND error LIKE '%disk full%'`); n != 2 {
		t.Errorf("%d failed manifests with the reason, want 2", n)
	}
	if len(srv.Pathnames()) != 0 {
		t.Errorf("objects published by a failed upload: %v", srv.Pathnames())
	}

	srv.ClearFaults()
	h.mustRun("archive")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows left after the healthy run", n)
	}
}

// TestCorruptReadBackDeletesNothing: storage that returns other bytes than
// were written (silent corruption) is caught by the read-back check.
func TestCorruptReadBackDeletesNothing(t *testing.T) {
	h, srv := vercelHarness(t)
	rows := sample(h.today(), 32, 31, 2)
	h.insertClean(rows)
	srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, Corrupt: true})

	r := h.run("archive")
	if r.code != cli.ExitPartial || !strings.Contains(r.stderr, "read back") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != int64(len(rows)) {
		t.Fatalf("corrupt read-back deleted rows: %d left of %d", n, len(rows))
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE status = 'committed' AND kind = 'archive'`); n != 0 {
		t.Errorf("%d committed manifests for a corrupt archive", n)
	}
	srv.ClearFaults()
	h.mustRun("archive")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows left after the healthy run", n)
	}
}
