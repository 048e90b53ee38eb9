package cli_test

import (
	"slices"
	"testing"
	"time"
)

// restoreCrashPoints are the steps of restoring a day, in order.
var restoreCrashPoints = []string{
	"restore.mid-copy",
	"restore.after-copy",
	"restore.after-insert",
	"restore.before-commit",
	"restore.after-commit",
}

// TestRestoreCrashAtEveryStepConverges kills a restore of three days
// (SIGKILL) at every step of a day, first or second day, and runs it again:
// afterwards the table holds every archived reading exactly once (some of
// them were there already and are not doubled), nothing else, and the
// restore manifests account for every row inserted.
func TestRestoreCrashAtEveryStepConverges(t *testing.T) {
	eachCrash(t, restoreCrashPoints, func(t *testing.T, point, nth string) {
		h := newHarness(t)
		h.mustRun("migrate", "up")
		today := h.today()
		rows := sample(today, 35, 32, 2) // three days
		h.insertClean(rows)
		h.mustRun("archive")
		if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
			t.Fatalf("%d rows left after archiving", n)
		}
		// Some readings are back in the table already (a partial
		// restore by hand): they must not be doubled.
		var present []reading
		for i, r := range rows {
			if i%5 == 0 {
				present = append(present, r)
			}
		}
		h.insertClean(present)
		var args []string
		for d := 35; d > 32; d-- {
			args = append(args, "--day", today.AddDate(0, 0, -d).Format(time.DateOnly))
		}
		args = append([]string{"restore"}, args...) // restore takes the days one by one

		h.killedAt(t, point, nth, nil, args...)
		h.completes(t, nil, args...)
		sameReadings(t, "table after the restore", h.cleanRows("true"), rows)
		inserted := h.count(`SELECT coalesce(sum(rows_inserted), 0) FROM archiver.archive_runs WHERE kind = 'restore' AND status = 'committed'`)
		if want := int64(len(rows) - len(present)); inserted != want {
			t.Errorf("restore manifests record %d rows inserted, want %d", inserted, want)
		}
		if n := h.count(`SELECT count(DISTINCT day) FROM archiver.archive_runs WHERE kind = 'restore' AND status = 'committed'`); n != 3 {
			t.Errorf("%d days with a committed restore manifest, want 3", n)
		}
		// The restored rows are due again: archiving them changes no
		// archive (I5).
		before := fileObjects(t, h.dir)
		h.mustRun("archive")
		after := fileObjects(t, h.dir)
		for key, data := range before {
			if sha256Hex(after[key]) != sha256Hex(data) {
				t.Errorf("%s changed when restored rows were archived again", key)
			}
		}
	})
}

// TestRestoreCrashTypedTableConverges: a restore of a table whose values
// only the typed path restores (extra columns, numeric values), killed
// while its COPY runs and after it, converges on a rerun to exactly the
// rows that were archived, every column's value as it was.
func TestRestoreCrashTypedTableConverges(t *testing.T) {
	eachCrash(t, []string{"restore.mid-copy", "restore.after-copy"}, func(t *testing.T, point, nth string) {
		h := newHarness(t)
		h.mustRun("migrate", "up")
		first, last := typedTable(h)
		t.Setenv("ARCHIVER_CLEAN_EXTRA_COLUMNS", typedExtras)
		t.Setenv("ARCHIVER_CLEAN_IGNORE_COLUMNS", "id")
		const rows = `SELECT concat_ws('|', sensor_id, ts, value_mm, qc_flags, imputation_method, amount, battery, meta, n, note, ok, seen)
			FROM shizuku.clean_measurements ORDER BY 1`
		want := h.texts(rows)
		h.mustRun("archive")
		if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
			t.Fatalf("%d rows left after archiving", n)
		}
		args := []string{"restore", "--day", rstDay(first), "--day", rstDay(last)}
		h.killedAt(t, point, nth, nil, args...)
		h.completes(t, nil, args...)
		if got := h.texts(rows); !slices.Equal(got, want) {
			t.Errorf("after the crash and the rerun the table holds %d rows, want the %d archived:\n got %q\nwant %q", len(got), len(want), got, want)
		}
	})
}
