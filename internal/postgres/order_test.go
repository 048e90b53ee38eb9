package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pgtest"
	"github.com/shizuku-labs/archiver/internal/postgres"
)

// TestSQLOrderIsCompare: the canonical order is defined once, by
// measure.Compare. The day queries' ORDER BY (StreamDay), the
// in-memory sort (ReadDay's DayBuffer) and the generic path (PostgreSQL
// sorting by sensor and time, the rest in Go) must each give exactly the
// order of an independent sort by Compare, on readings chosen to break a
// wrong translation: text columns with a linguistic (ICU) collation, whose
// order is not byte order; NULLs; NaN, ±Infinity, -0; microsecond ties
// with every kind of value, qc_flags and method.
func TestSQLOrderIsCompare(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const coll = "und-x-icu" // PostgreSQL's root ICU collation: "a" < "B" < "b" < "é" < "f"
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_collation WHERE collname = $1`, coll).Scan(&n); err != nil || n != 1 {
		t.Fatalf("collation %s: %d, %v: the test needs a PostgreSQL built with ICU (Debian's is)", coll, n, err)
	}
	day := measure.MustParseDay("2025-01-15")
	tie := day.Start().Add(5 * time.Hour)

	for _, c := range []struct {
		name, value string
		values      []string // SQL literals
	}{
		{"float8", "double precision", []string{"NULL", "'NaN'", "'Infinity'", "'-Infinity'", "0", "'-0'", "1.5", "-2.5", "1e-300"}},
		{"float4", "real", []string{"NULL", "'NaN'", "'Infinity'", "'-Infinity'", "0", "'-0'", "1.5", "-2.5", "5.2"}},
		// numeric makes the table take the generic path (exact values).
		{"numeric", "numeric", []string{"NULL", "'NaN'", "'Infinity'", "'-Infinity'", "0", "1.50", "1.5", "-2.5", "123456789.123456789"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := "order_" + c.name
			stmts := []string{fmt.Sprintf(`CREATE TABLE %s (sensor_id text COLLATE %q NOT NULL, ts timestamptz NOT NULL,
				value_mm %s, qc_flags bigint, imputation_method text COLLATE %q)`, name, coll, c.value, coll)}
			sensors := []string{"a", "B", "b", "é", "f", "Z", "a b", "a-b", "ab", "sensor_10", "sensor_9", "ß", "ss", "😀", "ﬀ"}
			methods := []string{"NULL", "''", "'ARIMA'", "'arima'", "'é'", "'f'", "'B'"}
			var rows []string
			for i, s := range sensors {
				// Ties on (sensor, time) between every kind of value, qc and method.
				for j, v := range c.values {
					for k, q := range []string{"NULL", "-1", "2", "9223372036854775807"} {
						m := methods[(i+j+k)%len(methods)]
						rows = append(rows, fmt.Sprintf("(%s, %s, %s, %s, %s)", lit(s), lit(tie.Format(time.RFC3339Nano)), v, q, m))
					}
				}
				// Rows equal but for the sign of a zero value: two readings,
				// -0 first, whichever order they were inserted in
				// (PostgreSQL's = calls them equal).
				if c.value != "numeric" {
					at := lit(tie.Add(time.Minute).Format(time.RFC3339Nano))
					zeros := []string{"'-0'", "0"}
					if i%2 == 1 {
						zeros[0], zeros[1] = zeros[1], zeros[0]
					}
					for _, v := range zeros {
						rows = append(rows, fmt.Sprintf("(%s, %s, %s, 7, 'same')", lit(s), at, v))
					}
				}
				// Times a microsecond apart, and one second apart, across sensors.
				for k := range 3 {
					ts := tie.Add(time.Duration(k-1) * time.Microsecond).Add(time.Duration(i) * time.Second)
					rows = append(rows, fmt.Sprintf("(%s, %s, %s, NULL, %s)", lit(s), lit(ts.Format(time.RFC3339Nano)), c.values[(i+k)%len(c.values)], methods[k]))
				}
			}
			stmts = append(stmts, `INSERT INTO `+name+` VALUES `+strings.Join(rows, ", "))
			for _, s := range stmts {
				if _, err := conn.Exec(ctx, s); err != nil {
					t.Fatalf("%v\n%.300s", err, s)
				}
			}
			tbl := postgres.CleanTable{Name: []string{name}, Sensor: "sensor_id", Time: "ts", Value: "value_mm", QCFlags: "qc_flags", Imputation: "imputation_method"}
			if err := tbl.Inspect(ctx, conn); err != nil {
				t.Fatal(err)
			}

			sr, err := tbl.StreamDay(ctx, conn, day)
			if err != nil {
				t.Fatal(err)
			}
			streamed := drain(t, sr)
			if len(streamed) != len(rows) {
				t.Fatalf("read %d rows, inserted %d", len(streamed), len(rows))
			}
			schema := measure.Schema{}
			if c.value == "numeric" {
				schema.Value = measure.ValueDecimal
			}
			want := slices.Clone(streamed)
			slices.SortStableFunc(want, func(a, b measure.Reading) int { return schema.Compare(&a, &b) })
			sameOrder(t, schema, "StreamDay", streamed, want)

			var buf postgres.DayBuffer
			rr, err := tbl.ReadDay(ctx, conn, day, &buf, int64(len(rows)))
			if err != nil {
				t.Fatal(err)
			}
			sameOrder(t, schema, "ReadDay", drain(t, rr), want)

			// The test can fail: the column's own collation orders these
			// sensors differently from Compare.
			var plain []string
			r, err := conn.Query(ctx, `SELECT DISTINCT sensor_id FROM `+name+` ORDER BY sensor_id`)
			if err != nil {
				t.Fatal(err)
			}
			for r.Next() {
				var s string
				if err := r.Scan(&s); err != nil {
					t.Fatal(err)
				}
				plain = append(plain, s)
			}
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			bytewise := slices.Clone(plain)
			slices.Sort(bytewise)
			if slices.Equal(plain, bytewise) {
				t.Fatalf("collation %s orders the sensors by bytes (%q): the test would not notice a missing COLLATE \"C\"", coll, plain)
			}
		})
	}
}

// sameOrder fails unless got is want, row for row, under the schema's
// Compare (which tells -0 from 0 in a float column, as PostgreSQL's
// ORDER BY does not by itself).
func sameOrder(t *testing.T, schema measure.Schema, what string, got, want []measure.Reading) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range got {
		if schema.Compare(&got[i], &want[i]) != 0 {
			t.Fatalf("%s: row %d is %+v, Compare puts %+v there", what, i, got[i], want[i])
		}
	}
}

func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
