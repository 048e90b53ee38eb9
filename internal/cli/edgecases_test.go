package cli_test

import (
	"math"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
)

// trickyDay is one day of readings that sort and compare in awkward ways:
// sensor names that differ only in case, accents, spaces, quotes or byte
// order; several readings of one sensor at one time that differ only in a
// NULL, a zero, a negative zero or an empty string; times at the very
// start and end of the day, to the microsecond; and rows repeated exactly.
// -0.0 next to 0.0 are two readings: PostgreSQL's = calls them equal, but
// a double precision column stores and returns both.
func trickyDay(day time.Time) []reading {
	sensors := []string{"a", "B", "b", "Z", "z", "é", "e\u0301", "a b", `quo"te`, `back\slash`, "tab\there", "🙂", "日本", "ñ", " "}
	times := []time.Duration{0, time.Microsecond, 12 * time.Hour, 24*time.Hour - time.Microsecond}
	var out []reading
	for _, s := range sensors {
		for _, dt := range times {
			at := day.Add(dt)
			out = append(out,
				reading{Sensor: s, Time: at, Value: f64(1.5), QCFlags: i64(0), Imputation: nil},
				reading{Sensor: s, Time: at, Value: f64(1.5), QCFlags: nil, Imputation: nil},
				reading{Sensor: s, Time: at, Value: f64(1.5), QCFlags: i64(0), Imputation: str("")},
				reading{Sensor: s, Time: at, Value: nil, QCFlags: i64(0), Imputation: str("ARIMA")},
				reading{Sensor: s, Time: at, Value: f64(0), QCFlags: i64(0), Imputation: nil},
				reading{Sensor: s, Time: at, Value: f64(math.Copysign(0, -1)), QCFlags: i64(0), Imputation: nil},
				reading{Sensor: s, Time: at, Value: f64(1e-7), QCFlags: i64(-1), Imputation: str("LINEAR")},
				reading{Sensor: s, Time: at, Value: f64(123456789.125), QCFlags: i64(math.MaxInt32), Imputation: str("ARIMA")},
			)
		}
	}
	return out
}

// distinct is the set of readings of rs: an archive holds each once.
func distinct(rs []reading) []reading {
	seen := map[string]bool{}
	var out []reading
	for _, r := range rs {
		if !seen[r.key()] {
			seen[r.key()] = true
			out = append(out, r)
		}
	}
	return out
}

// TestTrickyReadingsMergeExactly: a day of awkward readings is archived in
// two halves (the second half merged into the first half's archive, with
// some readings of the first half inserted again, as a restore would) and
// every distinct reading ends up in the archive exactly once, in canonical
// order, with nothing left behind. Exact duplicate rows become one reading.
func TestTrickyReadingsMergeExactly(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	day := h.today().AddDate(0, 0, -33)
	all := trickyDay(day)
	var first, second []reading
	for i, r := range all {
		if i%2 == 0 {
			first = append(first, r)
		} else {
			second = append(second, r)
		}
	}
	h.insertClean(append(first, first[:10]...)) // exact duplicate rows
	h.mustRun("archive")
	h.insertClean(append(second, first[10:40]...)) // late rows, and archived readings again
	h.mustRun("archive")
	h.checkObjects(t, fileObjects(t, h.dir), distinct(all))
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows left", n)
	}
	// Canonical order: sensors ascending by bytes, times ascending.
	for key, data := range fileObjects(t, h.dir) {
		doc := decodeArchive(t, key, data)
		for i, s := range doc.Data {
			if i > 0 && doc.Data[i-1].Sensor >= s.Sensor {
				t.Errorf("%s: sensor %q after %q", key, s.Sensor, doc.Data[i-1].Sensor)
			}
			for j := 1; j < len(s.Measurements); j++ {
				a, _ := time.Parse(time.RFC3339Nano, s.Measurements[j-1].Time)
				b, _ := time.Parse(time.RFC3339Nano, s.Measurements[j].Time)
				if b.Before(a) {
					t.Errorf("%s: sensor %q: %s after %s", key, s.Sensor, s.Measurements[j].Time, s.Measurements[j-1].Time)
				}
			}
		}
	}
	// Restoring the day and archiving it again changes nothing (I5).
	objs := fileObjects(t, h.dir)
	h.mustRun("restore", "--day", day.Format(time.DateOnly))
	sameReadings(t, "restored rows", h.cleanRows("true"), distinct(all))
	h.mustRun("archive")
	for key, data := range fileObjects(t, h.dir) {
		if sha256Hex(data) != sha256Hex(objs[key]) {
			t.Errorf("%s changed when its restored readings were archived again", key)
		}
	}
}

// TestDryRunAndRerunWriteNothing (I4, I7): with Vercel Blob's request
// counters: a dry run over new days, a day with late rows for an existing
// archive and an uncommitted upload left by a failed run sends no write,
// copy or delete to storage, and changes nothing in the database; a re-run
// with nothing new sends none either.
func TestDryRunAndRerunWriteNothing(t *testing.T) {
	f := newFaultFixture(t)
	h := f.h
	// A failed run leaves an uncommitted upload for day B.
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, PathnamePrefix: "archives/", Corrupt: true})
	h.run("archive")
	f.srv.ClearFaults()
	manifests := h.count(`SELECT count(*) FROM archiver.archive_runs`)
	rows := h.count(`SELECT count(*) FROM shizuku.clean_measurements`)
	writes := func() int {
		c := f.srv.Counts()
		return c[vercelblobtest.KindPut] + c[vercelblobtest.KindCopy] + c[vercelblobtest.KindDelete] +
			c[vercelblobtest.KindMPUCreate] + c[vercelblobtest.KindMPUUpload] + c[vercelblobtest.KindMPUComplete] + c[vercelblobtest.KindRename]
	}
	before := writes()
	h.mustRun("archive", "--dry-run")
	if n := writes() - before; n != 0 {
		t.Errorf("the dry run sent %d writes to storage", n)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs`); n != manifests {
		t.Errorf("the dry run wrote %d manifest rows", n-manifests)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != rows {
		t.Errorf("the dry run deleted %d rows", rows-n)
	}
	h.mustRun("archive")
	h.checkObjects(t, vercelObjects(f.srv), f.want)
	before = writes()
	manifests = h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive'`)
	h.mustRun("archive")
	if n := writes() - before; n != 0 {
		t.Errorf("a re-run with nothing new sent %d writes to storage", n)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive'`); n != manifests {
		t.Errorf("a re-run with nothing new wrote %d archive manifests", n-manifests)
	}
}
