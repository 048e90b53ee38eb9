package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func parseText(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, b)
	}
	return mfs
}

// value returns the value of the series of family name whose labels include
// all of want (name=value pairs); ok is false when there is none.
func value(mfs map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
metrics:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue metrics
			}
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_UNTYPED:
			return m.GetUntyped().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want float64, labels ...string) {
	t.Helper()
	got, ok := value(mfs, name, labels...)
	if !ok {
		t.Fatalf("%s%v: series missing", name, labels)
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func fixedClock(r *Recorder, t time.Time) { r.now = func() time.Time { return t } }

func TestWriteTextfileContent(t *testing.T) {
	r := New("s3")
	end := time.Unix(1_750_000_000, 0)
	fixedClock(r, end)
	r.AddPurged(125432)
	r.AddArchived(89234)
	r.AddDeleted(89234)
	r.ArchiveWritten(1<<20, 1500*time.Millisecond)
	r.ArchiveWritten(2<<20, 200*time.Millisecond)
	r.DayFailed()
	r.SetDaysPending(3)
	r.Finish(end.Add(-90*time.Second), true)

	path := filepath.Join(t.TempDir(), "archiver.prom")
	if err := r.WriteTextfile(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mfs := parseText(t, b)

	mustValue(t, mfs, "archiver_readings_purged_total", 125432)
	mustValue(t, mfs, "archiver_readings_archived_total", 89234)
	mustValue(t, mfs, "archiver_readings_deleted_total", 89234)
	if _, ok := mfs["archiver_readings_restored_total"]; ok {
		t.Error("the archive run exports readings_restored_total, which is the restore's series")
	}
	mustValue(t, mfs, "archiver_archives_written_total", 2)
	mustValue(t, mfs, "archiver_bytes_uploaded_total", 3<<20)
	mustValue(t, mfs, "archiver_days_failed_total", 1, "command", "archive")
	mustValue(t, mfs, "archiver_days_pending", 3)
	mustValue(t, mfs, "archiver_run_duration_seconds", 90, "command", "archive")
	mustValue(t, mfs, "archiver_last_run_timestamp_seconds", 1_750_000_000, "command", "archive")
	mustValue(t, mfs, "archiver_last_success_timestamp_seconds", 1_750_000_000, "command", "archive")
	mustValue(t, mfs, "archiver_last_run_success", 1, "command", "archive")
	mustValue(t, mfs, "archiver_upload_duration_seconds", 2, "backend", "s3")

	h := mfs["archiver_upload_duration_seconds"].GetMetric()[0].GetHistogram()
	if got := h.GetSampleSum(); got < 1.69 || got > 1.71 {
		t.Errorf("upload sum = %v, want 1.7", got)
	}
	var bounds []float64
	for _, b := range h.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	want := []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, math.Inf(1)}
	if !slices.Equal(bounds, want) {
		t.Errorf("buckets = %v, want %v", bounds, want)
	}
	for name := range mfs {
		if !strings.HasPrefix(name, "archiver_") {
			t.Errorf("foreign metric %s in textfile: the recorder must not use the global registry", name)
		}
	}
}

func TestFailedRunHasNoLastSuccess(t *testing.T) {
	r := New("file")
	r.Finish(time.Now(), false)
	mfs, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == lastSuccessName {
			t.Fatalf("a failed run exported %s: it would hide how long ago the last success was", lastSuccessName)
		}
	}
}

func TestWriteTextfileAtomicOverwrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "archiver.prom")
	if err := os.WriteFile(path, []byte("garbage that is not exposition format {{{\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	first := New("mem")
	fixedClock(first, time.Unix(1000, 0))
	first.AddArchived(5)
	first.Finish(time.Unix(990, 0), true)
	if err := first.WriteTextfile(path); err != nil {
		t.Fatalf("overwriting an unparsable file: %v", err)
	}

	second := New("mem")
	fixedClock(second, time.Unix(2000, 0))
	second.AddArchived(9)
	second.DayFailed()
	second.Finish(time.Unix(1990, 0), false)
	if err := second.WriteTextfile(path); err != nil {
		t.Fatal(err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "archiver.prom" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want only archiver.prom (temp file left behind?)", names)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644 so node_exporter can read it", fi.Mode().Perm())
	}

	b, _ := os.ReadFile(path)
	mfs := parseText(t, b)
	mustValue(t, mfs, "archiver_readings_archived_total", 9)
	mustValue(t, mfs, "archiver_last_run_success", 0, "command", "archive")
	mustValue(t, mfs, "archiver_last_run_timestamp_seconds", 2000, "command", "archive")
	// Carried over from the first run: the failure must not reset it.
	mustValue(t, mfs, "archiver_last_success_timestamp_seconds", 1000, "command", "archive")

	third := New("mem")
	fixedClock(third, time.Unix(3000, 0))
	third.Finish(time.Unix(2990, 0), true)
	if err := third.WriteTextfile(path); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	mfs = parseText(t, b)
	mustValue(t, mfs, "archiver_last_success_timestamp_seconds", 3000, "command", "archive")
	if n := len(mfs[lastSuccessName].GetMetric()); n != 1 {
		t.Errorf("last success has %d series, want 1", n)
	}
}

func TestWriteTextfileErrorNamesPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "archiver.prom")
	err := New("mem").WriteTextfile(path)
	if err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}

type pushed struct {
	method, path, auth string
	families           map[string]*dto.MetricFamily
}

func pushServer(t *testing.T, status int) (*httptest.Server, <-chan pushed) {
	t.Helper()
	got := make(chan pushed, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		p := pushed{method: req.Method, path: req.URL.EscapedPath(), auth: req.Header.Get("Authorization"), families: map[string]*dto.MetricFamily{}}
		dec := expfmt.NewDecoder(req.Body, expfmt.ResponseFormat(req.Header))
		for {
			mf := &dto.MetricFamily{}
			if err := dec.Decode(mf); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Errorf("decode pushed body: %v", err)
				}
				break
			}
			p.families[mf.GetName()] = mf
		}
		select {
		case got <- p:
		default:
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestPush(t *testing.T) {
	srv, got := pushServer(t, http.StatusOK)
	r := New("vercelblob")
	r.AddArchived(42)
	r.Finish(time.Now().Add(-time.Second), true)

	if err := r.Push(context.Background(), srv.URL, "archiver"); err != nil {
		t.Fatal(err)
	}
	p := <-got
	if p.method != http.MethodPost && p.method != http.MethodPut {
		t.Errorf("method = %s, want PUT or POST", p.method)
	}
	host, _ := os.Hostname()
	if want := "/metrics/job/archiver/instance/" + host; p.path != want {
		t.Errorf("path = %s, want %s", p.path, want)
	}
	mustValue(t, p.families, "archiver_readings_archived_total", 42)
	mustValue(t, p.families, "archiver_last_run_success", 1, "command", "archive")
	if _, ok := p.families[lastSuccessName]; !ok {
		t.Errorf("pushed body lacks %s", lastSuccessName)
	}
}

func TestPushOtherCommandUsesOwnJob(t *testing.T) {
	srv, got := pushServer(t, http.StatusOK)
	r := NewFor("restore", "s3")
	r.AddRestored(3)
	if err := r.Push(context.Background(), srv.URL, ""); err != nil {
		t.Fatal(err)
	}
	p := <-got
	if !strings.HasPrefix(p.path, "/metrics/job/archiver-restore/instance/") {
		t.Errorf("path = %s, want job archiver-restore", p.path)
	}
}

func TestPushRedactsCredentials(t *testing.T) {
	srv, got := pushServer(t, http.StatusInternalServerError)
	u := strings.Replace(srv.URL, "http://", "http://pushuser:s3cr3t-pw@", 1)

	err := New("s3").Push(context.Background(), u, "archiver")
	if err == nil {
		t.Fatal("push to a failing gateway succeeded")
	}
	if strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Errorf("error leaks the password: %v", err)
	}
	if p := <-got; !strings.HasPrefix(p.auth, "Basic ") {
		t.Errorf("credentials not sent as basic auth: Authorization=%q", p.auth)
	}

	// Unreachable gateway: the transport error quotes the URL.
	srv.Close()
	err = New("s3").Push(context.Background(), u, "archiver")
	if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Errorf("error = %v, want an error without the password", err)
	}

	// Unparsable URL: url.Parse errors quote the input.
	err = New("s3").Push(context.Background(), "http://user:s3cr3t-pw@host:bad port/", "archiver")
	if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Errorf("error = %v, want an error without the password", err)
	}
}

func TestScrubDropsEchoedSecret(t *testing.T) {
	err := scrub(errors.New("gateway said: bad token s3cr3t"), "user", "s3cr3t")
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("scrubbed error still has the secret: %v", err)
	}
	if errors.Unwrap(err) != nil {
		t.Errorf("scrubbed error wraps the original, which still holds the secret")
	}
	err = scrub(&wrapped{msg: "s3cr3t", err: context.Canceled}, "s3cr3t")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("scrub lost context.Canceled: %v", err)
	}
}

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg + ": " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

func TestPushHonorsContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New("s3").Push(ctx, srv.URL, "archiver") }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestNilRecorderIsNoOp(t *testing.T) {
	var r *Recorder
	r.AddPurged(1)
	r.AddArchived(1)
	r.AddDeleted(1)
	r.AddRestored(1)
	r.ArchiveWritten(10, time.Second)
	r.DayFailed()
	r.SetDaysPending(1)
	r.Finish(time.Now(), true)
	path := filepath.Join(t.TempDir(), "archiver.prom")
	if err := r.WriteTextfile(path); err != nil {
		t.Errorf("WriteTextfile: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("nil recorder wrote a file (stat err %v)", err)
	}
	if err := r.Push(context.Background(), "http://127.0.0.1:1", "archiver"); err != nil {
		t.Errorf("Push: %v", err)
	}
	if mfs, err := r.Gatherer().Gather(); err != nil || len(mfs) != 0 {
		t.Errorf("Gather = %d families, %v", len(mfs), err)
	}
}

func TestNegativeCountsIgnored(t *testing.T) {
	r := New("mem")
	r.AddArchived(-5)
	r.ArchiveWritten(-1, 0)
	var buf bytes.Buffer
	mfs, _ := r.Gatherer().Gather()
	for _, mf := range mfs {
		_, _ = expfmt.MetricFamilyToText(&buf, mf)
	}
	got := parseText(t, buf.Bytes())
	mustValue(t, got, "archiver_readings_archived_total", 0)
	mustValue(t, got, "archiver_bytes_uploaded_total", 0)
}

func TestConcurrentUse(t *testing.T) {
	r := New("s3")
	path := filepath.Join(t.TempDir(), "archiver.prom")
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r.AddArchived(1)
				r.AddDeleted(1)
				r.ArchiveWritten(10, time.Millisecond)
				if i%50 == 0 {
					r.DayFailed()
					r.SetDaysPending(i)
					if err := r.WriteTextfile(path); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	r.Finish(time.Now(), true)
	if err := r.WriteTextfile(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	mfs := parseText(t, b)
	mustValue(t, mfs, "archiver_readings_archived_total", workers*each)
	mustValue(t, mfs, "archiver_archives_written_total", workers*each)
	mustValue(t, mfs, "archiver_bytes_uploaded_total", workers*each*10)
	mustValue(t, mfs, "archiver_days_failed_total", workers*each/50, "command", "archive")
}

// TestCommandTextfilesCoexist: every command writes its own textfile next
// to the configured one, and node_exporter can read them all at once: no
// series (name and labels) appears in two files, which would fail the whole
// scrape.
func TestCommandTextfilesCoexist(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "archiver.prom")
	seen := map[string]string{}
	for _, cmd := range []string{CommandArchive, CommandRestore, CommandVerify, CommandStatus} {
		r := NewFor(cmd, "file")
		r.AddArchived(1)
		r.AddRestored(1)
		r.DayFailed()
		r.VerifyResult(map[string]int{"ok": 3, "missing": 1}, true)
		r.StatusResult(map[string]int{"pending": 2}, time.Hour)
		r.Finish(time.Now(), true)
		p := TextfilePath(path, cmd)
		if err := r.WriteTextfile(p); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for name, mf := range parseText(t, b) {
			for _, m := range mf.GetMetric() {
				k := name + "{" + labelKey(m) + "}"
				if other, dup := seen[k]; dup {
					t.Errorf("series %s is in the textfiles of both %s and %s", k, other, cmd)
				}
				seen[k] = cmd
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.prom"))
	if len(files) != 4 {
		t.Errorf("textfiles %v, want one per command", files)
	}
	for cmd, want := range map[string]string{CommandArchive: path, CommandVerify: filepath.Join(dir, "archiver-verify.prom")} {
		if got := TextfilePath(path, cmd); got != want {
			t.Errorf("TextfilePath(%s) = %s, want %s", cmd, got, want)
		}
	}
	for _, k := range []string{"archiver_verify_objects{status\x00missing}", "archiver_status_days{state\x00pending}", "archiver_readings_restored_total{}"} {
		if _, ok := seen[k]; !ok {
			t.Errorf("no textfile has %s", k)
		}
	}
}
