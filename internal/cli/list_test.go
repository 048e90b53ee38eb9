package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// listFields is the JSON contract of `archiver list --format json`: every
// entry has every one of these keys.
var listFields = []string{"id", "run_id", "kind", "status", "day", "object_key", "location", "source_table",
	"readings", "sensors", "bytes", "sha256", "min_time", "max_time", "rows_deleted", "rows_inserted",
	"rows_present", "format_version", "error", "host", "os_user", "started_at", "finished_at"}

// TestListShowsDaysRunsAndFailures: the table groups archives, restores and
// failed runs by day; the JSON holds every row, purges included, with every
// field of the contract.
func TestListShowsDaysRunsAndFailures(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	h.insertClean(sample(today, 37, 35, 2)) // two days
	h.mustRun("archive")
	d1, d2 := today.AddDate(0, 0, -37), today.AddDate(0, 0, -36)
	h.mustRun("restore", "--day", rstDay(d1))
	// A failed restore of a day whose object is damaged.
	broken := time.Date(2024, 5, 5, 0, 0, 0, 0, time.UTC)
	h.rstPutGzip(rstKey(broken), `{"day": "2024-05-05", "data": [{"sensor": `)
	if r := h.run("restore", "--day", "2024-05-05"); r.code != cli.ExitPartial {
		t.Fatalf("restore of a broken archive: exit %d", r.code)
	}

	r := h.mustRun("list")
	sha := h.rstSHA(d1)
	lines := strings.Split(r.stdout, "\n")
	testkit.Contains(t, "list", r.stdout, "DAY", "SHA256", "LOCATION", "WHEN", sha[:12], h.bucket,
		"2024-05-05  restore  failed", "error: archive archives/2024/05/archive-2024-05-05.json.gz cannot be restored",
		rstDay(d1)+"  archive  committed  48", "rows deleted", "restore  committed", "restored into shizuku.clean_measurements: 48 inserted, 0 already present",
		rstDay(d2)+"  archive  committed  48", "3 days, 4 rows", "1 raw purge runs")
	if strings.Contains(r.stdout, sha) {
		t.Errorf("the table shows the whole sha256, want its 12-character prefix:\n%s", r.stdout)
	}
	// Grouped: the restore row of d1 follows its archive row without repeating the day.
	for i, l := range lines {
		if strings.HasPrefix(l, rstDay(d1)+"  archive") && (i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "   ") || !strings.Contains(lines[i+1], "restore")) {
			t.Errorf("restore of %s not grouped under its archive:\n%s", rstDay(d1), r.stdout)
		}
	}

	r = h.mustRun("list", "--format", "json")
	var out struct {
		From, To *string
		Entries  []map[string]any
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("list JSON: %v\n%s", err, r.stdout)
	}
	kinds := map[string]int{}
	for _, e := range out.Entries {
		for _, f := range listFields {
			if _, ok := e[f]; !ok {
				t.Errorf("entry %v lacks field %q", e["id"], f)
			}
		}
		kinds[e["kind"].(string)+"/"+e["status"].(string)]++
	}
	if kinds["archive/committed"] != 2 || kinds["restore/committed"] != 1 || kinds["restore/failed"] != 1 || kinds["purge/committed"] != 1 {
		t.Errorf("entries by kind/status: %v", kinds)
	}
	if out.From != nil || out.To != nil {
		t.Errorf("from/to without flags: %v %v", out.From, out.To)
	}

	// A day range keeps only that day's rows.
	r = h.mustRun("list", "--format", "json", "--from", rstDay(d2), "--to", rstDay(d2))
	out.Entries = nil
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Entries) != 1 || out.Entries[0]["day"] != rstDay(d2) || out.Entries[0]["sha256"] != h.rstSHA(d2) || out.From == nil || *out.From != rstDay(d2) {
		t.Errorf("list of %s: %s", rstDay(d2), r.stdout)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "--from", "2025-02-30"}, `invalid --from "2025-02-30": no such calendar date`},
		{[]string{"list", "--to", "yesterday"}, `invalid --to "yesterday"`},
		{[]string{"list", "--from", "2025-02-02", "--to", "2025-02-01"}, "--from 2025-02-02 is after --to 2025-02-01"},
		{[]string{"list", "--format", "xml"}, `invalid --format "xml": use table or json`},
	} {
		r := h.run(c.args...)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr:\n%s", c.args, r.code, r.stderr)
		}
	}
}
