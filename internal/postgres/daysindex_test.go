package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pgtest"
	"github.com/shizuku-labs/archiver/internal/postgres"
)

// TestDaysWithRows checks the skip scan on both time column types, in a
// session whose time zone is far from UTC and has DST, with rows on the
// last and first microsecond of days, and with both bounds.
func TestDaysWithRows(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// A session time zone other than UTC: day boundaries must not move.
	if _, err := conn.Exec(ctx, `SET TimeZone = 'America/Santiago'`); err != nil {
		t.Fatal(err)
	}
	day := func(s string) measure.Day {
		d, err := measure.ParseDay(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	times := []time.Time{
		day("2019-03-31").End().Add(-time.Microsecond), // last microsecond of 2019-03-31
		day("2019-04-01").Start(),                      // first microsecond of the next day
		day("2019-04-01").Start().Add(12 * time.Hour),
		day("2019-09-08").Start().Add(3 * time.Hour), // Santiago's DST change
		day("2024-02-29").Start().Add(23 * time.Hour),
	}
	want := []measure.Day{day("2019-03-31"), day("2019-04-01"), day("2019-09-08"), day("2024-02-29")}
	for _, typ := range []string{"timestamptz", "timestamp"} {
		t.Run(typ, func(t *testing.T) {
			name := "m_" + typ
			if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (sensor_id text, ts %s NOT NULL, value_mm float8, qc_flags int, imputation_method text);
				CREATE INDEX ON %s (ts)`, name, typ, name)); err != nil {
				t.Fatal(err)
			}
			// Written as UTC text, so the session's zone cannot shift a value:
			// a timestamp column holds the UTC wall clock.
			value := `$1::timestamptz`
			if typ == "timestamp" {
				value = `$1::timestamptz AT TIME ZONE 'UTC'`
			}
			for _, ts := range times {
				if _, err := conn.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (sensor_id, ts) VALUES ('s', %s)`, name, value),
					ts.UTC().Format("2006-01-02 15:04:05.999999+00")); err != nil {
					t.Fatal(err)
				}
			}
			tbl := postgres.CleanTable{Name: []string{name}, Sensor: "sensor_id", Time: "ts"}
			got, err := tbl.DaysWithRows(ctx, conn, measure.Day{}, measure.Day{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("DaysWithRows = %v, want %v", got, want)
			}
			got, err = tbl.DaysWithRows(ctx, conn, day("2019-04-01"), day("2019-09-08"))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want[1:3]) {
				t.Fatalf("DaysWithRows(2019-04-01, 2019-09-08) = %v, want %v", got, want[1:3])
			}
			before, err := tbl.Days(ctx, conn, day("2019-09-08"))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(before, want[:2]) {
				t.Fatalf("Days(before 2019-09-08) = %v, want %v", before, want[:2])
			}
			counts, err := tbl.CountDays(ctx, conn, day("2019-04-01"), measure.Day{})
			if err != nil {
				t.Fatal(err)
			}
			wantCounts := map[measure.Day]int64{day("2019-04-01"): 2, day("2019-09-08"): 1, day("2024-02-29"): 1}
			if fmt.Sprint(counts) != fmt.Sprint(wantCounts) {
				t.Fatalf("CountDays = %v, want %v", counts, wantCounts)
			}
		})
	}
}
