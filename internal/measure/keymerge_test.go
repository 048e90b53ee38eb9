package measure

import (
	"testing"
)

// TestMergeByKey: the table's (a's) reading of a key replaces the
// archive's readings of it; keys only the archive holds keep all their
// readings, even two; readings only the table holds are added.
func TestMergeByKey(t *testing.T) {
	day := MustParseDay("2025-01-15")
	at := func(s string, sec int, v float64) Reading {
		return Reading{Sensor: s, Time: day.Start().Add(timeSec(sec)), Value: fl(v)}
	}
	cases := []struct {
		name     string
		a, b     []Reading
		want     []Reading
		replaced int64
		both     int64
	}{
		{"correction", []Reading{at("x", 1, 9)}, []Reading{at("x", 1, 1), at("x", 2, 2)}, []Reading{at("x", 1, 9), at("x", 2, 2)}, 1, 0},
		{"same reading", []Reading{at("x", 1, 1)}, []Reading{at("x", 1, 1)}, []Reading{at("x", 1, 1)}, 0, 1},
		{"two archived, one in the table", []Reading{at("x", 1, 1)}, []Reading{at("x", 1, 1), at("x", 1, 5)}, []Reading{at("x", 1, 1)}, 1, 1},
		{"two archived, none in the table", []Reading{at("y", 1, 1)}, []Reading{at("x", 1, 1), at("x", 1, 5)}, []Reading{at("x", 1, 1), at("x", 1, 5), at("y", 1, 1)}, 0, 0},
		{"deletes do not propagate", nil, []Reading{at("x", 1, 1)}, []Reading{at("x", 1, 1)}, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []Reading
			st, err := MergeByKey(SliceSource(c.a), SliceSource(c.b), func(r *Reading) error { got = append(got, *r); return nil })
			if err != nil {
				t.Fatal(err)
			}
			sameReadings(t, got, c.want)
			if st.Replaced != c.replaced || st.Both != c.both || int64(len(st.ReplacedKeys)) != c.replaced {
				t.Errorf("stats %+v, want replaced %d, both %d", st, c.replaced, c.both)
			}
		})
	}
}

// TestDiff counts by (sensor, time): equal readings kept, the rest paired
// as changes, leftovers added (table) or removed (archive).
func TestDiff(t *testing.T) {
	day := MustParseDay("2025-01-15")
	at := func(s string, sec int, v float64) Reading {
		return Reading{Sensor: s, Time: day.Start().Add(timeSec(sec)), Value: fl(v)}
	}
	table := []Reading{at("a", 1, 1), at("a", 2, 7), at("a", 4, 4), at("b", 1, 1), at("b", 1, 2)}
	archive := []Reading{at("a", 1, 1), at("a", 2, 2), at("a", 3, 3), at("b", 1, 1)}
	var got []Reading
	st, err := Schema{}.Diff(SliceSource(table), SliceSource(archive), func(r *Reading) error { got = append(got, *r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	sameReadings(t, got, table)
	if st.Kept != 2 || st.Changed != 1 || st.Added != 2 || st.Removed != 1 {
		t.Fatalf("diff %+v: want kept 2, changed 1, added 2, removed 1", st)
	}
	if len(st.Changed1) != 1 || len(st.Added1) != 2 || len(st.Removed1) != 1 {
		t.Errorf("examples %+v", st)
	}
}
