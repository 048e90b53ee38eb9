package archivefile

import (
	"bytes"
	"errors"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/measure"
)

func TestGolden(t *testing.T) {
	day := measure.MustParseDay("2025-01-15")
	rs := []measure.Reading{
		{Sensor: "alpha", Time: ts(t, "2025-01-15T00:00:00Z"), Value: fl(5), QCFlags: qc(0)},
		{Sensor: "alpha", Time: ts(t, "2025-01-15T00:00:00Z"), Value: fl(5), QCFlags: qc(0)}, // duplicate: dropped
		{Sensor: "alpha", Time: ts(t, "2025-01-15T00:10:00.123456Z"), Value: fl(0.1), Imputation: imp("ARIMA")},
		{Sensor: "alpha", Time: ts(t, "2025-01-15T00:20:00Z"), Value: fl(1e-05), QCFlags: qc(-3)},
		{Sensor: "alpha", Time: ts(t, "2025-01-15T00:30:00Z")},
		{Sensor: "alpha", Time: ts(t, "2025-01-15T00:40:00Z"), Value: fl(1e16), QCFlags: qc(0), Imputation: imp("q\"b\\s/\n\t\x01\x7f é 😀")},
		{Sensor: "alpha", Time: ts(t, "2025-01-15T00:50:00Z"), Value: fl(123456789.125)},
		{Sensor: "alpha", Time: ts(t, "2025-01-15T01:00:00Z"), Value: fl(math.Copysign(0, -1))},
		{Sensor: "alpha", Time: ts(t, "2025-01-15T01:10:00Z"), Value: fl(math.Inf(-1))},
		{Sensor: "alpha", Time: ts(t, "2025-01-15T01:10:00Z"), Value: fl(1e15)},
		{Sensor: "alpha", Time: ts(t, "2025-01-15T01:10:00Z"), Value: fl(math.Inf(1))},
		{Sensor: "alpha", Time: ts(t, "2025-01-15T01:10:00Z"), Value: fl(math.NaN())},
		{Sensor: "alpha", Time: ts(t, "2025-01-15T01:20:00.5Z"), Value: fl(1.5e300)},
		{Sensor: "alpha", Time: ts(t, "2025-01-15T01:30:00.000001Z"), Value: fl(0.0001)},
		{Sensor: "alpha", Time: ts(t, "2025-01-15T01:40:00Z"), Value: fl(-2.5e-7)},
		{Sensor: "beta", Time: ts(t, "2025-01-15T23:59:59.999999999Z"), Value: fl(42)},
		{Sensor: "β-sensor", Time: ts(t, "2025-01-15T12:00:00Z"), Value: fl(-123.456)},
	}
	data, st := encode(t, day, rs)
	want := `{"day": "2025-01-15", "data": [` +
		`{"sensor": "alpha", "measurements": [` +
		`{"time": "2025-01-15T00:00:00Z", "measurement": 5.0, "qc_flags": 0, "imputation_method": null}, ` +
		`{"time": "2025-01-15T00:10:00.123456Z", "measurement": 0.1, "qc_flags": null, "imputation_method": "ARIMA"}, ` +
		`{"time": "2025-01-15T00:20:00Z", "measurement": 1e-05, "qc_flags": -3, "imputation_method": null}, ` +
		`{"time": "2025-01-15T00:30:00Z", "measurement": null, "qc_flags": null, "imputation_method": null}, ` +
		`{"time": "2025-01-15T00:40:00Z", "measurement": 1e+16, "qc_flags": 0, "imputation_method": "q\"b\\s/\n\t\u0001\u007f \u00e9 \ud83d\ude00"}, ` +
		`{"time": "2025-01-15T00:50:00Z", "measurement": 123456789.125, "qc_flags": null, "imputation_method": null}, ` +
		`{"time": "2025-01-15T01:00:00Z", "measurement": -0.0, "qc_flags": null, "imputation_method": null}, ` +
		`{"time": "2025-01-15T01:10:00Z", "measurement": -Infinity, "qc_flags": null, "imputation_method": null}, ` +
		`{"time": "2025-01-15T01:10:00Z", "measurement": 1000000000000000.0, "qc_flags": null, "imputation_method": null}, ` +
		`{"time": "2025-01-15T01:10:00Z", "measurement": Infinity, "qc_flags": null, "imputation_method": null}, ` +
		`{"time": "2025-01-15T01:10:00Z", "measurement": NaN, "qc_flags": null, "imputation_method": null}, ` +
		`{"time": "2025-01-15T01:20:00.5Z", "measurement": 1.5e+300, "qc_flags": null, "imputation_method": null}, ` +
		`{"time": "2025-01-15T01:30:00.000001Z", "measurement": 0.0001, "qc_flags": null, "imputation_method": null}, ` +
		`{"time": "2025-01-15T01:40:00Z", "measurement": -2.5e-07, "qc_flags": null, "imputation_method": null}]}, ` +
		`{"sensor": "beta", "measurements": [` +
		`{"time": "2025-01-15T23:59:59.999999999Z", "measurement": 42.0, "qc_flags": null, "imputation_method": null}]}, ` +
		`{"sensor": "\u03b2-sensor", "measurements": [` +
		`{"time": "2025-01-15T12:00:00Z", "measurement": -123.456, "qc_flags": null, "imputation_method": null}]}]}`
	if got := gunzip(t, data); got != want {
		t.Errorf("JSON mismatch\n got: %s\nwant: %s", got, want)
	}
	if st.Readings != int64(len(rs)-1) || st.Sensors != 3 {
		t.Errorf("stats: %+v", st)
	}
	if st.Uncompressed != int64(len(want)) || st.Bytes != int64(len(data)) {
		t.Errorf("stats sizes: %+v, json %d, gz %d", st, len(want), len(data))
	}
	if !st.MinTime.Equal(ts(t, "2025-01-15T00:00:00Z")) || !st.MaxTime.Equal(ts(t, "2025-01-15T23:59:59.999999999Z")) {
		t.Errorf("stats times: %v %v", st.MinTime, st.MaxTime)
	}
}

func TestGoldenEmptyDay(t *testing.T) {
	data, st := encode(t, measure.MustParseDay("2025-01-15"), nil)
	if got, want := gunzip(t, data), `{"day": "2025-01-15", "data": []}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if st.Readings != 0 || st.Sensors != 0 || !st.MinTime.IsZero() {
		t.Errorf("stats: %+v", st)
	}
	rs, r, err := decode(data, Limits{})
	if err != nil || len(rs) != 0 || r.Day() != measure.MustParseDay("2025-01-15") || !r.Canonical() {
		t.Errorf("reading empty day: %v %v", rs, err)
	}
}

func TestWriterDeterministic(t *testing.T) {
	day := measure.MustParseDay("2024-02-29")
	rs := randomReadings(newRand(7), day, 5000)
	a, sa := encode(t, day, rs)
	b, sb := encode(t, day, rs)
	if !bytes.Equal(a, b) || sa != sb {
		t.Fatalf("same readings gave different archives: %+v vs %+v", sa, sb)
	}
	if len(sa.SHA256) != 64 {
		t.Fatalf("bad checksums %+v", sa)
	}
}

func TestWriterErrors(t *testing.T) {
	day := measure.MustParseDay("2025-01-15")
	if _, err := NewWriter(io.Discard, day, 10); err == nil || !strings.Contains(err.Error(), "-1") {
		t.Errorf("level 10: %v", err)
	}
	if _, err := NewWriter(io.Discard, day, -2); err == nil {
		t.Error("level -2 accepted")
	}
	if _, err := NewWriter(io.Discard, measure.Day{}, 6); err == nil {
		t.Error("zero Day accepted")
	}
	if _, err := NewWriter(io.Discard, measure.DayOf(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)), 6); err == nil {
		t.Error("five-digit year accepted")
	}
	for _, lvl := range []int{-1, 0, 1, 9} {
		if _, err := NewWriter(io.Discard, day, lvl); err != nil {
			t.Errorf("level %d: %v", lvl, err)
		}
	}

	newW := func() *Writer {
		w, err := NewWriter(io.Discard, day, 1)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	for _, tm := range []string{"2025-01-14T23:59:59.999999Z", "2025-01-16T00:00:00Z", "2025-01-15T23:30:00-01:00"} {
		w := newW()
		err := w.Write(&measure.Reading{Sensor: "s", Time: ts(t, tm)})
		if !errors.Is(err, ErrOutsideDay) || !strings.Contains(err.Error(), "2025-01-15") {
			t.Errorf("time %s: %v", tm, err)
		}
	}
	w := newW()
	if err := w.Write(&measure.Reading{Sensor: "s", Time: ts(t, "2025-01-15T23:59:59.999999999+00:00")}); err != nil {
		t.Errorf("last instant of the day: %v", err)
	}

	order := [][2]measure.Reading{
		{{Sensor: "b", Time: day.Start()}, {Sensor: "a", Time: day.Start()}},
		{{Sensor: "a", Time: day.Start().Add(1)}, {Sensor: "a", Time: day.Start()}},
		{{Sensor: "a", Time: day.Start(), Value: fl(2)}, {Sensor: "a", Time: day.Start(), Value: fl(1)}},
		{{Sensor: "a", Time: day.Start(), Value: fl(1)}, {Sensor: "a", Time: day.Start()}},
		{{Sensor: "a", Time: day.Start(), QCFlags: qc(1)}, {Sensor: "a", Time: day.Start()}},
		{{Sensor: "a", Time: day.Start(), Imputation: imp("b")}, {Sensor: "a", Time: day.Start(), Imputation: imp("a")}},
	}
	for i, c := range order {
		w := newW()
		if err := w.Write(&c[0]); err != nil {
			t.Fatal(err)
		}
		err := w.Write(&c[1])
		if !errors.Is(err, measure.ErrOutOfOrder) || !strings.Contains(err.Error(), "sorts before") {
			t.Errorf("case %d: %v", i, err)
		}
		// A rejected reading must not leave a closable, incomplete archive.
		if cerr := w.Close(); !errors.Is(cerr, measure.ErrOutOfOrder) {
			t.Errorf("case %d: Close after a rejected Write: %v", i, cerr)
		}
	}

	w = newW()
	if err := w.Write(&measure.Reading{Sensor: "bad\xff", Time: day.Start()}); err == nil {
		t.Error("invalid UTF-8 sensor accepted")
	}
	w = newW()
	if err := w.Write(&measure.Reading{Sensor: "s", Time: day.Start(), Imputation: imp("\xc3")}); err == nil {
		t.Error("invalid UTF-8 imputation accepted")
	}

	w = newW()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&measure.Reading{Sensor: "s", Time: day.Start()}); err == nil {
		t.Error("Write after Close accepted")
	}
}

// failWriter fails after n bytes, like an aborted upload.
type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n < len(p) {
		return 0, errors.New("disk full")
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriterPropagatesWriteError(t *testing.T) {
	day := measure.MustParseDay("2025-01-15")
	w, err := NewWriter(&failWriter{n: 100}, day, 1)
	if err != nil {
		t.Fatal(err)
	}
	rs := randomReadings(newRand(1), day, 20000)
	for i := range rs {
		if err = w.Write(&rs[i]); err != nil {
			break
		}
	}
	if err == nil {
		err = w.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v", err)
	}
	if err2 := w.Close(); err2 == nil {
		t.Error("Close after failure succeeded")
	}
}

func TestGzipHeader(t *testing.T) {
	data, _ := encode(t, measure.MustParseDay("2025-01-15"), nil)
	// ID1 ID2 CM FLG MTIME(4) XFL OS: no name, no timestamp, OS unknown.
	if want := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}; !bytes.Equal(data[:8], want) || data[9] != 255 {
		t.Errorf("gzip header % x", data[:10])
	}
}

// An idleList keeps at most maxIdle values, survives a garbage collection
// (which empties a sync.Pool), and hands back what was put.
func TestIdleListKeepsAFew(t *testing.T) {
	var l idleList[*int]
	for i := range maxIdle + 2 {
		l.put(&i)
	}
	runtime.GC()
	n := 0
	for {
		if _, ok := l.get(); !ok {
			break
		}
		n++
	}
	if n != maxIdle {
		t.Errorf("got back %d values, want %d", n, maxIdle)
	}
}
