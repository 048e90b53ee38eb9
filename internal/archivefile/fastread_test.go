package archivefile

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// decodeBoth reads data with the canonical fast path on and off and fails
// the test if anything differs: readings (bit for bit), error, stats, day.
func decodeBoth(t *testing.T, data []byte, lim Limits) {
	t.Helper()
	type result struct {
		rs        []measure.Reading
		err       string
		stats     Stats
		day       measure.Day
		canonical bool
	}
	run := func(fast bool) result {
		fastPath = fast
		defer func() { fastPath = true }()
		rs, r, err := decode(data, lim)
		var res result
		res.rs = rs
		if err != nil {
			res.err = err.Error()
		}
		if r != nil {
			res.stats, res.day, res.canonical = r.Stats(), r.Day(), r.Canonical()
		}
		return res
	}
	slow, fast := run(false), run(true)
	if slow.err != fast.err {
		t.Fatalf("error differs:\n slow: %s\n fast: %s", slow.err, fast.err)
	}
	if slow.stats != fast.stats || slow.day != fast.day || slow.canonical != fast.canonical {
		t.Fatalf("stats differ:\n slow: %+v %v %v\n fast: %+v %v %v", slow.stats, slow.day, slow.canonical, fast.stats, fast.day, fast.canonical)
	}
	if len(slow.rs) != len(fast.rs) {
		t.Fatalf("slow read %d readings, fast %d", len(slow.rs), len(fast.rs))
	}
	for i := range slow.rs {
		a, b := slow.rs[i], fast.rs[i]
		if a.Sensor != b.Sensor || !a.Time.Equal(b.Time) || a.Time.Location() != b.Time.Location() ||
			a.Value.Valid != b.Value.Valid || math.Float64bits(a.Value.Float64) != math.Float64bits(b.Value.Float64) ||
			a.ValueText != b.ValueText || a.QCFlags != b.QCFlags || a.Imputation != b.Imputation ||
			a.Extra != b.Extra || a.Other != b.Other {
			t.Fatalf("reading %d differs:\n slow: %+v\n fast: %+v", i, a, b)
		}
	}
}

// Canonical archives, hand-made near-canonical ones and broken ones read
// the same with and without the fast path.
func TestCanonicalFastPathReadsTheSame(t *testing.T) {
	day := measure.MustParseDay("2025-01-15")
	rs := benchReadings(day, 20000)
	rs = append(rs,
		measure.Reading{Sensor: "zz", Time: day.Start(), Value: fl(math.NaN()), Imputation: imp("")},
		measure.Reading{Sensor: "zz", Time: day.Start().Add(1), Value: fl(math.Inf(1)), QCFlags: qc(-7)},
		measure.Reading{Sensor: "zz", Time: day.Start().Add(2000), Value: fl(math.Inf(-1)), Imputation: imp("é \"q\" \\ \n")},
		measure.Reading{Sensor: "zz", Time: day.Start().Add(3000), Value: fl(1e-7)},
		measure.Reading{Sensor: "zz", Time: day.Start().Add(4000), Value: fl(-1.5e300), QCFlags: qc(math.MaxInt64)},
		measure.Reading{Sensor: "zz", Time: day.Start().Add(5000), Imputation: imp(string(bytes.Repeat([]byte("m"), 100)))},
		// The members realtables added: exact values, the extra object, other tools' members.
		measure.Reading{Sensor: "zz", Time: day.Start().Add(6000), Value: fl(123456789.12345679), ValueText: "123456789.123456789", Extra: `{"batch": 7, "note": "x\u00e9"}`},
		measure.Reading{Sensor: "zz", Time: day.Start().Add(7000), Value: fl(math.Copysign(0, -1)), Extra: `{"a": null}`, Other: `"z": [1, {"y": 2}]`},
		measure.Reading{Sensor: "zz", Time: day.Start().Add(8000), Value: fl(42), ValueText: "42", Imputation: imp("ARIMA"), Other: `"w": "v"`},
		measure.Reading{Sensor: "zz", Time: day.Start().Add(9000), Extra: `{"long": "` + string(bytes.Repeat([]byte("e"), 3000)) + `"}`},
	)
	for _, level := range []int{0, 1, 6} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, day, level)
		if err != nil {
			t.Fatal(err)
		}
		for i := range rs {
			if err := w.Write(&rs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		decodeBoth(t, buf.Bytes(), Limits{})
		decodeBoth(t, buf.Bytes(), Limits{MaxReadings: 1000})
		decodeBoth(t, buf.Bytes(), Limits{MaxUncompressedBytes: 100000})
		// Truncated and corrupted objects.
		data := buf.Bytes()
		decodeBoth(t, data[:len(data)/2], Limits{})
		bad := bytes.Clone(data)
		bad[len(bad)-5] ^= 0xff
		decodeBoth(t, bad, Limits{})
	}
	const r0 = `{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null}`
	for i, reading := range []string{
		r0,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": "ARIMA"}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": "A\"B"}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": "A` + "\x01" + `"}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": "é"}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": 7}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0.5, "imputation_method": null}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 99999999999999999999, "imputation_method": null}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 1e999, "qc_flags": 0, "imputation_method": null}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": true, "qc_flags": 0, "imputation_method": null}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 05, "qc_flags": 0, "imputation_method": null}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": -, "qc_flags": 0, "imputation_method": null}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": null, "imputation_method": null, "x": 1}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": nul}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null `,
		`{"time": "2025-01-16T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null}`,
		`{"time": "2025-01-15T00:10:00+01:00", "measurement": 5.2, "qc_flags": 0, "imputation_method": null}`,
		`{"time": "2025-01-15T25:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null}`,
		`{"time": "2025-01-15T00:10:00Z","measurement": 5.2, "qc_flags": 0, "imputation_method": null}`,
		`{"measurement": 5.2, "time": "2025-01-15T00:10:00Z", "qc_flags": 0, "imputation_method": null}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null, "time": "2025-01-15T00:10:00Z"}`,
		`{"time": "2025-01-15T00:10:00.1234567891Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": ` + string(bytes.Repeat([]byte("1"), 1100)) + `, "qc_flags": 0, "imputation_method": null}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null, "extra": {"b": 1, "a": "x"}}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": "M", "extra": {"b": 1}, "other": [true]}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null, "extra": 5}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null, "extra": {"b": }}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null, "extra": {}, "extra": {}}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null, "qc_flags": 1}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": nullx}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null"x": 1}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": "A"  }`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": "A"x}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": 123456789.123456789, "qc_flags": 0, "imputation_method": null}`,
		`{"time": "2025-01-15T00:10:00Z", "measurement": -0.0, "qc_flags": 0, "imputation_method": null}`,
	} {
		doc := fmt.Sprintf(`{"day": "2025-01-15", "data": [{"sensor": "s", "measurements": [%s, %s]}]}`, r0, reading)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			decodeBoth(t, gz(t, doc), Limits{})
			decodeBoth(t, gz(t, doc), Limits{MaxUncompressedBytes: int64(len(doc) - 3)})
		})
	}
}

// FuzzCanonicalFastPath: for any input, the fast path reads exactly what the
// general parser reads and refuses exactly what it refuses.
func FuzzCanonicalFastPath(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), true)
	}
	day := measure.MustParseDay("2025-01-15")
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, day, 1)
	rs := benchReadings(day, 300)
	for i := range rs {
		if i%3 == 0 {
			rs[i].Extra = fmt.Sprintf(`{"n": %d, "s": "x"}`, i) // the realtables members take the fast path too
		}
		if i%7 == 0 {
			rs[i].Other = `"o": [1]`
		}
		_ = w.Write(&rs[i])
	}
	_ = w.Close()
	f.Add(buf.Bytes(), false)
	f.Add([]byte(gunzip(f, buf.Bytes())), true)
	f.Fuzz(func(t *testing.T, data []byte, wrap bool) {
		if wrap {
			data = gz(t, string(data))
		}
		decodeBoth(t, data, Limits{MaxUncompressedBytes: 1 << 20, MaxReadings: 1 << 14})
	})
}
