package cli_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// rstKey is the object key of day t's archive under the default prefix.
func rstKey(t time.Time) string { return t.Format("archives/2006/01/archive-2006-01-02.json.gz") }

func rstDay(t time.Time) string { return t.Format(time.DateOnly) }

// rstPutGzip stores text, gzipped, as the object key in the file bucket, the
// way an object written by another program would be there.
func (h *harness) rstPutGzip(key, text string) {
	h.t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(text)); err != nil {
		h.t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.rstPutObject(key, buf.Bytes())
}

func (h *harness) rstPutObject(key string, data []byte) {
	h.t.Helper()
	p := filepath.Join(h.dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) rstObject(key string) []byte {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.dir, filepath.FromSlash(key)))
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// rstSHA is the sha256 of the latest committed archive manifest of day.
func (h *harness) rstSHA(day time.Time) string {
	h.t.Helper()
	var sha string
	err := h.conn.QueryRow(context.Background(), `SELECT sha256 FROM archiver.archive_runs
		WHERE kind IN ('archive', 'adopt') AND status = 'committed' AND day = $1::date ORDER BY id DESC LIMIT 1`, rstDay(day)).Scan(&sha)
	if err != nil {
		h.t.Fatalf("manifest of %s: %v", rstDay(day), err)
	}
	return sha
}

// TestRestoreRoundTrip: archive then restore gives back exactly the rows
// that were archived, all five columns, NULLs and microsecond times; each
// restore is recorded.
func TestRestoreRoundTrip(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	old := sample(today, 36, 32, 3) // 4 days, due for archiving
	h.insertClean(old)
	h.mustRun("archive")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Fatalf("%d rows left after archiving", n)
	}

	from, to := today.AddDate(0, 0, -36), today.AddDate(0, 0, -33)
	r := h.mustRun("restore", "--from", rstDay(from), "--to", rstDay(to))
	sameReadings(t, "restored rows", h.cleanRows("true"), old)
	testkit.Contains(t, "restore summary", r.stdout, "Days: 4 restored, 0 failed", fmt.Sprintf("inserted: %d", len(old)), "already present: 0", "manifest #")
	testkit.Contains(t, "restore log", r.stderr, "Found archive for", "through manifest")

	// One committed restore row per day, saying what was done and by whom.
	rows, err := h.conn.Query(context.Background(), `SELECT day::text, object_key, location, readings, rows_inserted, rows_present,
		sha256, source_table, host, os_user, bytes FROM archiver.archive_runs WHERE kind = 'restore' AND status = 'committed' ORDER BY day`)
	if err != nil {
		t.Fatal(err)
	}
	type restoreRow struct {
		day, key, loc, sha, src, host, who string
		readings, inserted, present, size  int64
	}
	var got []restoreRow
	for rows.Next() {
		var x restoreRow
		if err := rows.Scan(&x.day, &x.key, &x.loc, &x.readings, &x.inserted, &x.present, &x.sha, &x.src, &x.host, &x.who, &x.size); err != nil {
			t.Fatal(err)
		}
		got = append(got, x)
	}
	rows.Close()
	n := len(got)
	for _, x := range got {
		d, _ := time.Parse(time.DateOnly, x.day)
		if x.key != rstKey(d) || x.loc != h.bucket || x.src != "shizuku.clean_measurements" || x.host == "" || x.who == "" {
			t.Errorf("restore row %s: key %s location %s source %s host %q user %q", x.day, x.key, x.loc, x.src, x.host, x.who)
		}
		if x.readings != 3*24 || x.inserted != x.readings || x.present != 0 || x.size <= 0 || x.sha != h.rstSHA(d) {
			t.Errorf("restore row %s: readings %d inserted %d present %d bytes %d sha %s", x.day, x.readings, x.inserted, x.present, x.size, x.sha)
		}
	}
	if n != 4 {
		t.Errorf("%d restore rows, want 4", n)
	}
}

// TestRestoreTwice: the second restore of a day inserts nothing and says
// every reading was already there.
func TestRestoreTwice(t *testing.T) {
	h := newHarness(t)
	day, rows := h.archived(35, 34, 2)
	h.mustRun("restore", "--day", rstDay(day))
	r := h.mustRun("restore", "--day", rstDay(day))
	testkit.Contains(t, "second restore", r.stdout, "inserted: 0", fmt.Sprintf("already present: %d", len(rows)))
	sameReadings(t, "rows after two restores", h.cleanRows("true"), rows)
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'restore' AND status = 'committed' AND rows_inserted = 0 AND rows_present = $1`, len(rows)); n != 1 {
		t.Errorf("%d restore rows recording 0 inserted, %d present; want 1", n, len(rows))
	}
}

// TestRestoreThenArchiveChangesNothing (I5): restored rows archived again
// leave the archive's readings (and so its bytes and checksum) unchanged,
// and the table empty again.
func TestRestoreThenArchiveChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	h.insertClean(sample(today, 34, 32, 3))
	h.mustRun("archive")
	d1, d2 := today.AddDate(0, 0, -34), today.AddDate(0, 0, -33)
	before1, before2 := h.rstObject(rstKey(d1)), h.rstObject(rstKey(d2))
	sha1, sha2 := h.rstSHA(d1), h.rstSHA(d2)

	h.mustRun("restore", "--day", rstDay(d1), "--day", rstDay(d2))
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 2*3*24 {
		t.Fatalf("%d rows restored, want %d", n, 2*3*24)
	}
	h.mustRun("archive")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows left after archiving the restored days again", n)
	}
	if !bytes.Equal(h.rstObject(rstKey(d1)), before1) || !bytes.Equal(h.rstObject(rstKey(d2)), before2) {
		t.Error("archiving restored rows changed the archive objects")
	}
	if h.rstSHA(d1) != sha1 || h.rstSHA(d2) != sha2 {
		t.Error("archiving restored rows changed the archive checksums")
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed'`); n != 4 {
		t.Errorf("%d committed archive rows, want 2 per day", n)
	}
}

// TestRestoreIntoAnotherTable: --into a table created with other (but
// compatible) column types; the clean table is untouched.
func TestRestoreIntoAnotherTable(t *testing.T) {
	h := newHarness(t)
	day, rows := h.archived(40, 39, 3)
	_, err := h.conn.Exec(context.Background(), `CREATE SCHEMA scratch;
		CREATE TABLE scratch."Restored Rows" (sensor_id varchar(64) NOT NULL, ts timestamp NOT NULL, value_mm float8,
			qc_flags bigint, imputation_method text, note text DEFAULT 'restored')`)
	if err != nil {
		t.Fatal(err)
	}
	r := h.mustRun("restore", "--day", rstDay(day), "--into", `scratch."Restored Rows"`)
	testkit.Contains(t, "summary", r.stdout, `Restore into scratch.Restored Rows`, fmt.Sprintf("inserted: %d", len(rows)))
	got := h.rstRowsOf(`scratch."Restored Rows"`)
	sameReadings(t, "rows restored into scratch", got, rows)
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("restore --into wrote %d rows to the clean table", n)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'restore' AND source_table = 'scratch.Restored Rows'`); n != 1 {
		t.Errorf("%d restore rows naming the target, want 1", n)
	}
}

func (h *harness) rstRowsOf(table string) []reading {
	h.t.Helper()
	return h.readings(`SELECT sensor_id::text, ts AT TIME ZONE 'UTC', value_mm, qc_flags::int8, imputation_method FROM ` + table + ` ORDER BY 1, 2`)
}

// rstPythonArchive is a day archive as the original Python service wrote it:
// json.dumps layout, "+00:00" offsets, floats like 5.0, null imputation
// methods, sensors in the order first met (not sorted), and a reading the
// service wrote twice.
func rstPythonArchive(day time.Time) (string, []reading) {
	ts := func(h, m int, us int) time.Time {
		return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(us)*time.Microsecond)
	}
	want := []reading{
		{Sensor: "zeta-7", Time: ts(0, 0, 0), Value: f64(5.0), QCFlags: i64(0)},
		{Sensor: "zeta-7", Time: ts(0, 10, 250000), Value: f64(5.8), QCFlags: i64(0), Imputation: str("ARIMA")},
		{Sensor: "zeta-7", Time: ts(23, 59, 999999), Value: nil, QCFlags: i64(2)},
		{Sensor: "alpha", Time: ts(1, 0, 0), Value: f64(-0.5), QCFlags: nil, Imputation: str("linear")},
		{Sensor: "alpha", Time: ts(2, 0, 123456), Value: f64(12.0), QCFlags: i64(1)},
		{Sensor: "Mike", Time: ts(3, 30, 0), Value: f64(1e-07), QCFlags: i64(0)},
	}
	f := func(t time.Time) string {
		s := t.Format("2006-01-02T15:04:05.999999")
		return s + "+00:00"
	}
	d := day.Format(time.DateOnly)
	doc := `{"day": "` + d + `", "data": [{"sensor": "zeta-7", "measurements": [` +
		`{"time": "` + f(want[0].Time) + `", "measurement": 5.0, "qc_flags": 0, "imputation_method": null}, ` +
		`{"time": "` + f(want[1].Time) + `", "measurement": 5.8, "qc_flags": 0, "imputation_method": "ARIMA"}, ` +
		`{"time": "` + f(want[2].Time) + `", "measurement": null, "qc_flags": 2, "imputation_method": null}]}, ` +
		`{"sensor": "alpha", "measurements": [` +
		`{"time": "` + f(want[3].Time) + `", "measurement": -0.5, "qc_flags": null, "imputation_method": "linear"}, ` +
		`{"time": "` + f(want[4].Time) + `", "measurement": 12.0, "qc_flags": 1, "imputation_method": null}, ` +
		`{"time": "` + f(want[4].Time) + `", "measurement": 12.0, "qc_flags": 1, "imputation_method": null}]}, ` +
		`{"sensor": "Mike", "measurements": [` +
		`{"time": "` + f(want[5].Time) + `", "measurement": 1e-07, "qc_flags": 0, "imputation_method": null}]}]}`
	return doc, want
}

// TestRestoreOriginalServiceArchive: an archive of the original service,
// with no manifest, is found by the key convention (and the log says so),
// read despite its looser format, and restored exactly, once.
func TestRestoreOriginalServiceArchive(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	day := time.Date(2024, 11, 3, 0, 0, 0, 0, time.UTC)
	doc, want := rstPythonArchive(day)
	h.rstPutGzip(rstKey(day), doc)

	r := h.mustRun("restore", "--day", "2024-11-03")
	testkit.Contains(t, "log", r.stderr, "No manifest for 2024-11-03", "key convention")
	testkit.Contains(t, "summary", r.stdout, "key convention (no manifest)", "readings: 7", "inserted: 6", "already present: 0")
	sameReadings(t, "restored original archive", h.cleanRows("true"), want)

	r = h.mustRun("restore", "--day", "2024-11-03")
	testkit.Contains(t, "second restore", r.stdout, "inserted: 0", "already present: 6")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 6 {
		t.Errorf("%d rows after restoring twice, want 6", n)
	}
}

// TestRestoreDryRun verifies and counts, and writes nothing anywhere.
func TestRestoreDryRun(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	day := h.today().AddDate(0, 0, -35)
	h.insertClean(sample(h.today(), 35, 34, 2))
	h.mustRun("archive")
	runs := h.count(`SELECT count(*) FROM archiver.archive_runs`)
	r := h.mustRun("restore", "--day", rstDay(day), "--dry-run")
	testkit.Contains(t, "dry run", r.stdout, "dry run: nothing was written", "readings that would be restored: 48")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("dry run restored %d rows", n)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs`); n != runs {
		t.Errorf("dry run recorded %d manifest rows", n-runs)
	}
}

// TestRestoreBadInput: every kind of bad input gets a clear error and
// changes nothing in the target table.
func TestRestoreBadInput(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	// Two archived days (with manifests) to point at as the nearest.
	archived := sample(today, 45, 43, 1)
	h.insertClean(archived)
	h.mustRun("archive")
	// Rows the table holds throughout: nothing may touch them.
	keep := sample(today, 3, 1, 2)
	h.insertClean(keep)

	good := time.Date(2024, 6, 10, 0, 0, 0, 0, time.UTC)
	valid := func(d time.Time) []byte {
		doc, _ := rstPythonArchive(d)
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write([]byte(doc))
		zw.Close()
		return gz.Bytes()
	}

	hugeDay := time.Date(2024, 6, 20, 0, 0, 0, 0, time.UTC)
	bomb := `{"day": "2024-06-20", "data": [` + strings.Repeat(" ", 8<<20) + `]}`

	cases := []struct {
		name  string
		setup func(day time.Time)
		day   time.Time
		args  []string
		code  int
		want  []string
	}{
		{name: "malformed date", args: []string{"--day", "2025-13-01"}, code: cli.ExitUsage,
			want: []string{`invalid --day "2025-13-01": no such calendar date`, "YYYY-MM-DD"}},
		{name: "date in another form", args: []string{"--day", "15/01/2025"}, code: cli.ExitUsage,
			want: []string{`invalid --day "15/01/2025"`, "YYYY-MM-DD"}},
		{name: "from after to", args: []string{"--from", "2025-02-01", "--to", "2025-01-01"}, code: cli.ExitUsage,
			want: []string{"--from 2025-02-01 is after --to 2025-01-01"}},
		{name: "no days", args: []string{}, code: cli.ExitUsage, want: []string{"--day YYYY-MM-DD"}},
		{name: "no archive", day: today.AddDate(0, 0, -50), code: cli.ExitPartial,
			want: []string{"no archive for " + rstDay(today.AddDate(0, 0, -50)), "nearest archived days: " + rstDay(today.AddDate(0, 0, -45)) + ", " + rstDay(today.AddDate(0, 0, -44))}},
		{name: "no archive in range", args: []string{"--from", "2020-01-01", "--to", "2020-01-31"}, code: cli.ExitPartial,
			want: []string{"no archived day between 2020-01-01 and 2020-01-31", "nearest archived days:"}},
		{name: "truncated gzip", day: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), code: cli.ExitPartial,
			setup: func(d time.Time) {
				b := valid(d)
				h.rstPutObject(rstKey(d), b[:len(b)*2/3])
			},
			want: []string{"gzip stream is truncated"}},
		{name: "corrupt gzip", day: time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC), code: cli.ExitPartial,
			setup: func(d time.Time) {
				b := valid(d)
				for i := len(b) / 3; i < len(b)/3+8; i++ {
					b[i] ^= 0x5a
				}
				h.rstPutObject(rstKey(d), b)
			},
			want: []string{"corrupt"}},
		{name: "not gzip", day: time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC), code: cli.ExitPartial,
			setup: func(d time.Time) { h.rstPutObject(rstKey(d), []byte(`{"day": "2024-06-03", "data": []}`)) },
			want:  []string{"not a gzip archive"}},
		{name: "invalid JSON", day: time.Date(2024, 6, 4, 0, 0, 0, 0, time.UTC), code: cli.ExitPartial,
			setup: func(d time.Time) {
				h.rstPutGzip(rstKey(d), `{"day": "2024-06-04", "data": [{"sensor": "a", "measurements": [{"time": "2024-06-04T00:00:00Z", "measurement": 1.0}, {"time": }]}]}`)
			},
			want: []string{"invalid archive JSON"}},
		{name: "day differs from key", day: time.Date(2024, 6, 5, 0, 0, 0, 0, time.UTC), code: cli.ExitPartial,
			setup: func(d time.Time) {
				doc, _ := rstPythonArchive(d.AddDate(0, 0, 1))
				h.rstPutGzip(rstKey(d), doc)
			},
			want: []string{"says it is for day 2024-06-06, but its key is for 2024-06-05"}},
		{name: "day after data differs from key", day: time.Date(2024, 6, 6, 0, 0, 0, 0, time.UTC), code: cli.ExitPartial,
			setup: func(d time.Time) {
				h.rstPutGzip(rstKey(d), `{"data": [{"sensor": "a", "measurements": [{"time": "2024-06-07T01:00:00Z", "measurement": 1.0}]}], "day": "2024-06-07"}`)
			},
			want: []string{"says it is for day 2024-06-07, but its key is for 2024-06-06"}},
		{name: "reading outside the day", day: time.Date(2024, 6, 7, 0, 0, 0, 0, time.UTC), code: cli.ExitPartial,
			setup: func(d time.Time) {
				h.rstPutGzip(rstKey(d), `{"day": "2024-06-07", "data": [{"sensor": "a", "measurements": [`+
					`{"time": "2024-06-07T23:00:00+00:00", "measurement": 1.0, "qc_flags": 0, "imputation_method": null}, `+
					`{"time": "2024-06-08T00:00:00+00:00", "measurement": 2.0, "qc_flags": 0, "imputation_method": null}]}]}`)
			},
			want: []string{"outside the archive day 2024-06-07"}},
		{name: "too many readings", day: good, args: []string{"--max-readings", "3"}, code: cli.ExitPartial,
			setup: func(d time.Time) { h.rstPutObject(rstKey(d), valid(d)) },
			want:  []string{"more than 3 readings", "restore.max_readings"}},
		{name: "decompression bomb", day: hugeDay, args: []string{"--max-uncompressed-bytes", "1000000"}, code: cli.ExitPartial,
			setup: func(d time.Time) { h.rstPutGzip(rstKey(d), bomb) },
			want:  []string{"exceeds limit", "restore.max_uncompressed_bytes"}},
		{name: "missing column", day: good, args: []string{"--into", "scratch.partial"}, code: cli.ExitUnavailable,
			setup: func(d time.Time) {
				h.rstPutObject(rstKey(d), valid(d))
				if _, err := h.conn.Exec(context.Background(), `CREATE SCHEMA IF NOT EXISTS scratch;
					CREATE TABLE IF NOT EXISTS scratch.partial (sensor_id text, ts timestamptz, value_mm float8, imputation_method text)`); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"scratch.partial has no column \"qc_flags\""}},
		{name: "missing table", day: good, args: []string{"--into", "scratch.nope"}, code: cli.ExitUnavailable,
			want: []string{"table scratch.nope does not exist"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				c.setup(c.day)
			}
			args := append([]string{"restore"}, c.args...)
			if !c.day.IsZero() {
				args = append(args, "--day", rstDay(c.day))
			}
			restores := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'restore' AND status = 'committed'`)
			r := h.run(args...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, c.code, r.stdout, r.stderr)
			}
			testkit.Contains(t, "output", r.stderr+r.stdout, c.want...)
			for _, l := range strings.Split(r.stdout, "\n") {
				if strings.HasPrefix(l, "error: ") {
					t.Log(l)
				}
			}
			if i := strings.LastIndex(r.stderr, "archiver: error: "); i >= 0 {
				t.Log(strings.TrimSpace(r.stderr[i:]))
			}
			sameReadings(t, "table after "+c.name, h.cleanRows("true"), keep)
			if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'restore' AND status = 'committed'`); n != restores {
				t.Errorf("a committed restore was recorded")
			}
		})
	}
	// A failed restore is recorded as such, with its error.
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'restore' AND status = 'failed' AND error LIKE '%truncated%'`); n != 1 {
		t.Errorf("%d failed restore rows for the truncated archive, want 1", n)
	}
}

// TestRestoreChecksumMismatch: an archive that differs from its manifest
// is refused; --ignore-checksum restores it, loudly, and records that.
func TestRestoreChecksumMismatch(t *testing.T) {
	h := newHarness(t)
	day, _ := h.archived(38, 37, 2)
	// Replace the object with another valid archive of the same day: one
	// reading less, as if someone had edited it.
	doc := readObject(t, h.dir, rstKey(day))
	i := strings.Index(doc, `{"time"`)
	j := strings.Index(doc[i:], `}, `) + i + 3
	h.rstPutGzip(rstKey(day), doc[:i]+doc[j:])

	r := h.run("restore", "--day", rstDay(day))
	if r.code != cli.ExitPartial {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	testkit.Contains(t, "refusal", r.stderr+r.stdout, "does not match its manifest", "47 readings, manifest #", "recorded 48", "--ignore-checksum")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Fatalf("a mismatching archive imported %d rows", n)
	}

	r = h.mustRun("restore", "--day", rstDay(day), "--ignore-checksum")
	testkit.Contains(t, "ignored", r.stderr, "CHECKSUM MISMATCH IGNORED")
	testkit.Contains(t, "summary", r.stdout, "CHECKSUM MISMATCH IGNORED", "inserted: 47")
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'restore' AND status = 'committed' AND error LIKE 'restored with --ignore-checksum%'`); n != 1 {
		t.Errorf("%d restore rows recording the ignored checksum, want 1", n)
	}
}
