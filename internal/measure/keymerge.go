package measure

import (
	"fmt"
	"strings"
)

// CompareKey orders readings by their key, sensor (byte order) then time:
// the prefix of Compare's order that a table with a primary key on
// (sensor, time) holds once.
func CompareKey(a, b *Reading) int {
	if c := strings.Compare(a.Sensor, b.Sensor); c != 0 {
		return c
	}
	return a.Time.Compare(b.Time)
}

// MaxReplacedKeys is how many replaced keys MergeByKey names.
const MaxReplacedKeys = 5

// KeyStats adds to MergeStats what MergeByKey did by key.
type KeyStats struct {
	MergeStats
	// Replaced counts the readings of b dropped because a holds a
	// different reading with their key; ReplacedKeys names the first few.
	Replaced     int64
	ReplacedKeys []string
}

// MergeByKey is Merge for a table whose (sensor, time) is a key: a is the
// table (the newer data), b the archive. Where a holds a reading with some
// key, it is emitted and b's readings with that key are dropped (counted
// as Both when equal to it, else as Replaced). Where only b holds a key, all
// of b's readings with it are kept, even several (an archive written before
// the table had its key, or by the original service): an archive loses a
// reading only to a newer version of it. Both sources must be in canonical
// order.
func MergeByKey(a, b Source, emit func(*Reading) error) (KeyStats, error) {
	return Schema{}.MergeByKey(a, b, emit)
}

// MergeByKey is MergeByKey with readings compared under s.
func (s Schema) MergeByKey(a, b Source, emit func(*Reading) error) (KeyStats, error) {
	var st KeyStats
	A, B, err := s.mergeInputs(a, b)
	if err != nil {
		return st, err
	}
	var group []Reading // a's readings of the current key
	for A.ok || B.ok {
		var c int
		switch {
		case !B.ok:
			c = -1
		case !A.ok:
			c = 1
		default:
			c = CompareKey(&A.cur, &B.cur)
		}
		if c > 0 {
			st.FromB++
			if err := emit(&B.cur); err != nil {
				return st, fmt.Errorf("measure: merge: %w", err)
			}
			if err := B.advance(); err != nil {
				return st, err
			}
			continue
		}
		// a's readings of this key, then b's of the same key.
		group = group[:0]
		for first := true; A.ok && (first || CompareKey(&A.cur, &group[0]) == 0); first = false {
			group = append(group, A.cur)
			if err := emit(&A.cur); err != nil {
				return st, fmt.Errorf("measure: merge: %w", err)
			}
			if err := A.advance(); err != nil {
				return st, err
			}
		}
		matched := 0
		for B.ok && CompareKey(&B.cur, &group[0]) == 0 {
			same := false
			for i := range group {
				if s.compareCore(&group[i], &B.cur) == 0 {
					same = true
					break
				}
			}
			if same {
				st.Both++
				matched++
			} else {
				st.Replaced++
				if len(st.ReplacedKeys) < MaxReplacedKeys {
					st.ReplacedKeys = append(st.ReplacedKeys, fmt.Sprintf("%s at %s", B.cur.Sensor, fmtTime(B.cur.Time)))
				}
			}
			if err := B.advance(); err != nil {
				return st, err
			}
		}
		st.FromA += int64(len(group) - min(matched, len(group)))
	}
	return st, nil
}
