package cloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/gcerrors"

	"github.com/shizuku-labs/archiver/backends"
)

// StaleTempAge is how long a temporary file next to an archive must have
// gone unmodified before opening the bucket removes it as a killed run's
// leftover. A run still going writes its temporary file as it streams the
// day, so its file is always younger.
const StaleTempAge = time.Hour

// tempName matches the temporary files fileblob writes next to their
// target (NoTempDir): "<name>.<nanoseconds in hex>.tmp".
var tempName = regexp.MustCompile(`\.[0-9a-f]{1,16}\.tmp$`)

// fileDir is the directory a file:// URL names, absolute and cleaned. A
// host is refused: file://tmp/x is the classic typo for file:///tmp/x, and
// fileblob would silently write to /x.
func fileDir(u *url.URL) (string, error) {
	if u.Opaque != "" {
		return "", fmt.Errorf("file:%s is not a directory URL: write file:///absolute/path (three slashes)", u.Opaque)
	}
	dir := u.Path
	switch u.Host {
	case "", "localhost":
	case ".":
		dir = strings.TrimPrefix(dir, "/") // gocloud's form of a relative path
	default:
		return "", fmt.Errorf("file URL has a host part %q, which names another machine, not a directory: for the directory /%s%s write file:///%s%s (three slashes)",
			u.Host, u.Host, u.Path, u.Host, u.Path)
	}
	if dir == "" {
		return "", errors.New("file URL names no directory: write file:///absolute/path")
	}
	abs, err := filepath.Abs(filepath.FromSlash(dir))
	if err != nil {
		return "", fmt.Errorf("file URL directory %s: %w", dir, err)
	}
	return abs, nil
}

// fileIdentity is a directory's identity: its real path, with symbolic
// links of the part that exists resolved (so a directory created later
// keeps the identity it had before it existed).
func fileIdentity(u *url.URL) (string, error) {
	dir, err := fileDir(u)
	if err != nil {
		return "", err
	}
	real, rest := dir, ""
	for {
		if r, err := filepath.EvalSymlinks(real); err == nil {
			real = filepath.Join(r, rest)
			break
		}
		parent := filepath.Dir(real)
		if parent == real {
			real = dir
			break
		}
		rest = filepath.Join(filepath.Base(real), rest)
		real = parent
	}
	return backends.Location{Scheme: "file", Path: filepath.ToSlash(real), Prefix: u.Query().Get("prefix"), CaseSensitive: true}.String(), nil
}

// fileOpener opens file:// URLs with fileblob, wrapped so that an archive
// is on disk when its write returns (see fileBucket). Before opening it
// removes what a killed run left: empty attribute sidecars (fileblob writes
// "<file>.attrs" in place before it renames the data into place; an empty
// one makes every later read of the object fail with EOF, while without a
// sidecar the object reads fine) and, for a run that writes, stale
// temporary files. Temporary
// files go next to their target, never to the system temp dir, which is
// often another filesystem (a tmpfs, or systemd's PrivateTmp bind mount)
// where the final rename fails with "invalid cross-device link".
//
// It creates a missing directory only when the context allows it
// (backends.WithCreate): a real archive run; a dry run, verify or restore
// of a directory that is not there fails instead of creating it.
type fileOpener struct{ opts fileblob.Options }

func (o fileOpener) OpenBucketURL(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	dir, err := fileDir(u)
	if err != nil {
		return nil, err
	}
	create := backends.CreateAllowed(ctx)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) && !create {
		return nil, fmt.Errorf("directory %s does not exist; only a real `archiver archive` run creates it (check storage.bucket for a typo)", dir)
	}
	removeLeftovers(dir, time.Now(), create)
	// We decide about creating and temporary files, whatever the URL says.
	q := u.Query()
	q.Del("create_dir")
	q.Del("no_tmp_dir")
	cu := *u
	cu.RawQuery = q.Encode()
	opts := o.opts
	opts.CreateDir = create
	opts.NoTempDir = true
	inner, err := (&fileblob.URLOpener{Options: opts}).OpenBucketURL(ctx, &cu)
	if err != nil {
		return nil, err
	}
	return blob.NewBucket(&fileBucket{inner: inner, dir: dir}), nil
}

// removeLeftovers removes empty attribute sidecars and, for a run that may
// write (a dry run, verify and restore leave storage alone), temporary
// files unmodified for StaleTempAge under dir.
func removeLeftovers(dir string, now time.Time, writing bool) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		switch {
		case strings.HasSuffix(p, ".attrs") && fi.Size() == 0,
			writing && tempName.MatchString(p) && now.Sub(fi.ModTime()) > StaleTempAge:
			_ = os.Remove(p)
		}
		return nil
	})
}

// fileBucket is a driver over a fileblob bucket that makes writes durable:
// the data is fsynced before fileblob renames it into place, and the
// directories from the file's up to the bucket's are fsynced after, so an
// archive whose write returned survives a power cut (the archiver deletes
// the day's rows right after). It also keeps temporary files out of
// listings.
type fileBucket struct {
	inner *blob.Bucket
	dir   string
}

var _ driver.Bucket = (*fileBucket)(nil)

// codedErr carries the code of an error from inner without repeating the
// message blob already wrapped it in.
type codedErr struct {
	code gcerrors.ErrorCode
	err  error
}

func (e *codedErr) Error() string { return e.err.Error() }
func (e *codedErr) Unwrap() error { return e.err }

func unwrap(err error) error {
	if err == nil {
		return nil
	}
	inner := errors.Unwrap(err)
	if inner == nil {
		inner = err
	}
	return &codedErr{code: gcerrors.Code(err), err: inner}
}

func (b *fileBucket) ErrorCode(err error) gcerrors.ErrorCode {
	var c *codedErr
	if errors.As(err, &c) {
		return c.code
	}
	return gcerrors.Code(err)
}

func (b *fileBucket) As(i any) bool { return b.inner.As(i) }

func (b *fileBucket) ErrorAs(err error, i any) bool { return errors.As(err, i) }

func (b *fileBucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	a, err := b.inner.Attributes(ctx, key)
	if err != nil {
		return nil, unwrap(err)
	}
	return &driver.Attributes{
		CacheControl: a.CacheControl, ContentDisposition: a.ContentDisposition, ContentEncoding: a.ContentEncoding,
		ContentLanguage: a.ContentLanguage, ContentType: a.ContentType, Metadata: a.Metadata,
		CreateTime: a.CreateTime, ModTime: a.ModTime, Size: a.Size, MD5: a.MD5, ETag: a.ETag, AsFunc: a.As,
	}, nil
}

func (b *fileBucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	token := opts.PageToken
	if len(token) == 0 {
		token = blob.FirstPageToken
	}
	size := opts.PageSize
	if size <= 0 {
		size = 1000
	}
	objs, next, err := b.inner.ListPage(ctx, token, size, &blob.ListOptions{
		Prefix: opts.Prefix, Delimiter: opts.Delimiter, BeforeList: opts.BeforeList,
	})
	if err != nil {
		return nil, unwrap(err)
	}
	page := &driver.ListPage{NextPageToken: next}
	for _, o := range objs {
		if !o.IsDir && tempName.MatchString(o.Key) {
			continue // a write in progress, or a killed run's leftover
		}
		page.Objects = append(page.Objects, &driver.ListObject{Key: o.Key, ModTime: o.ModTime, Size: o.Size, MD5: o.MD5, IsDir: o.IsDir, AsFunc: o.As})
	}
	return page, nil
}

func (b *fileBucket) NewRangeReader(ctx context.Context, key string, offset, length int64, opts *driver.ReaderOptions) (driver.Reader, error) {
	r, err := b.inner.NewRangeReader(ctx, key, offset, length, &blob.ReaderOptions{BeforeRead: opts.BeforeRead})
	if err != nil {
		return nil, unwrap(err)
	}
	return fileReader{r}, nil
}

type fileReader struct{ r *blob.Reader }

func (r fileReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = unwrap(err)
	}
	return n, err
}
func (r fileReader) Close() error  { return unwrap(r.r.Close()) }
func (r fileReader) As(i any) bool { return r.r.As(i) }
func (r fileReader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.r.ContentType(), ModTime: r.r.ModTime(), Size: r.r.Size()}
}

func (b *fileBucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	w := &fileWriter{b: b, ctx: ctx}
	inner, err := b.inner.NewWriter(ctx, key, &blob.WriterOptions{
		ContentType: contentType, CacheControl: opts.CacheControl, ContentDisposition: opts.ContentDisposition,
		ContentEncoding: opts.ContentEncoding, ContentLanguage: opts.ContentLanguage, ContentMD5: opts.ContentMD5,
		Metadata: opts.Metadata, BufferSize: opts.BufferSize, MaxConcurrency: opts.MaxConcurrency,
		IfNotExist: opts.IfNotExist, DisableContentTypeDetection: true,
		BeforeWrite: func(as func(any) bool) error {
			// fileblob offers the temporary file; with a content type
			// given it opens it at once, and writes go straight to it.
			var f *os.File
			if as(&f) {
				w.tmp = f
			}
			if opts.BeforeWrite != nil {
				return opts.BeforeWrite(as)
			}
			return nil
		},
	})
	if err != nil {
		return nil, unwrap(err)
	}
	w.w = inner
	return w, nil
}

type fileWriter struct {
	b   *fileBucket
	ctx context.Context
	w   *blob.Writer
	tmp *os.File
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	return n, unwrap(err)
}

func (w *fileWriter) Close() error {
	if w.ctx.Err() != nil || w.tmp == nil {
		return unwrap(w.w.Close()) // aborted: fileblob removes the temporary file
	}
	if err := w.tmp.Sync(); err != nil {
		_ = w.w.Close()
		return fmt.Errorf("flush %s to disk: %w", w.tmp.Name(), err)
	}
	target := tempName.ReplaceAllString(w.tmp.Name(), "")
	if err := w.w.Close(); err != nil {
		return unwrap(err)
	}
	if err := syncFile(target + ".attrs"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// The rename, and any directory MkdirAll created, are entries in the
	// directories up to the bucket's.
	for d := filepath.Dir(target); ; d = filepath.Dir(d) {
		if err := syncFile(d); err != nil {
			return err
		}
		if d == w.b.dir || !strings.HasPrefix(d, w.b.dir) || d == filepath.Dir(d) {
			return nil
		}
	}
}

func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("flush %s to disk: %w", name, err)
	}
	return nil
}

// Copy goes through the durable writer: the archiver copies an archive
// aside before it replaces it, and that copy must survive a power cut too.
func (b *fileBucket) Copy(ctx context.Context, dstKey, srcKey string, opts *driver.CopyOptions) error {
	if opts.BeforeCopy != nil {
		if err := opts.BeforeCopy(func(any) bool { return false }); err != nil {
			return err
		}
	}
	a, err := b.inner.Attributes(ctx, srcKey)
	if err != nil {
		return unwrap(err)
	}
	r, err := b.inner.NewReader(ctx, srcKey, nil)
	if err != nil {
		return unwrap(err)
	}
	defer r.Close()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.NewTypedWriter(wctx, dstKey, a.ContentType, &driver.WriterOptions{
		CacheControl: a.CacheControl, ContentDisposition: a.ContentDisposition, ContentEncoding: a.ContentEncoding,
		ContentLanguage: a.ContentLanguage, Metadata: a.Metadata,
	})
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, fileReader{r}); err != nil {
		cancel()
		_ = w.Close()
		return err
	}
	return w.Close()
}

func (b *fileBucket) Delete(ctx context.Context, key string, opts *driver.DeleteOptions) error {
	return unwrap(b.inner.Delete(ctx, key))
}

func (b *fileBucket) SignedURL(ctx context.Context, key string, opts *driver.SignedURLOptions) (string, error) {
	s, err := b.inner.SignedURL(ctx, key, &blob.SignedURLOptions{
		Expiry: opts.Expiry, Method: opts.Method, ContentType: opts.ContentType,
		EnforceAbsentContentType: opts.EnforceAbsentContentType, BeforeSign: opts.BeforeSign,
	})
	return s, unwrap(err)
}

func (b *fileBucket) Close() error { return b.inner.Close() }

// fileWarnings warns about a directory that will not keep the archives:
// every reading in them is deleted from the database once written.
func fileWarnings(u *url.URL) []string {
	dir, err := fileDir(u)
	if err != nil {
		return nil
	}
	var out []string
	if onTmpfs(dir) {
		out = append(out, fmt.Sprintf("bucket directory %s is on a tmpfs (memory): a reboot or unmount deletes every archive in it, and the archived rows are gone from the database; put the archives on a persistent disk", dir))
	}
	for _, tmp := range []string{"/tmp", "/var/tmp"} {
		if dir == tmp || strings.HasPrefix(dir, tmp+"/") {
			out = append(out, fmt.Sprintf("bucket directory %s is under %s: systemd units with PrivateTmp=yes (the shipped archiver.service has it) see a private %s that is deleted when the unit stops, and tmp cleaners remove old files; put the archives elsewhere, e.g. /var/lib/archiver/archives", dir, tmp, tmp))
		}
	}
	return out
}

func existingParent(dir string) string {
	for {
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}
