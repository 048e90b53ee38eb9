// Package vercelblob is a gocloud.dev blob driver for Vercel Blob, speaking
// the REST API that the official @vercel/blob SDK (2.8.0) uses; see
// docs/vercel-blob-protocol.md for what is known of the service.
//
// Importing it registers the scheme on gocloud's default URL mux, so
//
//	blob.OpenBucket(ctx, "vercelblob://[label][?access=public|private]")
//
// works for any gocloud user. The host part is a free label; the store is
// the one the token belongs to. The URL opener reads the environment:
// the token from VERCEL_BLOB_RW_TOKEN or, failing that, BLOB_READ_WRITE_TOKEN;
// VERCEL_BLOB_API_URL and VERCEL_BLOB_BASE_URL override the API and content
// endpoints. OpenBucket itself takes only what it is given in Options.
// Credentials never go in the URL. Other URL parameters: sidecars=on|off
// (see below; off by default), retries=N (retries after the first attempt, 0
// for none; default 5) and request_timeout=D (each attempt; default 2m).
//
// A Vercel Blob store is public or private, fixed when the store is made, and
// the service refuses a write that asks for the other access. The driver
// finds the store's access instead of assuming it: from Options.Access
// (?access=) when given; else from the store label of the base URL
// (https://<storeId>.<public|private>.blob.vercel-storage.com, as the
// original archiver's users have VERCEL_BLOB_BASE_URL); else from the URLs
// of the store's blobs (StoreAccess lists one, and may probe an empty store).
// A write refused because it asked for the wrong access is sent once more
// with the store's access, which is remembered and logged at info. Given
// access that contradicts the store is an error, never a silent switch.
//
// Mapping to gocloud:
//   - Keys are escaped reversibly into pathnames (see escape.go); ordinary
//     keys are stored unchanged.
//   - Writes overwrite (x-allow-overwrite: 1) unless WriterOptions.IfNotExist
//     is set, which maps to the service's refusal to overwrite and yields
//     gcerrors.FailedPrecondition. Large objects are streamed with the
//     multipart API. Nothing is visible before Close.
//   - Vercel Blob stores only a content type and a cache max-age (a
//     CacheControl with max-age sets it). Without sidecars, other attributes
//     (metadata, content encoding, language, disposition, free-form cache
//     control) make a write fail with gcerrors.Unimplemented. With
//     sidecars=on they are kept in a small JSON blob under
//     ".vercelblob-attrs/", which List never shows, at the price of extra
//     requests for every Attributes, Exists, Copy and Delete. The sidecar is
//     tied to the object's ETag and upload time, so a later overwrite without
//     attributes makes it stale, not wrong.
//   - Reads always bypass the CDN (cache=0, and a fresh query for public
//     blobs): public content is CDN-cached for its max-age, and a read right
//     after an overwrite must not see the old bytes.
//   - SignedURL is Unimplemented.
package vercelblob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"
)

// Scheme is the URL scheme vercelblob registers on gocloud's default URL mux.
const Scheme = "vercelblob"

// Environment variables the URL opener reads when its Options leave a value
// unset.
const (
	EnvToken         = "VERCEL_BLOB_RW_TOKEN"  // the original service's name, preferred
	EnvTokenFallback = "BLOB_READ_WRITE_TOKEN" // the SDK's name
	EnvAPIURL        = "VERCEL_BLOB_API_URL"
	EnvBaseURL       = "VERCEL_BLOB_BASE_URL"
)

// DefaultAPIURL is the API base of @vercel/blob 2.8.0.
const DefaultAPIURL = "https://vercel.com/api/blob"

// Access values.
const (
	AccessPublic  = "public"
	AccessPrivate = "private"
)

// Defaults for Options.
const (
	DefaultRetries        = 5
	DefaultRequestTimeout = 2 * time.Minute
)

// Tuning defaults; tests change them through Options.tune.
const (
	defaultMultipartThreshold = 8 << 20
	defaultPartSize           = 8 << 20
	minPartSize               = 5 << 20 // service minimum for all parts but the last
	defaultPartConcurrency    = 4
	defaultMaxRetryElapsed    = 2 * time.Minute
	defaultRetryBaseDelay     = 250 * time.Millisecond
	defaultRetryMaxDelay      = 15 * time.Second
)

func init() {
	blob.DefaultURLMux().RegisterBucket(Scheme, &URLOpener{})
	describeToArchiver() // after: it opens through the mux
}

// Options configures a bucket. Zero values mean "default"; nothing is read
// from the environment (that is the URL opener's job).
type Options struct {
	// Token is a read-write store token, vercel_blob_rw_<storeId>_<secret>.
	Token string
	// APIURL is the API base; requests go to APIURL + "/?pathname=…" etc.
	// Default DefaultAPIURL.
	APIURL string
	// BaseURL is the store's content base,
	// https://<storeId>.<public|private>.blob.vercel-storage.com; a blob URL
	// of the store will do (its pathname is dropped). Optional: content URLs
	// also come from API answers. With it, reads skip a head request and the
	// store's access is known at once. Its store must be the token's.
	BaseURL string
	// Access is the store's access, "public" or "private". Leave it empty to
	// have the driver find it; when set, it must be the store's.
	Access string
	// Sidecars keeps attributes Vercel Blob cannot store in sidecar blobs
	// (see the package doc). Off by default: they cost extra requests.
	Sidecars bool
	// HTTPClient defaults to a client with no overall timeout (requests are
	// bounded by RequestTimeout and the caller's context).
	HTTPClient *http.Client
	// Retries is the number of retries after the first attempt; negative
	// disables retrying. Default DefaultRetries.
	Retries int
	// RequestTimeout bounds each attempt (for downloads: until headers).
	// Default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Logger receives the info line when the driver learns the store's
	// access from a refused write. Default slog.Default().
	Logger *slog.Logger

	tune tuning
}

// tuning holds what only tests change: multipart sizes and retry pacing.
type tuning struct {
	multipartThreshold int64 // objects larger than this use the multipart API
	partSize           int64 // at least minPartSize unless allowSmallParts
	partConcurrency    int   // parallel part uploads; a writer holds at most this+1 parts
	maxRetryElapsed    time.Duration
	retryBaseDelay     time.Duration
	retryMaxDelay      time.Duration
	allowSmallParts    bool
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

// contentHostSuffix ends the host of every blob URL.
const contentHostSuffix = ".blob.vercel-storage.com"

// storeOf finds "<storeId>.<access>.blob.vercel-storage.com" in a content
// URL: its host, or (a local test server) its first path segment. base is
// the URL up to and including that name.
func storeOf(u *url.URL) (id, access, base string, ok bool) {
	parse := func(name string) (string, string, bool) {
		rest, found := strings.CutSuffix(strings.ToLower(name), contentHostSuffix)
		if !found {
			return "", "", false
		}
		id, acc, found := strings.Cut(rest, ".")
		if !found || id == "" || (acc != AccessPublic && acc != AccessPrivate) {
			return "", "", false
		}
		return id, acc, true
	}
	if id, acc, ok := parse(u.Hostname()); ok {
		return id, acc, u.Scheme + "://" + u.Host, true
	}
	seg, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if id, acc, ok := parse(seg); ok {
		return id, acc, u.Scheme + "://" + u.Host + "/" + seg, true
	}
	return "", "", "", false
}

func storeOfString(raw string) (id, access, base string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", "", false
	}
	return storeOf(u)
}

// resolve fills defaults into a copy of o and checks it.
func resolve(o *Options) (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	r.Token = strings.TrimSpace(r.Token)
	if r.Token == "" {
		return r, &Error{Code: CodeConfig, Message: fmt.Sprintf("no Vercel Blob token: set %s (or %s) to a read-write token vercel_blob_rw_<storeId>_<secret>", EnvToken, EnvTokenFallback)}
	}
	if r.APIURL == "" {
		r.APIURL = DefaultAPIURL
	}
	r.BaseURL = strings.TrimRight(strings.TrimSpace(r.BaseURL), "/")
	for name, raw := range map[string]string{"API URL (" + EnvAPIURL + ")": r.APIURL, "base URL (" + EnvBaseURL + ")": r.BaseURL} {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			return r, &Error{Code: CodeConfig, Message: fmt.Sprintf("invalid %s %q: want http(s)://host[/path] without query or user info", name, raw)}
		}
	}
	switch r.Access {
	case "", AccessPrivate, AccessPublic:
	default:
		return r, &Error{Code: CodeConfig, Message: fmt.Sprintf("invalid access %q (?access=): want private or public, or leave it out to use the store's", r.Access)}
	}
	if r.HTTPClient == nil {
		r.HTTPClient = &http.Client{}
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	t := &r.tune
	if t.multipartThreshold == 0 {
		t.multipartThreshold = defaultMultipartThreshold
	}
	if t.partSize == 0 {
		t.partSize = defaultPartSize
	}
	if t.multipartThreshold < 0 || t.partSize <= 0 || (t.partSize < minPartSize && !t.allowSmallParts) {
		return r, &Error{Code: CodeConfig, Message: fmt.Sprintf("invalid multipart settings: threshold %d, part size %d (minimum %d)", t.multipartThreshold, t.partSize, minPartSize)}
	}
	if t.partConcurrency <= 0 {
		t.partConcurrency = defaultPartConcurrency
	}
	switch {
	case r.Retries == 0:
		r.Retries = DefaultRetries
	case r.Retries < 0:
		r.Retries = 0
	}
	if t.maxRetryElapsed <= 0 {
		t.maxRetryElapsed = defaultMaxRetryElapsed
	}
	if r.RequestTimeout <= 0 {
		r.RequestTimeout = DefaultRequestTimeout
	}
	if t.retryBaseDelay <= 0 {
		t.retryBaseDelay = defaultRetryBaseDelay
	}
	if t.retryMaxDelay <= 0 {
		t.retryMaxDelay = defaultRetryMaxDelay
	}
	return r, nil
}

// OpenBucket opens the store of opts.Token as a *blob.Bucket. It sends no
// request; StoreAccess checks the store's access against what was given.
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
	b := &bucket{opts: o, storeID: storeID, log: o.Logger}
	if o.Access != "" {
		b.acc = accessState{access: o.Access, source: "?access=", explicit: true}
	}
	if o.BaseURL != "" {
		base := contentBase{url: o.BaseURL}
		if id, acc, sb, ok := storeOfString(o.BaseURL); ok {
			if !strings.EqualFold(id, storeID) {
				return nil, &Error{Code: CodeConfig, Message: fmt.Sprintf(
					"%s is a URL of Vercel Blob store %q, but the token (%s) is for store %q: reads would go to another store; copy the base URL from one of this store's blob URLs, or use that store's token",
					EnvBaseURL, id, EnvToken, strings.ToLower(storeID))}
			}
			if o.Access != "" && o.Access != acc {
				return nil, &Error{Code: CodeConfig, Message: fmt.Sprintf(
					"?access=%s contradicts %s, a URL of a %s store (%s.%s%s): a Vercel Blob store has one access; remove ?access= to use the store's",
					o.Access, EnvBaseURL, acc, id, acc, contentHostSuffix)}
			}
			// A blob URL of the store names its base, which is exact.
			base = contentBase{url: sb, exact: true}
			if o.Access == "" {
				b.acc = accessState{access: acc, source: EnvBaseURL}
			}
		}
		b.base.Store(&base)
	}
	trusted := map[string]bool{}
	for _, raw := range []string{o.APIURL, o.BaseURL} {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			trusted[strings.ToLower(u.Host)] = true
		}
	}
	b.c = &client{
		apiURL:       o.APIURL,
		token:        o.Token,
		storeID:      storeID,
		hc:           o.HTTPClient,
		retries:      o.Retries,
		maxElapsed:   o.tune.maxRetryElapsed,
		reqTimeout:   o.RequestTimeout,
		baseDelay:    o.tune.retryBaseDelay,
		maxDelay:     o.tune.retryMaxDelay,
		trustedHosts: trusted,
		sleep:        sleepCtx,
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
	opts, err := o.options(u)
	if err != nil {
		return nil, err
	}
	return OpenBucket(ctx, &opts)
}

// options are o.Options completed from the environment and u's parameters.
func (o *URLOpener) options(u *url.URL) (Options, error) {
	fail := func(msg string) (Options, error) { return Options{}, &Error{Code: CodeConfig, Message: msg} }
	if u.User != nil {
		return fail("credentials do not belong in a vercelblob URL: set " + EnvToken)
	}
	opts := o.Options
	if opts.Token == "" {
		opts.Token = os.Getenv(EnvToken)
	}
	if strings.TrimSpace(opts.Token) == "" {
		opts.Token = os.Getenv(EnvTokenFallback)
	}
	if opts.APIURL == "" {
		opts.APIURL = os.Getenv(EnvAPIURL)
	}
	if opts.BaseURL == "" {
		opts.BaseURL = os.Getenv(EnvBaseURL)
	}
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
				opts.Sidecars = true
			case "off", "0", "false":
				opts.Sidecars = false
			default:
				return fail(fmt.Sprintf("invalid sidecars=%q: want on or off", v))
			}
		case "retries":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 100 {
				return fail(fmt.Sprintf("invalid retries=%q: want a whole number from 0 to 100", v))
			}
			opts.Retries = n
			if n == 0 {
				opts.Retries = -1 // Options: negative disables retrying, zero means the default
			}
		case "request_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fail(fmt.Sprintf("invalid request_timeout=%q: want a positive duration such as 30s", v))
			}
			opts.RequestTimeout = d
		case "token", "secret":
			return fail("credentials do not belong in a vercelblob URL: set " + EnvToken)
		default:
			return fail(fmt.Sprintf("unknown vercelblob URL parameter %q (known: access, sidecars, retries, request_timeout)", k))
		}
	}
	return opts, nil
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
	opts    Options
	c       *client
	storeID string
	log     *slog.Logger
	// base is the content base URL, configured or learned from an API
	// answer, so that reads need not head first.
	base atomic.Pointer[contentBase]

	mu  sync.Mutex
	acc accessState

	etags etagMemo
}

// etagMemo remembers the ETags the API reported for pathnames (answers to
// put, copy, head, list), so that Delete can prove a blob exists with one
// conditional delete instead of a head first. Bounded: past maxETags
// entries it starts over.
type etagMemo struct {
	mu sync.Mutex
	m  map[string]string
}

const maxETags = 1024

func (e *etagMemo) remember(pathname, etag string) {
	if pathname == "" || etag == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil || len(e.m) >= maxETags {
		e.m = map[string]string{}
	}
	e.m[pathname] = etag
}

// take returns and forgets the ETag remembered for pathname.
func (e *etagMemo) take(pathname string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	etag := e.m[pathname]
	delete(e.m, pathname)
	return etag
}

// contentBase is where the store serves content. exact is set when it is
// known to be the store's (learned from an API answer, or a store-form base
// URL): a 404 there then means the blob does not exist.
type contentBase struct {
	url   string
	exact bool
}

var _ driver.Bucket = (*bucket)(nil)

// learnBase records the content base from a blob URL returned by the API,
// and the store's access from its label.
func (b *bucket) learnBase(info *BlobInfo) {
	if info == nil || info.URL == "" || info.Pathname == "" {
		return
	}
	b.etags.remember(info.Pathname, info.ETag)
	if _, acc, _, ok := storeOfString(info.URL); ok {
		b.learnAccess(acc, "the store's blob URLs")
	}
	if cur := b.base.Load(); cur != nil && cur.exact {
		return
	}
	u, err := url.Parse(info.URL)
	if err != nil || !strings.HasSuffix(u.Path, "/"+info.Pathname) {
		return
	}
	base := contentBase{url: (&url.URL{Scheme: u.Scheme, Host: u.Host}).String() + escapeURLPath(strings.TrimSuffix(u.Path, "/"+info.Pathname)), exact: true}
	b.base.Store(&base)
}

func escapeURLPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// contentURL guesses the content URL of pathname from the known base;
// exact says the guess is certain.
func (b *bucket) contentURL(pathname string) (u string, exact, ok bool) {
	base := b.base.Load()
	if base == nil {
		return "", false, false
	}
	return base.url + "/" + escapeURLPath(pathname), base.exact, true
}

func (b *bucket) ErrorCode(err error) gcerrors.ErrorCode { return errorCode(err) }

// As exposes the *http.Client in use.
func (b *bucket) As(i any) bool {
	switch p := i.(type) {
	case **http.Client:
		if p == nil {
			return false
		}
		*p = b.c.hc
		return true
	case **bucket: // for StoreAccess
		if p == nil {
			return false
		}
		*p = b
		return true
	}
	return false
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
	if b.opts.Sidecars {
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
// Without sidecars, a blob whose ETag an earlier answer reported (one this
// bucket wrote, say) is deleted with x-if-match instead, in one request: its
// success proves the blob was there. A precondition failure (the blob
// changed or went away since) falls back to the head.
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
	if etag := b.etags.take(p); etag != "" && ro.IfMatch == "" && !b.opts.Sidecars {
		err := b.c.del(ctx, []string{p}, etag, ro.Header)
		if !errorCodeIs(err, CodePreconditionFailed) {
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
		if !b.opts.Sidecars {
			return nil
		}
		return b.c.del(ctx, []string{sidecarPathname(p)}, "", ro.Header)
	}
	if b.opts.Sidecars {
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
	h.Set("X-Vercel-Blob-Access", b.writeAccess())
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

// Copy is a server-side copy. With sidecars, the source is headed first for
// its attributes, and its cache max-age and content type are sent along
// (the service does not carry the max-age over). Without, the copy is one
// request: the service keeps the content type and answers not_found for a
// missing source.
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
	from, contentType := src, ""
	var sc *sidecar
	if b.opts.Sidecars {
		srcInfo, err := b.c.head(ctx, src, ro.Header)
		if err != nil {
			return err
		}
		b.learnBase(srcInfo)
		if sc, err = b.readSidecar(ctx, src, srcInfo); err != nil {
			return err
		}
		if ro.CacheControlMaxAge == 0 {
			ro.CacheControlMaxAge = maxAgeFrom(srcInfo.CacheControl)
		}
		if srcInfo.URL != "" {
			from = srcInfo.URL
		}
		contentType = srcInfo.ContentType
	}
	h := b.writeHeaders(contentType, true, ro)
	var info *BlobInfo
	err = b.withStoreAccess(ctx, "copy", dst, h, func() error {
		var err error
		info, _, err = b.c.copy(ctx, dst, from, h, ro.Header)
		return err
	})
	if err != nil {
		return err
	}
	b.learnBase(info)
	if sc != nil {
		return b.writeSidecar(ctx, dst, info, sc)
	}
	return nil
}
