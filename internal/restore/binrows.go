package restore

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/shizuku-labs/archiver/internal/failpoint"
)

// copyRows runs COPY … FROM STDIN (FORMAT binary) into table from src,
// encoding the rows itself (see binRows) and, if byTime, handing each
// window of readings to PostgreSQL in time order. It returns the rows
// copied. An error of src (src.err) aborts the COPY, as with pgx.CopyFrom.
func copyRows(ctx context.Context, tx pgx.Tx, table pgx.Identifier, columns []string, src *copySource, byTime bool) (int64, error) {
	oids, err := describe(ctx, tx.Conn().PgConn(), table, columns)
	if err != nil {
		return 0, err
	}
	return copyBinary(ctx, tx, table, columns, newBinRows(src, tx.Conn().TypeMap(), oids, byTime))
}

// describe returns the types of table's columns, as pgx.CopyFrom learns
// them: the binary format depends on them.
func describe(ctx context.Context, pc *pgconn.PgConn, table pgx.Identifier, columns []string) ([]uint32, error) {
	sd, err := pc.Prepare(ctx, "", `SELECT `+strings.Join(quoteAll(columns), ", ")+` FROM `+table.Sanitize(), nil)
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", table.Sanitize(), err)
	}
	oids := make([]uint32, len(sd.Fields))
	for i, f := range sd.Fields {
		oids[i] = f.DataTypeOID
	}
	return oids, nil
}

// copyBinary runs the COPY of rows (encoded for columns' types).
func copyBinary(ctx context.Context, tx pgx.Tx, table pgx.Identifier, columns []string, rows *binRows) (int64, error) {
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, rows, `COPY `+table.Sanitize()+` (`+strings.Join(quoteAll(columns), ", ")+`) FROM STDIN (FORMAT binary)`)
	if err != nil {
		// Not kept: on some errors pgconn returns before its sending
		// goroutine has stopped reading rows.
		return 0, err
	}
	rows.release()
	return tag.RowsAffected(), nil
}

// sortWindow bounds the encoded rows binRows holds to sort: a day of up
// to some 150k readings of the original schema (1000 sensors every ten
// minutes) goes in whole in time order; a larger day goes in windows, each
// in time order (the first appended to the index, the next ones inserted
// in ascending order through the day's part of it), and memory stays
// bounded whatever the day: one window per day restored at once.
const sortWindow = 8 << 20

// binRows is the io.Reader of a binary COPY: the header, the rows of src
// encoded in PostgreSQL's binary format, the trailer.
//
// Why the rows are sorted by time: an archive lists a day sensor by
// sensor, and a table's index on the time column (the clean table has
// one: every archive run and restore selects days by it) takes
// readings in time order as appends to its rightmost page, but readings
// in sensor order as inserts all over the day's part of the index, which
// costs PostgreSQL a sixth more CPU per row than the whole COPY of the
// same rows in time order (measured with psql \copy of both orders, see
// README Performance). Time order is also the order the ingest wrote the
// table in, so a restored day reads back (by time range) as the original
// did. The rows of one microsecond keep their file (sensor) order.
//
// The common column types are encoded here without pgx's per-value plan
// lookups; any other type goes through the connection's type map exactly
// as pgx.CopyFrom would encode it.
type binRows struct {
	src    *copySource
	m      *pgtype.Map
	oids   []uint32
	byTime bool

	*window
	next int    // next row of order to send
	cur  []byte // the rest of the row being sent
	sent int64  // rows handed to COPY

	header, done, trailer bool
	err                   error
}

// window is the encoded rows of one window: row i is
// arena[offs[i]:offs[i+1]]; order lists the rows in sending order, each as
// its time (microseconds from base) above rowBits bits of its number, so
// that sorting the integers sorts by time, then file order. Windows are
// kept for the next day: a restore of many days allocates a few.
type window struct {
	arena []byte
	offs  []uint32
	order []uint64
	spare []uint64 // sortByTime's other buffer
}

// rowBits holds a row's number in its window: rows take 22 bytes or more,
// so a window holds fewer than 1<<20. The 44 bits above it hold times some
// 100 days either side of base, far more than one day's archive spans.
const rowBits = 20

// windows are the free windows. Not a sync.Pool: the archiver collects
// garbage often (GOGC 20, cmd/archiver), which would empty a pool between
// two days and make every day allocate its window anew; a few are kept.
var windows = make(chan *window, 4)

func newBinRows(src *copySource, m *pgtype.Map, oids []uint32, byTime bool) *binRows {
	var w *window
	select {
	case w = <-windows:
	default:
		w = new(window)
	}
	if cap(w.arena) < sortWindow+64<<10 {
		w.arena = make([]byte, 0, sortWindow+64<<10) // the rows of a window, and the last row, without growing
	}
	w.arena, w.offs, w.order = w.arena[:0], w.offs[:0], w.order[:0] // nothing of the last COPY
	return &binRows{src: src, m: m, oids: oids, byTime: byTime, window: w}
}

// release keeps the window for the next COPY; b must not be read again.
func (b *binRows) release() {
	w := b.window
	b.window = nil
	if w != nil && cap(w.arena) <= 2*sortWindow { // not one that a huge row grew
		select {
		case windows <- w:
		default: // enough kept
		}
	}
}

var copyHeader = []byte("PGCOPY\n\377\r\n\000\000\000\000\000\000\000\000\000")

// Read implements io.Reader.
func (b *binRows) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n := 0
	if !b.header {
		if len(p) < len(copyHeader) {
			return 0, io.ErrShortBuffer
		}
		n = copy(p, copyHeader)
		b.header = true
	}
	for n < len(p) {
		if len(b.cur) > 0 {
			k := copy(p[n:], b.cur)
			b.cur = b.cur[k:]
			n += k
			continue
		}
		if b.next < len(b.order) {
			i := b.order[b.next] & (1<<rowBits - 1)
			b.cur = b.arena[b.offs[i]:b.offs[i+1]]
			b.next++
			if b.sent++; b.sent == 2 {
				// The first row is on its way into COPY: a crash test
				// kills the restore half done here.
				if err := failpoint.Inject("restore.mid-copy"); err != nil {
					b.src.err, b.err = err, err
					return n, err
				}
			}
			continue
		}
		if !b.done {
			if err := b.fill(); err != nil {
				b.err = err
				return n, err
			}
			continue
		}
		if !b.trailer {
			if len(p)-n < 2 {
				return n, nil
			}
			binary.BigEndian.PutUint16(p[n:], 0xffff) // -1: no more tuples
			n += 2
			b.trailer = true
		}
		return n, io.EOF
	}
	return n, nil
}

// prefill encodes and orders the first window before the COPY starts (see
// prefetched). It reports whether that window holds the whole archive,
// read without error (the archive read to its end): only then is b used.
func (b *binRows) prefill() bool {
	if err := b.fill(); err != nil {
		b.err = err
		return false
	}
	return b.done
}

// fill encodes the next window of rows and orders it. The source is not
// asked again once it has ended.
func (b *binRows) fill() error {
	w := b.window
	w.arena, w.offs, w.order, b.next = w.arena[:0], w.offs[:0], w.order[:0], 0
	limit := sortWindow
	if !b.byTime {
		limit = 64 << 10 // nothing to sort: send as it comes
	}
	sorted := b.byTime
	var base int64
	for len(w.arena) < limit {
		if !b.src.Next() {
			b.done = true
			break
		}
		i := len(w.offs)
		w.offs = append(w.offs, uint32(len(w.arena)))
		var err error
		if w.arena, err = b.appendRow(w.arena); err != nil {
			return err
		}
		o := uint64(i)
		if sorted {
			k := microsSinceY2K(b.src)
			if i == 0 {
				base = k - 1<<(63-rowBits)
			}
			if d := k - base; d >= 0 && d < 1<<(64-rowBits) {
				o |= uint64(d) << rowBits
			} else {
				sorted = false // times 100 days apart: no archive of a day; sent in file order
			}
		}
		w.order = append(w.order, o)
	}
	if b.done && b.src.err != nil {
		return b.src.err
	}
	w.offs = append(w.offs, uint32(len(w.arena)))
	if sorted {
		w.order, w.spare = sortByTime(w.order, w.spare)
	} else {
		for i := range w.order {
			w.order[i] &= 1<<rowBits - 1
		}
	}
	return nil
}

// sortByTime sorts keys, a window's order as fill appends it (time above
// rowBits bits of the row number, rows ascending), by time, rows of one
// time in file order: what slices.Sort does with them, as a stable radix
// sort of the time bits that vary. A day's 144,000 keys sort in four
// passes in a fifth of pdqsort's time (which was a sixth of the
// restorer's CPU). It returns the sorted keys and the other buffer, either
// of which may be spare.
func sortByTime(keys, spare []uint64) (sorted, other []uint64) {
	n := len(keys)
	if n < 2 {
		return keys, spare
	}
	lo, hi := keys[0]>>rowBits, keys[0]>>rowBits
	for _, k := range keys[1:] {
		t := k >> rowBits
		lo, hi = min(lo, t), max(hi, t)
	}
	span := bits.Len64(hi - lo)
	if span == 0 {
		return keys, spare // one time: already in row order
	}
	spare = slices.Grow(spare[:0], n)[:n]
	var count [1 << radixBits]int
	for shift := 0; shift < span; shift += radixBits {
		digit := func(k uint64) uint64 { return ((k >> rowBits) - lo) >> shift & (1<<radixBits - 1) }
		clear(count[:])
		for _, k := range keys {
			count[digit(k)]++
		}
		if count[digit(keys[0])] == n {
			continue // one digit: nothing moves
		}
		sum := 0
		for i, c := range count {
			count[i], sum = sum, sum+c
		}
		for _, k := range keys {
			d := digit(k)
			spare[count[d]] = k
			count[d]++
		}
		keys, spare = spare, keys
	}
	return keys, spare
}

// radixBits is sortByTime's digit: 2048 buckets.
const radixBits = 11

// microsFromUnixToY2K is PostgreSQL's epoch (2000-01-01) in Unix microseconds.
const microsFromUnixToY2K = 946684800 * 1000000

func microsSinceY2K(s *copySource) int64 {
	t := s.ts.t
	return t.Unix()*1000000 + int64(t.Nanosecond())/1000 - microsFromUnixToY2K
}

// PostgreSQL type OIDs binRows encodes itself.
const (
	oidInt2        = 21
	oidInt4        = 23
	oidInt8        = 20
	oidText        = 25
	oidVarchar     = 1043
	oidFloat8      = 701
	oidTimestamp   = 1114
	oidTimestamptz = 1184
)

// appendRow appends the source's current reading as one binary COPY row.
func (b *binRows) appendRow(buf []byte) ([]byte, error) {
	s := b.src
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(s.row)))
	for i, v := range s.row {
		var err error
		if buf, err = b.appendField(buf, b.oids[i], i, v); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

func (b *binRows) appendField(buf []byte, oid uint32, i int, v any) ([]byte, error) {
	s := b.src
	switch {
	case i == 0 || i == 4: // sensor, imputation method
		f := &s.sensor
		if i == 4 {
			f = &s.imp
		}
		if oid == oidText || oid == oidVarchar {
			if !f.valid {
				return binary.BigEndian.AppendUint32(buf, math.MaxUint32), nil // -1: NULL
			}
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(f.s)))
			return append(buf, f.s...), nil
		}
	case i == 1: // time: archive times are UTC, as the session is
		if oid == oidTimestamptz || oid == oidTimestamp {
			buf = binary.BigEndian.AppendUint32(buf, 8)
			return binary.BigEndian.AppendUint64(buf, uint64(microsSinceY2K(s))), nil
		}
	case i == 2: // value
		if oid == oidFloat8 {
			if !s.value.valid {
				return binary.BigEndian.AppendUint32(buf, math.MaxUint32), nil
			}
			buf = binary.BigEndian.AppendUint32(buf, 8)
			return binary.BigEndian.AppendUint64(buf, math.Float64bits(s.value.f)), nil
		}
	case i == 3: // qc_flags
		q := s.qc
		if !q.valid && (oid == oidInt2 || oid == oidInt4 || oid == oidInt8) {
			return binary.BigEndian.AppendUint32(buf, math.MaxUint32), nil
		}
		switch {
		case oid == oidInt8:
			buf = binary.BigEndian.AppendUint32(buf, 8)
			return binary.BigEndian.AppendUint64(buf, uint64(q.n)), nil
		case oid == oidInt4 && q.n >= math.MinInt32 && q.n <= math.MaxInt32:
			buf = binary.BigEndian.AppendUint32(buf, 4)
			return binary.BigEndian.AppendUint32(buf, uint32(int32(q.n))), nil
		case oid == oidInt2 && q.n >= math.MinInt16 && q.n <= math.MaxInt16:
			buf = binary.BigEndian.AppendUint32(buf, 2)
			return binary.BigEndian.AppendUint16(buf, uint16(int16(q.n))), nil
		}
		// Out of range: pgx's encoder below refuses it with its message.
	}
	return encodeField(b.m, buf, oid, v)
}

// encodeField encodes one field as pgx.CopyFrom does (its encodeCopyValue).
func encodeField(m *pgtype.Map, buf []byte, oid uint32, v any) ([]byte, error) {
	sp := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, math.MaxUint32)
	out, err := m.Encode(oid, pgtype.BinaryFormatCode, v, buf)
	if err != nil {
		return nil, err
	}
	if out == nil {
		return buf, nil // NULL: the -1 stays
	}
	binary.BigEndian.PutUint32(out[sp:], uint32(len(out)-sp-4))
	return out, nil
}
