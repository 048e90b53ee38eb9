// Package cloud registers gocloud.dev's own bucket drivers with the backends
// registry: file, mem, s3, gs and azblob. Import it for its side effect.
//
// All five go through one private blob.URLMux, so every scheme accepts
// gocloud's generic URL options: ?prefix=dir/ confines the archiver to a
// "directory" of a shared bucket.
//
// The cloud schemes use the URL openers that gocloud registers on
// blob.DefaultURLMux rather than a hand-built client. Those openers already
// know how to find credentials (the cloud SDKs' default chains) and emulators,
// and build a fresh driver per URL. Note what that implies: gocloud's gs and
// azblob openers read their environment once, on the first Open of that
// scheme in the process, and reuse it afterwards.
package cloud

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"cloud.google.com/go/storage"

	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/blob/s3blob"

	"github.com/shizuku-labs/archiver/backends"
)

// mux applies gocloud's generic URL options (prefix, key) before handing the
// URL to the scheme's opener.
var mux = new(blob.URLMux)

// muxOpener is how a scheme's Backend reaches mux.
type muxOpener struct{}

func (muxOpener) OpenBucketURL(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	return mux.OpenBucketURL(ctx, u)
}

// defaultOpener reaches the opener that gocloud's driver package registered
// on blob.DefaultURLMux; those openers are unexported. The generic options
// have been stripped by mux already, so they are not applied twice.
type defaultOpener struct{}

func (defaultOpener) OpenBucketURL(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	return blob.DefaultURLMux().OpenBucketURL(ctx, u)
}

// DefaultGCSRetries is how many times a failing GCS request is retried
// after the first attempt, unless the URL says retries=N.
const DefaultGCSRetries = 5

// gcsOpener opens gs:// URLs with gocloud's opener, then bounds the storage
// client's retries. Left alone, the client retries an idempotent request (a
// conditional upload, which is how every new day is written) for as long as
// the store keeps failing: a store answering 503 forever would hang the run,
// and the hung run would hold its days' locks so that every later run skips
// them. Uploads ignore the client's attempt limit, so a retry budget bounds
// them: at most `retries` retried failures per minute across the bucket's
// requests; past that, failures are returned at once (the day fails, keeps
// its rows, and the next run retries it).
type gcsOpener struct{}

func (gcsOpener) OpenBucketURL(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	retries := DefaultGCSRetries
	if q := u.Query(); q.Has("retries") {
		n, err := strconv.Atoi(q.Get("retries"))
		if err != nil || n < 0 || n > 100 {
			return nil, fmt.Errorf("invalid retries=%q: want a whole number from 0 to 100", q.Get("retries"))
		}
		retries = n
		q.Del("retries")
		cp := *u
		cp.RawQuery = q.Encode()
		u = &cp
	}
	b, err := blob.DefaultURLMux().OpenBucketURL(ctx, u)
	if err != nil {
		return nil, err
	}
	var c *storage.Client
	if !b.As(&c) {
		b.Close()
		return nil, fmt.Errorf("gs bucket does not expose its storage client; cannot bound its retries")
	}
	c.SetRetry(storage.WithMaxAttempts(retries+1), storage.WithErrorFunc(retryBudget(retries, time.Minute)))
	return b, nil
}

// retryBudget allows a retry of a retryable error only while fewer than n
// retries were allowed in the last window.
func retryBudget(n int, window time.Duration) func(error) bool {
	var mu sync.Mutex
	var recent []time.Time
	return func(err error) bool {
		if !storage.ShouldRetry(err) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		kept := recent[:0]
		for _, t := range recent {
			if now.Sub(t) < window {
				kept = append(kept, t)
			}
		}
		recent = kept
		if len(recent) >= n {
			return false
		}
		recent = append(recent, now)
		return true
	}
}

func register(scheme string, opener blob.BucketURLOpener, b backends.Backend) {
	mux.RegisterBucket(scheme, opener)
	b.Scheme = scheme
	b.Opener = muxOpener{}
	backends.Register(b)
}

func init() {
	register(fileblob.Scheme, fileOpener{}, backends.Backend{
		Description: "a local or mounted directory",
		Example:     "file:///var/lib/archiver/archives",
		Identity:    fileIdentity,
		Warnings:    fileWarnings,
	})
	register(memblob.Scheme, &memblob.URLOpener{}, backends.Backend{
		Description: "process memory; for tests through the Go API only, lost on exit",
		Example:     "mem://",
		Ephemeral:   true,
	})
	register(s3blob.Scheme, defaultOpener{}, backends.Backend{
		Description: "Amazon S3 or an S3-compatible store (MinIO, Ceph, R2, ...: add endpoint=, use_path_style=true)",
		Example:     "s3://my-archive-bucket?region=eu-central-1&prefix=archiver/",
		// The AWS SDK's default chain: these variables, then the shared
		// config and credentials files, then container/instance roles.
		Credentials: []string{
			"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
			"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE",
			"AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
			"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
			"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
		},
		Identity: s3Identity,
	})
	register(gcsblob.Scheme, gcsOpener{}, backends.Backend{
		Description: "Google Cloud Storage",
		Example:     "gs://my-archive-bucket?prefix=archiver/",
		// retries=N (default 5) bounds the client's retries of a failing
		// request; see gcsOpener.
		// Application Default Credentials; STORAGE_EMULATOR_HOST (host:port,
		// no scheme) switches to an unauthenticated emulator such as
		// fake-gcs-server.
		Credentials: []string{"GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST"},
		Identity:    gcsIdentity,
	})
	register(azureblob.Scheme, defaultOpener{}, backends.Backend{
		Description: "Azure Blob Storage (the URL host is the container)",
		Example:     "azblob://my-archive-container?prefix=archiver/",
		// Shared key (ACCOUNT+KEY) wins, then a SAS token, then a connection
		// string, then azidentity's default chain (AZURE_CLIENT_ID, ...).
		// DOMAIN/PROTOCOL/IS_LOCAL_EMULATOR (or the URL's domain=,
		// protocol=, localemu=) point it at Azurite.
		Credentials: []string{
			"AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN",
			"AZURE_STORAGE_CONNECTION_STRING",
			"AZURE_STORAGE_DOMAIN", "AZURE_STORAGE_PROTOCOL", "AZURE_STORAGE_IS_LOCAL_EMULATOR",
			"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
		},
		Identity: azureIdentity,
	})
}
