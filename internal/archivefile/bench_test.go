package archivefile

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// benchReadings is a realistic day: 100 sensors at 10-second resolution for
// the first ~8 hours, microsecond times, one reading in 20 imputed.
func benchReadings(day measure.Day, n int) []measure.Reading {
	rng := newRand(1)
	rs := make([]measure.Reading, 0, n)
	sensors := 100
	per := n / sensors
	for s := 0; s < sensors; s++ {
		name := fmt.Sprintf("station-%03d/temperature", s)
		for i := 0; i < per; i++ {
			r := measure.Reading{
				Sensor:  name,
				Time:    day.Start().Add(time.Duration(i)*10*time.Second + time.Duration(rng.Intn(1e6))*time.Microsecond),
				Value:   fl(math.Round((15+10*rng.NormFloat64())*100) / 100),
				QCFlags: qc(int64(rng.Intn(3))),
			}
			if i%20 == 0 {
				r.Imputation = imp("ARIMA")
			}
			rs = append(rs, r)
		}
	}
	return rs
}

// reportPerReading adds ns/reading and allocs/reading, which unlike the
// per-op figures do not depend on the size of the benchmark day.
func reportPerReading(b *testing.B, perOp int, before *runtime.MemStats) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	total := float64(b.N) * float64(perOp)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/reading")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/reading")
}

func BenchmarkWriter(b *testing.B) {
	day := measure.MustParseDay("2025-01-15")
	rs := benchReadings(day, 200000)
	for _, level := range []int{0, 1, 3, 6, 9} {
		b.Run(fmt.Sprintf("level=%d", level), func(b *testing.B) {
			b.ReportAllocs()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			var size int64
			for b.Loop() {
				w, err := NewWriter(io.Discard, day, level)
				if err != nil {
					b.Fatal(err)
				}
				for i := range rs {
					if err := w.Write(&rs[i]); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				size = w.Stats().Bytes
			}
			reportPerReading(b, len(rs), &ms)
			b.ReportMetric(float64(size)/float64(len(rs)), "bytes/reading")
		})
	}
}

func BenchmarkReader(b *testing.B) {
	day := measure.MustParseDay("2025-01-15")
	plain := benchReadings(day, 200000)
	extra := benchReadings(day, 200000)
	for i := range extra {
		// A table with extra columns (clean.columns.extra) and exact values.
		extra[i].Extra = fmt.Sprintf(`{"batch": %d, "site": "north"}`, i%1000)
		extra[i].ValueText = strconv.FormatFloat(extra[i].Value.Float64, 'f', 3, 64)
	}
	for _, c := range []struct {
		name    string
		level   int
		rs      []measure.Reading
		general bool // the fast path off: what it earns
	}{
		{"level=0", 0, plain, false},
		{"level=1", 1, plain, false},
		{"level=6", 6, plain, false},
		{"level=0/general", 0, plain, true},
		{"level=0/extra", 0, extra, false},
		{"level=0/extra/general", 0, extra, true},
	} {
		level, rs := c.level, c.rs
		b.Run(c.name, func(b *testing.B) {
			fastPath = !c.general
			defer func() { fastPath = true }()
			var buf bytes.Buffer
			w, _ := NewWriter(&buf, day, level)
			for i := range rs {
				w.Write(&rs[i])
			}
			w.Close()
			data := buf.Bytes()
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			for b.Loop() {
				r, err := NewReader(bytes.NewReader(data), Limits{})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					_, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != len(rs) {
					b.Fatalf("read %d readings, want %d", n, len(rs))
				}
				r.Close()
			}
			reportPerReading(b, len(rs), &ms)
		})
	}
}

func BenchmarkMerge(b *testing.B) {
	day := measure.MustParseDay("2025-01-15")
	rs := benchReadings(day, 200000)
	half := rs[:len(rs)/2]
	b.ReportAllocs()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for b.Loop() {
		if _, err := measure.Merge(measure.SliceSource(rs), measure.SliceSource(half), func(*measure.Reading) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	reportPerReading(b, len(rs), &ms)
}

func TestWriterAllocsPerReading(t *testing.T) {
	day := measure.MustParseDay("2025-01-15")
	rs := benchReadings(day, 20000)
	w, err := NewWriter(io.Discard, day, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Warm up the buffers, then count allocations in steady state.
	for i := 0; i < 1000; i++ {
		w.Write(&rs[i])
	}
	i := 1000
	allocs := testing.AllocsPerRun(10000, func() {
		if err := w.Write(&rs[i]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("Writer.Write allocates %.2f times per reading in steady state", allocs)
	}
}
