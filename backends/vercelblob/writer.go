package vercelblob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"net/http"
	"sort"
	"sync"

	"gocloud.dev/blob/driver"
)

// NewTypedWriter buffers up to the multipart threshold (8 MiB); a larger
// object switches to a multipart upload that streams 8 MiB parts, 4 in
// flight at most. Nothing is visible before Close succeeds.
func (b *bucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	p, err := b.pathname("write", key)
	if err != nil {
		return nil, err
	}
	sc := sidecarFor(opts)
	if sc != nil && !b.opts.Sidecars {
		onlyMaxAge := sc.ContentDisposition == "" && sc.ContentEncoding == "" && sc.ContentLanguage == "" &&
			sc.Metadata == nil && maxAgeFrom(sc.CacheControl) > 0
		if !onlyMaxAge {
			return nil, &Error{Op: "write", Pathname: p, Code: CodeUnimplemented,
				Message: "Vercel Blob cannot store metadata, content encoding/language/disposition or free-form cache control, and sidecars are disabled"}
		}
		sc = nil
	}
	if sc != nil && len(sidecarPathname(p)) > maxPathnameLen {
		// Refuse before writing rather than leave an object without its
		// attributes.
		return nil, &Error{Op: "write", Pathname: p, Code: CodeInvalidKey,
			Message: "key too long to carry attributes: its sidecar pathname exceeds 950 bytes"}
	}
	ro := &RequestOptions{CacheControlMaxAge: maxAgeFrom(opts.CacheControl)}
	if opts.BeforeWrite != nil {
		if err := opts.BeforeWrite(asRequestOptions(ro)); err != nil {
			return nil, err
		}
	}
	if opts.IfNotExist && ro.IfMatch != "" {
		return nil, &Error{Op: "write", Pathname: p, Code: CodeConfig, Message: "IfNotExist and IfMatch contradict each other"}
	}
	wctx, cancel := context.WithCancel(ctx)
	return &writer{
		b:          b,
		ctx:        wctx,
		parent:     ctx,
		cancel:     cancel,
		p:          p,
		ifNotExist: opts.IfNotExist,
		ro:         ro,
		hdr:        b.writeHeaders(contentType, !opts.IfNotExist, ro),
		sc:         sc,
		threshold:  b.opts.tune.multipartThreshold,
		partSize:   b.opts.tune.partSize,
		sem:        make(chan struct{}, b.opts.tune.partConcurrency),
		hash:       sha256.New(),
	}, nil
}

type writer struct {
	b          *bucket
	ctx        context.Context // cancelled on the first part failure too
	parent     context.Context // the caller's: its end aborts the write
	cancel     context.CancelFunc
	p          string
	ifNotExist bool
	ro         *RequestOptions
	hdr        http.Header
	sc         *sidecar
	threshold  int64
	partSize   int64

	buf    []byte
	size   int64
	hash   hash.Hash // of everything written, to recognise our own write
	closed bool

	// Multipart state.
	multipart bool
	mpu       *mpuHandle
	nextPart  int
	sem       chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	parts     []mpuPart
	err       error
}

func (w *writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.cancel()
}

func (w *writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("vercelblob: write after close")
	}
	n := 0
	for len(p) > 0 {
		if err := w.parent.Err(); err != nil {
			return n, err
		}
		if err := w.failed(); err != nil {
			return n, err
		}
		limit := w.partSize
		if !w.multipart {
			// Buffer one byte past the threshold to know the object is
			// larger than it.
			limit = w.threshold + 1
		} else if w.buf == nil {
			w.buf = make([]byte, 0, w.partSize)
		}
		k := int(min(limit-int64(len(w.buf)), int64(len(p))))
		w.buf = append(w.buf, p[:k]...)
		w.hash.Write(p[:k])
		w.size += int64(k)
		p = p[k:]
		n += k
		if int64(len(w.buf)) < limit {
			continue
		}
		if !w.multipart {
			if err := w.startMultipart(); err != nil {
				return n, err
			}
			continue
		}
		data := w.buf
		w.buf = nil
		if err := w.dispatch(data); err != nil {
			return n, err
		}
	}
	return n, nil
}

// startMultipart creates the upload and sends the full parts buffered so far.
func (w *writer) startMultipart() error {
	var m *mpuHandle
	err := w.b.withStoreAccess(w.ctx, "multipart create", w.p, w.hdr, func() error {
		var err error
		m, err = w.b.c.mpuCreate(w.ctx, w.p, w.hdr, w.ro.Header)
		return err
	})
	if err != nil {
		w.fail(err)
		return err
	}
	w.mpu, w.multipart = m, true
	data := w.buf
	w.buf = nil
	for int64(len(data)) >= w.partSize {
		part := data[:w.partSize:w.partSize]
		data = data[w.partSize:]
		if err := w.dispatch(part); err != nil {
			return err
		}
	}
	w.buf = append(make([]byte, 0, w.partSize), data...)
	return nil
}

// dispatch uploads one part in the background once a slot is free, which is
// what bounds the writer's memory.
func (w *writer) dispatch(data []byte) error {
	select {
	case w.sem <- struct{}{}:
	case <-w.ctx.Done():
		if err := w.failed(); err != nil {
			return err
		}
		return w.ctx.Err()
	}
	w.nextPart++
	n := w.nextPart
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.sem }()
		etag, err := w.b.c.mpuUpload(w.ctx, w.p, w.hdr, w.mpu, n, data, w.ro.Header)
		if err != nil {
			w.fail(err)
			return
		}
		w.mu.Lock()
		w.parts = append(w.parts, mpuPart{PartNumber: n, ETag: etag})
		w.mu.Unlock()
	}()
	return nil
}

func (w *writer) Close() error {
	if w.closed {
		return errors.New("vercelblob: writer closed twice")
	}
	w.closed = true
	defer w.cancel()
	if err := w.parent.Err(); err != nil {
		// Abort: nothing has been committed. A multipart upload left behind
		// is never completed and the service discards it.
		w.cancel()
		w.wg.Wait()
		return err
	}
	var info *BlobInfo
	var err error
	if !w.multipart {
		info, err = w.putSingle()
	} else {
		info, err = w.completeMultipart()
	}
	if err != nil {
		return err
	}
	w.b.learnBase(info)
	if w.sc != nil {
		return w.b.writeSidecar(w.parent, w.p, info, w.sc)
	}
	return nil
}

func (w *writer) putSingle() (*BlobInfo, error) {
	var info *BlobInfo
	err := w.b.withStoreAccess(w.ctx, "put", w.p, w.hdr, func() error {
		var err error
		info, _, err = w.b.c.put(w.ctx, w.p, w.hdr, w.buf, w.ro.Header)
		return err
	})
	if err != nil && w.ownEarlierWrite(err, false) {
		return w.b.c.head(w.parent, w.p, nil)
	}
	return info, err
}

func (w *writer) completeMultipart() (*BlobInfo, error) {
	if len(w.buf) > 0 {
		data := w.buf
		w.buf = nil
		if err := w.dispatch(data); err != nil {
			w.wg.Wait()
			return nil, err
		}
	}
	w.wg.Wait()
	if err := w.failed(); err != nil {
		return nil, err
	}
	if err := w.parent.Err(); err != nil {
		return nil, err
	}
	parts := append([]mpuPart(nil), w.parts...)
	sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
	info, _, err := w.b.c.mpuComplete(w.ctx, w.p, w.hdr, w.mpu, parts, w.ro.Header)
	if err != nil && w.ownEarlierWrite(err, true) {
		return w.b.c.head(w.parent, w.p, nil)
	}
	return info, err
}

// ownEarlierWrite handles a retried write whose earlier attempt may have
// succeeded without our hearing of it: the retry then meets "already exists"
// (without overwrite) or, for complete, an upload that is gone. If the
// stored object has exactly our bytes, the write did happen.
func (w *writer) ownEarlierWrite(err error, complete bool) bool {
	var e *Error
	if !errors.As(err, &e) || !e.uncertainBefore {
		return false
	}
	if !e.alreadyExists() && !(complete && e.Code == CodeNotFound) {
		return false
	}
	info, herr := w.b.c.head(w.parent, w.p, nil)
	if herr != nil || info.Size != w.size {
		return false
	}
	w.b.learnBase(info)
	u := info.URL
	if u == "" {
		return false
	}
	resp, cancel, derr := w.b.c.download(w.parent, "verify write", w.p, bypassCache(u), "", w.b.needsToken(u), nil)
	if derr != nil {
		return false
	}
	defer cancel()
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		return false
	}
	return bytes.Equal(h.Sum(nil), w.hash.Sum(nil))
}
