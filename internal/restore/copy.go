package restore

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/failpoint"
	"github.com/shizuku-labs/archiver/internal/measure"
)

// copySource feeds COPY straight from the archive decoder: a day of any
// size is restored in the memory of one COPY buffer (binRows: one sort
// window).
//
// The row is a fixed array of pointers to fields of the source itself, and
// the field types are pgtype valuers with pointer receivers: putting a
// pointer in an interface does not allocate and the encoders call the
// valuer methods without boxing, so the hot path allocates nothing per
// reading (BenchmarkRestoreDay measures it).
type copySource struct {
	archiveRows
	row [5]any

	sensor textField
	ts     timeField
	value  floatField
	qc     intField
	imp    textField

	// strict aborts the COPY with errNotStrict unless every reading sorts
	// after the one before (every key, if keyed): a copy straight into the
	// target must not insert a reading twice, or two with one key.
	strict, keyed bool
	prev          measure.Reading // the last reading, when keyed
}

func newCopySource(rd *archivefile.Reader) *copySource {
	s := &copySource{archiveRows: archiveRows{rd: rd}}
	s.row = [5]any{&s.sensor, &s.ts, &s.value, &s.qc, &s.imp}
	return s
}

// Next implements pgx.CopyFromSource.
func (s *copySource) Next() bool {
	r := s.next()
	if r == nil {
		return false
	}
	if s.strict {
		// Without a key the decoder's own check is the one wanted: it
		// compares each reading with the one before (Compare).
		dup := !s.rd.Canonical()
		if s.keyed {
			dup = s.n > 0 && measure.CompareKey(&s.prev, r) >= 0
			s.prev = *r
		}
		if dup {
			s.err = fmt.Errorf("%w: reading #%d (sensor %q, time %s)", errNotStrict, s.n+1, r.Sensor, r.Time.Format(time.RFC3339Nano))
			return false
		}
	}
	if r.Extra != "" {
		// Values of columns beyond the five: only the typed path
		// (loadTyped) knows where they go.
		s.err = errNeedTyped
		return false
	}
	if r.ValueText != "" && math.IsInf(r.Value.Float64, 0) {
		s.err = fmt.Errorf("value %s of sensor %q at %s is out of range for double precision (the table's value column)", r.ValueText, r.Sensor, r.Time.Format(time.RFC3339Nano))
		return false
	}
	s.sensor = textField{s: r.Sensor, valid: true}
	s.ts.t = r.Time
	s.value = floatField{f: r.Value.Float64, valid: r.Value.Valid}
	s.qc = intField{n: r.QCFlags.Int64, valid: r.QCFlags.Valid}
	s.imp = textField{s: r.Imputation.String, valid: r.Imputation.Valid}
	// Not handed yet: binRows hands the rows to COPY (and reaches
	// restore.mid-copy there), and a day read ahead is decoded before its
	// lock, outside any transaction.
	s.n++
	return true
}

// Values implements pgx.CopyFromSource.
func (s *copySource) Values() ([]any, error) { return s.row[:], nil }

// archiveRows is what the COPY sources (copySource, typedSource) share:
// the archive's decoder, the readings handed to COPY, those with members
// restore does not load, and the first error, with which COPY is aborted.
type archiveRows struct {
	rd  *archivefile.Reader
	n   int64
	err error

	other        int64  // readings with members restore does not load
	otherExample string // the first such reading's members
}

// next is the archive's next reading; nil at its end or on an error
// (kept in err).
func (s *archiveRows) next() *measure.Reading {
	if s.err != nil {
		return nil
	}
	r, err := s.rd.Next()
	if err != nil {
		if !errors.Is(err, io.EOF) {
			s.err = err
		}
		return nil
	}
	if r.Other != "" {
		if s.other == 0 {
			s.otherExample = r.Other
		}
		s.other++
	}
	return r
}

// handed counts a reading handed to COPY and says whether COPY goes on:
// with the first row on its way, a crash test kills the restore half done
// here (restore.mid-copy; for the typed path's source, which pgx.CopyFrom
// reads: copySource's rows reach COPY through binRows, which does the
// same).
func (s *archiveRows) handed() bool {
	if s.n++; s.n == 2 {
		if err := failpoint.Inject("restore.mid-copy"); err != nil {
			s.err = err
			return false
		}
	}
	return true
}

// Err implements pgx.CopyFromSource.
func (s *archiveRows) Err() error { return s.err }

// The field types implement the pgtype valuer interfaces of every column
// type a measurement table plausibly uses: text/varchar, timestamptz or
// timestamp (in UTC), float8/float4/numeric, int2/int4/int8.

type textField struct {
	s     string
	valid bool
}

func (f *textField) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: f.s, Valid: f.valid}, nil
}

type timeField struct{ t time.Time }

func (f *timeField) TimestamptzValue() (pgtype.Timestamptz, error) {
	return pgtype.Timestamptz{Time: f.t, Valid: true}, nil
}

func (f *timeField) TimestampValue() (pgtype.Timestamp, error) {
	// A timestamp column holds UTC wall-clock time (the archiver's sessions
	// run in UTC); archive times are UTC already.
	return pgtype.Timestamp{Time: f.t, Valid: true}, nil
}

type floatField struct {
	f     float64
	valid bool
}

func (f *floatField) Float64Value() (pgtype.Float8, error) {
	return pgtype.Float8{Float64: f.f, Valid: f.valid}, nil
}

type intField struct {
	n     int64
	valid bool
}

func (f *intField) Int64Value() (pgtype.Int8, error) {
	return pgtype.Int8{Int64: f.n, Valid: f.valid}, nil
}
