package vercelblob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/shizuku-labs/archiver/backends"
	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

var public = vercelblobtest.WithAccess(vercelblobtest.AccessPublic)

// puts lists the status of every put the server saw.
func puts(srv *vercelblobtest.Server) []int {
	var out []int
	for _, r := range srv.Requests() {
		if r.Kind == vercelblobtest.KindPut {
			out = append(out, r.Status)
		}
	}
	return out
}

// With only the original's base URL, a public store's access is known
// before the first write: no write is refused.
func TestAccessFromBaseURL(t *testing.T) {
	srv := vercelblobtest.NewServer(testToken, public)
	defer srv.Close()
	// As a user copies it: a whole blob URL, pathname and all.
	base := srv.BlobURL("archives/2024/12/archive-2024-12-01.json.gz")
	b, err := OpenBucket(context.Background(), &Options{Token: testToken, APIURL: srv.APIURL, BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	acc, src, err := StoreAccess(context.Background(), b, true)
	if err != nil || acc != AccessPublic || src != EnvBaseURL {
		t.Fatalf("StoreAccess: %q from %q, %v; want public from %s", acc, src, err, EnvBaseURL)
	}
	if err := b.WriteAll(context.Background(), archiveKey, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if got := puts(srv); len(got) != 1 || got[0] != 200 {
		t.Errorf("put statuses %v, want one 200", got)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests for StoreAccess and one write, want 1 (the put)", n)
	}
}

// Without any hint, the first write to a public store is refused once,
// the driver turns to public, says so at info, and stays public.
func TestAccessSwitchOnRefusedWrite(t *testing.T) {
	var logs bytes.Buffer
	f := newFixture(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) }, public)
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		if err := f.b.WriteAll(ctx, k, []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := puts(f.srv); len(got) != 3 || got[0] != 400 || got[1] != 200 || got[2] != 200 {
		t.Errorf("put statuses %v, want 400 (the guess), then 200, 200", got)
	}
	if !strings.Contains(logs.String(), "level=INFO") || !strings.Contains(logs.String(), `is public: it refused a private write`) {
		t.Errorf("no info line about the switch:\n%s", logs.String())
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Errorf("%d log lines, want 1", n)
	}
	// Multipart and copy ask for the store's access too.
	if err := f.b.Copy(ctx, "c", "a", nil); err != nil {
		t.Fatal(err)
	}
}

// A multipart upload whose create is refused switches the same way.
func TestAccessSwitchOnRefusedMultipart(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.tune.multipartThreshold, o.tune.partSize, o.tune.allowSmallParts = 1024, 1024, true
	}, public)
	f.srv.SetMinPartSize(1024)
	data := testkit.RandomBytes(t, 5000)
	if err := f.b.WriteAll(context.Background(), archiveKey, data, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.srv.Object(archiveKey); !bytes.Equal(got, data) {
		t.Fatal("multipart content differs")
	}
}

// Given access that the store does not have is an error naming ?access=
// and the store's access: found from a listed blob, from a probe of an
// empty store, and from a refused write (never switched).
func TestGivenAccessContradictingStore(t *testing.T) {
	ctx := context.Background()
	check := func(t *testing.T, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "?access=private") || !strings.Contains(err.Error(), "which is public") {
			t.Fatalf("error %v, want one naming ?access=private and the store's public access", err)
		}
	}
	t.Run("listed", func(t *testing.T) {
		srv := vercelblobtest.NewServer(testToken, public)
		defer srv.Close()
		seed, _ := OpenBucket(ctx, &Options{Token: testToken, APIURL: srv.APIURL, Access: AccessPublic})
		if err := seed.WriteAll(ctx, "x", []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
		b, _ := OpenBucket(ctx, &Options{Token: testToken, APIURL: srv.APIURL, Access: AccessPrivate})
		_, _, err := StoreAccess(ctx, b, false)
		check(t, err)
		if gcerrors.Code(err) != gcerrors.Unknown { // not through blob.Bucket: a plain *Error
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeAccessMismatch {
				t.Errorf("error %T %v", err, err)
			}
		}
	})
	t.Run("probe", func(t *testing.T) {
		srv := vercelblobtest.NewServer(testToken, public)
		defer srv.Close()
		b, _ := OpenBucket(ctx, &Options{Token: testToken, APIURL: srv.APIURL, Access: AccessPrivate})
		_, _, err := StoreAccess(ctx, b, true)
		check(t, err)
		if p := srv.Pathnames(); len(p) != 0 {
			t.Errorf("the probe left %v", p)
		}
	})
	t.Run("write", func(t *testing.T) {
		srv := vercelblobtest.NewServer(testToken, public)
		defer srv.Close()
		b, _ := OpenBucket(ctx, &Options{Token: testToken, APIURL: srv.APIURL, Access: AccessPrivate})
		err := b.WriteAll(ctx, "x", []byte("x"), nil)
		check(t, err)
		if gcerrors.Code(err) != gcerrors.FailedPrecondition {
			t.Errorf("code %v, want FailedPrecondition", gcerrors.Code(err))
		}
		if got := puts(srv); len(got) != 1 {
			t.Errorf("puts %v: a given access must not be switched", got)
		}
	})
}

// An empty store: a dry run (no probe) leaves the access unknown and sends
// no write; the probe learns it and leaves nothing behind.
func TestStoreAccessOfEmptyStore(t *testing.T) {
	ctx := context.Background()
	for _, access := range []string{AccessPublic, AccessPrivate} {
		srv := vercelblobtest.NewServer(testToken, vercelblobtest.WithAccess(access))
		b, _ := OpenBucket(ctx, &Options{Token: testToken, APIURL: srv.APIURL})
		acc, _, err := StoreAccess(ctx, b, false)
		if err != nil || acc != "" {
			t.Errorf("%s store, no probe: %q, %v; want unknown", access, acc, err)
		}
		if c := srv.Counts(); c[vercelblobtest.KindPut]+c[vercelblobtest.KindDelete] != 0 {
			t.Errorf("%s store: a check without probe wrote: %v", access, c)
		}
		acc, src, err := StoreAccess(ctx, b, true)
		if err != nil || acc != access || src != "a probe write" {
			t.Errorf("%s store, probe: %q from %q, %v", access, acc, src, err)
		}
		if p := srv.Pathnames(); len(p) != 0 {
			t.Errorf("%s store: the probe left %v", access, p)
		}
		// Known now: the first write is not refused.
		srv.ResetCounts()
		if err := b.WriteAll(ctx, "x", []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
		if got := puts(srv); len(got) != 1 {
			t.Errorf("%s store: puts after the probe %v", access, got)
		}
		srv.Close()
	}
}

// A base URL of another store is refused at open, as a configuration
// error; so is a base URL whose access contradicts ?access=.
func TestBaseURLMustBeTheTokensStore(t *testing.T) {
	srv := vercelblobtest.NewServer(otherStoreTok, public)
	defer srv.Close()
	_, err := OpenBucket(context.Background(), &Options{Token: testToken, BaseURL: srv.ContentBase()})
	var e *Error
	if !errors.As(err, &e) || !e.ConfigError() || !strings.Contains(err.Error(), EnvBaseURL) ||
		!strings.Contains(err.Error(), `"otherstore456"`) || !strings.Contains(err.Error(), `"teststore123"`) {
		t.Fatalf("base URL of another store: %v", err)
	}
	_, err = OpenBucket(context.Background(), &Options{Token: testToken, BaseURL: "https://TESTSTORE123.public.blob.vercel-storage.com", Access: AccessPrivate})
	if !errors.As(err, &e) || !e.ConfigError() || !strings.Contains(err.Error(), "?access=private") || !strings.Contains(err.Error(), "public store") {
		t.Fatalf("base URL contradicting ?access=: %v", err)
	}
	// The id's case does not matter: real URLs spell it in lower case.
	if _, err := OpenBucket(context.Background(), &Options{Token: testToken, BaseURL: "https://teststore123.public.blob.vercel-storage.com/"}); err != nil {
		t.Fatal(err)
	}
}

// A public store's CDN may answer a plain GET of an overwritten blob with
// the old bytes; the driver's reads never see them.
func TestReadsBypassStaleCDN(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Access = AccessPublic }, public, vercelblobtest.WithStaleReads())
	ctx := context.Background()
	if err := f.b.WriteAll(ctx, archiveKey, []byte("old"), nil); err != nil {
		t.Fatal(err)
	}
	anon := func() string {
		resp, err := http.Get(f.srv.BlobURL(archiveKey))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got, err := f.b.ReadAll(ctx, archiveKey); err != nil || string(got) != "old" {
		t.Fatal(got, err)
	}
	anon() // a reader of the public URL fills the CDN
	if err := f.b.WriteAll(ctx, archiveKey, []byte("new"), nil); err != nil {
		t.Fatal(err)
	}
	if got := anon(); got != "old" {
		t.Fatalf("the CDN model is off: anonymous read %q after the overwrite", got)
	}
	for range 3 {
		if got, err := f.b.ReadAll(ctx, archiveKey); err != nil || string(got) != "new" {
			t.Fatalf("driver read %q, %v after the overwrite; want new", got, err)
		}
	}
	stale := 0
	for _, r := range f.srv.Requests() {
		if r.Stale {
			stale++
		}
	}
	if stale != 1 { // the anonymous read above
		t.Errorf("%d stale answers, want only the anonymous one", stale)
	}
}

// Importing the package registers the scheme on gocloud's default mux,
// and the archiver's registry opens through it, keeping the error chain.
func TestGocloudURLMux(t *testing.T) {
	srv := vercelblobtest.NewServer(testToken)
	defer srv.Close()
	t.Setenv(EnvToken, testToken)
	t.Setenv(EnvTokenFallback, "")
	t.Setenv(EnvAPIURL, srv.APIURL)
	t.Setenv(EnvBaseURL, "")
	ctx := context.Background()
	b, err := blob.OpenBucket(ctx, "vercelblob://archives?prefix=sub/")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, "k", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if p := srv.Pathnames(); len(p) != 1 || p[0] != "sub/k" {
		t.Errorf("pathnames %v, want [sub/k] (gocloud's ?prefix=)", p)
	}
	t.Setenv(EnvBaseURL, "https://otherstore.public.blob.vercel-storage.com")
	_, err = backends.Open(ctx, "vercelblob://archives")
	var e *Error
	if !errors.As(err, &e) || !backends.IsConfigError(err) {
		t.Fatalf("backends.Open lost the chain: %T %v", err, err)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("token in %v", err)
	}
}

// Deleting a blob whose ETag the bucket knows is one conditional request;
// a blob changed or deleted by someone else since is still handled as
// gocloud wants (deleted, or NotFound).
func TestDeleteOfKnownBlobIsOneRequest(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if err := f.b.WriteAll(ctx, k, []byte(k), nil); err != nil {
			t.Fatal(err)
		}
	}
	f.srv.ResetCounts()
	if err := f.b.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if c := f.srv.Counts(); c[vercelblobtest.KindDelete] != 1 || c[vercelblobtest.KindHead] != 0 {
		t.Errorf("delete of a blob just written: %v, want one delete and no head", c)
	}
	// Someone else overwrites b and deletes c behind the bucket's back.
	other, _ := OpenBucket(ctx, &Options{Token: testToken, APIURL: f.srv.APIURL})
	if err := other.WriteAll(ctx, "b", []byte("changed"), nil); err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if err := f.b.Delete(ctx, "b"); err != nil {
		t.Fatalf("delete of a blob changed since: %v", err)
	}
	if _, ok := f.srv.Object("b"); ok {
		t.Error("b is still there")
	}
	if err := f.b.Delete(ctx, "c"); gcerrors.Code(err) != gcerrors.NotFound {
		t.Errorf("delete of a blob deleted since: %v, want NotFound", err)
	}
}
