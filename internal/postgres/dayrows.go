package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// MaxInMemoryDay is the largest day, in rows, that ReadDay sorts in memory
// (28 bytes a row: some 28 MiB at the limit, 4 MiB for a day of 1000
// sensors every 10 minutes). Larger days are sorted by PostgreSQL instead
// (StreamDay), which costs the server more CPU but keeps the archiver's
// memory flat whatever the size of a day.
const MaxInMemoryDay = 1 << 20

// DayRows yields the rows of one day in the archive's canonical order (see
// measure.Compare), either streamed from a query that PostgreSQL sorted
// (StreamDay) or from a day read in index order and sorted in memory
// (ReadDay). Rows are decoded from the wire without allocating: strings
// are interned, so the returned Reading's strings stay valid, but the
// Reading itself is reused by the next call.
type DayRows struct {
	rows pgx.Rows // StreamDay: the open query; nil for ReadDay
	dec  rowDecoder
	r    measure.Reading
	n    int64

	buf *DayBuffer // ReadDay: the day, and its canonical order
	i   int

	gen *genericRows // a table the binary-row path cannot read
}

// dayColumns is the select list of both day queries: the archive's five
// fields, cast to the types the decoder reads (the time column is
// timestamptz or timestamp already).
func (t CleanTable) dayColumns() string {
	s, v, f, m := pgx.Identifier{t.Sensor}.Sanitize(), pgx.Identifier{t.Value}.Sanitize(),
		pgx.Identifier{t.QCFlags}.Sanitize(), pgx.Identifier{t.Imputation}.Sanitize()
	return s + `::text, ` + t.timeCol() + `, ` + v + `::float8, ` + f + `::int8, ` + m + `::text`
}

func (t CleanTable) dayPredicate() string {
	return ` WHERE ` + t.timeCol() + ` >= $1 AND ` + t.timeCol() + ` < $2`
}

// binaryResults asks for every column in binary format, so that rows can be
// decoded from the raw bytes. Under the simple protocol (a connection
// string with default_query_exec_mode=simple_protocol, for PgBouncer) the
// server sends text instead; the decoder sees that and falls back to Scan.
var binaryResults = pgx.QueryResultFormats{pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode}

// canonicalOrder is measure.Compare's order as an ORDER BY list, the
// one place the SQL states it: sensor by byte order (COLLATE "C", whatever
// the column's or the database's collation), time, then, with all, the
// value as float8 (PostgreSQL's float8 order is Compare's: -Infinity,
// finite, Infinity, NaN, and -0 equal to 0), qc_flags and the method by
// byte order, NULLs first throughout, and last the sign of a zero value:
// PostgreSQL's = calls -0 and 0 equal but stores both, and Compare puts
// -0 first ('-0' sorts before '0' by bytes; the text is made only for
// zeros). Without all it is the sensor and time only, and the caller puts
// rows that share both in Compare order itself (genericRows: PostgreSQL
// cannot order by the archive's text of exact values and extra columns).
// TestSQLOrderIsCompare holds it to Compare on real PostgreSQL.
func (t CleanTable) canonicalOrder(all bool) string {
	q := func(c string) string { return pgx.Identifier{c}.Sanitize() }
	order := q(t.Sensor) + `::text COLLATE "C", ` + t.timeCol()
	if all {
		v := q(t.Value) + `::float8`
		order += `, ` + v + ` NULLS FIRST, ` + q(t.QCFlags) + `::int8 NULLS FIRST, ` + q(t.Imputation) + `::text COLLATE "C" NULLS FIRST, ` +
			`CASE WHEN ` + v + ` = 0 THEN ` + v + `::text END COLLATE "C"`
	}
	return order
}

// StreamDay starts reading the rows of day d, in one query, sorted the way
// archives are (canonicalOrder). Memory stays constant whatever the size
// of the day; PostgreSQL does the sorting.
func (t CleanTable) StreamDay(ctx context.Context, q Querier, d measure.Day) (*DayRows, error) {
	if !t.layout.Fast() {
		return t.genericDay(ctx, q, d)
	}
	sql := `SELECT ` + t.dayColumns() + ` FROM ` + ident(t.Name) + t.dayPredicate() + ` ORDER BY ` + t.canonicalOrder(true)
	rows, err := q.Query(ctx, sql, binaryResults, d.Start(), d.End())
	if err != nil {
		return nil, fmt.Errorf("read rows of %s on %s: %w", t, d, err)
	}
	dr := &DayRows{rows: rows}
	dr.dec.init(rows.FieldDescriptions())
	return dr, nil
}

// ReadDay reads the rows of day d in time order (the time index's order,
// which costs PostgreSQL next to nothing) into buf, and sorts them into the
// archive's canonical order there: a counting sort by sensor that keeps the
// time order, then a check of every sensor's run under the full
// measure.Compare order (rows with equal times are sorted by their
// other fields). Memory is bounded by the day: a day of more rows than
// buf holds (its Limit) is refused with ErrDayTooLarge, for StreamDay.
// sizeHint, the expected number of rows (CountDay), sizes buf once; 0 keeps
// the size of the day buf held last (see Sized), and a day that does not
// fit it is refused with ErrBufferFull. buf is the caller's, reused
// from day to day (one per concurrent day), and must not be used again
// until the DayRows is closed.
func (t CleanTable) ReadDay(ctx context.Context, q Querier, d measure.Day, buf *DayBuffer, sizeHint int64) (*DayRows, error) {
	if !t.layout.Fast() {
		return t.genericDay(ctx, q, d)
	}
	buf.reset(d, int(min(max(sizeHint, 0), int64(buf.limit()))))
	// One row more than fits tells that the day does not, without the
	// server sending (and pgx draining) the rest of a day too large.
	fits := buf.limit()
	if sizeHint <= 0 {
		fits = min(fits, cap(buf.key))
	}
	sql := `SELECT ` + t.dayColumns() + ` FROM ` + ident(t.Name) + t.dayPredicate() + ` ORDER BY ` + t.timeCol() + ` LIMIT $3`
	rows, err := q.Query(ctx, sql, binaryResults, d.Start(), d.End(), fits+1)
	if err != nil {
		return nil, fmt.Errorf("read rows of %s on %s: %w", t, d, err)
	}
	defer rows.Close()
	dr := &DayRows{buf: buf}
	dr.dec.init(rows.FieldDescriptions())
	for rows.Next() {
		switch n := len(buf.key); {
		case n == buf.limit():
			return nil, fmt.Errorf("read rows of %s on %s: %w", t, d, ErrDayTooLarge)
		case n == cap(buf.key) && sizeHint <= 0:
			return nil, fmt.Errorf("read rows of %s on %s: %w", t, d, ErrBufferFull)
		}
		if err := dr.dec.load(rows, buf); err != nil {
			return nil, fmt.Errorf("read rows of %s on %s: %w", t, d, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rows of %s on %s: %w", t, d, err)
	}
	buf.sort()
	return dr, nil
}

// ErrDayTooLarge is ReadDay's refusal of a day of more rows than its
// buffer holds: read it with StreamDay.
var ErrDayTooLarge = errors.New("the day has too many rows to sort in memory")

// ErrBufferFull is ReadDay's refusal, without a size hint, of a day of
// more rows than its buffer was sized for by the last: count the day and
// read it again with the count as the hint. Growing by appending would
// leave the day several times over in garbage and the buffer oversized.
var ErrBufferFull = errors.New("the day has more rows than the buffer was sized for")

// Len is the number of rows a day read into its DayBuffer holds (ReadDay
// of a table whose Layout is Fast; any other ReadDay streams).
func (r *DayRows) Len() int64 { return int64(len(r.buf.order)) }

// Rewind starts a day read by ReadDay again from its first row, so that a
// day written twice (see archive's upload) is read from PostgreSQL once.
func (r *DayRows) Rewind() { r.i, r.n = 0, 0 }

// Next returns the next row, or io.EOF after the last. The reading is reused
// by the following call.
func (r *DayRows) Next() (*measure.Reading, error) {
	if r.gen != nil {
		rd, err := r.gen.next()
		if err == nil {
			r.n++
		}
		return rd, err
	}
	if r.buf != nil {
		if r.i >= len(r.buf.order) {
			return nil, io.EOF
		}
		r.buf.reading(int(r.buf.order[r.i]), &r.r)
		r.i++
		r.n++
		return &r.r, nil
	}
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return nil, fmt.Errorf("read rows: %w", err)
		}
		return nil, io.EOF
	}
	if err := r.dec.decode(r.rows, &r.r); err != nil {
		return nil, fmt.Errorf("read rows: %w", err)
	}
	r.n++
	return &r.r, nil
}

// Count is the number of rows returned so far.
func (r *DayRows) Count() int64 { return r.n }

// Close releases the query, or the DayBuffer for the next day.
func (r *DayRows) Close() {
	if r.rows != nil {
		r.rows.Close()
	}
	if r.gen != nil {
		r.gen.rows.Close()
	}
	r.buf = nil
}

// rowDecoder turns a day query's raw column values into readings. With
// every column in the binary layout it expects (what binaryResults asks
// for) it reads the bytes directly and allocates only for a sensor or
// method name it has not seen; otherwise it falls back to pgx's Scan.
type rowDecoder struct {
	raw bool
	ts  time.Time

	sensor lastString        // StreamDay: sensors come grouped
	imp    map[string]string // the few distinct methods, bounded
}

func (d *rowDecoder) init(fds []pgconn.FieldDescription) {
	d.imp = make(map[string]string)
	d.raw = len(fds) == 5
	for i, fd := range fds {
		if !d.raw {
			break
		}
		switch i {
		case 0, 4:
			// Text is the same bytes in both formats (client_encoding is
			// UTF8 under pgx).
			d.raw = fd.DataTypeOID == pgtype.TextOID
		case 1:
			d.raw = fd.Format == pgx.BinaryFormatCode && (fd.DataTypeOID == pgtype.TimestamptzOID || fd.DataTypeOID == pgtype.TimestampOID)
		case 2:
			d.raw = fd.Format == pgx.BinaryFormatCode && fd.DataTypeOID == pgtype.Float8OID
		case 3:
			d.raw = fd.Format == pgx.BinaryFormatCode && fd.DataTypeOID == pgtype.Int8OID
		}
	}
}

// PostgreSQL's binary timestamps count microseconds from 2000-01-01 UTC.
const pgEpochMicros = 946684800 * 1e6

func decodeTime(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("time value of %d bytes, want 8", len(b))
	}
	us := int64(binary.BigEndian.Uint64(b))
	if us == math.MaxInt64 || us == math.MinInt64 {
		return 0, fmt.Errorf("infinite time value cannot be archived")
	}
	return us + pgEpochMicros, nil
}

// fields decodes the non-string columns of a raw row.
func fields(vals [][]byte) (us int64, v sqlFloat, q sqlInt, err error) {
	if vals[1] == nil {
		return 0, v, q, fmt.Errorf("NULL time")
	}
	if us, err = decodeTime(vals[1]); err != nil {
		return 0, v, q, err
	}
	if b := vals[2]; b != nil {
		if len(b) != 8 {
			return 0, v, q, fmt.Errorf("float8 value of %d bytes", len(b))
		}
		v = sqlFloat{f: math.Float64frombits(binary.BigEndian.Uint64(b)), ok: true}
	}
	if b := vals[3]; b != nil {
		if len(b) != 8 {
			return 0, v, q, fmt.Errorf("int8 value of %d bytes", len(b))
		}
		q = sqlInt{n: int64(binary.BigEndian.Uint64(b)), ok: true}
	}
	return us, v, q, nil
}

type sqlFloat struct {
	f  float64
	ok bool
}

type sqlInt struct {
	n  int64
	ok bool
}

// decode reads the current row into r (StreamDay).
func (d *rowDecoder) decode(rows pgx.Rows, r *measure.Reading) error {
	if !d.raw {
		if err := rows.Scan(&r.Sensor, &d.ts, &r.Value, &r.QCFlags, &r.Imputation); err != nil {
			return err
		}
		r.Time = d.ts.UTC()
		return nil
	}
	vals := rows.RawValues()
	if vals[0] == nil {
		return fmt.Errorf("NULL sensor")
	}
	us, v, q, err := fields(vals)
	if err != nil {
		return err
	}
	r.Sensor = d.sensor.get(vals[0])
	r.Time = time.UnixMicro(us).UTC()
	r.Value.Float64, r.Value.Valid = v.f, v.ok
	r.QCFlags.Int64, r.QCFlags.Valid = q.n, q.ok
	if vals[4] == nil {
		r.Imputation.String, r.Imputation.Valid = "", false
	} else {
		r.Imputation.String, r.Imputation.Valid = d.method(vals[4]), true
	}
	return nil
}

// method interns an imputation method name; the table is bounded so that
// odd data cannot grow it without limit.
func (d *rowDecoder) method(b []byte) string {
	if s, ok := d.imp[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.imp) < 256 && len(s) <= 64 {
		d.imp[s] = s
	}
	return s
}

// load appends the current row to the day buffer (ReadDay).
func (d *rowDecoder) load(rows pgx.Rows, b *DayBuffer) error {
	if !d.raw {
		var r measure.Reading
		if err := rows.Scan(&r.Sensor, &d.ts, &r.Value, &r.QCFlags, &r.Imputation); err != nil {
			return err
		}
		var imp []byte
		if r.Imputation.Valid {
			imp = []byte(r.Imputation.String)
		}
		return b.add(b.sensors.id([]byte(r.Sensor)), d.ts.UnixMicro(),
			sqlFloat{r.Value.Float64, r.Value.Valid}, sqlInt{r.QCFlags.Int64, r.QCFlags.Valid}, r.Imputation.Valid, imp)
	}
	vals := rows.RawValues()
	if vals[0] == nil {
		return fmt.Errorf("NULL sensor")
	}
	us, v, q, err := fields(vals)
	if err != nil {
		return err
	}
	return b.add(b.sensors.id(vals[0]), us, v, q, vals[4] != nil, vals[4])
}

// lastString returns the previous string when the bytes repeat it, so
// runs of one sensor cost one allocation.
type lastString struct{ s string }

func (l *lastString) get(b []byte) string {
	if string(b) != l.s {
		l.s = string(b)
	}
	return l.s
}

// interner numbers the distinct strings of one day in order of first
// appearance.
type interner struct {
	ids   map[string]uint32
	names []string
	last  uint32
}

func (in *interner) id(b []byte) uint32 {
	if len(in.names) > 0 && string(b) == in.names[in.last] {
		return in.last
	}
	// Rows in time order name the sensors in the same order at every
	// time: the sensor after the last one seen is most often the next.
	if next := in.last + 1; int(next) < len(in.names) && string(b) == in.names[next] {
		in.last = next
		return next
	}
	id, ok := in.ids[string(b)]
	if !ok {
		s := string(b)
		id = uint32(len(in.names))
		in.names = append(in.names, s)
		in.ids[s] = id
	}
	in.last = id
	return id
}

func (in *interner) reset() {
	if in.ids == nil {
		in.ids = make(map[string]uint32)
	}
	clear(in.ids)
	clear(in.names) // let the strings go
	in.names = in.names[:0]
	in.last = 0
}

// DayBuffer holds one day in columns, 28 bytes a row, and its canonical
// order, for ReadDay. Keep one per concurrent day and reuse it: a run of
// many days then allocates its memory once, and the garbage collector has
// nothing to do. The zero value is ready to use.
type DayBuffer struct {
	// Limit is the most rows ReadDay holds (0: MaxInMemoryDay).
	Limit int

	sensors interner
	methods interner

	day0  int64     // the day's first microsecond (Unix)
	key   []uint64  // sensor id << timeBits | microseconds into the day
	value []float64 //
	qc    []int32   // qc_flags; see qcWide
	meta  []uint32  // method id + 1 (0: NULL) | metaValue | metaQC | metaWide
	wide  map[int32]int64

	order []int32

	rank, next []int32 // sort scratch, per sensor id
}

const (
	timeBits   = 40 // a day has 86.4e9 µs < 2^37
	maxSensors = 1 << (64 - timeBits)

	metaValue  = 1 << 31 // value not NULL
	metaQC     = 1 << 30 // qc_flags not NULL
	metaWide   = 1 << 29 // qc_flags outside int32: in wide
	metaMethod = metaWide - 1
)

func (b *DayBuffer) limit() int {
	if b.Limit > 0 {
		return b.Limit
	}
	return MaxInMemoryDay
}

// Fits reports whether a day of n rows fits in b.
func (b *DayBuffer) Fits(n int64) bool { return n <= int64(b.limit()) }

// Sized reports whether b has held a day already: its arrays are then the
// size of that day, and ReadDay needs no size hint for the next.
func (b *DayBuffer) Sized() bool { return cap(b.key) > 0 }

// reset empties b for day d of about n rows.
func (b *DayBuffer) reset(d measure.Day, n int) {
	b.sensors.reset()
	b.methods.reset()
	b.day0 = d.Start().UnixMicro()
	clear(b.wide)
	if cap(b.key) < n {
		// The day's size plus a little, once: growing by appending would
		// leave the day twice over in garbage behind, and the next,
		// slightly larger day would grow it again. Drop the old arrays
		// first so that they are not held while the new ones fill.
		b.key, b.value, b.qc, b.meta, b.order = nil, nil, nil, nil, nil
		n += n / 16
		b.key, b.value, b.qc, b.meta, b.order = make([]uint64, 0, n), make([]float64, 0, n), make([]int32, 0, n), make([]uint32, 0, n), make([]int32, 0, n)
	}
	b.key, b.value, b.qc, b.meta, b.order = b.key[:0], b.value[:0], b.qc[:0], b.meta[:0], b.order[:0]
}

func (b *DayBuffer) add(sensor uint32, us int64, v sqlFloat, q sqlInt, hasMethod bool, method []byte) error {
	off := us - b.day0
	if off < 0 || off >= 1<<timeBits {
		return fmt.Errorf("row time %s is not in the day read", time.UnixMicro(us).UTC().Format(time.RFC3339Nano))
	}
	if sensor >= maxSensors {
		return fmt.Errorf("more than %d sensors in one day: too many to sort in memory", maxSensors)
	}
	var meta uint32
	if hasMethod {
		m := b.methods.id(method) + 1
		if m > metaMethod {
			return fmt.Errorf("more than %d imputation methods in one day: too many to sort in memory", metaMethod-1)
		}
		meta = m
	}
	if v.ok {
		meta |= metaValue
	}
	var qc int32
	if q.ok {
		meta |= metaQC
		qc = int32(q.n)
		if int64(qc) != q.n {
			meta |= metaWide
			if b.wide == nil {
				b.wide = make(map[int32]int64)
			}
			b.wide[int32(len(b.key))] = q.n
		}
	}
	b.key = append(b.key, uint64(sensor)<<timeBits|uint64(off))
	b.value = append(b.value, v.f)
	b.qc = append(b.qc, qc)
	b.meta = append(b.meta, meta)
	return nil
}

func (b *DayBuffer) sensor(i int) uint32 { return uint32(b.key[i] >> timeBits) }

// reading fills r with row i.
func (b *DayBuffer) reading(i int, r *measure.Reading) {
	k, m := b.key[i], b.meta[i]
	r.Sensor = b.sensors.names[k>>timeBits]
	r.Time = time.UnixMicro(b.day0 + int64(k&(1<<timeBits-1))).UTC()
	r.Value.Float64, r.Value.Valid = b.value[i], m&metaValue != 0
	r.QCFlags.Int64, r.QCFlags.Valid = int64(b.qc[i]), m&metaQC != 0
	if m&metaWide != 0 {
		r.QCFlags.Int64 = b.wide[int32(i)]
	}
	if id := m & metaMethod; id != 0 {
		r.Imputation.String, r.Imputation.Valid = b.methods.names[id-1], true
	} else {
		r.Imputation.String, r.Imputation.Valid = "", false
	}
}

// compare orders rows i and j of the same sensor by measure.Compare.
func (b *DayBuffer) compare(i, j int32) int {
	if ki, kj := b.key[i], b.key[j]; ki != kj {
		if ki < kj {
			return -1
		}
		return 1
	}
	var ri, rj measure.Reading
	b.reading(int(i), &ri)
	b.reading(int(j), &rj)
	return measure.Compare(&ri, &rj)
}

// sort computes the canonical order: a stable counting sort by sensor
// (byte order of the names), which keeps the rows of each sensor in the
// order they were read; then each sensor's run is checked under the full
// order, and sorted only if it is not already in it (equal times, or a
// query that did not return time order).
func (b *DayBuffer) sort() {
	k := len(b.sensors.names)
	byName := b.next[:0]
	for id := range k {
		byName = append(byName, int32(id))
	}
	names := b.sensors.names
	slices.SortFunc(byName, func(x, y int32) int { return strings.Compare(names[x], names[y]) })
	b.rank = slices.Grow(b.rank[:0], k)[:k]
	for r, id := range byName {
		b.rank[id] = int32(r)
	}
	// next[r] is where the next row of rank r goes.
	b.next = slices.Grow(byName[:0], k+1)[:k+1]
	clear(b.next)
	for i := range b.key {
		b.next[b.rank[b.sensor(i)]+1]++
	}
	for r := 1; r <= k; r++ {
		b.next[r] += b.next[r-1]
	}
	n := len(b.key)
	b.order = slices.Grow(b.order[:0], n)[:n]
	for i := range b.key {
		r := b.rank[b.sensor(i)]
		b.order[b.next[r]] = int32(i)
		b.next[r]++
	}
	// After placement next[r] is the end of rank r's run.
	lo := int32(0)
	for r := range k {
		hi := b.next[r]
		run := b.order[lo:hi]
		for j := 1; j < len(run); j++ {
			if b.compare(run[j-1], run[j]) > 0 {
				slices.SortStableFunc(run, b.compare)
				break
			}
		}
		lo = hi
	}
}
