// Package vercelblobtest is an in-memory fake of the Vercel Blob API as the
// official @vercel/blob 2.8.0 SDK uses it (see docs/vercel-blob-protocol.md),
// with fault injection for tests. It serves the content URLs it hands out,
// so that reads work end to end.
//
// Like a Vercel Blob store, a Server has one access, public or private
// (WithAccess; private by default), and refuses a write that asks for the
// other one as the service does.
//
// The API answers both under /api/blob (use APIURL) and at the root (use
// URL): the SDK builds request URLs by plain concatenation, so /api/blob?…,
// /api/blob/?…, /api/blob/delete, /?…, /delete and so on all arrive.
//
// Content lives under /<storeId>.<access>.blob.vercel-storage.com/<pathname>:
// the host of a real blob URL, as the first path segment of a local one, so
// that a client reads the store id and access of a URL the same way for
// both. A public store can model Vercel's CDN (WithStaleReads): a plain GET
// of an overwritten or deleted blob then returns the copy first served,
// until its cache max-age runs out.
package vercelblobtest

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shizuku-labs/archiver/internal/testkit/faults"
)

// Request kinds, for faults and counters.
const (
	KindPut         = "put"
	KindCopy        = "copy"
	KindRename      = "rename"
	KindHead        = "head"
	KindList        = "list"
	KindDelete      = "delete"
	KindMPUCreate   = "mpu-create"
	KindMPUUpload   = "mpu-upload"
	KindMPUComplete = "mpu-complete"
	KindDownload    = "download"
	KindUnknown     = "unknown"
)

// DefaultMinPartSize is the service's minimum size of all parts but the last.
const DefaultMinPartSize = 5 << 20

const (
	defaultMaxAge  = 2592000 // one month, the service default
	maxPathnameLen = 950
)

var tokenRE = regexp.MustCompile(`^vercel_blob_rw_([A-Za-z0-9]+)_([A-Za-z0-9_]+)$`)

type object struct {
	pathname    string
	data        []byte
	contentType string
	maxAge      int
	etag        string
	uploadedAt  time.Time
}

// Access values of a store.
const (
	AccessPublic  = "public"
	AccessPrivate = "private"
)

// contentHostSuffix is what follows <storeId>.<access> in a blob URL's host.
const contentHostSuffix = ".blob.vercel-storage.com"

// cached is what the modelled CDN holds for one content URL.
type cached struct {
	obj   object
	until time.Time
}

type part struct {
	data []byte
	etag string
}

type upload struct {
	key, id  string
	pathname string
	opts     writeOpts
	parts    map[int]part
}

// writeOpts are the §2 headers of a write.
type writeOpts struct {
	access       string
	contentType  string
	randomSuffix bool
	overwrite    bool
	overwriteSet bool
	maxAge       int
	ifMatch      string
}

// Request is one request as the server saw it.
type Request struct {
	Kind      string
	Method    string
	Pathname  string
	RequestID string // x-api-blob-request-id
	Attempt   string // x-api-blob-request-attempt
	Status    int
	// Stale is set for a download answered from the modelled CDN with a
	// copy older than the blob.
	Stale bool
}

// String formats r as one line of the request log.
func (r Request) String() string {
	s := fmt.Sprintf("%-12s %-4s %3d %s", r.Kind, r.Method, r.Status, r.Pathname)
	if r.Stale {
		s += " (stale CDN copy)"
	}
	return s
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	ts      *httptest.Server
	URL     string // root of the server; the API also answers here
	APIURL  string // URL + "/api/blob": what to set as VERCEL_BLOB_API_URL
	token   string
	storeID string

	access     string
	staleReads bool
	logTo      io.Writer

	mu          sync.Mutex
	objects     map[string]*object
	cdn         map[string]*cached // by request path and query
	uploads     map[string]*upload // by upload id
	faults      faults.Set         // its own lock: taken outside mu
	counts      map[string]int
	log         []Request
	minPartSize int64
	lastTime    time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithAccess makes the store public or private (the default), as a Vercel
// Blob store is made: every blob has the store's access, and a write that
// asks for the other one is refused.
func WithAccess(access string) Option {
	if access != AccessPublic && access != AccessPrivate {
		panic("vercelblobtest: access must be public or private")
	}
	return func(s *Server) { s.access = access }
}

// WithStaleReads models the CDN in front of a public store: a plain GET of
// a content URL is answered with the copy first served at that URL until its
// max-age runs out, even after the blob was overwritten or deleted. A GET
// with cache=0 in its query goes to the store. Private stores are read
// through with the token and are not affected.
func WithStaleReads() Option { return func(s *Server) { s.staleReads = true } }

// WithRequestLog writes one line per request (Request.String) to w.
func WithRequestLog(w io.Writer) Option { return func(s *Server) { s.logTo = w } }

// NewServer starts a fake on a local port for token, which must look like
// vercel_blob_rw_<storeId>_<secret>. Close it when done.
func NewServer(token string, opts ...Option) *Server {
	s := New(token, opts...)
	s.ts = httptest.NewServer(s)
	s.SetURL(s.ts.URL)
	return s
}

// New returns a fake that is not listening yet; serve it yourself and call
// SetURL with the address clients reach it at.
func New(token string, opts ...Option) *Server {
	m := tokenRE.FindStringSubmatch(token)
	if m == nil {
		panic("vercelblobtest: token must look like vercel_blob_rw_<storeId>_<secret>")
	}
	s := &Server{
		token:       token,
		storeID:     m[1],
		access:      AccessPrivate,
		objects:     map[string]*object{},
		uploads:     map[string]*upload{},
		cdn:         map[string]*cached{},
		counts:      map[string]int{},
		minPartSize: DefaultMinPartSize,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Access is the store's access, public or private.
func (s *Server) Access() string { return s.access }

// ContentBase is the URL that every blob URL of the store starts with, as
// a user would copy it into VERCEL_BLOB_BASE_URL.
func (s *Server) ContentBase() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.contentBase()
}

func (s *Server) contentBase() string {
	return s.URL + "/" + strings.ToLower(s.storeID) + "." + s.access + contentHostSuffix
}

// BlobURL is the URL the store gives the blob at pathname.
func (s *Server) BlobURL(pathname string) string {
	return s.ContentBase() + "/" + escapeURLPath(pathname)
}

// SetURL sets the root URL under which the server is reachable; content
// URLs are built from it.
func (s *Server) SetURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.URL = strings.TrimRight(u, "/")
	s.APIURL = s.URL + "/api/blob"
}

// Close stops a server started by NewServer.
func (s *Server) Close() {
	if s.ts != nil {
		s.ts.Close()
	}
}

// Client returns an HTTP client for the server (a plain one if it was not
// started by NewServer).
func (s *Server) Client() *http.Client {
	if s.ts != nil {
		return s.ts.Client()
	}
	return &http.Client{}
}

// StoreID is the store id taken from the token.
func (s *Server) StoreID() string { return s.storeID }

// SetMinPartSize changes the minimum multipart part size (all but the last).
func (s *Server) SetMinPartSize(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.minPartSize = n
}

// Count returns how many requests of kind arrived (including ones a fault
// answered).
func (s *Server) Count(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[kind]
}

// Counts returns a copy of all counters.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// ResetCounts zeroes the counters and the request log.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[string]int{}
	s.log = nil
}

// Requests returns the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Pathnames lists every stored pathname, sorted.
func (s *Server) Pathnames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.objects))
	for p := range s.objects {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Object returns the content stored at pathname.
func (s *Server) Object(pathname string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[pathname]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), o.data...), true
}

// PendingUploads is the number of multipart uploads created and not
// completed.
func (s *Server) PendingUploads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.uploads)
}

// --- HTTP ----------------------------------------------------------------

type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"error": map[string]string{"code": e.code, "message": e.message}})
}

// classify names the request and extracts the pathname it is about.
func (s *Server) classify(r *http.Request) (kind, pathname string) {
	p := r.URL.Path
	if seg, pn, ok := strings.Cut(strings.TrimPrefix(p, "/"), "/"); ok && strings.HasSuffix(seg, contentHostSuffix) {
		return KindDownload, pn
	}
	rest := p
	if r2, ok := strings.CutPrefix(p, "/api/blob"); ok {
		rest = r2
	}
	q := r.URL.Query()
	switch {
	case rest == "" || rest == "/":
		switch r.Method {
		case http.MethodPut:
			if q.Has("fromUrl") {
				return KindCopy, q.Get("pathname")
			}
			return KindPut, q.Get("pathname")
		case http.MethodGet:
			if q.Has("url") {
				return KindHead, s.pathnameOf(q.Get("url"))
			}
			return KindList, q.Get("prefix")
		}
	case rest == "/delete" && r.Method == http.MethodPost:
		return KindDelete, ""
	case rest == "/rename" && r.Method == http.MethodPost:
		return KindRename, q.Get("pathname")
	case rest == "/mpu" && r.Method == http.MethodPost:
		switch r.Header.Get("X-Mpu-Action") {
		case "create":
			return KindMPUCreate, q.Get("pathname")
		case "upload":
			return KindMPUUpload, q.Get("pathname")
		case "complete":
			return KindMPUComplete, q.Get("pathname")
		}
	}
	return KindUnknown, ""
}

// statusWriter remembers the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	stale  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind, pathname := s.classify(r)
	s.mu.Lock()
	s.counts[kind]++
	idx := len(s.log)
	s.log = append(s.log, Request{Kind: kind, Method: r.Method, Pathname: pathname,
		RequestID: r.Header.Get("X-Api-Blob-Request-Id"), Attempt: r.Header.Get("X-Api-Blob-Request-Attempt")})
	s.mu.Unlock()
	f := s.faults.Take(r)

	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		var line string
		if idx < len(s.log) {
			s.log[idx].Status = sw.status
			s.log[idx].Stale = sw.stale
			line = s.log[idx].String()
		}
		if s.logTo != nil {
			fmt.Fprintln(s.logTo, line)
		}
		s.mu.Unlock()
	}()
	if f != nil && f.Apply(sw, r, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, kind) })) {
		return
	}
	s.serve(sw, r, kind)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, kind string) {
	if kind == KindDownload {
		s.download(w, r)
		return
	}
	if e := s.checkAPIRequest(r); e != nil {
		writeError(w, e)
		return
	}
	var (
		out any
		e   *apiError
	)
	switch kind {
	case KindPut:
		out, e = s.put(r)
	case KindCopy:
		out, e = s.copy(r, false)
	case KindRename:
		out, e = s.copy(r, true)
	case KindHead:
		out, e = s.head(r)
	case KindList:
		out, e = s.list(r)
	case KindDelete:
		out, e = s.del(r)
	case KindMPUCreate:
		out, e = s.mpuCreate(r)
	case KindMPUUpload:
		out, e = s.mpuUpload(r)
	case KindMPUComplete:
		out, e = s.mpuComplete(r)
	default:
		e = errf(http.StatusNotFound, "not_found", "no such API route: %s %s", r.Method, r.URL.Path)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// checkAPIRequest enforces authentication and the headers the SDK sends on
// every API request.
func (s *Server) checkAPIRequest(r *http.Request) *apiError {
	if e := s.checkAuth(r); e != nil {
		return e
	}
	v := r.Header.Get("X-Api-Version")
	if n, err := strconv.Atoi(v); err != nil || n < 1 {
		return errf(http.StatusBadRequest, "bad_request", "missing or invalid x-api-version header")
	}
	if id := r.Header.Get("X-Vercel-Blob-Store-Id"); id != "" && id != s.storeID {
		return errf(http.StatusBadRequest, "bad_request", "x-vercel-blob-store-id does not match the token")
	}
	if id := r.Header.Get("X-Api-Blob-Request-Id"); id != "" && !strings.HasPrefix(id, s.storeID+":") {
		return errf(http.StatusBadRequest, "bad_request", "x-api-blob-request-id must start with the store id")
	}
	if a := r.Header.Get("X-Api-Blob-Request-Attempt"); a != "" {
		if n, err := strconv.Atoi(a); err != nil || n < 0 {
			return errf(http.StatusBadRequest, "bad_request", "invalid x-api-blob-request-attempt header")
		}
	}
	return nil
}

func (s *Server) checkAuth(r *http.Request) *apiError {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return errf(http.StatusForbidden, "forbidden", "Access denied, please provide a valid token for this resource.")
	}
	if tok == s.token {
		return nil
	}
	if m := tokenRE.FindStringSubmatch(tok); m != nil && m[1] != s.storeID {
		return errf(http.StatusForbidden, "store_not_found", "This store does not exist.")
	}
	return errf(http.StatusForbidden, "forbidden", "Access denied, please provide a valid token for this resource.")
}

func validatePathname(p string) *apiError {
	switch {
	case p == "":
		return errf(http.StatusBadRequest, "bad_request", "pathname is required")
	case len(p) > maxPathnameLen:
		return errf(http.StatusBadRequest, "bad_request", "pathname is too long (maximum %d characters)", maxPathnameLen)
	case strings.Contains(p, "//"):
		return errf(http.StatusBadRequest, "bad_request", `pathname cannot contain "//"`)
	}
	return nil
}

// parseWriteOpts reads the §2 headers and refuses an access other than the
// store's. The refusal's text is what users of the SDK have quoted from the
// service; its code is bad_request because the SDK shows it as a plain
// BlobError ("Vercel Blob: Cannot use …"), which only that code gets, and
// one report has it answered with HTTP 400 (docs/vercel-blob-protocol.md).
func (s *Server) parseWriteOpts(r *http.Request) (writeOpts, *apiError) {
	var o writeOpts
	o.access = r.Header.Get("X-Vercel-Blob-Access")
	if o.access != AccessPublic && o.access != AccessPrivate {
		return o, errf(http.StatusBadRequest, "bad_request", `access must be "public" or "private"`)
	}
	if o.access != s.access {
		return o, errf(http.StatusBadRequest, "bad_request",
			"Cannot use %s access on a %s store. The store is configured with %s access.", o.access, s.access, s.access)
	}
	o.contentType = r.Header.Get("X-Content-Type")
	switch v := r.Header.Get("X-Add-Random-Suffix"); v {
	case "", "0":
	case "1":
		o.randomSuffix = true
	default:
		return o, errf(http.StatusBadRequest, "bad_request", "invalid x-add-random-suffix %q", v)
	}
	switch v := r.Header.Get("X-Allow-Overwrite"); v {
	case "":
	case "0":
		o.overwriteSet = true
	case "1":
		o.overwrite, o.overwriteSet = true, true
	default:
		return o, errf(http.StatusBadRequest, "bad_request", "invalid x-allow-overwrite %q", v)
	}
	o.maxAge = defaultMaxAge
	if v := r.Header.Get("X-Cache-Control-Max-Age"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 60 {
			return o, errf(http.StatusBadRequest, "bad_request", "x-cache-control-max-age must be an integer of at least 60")
		}
		o.maxAge = n
	}
	o.ifMatch = r.Header.Get("X-If-Match")
	if o.ifMatch != "" && o.overwriteSet && !o.overwrite {
		return o, errf(http.StatusBadRequest, "bad_request", "ifMatch cannot be used with allowOverwrite: false")
	}
	return o, nil
}

func randomAlnum(n int) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		b[i] = chars[k.Int64()]
	}
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func withRandomSuffix(p string) string {
	dir, file := path.Split(p)
	ext := path.Ext(file)
	stem := strings.TrimSuffix(file, ext)
	return dir + stem + "-" + randomAlnum(30) + ext
}

// checkWrite applies the overwrite and if-match rules; s.mu must be held.
func (s *Server) checkWrite(p string, o writeOpts) *apiError {
	existing := s.objects[p]
	if o.ifMatch != "" {
		if existing == nil || existing.etag != o.ifMatch {
			return errf(http.StatusPreconditionFailed, "precondition_failed", "The provided ifMatch does not match the current ETag.")
		}
		return nil
	}
	if existing != nil && !o.overwrite {
		return errf(http.StatusBadRequest, "bad_request",
			"This blob already exists, use `allowOverwrite: true` if you want to overwrite it. Or `addRandomSuffix: true` to generate a unique filename.")
	}
	return nil
}

// now returns a strictly increasing millisecond time; s.mu must be held.
func (s *Server) now() time.Time {
	t := time.Now().UTC().Truncate(time.Millisecond)
	if !t.After(s.lastTime) {
		t = s.lastTime.Add(time.Millisecond)
	}
	s.lastTime = t
	return t
}

func etagOf(data []byte) string {
	sum := md5.Sum(data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func inferContentType(p, given string) string {
	if given != "" {
		return given
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// store creates or replaces an object; s.mu must be held.
func (s *Server) store(p string, data []byte, o writeOpts) *object {
	obj := &object{
		pathname:    p,
		data:        data,
		contentType: inferContentType(p, o.contentType),
		maxAge:      o.maxAge,
		etag:        etagOf(data),
		uploadedAt:  s.now(),
	}
	s.objects[p] = obj
	return obj
}

func escapeURLPath(p string) string {
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// blobURL is where the server serves the content of o; s.mu must be held.
func (s *Server) blobURL(o *object) string {
	return s.contentBase() + "/" + escapeURLPath(o.pathname)
}

// pathnameOf accepts a blob URL (any host: clients may reach us under
// another name) or a bare pathname.
func (s *Server) pathnameOf(v string) string {
	if u, err := url.Parse(v); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		rest := strings.TrimPrefix(u.Path, "/")
		if seg, p, ok := strings.Cut(rest, "/"); ok && strings.HasSuffix(seg, contentHostSuffix) {
			return p
		}
		return rest
	}
	return v
}

func disposition(p string, attachment bool) string {
	kind := "inline"
	if attachment {
		kind = "attachment"
	}
	return fmt.Sprintf(`%s; filename="%s"`, kind, path.Base(p))
}

// blobResult is what the API says of a blob after a write (put, copy,
// a multipart upload's completion); list adds its size and upload time
// (listBlob), head its cache control too (headResult).
type blobResult struct {
	URL                string `json:"url"`
	DownloadURL        string `json:"downloadUrl"`
	Pathname           string `json:"pathname"`
	ContentType        string `json:"contentType"`
	ContentDisposition string `json:"contentDisposition"`
	ETag               string `json:"etag"`
}

func (s *Server) blobResult(o *object) blobResult {
	u := s.blobURL(o)
	return blobResult{URL: u, DownloadURL: u + "?download=1", Pathname: o.pathname,
		ContentType: o.contentType, ContentDisposition: disposition(o.pathname, false), ETag: o.etag}
}

type listBlob struct {
	blobResult
	Size       int64  `json:"size"`
	UploadedAt string `json:"uploadedAt"`
}

func (s *Server) listBlob(o *object) listBlob {
	return listBlob{blobResult: s.blobResult(o), Size: int64(len(o.data)), UploadedAt: o.uploadedAt.Format("2006-01-02T15:04:05.000Z07:00")}
}

type headResult struct {
	listBlob
	CacheControl string `json:"cacheControl"`
}

func (s *Server) headResult(o *object) headResult {
	return headResult{listBlob: s.listBlob(o), CacheControl: fmt.Sprintf("public, max-age=%d", o.maxAge)}
}

func readBody(r *http.Request) ([]byte, *apiError) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, errf(http.StatusBadRequest, "bad_request", "could not read the body: %v", err)
	}
	if v := r.Header.Get("X-Content-Length"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n != len(data) {
			return nil, errf(http.StatusBadRequest, "bad_request", "x-content-length %q does not match the body (%d bytes)", v, len(data))
		}
	}
	return data, nil
}

// writeTarget checks a write's pathname (the pathname parameter) and
// options, and returns the pathname it writes to: the one asked for, with
// a random suffix if the request asked for one.
func (s *Server) writeTarget(r *http.Request) (string, writeOpts, *apiError) {
	p := r.URL.Query().Get("pathname")
	if e := validatePathname(p); e != nil {
		return "", writeOpts{}, e
	}
	o, e := s.parseWriteOpts(r)
	if e != nil {
		return "", o, e
	}
	if o.randomSuffix {
		p = withRandomSuffix(p)
	}
	return p, o, nil
}

func (s *Server) put(r *http.Request) (any, *apiError) {
	p, o, e := s.writeTarget(r)
	if e != nil {
		return nil, e
	}
	data, e := readBody(r)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.checkWrite(p, o); e != nil {
		return nil, e
	}
	return s.blobResult(s.store(p, data, o)), nil
}

func (s *Server) copy(r *http.Request, rename bool) (any, *apiError) {
	to, o, e := s.writeTarget(r)
	if e != nil {
		return nil, e
	}
	q := r.URL.Query()
	if !q.Has("fromUrl") || q.Get("fromUrl") == "" {
		return nil, errf(http.StatusBadRequest, "bad_request", "fromUrl is required")
	}
	from := s.pathnameOf(q.Get("fromUrl"))
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.objects[from]
	if src == nil {
		return nil, errf(http.StatusNotFound, "not_found", "The requested blob does not exist")
	}
	if e := s.checkWrite(to, o); e != nil {
		return nil, e
	}
	if o.contentType == "" {
		o.contentType = src.contentType
	}
	obj := s.store(to, append([]byte(nil), src.data...), o)
	if rename && from != to {
		delete(s.objects, from)
	}
	return s.blobResult(obj), nil
}

func (s *Server) head(r *http.Request) (any, *apiError) {
	p := s.pathnameOf(r.URL.Query().Get("url"))
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[p]
	if o == nil {
		return nil, errf(http.StatusNotFound, "not_found", "The requested blob does not exist")
	}
	return s.headResult(o), nil
}

type listResult struct {
	Blobs   []listBlob `json:"blobs"`
	Cursor  string     `json:"cursor,omitempty"`
	HasMore bool       `json:"hasMore"`
	Folders []string   `json:"folders,omitempty"`
}

func (s *Server) list(r *http.Request) (any, *apiError) {
	q := r.URL.Query()
	limit := 1000
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, errf(http.StatusBadRequest, "bad_request", "limit must be between 1 and 1000")
		}
		limit = n
	}
	prefix := q.Get("prefix")
	mode := q.Get("mode")
	if mode != "" && mode != "expanded" && mode != "folded" {
		return nil, errf(http.StatusBadRequest, "bad_request", `mode must be "expanded" or "folded"`)
	}
	after := ""
	if c := q.Get("cursor"); c != "" {
		raw, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil {
			return nil, errf(http.StatusBadRequest, "bad_request", "invalid cursor")
		}
		after = string(raw)
	}
	type entry struct {
		name string
		obj  *object
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var entries []entry
	folders := map[string]bool{}
	for p, o := range s.objects {
		if !strings.HasPrefix(p, prefix) {
			continue
		}
		if mode == "folded" {
			rest := p[len(prefix):]
			if i := strings.Index(rest, "/"); i >= 0 {
				f := prefix + rest[:i+1]
				if !folders[f] {
					folders[f] = true
					entries = append(entries, entry{name: f})
				}
				continue
			}
		}
		entries = append(entries, entry{name: p, obj: o})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	res := listResult{Blobs: []listBlob{}}
	if mode == "folded" {
		res.Folders = []string{}
	}
	n := 0
	for i, en := range entries {
		if en.name <= after {
			continue
		}
		if n == limit {
			res.HasMore = true
			res.Cursor = base64.RawURLEncoding.EncodeToString([]byte(entries[i-1].name))
			break
		}
		n++
		if en.obj == nil {
			res.Folders = append(res.Folders, en.name)
			continue
		}
		res.Blobs = append(res.Blobs, s.listBlob(en.obj))
	}
	return res, nil
}

func (s *Server) del(r *http.Request) (any, *apiError) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return nil, errf(http.StatusBadRequest, "bad_request", "content-type must be application/json")
	}
	data, e := readBody(r)
	if e != nil {
		return nil, e
	}
	var body struct {
		URLs []string `json:"urls"`
	}
	if err := json.Unmarshal(data, &body); err != nil || len(body.URLs) == 0 {
		return nil, errf(http.StatusBadRequest, "bad_request", `body must be {"urls":[…]} with at least one URL`)
	}
	ifMatch := r.Header.Get("X-If-Match")
	if ifMatch != "" && len(body.URLs) != 1 {
		return nil, errf(http.StatusBadRequest, "bad_request", "ifMatch can only be used when deleting a single blob")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ifMatch != "" {
		o := s.objects[s.pathnameOf(body.URLs[0])]
		if o == nil || o.etag != ifMatch {
			return nil, errf(http.StatusPreconditionFailed, "precondition_failed", "The provided ifMatch does not match the current ETag.")
		}
	}
	for _, u := range body.URLs {
		// A missing blob is not an error, as the service behaves.
		delete(s.objects, s.pathnameOf(u))
	}
	// Any JSON will do for the SDK; null is what its own tests mock.
	return nil, nil
}

func (s *Server) mpuCreate(r *http.Request) (any, *apiError) {
	p, o, e := s.writeTarget(r)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.checkWrite(p, o); e != nil {
		return nil, e
	}
	// The key is opaque to clients; this one needs URL-encoding, which the
	// client must apply in x-mpu-key.
	up := &upload{key: "mpu/" + p + "#" + randomHex(4), id: randomHex(16), pathname: p, opts: o, parts: map[int]part{}}
	s.uploads[up.id] = up
	return map[string]string{"key": up.key, "uploadId": up.id}, nil
}

// findUpload checks the x-mpu-* headers; s.mu must be held.
func (s *Server) findUpload(r *http.Request) (*upload, *apiError) {
	id := r.Header.Get("X-Mpu-Upload-Id")
	rawKey := r.Header.Get("X-Mpu-Key")
	key, err := url.PathUnescape(rawKey)
	if id == "" || rawKey == "" || err != nil {
		return nil, errf(http.StatusBadRequest, "bad_request", "missing or malformed x-mpu-key / x-mpu-upload-id")
	}
	up := s.uploads[id]
	if up == nil || up.key != key {
		return nil, errf(http.StatusNotFound, "not_found", "The specified multipart upload does not exist")
	}
	return up, nil
}

func (s *Server) mpuUpload(r *http.Request) (any, *apiError) {
	if _, e := s.parseWriteOpts(r); e != nil {
		return nil, e
	}
	n, err := strconv.Atoi(r.Header.Get("X-Mpu-Part-Number"))
	if err != nil || n < 1 || n > 10000 {
		return nil, errf(http.StatusBadRequest, "bad_request", "x-mpu-part-number must be between 1 and 10000")
	}
	data, e := readBody(r)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	up, e := s.findUpload(r)
	if e != nil {
		return nil, e
	}
	pt := part{data: data, etag: etagOf(data)}
	up.parts[n] = pt
	return map[string]string{"etag": pt.etag}, nil
}

func (s *Server) mpuComplete(r *http.Request) (any, *apiError) {
	o, e := s.parseWriteOpts(r)
	if e != nil {
		return nil, e
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return nil, errf(http.StatusBadRequest, "bad_request", "content-type must be application/json")
	}
	data, e := readBody(r)
	if e != nil {
		return nil, e
	}
	var parts []struct {
		PartNumber int    `json:"partNumber"`
		ETag       string `json:"etag"`
	}
	if err := json.Unmarshal(data, &parts); err != nil {
		return nil, errf(http.StatusBadRequest, "bad_request", "body must be a JSON array of {partNumber, etag}")
	}
	// Clients send parts in completion order.
	sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
	s.mu.Lock()
	defer s.mu.Unlock()
	up, e := s.findUpload(r)
	if e != nil {
		return nil, e
	}
	var buf bytes.Buffer
	for i, p := range parts {
		if i > 0 && parts[i-1].PartNumber == p.PartNumber {
			return nil, errf(http.StatusBadRequest, "bad_request", "part %d listed twice", p.PartNumber)
		}
		pt, ok := up.parts[p.PartNumber]
		if !ok || pt.etag != p.ETag {
			return nil, errf(http.StatusBadRequest, "bad_request", "part %d was not uploaded or its etag does not match", p.PartNumber)
		}
		if i < len(parts)-1 && int64(len(pt.data)) < s.minPartSize {
			return nil, errf(http.StatusBadRequest, "bad_request", "part %d is %d bytes; every part but the last must be at least %d bytes", p.PartNumber, len(pt.data), s.minPartSize)
		}
		buf.Write(pt.data)
	}
	// Overwrite and if-match are checked again: the blob may have appeared
	// since create.
	o.contentType = up.opts.contentType
	if e := s.checkWrite(up.pathname, o); e != nil {
		return nil, e
	}
	delete(s.uploads, up.id)
	return s.blobResult(s.store(up.pathname, buf.Bytes(), o)), nil
}

// download serves content URLs, with Range, conditional requests and
// ?download=1. A URL of the other access (or another store) is not the
// store's: 404, as for a host that does not exist.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	seg, p, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	s.mu.Lock()
	if seg != strings.ToLower(s.storeID)+"."+s.access+contentHostSuffix {
		s.mu.Unlock()
		http.Error(w, "The requested blob does not exist", http.StatusNotFound)
		return
	}
	if s.access == AccessPrivate {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok != s.token {
			s.mu.Unlock()
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
	}
	o := s.objects[p]
	var cp object
	if o != nil {
		cp = *o
	}
	if s.staleReads && s.access == AccessPublic && r.URL.Query().Get("cache") != "0" {
		// The CDN keys its copies by path and query.
		ck := r.URL.Path + "?" + r.URL.RawQuery
		now := time.Now()
		switch c := s.cdn[ck]; {
		case c != nil && now.Before(c.until):
			if sw, ok := w.(*statusWriter); ok {
				sw.stale = o == nil || c.obj.etag != cp.etag || !c.obj.uploadedAt.Equal(cp.uploadedAt)
			}
			cp, o = c.obj, &c.obj
		case o != nil:
			s.cdn[ck] = &cached{obj: cp, until: now.Add(time.Duration(cp.maxAge) * time.Second)}
		}
	}
	s.mu.Unlock()
	if o == nil {
		http.Error(w, "The requested blob does not exist", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("ETag", cp.etag)
	h.Set("Content-Type", cp.contentType)
	h.Set("Cache-Control", fmt.Sprintf("%s, max-age=%d", s.access, cp.maxAge))
	h.Set("Content-Disposition", disposition(p, r.URL.Query().Get("download") == "1"))
	http.ServeContent(w, r, "", cp.uploadedAt, bytes.NewReader(cp.data))
}
