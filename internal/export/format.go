package export

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pyjson"
)

// Format is an export file format.
type Format string

const (
	CSV     Format = "csv"
	JSONL   Format = "jsonl"
	Parquet Format = "parquet"
)

// Formats lists the formats in the order --help shows them.
var Formats = []Format{CSV, JSONL, Parquet}

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == strings.ToLower(strings.TrimSpace(s)) {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown format %q: use csv, jsonl or parquet", s)
}

// Ext is the file name extension of the format, without the dot.
func (f Format) Ext() string { return string(f) }

// Columns are the exported columns, in order, in every format; the extra
// columns of the readings (their "extra" object) follow them.
var Columns = []string{"day", "sensor", "time", "measurement", "qc_flags", "imputation_method"}

// extraValues returns, for each name in cols, the reading's extra member
// of that name (Kind MemberNull, NULL, for a missing or null member). A
// member not in cols is an error: it would be dropped otherwise.
func extraValues(r *measure.Reading, cols []string, dst []measure.Member) ([]measure.Member, error) {
	dst = dst[:0]
	for range cols {
		dst = append(dst, measure.Member{})
	}
	if r.Extra == "" {
		return dst, nil
	}
	ms, err := archivefile.ParseExtra(r.Extra)
	if err != nil {
		return dst, err
	}
	for _, m := range ms {
		i := slices.Index(cols, m.Name)
		if i < 0 {
			return dst, fmt.Errorf("reading of sensor %q at %s has the extra column %q, which is not among the export's columns (%s, taken from the first reading): the archives of the range do not share their columns; export the days apart",
				r.Sensor, r.Time.Format("2006-01-02T15:04:05.999999Z"), m.Name, strings.Join(cols, ", "))
		}
		dst[i] = m
	}
	return dst, nil
}

// extraNames are the extra columns of the export, taken from the first
// reading written.
func extraNames(r *measure.Reading) ([]string, error) {
	ms, err := archivefile.ParseExtra(r.Extra)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range ms {
		if slices.Contains(Columns, m.Name) {
			return nil, fmt.Errorf("the extra column %q has the name of an exported column; rename it in the export's consumer is not possible: export it as jsonl, which keeps the \"extra\" object apart", m.Name)
		}
		names = append(names, m.Name)
	}
	return names, nil
}

// rowWriter encodes readings in one format onto one file or stream.
type rowWriter interface {
	write(d measure.Day, r *measure.Reading) error
	// close writes what the format needs at the end (Parquet's footer) and
	// flushes; it does not close the underlying writer.
	close() error
}

func newRowWriter(f Format, w io.Writer, types map[string]ColumnType) (rowWriter, error) {
	switch f {
	case CSV, JSONL, Parquet:
		return &lazyWriter{f: f, w: w, types: types}, nil
	}
	return nil, fmt.Errorf("export: unknown format %q", f)
}

// lazyWriter starts the format at the first reading, whose extra columns
// become the file's (a header or a schema comes first), or at the end when
// there is none.
type lazyWriter struct {
	f     Format
	w     io.Writer
	types map[string]ColumnType // by column name; nil without a database
	rw    rowWriter
}

func (l *lazyWriter) start(extra []string) error {
	var err error
	switch l.f {
	case CSV:
		l.rw, err = newCSVWriter(l.w, extra, l.types)
	case JSONL:
		l.rw = &jsonlWriter{w: bufio.NewWriterSize(l.w, 64<<10), extra: extra}
	case Parquet:
		l.rw, err = newParquetWriter(l.w, extra, l.types)
	}
	return err
}

func (l *lazyWriter) write(d measure.Day, r *measure.Reading) error {
	if l.rw == nil {
		var extra []string
		if r.Extra != "" {
			var err error
			if extra, err = extraNames(r); err != nil {
				return err
			}
		}
		if err := l.start(extra); err != nil {
			return err
		}
	}
	return l.rw.write(d, r)
}

func (l *lazyWriter) close() error {
	if l.rw == nil {
		if err := l.start(nil); err != nil {
			return err
		}
	}
	return l.rw.close()
}

// dayText caches the text of the current day: one day has many readings.
type dayText struct {
	day  measure.Day
	text []byte
}

func (c *dayText) of(d measure.Day) []byte {
	if d != c.day || c.text == nil {
		c.day, c.text = d, appendPGDate(c.text[:0], d)
	}
	return c.text
}

// csvWriter writes what COPY ... TO ... (FORMAT csv, HEADER) writes.
type csvWriter struct {
	w      *bufio.Writer
	buf    []byte
	day    dayText
	extra  []string
	etypes []*ColumnType // per extra column; nil: write its JSON text
	vals   []measure.Member
	real   bool // the value column is a real: float4out's layout
}

func newCSVWriter(w io.Writer, extra []string, types map[string]ColumnType) (*csvWriter, error) {
	c := &csvWriter{w: bufio.NewWriterSize(w, 64<<10), extra: extra, real: types["measurement"].Base == "float4"}
	for _, name := range extra {
		var t *ColumnType
		if ct, ok := types[name]; ok {
			t = &ct
		}
		c.etypes = append(c.etypes, t)
	}
	var h []byte
	for i, name := range append(slices.Clone(Columns), extra...) {
		if i > 0 {
			h = append(h, ',')
		}
		h = appendCSVField(h, name)
	}
	if _, err := c.w.Write(append(h, '\n')); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *csvWriter) write(d measure.Day, r *measure.Reading) error {
	b := append(c.buf[:0], c.day.of(d)...)
	b = append(b, ',')
	b = appendCSVField(b, r.Sensor)
	b = append(b, ',')
	b = appendPGTimestamptz(b, r.Time)
	b = append(b, ',')
	switch {
	case !r.Value.Valid:
	case r.ValueText != "":
		b = append(b, r.ValueText...) // the exact number (numeric, integer)
	case c.real:
		b = appendPGFloat4(b, r.Value.Float64)
	default:
		b = appendPGFloat8(b, r.Value.Float64)
	}
	b = append(b, ',')
	if r.QCFlags.Valid {
		b = strconv.AppendInt(b, r.QCFlags.Int64, 10)
	}
	b = append(b, ',')
	if r.Imputation.Valid {
		b = appendCSVField(b, r.Imputation.String)
	}
	if len(c.extra) > 0 || r.Extra != "" {
		var err error
		if c.vals, err = extraValues(r, c.extra, c.vals); err != nil {
			return err
		}
		for i := range c.vals {
			m := &c.vals[i]
			b = append(b, ',')
			switch {
			case m.Kind == measure.MemberNull:
			case c.etypes[i] != nil:
				b = c.etypes[i].appendCSV(b, m)
			default:
				b = appendCSVField(b, m.Raw)
			}
		}
	}
	b = append(b, '\n')
	c.buf = b
	_, err := c.w.Write(b)
	return err
}

func (c *csvWriter) close() error { return c.w.Flush() }

// jsonlWriter writes one JSON object per reading and line, with each value
// written exactly as the archive writes it (so NaN and ±Infinity are the
// archive's bare tokens, which strict JSON parsers reject; see the README).
type jsonlWriter struct {
	w     *bufio.Writer
	buf   []byte
	day   dayText
	extra []string
	vals  []measure.Member
}

func (j *jsonlWriter) write(d measure.Day, r *measure.Reading) error {
	b := append(j.buf[:0], `{"day":"`...)
	b = append(b, j.day.of(d)...)
	b = append(b, `","sensor":`...)
	b = pyjson.AppendString(b, r.Sensor)
	b = append(b, `,"time":"`...)
	b = archivefile.AppendJSONTime(b, r.Time)
	b = append(b, `","measurement":`...)
	switch {
	case !r.Value.Valid:
		b = append(b, "null"...)
	case r.ValueText != "":
		b = append(b, r.ValueText...)
	default:
		b = pyjson.AppendFloat(b, r.Value.Float64)
	}
	b = append(b, `,"qc_flags":`...)
	if r.QCFlags.Valid {
		b = strconv.AppendInt(b, r.QCFlags.Int64, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"imputation_method":`...)
	if r.Imputation.Valid {
		b = pyjson.AppendString(b, r.Imputation.String)
	} else {
		b = append(b, "null"...)
	}
	if len(j.extra) > 0 || r.Extra != "" {
		var err error
		if j.vals, err = extraValues(r, j.extra, j.vals); err != nil {
			return err
		}
		for i := range j.vals {
			b = append(b, ',')
			b = pyjson.AppendString(b, j.extra[i])
			b = append(b, ':')
			if j.vals[i].Kind == measure.MemberNull {
				b = append(b, "null"...)
			} else {
				b = append(b, j.vals[i].Raw...)
			}
		}
	}
	b = append(b, "}\n"...)
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

func (j *jsonlWriter) close() error { return j.w.Flush() }
