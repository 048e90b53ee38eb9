package export

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// writeDays stores days of n readings each (100 sensors, microsecond
// times, NULLs and imputation methods now and then) in a file bucket.
func writeDays(t *testing.T, bucket *blob.Bucket, first measure.Day, days, n int) {
	t.Helper()
	ctx := context.Background()
	st := &archivestore.Store{Bucket: bucket}
	for k := range days {
		d := first.AddDays(k)
		per := n / 100
		step := 24 * time.Hour / time.Duration(per)
		_, err := st.Write(ctx, archivestore.Key("archives", d), archivestore.WriteOptions{Day: d, Level: 1}, func(aw *archivefile.Writer) error {
			for s := range 100 {
				r := measure.Reading{Sensor: fmt.Sprintf("station-%03d/rain", s)}
				for i := range per {
					r.Time = d.Start().Add(time.Duration(i)*step + time.Duration(i%997)*time.Microsecond)
					r.Value = sql.NullFloat64{Float64: float64(i%5000) / 8, Valid: i%50 != 7}
					r.QCFlags = sql.NullInt64{Int64: int64(i % 3), Valid: i%60 != 9}
					r.Imputation = sql.NullString{String: "ARIMA", Valid: i%20 == 0}
					if err := aw.Write(&r); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// measureExport exports [from, to] in format f to nowhere while sampling
// the heap; it returns the peak heap growth and allocations per reading.
func measureExport(t *testing.T, x *Exporter, from, to measure.Day, f Format) (uint64, float64) {
	t.Helper()
	ctx := context.Background()
	plan, err := x.Plan(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	growth, mallocs := testkit.HeapGrowth(func() {
		s, err = x.Run(ctx, plan, Options{From: from, To: to}, ToWriter(io.Discard, f))
	})
	if err != nil {
		t.Fatal(err)
	}
	return growth, float64(mallocs) / float64(s.Exported)
}

// TestExportMemoryIsConstant exports one day of 100k readings and five days
// of 200k (1M readings) in every format: the heap an export needs does not
// grow with the range, and CSV and JSON lines allocate next to nothing per
// reading (the archive is streamed, never held; Parquet holds one row
// group). make bench measures the whole process at 10M readings.
func TestExportMemoryIsConstant(t *testing.T) {
	bucket, err := fileblob.OpenBucket(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	small := measure.MustParseDay("2024-05-01")
	large := small.AddDays(1)
	writeDays(t, bucket, small, 1, 100_000)
	writeDays(t, bucket, large, 5, 200_000)
	x := &Exporter{Bucket: bucket, Prefix: "archives", Location: "file:///test", Log: slog.New(slog.DiscardHandler)}
	for _, f := range Formats {
		s, _ := measureExport(t, x, small, small, f)
		l, allocs := measureExport(t, x, large, large.AddDays(4), f)
		t.Logf("%s: peak heap growth %.1f MiB for 100k readings, %.1f MiB for 1M; %.4f allocations per reading", f, float64(s)/(1<<20), float64(l)/(1<<20), allocs)
		bound := uint64(8 << 20)
		if f == Parquet {
			bound = 24 << 20 // one row group of 122,880 rows in column buffers and its compressed pages
		}
		if l > bound {
			t.Errorf("%s: exporting 1M readings grew the heap by %.1f MiB, bound %.0f MiB", f, float64(l)/(1<<20), float64(bound)/(1<<20))
		}
		if l > 2*s+4<<20 {
			t.Errorf("%s: heap growth rises with the range: %.1f MiB for 100k readings, %.1f MiB for 1M", f, float64(s)/(1<<20), float64(l)/(1<<20))
		}
		if f != Parquet && allocs > 0.01 {
			t.Errorf("%s: %.4f allocations per reading exported, want ~0", f, allocs)
		}
	}
}
