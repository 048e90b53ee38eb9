// Package vercelblob is a gocloud.dev blob driver for Vercel Blob, speaking
// the REST API that the official @vercel/blob SDK (2.8.0) uses.
//
// Open it through the backends registry with a URL of the form
//
//	vercelblob://[label]?access=private|public
//
// Two more parameters bound how long a failing store can hold a run up (tests
// use them to fail fast): retries=N (retries after the first attempt, 0 for
// none; default 5) and request_timeout=D (each attempt, e.g. 30s; default 2m).
//
// The host part is a free label; the store is the one the token belongs to.
// Credentials never go in the URL: the token comes from VERCEL_BLOB_RW_TOKEN
// or, failing that, BLOB_READ_WRITE_TOKEN; VERCEL_BLOB_API_URL and
// VERCEL_BLOB_BASE_URL override the API and content endpoints.
//
// Access defaults to private. Public blobs are readable by anyone who has or
// guesses their URL and are cached by Vercel's CDN; our archives hold sensor
// data, so public must be asked for explicitly.
//
// Mapping to gocloud:
//   - Keys are escaped reversibly into pathnames (see escape.go); ordinary
//     keys are stored unchanged.
//   - Writes overwrite (x-allow-overwrite: 1) unless WriterOptions.IfNotExist
//     is set, which maps to the service's refusal to overwrite and yields
//     gcerrors.FailedPrecondition. Objects larger than MultipartThreshold are
//     streamed with the multipart API. Nothing is visible before Close.
//   - Vercel Blob stores only a content type and a max-age. CacheControl,
//     ContentDisposition, ContentEncoding, ContentLanguage and Metadata are
//     kept in a small JSON sidecar blob under ".vercelblob-attrs/", which List
//     never shows. The sidecar is tied to the object's ETag and upload time,
//     so a later overwrite without attributes makes it stale, not wrong. The
//     CDN does not apply sidecar values when serving content.
//   - SignedURL is Unimplemented.
package vercelblob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"

	"github.com/shizuku-labs/archiver/backends"
)

// Scheme is the URL scheme vercelblob registers with the backends registry.
const Scheme = "vercelblob"

// Environment variables read when Options leave a value unset.
const (
	EnvToken         = "VERCEL_BLOB_RW_TOKEN"  // the original service's name, preferred
	EnvTokenFallback = "BLOB_READ_WRITE_TOKEN" // the SDK's name
	EnvAPIURL        = "VERCEL_BLOB_API_URL"
	EnvBaseURL       = "VERCEL_BLOB_BASE_URL"
)

// DefaultAPIURL is the API base of @vercel/blob 2.8.0.
const DefaultAPIURL = "https://vercel.com/api/blob"

// Defaults for Options.
const (
	DefaultMultipartThreshold = 8 << 20
	DefaultPartSize           = 8 << 20
	MinPartSize               = 5 << 20 // service minimum for all parts but the last
	DefaultPartConcurrency    = 4
	DefaultRetries            = 5
	DefaultMaxRetryElapsed    = 2 * time.Minute
	DefaultRequestTimeout     = 2 * time.Minute
	DefaultRetryBaseDelay     = 250 * time.Millisecond
	DefaultRetryMaxDelay      = 15 * time.Second
)

func init() {
	backends.Register(backends.Backend{
		Scheme:      Scheme,
		Description: "Vercel Blob store (private access by default)",
		Example:     "vercelblob://archives?access=private",
		Credentials: []string{EnvToken, EnvTokenFallback, EnvAPIURL, EnvBaseURL},
		Opener:      &URLOpener{},
		Identity:    Identity,
	})
}

// Options configures a bucket. Zero values mean "default" (or, for Token,
// APIURL and BaseURL, "from the environment").
type Options struct {
	// Token is a read-write store token, vercel_blob_rw_<storeId>_<secret>.
	Token string
	// APIURL is the API base; requests go to APIURL + "/?pathname=…" etc.
	APIURL string
	// BaseURL is the content base, e.g.
	// https://<storeid>.private.blob.vercel-storage.com. Optional: content
	// URLs come from API answers; with BaseURL reads skip a head request, and
	// its host may receive the token for private reads.
	BaseURL string
	// Access is "private" (default) or "public". Public blobs are
	// world-readable by URL and CDN-cached.
	Access string
	// HTTPClient defaults to a client with no overall timeout (requests are
	// bounded by RequestTimeout and the caller's context).
	HTTPClient *http.Client
	// Objects larger than MultipartThreshold bytes use the multipart API.
	MultipartThreshold int64
	// PartSize is the multipart part size; at least 5 MiB.
	PartSize int64
	// PartConcurrency bounds parallel part uploads. A writer holds at most
	// PartConcurrency+1 parts in memory (plus the threshold buffer).
	PartConcurrency int
	// Retries is the number of retries after the first attempt; negative
	// disables retrying.
	Retries int
	// MaxRetryElapsed bounds the total time spent on one call's attempts.
	MaxRetryElapsed time.Duration
	// RequestTimeout bounds each attempt (for downloads: until headers).
	RequestTimeout time.Duration
	// RetryBaseDelay and RetryMaxDelay shape the backoff.
	RetryBaseDelay, RetryMaxDelay time.Duration
	// DisableSidecars turns off the sidecar attributes object. Writes that
	// ask for attributes Vercel Blob cannot store then fail with
	// gcerrors.Unimplemented, and Attributes costs one request instead of two.
	DisableSidecars bool

	// allowSmallParts lets tests use parts below the service minimum.
	allowSmallParts bool
}

var tokenRE = regexp.MustCompile(`^vercel_blob_rw_([A-Za-z0-9]+)_([A-Za-z0-9_]+)$`)

// parseToken returns the store id of a read-write token. The error never
// contains the token.
func parseToken(token string) (string, error) {
	m := tokenRE.FindStringSubmatch(token)
	if m == nil {
		return "", &Error{Code: CodeConfig, Message: fmt.Sprintf(
			"malformed Vercel Blob token (%d characters): want vercel_blob_rw_<storeId>_<secret> in %s or %s",
			len(token), EnvToken, EnvTokenFallback)}
	}
	return m[1], nil
}

// resolve fills defaults and the environment into a copy of o.
func resolve(o *Options) (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Token == "" {
		r.Token = os.Getenv(EnvToken)
	}
	if r.Token == "" {
		r.Token = os.Getenv(EnvTokenFallback)
	}
	r.Token = strings.TrimSpace(r.Token)
	if r.Token == "" {
		return r, &Error{Code: CodeConfig, Message: fmt.Sprintf("no Vercel Blob token: set %s (or %s) to a read-write token vercel_blob_rw_<storeId>_<secret>", EnvToken, EnvTokenFallback)}
	}
	if r.APIURL == "" {
		r.APIURL = os.Getenv(EnvAPIURL)
	}
	if r.APIURL == "" {
		r.APIURL = DefaultAPIURL
	}
	if r.BaseURL == "" {
		r.BaseURL = os.Getenv(EnvBaseURL)
	}
	r.BaseURL = strings.TrimRight(r.BaseURL, "/")
	for name, raw := range map[string]string{"API URL": r.APIURL, "base URL": r.BaseURL} {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			return r, &Error{Code: CodeConfig, Message: fmt.Sprintf("invalid %s %q: want http(s)://host[/path] without query or user info", name, raw)}
		}
	}
	switch r.Access {
	case "":
		r.Access = "private"
	case "private", "public":
	default:
		return r, &Error{Code: CodeConfig, Message: fmt.Sprintf("invalid access %q: want private or public", r.Access)}
	}
	if r.HTTPClient == nil {
		r.HTTPClient = &http.Client{}
	}
	if r.MultipartThreshold == 0 {
		r.MultipartThreshold = DefaultMultipartThreshold
	}
	if r.PartSize == 0 {
		r.PartSize = DefaultPartSize
	}
	if r.MultipartThreshold < 0 || r.PartSize <= 0 || (r.PartSize < MinPartSize && !r.allowSmallParts) {
		return r, &Error{Code: CodeConfig, Message: fmt.Sprintf("invalid multipart settings: threshold %d, part size %d (minimum %d)", r.MultipartThreshold, r.PartSize, MinPartSize)}
	}
	if r.PartConcurrency <= 0 {
		r.PartConcurrency = DefaultPartConcurrency
	}
	switch {
	case r.Retries == 0:
		r.Retries = DefaultRetries
	case r.Retries < 0:
		r.Retries = 0
	}
	if r.MaxRetryElapsed <= 0 {
		r.MaxRetryElapsed = DefaultMaxRetryElapsed
	}
	if r.RequestTimeout <= 0 {
		r.RequestTimeout = DefaultRequestTimeout
	}
	if r.RetryBaseDelay <= 0 {
		r.RetryBaseDelay = DefaultRetryBaseDelay
	}
	if r.RetryMaxDelay <= 0 {
		r.RetryMaxDelay = DefaultRetryMaxDelay
	}
	return r, nil
}

// OpenBucket opens the store of opts.Token (or of the token in the
// environment) as a *blob.Bucket.
func OpenBucket(ctx context.Context, opts *Options) (*blob.Bucket, error) {
	drv, err := openBucket(opts)
	if err != nil {
		return nil, err
	}
	return blob.NewBucket(drv), nil
}

func openBucket(opts *Options) (*bucket, error) {
	o, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	storeID, err := parseToken(o.Token)
	if err != nil {
		return nil, err
	}
	trusted := map[string]bool{}
	for _, raw := range []string{o.APIURL, o.BaseURL} {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			trusted[strings.ToLower(u.Host)] = true
		}
	}
	b := &bucket{
		opts: o,
		c: &client{
			apiURL:       o.APIURL,
			token:        o.Token,
			storeID:      storeID,
			hc:           o.HTTPClient,
			retries:      o.Retries,
			maxElapsed:   o.MaxRetryElapsed,
			reqTimeout:   o.RequestTimeout,
			baseDelay:    o.RetryBaseDelay,
			maxDelay:     o.RetryMaxDelay,
			trustedHosts: trusted,
			sleep:        sleepCtx,
		},
	}
	if o.BaseURL != "" {
		base := o.BaseURL
		b.base.Store(&base)
	}
	return b, nil
}

// URLOpener opens vercelblob:// URLs. Fields left zero in Options are taken
// from the environment when the bucket is opened.
type URLOpener struct {
	Options Options
}

// OpenBucketURL implements blob.BucketURLOpener.
func (o *URLOpener) OpenBucketURL(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	if u.User != nil {
		return nil, &Error{Code: CodeConfig, Message: "credentials do not belong in a vercelblob URL: set " + EnvToken}
	}
	opts := o.Options
	for k, vs := range u.Query() {
		v := ""
		if len(vs) > 0 {
			v = vs[len(vs)-1]
		}
		switch k {
		case "access":
			opts.Access = v
		case "sidecars":
			switch v {
			case "on", "1", "true":
				opts.DisableSidecars = false
			case "off", "0", "false":
				opts.DisableSidecars = true
			default:
				return nil, &Error{Code: CodeConfig, Message: fmt.Sprintf("invalid sidecars=%q: want on or off", v)}
			}
		case "retries":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 100 {
				return nil, &Error{Code: CodeConfig, Message: fmt.Sprintf("invalid retries=%q: want a whole number from 0 to 100", v)}
			}
			opts.Retries = n
			if n == 0 {
				opts.Retries = -1 // Options: negative disables retrying, zero means the default
			}
		case "request_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, &Error{Code: CodeConfig, Message: fmt.Sprintf("invalid request_timeout=%q: want a positive duration such as 30s", v)}
			}
			opts.RequestTimeout = d
		case "token", "secret":
			return nil, &Error{Code: CodeConfig, Message: "credentials do not belong in a vercelblob URL: set " + EnvToken}
		default:
			return nil, &Error{Code: CodeConfig, Message: fmt.Sprintf("unknown vercelblob URL parameter %q (known: access, sidecars, retries, request_timeout)", k)}
		}
	}
	return OpenBucket(ctx, &opts)
}

// RequestOptions are per-call settings reachable from the Before* hooks of
// gocloud's option structs: as(**vercelblob.RequestOptions) yields a pointer
// the hook may modify.
type RequestOptions struct {
	// IfMatch makes a write, copy or delete conditional on the current
	// ETag (x-if-match); a mismatch is gcerrors.FailedPrecondition.
	IfMatch string
	// CacheControlMaxAge (seconds, at least 60) sets the CDN max-age of a
	// write or copy.
	CacheControlMaxAge int
	// Header holds extra headers for the call's HTTP requests.
	Header http.Header
}

func asRequestOptions(ro *RequestOptions) func(any) bool {
	return func(i any) bool {
		p, ok := i.(**RequestOptions)
		if !ok || p == nil {
			return false
		}
		*p = ro
		return true
	}
}

// bucket implements driver.Bucket.
type bucket struct {
	opts Options
	c    *client
	// base is the content base URL, configured or learned from an API
	// answer, so that reads need not head first.
	base atomic.Pointer[string]
}

var _ driver.Bucket = (*bucket)(nil)

func (b *bucket) private() bool { return b.opts.Access == "private" }

// learnBase records the content base from a blob URL returned by the API.
func (b *bucket) learnBase(info *BlobInfo) {
	if info == nil || b.base.Load() != nil || info.URL == "" || info.Pathname == "" {
		return
	}
	u, err := url.Parse(info.URL)
	if err != nil || !strings.HasSuffix(u.Path, "/"+info.Pathname) {
		return
	}
	base := (&url.URL{Scheme: u.Scheme, Host: u.Host}).String() + escapeURLPath(strings.TrimSuffix(u.Path, "/"+info.Pathname))
	b.base.CompareAndSwap(nil, &base)
}

func escapeURLPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// contentURL guesses the content URL of pathname from the known base.
func (b *bucket) contentURL(pathname string) (string, bool) {
	base := b.base.Load()
	if base == nil {
		return "", false
	}
	return *base + "/" + escapeURLPath(pathname), true
}

func (b *bucket) ErrorCode(err error) gcerrors.ErrorCode { return errorCode(err) }

// As exposes the *http.Client in use.
func (b *bucket) As(i any) bool {
	p, ok := i.(**http.Client)
	if !ok || p == nil {
		return false
	}
	*p = b.c.hc
	return true
}

// ErrorAs exposes *Error and the *http.Response that carried it.
func (b *bucket) ErrorAs(err error, i any) bool {
	switch p := i.(type) {
	case **Error:
		return errors.As(err, p)
	case **http.Response:
		var e *Error
		if errors.As(err, &e) && e.resp != nil {
			*p = e.resp
			return true
		}
	}
	return false
}

func (b *bucket) Close() error { return nil }

func (b *bucket) SignedURL(ctx context.Context, key string, opts *driver.SignedURLOptions) (string, error) {
	return "", &Error{Op: "signed URL", Code: CodeUnimplemented, Message: "Vercel Blob has no signed URLs for read-write stores"}
}

func blobInfoAs(info BlobInfo) func(any) bool {
	return func(i any) bool {
		p, ok := i.(*BlobInfo)
		if !ok || p == nil {
			return false
		}
		*p = info
		return true
	}
}

// quoteETag makes an ETag look like RFC 7232 says, as gocloud expects.
func quoteETag(etag string) string {
	if etag == "" || strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/"`) {
		return etag
	}
	return strconv.Quote(etag)
}

func (b *bucket) pathname(op, key string) (string, error) {
	p := escapeKey(key)
	if err := validPathname(p); err != nil {
		e := err.(*Error)
		e.Op = op
		return "", e
	}
	return p, nil
}

// Attributes heads the blob and, with sidecars on, reads its sidecar.
func (b *bucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	p, err := b.pathname("attributes", key)
	if err != nil {
		return nil, err
	}
	info, err := b.c.head(ctx, p, nil)
	if err != nil {
		return nil, err
	}
	b.learnBase(info)
	attrs := &driver.Attributes{
		CacheControl:       info.CacheControl,
		ContentDisposition: info.ContentDisposition,
		ContentType:        info.ContentType,
		ModTime:            info.UploadedAt,
		Size:               info.Size,
		ETag:               quoteETag(info.ETag),
		AsFunc:             blobInfoAs(*info),
	}
	if attrs.ContentType == "" {
		attrs.ContentType = "application/octet-stream"
	}
	if !b.opts.DisableSidecars {
		sc, err := b.readSidecar(ctx, p, info)
		if err != nil {
			return nil, err
		}
		if sc != nil {
			sc.apply(attrs)
		}
	}
	return attrs, nil
}

// pageToken is the gocloud page token: the service cursor to resume from
// and, when a page ended inside a service page, the last pathname returned
// from it.
type pageToken struct {
	Cursor string `json:"c,omitempty"`
	After  string `json:"a,omitempty"`
}

const maxListLimit = 1000

// ListPaged lists pathnames under the escaped prefix. Because escaping is
// prefix-stable, the service's prefix filter is exact. Only sidecars (and
// dashboard folder markers) need hiding, which may take extra requests.
func (b *bucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	folded := false
	switch opts.Delimiter {
	case "":
	case "/":
		folded = true
	default:
		return nil, &Error{Op: "list", Code: CodeUnimplemented, Message: fmt.Sprintf("delimiter %q: Vercel Blob folds only on \"/\"", opts.Delimiter)}
	}
	ro := &RequestOptions{}
	if opts.BeforeList != nil {
		if err := opts.BeforeList(asRequestOptions(ro)); err != nil {
			return nil, err
		}
	}
	var tok pageToken
	if len(opts.PageToken) > 0 {
		if err := json.Unmarshal(opts.PageToken, &tok); err != nil {
			return nil, &Error{Op: "list", Code: CodeConfig, Message: "invalid page token"}
		}
	}
	pageSize := opts.PageSize
	if pageSize <= 0 {
		pageSize = maxListLimit
	}
	// Only the empty prefix reaches the sidecar area: a user prefix that
	// starts with "." is escaped, so it cannot match ".vercelblob-attrs/".
	prefix := escapePrefix(opts.Prefix)
	limit := pageSize
	out := &driver.ListPage{}
	cursor, after := tok.Cursor, tok.After
	for {
		limit = min(limit, maxListLimit)
		page, err := b.c.list(ctx, prefix, cursor, limit, folded, ro.Header)
		if err != nil {
			return nil, err
		}
		entries := mergeEntries(page, folded)
		visibleHere := 0
		for i, en := range entries {
			if after != "" && en.name <= after {
				continue
			}
			if hidden(en) {
				continue
			}
			if len(out.Objects) == pageSize {
				// The service page holds more than fits: resume inside it.
				tok := pageToken{Cursor: cursor, After: entries[i-1].name}
				out.NextPageToken, _ = json.Marshal(tok)
				return out, nil
			}
			out.Objects = append(out.Objects, en.object(b))
			visibleHere++
		}
		if len(out.Objects) > 0 {
			b.learnBase(firstBlob(page))
		}
		if !page.HasMore || page.Cursor == "" {
			return out, nil
		}
		// after stays: entries up to it were dealt with on an earlier page.
		cursor = page.Cursor
		if len(out.Objects) == pageSize {
			out.NextPageToken, _ = json.Marshal(pageToken{Cursor: cursor})
			return out, nil
		}
		need := pageSize - len(out.Objects)
		if visibleHere == 0 {
			// A run of hidden entries: read further ahead each time, at the
			// price of resuming inside a page later.
			limit = max(limit*4, need)
		} else {
			limit = max(need, limit)
		}
	}
}

func firstBlob(p *listPage) *BlobInfo {
	if len(p.Blobs) == 0 {
		return nil
	}
	return &p.Blobs[0]
}

type listEntry struct {
	name string // pathname or folder ("…/")
	dir  bool
	info *BlobInfo
}

// mergeEntries puts blobs and folders into the service's order (by name),
// which is also the order its cursor follows.
func mergeEntries(p *listPage, folded bool) []listEntry {
	out := make([]listEntry, 0, len(p.Blobs)+len(p.Folders))
	for i := range p.Blobs {
		out = append(out, listEntry{name: p.Blobs[i].Pathname, info: &p.Blobs[i]})
	}
	if folded {
		for _, f := range p.Folders {
			out = append(out, listEntry{name: f, dir: true})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// hidden reports entries that are not gocloud objects: sidecars and the
// zero-byte folder markers that the Vercel dashboard creates.
func hidden(en listEntry) bool {
	if strings.HasPrefix(en.name, sidecarRoot) {
		return true
	}
	return !en.dir && strings.HasSuffix(en.name, "/")
}

func (en listEntry) object(b *bucket) *driver.ListObject {
	if en.dir {
		return &driver.ListObject{Key: unescapeKey(en.name), IsDir: true}
	}
	return &driver.ListObject{
		Key:     unescapeKey(en.name),
		ModTime: en.info.UploadedAt,
		Size:    en.info.Size,
		AsFunc:  blobInfoAs(*en.info),
	}
}

// Delete heads the blob (gocloud wants NotFound for a missing key, the
// service succeeds silently), then deletes it and its sidecar together.
func (b *bucket) Delete(ctx context.Context, key string, opts *driver.DeleteOptions) error {
	p, err := b.pathname("delete", key)
	if err != nil {
		return err
	}
	ro := &RequestOptions{}
	if opts.BeforeDelete != nil {
		if err := opts.BeforeDelete(asRequestOptions(ro)); err != nil {
			return err
		}
	}
	info, err := b.c.head(ctx, p, ro.Header)
	if err != nil {
		return err
	}
	urls := []string{info.URL}
	if info.URL == "" {
		urls = []string{p}
	}
	if ro.IfMatch != "" {
		// The service takes x-if-match only with a single URL.
		if err := b.c.del(ctx, urls, ro.IfMatch, ro.Header); err != nil {
			return err
		}
		if b.opts.DisableSidecars {
			return nil
		}
		return b.c.del(ctx, []string{sidecarPathname(p)}, "", ro.Header)
	}
	if !b.opts.DisableSidecars {
		urls = append(urls, sidecarPathname(p))
	}
	return b.c.del(ctx, urls, "", ro.Header)
}

// maxAgeFrom extracts max-age seconds from a Cache-Control value.
func maxAgeFrom(cc string) int {
	for _, part := range strings.Split(cc, ",") {
		part = strings.TrimSpace(strings.ToLower(part))
		if v, ok := strings.CutPrefix(part, "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 60 {
				return n
			}
		}
	}
	return 0
}

func (b *bucket) writeHeaders(contentType string, overwrite bool, ro *RequestOptions) http.Header {
	h := http.Header{}
	h.Set("X-Vercel-Blob-Access", b.opts.Access)
	h.Set("X-Add-Random-Suffix", "0")
	if overwrite || ro.IfMatch != "" {
		h.Set("X-Allow-Overwrite", "1")
	} else {
		h.Set("X-Allow-Overwrite", "0")
	}
	if contentType != "" {
		h.Set("X-Content-Type", contentType)
	}
	if ro.CacheControlMaxAge > 0 {
		h.Set("X-Cache-Control-Max-Age", strconv.Itoa(ro.CacheControlMaxAge))
	}
	if ro.IfMatch != "" {
		h.Set("X-If-Match", ro.IfMatch)
	}
	return h
}

// Copy is a server-side copy. The service does not carry the cache max-age
// over and we do not rely on it carrying the content type, so both are sent
// from the source's head; the sidecar is copied too.
func (b *bucket) Copy(ctx context.Context, dstKey, srcKey string, opts *driver.CopyOptions) error {
	dst, err := b.pathname("copy", dstKey)
	if err != nil {
		return err
	}
	src, err := b.pathname("copy", srcKey)
	if err != nil {
		return err
	}
	ro := &RequestOptions{}
	if opts.BeforeCopy != nil {
		if err := opts.BeforeCopy(asRequestOptions(ro)); err != nil {
			return err
		}
	}
	srcInfo, err := b.c.head(ctx, src, ro.Header)
	if err != nil {
		return err
	}
	b.learnBase(srcInfo)
	var sc *sidecar
	if !b.opts.DisableSidecars {
		if sc, err = b.readSidecar(ctx, src, srcInfo); err != nil {
			return err
		}
	}
	if ro.CacheControlMaxAge == 0 {
		ro.CacheControlMaxAge = maxAgeFrom(srcInfo.CacheControl)
	}
	from := srcInfo.URL
	if from == "" {
		from = src
	}
	info, _, err := b.c.copy(ctx, dst, from, b.writeHeaders(srcInfo.ContentType, true, ro), ro.Header)
	if err != nil {
		return err
	}
	if sc != nil {
		return b.writeSidecar(ctx, dst, info, sc)
	}
	return nil
}
