package measure

import (
	"errors"
	"fmt"
	"io"
	"slices"
)

// Source yields readings one at a time and io.EOF at the end. *Reader is a
// Source. The returned Reading may be reused by the next call.
type Source interface {
	Next() (*Reading, error)
}

// MergeStats counts the distinct readings Merge emitted by origin.
type MergeStats struct {
	FromA, FromB, Both int64
}

// Total is the number of readings emitted.
func (m MergeStats) Total() int64 { return m.FromA + m.FromB + m.Both }

// mergeInput holds one side's current reading as a copy, since the source
// may overwrite what it returned, and enforces the order merging relies on.
type mergeInput struct {
	schema Schema
	name   string
	src    Source
	cur    Reading
	ok     bool // cur is valid
	n      int64
}

// mergeInputs starts walking a and b (A and B in messages) under s.
func (s Schema) mergeInputs(a, b Source) (A, B *mergeInput, err error) {
	A = &mergeInput{schema: s, name: "A", src: a}
	B = &mergeInput{schema: s, name: "B", src: b}
	if err := A.advance(); err != nil {
		return nil, nil, err
	}
	if err := B.advance(); err != nil {
		return nil, nil, err
	}
	return A, B, nil
}

func (m *mergeInput) advance() error {
	for {
		r, err := m.src.Next()
		if errors.Is(err, io.EOF) {
			m.ok = false
			return nil
		}
		if err != nil {
			return fmt.Errorf("measure: merge: source %s: %w", m.name, err)
		}
		m.n++
		if m.ok {
			switch c := m.schema.Compare(&m.cur, r); {
			case c == 0:
				continue // a duplicate inside one source counts once
			case c > 0:
				m.ok = false
				return fmt.Errorf("measure: merge: source %s reading #%d (sensor %q, time %s) sorts before the previous one (sensor %q, time %s): %w",
					m.name, m.n, r.Sensor, fmtTime(r.Time), m.cur.Sensor, fmtTime(m.cur.Time), ErrOutOfOrder)
			}
		}
		m.cur = *r
		m.ok = true
		return nil
	}
}

// Merge streams the union of a and b, both in canonical order, to emit in
// canonical order with each distinct reading once, so that re-archiving a
// day never loses or duplicates a reading. When a reading is in both, a's
// copy is emitted (under a float Schema they differ at most in a NaN
// payload; under others, e.g. 1.500 and 1.5, in how the value is written). A
// source out of order is an error wrapping ErrOutOfOrder rather than wrong
// output; wrap such a source in SortedSource first. The Reading passed to
// emit is only valid during the call.
func Merge(a, b Source, emit func(*Reading) error) (MergeStats, error) {
	return Schema{}.Merge(a, b, emit)
}

// Merge is the package's Merge with readings compared under s: a reading
// of the table and an archived one that are equal in the value column's
// type (5.2 and 5.199999809265137 for a real; 1.500 and 1.5 for a numeric)
// are one reading, and a's copy is emitted.
func (s Schema) Merge(a, b Source, emit func(*Reading) error) (MergeStats, error) {
	var st MergeStats
	A, B, err := s.mergeInputs(a, b)
	if err != nil {
		return st, err
	}
	for A.ok || B.ok {
		var c int
		switch {
		case !B.ok:
			c = -1
		case !A.ok:
			c = 1
		default:
			c = s.compareCore(&A.cur, &B.cur)
		}
		var from *mergeInput
		switch {
		case c < 0:
			st.FromA++
			from = A
		case c > 0:
			st.FromB++
			from = B
		default:
			st.Both++
			from = A
			if A.cur.Other == "" && B.cur.Other != "" {
				// The archived copy carries another tool's members (a
				// restored reading archived again): keep them.
				from = B
			}
		}
		if err := emit(&from.cur); err != nil {
			return st, fmt.Errorf("measure: merge: %w", err)
		}
		if c <= 0 {
			if err := A.advance(); err != nil {
				return st, err
			}
		}
		if c >= 0 {
			if err := B.advance(); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// sliceSource yields readings from memory.
type sliceSource struct {
	rs  []Reading
	i   int
	cur Reading
}

// SliceSource returns a Source over rs in the given order, without sorting
// or copying rs.
func SliceSource(rs []Reading) Source { return &sliceSource{rs: rs} }

func (s *sliceSource) Next() (*Reading, error) {
	if s.i >= len(s.rs) {
		return nil, io.EOF
	}
	// Hand out a copy so a caller that edits it cannot change rs.
	s.cur = s.rs[s.i]
	s.i++
	return &s.cur, nil
}

// SortReadings sorts rs by Compare in place, drops duplicates, and returns
// the shortened slice: the canonical order a Writer needs.
func SortReadings(rs []Reading) []Reading { return Schema{}.SortReadings(rs) }

// SortReadings is the package's SortReadings under s's order.
func (s Schema) SortReadings(rs []Reading) []Reading {
	slices.SortFunc(rs, func(a, b Reading) int { return s.Compare(&a, &b) })
	return slices.CompactFunc(rs, func(a, b Reading) bool { return s.Compare(&a, &b) == 0 })
}
