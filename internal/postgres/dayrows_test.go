package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pgtest"
	"github.com/shizuku-labs/archiver/internal/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// dayTable creates a measurement table whose time column has type typ and
// fills it with the rows that make ordering hard: sensors whose byte order
// differs from any collation's, equal times with every kind of value, exact
// duplicates, microsecond times and rows just outside the day.
func dayTable(t *testing.T, conn *pgx.Conn, name, typ string, day measure.Day) {
	t.Helper()
	ctx := context.Background()
	_, err := conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (id bigserial PRIMARY KEY, sensor_id text NOT NULL, ts %s NOT NULL,
		value_mm double precision, qc_flags integer, imputation_method text)`, name, typ))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE INDEX ON %s (ts)`, name)); err != nil {
		t.Fatal(err)
	}
	start := day.Start()
	type row struct {
		s  string
		ts time.Time
		v  *float64
		q  *int32
		m  *string
	}
	f := func(v float64) *float64 { return &v }
	q := func(v int32) *int32 { return &v }
	m := func(v string) *string { return &v }
	var rows []row
	// Ties on (sensor, time): every kind of value, qc and method.
	tie := start.Add(3 * time.Hour)
	for _, v := range []*float64{nil, f(math.NaN()), f(math.Inf(1)), f(math.Inf(-1)), f(1), f(0), f(math.Copysign(0, -1)), f(-2.5)} {
		for _, qq := range []*int32{nil, q(2), q(-1)} {
			for _, mm := range []*string{nil, m("ARIMA"), m(""), m("é")} {
				rows = append(rows, row{"tie", tie, v, qq, mm})
			}
		}
	}
	rows = append(rows, rows[5], rows[17], rows[17]) // exact duplicates
	for i, s := range []string{"b", "B", "a", "Z", "é", "e", "sensor_10", "sensor_9", "a b", "a-b"} {
		for k := range 50 {
			ts := start.Add(time.Duration(k*600+i)*time.Second + time.Duration(k*7)*time.Microsecond)
			rows = append(rows, row{s, ts, f(float64(k) / 7), q(int32(k % 3)), nil})
		}
	}
	// The day's bounds: the first and last microsecond are in, the rest out.
	rows = append(rows, row{"edge", start, f(1), nil, nil}, row{"edge", day.End().Add(-time.Microsecond), f(2), nil, nil},
		row{"edge", start.Add(-time.Microsecond), f(3), nil, nil}, row{"edge", day.End(), f(4), nil, nil})
	// Insert in an order that is neither time nor sensor order.
	for i := range rows {
		j := (i * 7919) % len(rows)
		rows[i], rows[j] = rows[j], rows[i]
	}
	for _, r := range rows {
		var ts any = r.ts
		if typ == "timestamp" {
			ts = r.ts.UTC().Format("2006-01-02 15:04:05.999999") // wall-clock UTC
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (sensor_id, ts, value_mm, qc_flags, imputation_method) VALUES ($1, $2, $3, $4, $5)`, name),
			r.s, ts, r.v, r.q, r.m); err != nil {
			t.Fatal(err)
		}
	}
}

func drain(t *testing.T, rows *postgres.DayRows) []measure.Reading {
	t.Helper()
	defer rows.Close()
	var out []measure.Reading
	for {
		r, err := rows.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, *r)
	}
	if rows.Count() != int64(len(out)) {
		t.Fatalf("Count %d, returned %d", rows.Count(), len(out))
	}
	return out
}

func same(t *testing.T, what string, got, want []measure.Reading) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	// Equal under Compare: the only rows Compare cannot tell apart are 0
	// and -0, which PostgreSQL cannot either (so their order is either
	// way) and which the archive writes alike.
	for i := range got {
		g, w := got[i], want[i]
		if measure.Compare(&g, &w) != 0 || g.Time.Location() != time.UTC {
			t.Fatalf("%s: row %d is %+v, want %+v", what, i, g, w)
		}
	}
}

// TestDayReadsAgree: the day sorted in memory (ReadDay) is the day sorted by
// PostgreSQL (StreamDay), row for row and bit for bit, in canonical order;
// with timestamptz and timestamp columns, and with the binary decoder and
// the text fallback of the simple protocol.
func TestDayReadsAgree(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	day := measure.MustParseDay("2025-01-15")
	for _, typ := range []string{"timestamptz", "timestamp"} {
		for _, mode := range []string{"", "default_query_exec_mode=simple_protocol"} {
			t.Run(typ+"/"+mode, func(t *testing.T) {
				u := dbURL
				if mode != "" {
					u += "&" + mode
				}
				pool, err := postgres.Connect(ctx, u, 10*time.Second, 2)
				if err != nil {
					t.Fatal(err)
				}
				defer pool.Close()
				conn, err := pgx.Connect(ctx, dbURL)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				name := "m_" + typ + fmt.Sprint(len(mode))
				dayTable(t, conn, name, typ, day)
				tbl := postgres.CleanTable{Name: []string{name}, Sensor: "sensor_id", Time: "ts", Value: "value_mm", QCFlags: "qc_flags", Imputation: "imputation_method"}

				n, err := tbl.CountDay(ctx, pool, day)
				if err != nil {
					t.Fatal(err)
				}
				sr, err := tbl.StreamDay(ctx, pool, day)
				if err != nil {
					t.Fatal(err)
				}
				streamed := drain(t, sr)
				var buf postgres.DayBuffer
				for range 2 { // the buffer is reused from day to day
					rr, err := tbl.ReadDay(ctx, pool, day, &buf, n)
					if err != nil {
						t.Fatal(err)
					}
					same(t, "ReadDay vs StreamDay", drain(t, rr), streamed)
				}
				if int64(len(streamed)) != n {
					t.Fatalf("streamed %d rows, counted %d", len(streamed), n)
				}
				for i := 1; i < len(streamed); i++ {
					if measure.Compare(&streamed[i-1], &streamed[i]) > 0 {
						t.Fatalf("rows %d and %d out of canonical order: %+v, %+v", i-1, i, streamed[i-1], streamed[i])
					}
				}
				// What the writer makes of it is what it makes of the rows
				// sorted here, independently.
				want := slices.Clone(streamed)
				slices.SortStableFunc(want, func(a, b measure.Reading) int { return measure.Compare(&a, &b) })
				for i := range want {
					if measure.Compare(&want[i], &streamed[i]) != 0 {
						t.Fatalf("row %d: %+v, sorted independently %+v", i, streamed[i], want[i])
					}
				}
			})
		}
	}
}

// A day larger than its size hint still reads whole; without a hint
// (0), a day that does not fit the buffer's last size is refused with
// ErrBufferFull (the caller counts it), and one that fits reads whole.
func TestReadDayIgnoresAWrongHint(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	day := measure.MustParseDay("2025-01-15")
	dayTable(t, conn, "m", "timestamptz", day)
	tbl := postgres.CleanTable{Name: []string{"m"}, Sensor: "sensor_id", Time: "ts", Value: "value_mm", QCFlags: "qc_flags", Imputation: "imputation_method"}
	n, err := tbl.CountDay(ctx, conn, day)
	if err != nil {
		t.Fatal(err)
	}
	var buf postgres.DayBuffer
	if _, err := tbl.ReadDay(ctx, conn, day, &buf, 0); !errors.Is(err, postgres.ErrBufferFull) {
		t.Fatalf("no hint, empty buffer: %v, want ErrBufferFull", err)
	}
	for _, hint := range []int64{3, n * 10, 0, 0} {
		rr, err := tbl.ReadDay(ctx, conn, day, &buf, hint)
		if err != nil {
			t.Fatalf("hint %d: %v", hint, err)
		}
		if got := int64(len(drain(t, rr))); got != n {
			t.Fatalf("hint %d: read %d rows, want %d", hint, got, n)
		}
		rr.Close()
	}
	small := postgres.DayBuffer{Limit: int(n - 1)}
	if _, err := tbl.ReadDay(ctx, conn, day, &small, n); !errors.Is(err, postgres.ErrDayTooLarge) {
		t.Fatalf("a day over the buffer's limit: %v, want ErrDayTooLarge", err)
	}
}

// Values the in-memory layout keeps out of line: qc_flags beyond int32
// (a bigint column) and many methods, on equal times so that they are
// sorted by value.
func TestReadDayWideValues(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range []string{
		`CREATE TABLE w (sensor_id text NOT NULL, ts timestamptz NOT NULL, value_mm float8, qc_flags bigint, imputation_method text)`,
		`INSERT INTO w SELECT 's' || (i % 3), '2025-01-15 12:00Z', i % 2, CASE i % 4 WHEN 0 THEN (1::bigint << 40) + i WHEN 1 THEN -(1::bigint << 40) - i WHEN 2 THEN NULL ELSE i END, 'm' || (i % 50)
		 FROM generate_series(1, 400) i`,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	tbl := postgres.CleanTable{Name: []string{"w"}, Sensor: "sensor_id", Time: "ts", Value: "value_mm", QCFlags: "qc_flags", Imputation: "imputation_method"}
	day := measure.MustParseDay("2025-01-15")
	sr, err := tbl.StreamDay(ctx, conn, day)
	if err != nil {
		t.Fatal(err)
	}
	streamed := drain(t, sr)
	var buf postgres.DayBuffer
	rr, err := tbl.ReadDay(ctx, conn, day, &buf, 400)
	if err != nil {
		t.Fatal(err)
	}
	read := drain(t, rr)
	same(t, "ReadDay vs StreamDay", read, streamed)
	wide := 0
	for _, r := range read {
		if r.QCFlags.Valid && (r.QCFlags.Int64 > math.MaxInt32 || r.QCFlags.Int64 < math.MinInt32) {
			wide++
		}
	}
	if wide != 200 {
		t.Fatalf("%d readings with qc_flags beyond int32, want 200", wide)
	}
}
