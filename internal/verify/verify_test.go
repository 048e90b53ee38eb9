package verify

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/shizuku-labs/archiver/internal/archivefile"
)

func TestReportFailed(t *testing.T) {
	for _, c := range []struct {
		counts         map[Status]int
		normal, strict bool
	}{
		{map[Status]int{StatusOK: 3}, false, false},
		{map[Status]int{StatusOK: 3, StatusPending: 1, StatusAdopted: 2}, false, false},
		{map[Status]int{StatusOrphan: 1}, false, true},
		{map[Status]int{StatusStray: 1}, false, true},
		{map[Status]int{StatusSkipped: 1}, false, true},
		{map[Status]int{StatusMissing: 1}, true, true},
		{map[Status]int{StatusCorrupt: 1}, true, true},
	} {
		r := Report{Counts: c.counts}
		if r.Failed(false) != c.normal || r.Failed(true) != c.strict {
			t.Errorf("%v: Failed(false)=%t Failed(true)=%t, want %t %t", c.counts, r.Failed(false), r.Failed(true), c.normal, c.strict)
		}
	}
	if StatusMissing.Severity() != "error" || StatusPending.Severity() != "warning" || StatusAdopted.Severity() != "info" {
		t.Error("severities")
	}
}

const pythonDoc = `{"day": "2024-02-29", "data": [` +
	`{"sensor": "zeta", "measurements": [{"time": "2024-02-29T00:00:00+00:00", "measurement": 5.0, "qc_flags": 0, "imputation_method": null}, ` +
	`{"time": "2024-02-29T00:10:00+00:00", "measurement": 5.8, "qc_flags": 0, "imputation_method": "ARIMA"}]}, ` +
	`{"sensor": "alpha", "measurements": [{"time": "2024-02-29T06:00:00+00:00", "measurement": NaN, "qc_flags": 0, "imputation_method": null}, ` +
	`{"time": "2024-02-29T06:00:00+00:00", "measurement": NaN, "qc_flags": 0, "imputation_method": null}]}]}`

// TestCanonicalize rewrites an original-service archive in canonical order
// with the same distinct readings, and leaves the object untouched when it
// cannot.
func TestCanonicalize(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(pythonDoc))
	zw.Close()
	const key = "archives/2024/02/archive-2024-02-29.json.gz"
	if err := b.WriteAll(ctx, key, gz.Bytes(), nil); err != nil {
		t.Fatal(err)
	}
	d, _ := archivefile.ParseDay("2024-02-29")

	v := &Verifier{Bucket: b, Limits: archivefile.Limits{MaxReadings: 2}}
	if _, err := v.canonicalize(ctx, d, key); !errors.Is(err, archivefile.ErrLimit) {
		t.Fatalf("over the limit: %v", err)
	}
	if got, _ := b.ReadAll(ctx, key); !bytes.Equal(got, gz.Bytes()) {
		t.Fatal("a failed rewrite changed the object")
	}

	v.Limits = archivefile.Limits{}
	st, err := v.canonicalize(ctx, d, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Readings != 3 || st.Sensors != 2 {
		t.Errorf("rewrote %d readings of %d sensors, want 3 of 2", st.Readings, st.Sensors)
	}
	data, _ := b.ReadAll(ctx, key)
	ar, err := archivefile.NewReader(bytes.NewReader(data), archivefile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var sensors []string
	for {
		r, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sensors = append(sensors, r.Sensor)
	}
	if !ar.Canonical() || ar.Stats().SHA256 != st.SHA256 || len(sensors) != 3 || sensors[0] != "alpha" {
		t.Errorf("rewritten object: canonical %t, sensors %v", ar.Canonical(), sensors)
	}
}
