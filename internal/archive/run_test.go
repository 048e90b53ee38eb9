package archive_test

// The archive run tested through its Go API, against a real PostgreSQL and
// an in-memory bucket, without the command line (internal/cli tests what is
// about flags, exit codes and output).

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/archive"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/coretest"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pgtest"
	"github.com/shizuku-labs/archiver/internal/restore"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func runner(e *coretest.Env, dry bool) *archive.Runner {
	return &archive.Runner{
		Pool: e.Pool, Bucket: e.Bucket, Raw: coretest.Raw, Clean: coretest.Clean,
		Manifests: e.Manifests, Schema: coretest.Schema, Log: e.Log,
		Opts: archive.Options{
			RawRetentionDays: 1, CleanRetentionDays: 30, BatchSize: 1000, Concurrency: 2, GzipLevel: 6,
			DryRun: dry, Prefix: coretest.Prefix, Location: coretest.Location, Limits: coretest.Limits,
		},
	}
}

func run(t *testing.T, e *coretest.Env, dry bool) archive.Summary {
	t.Helper()
	s, err := runner(e, dry).Run(context.Background())
	if err != nil {
		t.Fatalf("run: %v\n%s", err, e.LogBuf)
	}
	return s
}

// TestRunArchivesVerifiedDaysAndDeletesThem (I1): every due day becomes one
// archive holding exactly its rows, the rows are gone, the days not due
// keep theirs, and each day's committed manifest matches its object.
func TestRunArchivesVerifiedDaysAndDeletesThem(t *testing.T) {
	e := coretest.New(t)
	today := e.Today(t)
	due := e.Seed(t, today.AddDays(-35), today.AddDays(-32), 3, 8)
	recent := e.Seed(t, today.AddDays(-3), today.AddDays(-2), 3, 8)

	s := run(t, e, false)
	if s.ArchivesWritten != 3 || s.RowsDeleted != int64(len(due)) || s.Failed != 0 {
		t.Fatalf("summary: %d archives, %d rows deleted, %d failed; want 3, %d, 0", s.ArchivesWritten, s.RowsDeleted, s.Failed, len(due))
	}
	if got := e.Readings(t, "true"); !slices.Equal(got, recent) {
		t.Fatalf("the table holds %d readings, want the %d not due", len(got), len(recent))
	}
	var archived []string
	for d := today.AddDays(-35); d.Before(today.AddDays(-32)); d = d.AddDays(1) {
		got, stats, ok := e.Archive(t, d)
		if !ok {
			t.Fatalf("no archive for %s", d)
		}
		archived = append(archived, got...)
		m, err := e.Manifests.LatestCommitted(context.Background(), e.Pool, coretest.Location, archivestore.Key(coretest.Prefix, d))
		if err != nil || m == nil {
			t.Fatalf("no committed manifest for %s: %v", d, err)
		}
		if m.SHA256 != stats.SHA256 || m.Readings == nil || *m.Readings != stats.Readings {
			t.Errorf("%s: manifest says sha256 %s, %v readings; the object has %s, %d", d, m.SHA256, m.Readings, stats.SHA256, stats.Readings)
		}
	}
	slices.Sort(archived)
	if !slices.Equal(archived, due) {
		t.Errorf("the archives hold %d readings, want exactly the %d deleted", len(archived), len(due))
	}
}

// TestRunAgainDoesNothing (I4): a second run with nothing new writes no
// object and deletes nothing.
func TestRunAgainDoesNothing(t *testing.T) {
	e := coretest.New(t)
	today := e.Today(t)
	e.Seed(t, today.AddDays(-40), today.AddDays(-38), 2, 5)
	run(t, e, false)
	keys := e.Keys(t)
	before := e.Count(t, `SELECT count(*) FROM archiver.archive_runs`)

	s := run(t, e, false)
	if s.ArchivesWritten != 0 || s.RowsDeleted != 0 || len(s.Days) != 0 {
		t.Errorf("second run: %d archives, %d rows deleted, %d days; want nothing", s.ArchivesWritten, s.RowsDeleted, len(s.Days))
	}
	if got := e.Keys(t); !slices.Equal(got, keys) {
		t.Errorf("objects changed: %v, were %v", got, keys)
	}
	// Only the run's purge row is new.
	if n := e.Count(t, `SELECT count(*) FROM archiver.archive_runs WHERE kind <> 'purge'`); n != before-1 {
		t.Errorf("%d non-purge manifest rows after the second run, want %d", n, before-1)
	}
}

// TestLateRowsAreMergedIntoTheArchive (I2, I5): rows arriving for an
// archived day are merged: the new archive is the union, and archiving
// rows identical to archived ones changes nothing.
func TestLateRowsAreMergedIntoTheArchive(t *testing.T) {
	e := coretest.New(t)
	today := e.Today(t)
	d := today.AddDays(-33)
	first := e.Seed(t, d, d.AddDays(1), 2, 6)
	run(t, e, false)

	late := e.Seed(t, d, d.AddDays(1), 3, 2) // sensors 0 and 1 repeat readings already archived
	run(t, e, false)
	got, _, _ := e.Archive(t, d)
	want := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(first), late...))))
	if !slices.Equal(got, want) {
		t.Errorf("merged archive holds %d readings, want the union %d", len(got), len(want))
	}
	if n := e.Count(t, `SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows left in the table", n)
	}
}

// TestDryRunWritesNothing (I7).
func TestDryRunWritesNothing(t *testing.T) {
	e := coretest.New(t)
	today := e.Today(t)
	rows := e.Seed(t, today.AddDays(-34), today.AddDays(-32), 2, 4)
	s := run(t, e, true)
	if len(s.Days) != 2 {
		t.Errorf("dry run planned %d days, want 2", len(s.Days))
	}
	if keys := e.Keys(t); len(keys) != 0 {
		t.Errorf("dry run wrote %v", keys)
	}
	if got := e.Readings(t, "true"); !slices.Equal(got, rows) {
		t.Errorf("dry run changed the table")
	}
	if n := e.Count(t, `SELECT count(*) FROM archiver.archive_runs`); n != 0 {
		t.Errorf("dry run recorded %d manifest rows", n)
	}
}

// TestUnmigratedDatabaseIsRefused: a run against a database without the
// manifest table changes nothing and says so with manifest.ErrNotMigrated.
func TestUnmigratedDatabaseIsRefused(t *testing.T) {
	e := coretest.New(t)
	today := e.Today(t)
	rows := e.Seed(t, today.AddDays(-34), today.AddDays(-33), 1, 3)
	e.Exec(t, `DROP SCHEMA archiver CASCADE`)
	_, err := runner(e, false).Run(context.Background())
	if !errors.Is(err, manifest.ErrNotMigrated) {
		t.Fatalf("err = %v, want manifest.ErrNotMigrated", err)
	}
	if got := e.Readings(t, "true"); !slices.Equal(got, rows) {
		t.Errorf("the refused run changed the table")
	}
}

// TestAnotherTableAtTheSameArchivesIsRefused: two clean tables archived to
// the same bucket and prefix write the same keys, so the second table's
// run merged its rows into the first table's archives: a restore then
// brought one table's readings into the other, and with a key on (sensor,
// time) the second table's reading replaced the first's archived one,
// whose row was already deleted. The run is refused before anything
// changes, naming the other table and storage.prefix; the same table and
// another prefix still run.
func TestAnotherTableAtTheSameArchivesIsRefused(t *testing.T) {
	e := coretest.New(t)
	ctx := context.Background()
	today := e.Today(t)
	d := today.AddDays(-33)
	first := e.Seed(t, d, d.AddDays(1), 2, 4)
	run(t, e, false)
	e.Exec(t, `CREATE TABLE shizuku."Other Copy" (sensor_id text, ts timestamptz, value_mm double precision, qc_flags integer, imputation_method text, PRIMARY KEY (sensor_id, ts))`)
	e.Exec(t, `INSERT INTO shizuku."Other Copy" VALUES ('station-00/rain', '`+d.Start().Add(6*time.Hour).Format(time.RFC3339Nano)+`', 99, 0, NULL), ('station-09/rain', '`+d.Start().Format(time.RFC3339)+`', 1, 0, NULL)`)
	e.Exec(t, `INSERT INTO shizuku.raw_measurements (sensor_id, ts, value_mm) VALUES ('r', now() - interval '3 days', 1)`)
	other := coretest.Clean
	other.Name, other.Ignore = []string{"shizuku", "Other Copy"}, nil

	r := runner(e, false)
	r.Clean = other
	_, err := r.Run(ctx)
	if err == nil {
		t.Fatal("a second table was archived into the first table's archives")
	}
	for _, want := range []string{"shizuku.clean_measurements", "storage.prefix", "ARCHIVER_PREFIX", `"archives"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
	if got, _, _ := e.Archive(t, d); !slices.Equal(got, first) {
		t.Errorf("the first table's archive changed: %d readings, want its %d", len(got), len(first))
	}
	if n := e.Count(t, `SELECT count(*) FROM shizuku."Other Copy"`); n != 2 {
		t.Errorf("%d rows left in the second table, want 2", n)
	}
	if n := e.Count(t, `SELECT count(*) FROM shizuku.raw_measurements`); n != 1 {
		t.Errorf("the refused run purged raw rows")
	}

	// The first table, again, and the second at its own prefix, run.
	run(t, e, false)
	r = runner(e, false)
	r.Clean, r.Opts.Prefix = other, "other-copy"
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("the second table at its own prefix: %v", err)
	}
	if n := e.Count(t, `SELECT count(*) FROM shizuku."Other Copy"`); n != 0 {
		t.Errorf("%d rows left in the second table after archiving at its own prefix", n)
	}
}

// TestDeleteSkippedByTriggerSaysWhy: a BEFORE DELETE trigger (or a rule)
// that skips rows makes the DELETE remove fewer rows than were archived;
// the day is rolled back, and the reason points at the table's triggers
// and rules rather than only at a day that "changed under the run", which
// the day's lock and snapshot rule out.
func TestDeleteSkippedByTriggerSaysWhy(t *testing.T) {
	e := coretest.New(t)
	today := e.Today(t)
	d := today.AddDays(-33)
	rows := e.Seed(t, d, d.AddDays(1), 2, 3)
	e.Exec(t, `CREATE FUNCTION shizuku.keep() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN IF OLD.sensor_id LIKE 'station-00%' THEN RETURN NULL; END IF; RETURN OLD; END$$`,
		`CREATE TRIGGER keep_some BEFORE DELETE ON shizuku.clean_measurements FOR EACH ROW EXECUTE FUNCTION shizuku.keep()`)
	s, err := runner(e, false).Run(context.Background())
	if !errors.Is(err, archive.ErrDaysFailed) || len(s.Days) != 1 || s.Days[0].Err == nil {
		t.Fatalf("err %v, days %+v", err, s.Days)
	}
	msg := s.Days[0].Err.Error()
	for _, want := range []string{"would delete 3 rows but archived 6", "keep_some", "BEFORE DELETE"} {
		if !strings.Contains(msg, want) {
			t.Errorf("reason lacks %q: %s", want, msg)
		}
	}
	if got := e.Readings(t, "true"); !slices.Equal(got, rows) {
		t.Errorf("the failed day changed the table")
	}
}

// TestNegativeZeroAndZeroAreTwoReadings (I1): a double precision column
// holds -0 and 0 as two values (PostgreSQL's = calls them equal, but both
// are stored and restored), so two rows that differ only in the sign of a
// zero measurement are two readings. Both must be archived before the rows
// are deleted, whichever order the table returns them in; before -0 had its
// own place in the canonical order, one of them was dropped as a duplicate
// and lost, and which sign survived depended on the row order.
func TestNegativeZeroAndZeroAreTwoReadings(t *testing.T) {
	e := coretest.New(t)
	d := e.Today(t).AddDays(-33)
	at := d.Start().Add(6 * time.Hour)
	// Sensor a gets -0 first, sensor b 0 first; sensor c repeats each
	// value, which stays one reading each.
	rows := []struct {
		sensor, value string
	}{{"a", "'-0'"}, {"a", "0"}, {"b", "0"}, {"b", "'-0'"}, {"c", "'-0'"}, {"c", "0"}, {"c", "'-0'"}, {"c", "0"}}
	for _, r := range rows {
		e.Exec(t, `INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags, imputation_method)
			VALUES ('`+r.sensor+`', '`+at.Format(time.RFC3339Nano)+`', `+r.value+`, 0, 'ARIMA')`)
	}
	want := []string{}
	for _, s := range []string{"a", "b", "c"} {
		for _, v := range []string{"-0", "0"} {
			want = append(want, s+"|"+at.Format(time.RFC3339Nano)+"|"+v+"|0|\"ARIMA\"")
		}
	}
	slices.Sort(want)

	s := run(t, e, false)
	if s.Failed != 0 || s.RowsDeleted != int64(len(rows)) {
		t.Fatalf("summary: %d failed, %d rows deleted; want 0, %d\n%s", s.Failed, s.RowsDeleted, len(rows), e.LogBuf)
	}
	got, stats, ok := e.Archive(t, d)
	if !ok || !slices.Equal(got, want) {
		t.Fatalf("the archive holds %q, want %q", got, want)
	}
	if stats.Readings != int64(len(want)) {
		t.Errorf("the archive counts %d readings, want %d", stats.Readings, len(want))
	}

	// Archiving the same readings again changes nothing: -0 and 0 are each
	// already there.
	e.Exec(t, `INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags, imputation_method)
		VALUES ('a', '`+at.Format(time.RFC3339Nano)+`', 0, 0, 'ARIMA'), ('b', '`+at.Format(time.RFC3339Nano)+`', '-0', 0, 'ARIMA')`)
	run(t, e, false)
	if got, _, _ := e.Archive(t, d); !slices.Equal(got, want) {
		t.Fatalf("after archiving the same readings again the archive holds %q, want %q", got, want)
	}

	// Restore gives back both signs, also into a day whose rows the table
	// holds in part (the staged load, which looks for each reading in the
	// table): a 0 there does not make the archived -0 present.
	e.Exec(t, `INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags, imputation_method)
		VALUES ('a', '`+at.Format(time.RFC3339Nano)+`', 0, 0, 'ARIMA')`)
	if _, err := tableRestorer(e, coretest.Clean, coretest.Prefix).Run(context.Background(), restore.Options{Days: []measure.Day{d}}); err != nil {
		t.Fatalf("restore: %v\n%s", err, e.LogBuf)
	}
	if got := e.Readings(t, "true"); !slices.Equal(got, want) {
		t.Errorf("restored %q, want %q", got, want)
	}
}

// TestLargeDaysAreStreamed: a day of more rows than a worker holds in
// memory is sorted by PostgreSQL and streamed instead, merges with its
// archive the same way, and gives byte for byte the archive a day sorted
// in memory gives.
func TestLargeDaysAreStreamed(t *testing.T) {
	shas := func(limit int) map[measure.Day]string {
		e := coretest.New(t)
		today := e.Today(t)
		from := today.AddDays(-36)
		e.Seed(t, from, from.AddDays(1), 1, 4)            // 4 rows: read into memory
		e.Seed(t, from.AddDays(1), from.AddDays(3), 3, 8) // 24 rows a day
		r := runner(e, false)
		r.Opts.InMemoryDay = limit
		if s, err := r.Run(context.Background()); err != nil || s.Failed != 0 || s.ArchivesWritten != 3 {
			t.Fatalf("limit %d: run: %v, %d failed, %d archives; want 3 archives\n%s", limit, err, s.Failed, s.ArchivesWritten, e.LogBuf)
		}
		// Late rows: the streamed day merges with its archive.
		e.Seed(t, from.AddDays(2), from.AddDays(3), 4, 3)
		if s, err := r.Run(context.Background()); err != nil || s.Failed != 0 || s.ArchivesWritten != 1 {
			t.Fatalf("limit %d: second run: %v, %d failed, %d archives; want 1\n%s", limit, err, s.Failed, s.ArchivesWritten, e.LogBuf)
		}
		if n := e.Count(t, `SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
			t.Fatalf("limit %d: %d rows left in the table", limit, n)
		}
		out := map[measure.Day]string{}
		for d := from; d.Before(from.AddDays(3)); d = d.AddDays(1) {
			_, stats, ok := e.Archive(t, d)
			if !ok {
				t.Fatalf("limit %d: no archive for %s", limit, d)
			}
			out[d] = stats.SHA256
		}
		return out
	}
	streamed, inMemory := shas(5), shas(0)
	if !maps.Equal(streamed, inMemory) {
		t.Errorf("streamed days' archives differ from days sorted in memory:\n streamed  %v\n in memory %v", streamed, inMemory)
	}
}
