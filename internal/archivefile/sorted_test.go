package archivefile

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// collectSorted drains src.
func collectSorted(t *testing.T, src measure.Source) []measure.Reading {
	t.Helper()
	var out []measure.Reading
	for {
		r, err := src.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, *r)
	}
}

type failingSource struct{ err error }

func (f *failingSource) Next() (*measure.Reading, error) { return nil, f.err }

// reusingSource hands out one Reading it overwrites each time, as Reader
// and database row iterators do.
type reusingSource struct {
	rs  []measure.Reading
	cur measure.Reading
}

func (s *reusingSource) Next() (*measure.Reading, error) {
	if len(s.rs) == 0 {
		return nil, io.EOF
	}
	s.cur, s.rs = s.rs[0], s.rs[1:]
	return &s.cur, nil
}

func TestMergeArchivesEndToEnd(t *testing.T) {
	// Merging an archive with new rows and writing the result is how a day
	// gets re-archived; reading it back must give the exact union.
	day := measure.MustParseDay("2025-01-15")
	rng := newRand(42)
	old := randomReadings(rng, day, 3000)
	fresh := randomReadings(rng, day, 3000)
	fresh = append(fresh, old[:100]...)
	fresh = measure.SortReadings(fresh)
	oldData, _ := encode(t, day, old)
	or, err := NewReader(bytes.NewReader(oldData), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, day, 6)
	ms, err := measure.Merge(measure.SliceSource(fresh), or, w.Write)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := measure.SortReadings(append(append([]measure.Reading(nil), old...), fresh...))
	got, _, err := decode(buf.Bytes(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sameReadings(t, got, want)
	if ms.Both < 100 || ms.Total() != int64(len(want)) || w.Stats().Readings != int64(len(want)) {
		t.Errorf("stats %+v, writer %+v, want %d", ms, w.Stats(), len(want))
	}
	// The old reader was read to the end, so its checksum is the object's.
	if !or.Canonical() || or.Stats().Bytes != int64(len(oldData)) {
		t.Errorf("old reader stats %+v", or.Stats())
	}
}

func TestSortedSource(t *testing.T) {
	day := measure.MustParseDay("2025-01-15")
	want := randomReadings(newRand(9), day, 500)
	shuffled := append(append([]measure.Reading(nil), want...), want[:50]...)
	newRand(10).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	src, err := SortedSource(&reusingSource{rs: shuffled}, int64(len(shuffled)))
	if err != nil {
		t.Fatal(err)
	}
	got := collectSorted(t, src)
	sameReadings(t, got, want)

	if _, err := SortedSource(measure.SliceSource(shuffled), int64(len(shuffled)-1)); !errors.Is(err, ErrLimit) {
		t.Errorf("over the bound: %v", err)
	}
	boom := errors.New("boom")
	if _, err := SortedSource(&failingSource{err: boom}, 0); !errors.Is(err, boom) {
		t.Errorf("source error: %v", err)
	}
}
