package vercelblob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/shizuku-labs/archiver/backends"
	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

type fixture struct {
	srv    *vercelblobtest.Server
	drv    *bucket
	b      *blob.Bucket
	sleeps *sleepLog
}

type sleepLog struct {
	mu sync.Mutex
	ds []time.Duration
}

func (l *sleepLog) sleep(ctx context.Context, d time.Duration) error {
	l.mu.Lock()
	l.ds = append(l.ds, d)
	l.mu.Unlock()
	return ctx.Err()
}

func (l *sleepLog) all() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.ds...)
}

// newFixture opens a bucket on a fresh fake. Backoff sleeps are recorded,
// not slept, so retry tests run fast and can check the delays chosen.
func newFixture(t *testing.T, tune func(*Options), store ...vercelblobtest.Option) *fixture {
	t.Helper()
	srv := vercelblobtest.NewServer(testToken, store...)
	t.Cleanup(srv.Close)
	o := &Options{Token: testToken, APIURL: srv.APIURL, HTTPClient: srv.Client(), RequestTimeout: 5 * time.Second}
	if tune != nil {
		tune(o)
	}
	drv, err := openBucket(o)
	if err != nil {
		t.Fatal(err)
	}
	sl := &sleepLog{}
	drv.c.sleep = sl.sleep
	b := blob.NewBucket(drv)
	t.Cleanup(func() { b.Close() })
	return &fixture{srv: srv, drv: drv, b: b, sleeps: sl}
}

const archiveKey = "archives/2025/01/archive-2025-01-15.json.gz"

func TestOrdinaryKeysAreStoredVerbatim(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if err := f.b.WriteAll(ctx, archiveKey, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.Pathnames(); len(got) != 1 || got[0] != archiveKey {
		t.Fatalf("stored pathnames %q, want exactly %q", got, archiveKey)
	}
}

// A write above the threshold goes through multipart with parts of
// PartSize, at most PartConcurrency uploads in flight, and parts completed
// out of order still assemble in order.
func TestMultipartUpload(t *testing.T) {
	var inFlight, maxInFlight atomic.Int32
	f := newFixture(t, func(o *Options) {
		o.tune.multipartThreshold, o.tune.partSize, o.tune.partConcurrency, o.tune.allowSmallParts = 4096, 1024, 3, true
		base := o.HTTPClient.Transport
		o.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Header.Get("X-Mpu-Action") == "upload" {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					m := maxInFlight.Load()
					if n <= m || maxInFlight.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
			return base.RoundTrip(r)
		})}
	})
	f.srv.SetMinPartSize(1024)
	ctx := context.Background()
	data := testkit.RandomBytes(t, 10*1024+17)
	w, err := f.b.NewWriter(ctx, archiveKey, &blob.WriterOptions{ContentType: "application/gzip"})
	if err != nil {
		t.Fatal(err)
	}
	// Small writes, to exercise buffering across part boundaries.
	for off := 0; off < len(data); off += 333 {
		if _, err := w.Write(data[off:min(off+333, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := f.b.ReadAll(ctx, archiveKey)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (err %v), want the %d written", len(got), err, len(data))
	}
	c := f.srv.Counts()
	if c[vercelblobtest.KindMPUCreate] != 1 || c[vercelblobtest.KindMPUUpload] != 11 || c[vercelblobtest.KindMPUComplete] != 1 || c[vercelblobtest.KindPut] != 0 {
		t.Errorf("request counts %v, want 1 create, 11 parts, 1 complete, no put", c)
	}
	if m := maxInFlight.Load(); m > 3 || m < 2 {
		t.Errorf("max parts in flight %d, want 2..3", m)
	}
	attrs, err := f.b.Attributes(ctx, archiveKey)
	if err != nil || attrs.ContentType != "application/gzip" || attrs.Size != int64(len(data)) {
		t.Errorf("attributes %+v, err %v", attrs, err)
	}
}

func TestSmallWriteIsOnePut(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.b.WriteAll(context.Background(), archiveKey, testkit.RandomBytes(t, 1000), nil); err != nil {
		t.Fatal(err)
	}
	c := f.srv.Counts()
	if c[vercelblobtest.KindPut] != 1 || c[vercelblobtest.KindMPUCreate] != 0 {
		t.Errorf("request counts %v, want a single put", c)
	}
}

func TestDefaultsRejectSmallParts(t *testing.T) {
	_, err := openBucket(&Options{Token: testToken, tune: tuning{partSize: 1 << 20}})
	if gcerrors.Code(err) != gcerrors.Unknown && errorCode(err) != gcerrors.InvalidArgument {
		t.Fatalf("part size below 5 MiB: got %v, want InvalidArgument", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRetryTransient5xx(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.srv.FailNext(2, vercelblobtest.KindPut, "", http.StatusServiceUnavailable, CodeServiceUnavailable)
	if err := f.b.WriteAll(ctx, archiveKey, []byte("hello"), nil); err != nil {
		t.Fatalf("write after two 503s: %v", err)
	}
	var puts []vercelblobtest.Request
	for _, r := range f.srv.Requests() {
		if r.Kind == vercelblobtest.KindPut {
			puts = append(puts, r)
		}
	}
	if len(puts) != 3 {
		t.Fatalf("got %d put attempts, want 3", len(puts))
	}
	for i, r := range puts {
		if r.RequestID != puts[0].RequestID || r.RequestID == "" {
			t.Errorf("attempt %d request id %q, want the first's %q", i, r.RequestID, puts[0].RequestID)
		}
		if r.Attempt != fmt.Sprint(i) {
			t.Errorf("attempt %d sent x-api-blob-request-attempt %q", i, r.Attempt)
		}
	}
	if !strings.HasPrefix(puts[0].RequestID, "teststore123:") {
		t.Errorf("request id %q should start with the store id", puts[0].RequestID)
	}
	if n := len(f.sleeps.all()); n != 2 {
		t.Errorf("backed off %d times, want 2", n)
	}
	if got, _ := f.srv.Object(archiveKey); string(got) != "hello" {
		t.Errorf("stored %q", got)
	}
}

func TestRetryNonJSON502AndNetworkErrors(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindHead, Times: 1, Status: http.StatusBadGateway, RawBody: "<html>bad gateway</html>"})
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindHead, Times: 1, Drop: vercelblobtest.DropRequest})
	if err := f.b.WriteAll(ctx, archiveKey, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.b.Attributes(ctx, archiveKey); err != nil {
		t.Fatalf("attributes after a proxy page and a dropped connection: %v", err)
	}
	if n := f.srv.Count(vercelblobtest.KindHead); n != 3 {
		t.Errorf("%d head requests, want 3", n)
	}
}

func TestRateLimitHonoursRetryAfter(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Times: 1, Status: http.StatusTooManyRequests, Code: CodeRateLimited, RetryAfter: 3})
	if err := f.b.WriteAll(context.Background(), archiveKey, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	s := f.sleeps.all()
	if len(s) != 1 || s[0] < 3*time.Second {
		t.Fatalf("slept %v, want one wait of at least the 3s retry-after", s)
	}
}

// With real sleeping: the whole call must respect the retry-after.
func TestRateLimitRealWait(t *testing.T) {
	f := newFixture(t, nil)
	f.drv.c.sleep = sleepCtx
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindList, Times: 1, Status: http.StatusTooManyRequests, Code: CodeRateLimited, RetryAfter: 1})
	start := time.Now()
	if _, _, err := f.b.ListPage(context.Background(), blob.FirstPageToken, 10, nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %v, before the 1s retry-after", d)
	}
}

func TestRateLimitBeyondBudgetFails(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.tune.maxRetryElapsed = time.Second })
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Times: 1, Status: http.StatusTooManyRequests, Code: CodeRateLimited, RetryAfter: 60})
	err := f.b.WriteAll(context.Background(), archiveKey, []byte("x"), nil)
	if gcerrors.Code(err) != gcerrors.ResourceExhausted {
		t.Fatalf("got %v, want ResourceExhausted", err)
	}
	var e *Error
	if !f.b.ErrorAs(err, &e) || e.RetryAfter != time.Minute {
		t.Errorf("want *Error with RetryAfter 1m, got %+v", e)
	}
	if n := f.srv.Count(vercelblobtest.KindPut); n != 1 {
		t.Errorf("%d puts, want 1", n)
	}
}

func TestNonRetryableFailsAtOnce(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.FailNext(1, vercelblobtest.KindPut, "", http.StatusBadRequest, CodeBadRequest)
	err := f.b.WriteAll(context.Background(), archiveKey, []byte("x"), nil)
	if gcerrors.Code(err) != gcerrors.InvalidArgument {
		t.Fatalf("got %v, want InvalidArgument", err)
	}
	if n := f.srv.Count(vercelblobtest.KindPut); n != 1 {
		t.Errorf("%d puts, want 1", n)
	}
	if len(f.sleeps.all()) != 0 {
		t.Error("backed off for a permanent error")
	}
}

func TestRetriesAreBounded(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Retries = 2 })
	f.srv.FailNext(0, vercelblobtest.KindHead, "", http.StatusInternalServerError, CodeInternalServerError)
	_, err := f.b.Attributes(context.Background(), archiveKey)
	if gcerrors.Code(err) != gcerrors.Internal {
		t.Fatalf("got %v, want Internal", err)
	}
	if n := f.srv.Count(vercelblobtest.KindHead); n != 3 {
		t.Errorf("%d attempts, want 3 (1 + 2 retries)", n)
	}
	var e *Error
	if !errors.As(err, &e) || e.Attempts != 3 {
		t.Errorf("want Attempts 3 in %+v", e)
	}
}

func TestRequestTimeoutRetries(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.RequestTimeout = 100 * time.Millisecond; o.Retries = 2 })
	ctx := context.Background()
	if err := f.b.WriteAll(ctx, archiveKey, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	// One slow answer: the second attempt succeeds.
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindHead, Times: 1, Delay: time.Second})
	if _, err := f.b.Attributes(ctx, archiveKey); err != nil {
		t.Fatalf("attributes after one slow answer: %v", err)
	}
	// Always slow: bounded attempts, then a deadline error.
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindHead, Delay: time.Second})
	start := time.Now()
	_, err := f.b.Attributes(ctx, archiveKey)
	if gcerrors.Code(err) != gcerrors.DeadlineExceeded {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v for 3 attempts of 100ms", d)
	}
}

func TestDownloadTimeoutCoversHeadersOnly(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.RequestTimeout = 200 * time.Millisecond })
	ctx := context.Background()
	data := testkit.RandomBytes(t, 1<<20)
	if err := f.b.WriteAll(ctx, archiveKey, data, nil); err != nil {
		t.Fatal(err)
	}
	r, err := f.b.NewReader(ctx, archiveKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Read slowly, longer than the request timeout in total.
	var got bytes.Buffer
	buf := make([]byte, 256<<10)
	for {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(80 * time.Millisecond)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("content mismatch")
	}
}

// Cancelling the writer's context mid-upload aborts: Close fails with the
// context's error and no object appears.
func TestCancelMidMultipartLeavesNoObject(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.tune.multipartThreshold, o.tune.partSize, o.tune.partConcurrency, o.tune.allowSmallParts = 1024, 1024, 2, true
	})
	f.srv.SetMinPartSize(1024)
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindMPUUpload, Delay: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	w, err := f.b.NewWriter(ctx, archiveKey, &blob.WriterOptions{ContentType: "application/octet-stream"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(testkit.RandomBytes(t, 5*1024)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := w.Write(testkit.RandomBytes(t, 1024)); err == nil {
		t.Error("Write after cancel succeeded")
	}
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close after cancel: %v, want context.Canceled", err)
	}
	if n := f.srv.Count(vercelblobtest.KindMPUComplete); n != 0 {
		t.Errorf("%d completes after cancel", n)
	}
	if p := f.srv.Pathnames(); len(p) != 0 {
		t.Errorf("objects after cancelled write: %q", p)
	}
}

func TestCancelBeforeCloseSmallWriteUploadsNothing(t *testing.T) {
	f := newFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := f.b.NewWriter(ctx, archiveKey, &blob.WriterOptions{ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("partial"))
	cancel()
	if err := w.Close(); err == nil {
		t.Fatal("Close after cancel succeeded")
	}
	if c := f.srv.Counts(); c[vercelblobtest.KindPut]+c[vercelblobtest.KindMPUCreate] != 0 {
		t.Errorf("uploads after cancel: %v", c)
	}
}

// A part that keeps failing aborts the write without completing it.
func TestFailingPartAbortsWrite(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.tune.multipartThreshold, o.tune.partSize, o.tune.allowSmallParts, o.Retries = 1024, 1024, true, 1
	})
	f.srv.SetMinPartSize(1024)
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindMPUUpload, Status: http.StatusForbidden, Code: CodeForbidden})
	err := f.b.WriteAll(context.Background(), archiveKey, testkit.RandomBytes(t, 8*1024), nil)
	if gcerrors.Code(err) != gcerrors.PermissionDenied {
		t.Fatalf("got %v, want PermissionDenied", err)
	}
	if f.srv.Count(vercelblobtest.KindMPUComplete) != 0 || len(f.srv.Pathnames()) != 0 {
		t.Error("a failed multipart write left an object")
	}
}

func TestIfNotExist(t *testing.T) {
	for _, mp := range []bool{false, true} {
		t.Run(fmt.Sprintf("multipart=%v", mp), func(t *testing.T) {
			f := newFixture(t, func(o *Options) {
				if mp {
					o.tune.multipartThreshold, o.tune.partSize, o.tune.allowSmallParts = 16, 1024, true
				}
			})
			f.srv.SetMinPartSize(1024)
			ctx := context.Background()
			opts := &blob.WriterOptions{IfNotExist: true, ContentType: "text/plain"}
			if err := f.b.WriteAll(ctx, archiveKey, []byte("first version, long enough"), opts); err != nil {
				t.Fatal(err)
			}
			err := f.b.WriteAll(ctx, archiveKey, []byte("second version, long enough"), opts)
			if gcerrors.Code(err) != gcerrors.FailedPrecondition {
				t.Fatalf("second IfNotExist write: %v, want FailedPrecondition", err)
			}
			if got, _ := f.srv.Object(archiveKey); string(got) != "first version, long enough" {
				t.Errorf("object changed to %q", got)
			}
			// Without IfNotExist, gocloud's contract is overwrite.
			if err := f.b.WriteAll(ctx, archiveKey, []byte("third"), nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The first attempt of an IfNotExist put succeeds but its answer is lost;
// the retry meets "already exists". The driver must recognise its own
// bytes and report success, yet still refuse when the bytes differ.
func TestIfNotExistLostResponse(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	opts := &blob.WriterOptions{IfNotExist: true, ContentType: "text/plain"}
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Times: 1, Drop: vercelblobtest.DropResponse})
	if err := f.b.WriteAll(ctx, archiveKey, []byte("mine"), opts); err != nil {
		t.Fatalf("write whose first answer was lost: %v", err)
	}
	if n := f.srv.Count(vercelblobtest.KindPut); n != 2 {
		t.Errorf("%d puts, want 2", n)
	}
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Times: 1, Status: http.StatusBadGateway, Code: CodeServiceUnavailable})
	err := f.b.WriteAll(ctx, archiveKey, []byte("someone else's"), opts)
	if gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("got %v, want FailedPrecondition", err)
	}
}

func TestLostCompleteResponse(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.tune.multipartThreshold, o.tune.partSize, o.tune.allowSmallParts = 1024, 1024, true
	})
	f.srv.SetMinPartSize(1024)
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindMPUComplete, Times: 1, Drop: vercelblobtest.DropResponse})
	data := testkit.RandomBytes(t, 3000)
	if err := f.b.WriteAll(context.Background(), archiveKey, data, &blob.WriterOptions{IfNotExist: true}); err != nil {
		t.Fatalf("multipart write whose complete answer was lost: %v", err)
	}
	if got, _ := f.srv.Object(archiveKey); !bytes.Equal(got, data) {
		t.Error("content mismatch")
	}
}

func TestErrorCodeMapping(t *testing.T) {
	cases := []struct {
		e    *Error
		want gcerrors.ErrorCode
	}{
		{&Error{Code: CodeNotFound, Status: 404}, gcerrors.NotFound},
		{&Error{Code: CodeForbidden, Status: 403}, gcerrors.PermissionDenied},
		{&Error{Code: CodeStoreNotFound, Status: 403}, gcerrors.NotFound},
		{&Error{Code: CodeStoreSuspended, Status: 403}, gcerrors.PermissionDenied},
		{&Error{Code: CodePreconditionFailed, Status: 412}, gcerrors.FailedPrecondition},
		{&Error{Code: CodeBadRequest, Status: 400, Message: "This blob already exists, use `allowOverwrite: true`"}, gcerrors.FailedPrecondition},
		{&Error{Code: CodeBadRequest, Status: 400, Message: "pathname is required"}, gcerrors.InvalidArgument},
		{&Error{Code: CodeRateLimited, Status: 429}, gcerrors.ResourceExhausted},
		{&Error{Code: CodeServiceUnavailable, Status: 502}, gcerrors.Unknown},
		{&Error{Code: CodeInternalServerError, Status: 500}, gcerrors.Internal},
		{&Error{Code: CodeUnknownError, Status: 500}, gcerrors.Unknown},
		{&Error{Code: CodeFileTooLarge}, gcerrors.InvalidArgument},
		{&Error{Code: CodeUnimplemented}, gcerrors.Unimplemented},
		{&Error{Status: 404}, gcerrors.NotFound},
		{&Error{Err: context.Canceled}, gcerrors.Canceled},
		{&Error{Code: CodeNetwork, Err: context.DeadlineExceeded}, gcerrors.DeadlineExceeded},
	}
	for _, c := range cases {
		if got := errorCode(c.e); got != c.want {
			t.Errorf("errorCode(%v) = %v, want %v", c.e, got, c.want)
		}
	}
}

func TestErrorCodesFromServer(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(o *Options) { o.Retries = -1 })
	if err := f.b.WriteAll(ctx, archiveKey, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}

	wrong, err := OpenBucket(ctx, &Options{Token: wrongSecretTok, APIURL: f.srv.APIURL, HTTPClient: f.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if _, err := wrong.Attributes(ctx, archiveKey); gcerrors.Code(err) != gcerrors.PermissionDenied {
		t.Errorf("wrong secret: %v, want PermissionDenied", err)
	}
	other, err := OpenBucket(ctx, &Options{Token: otherStoreTok, APIURL: f.srv.APIURL, HTTPClient: f.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if ok, err := other.IsAccessible(ctx); ok || err != nil {
		t.Errorf("other store: IsAccessible %v, %v; want false, nil", ok, err)
	}

	err = f.b.WriteAll(ctx, archiveKey, []byte("y"), &blob.WriterOptions{BeforeWrite: func(as func(any) bool) error {
		var ro *RequestOptions
		as(&ro)
		ro.IfMatch = `"not-the-etag"`
		return nil
	}})
	if gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Errorf("if-match mismatch: %v, want FailedPrecondition", err)
	}
	f.srv.FailNext(1, vercelblobtest.KindHead, "", http.StatusTooManyRequests, CodeRateLimited)
	if _, err := f.b.Attributes(ctx, archiveKey); gcerrors.Code(err) != gcerrors.ResourceExhausted {
		t.Errorf("rate limited: %v, want ResourceExhausted", err)
	}
	f.srv.FailNext(1, vercelblobtest.KindHead, "", http.StatusInternalServerError, CodeInternalServerError)
	if _, err := f.b.Attributes(ctx, archiveKey); gcerrors.Code(err) != gcerrors.Internal {
		t.Errorf("internal: %v, want Internal", err)
	}
	if _, err := f.b.SignedURL(ctx, archiveKey, nil); gcerrors.Code(err) != gcerrors.Unimplemented {
		t.Errorf("SignedURL: %v, want Unimplemented", err)
	}
	if _, _, err := f.b.ListPage(ctx, blob.FirstPageToken, 10, &blob.ListOptions{Delimiter: "|"}); gcerrors.Code(err) != gcerrors.Unimplemented {
		t.Errorf("list with delimiter |: %v, want Unimplemented", err)
	}
}

// Delete with an ETag condition, reached through BeforeDelete.
func TestConditionalDelete(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if err := f.b.WriteAll(ctx, archiveKey, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	attrs, err := f.b.Attributes(ctx, archiveKey)
	if err != nil {
		t.Fatal(err)
	}
	withETag := func(etag string) *blob.DeleteOptions {
		return &blob.DeleteOptions{BeforeDelete: func(as func(any) bool) error {
			var ro *RequestOptions
			if !as(&ro) {
				return errors.New("no RequestOptions")
			}
			ro.IfMatch = etag
			return nil
		}}
	}
	if err := f.b.DeleteWithOptions(ctx, archiveKey, withETag(`"stale"`)); gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("stale etag: %v, want FailedPrecondition", err)
	}
	if err := f.b.DeleteWithOptions(ctx, archiveKey, withETag(attrs.ETag)); err != nil {
		t.Fatal(err)
	}
}

// Whatever fails, the token never shows in error text.
func TestTokenNeverInErrors(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(o *Options) { o.Retries = 1; o.RequestTimeout = 200 * time.Millisecond })
	secret := strings.TrimPrefix(testToken, "vercel_blob_rw_teststore123_")
	var errs []error
	collect := func(err error) {
		if err == nil {
			t.Error("expected a failure")
			return
		}
		errs = append(errs, err)
	}
	// A server that echoes the token back in its message.
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Times: 2, Status: 400, Code: CodeBadRequest, Message: "bad token " + testToken})
	collect(f.b.WriteAll(ctx, archiveKey, []byte("x"), nil))
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindHead, Times: 2, Status: 502, RawBody: "proxy saw Bearer " + testToken})
	_, err := f.b.Attributes(ctx, archiveKey)
	collect(err)
	// Unlimited: Go's transport may itself retry a dropped idempotent GET.
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindList, Drop: vercelblobtest.DropRequest})
	_, _, err = f.b.ListPage(ctx, blob.FirstPageToken, 5, nil)
	collect(err)
	f.srv.ClearFaults()
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindHead, Delay: time.Second})
	_, err = f.b.Attributes(ctx, archiveKey)
	collect(err)
	f.srv.ClearFaults()
	_, err = f.b.NewReader(ctx, "missing", nil)
	collect(err)
	wrong, _ := OpenBucket(ctx, &Options{Token: wrongSecretTok, APIURL: f.srv.APIURL, HTTPClient: f.srv.Client()})
	_, err = wrong.Attributes(ctx, archiveKey)
	collect(err)
	_, err = OpenBucket(ctx, &Options{Token: "vercel_blob_rw_" + secret})
	collect(err)
	_, err = OpenBucket(ctx, &Options{Token: testToken + " junk"})
	collect(err)
	for _, err := range errs {
		for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if strings.Contains(text, secret) {
				t.Errorf("error text reveals the token: %s", text)
			}
		}
		var e *Error
		if errors.As(err, &e) && e.Response() != nil && e.Response().Request != nil {
			t.Errorf("exposed response keeps its request: %v", err)
		}
	}
}

func TestResumeTruncatedDownload(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	data := testkit.RandomBytes(t, 100_000)
	if err := f.b.WriteAll(ctx, archiveKey, data, nil); err != nil {
		t.Fatal(err)
	}
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, Times: 2, Truncate: true})
	got, err := f.b.ReadAll(ctx, archiveKey)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}
	// A range read resumes within its range.
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, Times: 1, Truncate: true})
	r, err := f.b.NewRangeReader(ctx, archiveKey, 1000, 50_000, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data[1000:51_000]) {
		t.Fatalf("range read %d bytes, err %v", len(got), err)
	}
	// Always truncated: bounded resumes, then an error.
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, Truncate: true})
	if _, err := f.b.ReadAll(ctx, archiveKey); err == nil {
		t.Fatal("read of an always-truncated download succeeded")
	}
}

// The driver cannot detect flipped bytes (Vercel offers no checksum); the
// archive format's own checksums must. This pins that limit down.
func TestCorruptDownloadIsNotDetectedByDriver(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	data := testkit.RandomBytes(t, 1000)
	if err := f.b.WriteAll(ctx, archiveKey, data, nil); err != nil {
		t.Fatal(err)
	}
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, Times: 1, Corrupt: true})
	got, err := f.b.ReadAll(ctx, archiveKey)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, data) {
		t.Fatal("the fault did not corrupt anything")
	}
}

func TestSidecarsHiddenAndStale(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Sidecars = true })
	ctx := context.Background()
	md := &blob.WriterOptions{Metadata: map[string]string{"sha256": "abc"}, ContentEncoding: "gzip"}
	for i := range 7 {
		if err := f.b.WriteAll(ctx, fmt.Sprintf("a%d", i), []byte("x"), md); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.b.WriteAll(ctx, "z", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if n := len(f.srv.Pathnames()); n != 15 {
		t.Fatalf("%d stored pathnames, want 8 objects + 7 sidecars", n)
	}
	for _, ps := range []int{1, 2, 3, 100} {
		for _, delim := range []string{"", "/"} {
			var keys []string
			tok := blob.FirstPageToken
			for {
				objs, next, err := f.b.ListPage(ctx, tok, ps, &blob.ListOptions{Delimiter: delim})
				if err != nil {
					t.Fatal(err)
				}
				if len(objs) > ps {
					t.Fatalf("page of %d > %d", len(objs), ps)
				}
				for _, o := range objs {
					keys = append(keys, o.Key)
				}
				if next == nil {
					break
				}
				tok = next
			}
			if got := strings.Join(keys, ","); got != "a0,a1,a2,a3,a4,a5,a6,z" {
				t.Errorf("page size %d delim %q: listed %s", ps, delim, got)
			}
		}
	}
	a, err := f.b.Attributes(ctx, "a0")
	if err != nil || a.Metadata["sha256"] != "abc" || a.ContentEncoding != "gzip" {
		t.Fatalf("attributes %+v, %v", a, err)
	}
	// Same bytes again, no attributes: the sidecar must not apply.
	if err := f.b.WriteAll(ctx, "a0", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	a, err = f.b.Attributes(ctx, "a0")
	if err != nil || a.Metadata != nil || a.ContentEncoding != "" {
		t.Fatalf("stale sidecar applied: %+v, %v", a, err)
	}
	if err := f.b.Delete(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	for _, p := range f.srv.Pathnames() {
		if strings.HasSuffix(p, "/a1") {
			t.Errorf("sidecar %q outlived its object", p)
		}
	}
}

func TestSidecarsDisabled(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Sidecars = false })
	ctx := context.Background()
	err := f.b.WriteAll(ctx, archiveKey, []byte("x"), &blob.WriterOptions{Metadata: map[string]string{"a": "b"}})
	if gcerrors.Code(err) != gcerrors.Unimplemented {
		t.Fatalf("metadata without sidecars: %v, want Unimplemented", err)
	}
	if err := f.b.WriteAll(ctx, archiveKey, []byte("x"), &blob.WriterOptions{CacheControl: "public, max-age=3600"}); err != nil {
		t.Fatalf("max-age is native: %v", err)
	}
	a, err := f.b.Attributes(ctx, archiveKey)
	if err != nil || !strings.Contains(a.CacheControl, "max-age=3600") {
		t.Fatalf("attributes %+v, %v", a, err)
	}
	if n := f.srv.Count(vercelblobtest.KindDownload); n != 0 {
		t.Errorf("attributes read a sidecar with sidecars off (%d downloads)", n)
	}
}

// Reads use one request once the content base is known.
func TestReadIsOneRequestWithKnownBase(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if err := f.b.WriteAll(ctx, archiveKey, []byte("hello"), nil); err != nil {
		t.Fatal(err)
	}
	f.srv.ResetCounts()
	got, err := f.b.ReadAll(ctx, archiveKey)
	if err != nil || string(got) != "hello" {
		t.Fatal(got, err)
	}
	if c := f.srv.Counts(); c[vercelblobtest.KindHead] != 0 || c[vercelblobtest.KindDownload] != 1 {
		t.Errorf("counts %v, want one download and no head", c)
	}
}

func TestPublicAccessDownloadsWithoutToken(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Access = "public" }, vercelblobtest.WithAccess(vercelblobtest.AccessPublic))
	ctx := context.Background()
	if err := f.b.WriteAll(ctx, archiveKey, []byte("hello"), nil); err != nil {
		t.Fatal(err)
	}
	a, err := f.b.Attributes(ctx, archiveKey)
	if err != nil {
		t.Fatal(err)
	}
	var info BlobInfo
	a.As(&info)
	resp, err := http.Get(info.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello" {
		t.Errorf("anonymous GET of a public blob: %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(info.URL, "/teststore123.public.blob.vercel-storage.com/") {
		t.Errorf("url %s", info.URL)
	}
}

func TestPrivateContentNeedsToken(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if err := f.b.WriteAll(ctx, archiveKey, []byte("hello"), nil); err != nil {
		t.Fatal(err)
	}
	a, _ := f.b.Attributes(ctx, archiveKey)
	var info BlobInfo
	a.As(&info)
	resp, err := http.Get(info.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous GET of a private blob: %d", resp.StatusCode)
	}
}

// The token goes only to hosts we trust: never to a content URL on a host
// that is neither the API's, the configured base's, nor Vercel's.
func TestTokenNotSentToForeignContentHost(t *testing.T) {
	var sawAuth atomic.Bool
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			sawAuth.Store(true)
		}
	}))
	defer foreign.Close()
	f := newFixture(t, nil)
	_, _, err := f.drv.c.download(context.Background(), "read", "x", foreign.URL+"/teststore123.private.blob.vercel-storage.com/x", "", true, nil)
	if err == nil || sawAuth.Load() {
		t.Fatalf("private download from a foreign host: err %v, token sent %v", err, sawAuth.Load())
	}
	vu, _ := url.Parse("https://abc.private.blob.vercel-storage.com/x")
	if !f.drv.c.trusted(vu) {
		t.Fatal("vercel content host not trusted")
	}
}

func TestURLOpenerAndRegistry(t *testing.T) {
	srv := vercelblobtest.NewServer(testToken)
	defer srv.Close()
	ctx := context.Background()

	t.Setenv(EnvToken, "")
	t.Setenv(EnvTokenFallback, "")
	t.Setenv(EnvAPIURL, srv.APIURL)
	_, err := backends.Open(ctx, "vercelblob://archives")
	if err == nil || !strings.Contains(err.Error(), EnvToken) || !strings.Contains(err.Error(), EnvTokenFallback) {
		t.Fatalf("missing token: %v, want an error naming both variables", err)
	}
	t.Setenv(EnvTokenFallback, "vercel_blob_rw_bad")
	_, err = backends.Open(ctx, "vercelblob://archives")
	if err == nil || strings.Contains(err.Error(), "vercel_blob_rw_bad") || !strings.Contains(err.Error(), EnvToken) {
		t.Fatalf("malformed token: %v", err)
	}
	// The service's own name wins over the SDK's.
	t.Setenv(EnvTokenFallback, otherStoreTok)
	t.Setenv(EnvToken, testToken)
	b, err := backends.Open(ctx, "vercelblob://archives?access=private")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, archiveKey, []byte("via URL"), nil); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if got, _ := srv.Object(archiveKey); string(got) != "via URL" {
		t.Errorf("stored %q", got)
	}
	for _, bad := range []string{"vercelblob://x?access=world", "vercelblob://x?token=abc", "vercelblob://x?color=red", "vercelblob://user:pw@x"} {
		if _, err := backends.Open(ctx, bad); err == nil {
			t.Errorf("%s opened", bad)
		}
	}
	var found bool
	for _, be := range backends.List() {
		if be.Scheme == Scheme {
			found = true
			if len(be.Credentials) != 4 {
				t.Errorf("credentials %v", be.Credentials)
			}
		}
	}
	if !found {
		t.Error("vercelblob not registered")
	}
}

// A resumed read must not splice two versions of a blob together.
func TestResumeRefusesChangedBlob(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if err := f.b.WriteAll(ctx, archiveKey, testkit.RandomBytes(t, 100_000), nil); err != nil {
		t.Fatal(err)
	}
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, Times: 1, Truncate: true})
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, Times: 1, Delay: 500 * time.Millisecond})
	go func() {
		time.Sleep(150 * time.Millisecond)
		_ = f.b.WriteAll(ctx, archiveKey, testkit.RandomBytes(t, 100_000), nil)
	}()
	_, err := f.b.ReadAll(ctx, archiveKey)
	if gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("read across an overwrite: %v, want FailedPrecondition", err)
	}
}

func TestDownloadHeaderTimeout(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.RequestTimeout = 100 * time.Millisecond; o.Retries = 1 })
	ctx := context.Background()
	if err := f.b.WriteAll(ctx, archiveKey, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, Delay: time.Second})
	_, err := f.b.NewReader(ctx, archiveKey, nil)
	if gcerrors.Code(err) != gcerrors.DeadlineExceeded {
		t.Fatalf("slow content host: %v, want DeadlineExceeded", err)
	}
	if n := f.srv.Count(vercelblobtest.KindDownload); n != 2 {
		t.Errorf("%d download attempts, want 2", n)
	}
}

func TestPutRetriedAfterDroppedRequest(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Times: 1, Drop: vercelblobtest.DropRequest})
	data := testkit.RandomBytes(t, 64<<10)
	if err := f.b.WriteAll(context.Background(), archiveKey, data, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.srv.Object(archiveKey); !bytes.Equal(got, data) {
		t.Error("content mismatch after a replayed body")
	}
	if n := f.srv.Count(vercelblobtest.KindPut); n != 2 {
		t.Errorf("%d puts, want 2", n)
	}
}

func TestLongKeys(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Sidecars = true })
	ctx := context.Background()
	long := strings.Repeat("k", 940)
	if err := f.b.WriteAll(ctx, long, []byte("x"), nil); err != nil {
		t.Fatalf("940-byte key: %v", err)
	}
	err := f.b.WriteAll(ctx, long, []byte("x"), &blob.WriterOptions{Metadata: map[string]string{"a": "b"}})
	if gcerrors.Code(err) != gcerrors.InvalidArgument {
		t.Fatalf("940-byte key with metadata: %v, want InvalidArgument", err)
	}
	if err := f.b.WriteAll(ctx, strings.Repeat("k", 951), []byte("x"), nil); gcerrors.Code(err) != gcerrors.InvalidArgument {
		t.Fatalf("951-byte key: %v, want InvalidArgument", err)
	}
	if err := f.b.WriteAll(ctx, strings.Repeat("?", 400), []byte("x"), nil); gcerrors.Code(err) != gcerrors.InvalidArgument {
		t.Fatalf("key whose escape exceeds the limit: %v, want InvalidArgument", err)
	}
	if n := f.srv.Count(vercelblobtest.KindPut); n != 1 {
		t.Errorf("%d puts, want only the first", n)
	}
}
