package cloud_test

import (
	"net/url"
	"slices"
	"testing"

	"gocloud.dev/blob"

	"github.com/shizuku-labs/archiver/backends"
	"github.com/shizuku-labs/archiver/backends/backendtest"
	_ "github.com/shizuku-labs/archiver/backends/cloud"
)

// viaRegistry opens bucketURL the way the service does, so the suite also
// proves that the scheme is registered and its URL options are understood.
func viaRegistry(bucketURL string) backendtest.Opener {
	return func(t *testing.T) (*blob.Bucket, string) {
		t.Helper()
		b, err := backends.Open(t.Context(), bucketURL)
		if err != nil {
			t.Fatalf("backends.Open(%s): %v", backends.Redact(bucketURL), err)
		}
		return b, backends.Redact(bucketURL)
	}
}

func TestMem(t *testing.T) {
	// Each mem:// open is a new, empty bucket; the suite only needs one per
	// subtest.
	backendtest.Run(t, viaRegistry("mem://"))
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	backendtest.Run(t, viaRegistry((&url.URL{Scheme: "file", Path: dir}).String()))
}

func TestFileWithPrefix(t *testing.T) {
	dir := t.TempDir()
	backendtest.Run(t, viaRegistry((&url.URL{Scheme: "file", Path: dir, RawQuery: "prefix=tenant-a/"}).String()))
}

func TestS3(t *testing.T) {
	backendtest.Run(t, viaRegistry(backendtest.StartS3(t)))
}

func TestGCS(t *testing.T) {
	backendtest.Run(t, viaRegistry(backendtest.StartGCS(t)))
}

func TestAzureBlob(t *testing.T) {
	backendtest.Run(t, viaRegistry(backendtest.StartAzurite(t)))
}

func TestRegisteredSchemes(t *testing.T) {
	for _, s := range []string{"azblob", "file", "gs", "mem", "s3"} {
		if !slices.Contains(backends.Schemes(), s) {
			t.Errorf("scheme %s not registered (have %v)", s, backends.Schemes())
		}
	}
	for _, b := range backends.List() {
		if b.Description == "" || b.Example == "" {
			t.Errorf("%s: Description and Example are shown to users and must be set", b.Scheme)
		}
		u, err := backends.Parse(b.Example)
		if err != nil || u.Scheme != b.Scheme {
			t.Errorf("%s: example %q does not parse to its own scheme: %v", b.Scheme, b.Example, err)
		}
		if b.Scheme != "file" && b.Scheme != "mem" && len(b.Credentials) == 0 {
			t.Errorf("%s: a cloud backend must list the credential variables it reads", b.Scheme)
		}
	}
}
