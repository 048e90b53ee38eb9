package export

import (
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// RowGroupRows is the number of rows per Parquet row group: DuckDB's own
// row group size, large enough for good compression and column statistics,
// small enough that a writer holds one group in a few MiB.
const RowGroupRows = 122880

// parquetBatch is how many rows are handed to the Parquet writer at a time.
const parquetBatch = 1024

// orderedGroup is a parquet.Group whose columns come in the given order;
// a plain Group orders them by name, and a reader's SELECT * should show
// the columns as every other format does.
type orderedGroup struct {
	parquet.Group
	order []string
}

func (g orderedGroup) Fields() []parquet.Field {
	fields := g.Group.Fields()
	slices.SortStableFunc(fields, func(a, b parquet.Field) int {
		return slices.Index(g.order, a.Name()) - slices.Index(g.order, b.Name())
	})
	return fields
}

// parquetSchema is one row per reading: day as DATE, time as a UTC
// TIMESTAMP in microseconds (PostgreSQL's precision), measurement as DOUBLE
// (the archive's float), qc_flags as INT64, NULLs as such.
// Extra columns are JSON text (the JSON logical type): the archive does
// not say their SQL type.
func parquetSchema(extra []string, types map[string]ColumnType) *parquet.Schema {
	g := parquet.Group{
		"day":               parquet.Date(),
		"sensor":            parquet.String(),
		"time":              parquet.Timestamp(parquet.Microsecond),
		"measurement":       parquet.Optional(parquet.Leaf(parquet.DoubleType)),
		"qc_flags":          parquet.Optional(parquet.Int(64)),
		"imputation_method": parquet.Optional(parquet.String()),
	}
	if t, ok := types["measurement"]; ok && t.Base != "float8" {
		g["measurement"] = t.parquetNode() // numeric as DECIMAL or decimal text, integers as INT64, real as FLOAT
	}
	for _, name := range extra {
		if t, ok := types[name]; ok {
			g[name] = t.parquetNode()
		} else {
			g[name] = parquet.Optional(parquet.JSON())
		}
	}
	return parquet.NewSchema("reading", orderedGroup{Group: g, order: append(slices.Clone(Columns), extra...)})
}

type parquetWriter struct {
	w      *parquet.Writer
	rows   []parquet.Row
	n      int
	value  *ColumnType // the measurement's type when a database says it is not a float
	extra  []string
	etypes []*ColumnType // per extra column; nil: JSON text
	vals   []measure.Member
}

func newParquetWriter(w io.Writer, extra []string, types map[string]ColumnType) (*parquetWriter, error) {
	pw := parquet.NewWriter(w, parquetSchema(extra, types),
		parquet.Compression(newZstdCodec()),
		parquet.MaxRowsPerRowGroup(RowGroupRows),
		parquet.CreatedBy("archiver", "export", ""),
	)
	rows := make([]parquet.Row, parquetBatch)
	for i := range rows {
		rows[i] = make(parquet.Row, len(Columns)+len(extra))
	}
	p := &parquetWriter{w: pw, rows: rows, extra: extra}
	if t, ok := types["measurement"]; ok && t.Base != "float8" {
		p.value = &t
	}
	for _, name := range extra {
		var t *ColumnType
		if ct, ok := types[name]; ok {
			t = &ct
		}
		p.etypes = append(p.etypes, t)
	}
	return p, nil
}

func bytesOf(s string) []byte {
	if s == "" {
		return []byte{} // not nil: an empty string is a value, not NULL
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func (p *parquetWriter) write(d measure.Day, r *measure.Reading) error {
	if r.Time.Nanosecond()%1000 != 0 {
		return fmt.Errorf("reading of sensor %q at %s has sub-microsecond digits, which a Parquet microsecond timestamp cannot hold: export it as csv or jsonl",
			r.Sensor, r.Time.Format("2006-01-02T15:04:05.999999999Z"))
	}
	row := p.rows[p.n]
	row[0] = parquet.Int32Value(int32(d.Start().Unix()/86400)).Level(0, 0, 0)
	// Strings are immutable and outlive the batch, so their bytes can be
	// handed over without a copy; the writer copies them into its pages.
	row[1] = parquet.ByteArrayValue(bytesOf(r.Sensor)).Level(0, 0, 1)
	row[2] = parquet.Int64Value(r.Time.UnixMicro()).Level(0, 0, 2)
	switch {
	case !r.Value.Valid:
		row[3] = parquet.NullValue().Level(0, 0, 3)
	case p.value != nil:
		v, err := p.value.parquetValue(valueText(r), false, 3)
		if err != nil {
			return fmt.Errorf("reading of sensor %q at %s: measurement %w", r.Sensor, r.Time.Format("2006-01-02T15:04:05.999999Z"), err)
		}
		row[3] = v
	case r.ValueText != "" && !exactFloat(r.ValueText, r.Value.Float64):
		// An exact decimal (numeric) that a DOUBLE would round.
		return fmt.Errorf("reading of sensor %q at %s has the exact value %s, which a Parquet DOUBLE cannot hold: export it as csv or jsonl (the archive does not say the column's precision)",
			r.Sensor, r.Time.Format("2006-01-02T15:04:05.999999Z"), r.ValueText)
	default:
		row[3] = parquet.DoubleValue(r.Value.Float64).Level(0, 1, 3)
	}
	if r.QCFlags.Valid {
		row[4] = parquet.Int64Value(r.QCFlags.Int64).Level(0, 1, 4)
	} else {
		row[4] = parquet.NullValue().Level(0, 0, 4)
	}
	if r.Imputation.Valid {
		row[5] = parquet.ByteArrayValue(bytesOf(r.Imputation.String)).Level(0, 1, 5)
	} else {
		row[5] = parquet.NullValue().Level(0, 0, 5)
	}
	if len(p.extra) > 0 || r.Extra != "" {
		var err error
		if p.vals, err = extraValues(r, p.extra, p.vals); err != nil {
			return err
		}
		for i := range p.vals {
			m := &p.vals[i]
			c := len(Columns) + i
			switch {
			case m.Kind == measure.MemberNull:
				row[c] = parquet.NullValue().Level(0, 0, c)
			case p.etypes[i] != nil:
				text := m.Text
				if m.Kind == measure.MemberJSON {
					text = m.Raw
				}
				v, err := p.etypes[i].parquetValue(text, m.Kind == measure.MemberString, c)
				if err != nil {
					return fmt.Errorf("reading of sensor %q at %s: extra column %q: %w", r.Sensor, r.Time.Format("2006-01-02T15:04:05.999999Z"), p.extra[i], err)
				}
				row[c] = v
			default:
				row[c] = parquet.ByteArrayValue(bytesOf(m.Raw)).Level(0, 1, c)
			}
		}
	}
	p.n++
	if p.n == len(p.rows) {
		return p.flush()
	}
	return nil
}

func (p *parquetWriter) flush() error {
	if p.n == 0 {
		return nil
	}
	_, err := p.w.WriteRows(p.rows[:p.n])
	p.n = 0
	return err
}

func (p *parquetWriter) close() error {
	if err := p.flush(); err != nil {
		return err
	}
	return p.w.Close()
}

// exactFloat reports whether the decimal text is exactly the float f (as
// "5" or "1.500" are 5 and 1.5), so that a DOUBLE holds the value itself.
func exactFloat(text string, f float64) bool {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return false
	}
	v, ok := new(big.Rat).SetString(text)
	if !ok {
		return false
	}
	w, ok := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	return ok && v.Cmp(w) == 0 && (f != 0 || math.Signbit(f) == strings.HasPrefix(text, "-"))
}

// zstdCodec is parquet-go's zstd codec with a window sized to a page:
// pages are compressed one at a time (at most a page buffer, 256 KiB), so
// the default 8 MiB window only costs memory (16 MiB of history) and
// compresses nothing better. Files are standard ZSTD pages.
type zstdCodec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

func newZstdCodec() *zstdCodec {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(512<<10), zstd.WithZeroFrames(true), zstd.WithEncoderCRC(false))
	if err != nil {
		panic(err) // only for invalid options
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		panic(err)
	}
	return &zstdCodec{enc: enc, dec: dec}
}

func (c *zstdCodec) String() string                            { return "ZSTD" }
func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }
func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	return c.enc.EncodeAll(src, dst[:0]), nil
}
func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) { return c.dec.DecodeAll(src, dst[:0]) }
