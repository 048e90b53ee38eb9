package archivefile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"

	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pyjson"
)

// Errors callers may want to tell apart with errors.Is.
var (
	// ErrOutsideDay: a reading's time is not within the archive's day.
	ErrOutsideDay = errors.New("reading time outside the archive day")
	// ErrCorrupt: the archive is not a well-formed day archive.
	ErrCorrupt = errors.New("corrupt archive")
	// ErrLimit: the archive exceeds a configured Limits value.
	ErrLimit = errors.New("archive exceeds limit")
)

// Stats describes what a Writer wrote or a Reader read.
type Stats struct {
	Readings     int64     // distinct readings written / readings read
	Sensors      int64     // sensor groups holding at least one reading
	MinTime      time.Time // zero if no readings
	MaxTime      time.Time // zero if no readings
	Bytes        int64     // compressed bytes written to / consumed from the stream
	SHA256       string    // hex sha256 of those compressed bytes
	Uncompressed int64     // JSON bytes
}

// flushSize is how much JSON is gathered before one gzip Write: large
// writes keep the compressor's per-call overhead negligible.
const flushSize = 64 << 10

// Writer encodes one day archive in canonical form. Readings must be given
// in Compare order; an exact repeat of the previous reading is skipped so
// callers can feed query results that may overlap.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	schema   measure.Schema
	trailer  string
	day      measure.Day
	dayStart int64 // unix seconds
	dayStr   []byte

	out   countHashWriter // the caller's writer, counted and hashed
	gz    *gzip.Writer
	level int
	buf   []byte
	ucomp int64

	prev    measure.Reading
	have    bool // prev is set
	sensors int64
	n       int64
	minT    time.Time
	maxT    time.Time

	err    error // sticky: once broken, the output is unusable
	closed bool
}

// countHashWriter counts and hashes what reaches the destination so the
// checksum is of exactly the stored object. It gathers the compressor's
// output, which comes in pieces of a few hundred bytes, into writes of
// outSize: one system call (or upload part) per 64 KiB, not per piece.
type countHashWriter struct {
	w   io.Writer
	h   hash.Hash
	n   int64
	buf []byte
	err error
}

const outSize = 64 << 10

func (c *countHashWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(c.buf)+len(p) > cap(c.buf) {
		if err := c.flush(); err != nil {
			return 0, err
		}
		if len(p) >= cap(c.buf) {
			return c.write(p)
		}
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *countHashWriter) write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

// flush sends what is gathered to the destination.
func (c *countHashWriter) flush() error {
	if c.err != nil {
		return c.err
	}
	if len(c.buf) > 0 {
		if _, err := c.write(c.buf); err != nil {
			return err
		}
		c.buf = c.buf[:0]
	}
	return nil
}

// NewWriter starts an archive for day on w with the given gzip level:
// -1 (default, currently 6), 0 (stored, no compression) or 1 (fastest)
// through 9 (smallest). The compressed bytes, and so the SHA256, depend on
// the level and on the compressor (github.com/klauspost/compress) version:
// they are stable for one build, which is what checksums in manifests
// need, but an upgrade of the compressor may change them for equal input.
//
// Close must be called to finish the archive; it does not close w.
func NewWriter(w io.Writer, day measure.Day, level int) (*Writer, error) {
	return NewWriterFor(w, day, level, measure.Schema{})
}

// NewWriterFor is NewWriter for a table whose value column is of the
// schema's type: it decides how values are written and which readings
// are the same (Schema.Compare).
func NewWriterFor(w io.Writer, day measure.Day, level int, schema measure.Schema) (*Writer, error) {
	if day.IsZero() {
		return nil, errors.New("archivefile: NewWriter: zero Day")
	}
	if y, _, _ := day.Date(); y < 0 || y > 9999 {
		// The format's times have four-digit years; such a file could not
		// be read back.
		return nil, fmt.Errorf("archivefile: NewWriter: day %s is outside years 0000-9999", day)
	}
	if level < gzip.DefaultCompression || level > gzip.BestCompression {
		return nil, fmt.Errorf("archivefile: NewWriter: invalid gzip level %d: want -1 (default) or 0..9", level)
	}
	wr := &Writer{
		schema:   schema,
		day:      day,
		dayStart: day.StartUnix(),
		dayStr:   day.Append(nil),
		buf:      getBuffer(),
		level:    level,
	}
	wr.out = countHashWriter{w: w, h: sha256.New(), buf: getOutBuffer()}
	gz, err := getGzipWriter(&wr.out, level)
	if err != nil {
		return nil, fmt.Errorf("archivefile: NewWriter: %w", err)
	}
	// A zero Header would store the zero time's truncated seconds as MTIME;
	// 0 is gzip's "no timestamp" and keeps the header independent of when
	// the archive was written.
	gz.ModTime = time.Unix(0, 0)
	wr.gz = gz
	wr.buf = append(wr.buf, layoutDocStart...)
	wr.buf = append(wr.buf, wr.dayStr...)
	wr.buf = append(wr.buf, layoutDocData...)
	return wr, nil
}

// Write appends one reading. It fails if r is outside the day, sorts before
// the previous reading, or carries invalid UTF-8 (which could not
// round-trip); an exact duplicate of the previous reading is dropped.
// r is not retained beyond its string fields.
//
// Any failure is final: later Writes and Close return the same error, so a
// caller that overlooks one cannot publish an archive missing a reading.
func (w *Writer) Write(r *measure.Reading) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("archivefile: Write after Close")
	}
	if w.have {
		c := w.schema.Compare(&w.prev, r)
		if c == 0 {
			return nil
		}
		if c > 0 {
			return w.fail(fmt.Errorf("archivefile: writing %s: reading #%d (sensor %q, time %s) sorts before the previous one (sensor %q, time %s): %w",
				w.day, w.n+1, r.Sensor, fmtTime(r.Time), w.prev.Sensor, fmtTime(w.prev.Time), measure.ErrOutOfOrder))
		}
	}
	sec := r.Time.Unix()
	sod := sec - w.dayStart
	if sod < 0 || sod >= measure.SecondsPerDay {
		return w.fail(fmt.Errorf("archivefile: writing %s: reading #%d (sensor %q): time %s: %w",
			w.day, w.n+1, r.Sensor, fmtTime(r.Time), ErrOutsideDay))
	}
	newSensor := !w.have || r.Sensor != w.prev.Sensor
	if newSensor && !utf8.ValidString(r.Sensor) {
		return w.fail(fmt.Errorf("archivefile: writing %s: sensor %q is not valid UTF-8", w.day, r.Sensor))
	}
	if r.Imputation.Valid && !utf8.ValidString(r.Imputation.String) {
		return w.fail(fmt.Errorf("archivefile: writing %s: reading #%d (sensor %q): imputation_method %q is not valid UTF-8",
			w.day, w.n+1, r.Sensor, r.Imputation.String))
	}

	if r.ValueText != "" && !pyjson.ValidNumber([]byte(r.ValueText)) {
		return w.fail(fmt.Errorf("archivefile: writing %s: reading #%d (sensor %q): value %q is not a JSON number", w.day, w.n+1, r.Sensor, r.ValueText))
	}
	if r.Extra != "" && !utf8.ValidString(r.Extra) || r.Other != "" && !utf8.ValidString(r.Other) {
		return w.fail(fmt.Errorf("archivefile: writing %s: reading #%d (sensor %q): extra values are not valid UTF-8", w.day, w.n+1, r.Sensor))
	}

	b := w.buf
	if newSensor {
		if w.have {
			b = append(b, layoutGroupEnd...)
			b = append(b, layoutSep...)
		}
		b = append(b, layoutGroup...)
		b = pyjson.AppendString(b, r.Sensor)
		b = append(b, layoutReadings...)
		w.sensors++
	} else {
		b = append(b, layoutSep...)
	}
	b = append(b, layoutTime...)
	b = append(b, w.dayStr...)
	b = append(b, layoutTimeSplit)
	b = appendClock(b, sod, r.Time.Nanosecond())
	b = append(b, layoutTimeUTC)
	b = append(b, layoutValue...)
	switch {
	case !r.Value.Valid:
		b = append(b, layoutNull...)
	case r.ValueText != "":
		b = append(b, r.ValueText...)
	case w.schema.Value == measure.ValueFloat4:
		b = pyjson.AppendFloat4(b, r.Value.Float64)
	default:
		b = pyjson.AppendFloat(b, r.Value.Float64)
	}
	b = append(b, layoutQC...)
	if r.QCFlags.Valid {
		b = strconv.AppendInt(b, r.QCFlags.Int64, 10)
	} else {
		b = append(b, layoutNull...)
	}
	b = append(b, layoutMethod...)
	if r.Imputation.Valid {
		b = pyjson.AppendString(b, r.Imputation.String)
	} else {
		b = append(b, layoutNull...)
	}
	if r.Extra != "" {
		b = append(b, layoutExtra...)
		b = append(b, r.Extra...)
	}
	if r.Other != "" {
		b = append(b, layoutSep...)
		b = append(b, r.Other...)
	}
	b = append(b, layoutReadEnd...)
	w.buf = b

	if !w.have || r.Time.Before(w.minT) {
		w.minT = r.Time.UTC()
	}
	if !w.have || r.Time.After(w.maxT) {
		w.maxT = r.Time.UTC()
	}
	w.prev = *r
	w.have = true
	w.n++
	if len(w.buf) >= flushSize {
		return w.flush()
	}
	return nil
}

// SetTrailer sets top-level members to write after "data" (`"key": value`
// members joined by ", ", as Reader.Other returns them), so that a rewrite
// of an archive another tool wrote keeps what it does not understand. It
// must be valid JSON members; it may be called until Close.
func (w *Writer) SetTrailer(members string) { w.trailer = members }

func (w *Writer) fail(err error) error {
	w.err = err
	return err
}

func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	w.ucomp += int64(len(w.buf))
	if _, err := w.gz.Write(w.buf); err != nil {
		w.err = fmt.Errorf("archivefile: writing %s: %w", w.day, err)
		return w.err
	}
	w.buf = w.buf[:0]
	return nil
}

// Close finishes the JSON document and the gzip stream. It does not close
// the underlying writer. Stats are final after Close.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	w.closed = true
	if w.have {
		w.buf = append(w.buf, layoutGroupEnd...)
	}
	w.buf = append(w.buf, layoutDataEnd...)
	if w.trailer != "" {
		w.buf = append(w.buf, layoutSep...)
		w.buf = append(w.buf, w.trailer...)
	}
	w.buf = append(w.buf, layoutDocEnd...)
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.gz.Close(); err != nil {
		w.err = fmt.Errorf("archivefile: finishing %s: %w", w.day, err)
		return w.err
	}
	if err := w.out.flush(); err != nil {
		w.err = fmt.Errorf("archivefile: finishing %s: %w", w.day, err)
		return w.err
	}
	putOutBuffer(w.out.buf)
	w.out.buf = nil
	// The compressor (about 1 MB of tables at level 6) and the buffer are
	// reused by the next Writer: a run of many days then allocates them
	// once per concurrent day, not once per day.
	putGzipWriter(w.gz, w.level)
	putBuffer(w.buf)
	w.gz, w.buf = nil, nil
	return nil
}

// gzipWriters keeps idle compressors by level (index level+1: -1 is
// default). Not a sync.Pool: a garbage collection empties a pool, and an
// archive run collects often (GOGC 20, cmd/archiver), so most days would
// allocate a new compressor (about a megabyte at level 6) and make the
// next collection come sooner. A few are kept, as many as days run at
// once in practice; more are let go.
var gzipWriters [gzip.BestCompression + 2]idleList[*gzip.Writer]

func getGzipWriter(w io.Writer, level int) (*gzip.Writer, error) {
	if gz, ok := gzipWriters[level+1].get(); ok {
		gz.Reset(w)
		return gz, nil
	}
	return gzip.NewWriterLevel(w, level)
}

func putGzipWriter(gz *gzip.Writer, level int) {
	gz.Reset(io.Discard) // drop the reference to the finished output
	gzipWriters[level+1].put(gz)
}

// maxIdle is how many idle values an idleList keeps.
const maxIdle = 4

// idleList keeps up to maxIdle idle values for reuse.
type idleList[T any] struct {
	mu    sync.Mutex
	items []T
}

func (l *idleList[T]) get() (v T, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.items); n > 0 {
		v, l.items = l.items[n-1], l.items[:n-1]
		return v, true
	}
	return v, false
}

func (l *idleList[T]) put(v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.items) < maxIdle {
		l.items = append(l.items, v)
	}
}

// outBuffers pools the output buffers of Writers.
var outBuffers = sync.Pool{New: func() any { b := make([]byte, 0, outSize); return &b }}

func getOutBuffer() []byte { return (*outBuffers.Get().(*[]byte))[:0] }

func putOutBuffer(b []byte) { outBuffers.Put(&b) }

// buffers pools the JSON buffers of Writers.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, flushSize+4096); return &b }}

func getBuffer() []byte { return (*buffers.Get().(*[]byte))[:0] }

func putBuffer(b []byte) {
	if cap(b) > 4*flushSize {
		return // grown by an enormous sensor name: let it go
	}
	buffers.Put(&b)
}

// Stats reports what has been written; Bytes and SHA256 describe the complete object only after Close.
func (w *Writer) Stats() Stats {
	return Stats{
		Readings:     w.n,
		Sensors:      w.sensors,
		MinTime:      w.minT,
		MaxTime:      w.maxT,
		Bytes:        w.out.n,
		SHA256:       hex.EncodeToString(w.out.h.Sum(nil)),
		Uncompressed: w.ucomp,
	}
}

// fmtTime formats t for error messages, in UTC like the archive.
func fmtTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}
