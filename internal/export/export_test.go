package export

import (
	"bytes"
	"context"
	"database/sql"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestPGFloat8MatchesPostgres: appendPGFloat8 writes what the server's
// float8out writes, for the special values, the layout boundaries and
// 20,000 random bit patterns (every exponent, subnormals included).
func TestPGFloat8MatchesPostgres(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	vals := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1, -1, 0.1, 1e-4, 9.99e-5, 1e-5, 1e14, 999999999999999, 1e15, 1.5e15,
		123456789012345.6, 5e-324, math.MaxFloat64, 1e100, 1e-100, 2.5, 100, 1e22, 1e23}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		vals = append(vals, math.Float64frombits(rnd.Uint64()))
	}
	rows, err := conn.Query(ctx, `SELECT v::text FROM unnest($1::float8[]) WITH ORDINALITY AS u(v, i) ORDER BY i`, vals)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for rows.Next() {
		var want string
		if err := rows.Scan(&want); err != nil {
			t.Fatal(err)
		}
		if got := string(appendPGFloat8(nil, vals[i])); got != want {
			t.Errorf("%v (bits %x): got %q, PostgreSQL writes %q", vals[i], math.Float64bits(vals[i]), got, want)
		}
		i++
	}
	if err := rows.Err(); err != nil || i != len(vals) {
		t.Fatalf("%d of %d values: %v", i, len(vals), err)
	}
}

// TestParquetRowGroups: a long export is cut into row groups of
// RowGroupRows rows, and every row reads back in order.
func TestParquetRowGroups(t *testing.T) {
	var buf bytes.Buffer
	w, err := newParquetWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := archivefile.ParseDay("2025-01-15")
	const n = 2*RowGroupRows + 1000
	for i := range n {
		r := archivefile.Reading{Sensor: "s", Time: d.Start().Add(time.Duration(i) * time.Second / 4), Value: sql.NullFloat64{Float64: float64(i), Valid: i%7 != 0}}
		if err := w.write(d, &r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int64
	for _, rg := range f.RowGroups() {
		sizes = append(sizes, rg.NumRows())
	}
	if len(sizes) != 3 || sizes[0] != RowGroupRows || sizes[1] != RowGroupRows || sizes[2] != 1000 {
		t.Fatalf("row groups of %v rows, want %d, %d, 1000", sizes, RowGroupRows, RowGroupRows)
	}
	type row struct {
		Time  int64    `parquet:"time"`
		Value *float64 `parquet:"measurement"`
	}
	rows, err := parquet.Read[row](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if r.Time != d.Start().UnixMicro()+int64(i)*250000 || (r.Value == nil) != (i%7 == 0) || (r.Value != nil && *r.Value != float64(i)) {
			t.Fatalf("row %d: %+v", i, r)
		}
	}
}

// TestParquetRefusesSubMicrosecond: a time Parquet's microseconds cannot
// hold is an error, never a silently truncated reading.
func TestParquetRefusesSubMicrosecond(t *testing.T) {
	w, _ := newParquetWriter(&bytes.Buffer{})
	d, _ := archivefile.ParseDay("2025-01-15")
	r := archivefile.Reading{Sensor: "s", Time: d.Start().Add(1500 * time.Nanosecond)}
	if err := w.write(d, &r); err == nil {
		t.Fatal("a sub-microsecond time was accepted")
	}
}
