package verify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/coretest"
	"github.com/shizuku-labs/archiver/internal/verify"
)

// TestAdoptKeepsWhatItDoesNotUnderstand (issue 10, item 4): adopting the
// original service's archive rewrites it in canonical order; fields the
// archiver does not know, on readings and at the top level, are carried
// over, and an archive whose sensor groups hold such fields is left as it
// is (not adopted), with a message saying why.
func TestAdoptKeepsWhatItDoesNotUnderstand(t *testing.T) {
	e := coretest.New(t)
	d := e.Today(t).AddDays(-50)
	ds := d.String()
	key := archivestore.Key(coretest.Prefix, d)
	e.PutGzip(t, key, `{"day": "`+ds+`", "source": {"host": "old-1"}, "data": [`+
		`{"sensor": "s2", "measurements": [{"time": "`+ds+`T00:10:00+00:00", "measurement": 5.0, "qc_flags": 0, "imputation_method": null, "unit": "mm"}]}, `+
		`{"sensor": "s1", "measurements": [{"time": "`+ds+`T00:00:00+00:00", "measurement": 1.5, "qc_flags": 1, "imputation_method": "ARIMA", "flags": [1, 2]}]}], `+
		`"archived_at": "2025-02-15T02:00:00"}`)
	d2 := d.AddDays(1)
	key2 := archivestore.Key(coretest.Prefix, d2)
	orig2 := `{"day": "` + d2.String() + `", "data": [{"sensor": "s2", "unit": "mm", "measurements": [{"time": "` + d2.String() + `T00:10:00Z", "measurement": 1.0}]}, ` +
		`{"sensor": "s1", "measurements": [{"time": "` + d2.String() + `T00:00:00Z", "measurement": 2.0}]}]}`
	e.PutGzip(t, key2, orig2)

	rep, err := verifier(e).Run(context.Background(), verify.Options{Adopt: true, Deep: true})
	if err != nil {
		t.Fatal(err)
	}
	st := findings(rep)
	if st[key] != verify.StatusAdopted {
		t.Fatalf("%s: %s\n%+v", key, st[key], rep.Findings)
	}
	got := e.ReadGzip(t, key)
	for _, w := range []string{`"unit": "mm"`, `"flags": [1, 2]`, `"source": {"host": "old-1"}`, `"archived_at": "2025-02-15T02:00:00"`} {
		if !strings.Contains(got, w) {
			t.Errorf("adopted archive lost %s:\n%s", w, got)
		}
	}
	if !strings.HasPrefix(got, `{"day": "`+ds+`", "data": [{"sensor": "s1"`) {
		t.Errorf("not rewritten in canonical order:\n%s", got)
	}
	if st[key2] == verify.StatusAdopted {
		t.Errorf("%s with sensor-group fields was adopted", key2)
	}
	if got := e.ReadGzip(t, key2); got != orig2 {
		t.Errorf("%s was rewritten:\n%s", key2, got)
	}
	for _, f := range rep.Findings {
		if f.Key == key2 && !strings.Contains(f.Message, "unit") {
			t.Errorf("message does not name the field: %s", f.Message)
		}
	}
}
