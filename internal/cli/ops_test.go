package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsTextfile: a run writes its counts and a last-success time for
// node_exporter; a dry run writes nothing, metrics included.
func TestMetricsTextfile(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	rows := sample(h.today(), 33, 31, 2)
	h.insertClean(rows)
	path := filepath.Join(t.TempDir(), "archiver.prom")

	h.mustRun("archive", "--dry-run", "--metrics-file", path)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("dry run wrote the metrics file: %v", err)
	}

	h.mustRun("archive", "--metrics-file", path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("textfile does not parse: %v", err)
	}
	value := func(name string) float64 {
		mf, ok := families[name]
		if !ok || len(mf.Metric) == 0 {
			t.Fatalf("metric %s missing; have %v", name, keysOf(families))
		}
		m := mf.Metric[0]
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
		return -1
	}
	if got := value("archiver_readings_archived_total"); got != float64(len(rows)) {
		t.Errorf("readings archived %v, want %d", got, len(rows))
	}
	if got := value("archiver_archives_written_total"); got != 2 {
		t.Errorf("archives written %v, want 2", got)
	}
	if value("archiver_last_success_timestamp_seconds") <= 0 {
		t.Error("no last success timestamp")
	}
}

func keysOf[V any](m map[string]V) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return strings.Join(out, ", ")
}

// TestRestoreMetrics: a restore and a verify report what they did, under
// their own command label and in their own textfiles, so they never replace
// or stand in for the archive run's series.
func TestRestoreMetrics(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	rows := sample(h.today(), 33, 32, 2)
	h.insertClean(rows)
	path := filepath.Join(t.TempDir(), "archiver.prom")
	h.mustRun("archive", "--metrics-file", path)
	day := h.today().AddDate(0, 0, -33).Format("2006-01-02")
	h.mustRun("restore", "--day", day, "--metrics-file", path)
	h.mustRun("verify", "--deep", "--metrics-file", path)
	archive, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(archive), `archiver_last_success_timestamp_seconds{command="archive"}`) || strings.Contains(string(archive), `command="restore"`) || strings.Contains(string(archive), "verify_objects") {
		t.Errorf("the archive run's textfile was replaced or mixed with another command's:\n%s", archive)
	}
	data, err := os.ReadFile(filepath.Join(filepath.Dir(path), "archiver-restore.prom"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"archiver_readings_restored_total 48", `archiver_last_success_timestamp_seconds{command="restore"}`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("restore metrics lack %q:\n%s", want, data)
		}
	}
	data, err = os.ReadFile(filepath.Join(filepath.Dir(path), "archiver-verify.prom"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`archiver_verify_objects{status="ok"} 1`, `archiver_verify_objects{status="missing"} 0`,
		`archiver_verify_objects{status="corrupt"} 0`, `archiver_verify_deep{command="verify"} 1`,
		`archiver_last_success_timestamp_seconds{command="verify"}`, `archiver_last_run_success{command="verify"} 1`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("verify metrics lack %q:\n%s", want, data)
		}
	}
}
