package vercelblob

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/blob/drivertest"

	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
)

const (
	testToken      = "vercel_blob_rw_teststore123_s3cr3tT0kenValue"
	otherStoreTok  = "vercel_blob_rw_otherstore456_s3cr3tT0kenValue"
	wrongSecretTok = "vercel_blob_rw_teststore123_wrongSecretValue"
)

// harness gives every conformance subtest a fresh fake server.
type harness struct {
	srv    *vercelblobtest.Server
	apiURL string
	tune   func(*Options)
}

func (h *harness) options(token string) *Options {
	o := &Options{
		Token:          token,
		APIURL:         h.apiURL,
		HTTPClient:     h.srv.Client(),
		RequestTimeout: 10 * time.Second,
		// drivertest checks attributes Vercel Blob cannot store itself.
		Sidecars: true,
	}
	o.tune.retryBaseDelay, o.tune.retryMaxDelay = time.Millisecond, 10*time.Millisecond
	if h.tune != nil {
		h.tune(o)
	}
	return o
}

func (h *harness) MakeDriver(ctx context.Context) (driver.Bucket, error) {
	return openBucket(h.options(testToken))
}

// A token of another store is what a nonexistent bucket looks like here.
func (h *harness) MakeDriverForNonexistentBucket(ctx context.Context) (driver.Bucket, error) {
	return openBucket(h.options(otherStoreTok))
}

func (h *harness) HTTPClient() *http.Client         { return h.srv.Client() }
func (h *harness) SupportsCopy() bool               { return true }
func (h *harness) SupportsNonSlashDelimiters() bool { return false }
func (h *harness) SkipDownloadAt() bool             { return false }
func (h *harness) Close()                           { h.srv.Close() }

func harnessMaker(mountAPI bool, tune func(*Options), minPart int64) drivertest.HarnessMaker {
	return func(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
		srv := vercelblobtest.NewServer(testToken)
		if minPart > 0 {
			srv.SetMinPartSize(minPart)
		}
		api := srv.URL
		if mountAPI {
			api = srv.APIURL
		}
		return &harness{srv: srv, apiURL: api, tune: tune}, nil
	}
}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, harnessMaker(true, nil, 0), []drivertest.AsTest{asTest{}})
}

// The API mounted at the server root, as a custom VERCEL_BLOB_API_URL may be.
func TestConformanceRootAPI(t *testing.T) {
	drivertest.RunConformanceTests(t, harnessMaker(false, nil, 0), []drivertest.AsTest{asTest{}})
}

// Every write larger than 1 KiB goes through the multipart API.
func TestConformanceMultipart(t *testing.T) {
	tune := func(o *Options) {
		o.tune.multipartThreshold, o.tune.partSize, o.tune.partConcurrency, o.tune.allowSmallParts = 1024, 1024, 3, true
	}
	drivertest.RunConformanceTests(t, harnessMaker(true, tune, 1024), []drivertest.AsTest{asTest{}})
}

// withoutSidecars are the conformance subtests that write attributes Vercel
// Blob cannot store (metadata, content encoding, language, disposition,
// free-form cache control). Without sidecars the driver refuses those
// writes with Unimplemented (TestSidecarsDisabled checks that), so the
// subtests cannot pass; they are skipped by name, and only in that run.
var withoutSidecars = map[string]string{
	"TestAttributes":                                "writes ContentEncoding, ContentLanguage, ContentDisposition, CacheControl",
	"TestMetadata/valid_metadata":                   "writes metadata",
	"TestMetadata/valid_metadata_with_empty_body":   "writes metadata",
	"TestMetadata/valid_metadata_with_content_type": "writes metadata",
	"TestMetadata/weird_metadata_keys":              "writes metadata",
	"TestCopy/Works":                                "writes metadata and checks it is copied",
	"TestCopy/DoesNotAliasAttributes":               "writes metadata and checks it is copied",
}

// The driver as a default user has it: no sidecars, every other behaviour
// of the suite intact.
func TestConformanceWithoutSidecars(t *testing.T) {
	maker := harnessMaker(true, func(o *Options) { o.Sidecars = false }, 0)
	drivertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
		_, sub, _ := strings.Cut(t.Name(), "/")
		for name, why := range withoutSidecars {
			if sub == name || strings.HasPrefix(sub, name+"/") {
				t.Skipf("Vercel Blob cannot store this without sidecars: the subtest %s", why)
			}
		}
		return maker(ctx, t)
	}, []drivertest.AsTest{asTest{}})
}

type asTest struct{}

func (asTest) Name() string { return "vercelblob" }

func (asTest) BucketCheck(b *blob.Bucket) error {
	var hc *http.Client
	if !b.As(&hc) || hc == nil {
		return errors.New("Bucket.As(**http.Client) failed")
	}
	return nil
}

func (asTest) ErrorCheck(b *blob.Bucket, err error) error {
	var e *Error
	if !b.ErrorAs(err, &e) {
		return fmt.Errorf("ErrorAs(**Error) failed for %v", err)
	}
	if e.Code != CodeNotFound {
		return fmt.Errorf("got code %q, want not_found", e.Code)
	}
	var resp *http.Response
	if !b.ErrorAs(err, &resp) || resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("ErrorAs(**http.Response) failed or wrong status for %v", err)
	}
	if resp.Request != nil {
		return errors.New("the exposed response still carries its request (and the token)")
	}
	return nil
}

func checkRequestOptions(as func(any) bool) error {
	var ro *RequestOptions
	if !as(&ro) || ro == nil {
		return errors.New("As(**RequestOptions) failed")
	}
	return nil
}

func (asTest) BeforeRead(as func(any) bool) error   { return checkRequestOptions(as) }
func (asTest) BeforeWrite(as func(any) bool) error  { return checkRequestOptions(as) }
func (asTest) BeforeCopy(as func(any) bool) error   { return checkRequestOptions(as) }
func (asTest) BeforeDelete(as func(any) bool) error { return checkRequestOptions(as) }
func (asTest) BeforeList(as func(any) bool) error   { return checkRequestOptions(as) }
func (asTest) BeforeSign(as func(any) bool) error   { return nil }

func (asTest) AttributesCheck(attrs *blob.Attributes) error {
	var info BlobInfo
	if !attrs.As(&info) || info.Pathname == "" || info.URL == "" {
		return fmt.Errorf("Attributes.As(*BlobInfo) failed: %+v", info)
	}
	return nil
}

func (asTest) ReaderCheck(r *blob.Reader) error {
	var resp *http.Response
	if !r.As(&resp) || resp == nil || resp.Request != nil {
		return errors.New("Reader.As(**http.Response) failed")
	}
	return nil
}

func (asTest) ListObjectCheck(o *blob.ListObject) error {
	var info BlobInfo
	if o.IsDir {
		if o.As(&info) {
			return errors.New("a directory entry should not expose a BlobInfo")
		}
		return nil
	}
	if !o.As(&info) || info.Pathname == "" {
		return errors.New("ListObject.As(*BlobInfo) failed")
	}
	return nil
}
