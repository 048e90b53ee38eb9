package restore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"gocloud.dev/blob"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/coretest"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pgtest"
	"github.com/shizuku-labs/archiver/internal/postgres"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const prefix = "archives"

var clean = postgres.CleanTable{
	Name: []string{"shizuku", "clean_measurements"}, Sensor: "sensor_id", Time: "ts",
	Value: "value_mm", QCFlags: "qc_flags", Imputation: "imputation_method",
}

// env is a migrated database with the original schema and an in-memory
// bucket (coretest), in the names these tests use.
type env struct {
	pool   *pgxpool.Pool
	bucket *blob.Bucket
	log    *bytes.Buffer
	core   *coretest.Env
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	ce := coretest.New(tb)
	return &env{pool: ce.Pool, bucket: ce.Bucket, log: ce.LogBuf, core: ce}
}

// testDay is the day the tests archive and restore.
var testDay = measure.MustParseDay("2024-03-01")

// newEnvWithDay is newEnv with an archive of n generated readings of
// testDay.
func newEnvWithDay(tb testing.TB, n int) (*env, measure.Day) {
	tb.Helper()
	e := newEnv(tb)
	e.putArchive(tb, testDay, n)
	return e, testDay
}

func (e *env) restorer() *Restorer {
	return &Restorer{
		Pool: e.pool, Bucket: e.bucket, Target: clean, Manifests: manifest.NewStore("archiver"), Schema: "archiver",
		Location: coretest.Location, Prefix: prefix, Log: slog.New(slog.NewTextHandler(e.log, nil)),
		Limits: coretest.Limits,
	}
}

// genReadings makes n readings of day d in canonical order: 100 sensors,
// microsecond times, a NULL or an imputation method now and then.
func genReadings(d measure.Day, n int, emit func(*measure.Reading) error) error {
	const sensors = 100
	per := (n + sensors - 1) / sensors
	step := 24 * time.Hour / time.Duration(per)
	done := 0
	for s := 0; s < sensors && done < n; s++ {
		r := measure.Reading{Sensor: fmt.Sprintf("station-%03d/rain", s)}
		for i := 0; i < per && done < n; i++ {
			r.Time = d.Start().Add(time.Duration(i)*step + time.Duration(i%997)*time.Microsecond)
			r.Value = sql.NullFloat64{Float64: float64(i%5000) / 8, Valid: i%50 != 7}
			r.QCFlags = sql.NullInt64{Int64: int64(i % 3), Valid: i%60 != 9}
			r.Imputation = sql.NullString{String: "ARIMA", Valid: i%20 == 0}
			if err := emit(&r); err != nil {
				return err
			}
			done++
		}
	}
	return nil
}

// putArchive writes a canonical archive of n generated readings at the
// day's key and returns its stats.
func (e *env) putArchive(tb testing.TB, d measure.Day, n int) archivefile.Stats {
	tb.Helper()
	return e.writeArchive(tb, d, func(aw *archivefile.Writer) error { return genReadings(d, n, aw.Write) })
}

// writeArchive writes the archive of day d at its key, with the readings
// fill writes, through the storage layer; it returns the archive's stats.
func (e *env) writeArchive(tb testing.TB, d measure.Day, fill func(*archivefile.Writer) error) archivefile.Stats {
	tb.Helper()
	st := &archivestore.Store{Bucket: e.bucket}
	stats, err := st.Write(context.Background(), archivestore.Key(prefix, d), archivestore.WriteOptions{Day: d, Level: 1}, fill)
	if err != nil {
		tb.Fatal(err)
	}
	return stats
}

// exec runs SQL statements, failing the test on the first error.
func (e *env) exec(tb testing.TB, stmts ...string) {
	tb.Helper()
	e.core.Exec(tb, stmts...)
}

func (e *env) count(tb testing.TB, q string) int64 {
	tb.Helper()
	return e.core.Count(tb, q)
}

// TestCopySourceDoesNotAllocate: the path from decoder to COPY encoding
// allocates nothing per reading (the decoder itself is measured by the
// archivefile benchmarks; here the source and pgx's binary encoders).
func TestCopySourceDoesNotAllocate(t *testing.T) {
	d := measure.MustParseDay("2025-01-15")
	var buf bytes.Buffer
	aw, err := archivefile.NewWriter(&buf, d, 1)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50000
	if err := genReadings(d, n, aw.Write); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	ar, err := archivefile.NewReader(bytes.NewReader(buf.Bytes()), archivefile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	src := newCopySource(ar)
	m := pgtype.NewMap()
	// The target's column types: text, timestamptz, float8, int4, text; and
	// timestamp, float4, int8 for tables declared that way.
	oids := [][5]uint32{
		{pgtype.TextOID, pgtype.TimestamptzOID, pgtype.Float8OID, pgtype.Int4OID, pgtype.TextOID},
		{pgtype.VarcharOID, pgtype.TimestampOID, pgtype.Float4OID, pgtype.Int8OID, pgtype.VarcharOID},
	}
	out := make([]byte, 0, 1<<16)
	var encErr error
	encode := func() {
		vals, _ := src.Values()
		for k := range oids {
			out = out[:0]
			for i, v := range vals {
				b, err := m.Encode(oids[k][i], pgtype.BinaryFormatCode, v, out)
				if err != nil && encErr == nil {
					encErr = err
				}
				if b != nil { // nil means NULL, as in pgx's COPY
					out = b
				}
			}
		}
	}
	// Warm up: plans are memoized per type on first use.
	if !src.Next() {
		t.Fatal(src.Err())
	}
	encode()
	allocs := testing.AllocsPerRun(n/2-10, func() {
		src.Next()
		encode()
	})
	if encErr != nil || src.Err() != nil {
		t.Fatalf("encode: %v, source: %v", encErr, src.Err())
	}
	if src.n < n/2-10 {
		t.Fatalf("source gave %d readings", src.n)
	}
	if allocs > 0.01 {
		t.Errorf("%.3f allocations per reading from archive to COPY encoding, want 0", allocs)
	}
}

// TestLockedDayWaitsThenFails: a day held by another run is waited for,
// then refused with a message that says so; nothing is imported.
func TestLockedDayWaitsThenFails(t *testing.T) {
	e, d := newEnvWithDay(t, 500)
	ctx := context.Background()
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unlock, ok, err := clean.TryLockDay(ctx, conn, d)
	if err != nil || !ok {
		t.Fatalf("take lock: %v %v", ok, err)
	}
	r := e.restorer()
	r.LockWait = 400 * time.Millisecond
	s, err := r.Run(ctx, Options{Days: []measure.Day{d}})
	if !errors.Is(err, ErrDaysFailed) || len(s.Days) != 1 || !errors.Is(s.Days[0].Err, ErrLocked) {
		t.Fatalf("err %v, days %+v", err, s.Days)
	}
	if !strings.Contains(s.Days[0].Err.Error(), "another archiver run") || !strings.Contains(e.log.String(), "waiting up to") {
		t.Errorf("message does not say another run holds the day: %v\nlog:\n%s", s.Days[0].Err, e.log)
	}
	if n := e.count(t, `SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows imported while the day was locked", n)
	}

	// Released while waiting: the restore goes ahead.
	r.LockWait = 20 * time.Second
	go func() { time.Sleep(300 * time.Millisecond); unlock(); conn.Release() }()
	s, err = r.Run(ctx, Options{Days: []measure.Day{d}})
	if err != nil || s.Inserted != 500 {
		t.Fatalf("after release: %v, inserted %d", err, s.Inserted)
	}
}

// TestNearest picks archived days on both sides of a missing one.
func TestNearest(t *testing.T) {
	var days []measure.Day
	for _, s := range []string{"2025-01-01", "2025-01-03", "2025-01-04", "2025-01-09", "2025-01-10", "2025-01-11"} {
		days = append(days, measure.MustParseDay(s))
	}
	for _, c := range []struct{ day, want string }{
		{"2025-01-05", "2025-01-03 2025-01-04 2025-01-09 2025-01-10"},
		{"2024-12-01", "2025-01-01 2025-01-03"},
		{"2025-02-01", "2025-01-10 2025-01-11"},
		{"2025-01-04", "2025-01-01 2025-01-03 2025-01-09 2025-01-10"},
	} {
		var got []string
		for _, d := range Nearest(days, measure.MustParseDay(c.day), 2) {
			got = append(got, d.String())
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("Nearest(%s) = %v, want %s", c.day, got, c.want)
		}
	}
}

// TestRestoreMemoryIsConstant restores days of 200k and 1M readings and
// checks that the heap the restore needs does not grow with the day: the
// archive is streamed from storage into COPY, never held.
func TestRestoreMemoryIsConstant(t *testing.T) {
	if testing.Short() {
		t.Skip("restores 1.2M readings")
	}
	e := newEnv(t)
	d1, d2 := measure.MustParseDay("2024-05-01"), measure.MustParseDay("2024-05-02")
	writeDay(t, e, d1, 200_000)
	writeDay(t, e, d2, 1_000_000)
	small := measureRestore(t, e, d1, 200_000)
	large := measureRestore(t, e, d2, 1_000_000)
	t.Logf("200k readings: peak heap growth %.1f MiB, %.4f allocs/reading", mib(small.peak), small.allocsPerReading)
	t.Logf("1M readings:   peak heap growth %.1f MiB, %.4f allocs/reading", mib(large.peak), large.allocsPerReading)
	// A day held in memory would take hundreds of MiB at 1M readings (the
	// JSON alone is ~120 MiB); streaming needs a few buffers.
	const bound = 48 << 20
	if large.peak > bound {
		t.Errorf("restoring 1M readings grew the heap by %.1f MiB, bound %.0f MiB", mib(large.peak), mib(bound))
	}
	if large.peak > 2*small.peak+16<<20 {
		t.Errorf("heap growth rises with the day: %.1f MiB at 200k, %.1f MiB at 1M", mib(small.peak), mib(large.peak))
	}
	if large.allocsPerReading > 0.05 {
		t.Errorf("%.4f allocations per reading restored, want ~0", large.allocsPerReading)
	}
}

// BenchmarkRestoreDay restores one day of readings per iteration into an
// empty table and reports allocations per reading and the peak heap growth.
func BenchmarkRestoreDay(b *testing.B) {
	for _, n := range []int{200_000, 1_000_000} {
		b.Run(fmt.Sprintf("readings=%d", n), func(b *testing.B) {
			e := newEnv(b)
			d := measure.MustParseDay("2024-06-01")
			writeDay(b, e, d, n)
			var last memResult
			for b.Loop() {
				last = measureRestore(b, e, d, n)
				b.StopTimer()
				if _, err := e.pool.Exec(context.Background(), `TRUNCATE shizuku.clean_measurements`); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(last.allocsPerReading, "allocs/reading")
			b.ReportMetric(mib(last.peak), "peak-heap-MiB")
		})
	}
}

type memResult struct {
	peak             uint64 // highest HeapAlloc seen during the restore, above the baseline
	allocsPerReading float64
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// writeDay stores an archive of n generated readings for day d.
func writeDay(tb testing.TB, e *env, d measure.Day, n int) {
	tb.Helper()
	if st := e.putArchive(tb, d, n); st.Readings != int64(n) {
		tb.Fatalf("wrote %d readings, want %d", st.Readings, n)
	}
}

// measureRestore restores the n readings of day d into an empty table
// while sampling the heap.
func measureRestore(tb testing.TB, e *env, d measure.Day, n int) memResult {
	tb.Helper()
	r := e.restorer()
	r.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()

	var s Summary
	var err error
	growth, mallocs := testkit.HeapGrowth(func() { s, err = r.Run(ctx, Options{Days: []measure.Day{d}}) })
	if err != nil {
		tb.Fatal(err)
	}
	if s.Inserted != int64(n) {
		tb.Fatalf("inserted %d, want %d", s.Inserted, n)
	}
	return memResult{peak: growth, allocsPerReading: float64(mallocs) / float64(n)}
}

// TestRestoreRefusesUnfillableColumn: a target with a NOT NULL column that
// has no default and that the archives do not hold cannot take a single
// reading. The restore refuses before any day is read, naming the column
// and the settings, instead of failing every day on PostgreSQL's bare
// not-null violation (23502). A column listed in clean.columns.extra but
// missing from an older archive fails that day with the same explanation.
func TestRestoreRefusesUnfillableColumn(t *testing.T) {
	e, d := newEnvWithDay(t, 50)
	ctx := context.Background()
	e.exec(t, `CREATE TABLE shizuku."Analysis Copy" (LIKE shizuku.clean_measurements INCLUDING DEFAULTS, site text NOT NULL, station text DEFAULT 'x', note text)`)
	r := e.restorer()
	r.Target.Name = []string{"shizuku", "Analysis Copy"}
	r.Target.Source = "--into"
	s, err := r.Run(ctx, Options{Days: []measure.Day{d}})
	if err == nil || errors.Is(err, ErrDaysFailed) || len(s.Days) != 0 {
		t.Fatalf("want a refusal before any day, got err %v, days %+v", err, s.Days)
	}
	testkit.Contains(t, "message", err.Error(), `"site"`, "NOT NULL", "clean.columns.extra", "SET DEFAULT", "DROP NOT NULL", "nothing was restored")
	if strings.Contains(err.Error(), `"station"`) || strings.Contains(err.Error(), `"note"`) {
		t.Errorf("message names fillable columns: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM archiver.archive_runs WHERE kind = 'restore'`); n != 0 {
		t.Errorf("%d restore runs recorded by a refused restore", n)
	}

	// Listed as archived, but this (older) archive does not hold it.
	r = e.restorer()
	r.Target.Name = []string{"shizuku", "Analysis Copy"}
	r.Target.Extra = []string{"site"}
	s, err = r.Run(ctx, Options{Days: []measure.Day{d}})
	if !errors.Is(err, ErrDaysFailed) || len(s.Days) != 1 {
		t.Fatalf("err %v, days %+v", err, s.Days)
	}
	msg := s.Days[0].Err.Error()
	testkit.Contains(t, "day's message", msg, `"site"`, "does not hold", "SET DEFAULT")
	if n := e.count(t, `SELECT count(*) FROM shizuku."Analysis Copy"`); n != 0 {
		t.Errorf("%d rows imported", n)
	}
}

// TestRestoreRefusesRowChangingInsertTriggers: a BEFORE INSERT row trigger
// (or an INSERT rule) on the target, or on one of its partitions, can
// change or divert every restored reading: the restore reported success
// while the table held other values than the archive, and the next archive
// run then kept both versions. It is refused before any day is read,
// naming the trigger and --allow-insert-triggers; an AFTER trigger (which
// cannot change the row) is not.
func TestRestoreRefusesRowChangingInsertTriggers(t *testing.T) {
	e, d := newEnvWithDay(t, 50)
	ctx := context.Background()
	e.exec(t, `CREATE TABLE shizuku.audit (n int);
		CREATE FUNCTION shizuku.note() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO shizuku.audit VALUES (1); RETURN NEW; END$$;
		CREATE TRIGGER "Audit It" AFTER INSERT ON shizuku.clean_measurements FOR EACH ROW EXECUTE FUNCTION shizuku.note();
		CREATE FUNCTION shizuku.bump() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.qc_flags := 77; RETURN NEW; END$$;
		CREATE TRIGGER bump_qc BEFORE INSERT ON shizuku.clean_measurements FOR EACH ROW EXECUTE FUNCTION shizuku.bump()`)
	r := e.restorer()
	for _, dry := range []bool{true, false} {
		s, err := r.Run(ctx, Options{Days: []measure.Day{d}, DryRun: dry})
		if err == nil || errors.Is(err, ErrDaysFailed) || len(s.Days) != 0 {
			t.Fatalf("dry run %v: want a refusal before any day, got err %v, days %+v", dry, err, s.Days)
		}
		testkit.Contains(t, "message", err.Error(), "bump_qc", "BEFORE INSERT", "--allow-insert-triggers", "DISABLE TRIGGER")
		if strings.Contains(err.Error(), "Audit It") {
			t.Errorf("message names the AFTER trigger: %v", err)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows imported", n)
	}

	// Knowingly: the trigger runs, as the operator accepted.
	s, err := r.Run(ctx, Options{Days: []measure.Day{d}, AllowInsertTriggers: true})
	if err != nil || s.Inserted != 50 {
		t.Fatalf("with AllowInsertTriggers: %v, inserted %d", err, s.Inserted)
	}
	if n := e.count(t, `SELECT count(*) FROM shizuku.clean_measurements WHERE qc_flags = 77`); n != 50 {
		t.Errorf("%d rows went through the trigger, want 50", n)
	}

	// Disabled, the trigger is no reason to refuse; nor is the AFTER one.
	e.exec(t, `TRUNCATE shizuku.clean_measurements; ALTER TABLE shizuku.clean_measurements DISABLE TRIGGER bump_qc`)
	if s, err := r.Run(ctx, Options{Days: []measure.Day{d}}); err != nil || s.Inserted != 50 {
		t.Fatalf("with the trigger disabled: %v, inserted %d", err, s.Inserted)
	}

	// A trigger on a partition fires for rows inserted through the parent.
	e.exec(t, `CREATE TABLE shizuku.parted (LIKE shizuku.clean_measurements INCLUDING DEFAULTS) PARTITION BY RANGE (ts);
		CREATE TABLE shizuku.parted_2024 PARTITION OF shizuku.parted FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
		CREATE TRIGGER bump_part BEFORE INSERT ON shizuku.parted_2024 FOR EACH ROW EXECUTE FUNCTION shizuku.bump()`)
	r.Target.Name = []string{"shizuku", "parted"}
	if _, err := r.Run(ctx, Options{Days: []measure.Day{d}}); err == nil || !strings.Contains(err.Error(), "bump_part") {
		t.Errorf("a partition's BEFORE INSERT trigger was not refused: %v", err)
	}
}

// TestRestoreRefusesNarrowerColumns: restore --into a table whose mapped
// columns cannot hold the archive's values exactly (a shorter varchar, a
// timestamp of lower precision, fewer decimals, real for double values)
// cast them silently: sensor ids were cut to one shared prefix, values
// rounded and times truncated, and the restore reported success. Each day
// is refused before anything is inserted, naming the column, its type and
// a value; a narrower type that holds every value (real for multiples of
// 1/8) restores.
func TestRestoreRefusesNarrowerColumns(t *testing.T) {
	e, d := newEnvWithDay(t, 300)
	cases := []struct {
		name, def, column string
	}{
		{"short_sensor", `sensor_id varchar(5), ts timestamptz, value_mm real, qc_flags int, imputation_method text`, "sensor_id"},
		{"coarse_time", `sensor_id text, ts timestamptz(0), value_mm double precision, qc_flags int, imputation_method text`, "ts"},
		{"few_decimals", `sensor_id text, ts timestamptz, value_mm numeric(8,1), qc_flags int, imputation_method text`, "value_mm"},
		{"short_method", `sensor_id text, ts timestamptz, value_mm numeric, qc_flags int, imputation_method varchar(3)`, "imputation_method"},
	}
	for _, c := range cases {
		e.refusedInto(t, d, c.name, c.def, `"`+c.column+`"`, "exactly")
	}
	// Every generated value is a multiple of 1/8: real holds it exactly.
	if s, err := e.restoreInto(t, d, "real_values", `sensor_id text, ts timestamptz, value_mm real, qc_flags smallint, imputation_method varchar(5)`); err != nil || s.Inserted != 300 {
		t.Fatalf("real values: %v, inserted %d", err, s.Inserted)
	}
}

// restoreInto creates the table shizuku.<name> (def) and restores day d
// into it.
func (e *env) restoreInto(t *testing.T, d measure.Day, name, def string) (Summary, error) {
	t.Helper()
	e.exec(t, `CREATE TABLE shizuku.`+name+` (`+def+`)`)
	r := e.restorer()
	r.Target.Name = []string{"shizuku", name}
	return r.Run(context.Background(), Options{Days: []measure.Day{d}})
}

// refusedInto is restoreInto, failing t unless the day fails with a
// reason naming each of wants and nothing is imported.
func (e *env) refusedInto(t *testing.T, d measure.Day, name, def string, wants ...string) {
	t.Helper()
	s, err := e.restoreInto(t, d, name, def)
	if !errors.Is(err, ErrDaysFailed) || len(s.Days) != 1 {
		t.Errorf("%s: err %v, days %+v", name, err, s.Days)
		return
	}
	testkit.Contains(t, name+": the day's reason", s.Days[0].Err.Error(), wants...)
	if n := e.count(t, `SELECT count(*) FROM shizuku.`+name); n != 0 {
		t.Errorf("%s: %d rows imported", name, n)
	}
}

// TestRestoreRefusesNarrowerExtraColumns: the extra columns' values are
// cast to the target's types too; a cast that cuts text or rounds a
// number fails the day, as for the mapped columns.
func TestRestoreRefusesNarrowerExtraColumns(t *testing.T) {
	e := newEnv(t)
	d := measure.MustParseDay("2024-03-01")
	e.writeArchive(t, d, func(aw *archivefile.Writer) error {
		for i := range 3 {
			r := measure.Reading{Sensor: "s", Time: d.Start().Add(time.Duration(i) * time.Minute), Extra: `{"reading_no": 12.5, "station": "north gate"}`}
			if err := aw.Write(&r); err != nil {
				return err
			}
		}
		return nil
	})
	base := `sensor_id text, ts timestamptz, value_mm double precision, qc_flags int, imputation_method text`
	// An integer column refuses 12.5 itself (PostgreSQL's input error names
	// the value); a varchar(5) would have cut "north gate" to "north".
	for _, c := range []struct{ name, def, column string }{
		{"short_station", base + `, station varchar(5), reading_no numeric`, `"station"`},
		{"int_reading_no", base + `, station text, reading_no int`, `integer: "12.5"`},
	} {
		e.refusedInto(t, d, c.name, c.def, c.column)
	}
	if s, err := e.restoreInto(t, d, "wide_extras", base+`, station text, reading_no numeric(4,1)`); err != nil || s.Inserted != 3 {
		t.Fatalf("extras that fit: %v, inserted %d", err, s.Inserted)
	}
}

// TestDayEmptyCheckProbesTheTimeIndex: the check whether the target holds
// rows of a day (asked for every day restored, in its transaction) is one
// probe of the time index even when the table's statistics say that the
// day is full, as they do for a day archived (deleted) since the last
// ANALYZE, the usual day to restore. The earlier NOT EXISTS form was
// planned as a sequential scan there, expecting to meet a row of the day
// soon, and read the whole table to find none, once per day restored.
func TestDayEmptyCheckProbesTheTimeIndex(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	full, gone := measure.MustParseDay("2024-03-01"), measure.MustParseDay("2024-03-02")
	for _, sql := range []string{
		`INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags)
			SELECT 's' || (i % 100), timestamptz '2024-03-01' + i * interval '2 seconds', i, 0 FROM generate_series(0, 86399) i`,
		`ANALYZE shizuku.clean_measurements`,
		`DELETE FROM shizuku.clean_measurements WHERE ts >= '2024-03-02'`, // archived since
	} {
		e.exec(t, sql)
	}
	q := dayEmptySQL(clean)
	for _, c := range []struct {
		d    measure.Day
		want bool
	}{{full, false}, {gone, true}} {
		var got bool
		if err := e.pool.QueryRow(ctx, q, c.d.Start(), c.d.End()).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: empty = %v, want %v", c.d, got, c.want)
		}
		var plan string
		if err := e.pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+q, c.d.Start(), c.d.End()).Scan(&plan); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(plan, `"Seq Scan"`) || !strings.Contains(plan, "clean_measurements_ts_idx") {
			t.Errorf("%s: the check is not a probe of the time index:\n%s", c.d, plan)
		}
	}
}

// TestReadAheadDayArchivedAnewBeforeItsLock: the second day is located
// and its archive read ahead while the first is restored; when the run
// holding the second day's lock archives it anew meanwhile (a new object
// and manifest), the restore restores the new archive, verified against
// the new manifest, not what it read ahead (which its own manifest would
// still have vouched for).
func TestReadAheadDayArchivedAnewBeforeItsLock(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d0, d := measure.MustParseDay("2024-02-29"), measure.MustParseDay("2024-03-01")
	store := manifest.NewStore("archiver")
	archiveDay := func(d measure.Day, n int) archivefile.Stats {
		t.Helper()
		st := e.putArchive(t, d, n)
		day := d.Start()
		m := manifest.Entry{RunID: manifest.NewRunID(), Kind: manifest.KindArchive, Status: manifest.StatusCommitted, Day: &day,
			SourceTable: clean.String(), ObjectKey: archivestore.Key(prefix, d), Location: coretest.Location,
			Readings: manifest.Int64(st.Readings), Sensors: manifest.Int64(st.Sensors), Bytes: manifest.Int64(st.Bytes), SHA256: st.SHA256,
			StartedAt: time.Now().UTC()}
		if err := store.Insert(ctx, e.pool, &m); err != nil {
			t.Fatal(err)
		}
		return st
	}
	archiveDay(d0, 300)
	archiveDay(d, 500)

	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	unlock, ok, err := clean.TryLockDay(ctx, conn, d)
	if err != nil || !ok {
		t.Fatalf("take lock: %v %v", ok, err)
	}
	r := e.restorer()
	r.Concurrency = 1 // the first day is the worker's to read; the second is read ahead
	r.LockWait = 20 * time.Second
	waiting := &signalWriter{match: "waiting up to", seen: make(chan struct{})}
	r.Log = slog.New(slog.NewTextHandler(waiting, nil))
	type result struct {
		s   Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := r.Run(ctx, Options{Days: []measure.Day{d0, d}})
		done <- result{s, err}
	}()
	// The second day waits for its lock: it was located and read ahead.
	select {
	case <-waiting.seen:
	case <-time.After(10 * time.Second):
		t.Fatal("the restore did not wait for the day's lock")
	}
	now := archiveDay(d, 700) // by the run holding the lock
	unlock()

	res := <-done
	if res.err != nil {
		t.Fatalf("restore: %v", res.err)
	}
	if got := res.s.Days[1]; got.Inserted != 700 || got.SHA256 != now.SHA256 {
		t.Errorf("restored %d readings of %s (sha256 %s), want the 700 of the archive written while the day was locked (%s)", got.Inserted, d, got.SHA256, now.SHA256)
	}
	if n := e.count(t, `SELECT count(*) FROM shizuku.clean_measurements`); n != 1000 {
		t.Errorf("the table holds %d readings, want 300 + 700", n)
	}
}

// signalWriter closes seen when what is written holds match.
type signalWriter struct {
	match string
	seen  chan struct{}
	once  sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(w.match)) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}
