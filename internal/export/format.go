package export

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/shizuku-labs/archiver/internal/archivefile"
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

// Columns are the exported columns, in order, in every format.
var Columns = []string{"day", "sensor", "time", "measurement", "qc_flags", "imputation_method"}

// rowWriter encodes readings in one format onto one file or stream.
type rowWriter interface {
	write(d archivefile.Day, r *archivefile.Reading) error
	// close writes what the format needs at the end (Parquet's footer) and
	// flushes; it does not close the underlying writer.
	close() error
}

func newRowWriter(f Format, w io.Writer) (rowWriter, error) {
	switch f {
	case CSV:
		return newCSVWriter(w)
	case JSONL:
		return &jsonlWriter{w: bufio.NewWriterSize(w, 64<<10)}, nil
	case Parquet:
		return newParquetWriter(w)
	}
	return nil, fmt.Errorf("export: unknown format %q", f)
}

// dayText caches the text of the current day: one day has many readings.
type dayText struct {
	day  archivefile.Day
	text []byte
}

func (c *dayText) of(d archivefile.Day) []byte {
	if d != c.day || c.text == nil {
		c.day, c.text = d, appendPGDate(c.text[:0], d)
	}
	return c.text
}

// csvWriter writes what COPY ... TO ... (FORMAT csv, HEADER) writes.
type csvWriter struct {
	w   *bufio.Writer
	buf []byte
	day dayText
}

func newCSVWriter(w io.Writer) (*csvWriter, error) {
	c := &csvWriter{w: bufio.NewWriterSize(w, 64<<10)}
	if _, err := c.w.WriteString(strings.Join(Columns, ",") + "\n"); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *csvWriter) write(d archivefile.Day, r *archivefile.Reading) error {
	b := append(c.buf[:0], c.day.of(d)...)
	b = append(b, ',')
	b = appendCSVField(b, r.Sensor)
	b = append(b, ',')
	b = appendPGTimestamptz(b, r.Time)
	b = append(b, ',')
	if r.Value.Valid {
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
	w   *bufio.Writer
	buf []byte
	day dayText
}

func (j *jsonlWriter) write(d archivefile.Day, r *archivefile.Reading) error {
	b := append(j.buf[:0], `{"day":"`...)
	b = append(b, j.day.of(d)...)
	b = append(b, `","sensor":`...)
	b = archivefile.AppendJSONString(b, r.Sensor)
	b = append(b, `,"time":"`...)
	b = archivefile.AppendJSONTime(b, r.Time)
	b = append(b, `","measurement":`...)
	if r.Value.Valid {
		b = archivefile.AppendJSONFloat(b, r.Value.Float64)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"qc_flags":`...)
	if r.QCFlags.Valid {
		b = strconv.AppendInt(b, r.QCFlags.Int64, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"imputation_method":`...)
	if r.Imputation.Valid {
		b = archivefile.AppendJSONString(b, r.Imputation.String)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, "}\n"...)
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

func (j *jsonlWriter) close() error { return j.w.Flush() }
