package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/testkit"
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
	testkit.Contains(t, "archive log", r.stderr, "replaced by the table's newer reading with the same key: 1")
	want := append([]reading{}, rs...)
	want[40] = fixed
	sameReadings(t, "archive after the correction", h.dayArchive(day), want)
	if mode, n := h.lastArchiveManifest(day); mode != "sensor_time" || n == nil || *n != 1 {
		t.Errorf("manifest: key_mode %q, rows_replaced %v; want sensor_time, 1", mode, n)
	}

	r = h.mustRun("restore", "--day", rstDay(day))
	testkit.Contains(t, "restore summary", r.stdout, "inserted: 432")
	if strings.Contains(r.stderr, "staging table") {
		t.Errorf("a restore into a table without rows of the day did not COPY straight into it:\n%s", r.stderr)
	}
	sameReadings(t, "restored rows", h.cleanRows("true"), want)

	// Deleting a restored row does not delete it from the archive; the
	// other restored rows archived again change nothing.
	before := h.rstObject(rstKey(day))
	h.exec(`DELETE FROM shizuku.clean_measurements WHERE sensor_id = $1 AND ts = $2`, rs[7].Sensor, rs[7].Time)
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
	day, rs := h.archivedDay()
	other := rs[3]
	other.Value = f64(-1.5)
	h.insertClean([]reading{other})
	h.mustRun("archive")
	sameReadings(t, "archive", h.dayArchive(day), append(append([]reading{}, rs...), other))
	if mode, n := h.lastArchiveManifest(day); mode != "none" || n == nil || *n != 0 {
		t.Errorf("manifest: key_mode %q, rows_replaced %v; want none, 0", mode, n)
	}
}

// TestRestoreOnConflict: restoring into a keyed table that holds other
// readings with some of the archive's keys is never a bare unique
// violation: fail imports nothing and names the keys, keep (the default)
// leaves the table's readings, replace overwrites them and reports the
// values it overwrote; readings the table lacks are inserted either way.
func TestRestoreOnConflict(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.keyed()
	ctx := context.Background()
	today := h.today()
	day := today.AddDate(0, 0, -36)
	rs := sample(today, 36, 35, 3)
	h.insertClean(rs)
	h.mustRun("archive")
	h.mustRun("restore", "--day", rstDay(day))

	// The application corrects two readings and deletes a third.
	edit := func() {
		for i, v := range map[int]float64{4: 111.5, 9: 222.5} {
			if _, err := h.conn.Exec(ctx, `UPDATE shizuku.clean_measurements SET value_mm = $3 WHERE sensor_id = $1 AND ts = $2`, rs[i].Sensor, rs[i].Time, v); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := h.conn.Exec(ctx, `DELETE FROM shizuku.clean_measurements WHERE sensor_id = $1 AND ts = $2`, rs[20].Sensor, rs[20].Time); err != nil {
			t.Fatal(err)
		}
	}
	edit()
	edited := h.cleanRows("true")

	r := h.run("restore", "--day", rstDay(day), "--on-conflict", "fail")
	if r.code != cli.ExitPartial {
		t.Fatalf("--on-conflict fail: exit %d, want %d\n%s\n%s", r.code, cli.ExitPartial, r.stdout, r.stderr)
	}
	testkit.Contains(t, "--on-conflict fail", r.stdout+r.stderr, "2 readings of the archive differ", rs[4].Sensor, "--on-conflict replace")
	if strings.Contains(r.stdout+r.stderr, "SQLSTATE 23505") {
		t.Errorf("a bare unique violation:\n%s", r.stderr)
	}
	sameReadings(t, "table after --on-conflict fail", h.cleanRows("true"), edited)

	r = h.mustRun("restore", "--day", rstDay(day))
	testkit.Contains(t, "restore (keep)", r.stdout, "inserted: 1", "already present: 69", "2 keys the table holds with another reading, kept", "table (111.5, ")
	kept := append(edited, rs[20])
	sameReadings(t, "table after keep", h.cleanRows("true"), kept)

	if _, err := h.conn.Exec(ctx, `DELETE FROM shizuku.clean_measurements WHERE sensor_id = $1 AND ts = $2`, rs[20].Sensor, rs[20].Time); err != nil {
		t.Fatal(err)
	}
	r = h.mustRun("restore", "--day", rstDay(day), "--on-conflict", "replace")
	testkit.Contains(t, "restore (replace)", r.stdout, "inserted: 1", "2 table readings overwritten", "table (111.5, ", "table (222.5, ")
	sameReadings(t, "table after replace", h.cleanRows("true"), rs)
	var replaced *int64
	var mode string
	if err := h.conn.QueryRow(ctx, `SELECT key_mode, rows_replaced FROM archiver.archive_runs WHERE kind = 'restore' AND status = 'committed' ORDER BY id DESC LIMIT 1`).Scan(&mode, &replaced); err != nil {
		t.Fatal(err)
	}
	if mode != "sensor_time" || replaced == nil || *replaced != 2 {
		t.Errorf("restore manifest: key_mode %q, rows_replaced %v; want sensor_time, 2", mode, replaced)
	}
}

// TestRestoreArchiveWithTwoReadingsForOneKey: an archive written before the
// table had its key holds two readings with one key. It restores into the
// keyed table without error, the first of the two (smaller value) each
// time, naming the key and both values; the archive keeps both until the
// table holds a reading with the key.
func TestRestoreArchiveWithTwoReadingsForOneKey(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	ctx := context.Background()
	today := h.today()
	day := today.AddDate(0, 0, -36)
	rs := sample(today, 36, 35, 2)
	h.insertClean(rs)
	h.mustRun("archive")
	second := rs[5]
	second.Value = f64(*rs[5].Value + 1000)
	h.insertClean([]reading{second})
	h.mustRun("archive")
	both := append(append([]reading{}, rs...), second)
	sameReadings(t, "archive before the key", h.dayArchive(day), both)

	h.keyed()
	for range 2 {
		r := h.mustRun("restore", "--day", rstDay(day))
		testkit.Contains(t, "restore", r.stdout, fmt.Sprintf("inserted: %d", len(rs)), "1 keys with more than one archived reading", rs[5].Sensor,
			fmt.Sprint(*rs[5].Value), fmt.Sprint(*second.Value))
		testkit.Contains(t, "restore log", r.stderr, "loading it through a staging table instead")
		sameReadings(t, "restored rows", h.cleanRows("true"), rs)
		// Without a reading for the key in the table, the archive keeps both.
		if _, err := h.conn.Exec(ctx, `DELETE FROM shizuku.clean_measurements WHERE sensor_id = $1 AND ts = $2`, rs[5].Sensor, rs[5].Time); err != nil {
			t.Fatal(err)
		}
		h.mustRun("archive")
		sameReadings(t, "archive", h.dayArchive(day), both)
	}
	// With one, the table's reading is the key's.
	h.mustRun("restore", "--day", rstDay(day))
	h.mustRun("archive")
	sameReadings(t, "archive once the table held the key", h.dayArchive(day), rs)
}

// TestKeyedRestoreWithExtraColumns: a keyed table with extra columns
// (archived with clean.columns.extra, json among them) restores through the
// keyed insert, every column back, a changed extra value being a conflict
// like any other; a column added since the archive gets its default.
func TestKeyedRestoreWithExtraColumns(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.keyed()
	h.exec(`ALTER TABLE shizuku.clean_measurements ADD COLUMN station text NOT NULL DEFAULT 'x', ADD COLUMN meta jsonb`)
	today := h.today()
	day := today.AddDate(0, 0, -36)
	rs := sample(today, 36, 35, 2)
	h.insertClean(rs)
	h.exec(`UPDATE shizuku.clean_measurements SET station = sensor_id || '-st', meta = jsonb_build_object('n', extract(hour from ts)::int)`)
	snap := func() []string {
		rows, err := h.conn.Query(context.Background(), `SELECT sensor_id || ts::text || station || coalesce(meta::text, 'NULL') FROM shizuku.clean_measurements ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	want := snap()
	extra := []string{"--clean-extra-columns", "station,meta"}
	h.mustRun(append([]string{"archive"}, extra...)...)

	h.exec(`ALTER TABLE shizuku.clean_measurements ADD COLUMN added int NOT NULL DEFAULT 7`)
	r := h.mustRun(append([]string{"restore", "--day", rstDay(day)}, extra...)...)
	testkit.Contains(t, "restore", r.stdout, fmt.Sprintf("inserted: %d", len(rs)))
	if got := snap(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restored rows differ:\n got %v\nwant %v", got[:3], want[:3])
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements WHERE added = 7`); n != int64(len(rs)) {
		t.Errorf("%d rows got the new column's default, want %d", n, len(rs))
	}

	h.exec(`UPDATE shizuku.clean_measurements SET meta = '{"n": -1}' WHERE sensor_id = $1 AND ts = $2`, rs[4].Sensor, rs[4].Time)
	r = h.mustRun(append([]string{"restore", "--day", rstDay(day), "--on-conflict", "replace", "--clean-ignore-columns", "added"}, extra...)...)
	testkit.Contains(t, "restore --on-conflict replace", r.stdout, "1 table readings overwritten", `{"n": -1}`)
	if got := snap(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("replace did not bring back the archived extra value")
	}
}
