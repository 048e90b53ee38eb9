package archivefile

import (
	"bytes"
	"database/sql"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

func fl(f float64) sql.NullFloat64 { return sql.NullFloat64{Float64: f, Valid: true} }
func qc(v int64) sql.NullInt64     { return sql.NullInt64{Int64: v, Valid: true} }
func imp(s string) sql.NullString  { return sql.NullString{String: s, Valid: true} }

func ts(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

// encode writes rs (already canonical) as an archive of day.
func encode(t testing.TB, day measure.Day, rs []measure.Reading) ([]byte, Stats) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, day, 6)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if err := w.Write(&rs[i]); err != nil {
			t.Fatalf("Write #%d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.Stats()
}

// decode reads every reading of an archive, or the first error.
func decode(data []byte, lim Limits) ([]measure.Reading, *Reader, error) {
	r, err := NewReader(bytes.NewReader(data), lim)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	var out []measure.Reading
	for {
		rd, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, r, nil
		}
		if err != nil {
			return out, r, err
		}
		out = append(out, *rd)
	}
}

func gz(t testing.TB, s string) []byte { return testkit.Gzip(t, []byte(s)) }

func gunzip(t testing.TB, b []byte) string { return string(testkit.Gunzip(t, b)) }

// sameReadings compares with Compare, so NaN == NaN (and -0 != 0).
func sameReadings(t testing.TB, got, want []measure.Reading) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d readings, want %d", len(got), len(want))
	}
	for i := range got {
		if measure.Compare(&got[i], &want[i]) != 0 {
			t.Fatalf("reading %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func timeSec(n int) time.Duration { return time.Duration(n) * time.Second }

func timeZone(hours int) *time.Location { return time.FixedZone("X", hours*3600) }
