package measure

import (
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

func collect(t *testing.T, a, b Source) ([]Reading, MergeStats, error) {
	t.Helper()
	var out []Reading
	st, err := Merge(a, b, func(r *Reading) error {
		out = append(out, *r)
		return nil
	})
	return out, st, err
}

func TestMerge(t *testing.T) {
	day := MustParseDay("2025-01-15")
	at := func(s string, sec int, v float64) Reading {
		return Reading{Sensor: s, Time: day.Start().Add(timeSec(sec)), Value: fl(v)}
	}
	x1, x2, x3, y1 := at("x", 1, 1), at("x", 2, 2), at("x", 3, 3), at("y", 1, 1)
	cases := []struct {
		name string
		a, b []Reading
		want []Reading
		ms   MergeStats
	}{
		{"both empty", nil, nil, nil, MergeStats{}},
		{"a empty", nil, []Reading{x1, y1}, []Reading{x1, y1}, MergeStats{FromB: 2}},
		{"b empty", []Reading{x1, y1}, nil, []Reading{x1, y1}, MergeStats{FromA: 2}},
		{"disjoint", []Reading{x1, x3}, []Reading{x2, y1}, []Reading{x1, x2, x3, y1}, MergeStats{FromA: 2, FromB: 2}},
		{"overlap", []Reading{x1, x2}, []Reading{x2, x3}, []Reading{x1, x2, x3}, MergeStats{FromA: 1, FromB: 1, Both: 1}},
		{"identical", []Reading{x1, x2, y1}, []Reading{x1, x2, y1}, []Reading{x1, x2, y1}, MergeStats{Both: 3}},
		{"dups in a", []Reading{x1, x1, x2, x2, x2}, []Reading{x3}, []Reading{x1, x2, x3}, MergeStats{FromA: 2, FromB: 1}},
		{"dups in both", []Reading{x1, x1, x2}, []Reading{x1, x2, x2, y1, y1}, []Reading{x1, x2, y1}, MergeStats{Both: 2, FromB: 1}},
		{"same time other value", []Reading{at("x", 1, 1)}, []Reading{at("x", 1, 2)}, []Reading{at("x", 1, 1), at("x", 1, 2)}, MergeStats{FromA: 1, FromB: 1}},
		{"NaN and zero signs", []Reading{at("x", 1, math.Copysign(0, -1)), at("x", 1, math.NaN())}, []Reading{at("x", 1, 0), at("x", 1, math.NaN())},
			[]Reading{at("x", 1, math.Copysign(0, -1)), at("x", 1, 0), at("x", 1, math.NaN())}, MergeStats{FromA: 1, FromB: 1, Both: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ms, err := collect(t, SliceSource(c.a), SliceSource(c.b))
			if err != nil {
				t.Fatal(err)
			}
			sameReadings(t, got, c.want)
			if ms != c.ms || ms.Total() != int64(len(c.want)) {
				t.Errorf("stats %+v, want %+v", ms, c.ms)
			}
		})
	}
}

func TestMergeOutOfOrder(t *testing.T) {
	day := MustParseDay("2025-01-15")
	r1 := Reading{Sensor: "a", Time: day.Start().Add(timeSec(2))}
	r2 := Reading{Sensor: "a", Time: day.Start().Add(timeSec(1))}
	for _, swap := range []bool{false, true} {
		a, b := SliceSource([]Reading{r1, r2}), SliceSource(nil)
		name := "A"
		if swap {
			a, b, name = b, a, "B"
		}
		_, _, err := collect(t, a, b)
		if !errors.Is(err, ErrOutOfOrder) || !strings.Contains(err.Error(), "source "+name+" reading #2") {
			t.Errorf("swap=%v: %v", swap, err)
		}
	}
}

func TestMergeErrors(t *testing.T) {
	day := MustParseDay("2025-01-15")
	rs := []Reading{{Sensor: "a", Time: day.Start()}, {Sensor: "b", Time: day.Start()}}
	boom := errors.New("boom")
	_, _, err := collect(t, SliceSource(rs), &failingSource{err: boom})
	if !errors.Is(err, boom) {
		t.Errorf("source error: %v", err)
	}
	n := 0
	_, err = Merge(SliceSource(rs), SliceSource(nil), func(*Reading) error {
		n++
		return boom
	})
	if !errors.Is(err, boom) || n != 1 {
		t.Errorf("emit error: %v after %d", err, n)
	}
}

type failingSource struct{ err error }

func (f *failingSource) Next() (*Reading, error) { return nil, f.err }

// reusingSource hands out one Reading it overwrites each time, as Reader
// and database row iterators do; Merge must not be confused by it.
type reusingSource struct {
	rs  []Reading
	cur Reading
}

func (s *reusingSource) Next() (*Reading, error) {
	if len(s.rs) == 0 {
		return nil, io.EOF
	}
	s.cur, s.rs = s.rs[0], s.rs[1:]
	return &s.cur, nil
}

func TestCompare(t *testing.T) {
	day := MustParseDay("2025-01-15")
	base := Reading{Sensor: "s", Time: day.Start()}
	// Strictly ascending.
	seq := []Reading{
		{Sensor: "", Time: day.End()},
		{Sensor: "S", Time: day.Start()},
		base,
		{Sensor: "s", Time: day.Start(), Value: fl(math.Inf(-1))},
		{Sensor: "s", Time: day.Start(), Value: fl(-1e300)},
		{Sensor: "s", Time: day.Start(), Value: fl(0)},
		{Sensor: "s", Time: day.Start(), Value: fl(0), QCFlags: qc(math.MinInt64)},
		{Sensor: "s", Time: day.Start(), Value: fl(0), QCFlags: qc(0)},
		{Sensor: "s", Time: day.Start(), Value: fl(0), QCFlags: qc(0), Imputation: imp("")},
		{Sensor: "s", Time: day.Start(), Value: fl(0), QCFlags: qc(0), Imputation: imp("B")},
		{Sensor: "s", Time: day.Start(), Value: fl(0), QCFlags: qc(0), Imputation: imp("a")},
		{Sensor: "s", Time: day.Start(), Value: fl(5e-324)},
		{Sensor: "s", Time: day.Start(), Value: fl(math.Inf(1))},
		{Sensor: "s", Time: day.Start(), Value: fl(math.NaN())},
		{Sensor: "s", Time: day.Start().Add(1)},
		{Sensor: "s\x00", Time: day.Start()},
		{Sensor: "é", Time: day.Start()},
	}
	for i := range seq {
		for j := range seq {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := Compare(&seq[i], &seq[j]); got != want {
				t.Errorf("Compare(#%d, #%d) = %d, want %d", i, j, got, want)
			}
		}
	}
	negz := Reading{Sensor: "s", Time: day.Start(), Value: fl(math.Copysign(0, -1))}
	z := Reading{Sensor: "s", Time: day.Start(), Value: fl(0)}
	// A float column stores -0 and 0 as two values: two readings, -0 first.
	if Compare(&negz, &z) != -1 || Compare(&z, &negz) != 1 {
		t.Error("-0 does not sort before 0")
	}
	// The sign is the last tie-break, after qc_flags, method and extra, so
	// that archives ordered before it existed stay in order.
	negzQC, zQC := negz, z
	negzQC.QCFlags, zQC.QCFlags = qc(5), qc(1)
	if Compare(&zQC, &negzQC) != -1 {
		t.Error("the sign of zero sorts before qc_flags")
	}
	negzX, zX := negz, z
	negzX.Extra, zX.Extra = `{"b": 1}`, `{"a": 1}`
	if Compare(&zX, &negzX) != -1 {
		t.Error("the sign of zero sorts before extra")
	}
	// ... and before Other: two readings that differ only in other tools'
	// members are one measurement (Merge), so the sign must not hide there.
	negzO := negz
	negzO.Other = `"x": 1`
	if Compare(&negzO, &z) != -1 {
		t.Error("the sign of zero sorts after other members")
	}
	// numeric has no -0: one value.
	dec := Schema{Value: ValueDecimal}
	negzT, zT := negz, z
	negzT.ValueText, zT.ValueText = "-0", "0"
	if dec.Compare(&negz, &z) != 0 || dec.Compare(&negzT, &zT) != 0 {
		t.Error("-0 != 0 as numeric")
	}
	// real: compared as float4, so a float8 value that rounds to -0 is -0.
	f4 := Schema{Value: ValueFloat4}
	tiny := negz
	tiny.Value = fl(-1e-50)
	if f4.Compare(&tiny, &negz) != 0 || f4.Compare(&tiny, &z) != -1 {
		t.Error("float4: -1e-50 is not -0")
	}
	nan2 := Reading{Sensor: "s", Time: day.Start(), Value: fl(math.Float64frombits(0x7ff8000000000123))}
	nan1 := Reading{Sensor: "s", Time: day.Start(), Value: fl(math.NaN())}
	if Compare(&nan1, &nan2) != 0 {
		t.Error("NaN payloads differ")
	}
	// Equal instants in other locations are the same reading.
	loc := base
	loc.Time = base.Time.In(timeZone(5))
	if Compare(&base, &loc) != 0 {
		t.Error("location matters")
	}
}
