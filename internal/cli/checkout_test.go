package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// checkout is the state of the latest restore --checkout of day: its id,
// state and the sha256 it recorded.
func (h *harness) checkout(day time.Time) (id int64, state, sha string) {
	h.t.Helper()
	err := h.conn.QueryRow(context.Background(), `SELECT id, checkout, sha256 FROM archiver.archive_runs
		WHERE kind = 'restore' AND checkout IS NOT NULL AND day = $1::date ORDER BY id DESC LIMIT 1`, rstDay(day)).Scan(&id, &state, &sha)
	if err != nil {
		h.t.Fatalf("checkout of %s: %v", rstDay(day), err)
	}
	return id, state, sha
}

// TestPlainRestoreChangesNoArchive: restored readings archived again change
// nothing, and deleting restored rows after looking at them drops nothing
// from the archive.
func TestPlainRestoreChangesNoArchive(t *testing.T) {
	h := newHarness(t)
	day, rs := h.archivedDay()
	obj := h.rstObject(rstKey(day))

	h.mustRun("restore", "--day", rstDay(day))
	h.mustRun("archive")
	if !bytes.Equal(obj, h.rstObject(rstKey(day))) {
		t.Error("restored readings archived again changed the archive")
	}
	h.mustRun("restore", "--day", rstDay(day))
	h.exec(`DELETE FROM shizuku.clean_measurements WHERE ts >= $1 AND ts < $2 AND sensor_id = 'sensor-00'`, day, day.AddDate(0, 0, 1))
	h.mustRun("archive")
	if !bytes.Equal(obj, h.rstObject(rstKey(day))) {
		t.Error("deleting restored rows changed the archive")
	}
	sameReadings(t, "archive", h.dayArchive(day), rs)
}

// TestCheckoutCheckin: corrections without a key are explicit. A day
// checked out is left alone by archive runs; checkin --dry-run lists what
// would change and changes nothing; checkin writes the archive as exactly
// the table's rows (a corrected value, a deleted reading, a new one),
// verifies it, deletes the rows and ends the checkout.
func TestCheckoutCheckin(t *testing.T) {
	h := newHarness(t)
	day, rs := h.archivedDay()
	end := day.AddDate(0, 0, 1)
	archived := h.rstSHA(day)

	if r := h.run("checkin", "--day", rstDay(day)); r.code != cli.ExitUnavailable {
		t.Errorf("checkin of a day not checked out: exit %d, want %d\n%s", r.code, cli.ExitUnavailable, r.stderr)
	} else {
		testkit.Contains(t, "checkin without checkout", r.stderr, "no open checkout", "--checkout")
	}

	r := h.mustRun("restore", "--day", rstDay(day), "--checkout")
	testkit.Contains(t, "restore --checkout", r.stdout, "checked out (#")
	id, state, sha := h.checkout(day)
	if state != "open" || sha != archived {
		t.Fatalf("checkout row: %q with sha256 %s; want open with the archive's %s", state, sha, archived)
	}
	if r := h.run("restore", "--day", rstDay(day), "--checkout"); r.code == 0 {
		t.Error("a second checkout of the same day succeeded")
	}

	// Corrections: a value, a deletion, a late reading.
	h.exec(`UPDATE shizuku.clean_measurements SET value_mm = 4242.5 WHERE sensor_id = $1 AND ts = $2`, rs[3].Sensor, rs[3].Time)
	h.exec(`DELETE FROM shizuku.clean_measurements WHERE sensor_id = $1 AND ts = $2`, rs[10].Sensor, rs[10].Time)
	late := reading{Sensor: "sensor-09", Time: day.Add(5 * time.Hour), Value: f64(1.25)}
	h.insertClean([]reading{late})
	want := h.cleanRows("true")
	obj := h.rstObject(rstKey(day))

	r = h.mustRun("archive")
	testkit.Contains(t, "archive of a checked-out day", r.stderr, "is checked out", "Days checked out, left alone until `archiver checkin`: 1")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != int64(len(want)) {
		t.Fatalf("archive run touched the checked-out day: %d rows, want %d", n, len(want))
	}
	if !bytes.Equal(obj, h.rstObject(rstKey(day))) {
		t.Fatal("archive run changed the checked-out day's archive")
	}

	r = h.mustRun("checkin", "--day", rstDay(day), "--dry-run")
	testkit.Contains(t, "checkin --dry-run", r.stdout, fmt.Sprintf("kept %d, added 1, changed 1, removed 1", len(rs)-2), "changed "+rs[3].Sensor, "4242.5", "removed "+rs[10].Sensor, "added sensor-09")
	if _, state, _ := h.checkout(day); state != "open" || !bytes.Equal(obj, h.rstObject(rstKey(day))) || h.count(`SELECT count(*) FROM shizuku.clean_measurements`) != int64(len(want)) {
		t.Fatal("checkin --dry-run changed something")
	}

	r = h.mustRun("checkin", "--day", rstDay(day))
	testkit.Contains(t, "checkin", r.stdout, "Checked in", "kept", "added 1, changed 1, removed 1")
	sameReadings(t, "archive after checkin", h.dayArchive(day), want)
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements WHERE ts >= $1 AND ts < $2`, day, end); n != 0 {
		t.Errorf("%d rows left after checkin", n)
	}
	if _, state, _ := h.checkout(day); state != "checked-in" {
		t.Errorf("checkout row is %q after checkin", state)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed' AND checkout = 'checkin' AND checkout_id = $1 AND sha256 = $2`, id, h.rstSHA(day)); n != 1 {
		t.Errorf("no committed archive row of the checkin pointing at checkout #%d", id)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE status = 'failed' AND sha256 IS NOT NULL`); n != 0 {
		t.Errorf("%d upload-in-progress rows left", n)
	}
	h.mustRun("restore", "--day", rstDay(day))
	sameReadings(t, "restored after checkin", h.cleanRows("true"), want)
}

// TestCheckinRefusals: checkin changes nothing when the table holds no rows
// of the day (and says how to abandon instead), or when the day's archive
// changed since the checkout; --abandon ends a checkout and leaves the
// archive as it is.
func TestCheckinRefusals(t *testing.T) {
	h := newHarness(t)
	day, rs := h.archivedDay()
	end := day.AddDate(0, 0, 1)
	obj := h.rstObject(rstKey(day))

	// No rows: refused; abandon instead.
	h.mustRun("restore", "--day", rstDay(day), "--checkout")
	h.exec(`DELETE FROM shizuku.clean_measurements WHERE ts >= $1 AND ts < $2`, day, end)
	r := h.run("checkin", "--day", rstDay(day))
	if r.code != cli.ExitUnavailable {
		t.Fatalf("checkin with no rows: exit %d, want %d\n%s", r.code, cli.ExitUnavailable, r.stderr)
	}
	testkit.Contains(t, "checkin with no rows", r.stderr, "no rows of", "--abandon")
	if _, state, _ := h.checkout(day); state != "open" || !bytes.Equal(obj, h.rstObject(rstKey(day))) {
		t.Fatal("a refused checkin changed something")
	}
	r = h.mustRun("checkin", "--day", rstDay(day), "--abandon")
	testkit.Contains(t, "checkin --abandon", r.stdout, "Abandoned the checkout")
	if _, state, _ := h.checkout(day); state != "abandoned" || !bytes.Equal(obj, h.rstObject(rstKey(day))) {
		t.Fatalf("after --abandon: checkout %q, archive changed %v", state, !bytes.Equal(obj, h.rstObject(rstKey(day))))
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'failed' AND error LIKE '%no rows of%'`); n != 1 {
		t.Errorf("%d failed manifest rows of the refused checkin, want 1", n)
	}

	// The archive changed since the checkout (a run that did not know about
	// checkouts archived a late reading meanwhile): refused.
	h.mustRun("restore", "--day", rstDay(day), "--checkout")
	id, _, _ := h.checkout(day)
	h.exec(`UPDATE archiver.archive_runs SET checkout = NULL WHERE id = $1`, id)
	h.insertClean([]reading{{Sensor: "late", Time: day.Add(time.Hour), Value: f64(7)}})
	h.mustRun("archive")
	h.exec(`UPDATE archiver.archive_runs SET checkout = 'open' WHERE id = $1`, id)
	h.mustRun("restore", "--day", rstDay(day))
	changed := h.rstObject(rstKey(day))
	r = h.run("checkin", "--day", rstDay(day))
	if r.code != cli.ExitUnavailable {
		t.Fatalf("checkin after the archive changed: exit %d, want %d\n%s", r.code, cli.ExitUnavailable, r.stderr)
	}
	testkit.Contains(t, "checkin after the archive changed", r.stderr, "changed since it was checked out", "--abandon")
	if !bytes.Equal(changed, h.rstObject(rstKey(day))) || h.count(`SELECT count(*) FROM shizuku.clean_measurements`) != int64(len(rs)+1) {
		t.Fatal("a refused checkin changed something")
	}
}

// TestCheckinCrashConverges: a checkin killed at any step after it started
// writing leaves the checkout open (or, after the commit, ended) with no
// reading lost; archive runs still leave the day alone, and checkin run
// again ends with the archive holding exactly the corrected rows.
func TestCheckinCrashConverges(t *testing.T) {
	for _, point := range []string{"archive.after-backup", "archive.before-publish", "archive.after-upload", "archive.after-delete", "archive.before-commit", "archive.after-commit"} {
		t.Run(point, func(t *testing.T) {
			h := newHarness(t)
			day, rs := h.archivedDay()
			h.mustRun("restore", "--day", rstDay(day), "--checkout")
			h.exec(`CREATE TABLE shizuku.raw_copy (sensor_id text NOT NULL, ts timestamptz NOT NULL, value_mm float8, qc_flags int, imputation_method text)`)
			h.exec(`UPDATE shizuku.clean_measurements SET value_mm = -7.5 WHERE sensor_id = $1 AND ts = $2`, rs[2].Sensor, rs[2].Time)
			h.exec(`DELETE FROM shizuku.clean_measurements WHERE sensor_id = $1 AND ts = $2`, rs[6].Sensor, rs[6].Time)
			want := h.cleanRows("true")

			if code, out := h.runBinary(t, []string{"ARCHIVER_FAILPOINTS=" + point + "=kill"}, "checkin", "--day", rstDay(day)); code != -1 {
				t.Fatalf("checkin with %s=kill: exit %d, want killed\n%s", point, code, out)
			}
			if point == "archive.after-upload" {
				// The key holds the checkin's uncommitted upload: a restore
				// refuses it and says that checkin completes it.
				r := h.run("restore", "--day", rstDay(day), "--into", "shizuku.raw_copy")
				testkit.Contains(t, "restore after a killed checkin", r.stdout+r.stderr, "archiver checkin --day "+rstDay(day))
			}
			if point != "archive.after-commit" {
				h.mustRun("archive")
				if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != int64(len(want)) {
					t.Fatalf("an archive run after the crash touched the checked-out day: %d rows, want %d", n, len(want))
				}
				h.mustRun("checkin", "--day", rstDay(day))
			}
			sameReadings(t, "archive", h.dayArchive(day), want)
			if _, state, _ := h.checkout(day); state != "checked-in" {
				t.Errorf("checkout is %q", state)
			}
			if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
				t.Errorf("%d rows left", n)
			}
			h.mustRun("verify", "--deep")
			h.mustRun("restore", "--day", rstDay(day))
			sameReadings(t, "restored", h.cleanRows("true"), want)
		})
	}
}
