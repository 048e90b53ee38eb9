// Package storetest gives tests of every command a store whose reads can be
// made to stall: the project's Vercel Blob test server behind a client that
// would wait an hour for an answer, so that only the archiver's own read-stall
// guard (archivestore) can end a stalled read. Imported only by tests.
package storetest

import (
	"net/url"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/shizuku-labs/archiver/backends/vercelblob"
	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
)

const token = "vercel_blob_rw_stallstore_s3cr3t"

// Stalling is a bucket on a Vercel Blob test server, and the server.
type Stalling struct {
	Bucket *blob.Bucket
	Server *vercelblobtest.Server
}

// NewStalling starts the server and opens the bucket (no retries, a
// one-hour request timeout). It sets the Vercel environment variables
// for the test.
func NewStalling(t *testing.T) *Stalling {
	t.Helper()
	srv := vercelblobtest.NewServer(token)
	t.Cleanup(srv.Close)
	t.Setenv(vercelblob.EnvToken, token)
	t.Setenv(vercelblob.EnvAPIURL, srv.APIURL)
	u, _ := url.Parse("vercelblob://x?retries=0&request_timeout=1h")
	b, err := (&vercelblob.URLOpener{}).OpenBucketURL(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &Stalling{Bucket: b, Server: srv}
}

// StallDownloads holds every download from now on for a minute, far past
// any stall timeout a test sets.
func (s *Stalling) StallDownloads() {
	s.Server.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, Delay: time.Minute})
}
