package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// keyed gives the clean table the key (sensor_id, ts) in place of its
// surrogate id: a reading's identity.
func (h *harness) keyed() {
	h.t.Helper()
	if _, err := h.conn.Exec(context.Background(), `ALTER TABLE shizuku.clean_measurements DROP COLUMN id, ADD CONSTRAINT pk PRIMARY KEY (sensor_id, ts)`); err != nil {
		h.t.Fatal(err)
	}
}

// dayArchive decodes the archive of day with the standard library.
func (h *harness) dayArchive(day time.Time) []reading {
	h.t.Helper()
	doc, ok := h.archives()[rstKey(day)]
	if !ok {
		h.t.Fatalf("no archive of %s", rstDay(day))
	}
	return doc.readings(h.t)
}

// lastArchiveManifest returns the key mode and replaced count recorded by
// the latest committed archive of day.
func (h *harness) lastArchiveManifest(day time.Time) (mode string, replaced *int64) {
	h.t.Helper()
	err := h.conn.QueryRow(context.Background(), `SELECT key_mode, rows_replaced FROM archiver.archive_runs
		WHERE kind = 'archive' AND status = 'committed' AND day = $1::date ORDER BY id DESC LIMIT 1`, rstDay(day)).Scan(&mode, &replaced)
	if err != nil {
		h.t.Fatalf("manifest of %s: %v", rstDay(day), err)
	}
	return mode, replaced
}

// TestKeyedCorrectionReplacesArchivedReading: with PRIMARY KEY (sensor_id,
// ts), a reading re-inserted with a corrected value after its day was
// archived replaces the archived one (432 readings for 432 keys, not 433),
// the run says how many it replaced, the manifest records the key mode, and
// the day restores (before: a bare 23505, forever). Deletes never
// propagate, and the restored day archived again is the same object.
func TestKeyedCorrectionReplacesArchivedReading(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.keyed()
	today := h.today()
	day := today.AddDate(0, 0, -36)
	rs := sample(today, 36, 35, 18)
	if len(rs) != 432 {
		t.Fatalf("fixture has %d readings", len(rs))
	}
	h.insertClean(rs)
	h.mustRun("archive")

	fixed := rs[40]
	fixed.Value = f64(999.25)
	h.insertClean([]reading{fixed})
	r := h.mustRun("archive")
	rstContains(t, "archive log", r.stderr, "replaced by the table's newer reading with the same key: 1")
	want := append([]reading{}, rs...)
	want[40] = fixed
	sameReadings(t, "archive after the correction", h.dayArchive(day), want)
	if mode, n := h.lastArchiveManifest(day); mode != "sensor_time" || n == nil || *n != 1 {
		t.Errorf("manifest: key_mode %q, rows_replaced %v; want sensor_time, 1", mode, n)
	}

	r = h.mustRun("restore", "--day", rstDay(day))
	rstContains(t, "restore summary", r.stdout, "inserted: 432")
	sameReadings(t, "restored rows", h.cleanRows("true"), want)

	// Deleting a restored row does not delete it from the archive; the
	// other restored rows archived again change nothing.
	before := h.rstObject(rstKey(day))
	if _, err := h.conn.Exec(context.Background(), `DELETE FROM shizuku.clean_measurements WHERE sensor_id = $1 AND ts = $2`, rs[7].Sensor, rs[7].Time); err != nil {
		t.Fatal(err)
	}
	h.mustRun("archive")
	sameReadings(t, "archive after deleting a restored row", h.dayArchive(day), want)
	if !bytes.Equal(before, h.rstObject(rstKey(day))) {
		t.Error("archiving the restored rows again changed the archive object")
	}
}

// TestSurrogateKeyIsNotAReadingKey: the original schema's key is a
// surrogate id; a reading is then all its fields, and a re-inserted
// reading with another value is a second reading, kept next to the first.
func TestSurrogateKeyIsNotAReadingKey(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	day := today.AddDate(0, 0, -36)
	rs := sample(today, 36, 35, 2)
	h.insertClean(rs)
	h.mustRun("archive")
	other := rs[3]
	other.Value = f64(-1.5)
	h.insertClean([]reading{other})
	h.mustRun("archive")
	sameReadings(t, "archive", h.dayArchive(day), append(append([]reading{}, rs...), other))
	if mode, n := h.lastArchiveManifest(day); mode != "none" || n == nil || *n != 0 {
		t.Errorf("manifest: key_mode %q, rows_replaced %v; want none, 0", mode, n)
	}
}

var _ = fmt.Sprint
