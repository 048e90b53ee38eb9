package vercelblob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"gocloud.dev/blob/driver"
)

// NewRangeReader GETs the blob's content URL with a Range header, past the
// CDN (see bypassCache). With a known content base (configured, or learned
// from an earlier answer) that is one request, and a 404 from a base known
// to be the store's means the blob does not exist; otherwise, or when a
// guessed base 404s, a head finds the URL. A connection that breaks mid-body
// is resumed with a new range request, provided the ETag has not changed.
func (b *bucket) NewRangeReader(ctx context.Context, key string, offset, length int64, opts *driver.ReaderOptions) (driver.Reader, error) {
	p, err := b.pathname("read", key)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, &Error{Op: "read", Pathname: p, Code: CodeInvalidKey, Message: "negative offset"}
	}
	ro := &RequestOptions{}
	if opts.BeforeRead != nil {
		if err := opts.BeforeRead(asRequestOptions(ro)); err != nil {
			return nil, err
		}
	}
	r := &reader{b: b, ctx: ctx, p: p, pos: offset, extra: ro.Header}
	if length >= 0 {
		r.remaining = length
	} else {
		r.remaining = -1
	}
	if length == 0 {
		info, err := b.c.head(ctx, p, ro.Header)
		if err != nil {
			return nil, err
		}
		b.learnBase(info)
		r.attrs = driver.ReaderAttributes{ContentType: info.ContentType, ModTime: info.UploadedAt, Size: info.Size}
		return r, nil
	}
	var info *BlobInfo
	if u, exact, ok := b.contentURL(p); ok {
		r.url = u
		err = r.open(true)
		if err == nil {
			return r, nil
		}
		if !notFoundStatus(err) {
			return nil, err
		}
		if exact {
			var e *Error
			errors.As(err, &e)
			e.Code = CodeNotFound
			return nil, e
		}
		// A guessed URL that 404s may be a wrong guess: ask the API.
	}
	info, err = b.c.head(ctx, p, ro.Header)
	if err != nil {
		return nil, err
	}
	b.learnBase(info)
	r.url = info.URL
	r.headInfo = info
	if offset >= info.Size {
		r.attrs = driver.ReaderAttributes{ContentType: info.ContentType, ModTime: info.UploadedAt, Size: info.Size}
		r.remaining = 0
		return r, nil
	}
	if err := r.open(true); err != nil {
		return nil, err
	}
	return r, nil
}

type reader struct {
	b         *bucket
	ctx       context.Context
	p         string
	url       string
	extra     http.Header
	pos       int64 // absolute offset of the next byte
	remaining int64 // bytes still wanted; -1 means to the end
	etag      string
	headInfo  *BlobInfo

	body    io.ReadCloser
	cancel  context.CancelFunc
	resp    *http.Response
	attrs   driver.ReaderAttributes
	resumes int
}

// open issues the GET for [pos, pos+remaining). first is true for the
// request made by NewRangeReader, which fills the attributes.
func (r *reader) open(first bool) error {
	rng := ""
	switch {
	case r.remaining > 0:
		rng = fmt.Sprintf("bytes=%d-%d", r.pos, r.pos+r.remaining-1)
	case r.pos > 0:
		rng = fmt.Sprintf("bytes=%d-", r.pos)
	}
	resp, cancel, err := r.b.c.download(r.ctx, "read", r.p, bypassCache(r.url), rng, r.b.needsToken(r.url), r.extra)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusRequestedRangeNotSatisfiable {
			if first {
				return r.emptyPastEnd()
			}
			r.remaining = 0 // a resume exactly at the end
			return nil
		}
		return err
	}
	// Resumes compare the content host's ETag with its own earlier answer:
	// the API's ETag need not be formatted the same way.
	etag := resp.Header.Get("ETag")
	if !first && r.etag != "" && etag != "" && etag != r.etag {
		resp.Body.Close()
		cancel()
		return &Error{Op: "read", Pathname: r.p, Code: CodePreconditionFailed, Message: "the blob changed while it was being read"}
	}
	if first {
		r.etag = etag
	}
	var body io.Reader = resp.Body
	size := int64(-1)
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != r.pos {
			resp.Body.Close()
			cancel()
			return &Error{Op: "read", Pathname: r.p, Code: CodeBadResponse, Message: "unexpected Content-Range " + strconv.Quote(resp.Header.Get("Content-Range"))}
		}
		size = total
	default:
		// The server ignored Range: skip to pos ourselves.
		size = resp.ContentLength
		if r.pos > 0 {
			if _, err := io.CopyN(io.Discard, resp.Body, r.pos); err != nil {
				resp.Body.Close()
				cancel()
				return &Error{Op: "read", Pathname: r.p, Code: CodeNetwork, Err: r.b.c.redactErr(err)}
			}
		}
	}
	if r.remaining >= 0 {
		body = io.LimitReader(body, r.remaining)
	}
	r.body = struct {
		io.Reader
		io.Closer
	}{body, resp.Body}
	r.cancel = cancel
	r.resp = detach(resp)
	if first {
		r.attrs = driver.ReaderAttributes{ContentType: resp.Header.Get("Content-Type"), Size: size}
		if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
			r.attrs.ModTime = lm
		}
		if r.headInfo != nil {
			r.attrs.ModTime = r.headInfo.UploadedAt
			r.attrs.Size = r.headInfo.Size
			if r.headInfo.ContentType != "" {
				r.attrs.ContentType = r.headInfo.ContentType
			}
		}
		if r.attrs.Size < 0 || r.attrs.ModTime.IsZero() {
			// Headers we could not read: ask the API.
			info, err := r.b.c.head(r.ctx, r.p, r.extra)
			if err != nil {
				r.Close()
				return err
			}
			r.attrs.Size, r.attrs.ModTime = info.Size, info.UploadedAt
		}
		if r.attrs.ContentType == "" {
			r.attrs.ContentType = "application/octet-stream"
		}
	}
	return nil
}

// emptyPastEnd serves a read that starts at or past the end of the blob.
func (r *reader) emptyPastEnd() error {
	info, err := r.b.c.head(r.ctx, r.p, r.extra)
	if err != nil {
		return err
	}
	r.attrs = driver.ReaderAttributes{ContentType: info.ContentType, ModTime: info.UploadedAt, Size: info.Size}
	r.remaining = 0
	return nil
}

func addQuery(u, q string) string {
	if strings.Contains(u, "?") {
		return u + "&" + q
	}
	return u + "?" + q
}

// bypassCache makes a content URL that the CDN cannot answer from a copy:
// an overwritten public blob may be served stale for up to its max-age, and
// a reader must see what was written (the archiver's read-back after a
// merge, restore, verify). cache=0 is documented for private blobs; whether
// public ones honour it is not, so they also get a query never asked before,
// which is a fresh cache key.
func bypassCache(u string) string {
	u = addQuery(u, "cache=0")
	if _, acc, _, ok := storeOfString(u); !ok || acc == AccessPublic {
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		u += "&fresh=" + hex.EncodeToString(rnd[:])
	}
	return u
}

// parseContentRange parses "bytes start-end/total".
func parseContentRange(s string) (start, total int64, ok bool) {
	s, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(s, "/")
	if !found {
		return 0, 0, false
	}
	a, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	total, err2 := strconv.ParseInt(tot, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return start, total, true
}

func (r *reader) Read(p []byte) (int, error) {
	if r.remaining == 0 {
		return 0, io.EOF
	}
	if r.body == nil {
		if err := r.open(false); err != nil {
			return 0, err
		}
		if r.body == nil {
			return 0, io.EOF
		}
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	if r.remaining > 0 {
		r.remaining -= int64(n)
	}
	if err == nil || n > 0 && errors.Is(err, io.EOF) {
		if r.remaining == 0 {
			return n, io.EOF
		}
		return n, err
	}
	if errors.Is(err, io.EOF) {
		if r.remaining > 0 {
			// The range ended early: the object shrank under us.
			return n, &Error{Op: "read", Pathname: r.p, Code: CodeBadResponse, Message: "content ended before the requested range", Err: io.ErrUnexpectedEOF}
		}
		return n, io.EOF
	}
	// The connection broke mid-body. Resume where we are, a bounded number
	// of times, unless the caller gave up.
	r.closeBody()
	if r.ctx.Err() != nil {
		return n, r.ctx.Err()
	}
	if r.resumes >= r.b.c.retries {
		return n, &Error{Op: "read", Pathname: r.p, Code: CodeNetwork, Err: r.b.c.redactErr(err), Attempts: r.resumes + 1}
	}
	r.resumes++
	if serr := r.b.c.sleep(r.ctx, r.b.c.backoff(r.resumes-1)); serr != nil {
		return n, serr
	}
	if n > 0 {
		return n, nil
	}
	return r.Read(p)
}

func (r *reader) closeBody() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
}

func (r *reader) Close() error {
	r.closeBody()
	return nil
}

func (r *reader) Attributes() *driver.ReaderAttributes { return &r.attrs }

// As exposes the *http.Response of the first content request (body and
// request removed) and, if a head was made, the *BlobInfo.
func (r *reader) As(i any) bool {
	switch p := i.(type) {
	case **http.Response:
		if p == nil || r.resp == nil {
			return false
		}
		*p = r.resp
		return true
	case *BlobInfo:
		if p == nil || r.headInfo == nil {
			return false
		}
		*p = *r.headInfo
		return true
	}
	return false
}
