package archivefile

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// CarryOver makes a rewrite of the archive rd (being read, to io.EOF,
// into w) keep what this format does not define: top-level members are
// written after "data". Members of sensor groups cannot be kept, because
// the writer groups readings itself: the rewrite is refused, naming them.
// key names rd in the message. Reading members travel in Reading.Other.
func CarryOver(w *Writer, rd *Reader, key string) error {
	if g := rd.GroupFields(); len(g) > 0 {
		return fmt.Errorf("archive %s has sensor-group members this archiver does not understand (%s): rewriting it would drop them, so it is left as it is; move them out of the sensor groups (or into the readings) with another tool first",
			key, strings.Join(g, ", "))
	}
	w.SetTrailer(rd.Other())
	return nil
}

// SortedSource drains src into memory and returns its readings sorted by
// Compare with duplicates dropped. It is for archives the original service
// wrote, whose readings are not in canonical order; max bounds how many
// readings it will hold (max <= 0: no bound), beyond which it fails with an
// error wrapping ErrLimit rather than exhaust memory.
//
// It is here, not in package measure, because its input is an archive
// read whole: the bound is the archive's Limits.MaxReadings.
func SortedSource(src measure.Source, max int64) (measure.Source, error) {
	return SortedSourceFor(src, measure.Schema{}, max)
}

// SortedSourceFor is SortedSource under s's order.
func SortedSourceFor(src measure.Source, s measure.Schema, max int64) (measure.Source, error) {
	var rs []measure.Reading
	for {
		r, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("archivefile: sorting source: %w", err)
		}
		if max > 0 && int64(len(rs)) >= max {
			return nil, fmt.Errorf("archivefile: sorting source: more than %d readings to hold in memory: %w", max, ErrLimit)
		}
		rs = append(rs, *r)
	}
	return measure.SliceSource(s.SortReadings(rs)), nil
}
