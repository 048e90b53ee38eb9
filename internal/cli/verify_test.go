package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// verifyReport is the JSON of `archiver verify --format json`.
type verifyReport struct {
	OK        bool           `json:"ok"`
	Deep      bool           `json:"deep"`
	Manifests int            `json:"manifests_checked"`
	Objects   int            `json:"objects_listed"`
	Counts    map[string]int `json:"counts"`
	Findings  []struct {
		Day        *string `json:"day"`
		Key        string  `json:"key"`
		Status     string  `json:"status"`
		Severity   string  `json:"severity"`
		ManifestID *int64  `json:"manifest_id"`
		Message    string  `json:"message"`
	} `json:"findings"`
}

func (h *harness) verifyJSON(args ...string) (verifyReport, result) {
	h.t.Helper()
	r := h.run(append([]string{"verify", "--format", "json"}, args...)...)
	var rep verifyReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		h.t.Fatalf("verify JSON: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	return rep, r
}

func (rep verifyReport) status(key string) string {
	for _, f := range rep.Findings {
		if f.Key == key {
			return f.Status
		}
	}
	return "ok"
}

// TestVerifyFindsMissingModifiedAndOrphan: a deleted object is missing, a
// modified one corrupt (by size without --deep, by checksum with it), an
// object no manifest knows is an orphan; exit 1 for the first two.
func TestVerifyFindsMissingModifiedAndOrphan(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	h.insertClean(sample(today, 40, 36, 2)) // 4 days
	h.mustRun("archive")

	r := h.mustRun("verify")
	testkit.Contains(t, "clean verify", r.stdout, "Verified 4 manifests", "4 ok, 0 missing, 0 corrupt")
	r = h.mustRun("verify", "--deep")
	testkit.Contains(t, "clean deep verify", r.stdout, "(deep: sha256, readings, day and time bounds)", "4 ok")
	metricsFile := filepath.Join(t.TempDir(), "archiver.prom")
	h.mustRun("verify", "--metrics-file", metricsFile)
	clean, err := os.ReadFile(filepath.Join(filepath.Dir(metricsFile), "archiver-verify.prom"))
	if err != nil {
		t.Fatal(err)
	}

	deleted, flipped, truncated, intact := today.AddDate(0, 0, -40), today.AddDate(0, 0, -39), today.AddDate(0, 0, -38), today.AddDate(0, 0, -37)
	if err := os.Remove(filepath.Join(h.dir, filepath.FromSlash(rstKey(deleted)))); err != nil {
		t.Fatal(err)
	}
	b := h.rstObject(rstKey(flipped))
	b[len(b)/2] ^= 0xff // same size, other bytes
	h.rstPutObject(rstKey(flipped), b)
	b = h.rstObject(rstKey(truncated))
	h.rstPutObject(rstKey(truncated), b[:len(b)-100])
	orphanDay := time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	doc, _ := rstPythonArchive(orphanDay)
	h.rstPutGzip(rstKey(orphanDay), doc)

	// Without --deep: existence and size. Its metrics say what it found,
	// and it is no success: the last-success time stays the clean run's.
	r = h.run("verify", "--metrics-file", metricsFile)
	if r.code != cli.ExitPartial {
		t.Fatalf("verify exit %d, want %d\n%s\n%s", r.code, cli.ExitPartial, r.stdout, r.stderr)
	}
	prom, err := os.ReadFile(filepath.Join(filepath.Dir(metricsFile), "archiver-verify.prom"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`archiver_verify_objects{status="missing"} 1`, `archiver_verify_objects{status="corrupt"} 1`,
		`archiver_verify_objects{status="ok"} 2`, `archiver_verify_objects{status="orphan"} 1`, `archiver_last_run_success{command="verify"} 0`,
		`archiver_verify_deep{command="verify"} 0`, lastSuccessLine(t, clean)} {
		if !strings.Contains(string(prom), want) {
			t.Errorf("verify metrics after finding problems lack %q:\n%s", want, prom)
		}
	}
	r = h.run("verify")
	if r.code != cli.ExitPartial {
		t.Fatalf("verify exit %d, want %d\n%s\n%s", r.code, cli.ExitPartial, r.stdout, r.stderr)
	}
	testkit.Contains(t, "verify", r.stdout, "ERROR    "+rstDay(deleted)+"  missing", rstKey(deleted)+" recorded by manifest #",
		"is missing from storage", "ERROR    "+rstDay(truncated)+"  corrupt", "WARNING  2024-02-29  orphan",
		"`archiver verify --adopt`", "2 ok, 1 missing, 1 corrupt, 0 pending, 1 orphan")
	if strings.Contains(r.stdout, rstKey(flipped)) {
		t.Errorf("a same-size change was reported without --deep (it cannot be seen by size):\n%s", r.stdout)
	}

	// With --deep: the checksum catches the same-size change.
	rep, r := h.verifyJSON("--deep")
	if r.code != cli.ExitPartial || rep.OK || !rep.Deep {
		t.Fatalf("deep verify: exit %d ok %t\n%s", r.code, rep.OK, r.stdout)
	}
	want := map[string]string{rstKey(deleted): "missing", rstKey(flipped): "corrupt", rstKey(truncated): "corrupt",
		rstKey(orphanDay): "orphan", rstKey(intact): "ok"}
	for key, status := range want {
		if got := rep.status(key); got != status {
			t.Errorf("%s: status %s, want %s", key, got, status)
		}
	}
	if rep.Counts["ok"] != 1 || rep.Counts["missing"] != 1 || rep.Counts["corrupt"] != 2 || rep.Counts["orphan"] != 1 || rep.Manifests != 4 || rep.Objects != 4 {
		t.Errorf("counts %v, manifests %d, objects %d", rep.Counts, rep.Manifests, rep.Objects)
	}
	for _, f := range rep.Findings {
		if f.Key == rstKey(flipped) && (f.Severity != "error" || f.ManifestID == nil || f.Day == nil || *f.Day != rstDay(flipped)) {
			t.Errorf("finding for the modified object: %+v", f)
		}
	}

	// --from/--to limit the check to those days.
	rep, r = h.verifyJSON("--deep", "--from", rstDay(intact), "--to", rstDay(intact))
	if r.code != 0 || rep.Manifests != 1 || len(rep.Findings) != 0 {
		t.Errorf("verify of the intact day: exit %d, %+v", r.code, rep)
	}
}

// TestVerifyOrphansAreWarnings: orphans alone exit 0, unless --strict.
func TestVerifyOrphansAreWarnings(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	day := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	doc, _ := rstPythonArchive(day)
	h.rstPutGzip(rstKey(day), doc)
	h.rstPutObject("archives/notes.txt", []byte("not an archive"))
	r := h.mustRun("verify", "--deep")
	testkit.Contains(t, "verify", r.stdout, "WARNING  2024-03-01  orphan", "it reads fine: 7 readings, 3 sensors",
		"archives/notes.txt is under the archive prefix", "1 orphan, 1 stray")
	r = h.run("verify", "--strict")
	if r.code != cli.ExitPartial {
		t.Errorf("verify --strict with an orphan: exit %d, want %d", r.code, cli.ExitPartial)
	}
	r = h.run("verify", "--from", "2024-13-01")
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, `invalid --from "2024-13-01"`) {
		t.Errorf("bad --from: exit %d\n%s", r.code, r.stderr)
	}
	r = h.run("verify", "--from", "2024-03-02", "--to", "2024-03-01")
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "--from 2024-03-02 is after --to 2024-03-01") {
		t.Errorf("--from after --to: exit %d\n%s", r.code, r.stderr)
	}
}

// TestVerifyAdoptThenArchiveMerges: --adopt validates an orphan of the
// original service, rewrites it in canonical order and records an 'adopt'
// manifest; a later archive run then merges late rows into it as into its
// own archive, and restore finds it through that manifest.
func TestVerifyAdoptThenArchiveMerges(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	day := h.today().AddDate(0, 0, -35)
	doc, orig := rstPythonArchive(day)
	h.rstPutGzip(rstKey(day), doc)
	// An orphan that does not decode is not adopted, and is an error.
	bad := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	h.rstPutGzip(rstKey(bad), `{"day": "2024-01-03", "data": []}`)

	rep, r := h.verifyJSON("--adopt")
	if r.code != cli.ExitPartial || rep.status(rstKey(day)) != "adopted" || rep.status(rstKey(bad)) != "corrupt" {
		t.Fatalf("verify --adopt: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	os.Remove(filepath.Join(h.dir, filepath.FromSlash(rstKey(bad))))

	var sha string
	var readings, size int64
	err := h.conn.QueryRow(context.Background(), `SELECT sha256, readings, bytes FROM archiver.archive_runs
		WHERE kind = 'adopt' AND status = 'committed' AND day = $1::date AND object_key = $2 AND location = $3`,
		rstDay(day), rstKey(day), h.bucket).Scan(&sha, &readings, &size)
	if err != nil {
		t.Fatalf("adopt manifest: %v", err)
	}
	obj := h.rstObject(rstKey(day))
	sum := sha256.Sum256(obj)
	if hex.EncodeToString(sum[:]) != sha || readings != int64(len(orig)) || size != int64(len(obj)) {
		t.Errorf("adopt manifest: sha %s readings %d bytes %d; object sha %x, %d bytes; want %d readings", sha, readings, size, sum, len(obj), len(orig))
	}
	// Rewritten in canonical order, same readings.
	for key, d := range h.archives() {
		if key != rstKey(day) {
			continue
		}
		for i := 1; i < len(d.Data); i++ {
			if d.Data[i-1].Sensor >= d.Data[i].Sensor {
				t.Errorf("adopted archive not in canonical order: %s before %s", d.Data[i-1].Sensor, d.Data[i].Sensor)
			}
		}
		sameReadings(t, "adopted archive", d.readings(t), orig)
	}
	r = h.mustRun("verify", "--deep")
	testkit.Contains(t, "verify after adopt", r.stdout, "Verified 1 manifests", "1 ok, 0 missing, 0 corrupt, 0 pending, 0 orphan")

	r = h.mustRun("restore", "--day", rstDay(day), "--dry-run")
	testkit.Contains(t, "restore of the adopted day", r.stdout, "manifest #")

	late := []reading{
		{Sensor: "beta", Time: day.Add(5 * time.Hour), Value: f64(2.5), QCFlags: i64(0)},
		{Sensor: "alpha", Time: day.Add(90 * time.Minute), Value: nil, QCFlags: i64(3)},
	}
	h.insertClean(late)
	r = h.mustRun("archive")
	testkit.Contains(t, "archive after adopt", r.stderr, "Created archive for "+rstDay(day))
	docs := h.archives()
	sameReadings(t, "merged archive", docs[rstKey(day)].readings(t), append(append([]reading{}, orig...), late...))
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows left", n)
	}
	h.mustRun("verify", "--deep", "--strict")
}

// TestVerifyPending: the merged archive uploaded by a run that stopped
// before committing is "pending", not corrupt; a smaller replacement is
// corrupt.
func TestVerifyPending(t *testing.T) {
	h := newHarness(t)
	day, _ := h.archivedDay()
	key := rstKey(day)

	// A run read late rows, uploaded the merged archive and crashed.
	late := []reading{{Sensor: "sensor-00", Time: day.Add(time.Second), Value: f64(7), QCFlags: i64(0)}}
	h.insertClean(late)
	h.rstRewrite(key, day, late, 0)
	for _, args := range [][]string{{"verify"}, {"verify", "--deep"}} {
		rep, r := h.verifyJSON(args[1:]...)
		if r.code != 0 || rep.status(key) != "pending" || rep.Counts["pending"] != 1 {
			t.Errorf("%v after a crashed merge: exit %d status %s\n%s", args, r.code, rep.status(key), r.stdout)
		}
	}
	h.mustRun("archive") // finishes it
	rep, _ := h.verifyJSON("--deep")
	if rep.status(key) != "ok" || !rep.OK {
		t.Errorf("after the archive run: %+v", rep)
	}

	// A failed run recorded the checksum of what it uploaded; the table
	// has no rows of the day (they are in the object, awaiting a retry).
	more := []reading{{Sensor: "sensor-01", Time: day.Add(2 * time.Second), Value: f64(8), QCFlags: i64(1)}}
	sha := h.rstRewrite(key, day, more, 0)
	_, err := h.conn.Exec(context.Background(), `INSERT INTO archiver.archive_runs (run_id, kind, status, day, object_key, location, sha256, error, started_at)
		VALUES (gen_random_uuid(), 'archive', 'failed', $1::date, $2, $3, $4, 'delete: connection reset', now())`, rstDay(day), key, h.bucket, sha)
	if err != nil {
		t.Fatal(err)
	}
	rep, r := h.verifyJSON("--deep")
	if r.code != 0 || rep.status(key) != "pending" {
		t.Errorf("object recorded by a failed run: exit %d status %s\n%s", r.code, rep.status(key), r.stdout)
	}
	testkit.Contains(t, "pending message", r.stdout, "uploaded by failed run", "connection reset")

	// Fewer readings than the manifest, and nothing explains it: corrupt.
	h.rstRewrite(key, day, nil, 3)
	rep, r = h.verifyJSON()
	if r.code != cli.ExitPartial || rep.status(key) != "corrupt" {
		t.Errorf("smaller object: exit %d status %s\n%s", r.code, rep.status(key), r.stdout)
	}
}

// rstRewrite replaces the day's archive with its readings plus add, minus
// the first drop ones, in canonical form, and returns the new sha256.
func (h *harness) rstRewrite(key string, day time.Time, add []reading, drop int) string {
	h.t.Helper()
	ar, err := archivefile.NewReader(bytes.NewReader(h.rstObject(key)), archivefile.Limits{})
	if err != nil {
		h.t.Fatal(err)
	}
	var rs []measure.Reading
	for {
		r, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			h.t.Fatal(err)
		}
		rs = append(rs, *r)
	}
	rs = rs[drop:]
	for _, r := range add {
		a := measure.Reading{Sensor: r.Sensor, Time: r.Time.UTC()}
		if r.Value != nil {
			a.Value = sql.NullFloat64{Float64: *r.Value, Valid: true}
		}
		if r.QCFlags != nil {
			a.QCFlags = sql.NullInt64{Int64: *r.QCFlags, Valid: true}
		}
		if r.Imputation != nil {
			a.Imputation = sql.NullString{String: *r.Imputation, Valid: true}
		}
		rs = append(rs, a)
	}
	rs = measure.SortReadings(rs)
	var buf bytes.Buffer
	w, err := archivefile.NewWriter(&buf, measure.DayOf(day), 6)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := range rs {
		if err := w.Write(&rs[i]); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.rstPutObject(key, buf.Bytes())
	return w.Stats().SHA256
}

// lastSuccessLine is the verify's last-success series line in a textfile.
func lastSuccessLine(t *testing.T, prom []byte) string {
	t.Helper()
	for _, l := range strings.Split(string(prom), "\n") {
		if strings.HasPrefix(l, `archiver_last_success_timestamp_seconds{command="verify"}`) {
			return l
		}
	}
	t.Fatalf("no verify last-success series in:\n%s", prom)
	return ""
}
