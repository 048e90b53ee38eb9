package vercelblob

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"gocloud.dev/blob/driver"
)

// sidecarRoot holds the sidecar of every object that has attributes Vercel
// Blob cannot store. Escaping turns a leading "." of any key into "~2e", so no
// key maps into this area, and List hides it.
const sidecarRoot = ".vercelblob-attrs/"

// maxSidecar bounds what we read of a sidecar; gocloud metadata is small.
const maxSidecar = 1 << 20

func sidecarPathname(p string) string { return sidecarRoot + p }

// sidecar is the JSON stored for an object. ETag and UploadedAt tie it to
// one version of the object: an overwrite without attributes leaves a stale
// sidecar that no longer matches and is ignored. Both are needed because
// the ETag may be a content hash, the same for a rewrite of equal bytes.
type sidecar struct {
	V                  int               `json:"v"`
	ETag               string            `json:"etag"`
	UploadedAt         time.Time         `json:"uploadedAt"`
	CacheControl       string            `json:"cacheControl,omitempty"`
	ContentDisposition string            `json:"contentDisposition,omitempty"`
	ContentEncoding    string            `json:"contentEncoding,omitempty"`
	ContentLanguage    string            `json:"contentLanguage,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"`
}

// sidecarFor returns what must go into a sidecar for a write with opts, or
// nil if Vercel Blob can hold all of it.
func sidecarFor(opts *driver.WriterOptions) *sidecar {
	sc := &sidecar{
		V:                  1,
		CacheControl:       opts.CacheControl,
		ContentDisposition: opts.ContentDisposition,
		ContentEncoding:    opts.ContentEncoding,
		ContentLanguage:    opts.ContentLanguage,
	}
	if len(opts.Metadata) > 0 {
		sc.Metadata = make(map[string]string, len(opts.Metadata))
		for k, v := range opts.Metadata {
			sc.Metadata[k] = v
		}
	}
	if sc.CacheControl == "" && sc.ContentDisposition == "" && sc.ContentEncoding == "" && sc.ContentLanguage == "" && sc.Metadata == nil {
		return nil
	}
	return sc
}

func (sc *sidecar) apply(a *driver.Attributes) {
	if sc.CacheControl != "" {
		a.CacheControl = sc.CacheControl
	}
	if sc.ContentDisposition != "" {
		a.ContentDisposition = sc.ContentDisposition
	}
	a.ContentEncoding = sc.ContentEncoding
	a.ContentLanguage = sc.ContentLanguage
	if len(sc.Metadata) > 0 {
		a.Metadata = make(map[string]string, len(sc.Metadata))
		for k, v := range sc.Metadata {
			a.Metadata[k] = v
		}
	}
}

// readSidecar returns the sidecar of the object version info, or nil.
func (b *bucket) readSidecar(ctx context.Context, p string, info *BlobInfo) (*sidecar, error) {
	sp := sidecarPathname(p)
	u, _, ok := b.contentURL(sp)
	if !ok {
		si, err := b.c.head(ctx, sp, nil)
		if errorCodeIs(err, CodeNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		b.learnBase(si)
		u = si.URL
	}
	resp, cancel, err := b.c.download(ctx, "read attributes", sp, bypassCache(u), "", b.needsToken(u), nil)
	if err != nil {
		if errorCodeIs(err, CodeNotFound) {
			return nil, nil
		}
		return nil, err
	}
	defer cancel()
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSidecar))
	if err != nil {
		return nil, &Error{Op: "read attributes", Pathname: sp, Code: CodeNetwork, Err: b.c.redactErr(err)}
	}
	var sc sidecar
	if err := json.Unmarshal(data, &sc); err != nil {
		return nil, &Error{Op: "read attributes", Pathname: sp, Code: CodeBadResponse, Message: "sidecar is not valid JSON", Err: err}
	}
	if sc.ETag != info.ETag || !sc.UploadedAt.Equal(info.UploadedAt) {
		return nil, nil // left over from an earlier version of the object
	}
	return &sc, nil
}

// writeSidecar stores sc for the object version just written (info comes
// from put, copy or complete, which do not report the upload time, hence
// the head).
func (b *bucket) writeSidecar(ctx context.Context, p string, info *BlobInfo, sc *sidecar) error {
	incomplete := func(err error) error {
		return &Error{Op: "write attributes", Pathname: p, Code: CodeIncomplete,
			Message: "the object was written but its sidecar attributes were not", Err: err}
	}
	cur, err := b.c.head(ctx, p, nil)
	if err != nil {
		return incomplete(err)
	}
	if info != nil && info.ETag != "" && cur.ETag != info.ETag {
		// Someone replaced the object since; our attributes describe nothing.
		return nil
	}
	c := *sc
	c.V, c.ETag, c.UploadedAt = 1, cur.ETag, cur.UploadedAt
	data, err := json.Marshal(&c)
	if err != nil {
		return incomplete(err)
	}
	h := b.writeHeaders("application/json", true, &RequestOptions{})
	var si *BlobInfo
	err = b.withStoreAccess(ctx, "write attributes", sidecarPathname(p), h, func() error {
		var err error
		si, _, err = b.c.put(ctx, sidecarPathname(p), h, data, nil)
		return err
	})
	if err != nil {
		return incomplete(err)
	}
	b.learnBase(si)
	return nil
}

func errorCodeIs(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// notFoundStatus reports a plain 404 from a content host.
func notFoundStatus(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}
