package cli_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
	"github.com/shizuku-labs/archiver/internal/cli"
)

// fastVercel is the bucket URL of the storage fault tests: one retry, so
// that a persistent fault fails a day in about a second instead of the
// production two minutes. Its per-request timeout is generous: on a loaded
// machine a short one expires on a healthy request too, and its retry can
// then fetch a clean copy of a response a fault corrupted, which hides the
// fault from the test (TestStorageFaultOnceIsAbsorbed saw exit 0 for a
// corrupted read-back so). Faults that are delays get timedVercel.
const fastVercel = "vercelblob://archives?retries=1&request_timeout=10s"

// timedVercel is fastVercel with a timeout shorter than the delay faults'
// two seconds, and still several times what a request takes under load.
const timedVercel = "vercelblob://archives?retries=1&request_timeout=1s"

// faultBucket is the bucket URL a storage fault is tested with.
func faultBucket(f vercelblobtest.Fault) string {
	if f.Delay > 0 {
		return timedVercel
	}
	return fastVercel
}

// storageFault is one way storage can misbehave.
type storageFault struct {
	name  string
	fault vercelblobtest.Fault
	// reasons: a failed manifest's error must contain one of these.
	reasons []string
	// onceRecovers: when the fault happens only once, the driver's retries
	// (or the reader's resume) absorb it and the run succeeds.
	onceRecovers bool
}

var storageFaults = []storageFault{
	{"upload 500", vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Status: 500, Code: "internal_server_error"},
		[]string{"internal_server_error (HTTP 500)"}, true},
	{"upload 503", vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Status: 503, Code: "service_unavailable"},
		[]string{"service_unavailable (HTTP 503)"}, true},
	{"upload 502 from a proxy", vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Status: 502, RawBody: "<html><body>502 Bad Gateway</body></html>"},
		[]string{"(HTTP 502)"}, true},
	{"upload 429 with retry-after", vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Status: 429, Code: "rate_limited", RetryAfter: 1},
		[]string{"rate_limited (HTTP 429)"}, true},
	{"upload timeout", vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Delay: 2 * time.Second},
		[]string{"deadline exceeded"}, true},
	{"connection reset mid-upload", vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Drop: vercelblobtest.DropRequest},
		[]string{"network_error"}, true},
	{"upload applied, answer lost", vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Drop: vercelblobtest.DropResponse},
		[]string{"network_error"}, true},
	// The existence check is a head, or the GET of the day's object once
	// the store's content base is known.
	{"existence check timeout", vercelblobtest.Fault{Method: http.MethodGet, PathnamePrefix: "archives/", Delay: 2 * time.Second},
		[]string{"deadline exceeded"}, true},
	{"read-back 500", vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, PathnamePrefix: "archives/", Status: 500, Code: "internal_server_error"},
		[]string{"internal_server_error (HTTP 500)"}, true},
	{"read-back timeout", vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, PathnamePrefix: "archives/", Delay: 2 * time.Second},
		[]string{"deadline exceeded"}, true},
	{"truncated read-back", vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, PathnamePrefix: "archives/", Truncate: true},
		[]string{"network_error", "unexpected EOF"}, true},
	{"silently corrupted read-back", vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, PathnamePrefix: "archives/", Corrupt: true},
		[]string{"read back", "existing archive"}, false},
}

// faultFixture is a database with one day already archived (day A) that
// has late rows, and one new day (B), on the Vercel Blob fake: a fault then
// hits both a merge over an existing archive and a first archive.
type faultFixture struct {
	h            *harness
	srv          *vercelblobtest.Server
	keyA, keyB   string
	first        []reading // archived before the fault
	pending      []reading // in the database when the fault strikes
	want         []reading // everything
	committedA   string    // sha256 of A's committed manifest
	committedIDs int64
}

func newFaultFixture(t *testing.T) *faultFixture {
	t.Helper()
	h, srv := vercelHarness(t)
	h.bucket = fastVercel
	today := h.today()
	f := &faultFixture{h: h, srv: srv, keyA: dayKey(today.AddDate(0, 0, -34)), keyB: dayKey(today.AddDate(0, 0, -33))}
	f.first = sample(today, 34, 33, 2)
	h.insertClean(f.first)
	h.mustRun("archive")
	f.committedA = h.committedSHA(f.keyA)
	if f.committedA == "" {
		t.Fatal("day A was not archived")
	}
	late := sample(today, 34, 33, 1)
	for i := range late {
		late[i].Sensor = "late-" + late[i].Sensor
	}
	f.pending = append(late, sample(today, 33, 32, 2)...)
	h.insertClean(f.pending)
	f.want = append(append([]reading{}, f.first...), f.pending...)
	f.committedIDs = h.count(`SELECT coalesce(max(id), 0) FROM archiver.archive_runs`)
	return f
}

// TestStorageFaultsDeleteNothing: for every kind of storage fault, a run
// that meets it on every request keeps every row of the affected days,
// leaves the committed archive readable and complete, records a failed
// manifest with the reason for each day, exits 1; the next run with healthy
// storage archives everything exactly once.
func TestStorageFaultsDeleteNothing(t *testing.T) {
	for _, c := range storageFaults {
		t.Run(c.name, func(t *testing.T) {
			f := newFaultFixture(t)
			h := f.h
			h.bucket = faultBucket(c.fault)
			f.srv.AddFault(c.fault)
			r := h.run("archive")
			if r.code != cli.ExitPartial {
				t.Fatalf("exit %d, want %d\n%s", r.code, cli.ExitPartial, r.stderr)
			}
			if !strings.Contains(r.stderr, "day failed; its rows stay in the database") {
				t.Errorf("the log does not say the day failed:\n%s", r.stderr)
			}
			sameReadings(t, "rows after the failed run", h.cleanRows("true"), f.pending)
			f.srv.ClearFaults()

			// I2: what the committed manifest recorded is still in storage.
			data, ok := f.srv.Object(f.keyA)
			if !ok {
				t.Fatalf("the committed archive %s is gone", f.keyA)
			}
			have := map[string]bool{}
			for _, rd := range decodeArchive(t, f.keyA, data).readings(t) {
				have[rd.key()] = true
			}
			for _, rd := range f.first {
				if !have[rd.key()] {
					t.Fatalf("the committed archive %s lost %s", f.keyA, rd.key())
				}
			}

			for _, key := range []string{f.keyA, f.keyB} {
				var errText string
				err := h.conn.QueryRow(context.Background(), `SELECT coalesce(string_agg(error, ' | '), '') FROM archiver.archive_runs
					WHERE id > $1 AND object_key = $2 AND kind = 'archive' AND status = 'failed'`, f.committedIDs, key).Scan(&errText)
				if err != nil {
					t.Fatal(err)
				}
				if !containsAny(errText, c.reasons) {
					t.Errorf("%s: failed manifest error %q does not give the reason (%q)", key, errText, c.reasons)
				}
			}
			if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE id > $1 AND kind = 'archive' AND status = 'committed'`, f.committedIDs); n != 0 {
				t.Errorf("%d committed manifests written by the failed run", n)
			}

			r = h.run("archive")
			if r.code != cli.ExitOK {
				t.Fatalf("the run after storage recovered: exit %d\n%s", r.code, r.stderr)
			}
			h.checkObjects(t, vercelObjects(f.srv), f.want)
			if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
				t.Errorf("%d rows left after the healthy run", n)
			}
		})
	}
}

// TestStorageFaultOnceIsAbsorbed: the same faults, once each, are retried
// (or resumed) by the driver and the run succeeds with nothing lost; the
// faults that cannot be retried fail the day, and the next run succeeds.
func TestStorageFaultOnceIsAbsorbed(t *testing.T) {
	for _, c := range storageFaults {
		t.Run(c.name, func(t *testing.T) {
			f := newFaultFixture(t)
			h := f.h
			h.bucket = faultBucket(c.fault)
			fault := c.fault
			fault.Times = 1
			f.srv.AddFault(fault)
			r := h.run("archive")
			switch {
			case c.onceRecovers && r.code != cli.ExitOK:
				t.Fatalf("one %s: exit %d, want it retried and the run to succeed\n%s", c.name, r.code, r.stderr)
			case !c.onceRecovers:
				if r.code != cli.ExitPartial {
					t.Fatalf("one %s: exit %d, want %d\n%s", c.name, r.code, cli.ExitPartial, r.stderr)
				}
				h.mustRun("archive")
			}
			h.checkObjects(t, vercelObjects(f.srv), f.want)
			if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
				t.Errorf("%d rows left", n)
			}
		})
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
