package postgres_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pgtest"
	"github.com/shizuku-labs/archiver/internal/postgres"
)

// BenchmarkDayRead reads one day of 1000 sensors every 10 minutes (144k
// rows) in canonical order both ways: sorted by PostgreSQL (StreamDay)
// and read in time-index order and sorted in memory (ReadDay). ns/reading
// is wall time, PostgreSQL's work included.
func BenchmarkDayRead(b *testing.B) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(b)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range []string{
		`CREATE TABLE m (id bigserial PRIMARY KEY, sensor_id text NOT NULL, ts timestamptz NOT NULL, value_mm float8, qc_flags int, imputation_method text)`,
		`CREATE INDEX ON m (ts)`,
		`INSERT INTO m (sensor_id, ts, value_mm, qc_flags, imputation_method)
		 SELECT 'sensor_' || lpad(s::text, 4, '0'), ts, round((random() * 20)::numeric, 2)::float8,
		        CASE WHEN random() < 0.05 THEN 1 ELSE 0 END, CASE WHEN random() < 0.02 THEN 'ARIMA' END
		 FROM generate_series(timestamptz '2025-01-15', '2025-01-15 23:50', interval '10 minutes') ts, generate_series(1, 1000) s
		 ORDER BY ts, s`,
		`VACUUM ANALYZE m`,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	tbl := postgres.CleanTable{Name: []string{"m"}, Sensor: "sensor_id", Time: "ts", Value: "value_mm", QCFlags: "qc_flags", Imputation: "imputation_method"}
	day := measure.MustParseDay("2025-01-15")
	n, err := tbl.CountDay(ctx, conn, day)
	if err != nil {
		b.Fatal(err)
	}
	var buf postgres.DayBuffer
	for _, mode := range []string{"postgres-sort", "memory-sort"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			for b.Loop() {
				var rows *postgres.DayRows
				var err error
				if mode == "postgres-sort" {
					rows, err = tbl.StreamDay(ctx, conn, day)
				} else {
					rows, err = tbl.ReadDay(ctx, conn, day, &buf, n)
				}
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := rows.Next(); errors.Is(err, io.EOF) {
						break
					} else if err != nil {
						b.Fatal(err)
					}
				}
				if rows.Count() != n {
					b.Fatalf("read %d rows, want %d", rows.Count(), n)
				}
				rows.Close()
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			total := float64(b.N) * float64(n)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/reading")
			b.ReportMetric(float64(after.Mallocs-ms.Mallocs)/total, "allocs/reading")
		})
	}
}
