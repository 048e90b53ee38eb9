package vercelblob

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// apiVersion is what @vercel/blob 2.8.0 sends; version 12 added ETags.
const apiVersion = "12"

// maxJSONBody bounds what we read of an API answer; real answers are a few
// kilobytes (a list page of 1000 entries is the largest).
const maxJSONBody = 32 << 20

// client speaks the Vercel Blob REST API with retries. It is shared by all
// operations of one bucket.
type client struct {
	apiURL     string // request URLs are apiURL + suffix, by plain concatenation
	token      string
	storeID    string
	hc         *http.Client
	retries    int
	maxElapsed time.Duration
	reqTimeout time.Duration
	baseDelay  time.Duration
	maxDelay   time.Duration
	// trustedHosts may receive the bearer token when downloading content.
	trustedHosts map[string]bool
	// sleep waits between attempts; replaced in tests.
	sleep func(ctx context.Context, d time.Duration) error
}

// apiRequest describes one logical API call; do sends it, maybe repeatedly.
type apiRequest struct {
	op       string // for errors
	pathname string // for errors
	method   string
	suffix   string // "/?pathname=…", "?url=…", "/delete", "/mpu?…"
	header   http.Header
	body     []byte // replayable on every attempt; nil means no body
	extra    http.Header
}

// callResult tells the caller what happened across attempts, beyond the
// final answer.
type callResult struct {
	// uncertain is set when an earlier attempt failed in a way that leaves
	// open whether the service applied it (the connection broke after the
	// request was sent, or a 5xx). A later "already exists" may then be our
	// own earlier write.
	uncertain bool
}

func newRequestID(storeID string) string {
	var b [7]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", storeID, time.Now().UnixMilli(), hex.EncodeToString(b[:]))
}

// redact removes the token from text that may have come from elsewhere.
func (c *client) redact(s string) string {
	if c.token != "" && strings.Contains(s, c.token) {
		s = strings.ReplaceAll(s, c.token, "[REDACTED]")
	}
	return s
}

// redactErr keeps err unless its text would reveal the token.
func (c *client) redactErr(err error) error {
	if err == nil || c.token == "" || !strings.Contains(err.Error(), c.token) {
		return err
	}
	return errors.New(c.redact(err.Error()))
}

// do sends rq, retrying transient failures, and decodes a 2xx JSON answer
// into out (if out is non-nil).
func (c *client) do(ctx context.Context, rq *apiRequest, out any) (callResult, error) {
	var res callResult
	requestID := newRequestID(c.storeID)
	start := time.Now()
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return res, &Error{Op: rq.op, Pathname: rq.pathname, Err: err, RequestID: requestID, Attempts: attempt}
		}
		e := c.attempt(ctx, rq, requestID, attempt, out)
		if e == nil {
			return res, nil
		}
		e.Attempts = attempt + 1
		e.RequestID = requestID
		retry, uncertain := c.classify(ctx, e)
		if !retry || attempt >= c.retries {
			e.uncertainBefore = res.uncertain
			return res, e
		}
		res.uncertain = res.uncertain || uncertain
		delay := c.backoff(attempt)
		if e.RetryAfter > delay {
			delay = e.RetryAfter
		}
		if c.maxElapsed > 0 && time.Since(start)+delay > c.maxElapsed {
			e.uncertainBefore = res.uncertain
			return res, e
		}
		if err := c.sleep(ctx, delay); err != nil {
			return res, &Error{Op: rq.op, Pathname: rq.pathname, Err: err, RequestID: requestID, Attempts: attempt + 1}
		}
	}
}

// classify decides whether e is worth another attempt, and whether the
// failed attempt may nonetheless have taken effect.
func (c *client) classify(ctx context.Context, e *Error) (retry, uncertain bool) {
	if ctx.Err() != nil {
		return false, false
	}
	if e.Code == CodeNetwork {
		return true, true
	}
	if e.Status == http.StatusTooManyRequests {
		return true, false
	}
	if e.Status >= 500 {
		return !permanentCode(e.Code), true
	}
	return retryableCode(e.Code), false
}

// backoff is exponential with full jitter: a uniform wait in
// [0, min(maxDelay, baseDelay*2^attempt)).
func (c *client) backoff(attempt int) time.Duration {
	ceiling := c.baseDelay
	for i := 0; i < attempt && ceiling < c.maxDelay; i++ {
		ceiling *= 2
	}
	if ceiling > c.maxDelay {
		ceiling = c.maxDelay
	}
	if ceiling <= 0 {
		return 0
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(ceiling)))
	if err != nil {
		return ceiling / 2
	}
	return time.Duration(n.Int64())
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *client) setCommonHeaders(h http.Header, requestID string, attempt int) {
	h.Set("Authorization", "Bearer "+c.token)
	h.Set("X-Api-Version", apiVersion)
	h.Set("X-Vercel-Blob-Store-Id", c.storeID)
	h.Set("X-Api-Blob-Request-Id", requestID)
	h.Set("X-Api-Blob-Request-Attempt", strconv.Itoa(attempt))
}

func (c *client) attempt(ctx context.Context, rq *apiRequest, requestID string, attempt int, out any) *Error {
	actx, cancel := context.WithTimeout(ctx, c.reqTimeout)
	defer cancel()
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(actx, rq.method, c.apiURL+rq.suffix, body)
	if err != nil {
		return &Error{Op: rq.op, Pathname: rq.pathname, Code: CodeConfig, Err: c.redactErr(err)}
	}
	for k, vs := range rq.extra {
		req.Header[k] = append([]string(nil), vs...)
	}
	for k, vs := range rq.header {
		req.Header[k] = append([]string(nil), vs...)
	}
	c.setCommonHeaders(req.Header, requestID, attempt)
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, rq, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody))
	if err != nil {
		return c.transportError(ctx, rq, err)
	}
	if resp.StatusCode/100 == 2 {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return &Error{Op: rq.op, Pathname: rq.pathname, Status: resp.StatusCode, Code: CodeBadResponse,
				Message: "answer is not the expected JSON", Err: err, resp: detach(resp)}
		}
		return nil
	}
	return c.apiError(rq.op, rq.pathname, resp, data)
}

// transportError describes a failure below HTTP. If the caller's context
// ended, that is the error; a per-attempt timeout is a network failure.
func (c *client) transportError(ctx context.Context, rq *apiRequest, err error) *Error {
	if ctx.Err() != nil {
		return &Error{Op: rq.op, Pathname: rq.pathname, Err: ctx.Err()}
	}
	return &Error{Op: rq.op, Pathname: rq.pathname, Code: CodeNetwork, Err: c.redactErr(err)}
}

// apiError decodes {"error":{"code":…,"message":…}}. A body that is not such
// JSON yields an empty code, which classify treats by HTTP status.
func (c *client) apiError(op, pathname string, resp *http.Response, data []byte) *Error {
	e := &Error{Op: op, Pathname: pathname, Status: resp.StatusCode, resp: detach(resp)}
	var payload struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &payload) == nil && payload.Error.Code != "" {
		e.Code = payload.Error.Code
		e.Message = c.redact(payload.Error.Message)
	} else {
		if resp.StatusCode >= 500 {
			// What the SDK does with a body it cannot read.
			e.Code = CodeUnknownError
		}
		if len(data) > 0 {
			msg := strings.TrimSpace(string(data))
			if len(msg) > 200 {
				msg = msg[:200] + "…"
			}
			e.Message = c.redact(msg)
		}
	}
	if e.Code == "" {
		switch resp.StatusCode {
		case http.StatusNotFound:
			e.Code = CodeNotFound
		case http.StatusTooManyRequests:
			e.Code = CodeRateLimited
		}
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && secs >= 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			if d := time.Until(t); d > 0 {
				e.RetryAfter = d
			}
		}
	}
	return e
}

// detach copies the parts of resp worth exposing through ErrorAs: not the
// body (already consumed) and not the request, whose headers hold the token.
func detach(resp *http.Response) *http.Response {
	if resp == nil {
		return nil
	}
	cp := *resp
	cp.Body = http.NoBody
	cp.Request = nil
	cp.TLS = nil
	cp.Header = resp.Header.Clone()
	return &cp
}

// --- API calls -------------------------------------------------------------

// BlobInfo is what the API reports about a blob (put, head, list, copy and
// multipart complete each fill a subset). Attributes.As, ListObject.As and
// Reader.As accept a *BlobInfo to receive it.
type BlobInfo struct {
	URL                string    `json:"url"`
	DownloadURL        string    `json:"downloadUrl"`
	Pathname           string    `json:"pathname"`
	Size               int64     `json:"size"`
	UploadedAt         time.Time `json:"uploadedAt"`
	ContentType        string    `json:"contentType"`
	ContentDisposition string    `json:"contentDisposition"`
	CacheControl       string    `json:"cacheControl"`
	ETag               string    `json:"etag"`
}

type listPage struct {
	Blobs   []BlobInfo `json:"blobs"`
	Cursor  string     `json:"cursor"`
	HasMore bool       `json:"hasMore"`
	Folders []string   `json:"folders"`
}

type mpuPart struct {
	PartNumber int    `json:"partNumber"`
	ETag       string `json:"etag"`
}

func query(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

func (c *client) put(ctx context.Context, pathname string, h http.Header, body []byte, extra http.Header) (*BlobInfo, callResult, error) {
	var info BlobInfo
	if body == nil {
		body = []byte{}
	}
	res, err := c.do(ctx, &apiRequest{op: "put", pathname: pathname, method: http.MethodPut,
		suffix: "/?" + query("pathname", pathname), header: h, body: body, extra: extra}, &info)
	if err != nil {
		return nil, res, err
	}
	return &info, res, nil
}

func (c *client) head(ctx context.Context, pathname string, extra http.Header) (*BlobInfo, error) {
	var info BlobInfo
	_, err := c.do(ctx, &apiRequest{op: "head", pathname: pathname, method: http.MethodGet,
		suffix: "?" + query("url", pathname), extra: extra}, &info)
	if err != nil {
		return nil, err
	}
	return &info, nil
}

func (c *client) list(ctx context.Context, prefix, cursor string, limit int, folded bool, extra http.Header) (*listPage, error) {
	mode := ""
	if folded {
		mode = "folded"
	}
	var page listPage
	_, err := c.do(ctx, &apiRequest{op: "list", pathname: prefix, method: http.MethodGet,
		suffix: "?" + query("limit", strconv.Itoa(limit), "prefix", prefix, "cursor", cursor, "mode", mode), extra: extra}, &page)
	if err != nil {
		return nil, err
	}
	return &page, nil
}

func (c *client) del(ctx context.Context, urls []string, ifMatch string, extra http.Header) error {
	body, err := json.Marshal(map[string][]string{"urls": urls})
	if err != nil {
		return err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if ifMatch != "" {
		h.Set("X-If-Match", ifMatch)
	}
	var ignored json.RawMessage // any JSON is fine, but it must be JSON
	_, err = c.do(ctx, &apiRequest{op: "delete", pathname: strings.Join(urls, ", "), method: http.MethodPost,
		suffix: "/delete", header: h, body: body, extra: extra}, &ignored)
	return err
}

func (c *client) copy(ctx context.Context, to, fromURL string, h http.Header, extra http.Header) (*BlobInfo, callResult, error) {
	var info BlobInfo
	res, err := c.do(ctx, &apiRequest{op: "copy", pathname: to, method: http.MethodPut,
		suffix: "?" + query("pathname", to, "fromUrl", fromURL), header: h, extra: extra}, &info)
	if err != nil {
		return nil, res, err
	}
	return &info, res, nil
}

type mpuHandle struct {
	Key      string `json:"key"`
	UploadID string `json:"uploadId"`
}

func (c *client) mpuCreate(ctx context.Context, pathname string, h http.Header, extra http.Header) (*mpuHandle, error) {
	hh := h.Clone()
	hh.Set("X-Mpu-Action", "create")
	var out mpuHandle
	_, err := c.do(ctx, &apiRequest{op: "multipart create", pathname: pathname, method: http.MethodPost,
		suffix: "/mpu?" + query("pathname", pathname), header: hh, extra: extra}, &out)
	if err != nil {
		return nil, err
	}
	if out.Key == "" || out.UploadID == "" {
		return nil, &Error{Op: "multipart create", Pathname: pathname, Code: CodeBadResponse, Message: "missing key or uploadId"}
	}
	return &out, nil
}

// encodeURIComponent matches JavaScript's, which the SDK applies to the
// multipart key: url.QueryEscape differs in space and in !'()*.
func encodeURIComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func (c *client) mpuUpload(ctx context.Context, pathname string, h http.Header, m *mpuHandle, partNumber int, data []byte, extra http.Header) (string, error) {
	hh := h.Clone()
	hh.Set("X-Mpu-Action", "upload")
	hh.Set("X-Mpu-Key", encodeURIComponent(m.Key))
	hh.Set("X-Mpu-Upload-Id", m.UploadID)
	hh.Set("X-Mpu-Part-Number", strconv.Itoa(partNumber))
	var out struct {
		ETag string `json:"etag"`
	}
	_, err := c.do(ctx, &apiRequest{op: fmt.Sprintf("multipart upload part %d", partNumber), pathname: pathname,
		method: http.MethodPost, suffix: "/mpu?" + query("pathname", pathname), header: hh, body: data, extra: extra}, &out)
	if err != nil {
		return "", err
	}
	if out.ETag == "" {
		return "", &Error{Op: "multipart upload", Pathname: pathname, Code: CodeBadResponse, Message: "missing etag"}
	}
	return out.ETag, nil
}

func (c *client) mpuComplete(ctx context.Context, pathname string, h http.Header, m *mpuHandle, parts []mpuPart, extra http.Header) (*BlobInfo, callResult, error) {
	hh := h.Clone()
	hh.Set("X-Mpu-Action", "complete")
	hh.Set("X-Mpu-Key", encodeURIComponent(m.Key))
	hh.Set("X-Mpu-Upload-Id", m.UploadID)
	hh.Set("Content-Type", "application/json")
	if parts == nil {
		parts = []mpuPart{}
	}
	body, err := json.Marshal(parts)
	if err != nil {
		return nil, callResult{}, err
	}
	var info BlobInfo
	res, err := c.do(ctx, &apiRequest{op: "multipart complete", pathname: pathname, method: http.MethodPost,
		suffix: "/mpu?" + query("pathname", pathname), header: hh, body: body, extra: extra}, &info)
	if err != nil {
		return nil, res, err
	}
	return &info, res, nil
}

// --- content downloads ------------------------------------------------------

// trusted reports whether the bearer token may be sent to the host of u:
// the API's own host, the configured content host, or Vercel's blob hosts.
func (c *client) trusted(u *url.URL) bool {
	h := strings.ToLower(u.Hostname())
	return c.trustedHosts[strings.ToLower(u.Host)] || strings.HasSuffix(h, ".blob.vercel-storage.com")
}

// download GETs a content URL, retrying until response headers arrive. The
// per-request timeout covers only that part: the body may take as long as
// the caller's context allows.
func (c *client) download(ctx context.Context, op, pathname, rawURL, rangeHdr string, private bool, extra http.Header) (*http.Response, context.CancelFunc, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, &Error{Op: op, Pathname: pathname, Code: CodeBadResponse, Message: "content URL does not parse", Err: err}
	}
	if private && !c.trusted(u) {
		return nil, nil, &Error{Op: op, Pathname: pathname, Code: CodeConfig,
			Message: "refusing to send the token to untrusted content host " + u.Host + " (set VERCEL_BLOB_BASE_URL to trust it)"}
	}
	start := time.Now()
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, &Error{Op: op, Pathname: pathname, Err: err, Attempts: attempt}
		}
		rctx, cancel := context.WithCancel(ctx)
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, rawURL, nil)
		if err != nil {
			cancel()
			return nil, nil, &Error{Op: op, Pathname: pathname, Code: CodeConfig, Err: c.redactErr(err)}
		}
		for k, vs := range extra {
			req.Header[k] = append([]string(nil), vs...)
		}
		if private {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if rangeHdr != "" {
			req.Header.Set("Range", rangeHdr)
		}
		timer := time.AfterFunc(c.reqTimeout, cancel)
		resp, err := c.hc.Do(req)
		stopped := timer.Stop()
		var e *Error
		switch {
		case err != nil:
			cancel()
			if ctx.Err() != nil {
				return nil, nil, &Error{Op: op, Pathname: pathname, Err: ctx.Err(), Attempts: attempt + 1}
			}
			if !stopped {
				// Our timer cancelled the request: a timeout, not a cancel.
				err = fmt.Errorf("no response within %v: %w", c.reqTimeout, context.DeadlineExceeded)
			}
			e = &Error{Op: op, Pathname: pathname, Code: CodeNetwork, Err: c.redactErr(err)}
		case !stopped:
			// The timer fired just as headers arrived; the body is unusable.
			resp.Body.Close()
			cancel()
			e = &Error{Op: op, Pathname: pathname, Code: CodeNetwork, Err: context.DeadlineExceeded}
		case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent:
			return resp, cancel, nil
		default:
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			cancel()
			e = c.apiError(op, pathname, resp, data)
		}
		e.Attempts = attempt + 1
		retry, _ := c.classify(ctx, e)
		if !retry || attempt >= c.retries {
			return nil, nil, e
		}
		delay := c.backoff(attempt)
		if e.RetryAfter > delay {
			delay = e.RetryAfter
		}
		if c.maxElapsed > 0 && time.Since(start)+delay > c.maxElapsed {
			return nil, nil, e
		}
		if err := c.sleep(ctx, delay); err != nil {
			return nil, nil, &Error{Op: op, Pathname: pathname, Err: err, Attempts: attempt + 1}
		}
	}
}
