package cli_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// typedTable replaces the clean table with one whose value is numeric(12,3)
// and that archives seven extra columns of other types, and fills two days
// with awkward values (NULLs, "" and quotes, JSON, microseconds).
func typedTable(h *harness) (first, last time.Time) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.conn.Exec(ctx, `DROP TABLE shizuku.clean_measurements;
		CREATE TABLE shizuku.clean_measurements (
			id bigserial PRIMARY KEY, sensor_id text NOT NULL, ts timestamptz NOT NULL,
			value_mm numeric(12,3), qc_flags integer, imputation_method text,
			amount numeric, battery real, meta jsonb, n int8, note text, ok boolean, seen timestamptz);
		CREATE INDEX ON shizuku.clean_measurements (ts)`); err != nil {
		h.t.Fatal(err)
	}
	first = h.today().AddDate(0, 0, -40)
	last = first.AddDate(0, 0, 1)
	if _, err := h.conn.Exec(ctx, `INSERT INTO shizuku.clean_measurements
		(sensor_id, ts, value_mm, qc_flags, imputation_method, amount, battery, meta, n, note, ok, seen)
		SELECT 's' || (i % 3), $1::timestamptz + (i * interval '7 minutes 13.000123 seconds'),
			CASE WHEN i % 7 = 0 THEN NULL ELSE round((i * 1.237 - 40)::numeric, 3) END,
			CASE WHEN i % 5 = 0 THEN NULL ELSE i % 4 END,
			CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'ARIMA' ELSE 'a,"b"' END,
			CASE WHEN i % 6 = 0 THEN NULL ELSE (i * 12345.678901234567)::numeric END,
			CASE WHEN i % 8 = 0 THEN NULL ELSE (i / 7.0)::real END,
			CASE WHEN i % 9 = 0 THEN NULL ELSE jsonb_build_object('i', i, 'tags', jsonb_build_array('x', i % 2 = 0)) END,
			CASE WHEN i % 10 = 0 THEN NULL ELSE i::int8 * 1000000007 END,
			CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'line
break' ELSE 'note ' || i END,
			CASE WHEN i % 11 = 0 THEN NULL ELSE i % 2 = 0 END,
			CASE WHEN i % 12 = 0 THEN NULL ELSE $1::timestamptz - i * interval '1 hour 0.000001 second' END
		FROM generate_series(0, 390) i`, first); err != nil {
		h.t.Fatal(err)
	}
	return first, last
}

const typedExtras = "amount,battery,meta,n,note,ok,seen"

// TestExportTypedColumns: with the database, export writes each column in
// its type. The CSV of a table with a numeric(12,3) value and extra
// columns of seven types is byte for byte PostgreSQL's COPY CSV of the rows
// before archiving; the Parquet file has DECIMAL(12,3), INT64, DOUBLE,
// BOOLEAN, JSON and TIMESTAMP columns whose values DuckDB reads back equal
// to the database's. Without the database, extra columns are their JSON
// text. A numeric NaN, which a DECIMAL cannot hold, is refused in Parquet.
func TestExportTypedColumns(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	first, last := typedTable(h)
	t.Setenv("ARCHIVER_CLEAN_EXTRA_COLUMNS", typedExtras)
	t.Setenv("ARCHIVER_CLEAN_IGNORE_COLUMNS", "id")
	h.exec(`SET TimeZone = 'UTC'`)
	var want strings.Builder
	if _, err := h.conn.PgConn().CopyTo(context.Background(), &want, `COPY (SELECT ts::date AS day, sensor_id AS sensor, ts AS time, value_mm AS measurement, qc_flags, imputation_method, `+typedExtras+`
		FROM shizuku.clean_measurements ORDER BY ts::date, sensor_id COLLATE "C", ts) TO STDOUT (FORMAT csv, HEADER)`); err != nil {
		t.Fatal(err)
	}
	dbRows := h.textRows(`SELECT sensor_id, (extract(epoch FROM ts) * 1000000)::int8::text, value_mm::text, amount::text, battery::float8::text, meta::text, n::text, note, ok::text, (extract(epoch FROM seen) * 1000000)::int8::text
		FROM shizuku.clean_measurements ORDER BY ts::date, sensor_id COLLATE "C", ts`)
	h.mustRun("archive")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Fatalf("%d rows left after archiving", n)
	}

	r := h.mustRun(exportRange(first, last, "--out", "-")...)
	sameBytes(t, "typed CSV export", []byte(r.stdout), []byte(want.String()))

	work := t.TempDir()
	h.mustRun(exportRange(first, last, "--format", "parquet", "--out", filepath.Join(work, "typed.parquet"))...)
	types, err := duckdb(t, work, `SELECT string_agg(column_name || ' ' || column_type, ', ') FROM (DESCRIBE SELECT * FROM 'typed.parquet');`)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Contains(t, "Parquet column types", fmt.Sprint(types), "measurement DECIMAL(12,3)", "amount VARCHAR", "battery FLOAT", "meta JSON", "n BIGINT", "note VARCHAR", "ok BOOLEAN", "seen TIMESTAMP WITH TIME ZONE")
	rows, err := duckdb(t, work, `SELECT sensor, epoch_us(time)::VARCHAR, measurement::VARCHAR, amount, battery::VARCHAR, meta::VARCHAR, n::VARCHAR, note, ok::VARCHAR, epoch_us(seen)::VARCHAR FROM 'typed.parquet';`)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(dbRows) {
		t.Fatalf("parquet: %d rows, want %d", len(rows), len(dbRows))
	}
	for i := range rows {
		for j := range rows[i] {
			got, want := fmt.Sprint(rows[i][j]), fmt.Sprint(dbRows[i][j])
			if rows[i][j] == nil {
				got = "<nil>"
			}
			if j == 4 && got != "<nil>" { // battery: a real, FLOAT in Parquet; compare the float4 values
				var g, w float64
				fmt.Sscan(got, &g)
				fmt.Sscan(want, &w)
				if float32(g) == float32(w) {
					continue
				}
			}
			if j == 5 && got != "<nil>" { // meta: JSON text; both are jsonb's own output
				got = strings.ReplaceAll(got, " ", "")
				want = strings.ReplaceAll(want, " ", "")
			}
			if got != want {
				t.Fatalf("parquet row %d column %d: %q, database %q\nrow %v\ndb  %v", i, j, got, want, rows[i], dbRows[i])
			}
		}
	}

	// Without the database: the same values, extra columns as JSON text.
	t.Setenv("DATABASE_URL", "")
	r = h.runNoDB("export", "--from", rstDay(first), "--to", rstDay(first), "--out", "-")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	testkit.Contains(t, "untyped CSV", r.stdout, `"{""i"": 1, ""tags"": [""x"", false]}"`, `,true,`, `"""note 3"""`)

	// A numeric NaN has no DECIMAL: Parquet refuses, CSV writes it.
	h.exec(`INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm) VALUES ('nan', $1::timestamptz - interval '5 days', 'NaN')`, first)
	h.mustRun("archive")
	nanDay := rstDay(first.AddDate(0, 0, -5))
	r = h.run("export", "--from", nanDay, "--to", nanDay, "--format", "parquet", "--out", filepath.Join(work, "nan.parquet"))
	if r.code != cli.ExitPartial || !strings.Contains(r.stderr, "NaN does not fit the Parquet column of type numeric") {
		t.Fatalf("parquet of a numeric NaN: exit %d\n%s", r.code, r.stderr)
	}
	r = h.mustRun("export", "--from", nanDay, "--to", nanDay, "--out", "-")
	testkit.Contains(t, "CSV of a numeric NaN", r.stdout, ",nan,", ",NaN,")
}

// textRows runs a query whose columns are all text and returns its rows
// (NULL as nil).
func (h *harness) textRows(sql string) [][]any {
	h.t.Helper()
	rows, err := h.conn.Query(context.Background(), sql)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// TestExportRealValueIsPostgresCSV: a real value column is written as
// float4out writes it (1.234567e+06, not 1234567), byte for byte COPY's CSV.
func TestExportRealValueIsPostgresCSV(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	ctx := context.Background()
	day := h.today().AddDate(0, 0, -40)
	if _, err := h.conn.Exec(ctx, `ALTER TABLE shizuku.clean_measurements ALTER COLUMN value_mm TYPE real`); err != nil {
		t.Fatal(err)
	}
	if _, err := h.conn.Exec(ctx, `INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags)
		SELECT 's', $1::timestamptz + i * interval '1 minute', v, 0
		FROM unnest('{1234567, 123456, 0.1, 1e-5, 0.0001, 3.4028235e38, 1e-45, NaN, Infinity, -Infinity, 16777217, -2.5, 0.42857143}'::real[]) WITH ORDINALITY u(v, i)`, day); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ARCHIVER_CLEAN_IGNORE_COLUMNS", "id")
	want := h.pgCSV("")
	h.mustRun("archive")
	r := h.mustRun("export", "--from", rstDay(day), "--to", rstDay(day), "--out", "-")
	sameBytes(t, "export of a real value column", []byte(r.stdout), want)
	testkit.Contains(t, "float4 layout", r.stdout, ",1.234567e+06,")
}
