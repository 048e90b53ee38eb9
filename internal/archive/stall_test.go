package archive

import (
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/backends/vercelblob"
	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
)

const stallToken = "vercel_blob_rw_stallstore_s3cr3t"

// TestReadStallIsAbandoned: a store that stops answering mid-read (here, a
// client with a one-hour request timeout and a store that holds every
// download) fails the read after the stall timeout instead of hanging the
// run; a healthy read under the guard is unaffected.
func TestReadStallIsAbandoned(t *testing.T) {
	srv := vercelblobtest.NewServer(stallToken)
	t.Cleanup(srv.Close)
	t.Setenv(vercelblob.EnvToken, stallToken)
	t.Setenv(vercelblob.EnvAPIURL, srv.APIURL)
	u, _ := url.Parse("vercelblob://x?retries=0&request_timeout=1h")
	b, err := (&vercelblob.URLOpener{}).OpenBucketURL(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(t.Context(), "k", []byte("hello"), nil); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Bucket: b, Opts: Options{ReadStallTimeout: 300 * time.Millisecond}}

	rd, err := r.openRead(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rd)
	rd.Close()
	if err != nil || string(data) != "hello" {
		t.Fatalf("healthy read: %q, %v", data, err)
	}

	srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, Delay: time.Minute})
	start := time.Now()
	rd, err = r.openRead(t.Context(), "k")
	if err == nil {
		_, err = io.ReadAll(rd)
		rd.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "storage stalled") {
		t.Fatalf("stalled read: %v, want a stall error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a 300ms stall timeout took %v to fire", d)
	}
}
