package archivefile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"

	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pyjson"
)

// Limits bound what a Reader accepts, so a hostile or broken object cannot
// exhaust memory, disk or the database. Zero means no limit.
type Limits struct {
	MaxUncompressedBytes int64
	MaxReadings          int64
}

// Reader streams the readings of one day archive in file order, in
// constant memory whatever the size of the day. It accepts both the
// canonical form and the original Python service's looser output: times
// with "+00:00" or other offsets (converted to UTC) or none (taken as UTC),
// numbers with or without a fraction, NaN/Infinity/-Infinity, sensors and
// readings in any order, "day" before or after "data", and unknown keys at
// any level (skipped). A reading object must have "time"; a missing
// "measurement", "qc_flags" or "imputation_method" reads as NULL.
//
// Everything it checks at the end (gzip CRC and length, trailing bytes,
// "day" present, and times within the day when "day" came after "data")
// is reported by Next instead of io.EOF, so a caller must read to io.EOF
// before acting on the readings as a whole.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	src countHashReader
	gz  *gzip.Reader
	s   scanner
	lim Limits

	day     measure.Day
	dates   dateMemo // the readings' date, parsed once
	sawData bool
	state   int
	// Whether the current container has produced no element yet.
	topFirst, dataFirst, groupFirst, measFirst bool

	sensor     string
	haveSensor bool
	groupN     int64 // sensor groups seen, for messages
	groupCount int64 // readings in the current group

	cur       measure.Reading
	prev      measure.Reading
	n         int64
	sensors   int64
	canonical bool

	// Extremes, kept with their reading for the deferred day check.
	minSec, maxSec       int64
	minT, maxT           time.Time
	minIdx, maxIdx       int64
	minSensor, maxSensor string

	intern map[string]string
	err    error

	key         []byte   // the last unknown key read
	other       []byte   // the current reading's unknown members
	topOther    []byte   // unknown top-level members
	groupFields []string // unknown sensor-group members seen
}

const (
	stTop = iota
	stData
	stGroup
	stMeas
	stEnd
)

// countHashReader counts and hashes the compressed bytes actually consumed,
// so after io.EOF Stats carries the stored object's size and checksum.
type countHashReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (c *countHashReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// NewReader starts reading an archive from r. It reads the gzip header and
// the document up to "day" (or up to "data" if that comes first), so
// Day is usually known when it returns. It does not close r.
func NewReader(r io.Reader, lim Limits) (*Reader, error) {
	rd := &Reader{
		lim:       lim,
		canonical: true,
		topFirst:  true,
		intern:    make(map[string]string),
	}
	rd.src = countHashReader{r: r, h: sha256.New()}
	gz, err := getGzipReader(&rd.src)
	if err != nil {
		if errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("archivefile: not a gzip archive: %w: %w", ErrCorrupt, err)
		}
		// The store failed, not the object: keep it distinguishable.
		return nil, fmt.Errorf("archivefile: reading archive: %w", err)
	}
	rd.gz = gz
	rd.s = scanner{r: gz, buf: getWindow(), max: lim.MaxUncompressedBytes}

	c, ok := rd.s.peek()
	if !ok {
		err := rd.syntaxErr(errEOF)
		rd.Close()
		return nil, err
	}
	if c != '{' {
		rd.Close()
		return nil, rd.syntaxErr(syntaxf("archive is not a JSON object (starts with %q)", c))
	}
	rd.s.pos++
	for rd.state == stTop && rd.day.IsZero() {
		if err := rd.topStep(); err != nil {
			rd.Close()
			return nil, err
		}
	}
	return rd, nil
}

// gzipReaders and windows pool the decompressors and scanner windows of
// closed Readers, so that reading many archives allocates them once.
var (
	gzipReaders sync.Pool
	windows     = sync.Pool{New: func() any { b := make([]byte, windowSize); return &b }}
)

const windowSize = 64 << 10

func getGzipReader(r io.Reader) (*gzip.Reader, error) {
	if gz, ok := gzipReaders.Get().(*gzip.Reader); ok {
		if err := gz.Reset(r); err != nil {
			return nil, err // not worth keeping: its state is the failed header
		}
		return gz, nil
	}
	return gzip.NewReader(r)
}

func getWindow() []byte { return *windows.Get().(*[]byte) }

// Day returns the archive's day; zero until the "day" key has been read.
func (r *Reader) Day() measure.Day { return r.day }

// Canonical reports whether every reading so far came in strict Compare
// order (sorted, no duplicates), i.e. whether the stream can feed Merge
// directly. It describes the reading sequence, not the exact bytes.
func (r *Reader) Canonical() bool { return r.canonical }

// Stats reports what has been read so far. Bytes and SHA256 cover the
// compressed bytes consumed; after Next returned io.EOF they describe the
// whole object.
func (r *Reader) Stats() Stats {
	return Stats{
		Readings:     r.n,
		Sensors:      r.sensors,
		MinTime:      r.minT,
		MaxTime:      r.maxT,
		Bytes:        r.src.n,
		SHA256:       hex.EncodeToString(r.src.h.Sum(nil)),
		Uncompressed: r.s.total,
	}
}

// Close releases the decompressor. It does not close the underlying reader.
// Stats and Day stay valid.
func (r *Reader) Close() error {
	if r.err == nil {
		r.err = errors.New("archivefile: Reader is closed")
	}
	if r.gz == nil {
		return nil
	}
	err := r.gz.Close()
	_ = r.gz.Reset(bytes.NewReader(nil)) // drop the reference to the source; fails on the empty header, harmlessly
	gzipReaders.Put(r.gz)
	r.gz = nil
	if len(r.s.buf) == windowSize {
		w := r.s.buf
		windows.Put(&w)
	}
	r.s.buf, r.s.r = nil, nil
	return err
}

// Next returns the next reading in file order, or io.EOF after the last one
// once the whole object has been verified. The returned Reading is reused
// by the following call; copy it (a plain struct copy suffices) to keep it.
// Errors are sticky.
func (r *Reader) Next() (*measure.Reading, error) {
	if r.err != nil {
		return nil, r.err
	}
	rd, err := r.next()
	if err != nil {
		r.err = err
		return nil, err
	}
	return rd, nil
}

func (r *Reader) next() (*measure.Reading, error) {
	for {
		switch r.state {
		case stTop:
			if err := r.topStep(); err != nil {
				return nil, err
			}
		case stData:
			more, err := r.nextElem(&r.dataFirst)
			if err != nil {
				return nil, r.syntaxErr(err)
			}
			if !more {
				r.state = stTop
				continue
			}
			if err := r.s.expect('{'); err != nil {
				return nil, r.syntaxErr(fmt.Errorf("sensor group %d: %w", r.groupN+1, err))
			}
			r.groupN++
			r.haveSensor = false
			r.groupCount = 0
			r.groupFirst = true
			r.state = stGroup
		case stGroup:
			if err := r.groupStep(); err != nil {
				return nil, err
			}
		case stMeas:
			more, err := r.nextElem(&r.measFirst)
			if err != nil {
				return nil, r.readingErr(err)
			}
			if !more {
				r.state = stGroup
				continue
			}
			if err := r.readReading(); err != nil {
				return nil, err
			}
			return &r.cur, nil
		case stEnd:
			return nil, io.EOF
		}
	}
}

// Key codes, so a key need not outlive the window it was read from.
const (
	kOther = iota
	kDay
	kData
	kSensor
	kMeasurements
	kTime
	kMeasurement
	kQC
	kImputation
	kExtra
)

func keyCode(b []byte) int {
	switch string(b) {
	case "day":
		return kDay
	case "data":
		return kData
	case "sensor":
		return kSensor
	case "measurements":
		return kMeasurements
	case "time":
		return kTime
	case "measurement":
		return kMeasurement
	case "qc_flags":
		return kQC
	case "imputation_method":
		return kImputation
	case "extra":
		return kExtra
	}
	return kOther
}

// nextKey moves to the next member of the current object and consumes its
// key and colon; ok is false at the closing brace.
func (r *Reader) nextKey(first *bool) (code int, ok bool, err error) {
	s := &r.s
	c, ok := s.peek()
	if !ok {
		return 0, false, errEOF
	}
	if c == '}' {
		s.pos++
		return 0, false, nil
	}
	if !*first {
		if c != ',' {
			return 0, false, syntaxf("expected ',' or '}' after object member, found %q", c)
		}
		s.pos++
		if c, ok = s.peek(); !ok {
			return 0, false, errEOF
		}
	}
	*first = false
	if c != '"' {
		return 0, false, syntaxf("expected object key string, found %q", c)
	}
	key, err := s.readString()
	if err != nil {
		return 0, false, err
	}
	code = keyCode(key)
	if code == kOther {
		r.key = append(r.key[:0], key...)
	}
	return code, true, s.expect(':')
}

// nextElem reports whether the current array has another element and
// consumes the separating comma.
func (r *Reader) nextElem(first *bool) (bool, error) {
	s := &r.s
	c, ok := s.peek()
	if !ok {
		return false, errEOF
	}
	if c == ']' {
		s.pos++
		return false, nil
	}
	if *first {
		*first = false
		return true, nil
	}
	if c != ',' {
		return false, syntaxf("expected ',' or ']' after array element, found %q", c)
	}
	s.pos++
	return true, nil
}

// topStep handles one member of the top-level object, or its end.
func (r *Reader) topStep() error {
	s := &r.s
	code, ok, err := r.nextKey(&r.topFirst)
	if err != nil {
		return r.syntaxErr(err)
	}
	if !ok {
		return r.finish()
	}
	switch code {
	case kDay:
		if !r.day.IsZero() {
			return r.syntaxErr(syntaxf(`duplicate "day" key`))
		}
		c, ok := s.peek()
		if !ok {
			return r.syntaxErr(errEOF)
		}
		if c != '"' {
			return r.syntaxErr(syntaxf(`"day" must be a string, found %q`, c))
		}
		b, err := s.readString()
		if err != nil {
			return r.syntaxErr(fmt.Errorf(`"day": %w`, err))
		}
		d, err := measure.ParseDay(string(b))
		if err != nil {
			return fmt.Errorf("archivefile: archive \"day\": %w: %w", ErrCorrupt, err)
		}
		r.day = d
	case kData:
		if r.sawData {
			return r.syntaxErr(syntaxf(`duplicate "data" key`))
		}
		r.sawData = true
		if err := s.expect('['); err != nil {
			return r.syntaxErr(fmt.Errorf(`"data" must be an array: %w`, err))
		}
		r.dataFirst = true
		r.state = stData
	default:
		var err error
		if r.topOther, err = r.appendMember(r.topOther); err != nil {
			return r.syntaxErr(err)
		}
	}
	return nil
}

// appendMember consumes the value of the unknown member whose key was
// just read and appends the member, exactly as given, to dst.
func (r *Reader) appendMember(dst []byte) ([]byte, error) {
	name := string(r.key)
	raw, err := r.s.captureValue()
	if err != nil {
		return dst, err
	}
	if len(dst) > 0 {
		dst = append(dst, layoutSep...)
	}
	dst = pyjson.AppendString(dst, name)
	dst = append(dst, layoutKeySep...)
	return append(dst, raw...), nil
}

// Other returns the top-level members this format does not define, as
// `"key": value` members joined by ", " (for Writer.SetTrailer). Members
// after "data" are known only once Next has returned io.EOF.
func (r *Reader) Other() string { return string(r.topOther) }

// GroupFields names the members of sensor groups this format does not
// define (another tool's), which a rewrite could not keep in place: the
// writer groups readings by sensor itself.
func (r *Reader) GroupFields() []string { return r.groupFields }

// groupStep handles one member of a sensor group object, or its end.
func (r *Reader) groupStep() error {
	s := &r.s
	code, ok, err := r.nextKey(&r.groupFirst)
	if err != nil {
		return r.groupErr(err)
	}
	if !ok {
		if !r.haveSensor {
			return r.groupErr(syntaxf(`sensor group has no "sensor" key`))
		}
		r.state = stData
		return nil
	}
	switch code {
	case kSensor:
		if r.haveSensor {
			return r.groupErr(syntaxf(`duplicate "sensor" key`))
		}
		c, ok := s.peek()
		if !ok {
			return r.groupErr(errEOF)
		}
		if c != '"' {
			return r.groupErr(syntaxf(`"sensor" must be a string, found %q`, c))
		}
		b, err := s.readString()
		if err != nil {
			return r.groupErr(fmt.Errorf(`"sensor": %w`, err))
		}
		// Sensor groups usually repeat a name only when the old service
		// split a sensor; reuse the string to keep readings allocation-free.
		if string(b) != r.sensor {
			r.sensor = string(b)
		}
		r.haveSensor = true
	case kMeasurements:
		if !r.haveSensor {
			// Readings cannot be attributed without buffering them.
			return r.groupErr(syntaxf(`"measurements" before "sensor" is not supported`))
		}
		if err := s.expect('['); err != nil {
			return r.groupErr(fmt.Errorf(`"measurements" must be an array: %w`, err))
		}
		r.measFirst = true
		r.state = stMeas
	default:
		if len(r.groupFields) < 16 && !slices.Contains(r.groupFields, string(r.key)) {
			r.groupFields = append(r.groupFields, string(r.key))
		}
		if err := s.skipValue(); err != nil {
			return r.groupErr(err)
		}
	}
	return nil
}

const (
	hasTime = 1 << iota
	hasValue
	hasQC
	hasImp
	hasExtra
)

// readReading parses one reading object into r.cur and checks it.
func (r *Reader) readReading() error {
	s := &r.s
	cur := &r.cur
	r.other = r.other[:0]
	var sec int64
	var seen int
	first := true
	if sec0, done, ok := r.readCanonical(); ok {
		if done {
			return r.accept(sec0)
		}
		// The fast path read up to "imputation_method"; the loop reads
		// what follows it.
		sec, seen, first = sec0, hasTime|hasValue|hasQC|hasImp, false
	} else {
		if err := s.expect('{'); err != nil {
			return r.readingErr(err)
		}
		*cur = measure.Reading{Sensor: r.sensor}
	}
	for {
		code, ok, err := r.nextKey(&first)
		if err != nil {
			return r.readingErr(err)
		}
		if !ok {
			break
		}
		var bit int
		switch code {
		case kTime:
			bit = hasTime
		case kMeasurement:
			bit = hasValue
		case kQC:
			bit = hasQC
		case kImputation:
			bit = hasImp
		case kExtra:
			bit = hasExtra
			if c, ok := s.peek(); ok && c != '{' {
				// Not this format's "extra": another tool's field.
				r.key = append(r.key[:0], "extra"...)
				if r.other, err = r.appendMember(r.other); err != nil {
					return r.readingErr(err)
				}
				continue
			}
		default:
			if r.other, err = r.appendMember(r.other); err != nil {
				return r.readingErr(err)
			}
			continue
		}
		if seen&bit != 0 {
			return r.readingErr(syntaxf("duplicate key"))
		}
		seen |= bit
		c, ok := s.peek()
		if !ok {
			return r.readingErr(errEOF)
		}
		switch code {
		case kTime:
			if c != '"' {
				return r.readingErr(syntaxf(`"time" must be a string, found %q`, c))
			}
			b, err := s.readString()
			if err != nil {
				return r.readingErr(fmt.Errorf(`"time": %w`, err))
			}
			if cur.Time, sec, err = parseTimeField(b, &r.dates); err != nil {
				return r.readingErr(err)
			}
		case kMeasurement:
			tok, err := r.scalar(c, `"measurement"`)
			if err != nil {
				return err
			}
			if cur.Value, cur.ValueText, err = parseValueField(tok); err != nil {
				return r.readingErr(err)
			}
		case kQC:
			tok, err := r.scalar(c, `"qc_flags"`)
			if err != nil {
				return err
			}
			if cur.QCFlags, err = parseQCField(tok); err != nil {
				return r.readingErr(err)
			}
		case kExtra:
			raw, err := s.captureValue()
			if err != nil {
				return r.readingErr(fmt.Errorf(`"extra": %w`, err))
			}
			cur.Extra = string(raw)
		case kImputation:
			if c == '"' {
				b, err := s.readString()
				if err != nil {
					return r.readingErr(fmt.Errorf(`"imputation_method": %w`, err))
				}
				cur.Imputation.String, cur.Imputation.Valid = r.internString(b), true
				break
			}
			tok, err := r.scalar(c, `"imputation_method"`)
			if err != nil {
				return err
			}
			if err := parseMethodScalar(tok); err != nil {
				return r.readingErr(err)
			}
		}
	}
	if seen&hasTime == 0 {
		return r.readingErr(syntaxf(`reading has no "time"`))
	}
	if len(r.other) > 0 {
		cur.Other = string(r.other)
	}
	return r.accept(sec)
}

// accept checks the reading just parsed into r.cur (sec is its Unix time)
// and counts it.
func (r *Reader) accept(sec int64) error {
	cur := &r.cur

	idx := r.n + 1
	if !r.day.IsZero() {
		start := r.day.StartUnix()
		if sec < start || sec >= start+measure.SecondsPerDay {
			return fmt.Errorf("archivefile: reading #%d (sensor %q): time %s is outside the archive day %s: %w",
				idx, cur.Sensor, fmtTime(cur.Time), r.day, ErrOutsideDay)
		}
	}
	if r.lim.MaxReadings > 0 && r.n >= r.lim.MaxReadings {
		return fmt.Errorf("archivefile: archive has more than %d readings: %w", r.lim.MaxReadings, ErrLimit)
	}
	if r.n == 0 || sec < r.minSec || (sec == r.minSec && cur.Time.Before(r.minT)) {
		r.minSec, r.minT, r.minIdx, r.minSensor = sec, cur.Time, idx, cur.Sensor
	}
	if r.n == 0 || sec > r.maxSec || (sec == r.maxSec && cur.Time.After(r.maxT)) {
		r.maxSec, r.maxT, r.maxIdx, r.maxSensor = sec, cur.Time, idx, cur.Sensor
	}
	if r.n > 0 && r.canonical && measure.Compare(&r.prev, cur) >= 0 {
		r.canonical = false
	}
	r.prev = *cur
	r.n++
	if r.groupCount == 0 {
		r.sensors++
	}
	r.groupCount++
	return nil
}

// scalar reads a bare token for a reading field; strings are rejected here
// because the field wants a number or null.
func (r *Reader) scalar(c byte, field string) ([]byte, error) {
	if c == '"' || c == '{' || c == '[' {
		return nil, r.readingErr(syntaxf(`%s must not be a string, object or array`, field))
	}
	tok, err := r.s.readScalar()
	if err != nil {
		return nil, r.readingErr(fmt.Errorf("%s: %w", field, err))
	}
	return tok, nil
}

// internString shares the few distinct imputation method names instead of
// allocating one string per reading; the table is bounded so odd input
// cannot grow it without limit.
func (r *Reader) internString(b []byte) string {
	if v, ok := r.intern[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(r.intern) < 256 && len(b) <= 64 {
		r.intern[v] = v
	}
	return v
}

// finish runs at the end of the top-level object: it requires only
// whitespace up to the end of the gzip stream (reading to the end is what
// makes the gzip reader verify the CRC and length), then the checks that
// could not be made earlier.
func (r *Reader) finish() error {
	s := &r.s
	if c, ok := s.peek(); ok {
		return r.syntaxErr(syntaxf("unexpected data %q after the JSON document", c))
	}
	if s.err != io.EOF {
		return r.inputErr(s.err)
	}
	r.state = stEnd
	if r.day.IsZero() {
		return fmt.Errorf(`archivefile: archive has no "day" key: %w`, ErrCorrupt)
	}
	if !r.sawData {
		return fmt.Errorf(`archivefile: archive has no "data" key: %w`, ErrCorrupt)
	}
	if r.n > 0 {
		start := r.day.StartUnix()
		if r.minSec < start {
			return fmt.Errorf("archivefile: reading #%d (sensor %q): time %s is outside the archive day %s (given after \"data\"): %w",
				r.minIdx, r.minSensor, fmtTime(r.minT), r.day, ErrOutsideDay)
		}
		if r.maxSec >= start+measure.SecondsPerDay {
			return fmt.Errorf("archivefile: reading #%d (sensor %q): time %s is outside the archive day %s (given after \"data\"): %w",
				r.maxIdx, r.maxSensor, fmtTime(r.maxT), r.day, ErrOutsideDay)
		}
	}
	return nil
}

// syntaxErr turns a scanner error into the reader's error, preferring the
// underlying cause when the input simply ran out.
func (r *Reader) syntaxErr(err error) error {
	if errors.Is(err, errEOF) && r.s.err != nil && r.s.err != io.EOF {
		return r.inputErr(r.s.err)
	}
	var se *errSyntax
	if errors.As(err, &se) {
		return fmt.Errorf("archivefile: invalid archive JSON at decompressed offset %d: %v: %w", r.s.offset(), err, ErrCorrupt)
	}
	return err
}

// groupErr and readingErr add where in the document a problem is; input
// that merely ran out is reported by its cause instead.
func (r *Reader) groupErr(err error) error {
	if errors.Is(err, errEOF) {
		return r.syntaxErr(errEOF)
	}
	return r.syntaxErr(fmt.Errorf("sensor group %d (sensor %q): %w", r.groupN, r.sensorOrNone(), err))
}

func (r *Reader) readingErr(err error) error {
	if errors.Is(err, errEOF) {
		return r.syntaxErr(errEOF)
	}
	return r.syntaxErr(fmt.Errorf("reading #%d (sensor %q): %w", r.n+1, r.sensor, err))
}

func (r *Reader) sensorOrNone() string {
	if !r.haveSensor {
		return ""
	}
	return r.sensor
}

// inputErr explains why the decompressed stream stopped.
func (r *Reader) inputErr(err error) error {
	var ce flate.CorruptInputError
	switch {
	case errors.Is(err, ErrLimit):
		return fmt.Errorf("archivefile: %w", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("archivefile: gzip stream is truncated: %w: %w", ErrCorrupt, err)
	case errors.Is(err, gzip.ErrChecksum):
		return fmt.Errorf("archivefile: gzip checksum mismatch, archive is corrupt: %w: %w", ErrCorrupt, err)
	case errors.Is(err, gzip.ErrHeader):
		return fmt.Errorf("archivefile: invalid gzip data after the first stream: %w: %w", ErrCorrupt, err)
	case errors.As(err, &ce):
		return fmt.Errorf("archivefile: corrupt gzip data: %w: %w", ErrCorrupt, err)
	}
	return fmt.Errorf("archivefile: reading archive: %w", err)
}
