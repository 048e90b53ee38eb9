package vercelblob

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
)

// TestURLRetryAndTimeoutParams: retries= and request_timeout= in the bucket
// URL bound how long a failing store can hold a run up.
func TestURLRetryAndTimeoutParams(t *testing.T) {
	srv := vercelblobtest.NewServer(testToken)
	t.Cleanup(srv.Close)
	t.Setenv(EnvToken, testToken)
	t.Setenv(EnvAPIURL, srv.APIURL)

	// retries=0 means one attempt only; request_timeout cuts a hung request.
	u, _ := url.Parse("vercelblob://x?retries=0&request_timeout=150ms")
	b, err := (&URLOpener{}).OpenBucketURL(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Delay: 1500 * time.Millisecond})
	start := time.Now()
	err = b.WriteAll(t.Context(), "k", []byte("x"), nil)
	if err == nil {
		t.Fatal("a hung put succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("request_timeout=150ms with retries=0 took %v", d)
	}
	if n := srv.Count(vercelblobtest.KindPut); n != 1 {
		t.Errorf("%d put attempts with retries=0, want 1", n)
	}
	srv.ClearFaults()

	// retries=2 means three attempts in all.
	u, _ = url.Parse("vercelblob://x?retries=2")
	b2, err := (&URLOpener{}).OpenBucketURL(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	before := srv.Count(vercelblobtest.KindPut)
	srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Status: http.StatusServiceUnavailable, Code: "service_unavailable"})
	if err := b2.WriteAll(t.Context(), "k2", []byte("x"), nil); err == nil {
		t.Fatal("a put that always gets 503 succeeded")
	}
	if n := srv.Count(vercelblobtest.KindPut) - before; n != 3 {
		t.Errorf("%d put attempts with retries=2, want 3", n)
	}

	for _, bad := range []string{"retries=-1", "retries=many", "retries=101", "request_timeout=0s", "request_timeout=soon"} {
		u, _ := url.Parse("vercelblob://x?" + bad)
		if _, err := (&URLOpener{}).OpenBucketURL(t.Context(), u); err == nil || !strings.Contains(err.Error(), strings.Split(bad, "=")[0]) {
			t.Errorf("%s: err %v, want it refused by name", bad, err)
		}
	}
}
