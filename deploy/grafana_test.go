package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/shizuku-labs/archiver/internal/metrics"
)

type grafanaPanel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's panels
}

// TestGrafanaDashboard loads deploy/grafana/archiver.json, parses every
// panel query with the Prometheus parser and checks that it uses only
// series the archiver exports (from the metrics package's registry), and
// that the dashboard has the panels an operator looks for.
func TestGrafanaDashboard(t *testing.T) {
	for _, err := range checkDashboard("grafana/archiver.json") {
		t.Error(err)
	}
}

// TestGrafanaDashboardCatchesMistakes: a misspelt metric, a query that is
// not PromQL and a missing panel are each reported.
func TestGrafanaDashboardCatchesMistakes(t *testing.T) {
	b, err := os.ReadFile("grafana/archiver.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ old, new string }{
		{"archiver_bytes_uploaded_total{", "archiver_bytes_upload_total{"},
		{"histogram_quantile(0.95, sum by (job, backend, le) (", "histogram_quantile(0.95, sum by (job, backend, le) (("},
		{`"title": "Verify results"`, `"title": "Verify"`},
		{`"definition": "label_values(archiver_last_run_timestamp_seconds, job)"`, `"definition": "label_values(archiver_last_runs_timestamp_seconds, job)"`},
		{`"query": "label_values(archiver_last_run_timestamp_seconds, job)"`, `"query": "label_values(archiver_last_run_timestamp_seconds)"`},
	} {
		if strings.Count(string(b), m.old) != 1 {
			t.Fatalf("%q occurs %d times in the dashboard, want once: update the mutation", m.old, strings.Count(string(b), m.old))
		}
		p := t.TempDir() + "/archiver.json"
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), m.old, m.new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if errs := checkDashboard(p); len(errs) == 0 {
			t.Errorf("replacing %q with %q went unnoticed", m.old, m.new)
		}
	}
}

var labelValuesRE = regexp.MustCompile(`^label_values\(([^,]+),\s*[a-zA-Z_]+\)$`)

func checkDashboard(p string) []error {
	b, err := os.ReadFile(p)
	if err != nil {
		return []error{err}
	}
	var dash struct {
		Title      string         `json:"title"`
		Panels     []grafanaPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string          `json:"name"`
				Type       string          `json:"type"`
				Definition string          `json:"definition"`
				Query      json.RawMessage `json:"query"` // a string for a datasource variable
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		return []error{err}
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, errorf(p+": "+format, args...)) }
	known := metrics.Exported()
	check := func(where, expr string) {
		names, err := metricNames(expr)
		if err != nil {
			fail("%s: %q is not PromQL: %v", where, expr, err)
			return
		}
		if len(names) == 0 {
			fail("%s: %q reads no metric", where, expr)
		}
		for _, n := range names {
			if !known[n] {
				fail("%s: %q uses %s, which the archiver does not export", where, expr, n)
			}
		}
	}
	titles := map[string]bool{}
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, pn := range ps {
			titles[pn.Title] = true
			if pn.Type != "row" && len(pn.Targets) == 0 {
				fail("panel %q has no query", pn.Title)
			}
			for _, tg := range pn.Targets {
				check("panel "+pn.Title, tg.Expr)
			}
			walk(pn.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var query struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &query); err != nil {
			fail("variable %s: query: %v", v.Name, err)
		}
		for _, q := range []string{v.Definition, query.Query} {
			m := labelValuesRE.FindStringSubmatch(q)
			if m == nil {
				fail("variable %s: %q is not label_values(metric, label)", v.Name, q)
				continue
			}
			check("variable "+v.Name, m[1])
		}
	}
	for _, want := range []string{
		"Readings archived and purged per run", "Run duration", "Last run succeeded", "Days pending / failed",
		"Bytes uploaded per run", "Upload latency", "Last successful archive run", "Verify results",
		"Last successful verify", "Days by state", "Oldest pending day", "Replica-lag pauses",
	} {
		if !titles[want] {
			fail("no panel %q", want)
		}
	}
	return errs
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
