// Package archivestore is the one path between the archiver's commands and
// the archive objects in storage: every read of an archive (archive's merge
// and read-back, verify's deep check and adopt, restore, the restore drill,
// checkin, export) opens it here, under the read-stall guard, and every
// write of one (archive, checkin, verify's adopt rewrite) goes through
// Write, which cancels the upload before Close on any error so that nothing
// partial is ever published. A fix to how archives are read or written
// lands once, here. The layout of the objects in the bucket (Key, ParseKey,
// BackupKey) is here too: it is where an archive lives, not what it holds.
package archivestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
)

// Store reads and writes archive objects in one bucket.
type Store struct {
	Bucket *blob.Bucket
	// Limits bound what decoding one archive may cost (decompression bombs,
	// reading counts).
	Limits archivefile.Limits
	// ReadStallTimeout abandons a storage read call that makes no progress
	// for this long; 0 means DefaultReadStallTimeout.
	ReadStallTimeout time.Duration
}

// Object is an archive being read: its decoder over the guarded object body.
// Close releases both.
type Object struct {
	*archivefile.Reader
	body io.ReadCloser
}

// Close ends the read.
func (o *Object) Close() error {
	return errors.Join(o.Reader.Close(), o.body.Close())
}

// Decode starts decoding body, an object opened by OpenRaw; it takes
// ownership of body, closing it if decoding cannot start. The two steps are
// separate so that callers can tell "cannot open" (say, not found) from
// "not an archive" in their own words.
func (s *Store) Decode(body io.ReadCloser) (*Object, error) {
	ar, err := archivefile.NewReader(body, s.Limits)
	if err != nil {
		body.Close()
		return nil, err
	}
	return &Object{Reader: ar, body: body}, nil
}

// Open is OpenRaw then Decode, for callers that need not tell them apart.
func (s *Store) Open(ctx context.Context, key string) (*Object, error) {
	body, err := s.OpenRaw(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	return s.Decode(body)
}

// OpenDay opens the archive of day d at key for a command that reads it
// through (restore, export); m is the manifest that records it, or nil.
// Its errors say which archive and why: missing though a manifest records
// it (with what to run), not opened, not decodable (DecodeError, with
// cannot saying what, e.g. "cannot be restored"), or for another day than
// its key, refused before a reading is used (archivefile.ErrCorrupt).
func (s *Store) OpenDay(ctx context.Context, key string, d measure.Day, m *manifest.Entry, cannot string) (*Object, error) {
	body, err := s.OpenRaw(ctx, key)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound && m != nil {
			return nil, fmt.Errorf("archive %s recorded by manifest #%d (run %s, %d readings) is missing from storage: run `archiver verify` to see what else is missing",
				key, m.ID, m.RunID, manifest.Count(m.Readings))
		}
		return nil, fmt.Errorf("open archive %s: %w", key, err)
	}
	o, err := s.Decode(body)
	if err != nil {
		return nil, s.DecodeError(key, err, cannot)
	}
	// "day" usually comes first: a misplaced archive is refused at once.
	if got := o.Day(); !got.IsZero() && got != d {
		o.Close()
		return nil, fmt.Errorf("archive %s says it is for day %s, but its key is for %s: refusing a misplaced archive: %w",
			key, got, d, archivefile.ErrCorrupt)
	}
	return o, nil
}

// DecodeError says which archive could not be decoded and, when one of the
// limits stopped it, which settings they are and when to raise them.
// cannot is what the command could not do, e.g. "cannot be read".
func (s *Store) DecodeError(key string, err error, cannot string) error {
	if errors.Is(err, archivefile.ErrLimit) {
		return fmt.Errorf("archive %s: %w (limits: restore.max_uncompressed_bytes=%d, restore.max_readings=%d; raise them with --max-uncompressed-bytes / --max-readings only if the archive is genuine)",
			key, err, s.Limits.MaxUncompressedBytes, s.Limits.MaxReadings)
	}
	return fmt.Errorf("archive %s %s: %w", key, cannot, err)
}

// Drain reads the rest of o, so that its Stats describe the whole object.
func Drain(o *Object) error {
	for {
		_, err := o.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Scan reads the whole object at key and says what it holds: its stats,
// whether its readings are in canonical order, and its day.
func (s *Store) Scan(ctx context.Context, key string) (archivefile.Stats, bool, measure.Day, error) {
	o, err := s.Open(ctx, key)
	if err != nil {
		return archivefile.Stats{}, false, measure.Day{}, err
	}
	defer o.Close()
	if err := Drain(o); err != nil {
		return o.Stats(), false, o.Day(), err
	}
	return o.Stats(), o.Canonical(), o.Day(), nil
}

// Expect is what an object just written must read back as.
type Expect struct {
	Day      measure.Day
	SHA256   string
	Readings int64
	// Canonical also requires the readings in canonical order.
	Canonical bool
}

// ReadBack reads the object at key from storage and checks it against
// want: checksum, reading count, day (and order, if asked). It is how a
// command makes sure storage holds what it wrote before relying on it (I1).
func (s *Store) ReadBack(ctx context.Context, key string, want Expect) error {
	body, err := s.OpenRaw(ctx, key)
	if err != nil {
		return fmt.Errorf("read back %s: %w", key, err)
	}
	o, err := s.Decode(body)
	if err != nil {
		return fmt.Errorf("read back %s: %w", key, err)
	}
	defer o.Close()
	if err := Drain(o); err != nil {
		return fmt.Errorf("read back %s: %w", key, err)
	}
	got := o.Stats()
	switch {
	case got.SHA256 != want.SHA256:
		return fmt.Errorf("read back %s: sha256 %s, uploaded %s: storage returned other bytes than were written", key, got.SHA256, want.SHA256)
	case got.Readings != want.Readings:
		return fmt.Errorf("read back %s: %d readings, uploaded %d", key, got.Readings, want.Readings)
	case o.Day() != want.Day:
		return fmt.Errorf("read back %s: archive is for day %s, not %s", key, o.Day(), want.Day)
	case want.Canonical && !o.Canonical():
		return fmt.Errorf("read back %s: readings are not in canonical order", key)
	}
	return nil
}

// WriteOptions say how Write writes one archive.
type WriteOptions struct {
	Day    measure.Day
	Level  int // gzip level, from the archive.gzip_level setting
	Schema measure.Schema
	// IfNotExist fails the upload if some other writer created the key
	// meanwhile, rather than overwrite it.
	IfNotExist bool
	// Tap, if set, wraps the upload stream (the archive run's mid-upload
	// failpoint).
	Tap func(io.Writer) io.Writer
	// BeforePublish, if set, runs once the archive is complete and before
	// it is published, with what it holds; an error aborts the upload.
	BeforePublish func(archivefile.Stats) error
}

// Write writes one archive to key: fill writes its readings, then the
// archive is closed, BeforePublish runs, and the upload is published. If
// anything fails before that, the upload's context is cancelled before its
// Close, so storage keeps whatever was at key before (I2: nothing partial is
// ever published). Errors of fill and BeforePublish are returned as they are.
func (s *Store) Write(ctx context.Context, key string, o WriteOptions, fill func(*archivefile.Writer) error) (archivefile.Stats, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.Bucket.NewWriter(wctx, key, &blob.WriterOptions{
		ContentType:                 archivefile.ContentType,
		CacheControl:                archivefile.CacheControl,
		DisableContentTypeDetection: true,
		IfNotExist:                  o.IfNotExist,
	})
	if err != nil {
		return archivefile.Stats{}, fmt.Errorf("start upload of %s: %w", key, err)
	}
	var dst io.Writer = w
	if o.Tap != nil {
		dst = o.Tap(w)
	}
	aw, err := archivefile.NewWriterFor(dst, o.Day, o.Level, o.Schema)
	if err != nil {
		err = fmt.Errorf("write archive %s: %w", key, err)
	}
	if err == nil {
		err = fill(aw)
	}
	if err == nil {
		if err = aw.Close(); err != nil {
			err = fmt.Errorf("write archive %s: %w", key, err)
		}
	}
	if err == nil && o.BeforePublish != nil {
		err = o.BeforePublish(aw.Stats())
	}
	if err != nil {
		cancel() // abort: the old object (if any) stays as it was
		_ = w.Close()
		return archivefile.Stats{}, err
	}
	if err := w.Close(); err != nil {
		return archivefile.Stats{}, fmt.Errorf("upload archive %s: %w", key, err)
	}
	return aw.Stats(), nil
}
