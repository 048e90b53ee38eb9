package measure

import (
	"fmt"
	"strconv"
)

// MaxDiffExamples is how many readings of each kind a Diff names.
const MaxDiffExamples = 5

// DiffStats is how a day's readings in the table (a) differ from its
// archive (b), by (sensor, time): a reading in both is kept; of the
// readings with one (sensor, time) found in only one of them, pairs are
// changed, a's leftovers added and b's removed.
type DiffStats struct {
	Kept, Added, Changed, Removed int64
	// Examples name the first few added, changed and removed readings.
	Added1, Changed1, Removed1 []string
}

// Diff walks a and b, both in canonical order, emits a's readings (emit
// may be nil) and counts how they differ (see DiffStats), with readings
// compared under s.
func (s Schema) Diff(a, b Source, emit func(*Reading) error) (DiffStats, error) {
	var st DiffStats
	A, B, err := s.mergeInputs(a, b)
	if err != nil {
		return st, err
	}
	var ga, gb []Reading
	for A.ok || B.ok {
		// The next key: the smaller of the two current ones.
		var k Reading
		switch {
		case !B.ok:
			k = A.cur
		case !A.ok:
			k = B.cur
		case CompareKey(&A.cur, &B.cur) <= 0:
			k = A.cur
		default:
			k = B.cur
		}
		ga, gb = ga[:0], gb[:0]
		for A.ok && CompareKey(&A.cur, &k) == 0 {
			ga = append(ga, A.cur)
			if emit != nil {
				if err := emit(&A.cur); err != nil {
					return st, fmt.Errorf("measure: diff: %w", err)
				}
			}
			if err := A.advance(); err != nil {
				return st, err
			}
		}
		for B.ok && CompareKey(&B.cur, &k) == 0 {
			gb = append(gb, B.cur)
			if err := B.advance(); err != nil {
				return st, err
			}
		}
		// Both groups are sorted and hold each reading once: walk them
		// together to find the readings in both.
		var onlyA, onlyB []Reading
		i, j := 0, 0
		for i < len(ga) || j < len(gb) {
			switch c := cmpGroups(s, ga, gb, i, j); {
			case c == 0:
				st.Kept++
				i++
				j++
			case c < 0:
				onlyA = append(onlyA, ga[i])
				i++
			default:
				onlyB = append(onlyB, gb[j])
				j++
			}
		}
		n := min(len(onlyA), len(onlyB))
		for x := range n {
			st.Changed++
			if len(st.Changed1) < MaxDiffExamples {
				st.Changed1 = append(st.Changed1, fmt.Sprintf("%s at %s: %s, archived %s", k.Sensor, fmtTime(k.Time), describe(&onlyA[x]), describe(&onlyB[x])))
			}
		}
		for _, r := range onlyA[n:] {
			st.Added++
			if len(st.Added1) < MaxDiffExamples {
				st.Added1 = append(st.Added1, fmt.Sprintf("%s at %s: %s", r.Sensor, fmtTime(r.Time), describe(&r)))
			}
		}
		for _, r := range onlyB[n:] {
			st.Removed++
			if len(st.Removed1) < MaxDiffExamples {
				st.Removed1 = append(st.Removed1, fmt.Sprintf("%s at %s: %s", r.Sensor, fmtTime(r.Time), describe(&r)))
			}
		}
	}
	return st, nil
}

func cmpGroups(s Schema, ga, gb []Reading, i, j int) int {
	switch {
	case i >= len(ga):
		return 1
	case j >= len(gb):
		return -1
	}
	return s.Compare(&ga[i], &gb[j])
}

// describe shows a reading's values for a message.
func describe(r *Reading) string {
	v, ok := ValueString(r)
	if !ok {
		v = "NULL"
	}
	q := "NULL"
	if r.QCFlags.Valid {
		q = strconv.FormatInt(r.QCFlags.Int64, 10)
	}
	m := "NULL"
	if r.Imputation.Valid {
		m = strconv.Quote(r.Imputation.String)
	}
	out := "(" + v + ", " + q + ", " + m
	if r.Extra != "" {
		out += ", " + r.Extra
	}
	return out + ")"
}
