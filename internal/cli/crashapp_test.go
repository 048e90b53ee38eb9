package cli_test

import (
	"context"
	"strings"
	"testing"
)

// TestCrashThenApplicationChangesConverges: the archiver is killed at a
// step of a day, and before it runs again the application updates and
// deletes rows of the days it was archiving. The next run must converge on
// exactly what is true now: the readings that runs committed (those gone
// from the table) plus the table as the application left it. In particular
// an upload of the killed run, which holds the rows as they were, must not
// bring back the old version of a row updated since, nor a row deleted
// since (I3 with an application at work).
func TestCrashThenApplicationChangesConverges(t *testing.T) {
	for _, point := range crashPoints {
		if !strings.HasPrefix(point, "archive.") {
			continue
		}
		t.Run(point, func(t *testing.T) {
			h := newHarness(t)
			h.mustRun("migrate", "up")
			today := h.today()
			h.insertClean(sample(today, 36, 35, 2))
			h.mustRun("archive") // the oldest day has a committed archive
			late := sample(today, 36, 35, 1)
			for i := range late {
				late[i].Sensor = "late-" + late[i].Sensor
			}
			h.insertClean(append(late, sample(today, 35, 33, 2)...))

			everything := h.cleanRows("true")
			for key, data := range fileObjects(t, h.dir) {
				everything = append(everything, decodeArchive(t, key, data).readings(t)...)
			}
			h.killedAt(t, point, "1", nil, "archive")
			// What left the table was committed to an archive.
			left := map[string]int{}
			for _, r := range h.cleanRows("true") {
				left[r.key()]++
			}
			var committed []reading
			for _, r := range everything {
				if left[r.key()] > 0 {
					left[r.key()]--
					continue
				}
				committed = append(committed, r)
			}
			// The application changes a third of the rows and deletes a tenth.
			if _, err := h.conn.Exec(context.Background(), `UPDATE shizuku.clean_measurements SET value_mm = coalesce(value_mm, 0) + 1000, qc_flags = 7 WHERE id % 3 = 0;
				DELETE FROM shizuku.clean_measurements WHERE id % 10 = 1`); err != nil {
				t.Fatal(err)
			}
			want := append(committed, h.cleanRows("true")...)
			h.completes(t, nil, "archive")
			h.checkObjects(t, fileObjects(t, h.dir), want)
			if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
				t.Errorf("%d rows left", n)
			}
		})
	}
}
