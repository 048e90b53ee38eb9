package cloud_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/shizuku-labs/archiver/backends"
	"github.com/shizuku-labs/archiver/backends/backendtest"
)

// TestGCSRetriesAreBounded: the GCS client retries a conditional upload
// (how every new day is written) for as long as the store fails, unless told
// otherwise; a store answering 503 forever must fail the write after the
// configured retries, not hang the run.
func TestGCSRetriesAreBounded(t *testing.T) {
	bucketURL := backendtest.StartGCS(t)
	target, err := url.Parse("http://" + os.Getenv("STORAGE_EMULATOR_HOST"))
	if err != nil {
		t.Fatal(err)
	}
	var uploads, failFirst atomic.Int64
	failFirst.Store(1 << 30)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/upload/") && uploads.Add(1) <= failFirst.Load() {
			http.Error(w, "injected", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(proxy.URL, "http://"))

	b, err := backends.Open(t.Context(), bucketURL+"?retries=1")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	start := time.Now()
	err = b.WriteAll(t.Context(), "k", []byte("x"), &blob.WriterOptions{IfNotExist: true})
	if err == nil {
		t.Fatal("an upload that always gets 503 succeeded")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("retries=1 took %v", d)
	}
	if n := uploads.Load(); n != 2 {
		t.Errorf("%d upload attempts with retries=1, want 2", n)
	}

	// A single failure is still retried, with the default budget.
	uploads.Store(0)
	failFirst.Store(1)
	b2, err := backends.Open(t.Context(), bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if err := b2.WriteAll(t.Context(), "k2", []byte("x"), &blob.WriterOptions{IfNotExist: true}); err != nil {
		t.Fatalf("one 503 was not retried: %v", err)
	}
	if n := uploads.Load(); n != 2 {
		t.Errorf("%d upload attempts for one 503, want 2", n)
	}

	for _, bad := range []string{"retries=-1", "retries=x", "retries=101"} {
		if _, err := backends.Open(t.Context(), bucketURL+"?"+bad); err == nil || !strings.Contains(err.Error(), "retries") {
			t.Errorf("%s: %v, want it refused", bad, err)
		}
	}
}
