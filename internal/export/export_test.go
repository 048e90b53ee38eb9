package export

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/memblob"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pgtest"
	"github.com/shizuku-labs/archiver/internal/testkit"
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
	w, err := newParquetWriter(&buf, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := measure.MustParseDay("2025-01-15")
	const n = 2*RowGroupRows + 1000
	for i := range n {
		r := measure.Reading{Sensor: "s", Time: d.Start().Add(time.Duration(i) * time.Second / 4), Value: sql.NullFloat64{Float64: float64(i), Valid: i%7 != 0}}
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
	w, _ := newParquetWriter(&bytes.Buffer{}, nil, nil)
	d := measure.MustParseDay("2025-01-15")
	r := measure.Reading{Sensor: "s", Time: d.Start().Add(1500 * time.Nanosecond)}
	if err := w.write(d, &r); err == nil {
		t.Fatal("a sub-microsecond time was accepted")
	}
}

// putArchive writes readings as the day's archive into bucket.
func putArchive(t *testing.T, bucket *blob.Bucket, d measure.Day, schema measure.Schema, rs []measure.Reading) {
	t.Helper()
	st := &archivestore.Store{Bucket: bucket}
	_, err := st.Write(context.Background(), archivestore.Key("archives", d), archivestore.WriteOptions{Day: d, Level: 6, Schema: schema},
		func(aw *archivefile.Writer) error {
			for i := range rs {
				if err := aw.Write(&rs[i]); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

// memExporter is an Exporter of the archives in a fresh in-memory bucket,
// logging to log (nil: nowhere).
func memExporter(t *testing.T, log io.Writer) *Exporter {
	t.Helper()
	bucket, err := blob.OpenBucket(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bucket.Close() })
	h := slog.DiscardHandler
	if log != nil {
		h = slog.NewTextHandler(log, nil)
	}
	return &Exporter{Bucket: bucket, Prefix: "archives", Location: "mem://", Log: slog.New(h)}
}

// export plans and exports opts' range in format f: the output, the
// summary and Run's error.
func export(t *testing.T, x *Exporter, opts Options, f Format) (string, Summary, error) {
	t.Helper()
	ctx := context.Background()
	plan, err := x.Plan(ctx, opts.From, opts.To)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s, err := x.Run(ctx, plan, opts, ToWriter(&out, f))
	return out.String(), s, err
}

// TestExportExtraColumnsAndExactValues: readings with an "extra" object
// get one column per member (its JSON text; NULL for null), and exact
// decimal values are written as they are: in CSV and JSON lines always,
// in Parquet when a DOUBLE holds them exactly, else refused.
func TestExportExtraColumnsAndExactValues(t *testing.T) {
	x := memExporter(t, nil)
	d1 := measure.MustParseDay("2025-01-15")
	d2 := d1.AddDays(1)
	extra := func(battery, note string) string {
		s, err := measure.EncodeExtra([]measure.Member{
			{Name: "battery", Kind: measure.MemberNumber, Text: battery},
			{Name: "note", Kind: measure.MemberString, Text: note},
			{Name: "raw", Kind: measure.MemberJSON, Text: `{"x": [1, 2]}`},
			{Name: "flag", Kind: measure.MemberNull, Text: "null"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	dec := measure.Schema{Value: measure.ValueDecimal}
	r1 := measure.Reading{Sensor: "s", Time: d1.Start().Add(time.Hour), Extra: extra("3.7", "a,b")}
	if err := measure.SetValue(&r1, "123456789.123456789"); err != nil {
		t.Fatal(err)
	}
	r2 := measure.Reading{Sensor: "s", Time: d2.Start().Add(time.Hour), Extra: extra("4", "")}
	if err := measure.SetValue(&r2, "1.500"); err != nil {
		t.Fatal(err)
	}
	putArchive(t, x.Bucket, d1, dec, []measure.Reading{r1})
	putArchive(t, x.Bucket, d2, dec, []measure.Reading{r2})

	run := func(f Format, from, to measure.Day) (string, error) {
		out, _, err := export(t, x, Options{From: from, To: to}, f)
		return out, err
	}
	got, err := run(CSV, d1, d2)
	if err != nil {
		t.Fatal(err)
	}
	want := "day,sensor,time,measurement,qc_flags,imputation_method,battery,flag,note,raw\n" +
		"2025-01-15,s,2025-01-15 01:00:00+00,123456789.123456789,,,3.7,,\"\"\"a,b\"\"\",\"{\"\"x\"\": [1, 2]}\"\n" +
		"2025-01-16,s,2025-01-16 01:00:00+00,1.500,,,4,,\"\"\"\"\"\",\"{\"\"x\"\": [1, 2]}\"\n"
	if got != want {
		t.Errorf("csv:\n%s\nwant:\n%s", got, want)
	}
	got, err = run(JSONL, d1, d1)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"day":"2025-01-15","sensor":"s","time":"2025-01-15T01:00:00Z","measurement":123456789.123456789,"qc_flags":null,"imputation_method":null,"battery":3.7,"flag":null,"note":"a,b","raw":{"x": [1, 2]}}` + "\n"; got != want {
		t.Errorf("jsonl:\n%s\nwant:\n%s", got, want)
	}
	if _, err := run(Parquet, d1, d1); err == nil || !strings.Contains(err.Error(), "cannot hold") {
		t.Errorf("parquet of an inexact decimal: %v", err)
	}
	got, err = run(Parquet, d2, d2)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Value   *float64 `parquet:"measurement"`
		Battery *string  `parquet:"battery"`
		Flag    *string  `parquet:"flag"`
		Raw     *string  `parquet:"raw"`
	}
	rows, err := parquet.Read[row](strings.NewReader(got), int64(len(got)))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || *rows[0].Value != 1.5 || *rows[0].Battery != "4" || rows[0].Flag != nil || *rows[0].Raw != `{"x": [1, 2]}` {
		t.Errorf("parquet rows %+v", rows)
	}
}

func TestMonthPrefixes(t *testing.T) {
	from := measure.MustParseDay("2024-11-30")
	to := measure.MustParseDay("2025-02-01")
	got := strings.Join(monthPrefixes("/archives/", from, to), " ")
	if want := "archives/2024/11/ archives/2024/12/ archives/2025/01/ archives/2025/02/"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := strings.Join(monthPrefixes("", from, from), " "); got != "2024/11/" {
		t.Errorf("no prefix: %s", got)
	}
}

// TestExportSaysWhatItLeavesOut: reading members another tool wrote into
// an archive have no export column; the log says so, naming an example.
func TestExportSaysWhatItLeavesOut(t *testing.T) {
	var log bytes.Buffer
	x := memExporter(t, &log)
	d := measure.MustParseDay("2025-01-15")
	putArchive(t, x.Bucket, d, measure.Schema{}, []measure.Reading{
		{Sensor: "s", Time: d.Start(), Other: `"station_note": "moved"`},
		{Sensor: "s", Time: d.Start().Add(time.Minute)},
	})
	out, _, err := export(t, x, Options{From: d, To: d}, CSV)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), `1 readings of archives/2025/01/archive-2025-01-15.json.gz hold fields the archive format does not define`) || !strings.Contains(log.String(), "station_note") {
		t.Errorf("log does not say what was left out:\n%s", log.String())
	}
	if strings.Count(out, "\n") != 3 {
		t.Errorf("csv:\n%s", out)
	}
}

// TestPGFloat4MatchesPostgres: appendPGFloat4 writes what float4out writes,
// for 20,000 random float4 bit patterns and the layout boundaries.
func TestPGFloat4MatchesPostgres(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	vals := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, 1, 0.1, 1e-4, 1e-5, 99999, 999999, 1e6, 1234567, 1.5e7, 3.4028235e38, 1e-45, 0.42857143, 16777217}
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		vals = append(vals, math.Float32frombits(rnd.Uint32()))
	}
	f64 := make([]float64, len(vals))
	for i, v := range vals {
		f64[i] = float64(v)
	}
	rows, err := conn.Query(ctx, `SELECT v::float4::text FROM unnest($1::float8[]) WITH ORDINALITY AS u(v, i) ORDER BY i`, f64)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for rows.Next() {
		var want string
		if err := rows.Scan(&want); err != nil {
			t.Fatal(err)
		}
		if got := string(appendPGFloat4(nil, f64[i])); got != want {
			t.Errorf("%v (bits %x): got %q, PostgreSQL writes %q", vals[i], math.Float32bits(vals[i]), got, want)
		}
		i++
	}
	if err := rows.Err(); err != nil || i != len(vals) {
		t.Fatalf("%d of %d values: %v", i, len(vals), err)
	}
}

// TestExportSensorFilterThatMatchesNothing: sensor names are exact, so a
// --sensor with the wrong case or a typo exported a header and exited 0,
// as if the sensor had no data. A filter none of whose sensors has a
// reading in the range is an error naming them and a near name; a sensor
// of several that has none is a warning.
func TestExportSensorFilterThatMatchesNothing(t *testing.T) {
	var log bytes.Buffer
	x := memExporter(t, &log)
	d := measure.MustParseDay("2025-01-15")
	putArchive(t, x.Bucket, d, measure.Schema{}, []measure.Reading{
		{Sensor: "Gauge-7", Time: d.Start()},
		{Sensor: "gauge-9", Time: d.Start().Add(time.Minute)},
	})
	_, _, err := export(t, x, Options{From: d, To: d, Sensors: []string{"gauge-7"}}, CSV)
	if !errors.Is(err, ErrNoSensorReadings) {
		t.Fatalf("err = %v, want ErrNoSensorReadings", err)
	}
	testkit.Contains(t, "message", err.Error(), `"gauge-7"`, `did you mean "Gauge-7"`, "case-sensitive")

	log.Reset()
	_, s, err := export(t, x, Options{From: d, To: d, Sensors: []string{"gauge-9", "gauge-99"}}, CSV)
	if err != nil || s.Exported != 1 {
		t.Fatalf("one of two sensors found: %v, exported %d", err, s.Exported)
	}
	if !strings.Contains(log.String(), `gauge-99`) || !strings.Contains(log.String(), "no reading") {
		t.Errorf("no warning for the sensor without readings:\n%s", log.String())
	}
}
