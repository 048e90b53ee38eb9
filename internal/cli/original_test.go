package cli_test

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// originalArchive is what the original Python service wrote: json.dumps of
// a dict built in first-seen order, with isoformat() times ("+00:00"),
// float repr values and sensors not sorted.
func originalArchive(day time.Time) string {
	d := day.Format(time.DateOnly)
	return `{"day": "` + d + `", "data": [` +
		`{"sensor": "zeta", "measurements": [{"time": "` + d + `T00:00:00+00:00", "measurement": 5.0, "qc_flags": 0, "imputation_method": null}, ` +
		`{"time": "` + d + `T00:10:00.250000+00:00", "measurement": 5.8, "qc_flags": 1, "imputation_method": "ARIMA"}]}, ` +
		`{"sensor": "alpha", "measurements": [{"time": "` + d + `T06:00:00+00:00", "measurement": NaN, "qc_flags": 0, "imputation_method": null}]}]}`
}

// TestMergesTheOriginalServicesArchive: a day archived by the original
// service (no manifest, its own formatting) keeps all its readings when late
// rows for that day are archived; the original would have replaced the file
// with the late rows only.
func TestMergesTheOriginalServicesArchive(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	day := h.today().AddDate(0, 0, -40)
	key := day.Format("archives/2006/01/archive-2006-01-02.json.gz")
	path := filepath.Join(h.dir, key)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write([]byte(originalArchive(day))); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	late := []reading{{Sensor: "beta", Time: day.Add(3 * time.Hour), Value: f64(1.25), QCFlags: i64(0)}}
	h.insertClean(late)
	h.mustRun("archive")

	data := readObject(t, h.dir, key)
	d := day.Format(time.DateOnly)
	for _, want := range []string{
		`{"sensor": "alpha", "measurements": [{"time": "` + d + `T06:00:00Z", "measurement": NaN`,
		`{"sensor": "beta", "measurements": [{"time": "` + d + `T03:00:00Z", "measurement": 1.25`,
		`{"sensor": "zeta", "measurements": [{"time": "` + d + `T00:00:00Z", "measurement": 5.0, "qc_flags": 0, "imputation_method": null}, {"time": "` + d + `T00:10:00.25Z", "measurement": 5.8, "qc_flags": 1, "imputation_method": "ARIMA"}]}`,
	} {
		if !strings.Contains(data, want) {
			t.Errorf("merged archive lacks %s\n%s", want, data)
		}
	}
	if strings.Index(data, `"alpha"`) > strings.Index(data, `"beta"`) || strings.Index(data, `"beta"`) > strings.Index(data, `"zeta"`) {
		t.Errorf("sensors not in canonical order:\n%s", data)
	}
	if n := h.count(`SELECT readings FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed'`); n != 4 {
		t.Errorf("manifest records %d readings, want 4 (3 from the old archive + 1 late)", n)
	}
}
