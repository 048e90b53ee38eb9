package archivestore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/measure"
)

func reading(d measure.Day, sensor string) *measure.Reading {
	return &measure.Reading{Sensor: sensor, Time: d.Start().Add(time.Hour)}
}

// TestWriteAbortsAndReadsBack: a write whose fill or before-publish hook
// fails leaves the object that was at the key as it was; a write that
// succeeds reads back as written, and ReadBack refuses another checksum,
// reading count or day.
func TestWriteAbortsAndReadsBack(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	s := &archivestore.Store{Bucket: b}
	d, _ := measure.ParseDay("2025-01-15")
	const key = "archives/k.json.gz"

	first, err := s.Write(ctx, key, archivestore.WriteOptions{Day: d, Level: 6}, func(w *archivefile.Writer) error {
		return w.Write(reading(d, "a"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReadBack(ctx, key, archivestore.Expect{Day: d, SHA256: first.SHA256, Readings: 1, Canonical: true}); err != nil {
		t.Fatalf("read back what was written: %v", err)
	}

	boom := errors.New("boom")
	var hooked archivefile.Stats
	for name, o := range map[string]struct {
		opts archivestore.WriteOptions
		fill func(*archivefile.Writer) error
	}{
		"fill fails": {archivestore.WriteOptions{Day: d, Level: 6}, func(w *archivefile.Writer) error {
			if err := w.Write(reading(d, "b")); err != nil {
				return err
			}
			return boom
		}},
		"before publish fails": {archivestore.WriteOptions{Day: d, Level: 6, BeforePublish: func(st archivefile.Stats) error {
			hooked = st
			return boom
		}}, func(w *archivefile.Writer) error { return w.Write(reading(d, "b")) }},
	} {
		if _, err := s.Write(ctx, key, o.opts, o.fill); !errors.Is(err, boom) {
			t.Errorf("%s: %v, want boom", name, err)
		}
		if err := s.ReadBack(ctx, key, archivestore.Expect{Day: d, SHA256: first.SHA256, Readings: 1}); err != nil {
			t.Errorf("%s: the object at the key changed: %v", name, err)
		}
	}
	if hooked.Readings != 1 || hooked.SHA256 == "" || hooked.SHA256 == first.SHA256 {
		t.Errorf("before-publish hook saw %+v, want the new archive's stats", hooked)
	}

	other, _ := measure.ParseDay("2025-01-16")
	for want, e := range map[string]archivestore.Expect{
		"sha256":   {Day: d, SHA256: strings.Repeat("0", 64), Readings: 1},
		"readings": {Day: d, SHA256: first.SHA256, Readings: 2},
		"for day":  {Day: other, SHA256: first.SHA256, Readings: 1},
	} {
		if err := s.ReadBack(ctx, key, e); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("read back against a wrong %s: %v", want, err)
		}
	}
	if _, err := s.Write(ctx, key, archivestore.WriteOptions{Day: d, Level: 6, IfNotExist: true}, func(*archivefile.Writer) error { return nil }); err == nil {
		t.Error("IfNotExist wrote over an existing object")
	}
}
