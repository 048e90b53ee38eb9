package archivefile

import (
	"bytes"
	"testing"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// fuzzSeeds are JSON documents that exercise the reader's main paths; the
// fuzzer gets each both as raw bytes and gzipped.
var fuzzSeeds = []string{
	`{"day": "2025-01-15", "data": []}`,
	`{"day": "2025-01-15", "data": [{"sensor": "s1", "measurements": [{"time": "2025-01-15T00:00:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null}, {"time": "2025-01-15T00:10:00.123456Z", "measurement": NaN, "qc_flags": null, "imputation_method": "ARIMA"}]}]}`,
	`{"data": [{"sensor": "b", "measurements": [{"time": "2025-01-15T01:00:00+01:00", "measurement": -Infinity}]}, {"sensor": "a", "x": {"y": [1, "z"]}, "measurements": [{"time": "2025-01-15 23:59:59.999999999", "measurement": 1e-05, "imputation_method": "\u00e9\ud83d\ude00\"\\"}]}], "day": "2025-01-15"}`,
	`{"day": "2025-01-15", "data": [{"sensor": "s", "measurements": [{"time": "2025-01-16T00:00:00Z"}]}]}`,
	"{\n  \"day\": \"2024-02-29\",\n  \"data\": [\n    {\n      \"sensor\": \"s\",\n      \"measurements\": [\n        {\"time\": \"2024-02-29T12:00:00-00:30\", \"measurement\": 5, \"qc_flags\": -0}\n      ]\n    }\n  ]\n}\n",
}

func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), true)
		f.Add(gz(f, s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, wrap bool) {
		if wrap {
			data = gz(t, string(data))
		}
		lim := Limits{MaxUncompressedBytes: 1 << 20, MaxReadings: 1 << 14}
		got, r, err := decode(data, lim)
		if err != nil {
			return // rejecting is fine; panicking or hanging is not
		}
		day := r.Day()
		if day.IsZero() {
			t.Fatal("accepted an archive without a day")
		}
		sorted := measure.SortReadings(append([]measure.Reading(nil), got...))
		if r.Canonical() {
			sameReadings(t, sorted, got)
		}
		// Whatever is accepted must re-encode, and read back the same.
		var buf bytes.Buffer
		w, err := NewWriter(&buf, day, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i := range sorted {
			if err := w.Write(&sorted[i]); err != nil {
				t.Fatalf("re-encoding reading %d: %v", i, err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		again, r2, err := decode(buf.Bytes(), Limits{})
		if err != nil {
			t.Fatalf("re-reading the re-encoded archive: %v", err)
		}
		sameReadings(t, again, sorted)
		if r2.Day() != day || !r2.Canonical() {
			t.Fatalf("re-read day %v canonical %v", r2.Day(), r2.Canonical())
		}
		if st := r2.Stats(); st.SHA256 != w.Stats().SHA256 || st.Readings != int64(len(sorted)) {
			t.Fatalf("stats differ: %+v vs %+v", st, w.Stats())
		}
	})
}
