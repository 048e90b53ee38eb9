package measure_test

import (
	"io"
	"math/rand"
	"testing"

	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/measure/measuretest"
)

func TestMergeRandomAgainstSort(t *testing.T) {
	for seed := int64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewSource(seed))
		day := measure.MustParseDay("2025-01-15")
		all := measuretest.RandomReadings(rng, day, 400)
		var a, b []measure.Reading
		for _, r := range all {
			switch rng.Intn(4) {
			case 0:
				a = append(a, r)
			case 1:
				b = append(b, r)
			case 2:
				a, b = append(a, r), append(b, r)
			case 3:
				a = append(a, r, r)
			}
		}
		want := measure.SortReadings(append(append([]measure.Reading(nil), a...), b...))
		got, ms, err := merge(t, a, b)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d readings, want %d", len(got), len(want))
		}
		for i := range got {
			if measure.Compare(&got[i], &want[i]) != 0 {
				t.Fatalf("reading %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
		if ms.Total() != int64(len(want)) {
			t.Fatalf("stats %+v for %d readings", ms, len(want))
		}
	}
}

// merge merges a and b through sources that reuse their Reading, as the
// archive reader and database row iterators do.
func merge(t *testing.T, a, b []measure.Reading) ([]measure.Reading, measure.MergeStats, error) {
	t.Helper()
	var out []measure.Reading
	st, err := measure.Merge(&reusing{rs: a}, &reusing{rs: b}, func(r *measure.Reading) error {
		out = append(out, *r)
		return nil
	})
	return out, st, err
}

type reusing struct {
	rs  []measure.Reading
	cur measure.Reading
}

func (s *reusing) Next() (*measure.Reading, error) {
	if len(s.rs) == 0 {
		return nil, io.EOF
	}
	s.cur, s.rs = s.rs[0], s.rs[1:]
	return &s.cur, nil
}
