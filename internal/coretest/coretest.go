// Package coretest sets up what the core packages' tests (archive, restore,
// verify) work against without the command line: a real, migrated
// PostgreSQL database holding the original service's schema, an in-memory
// bucket, and helpers that seed the clean table and read archives back with
// the archive format's own reader. Tests that are about the command line
// itself live in internal/cli.
package coretest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pgtest"
	"github.com/shizuku-labs/archiver/internal/postgres"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// Schema is the manifest schema the environment is migrated into; Prefix
// the archive key prefix; Location what manifests record for the bucket.
const (
	Schema   = "archiver"
	Prefix   = "archives"
	Location = "mem://coretest"
)

// Tables of the original service's schema (internal/pgtest/schema.sql).
var (
	Raw   = postgres.RawTable{Name: []string{"shizuku", "raw_measurements"}, TimeColumn: "ts"}
	Clean = postgres.CleanTable{
		Name: []string{"shizuku", "clean_measurements"}, Sensor: "sensor_id", Time: "ts",
		Value: "value_mm", QCFlags: "qc_flags", Imputation: "imputation_method",
		Ignore: []string{"id"}, // the surrogate key: restore gives new ids
	}
)

// Limits are generous decompression limits for reading test archives.
var Limits = archivefile.Limits{MaxUncompressedBytes: 1 << 34, MaxReadings: 1 << 30}

// Env is one test's database and bucket.
type Env struct {
	Pool      *pgxpool.Pool
	Bucket    *blob.Bucket
	Manifests *manifest.Store
	LogBuf    *bytes.Buffer
	Log       *slog.Logger
}

// New makes a fresh database with the original schema, migrated, and an
// empty in-memory bucket, both released when the test ends. The calling
// package's TestMain must run pgtest.Main.
func New(tb testing.TB) *Env {
	tb.Helper()
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(tb)
	pgtest.CreateSchema(tb, dbURL)
	pool, err := postgres.Connect(ctx, dbURL, 30*time.Second, 8)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	mg, err := manifest.NewMigrator(ctx, pool, Schema, true)
	if err != nil {
		tb.Fatal(err)
	}
	if err := mg.Up(); err != nil {
		tb.Fatal(err)
	}
	mg.Close()
	bucket := memblob.OpenBucket(nil)
	tb.Cleanup(func() { bucket.Close() })
	buf := &bytes.Buffer{}
	return &Env{
		Pool: pool, Bucket: bucket, Manifests: manifest.NewStore(Schema),
		LogBuf: buf, Log: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// Today is the database's current UTC day.
func (e *Env) Today(tb testing.TB) measure.Day {
	tb.Helper()
	now, err := postgres.Now(context.Background(), e.Pool)
	if err != nil {
		tb.Fatal(err)
	}
	return measure.DayOf(now)
}

// Exec runs SQL statements, failing the test on the first error.
func (e *Env) Exec(tb testing.TB, stmts ...string) {
	tb.Helper()
	for _, s := range stmts {
		if _, err := e.Pool.Exec(context.Background(), s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
}

// Count runs a query returning one number.
func (e *Env) Count(tb testing.TB, q string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := e.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return n
}

// Seed inserts perDay readings of each sensor for every day in [from, to),
// with NULLs, an imputation method now and then, and microsecond times, and
// returns them in the form Readings and Archive report.
func (e *Env) Seed(tb testing.TB, from, to measure.Day, sensors, perDay int) []string {
	tb.Helper()
	var out []string
	for d := from; d.Before(to); d = d.AddDays(1) {
		for s := 0; s < sensors; s++ {
			for i := 0; i < perDay; i++ {
				ts := d.Start().Add(time.Duration(i)*(24*time.Hour/time.Duration(perDay)) + time.Duration(s*7+i)*time.Microsecond)
				var value, qc, imp any
				if i%5 != 3 {
					value = float64(s*1000+i) / 8
				}
				if i%4 != 1 {
					qc = (s + i) % 3
				}
				if i%3 == 0 {
					imp = "ARIMA"
				}
				sensor := fmt.Sprintf("station-%02d/rain", s)
				if _, err := e.Pool.Exec(context.Background(),
					`INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags, imputation_method) VALUES ($1, $2, $3, $4, $5)`,
					sensor, ts, value, qc, imp); err != nil {
					tb.Fatal(err)
				}
				out = append(out, format(sensor, ts, value, qc, imp))
			}
		}
	}
	sort.Strings(out)
	return out
}

// Readings returns the clean table's rows matching where (SQL over the
// original columns; "true" for all), sorted, one string per reading.
func (e *Env) Readings(tb testing.TB, where string, args ...any) []string {
	tb.Helper()
	rows, err := e.Pool.Query(context.Background(),
		`SELECT sensor_id, ts, value_mm, qc_flags, imputation_method FROM shizuku.clean_measurements WHERE `+where, args...)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sensor string
		var ts time.Time
		var value *float64
		var qc *int64
		var imp *string
		if err := rows.Scan(&sensor, &ts, &value, &qc, &imp); err != nil {
			tb.Fatal(err)
		}
		out = append(out, format(sensor, ts, deref(value), deref(qc), deref(imp)))
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// Archive reads the archive of day d with the archive format's reader and
// returns its readings (sorted, one string each) and the reader's stats; ok
// is false when there is no object.
func (e *Env) Archive(tb testing.TB, d measure.Day) (readings []string, stats archivefile.Stats, ok bool) {
	tb.Helper()
	ctx := context.Background()
	r, err := e.Bucket.NewReader(ctx, archivestore.Key(Prefix, d), nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, stats, false
		}
		tb.Fatalf("open the archive of %s: %v", d, err)
	}
	defer r.Close()
	ar, err := archivefile.NewReader(r, Limits)
	if err != nil {
		tb.Fatalf("read the archive of %s: %v", d, err)
	}
	for {
		rd, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatalf("read the archive of %s: %v", d, err)
		}
		var value, qc, imp any
		if rd.Value.Valid {
			value = rd.Value.Float64
		}
		if rd.QCFlags.Valid {
			qc = rd.QCFlags.Int64
		}
		if rd.Imputation.Valid {
			imp = rd.Imputation.String
		}
		readings = append(readings, format(rd.Sensor, rd.Time, value, qc, imp))
	}
	if err := ar.Close(); err != nil {
		tb.Fatalf("read the archive of %s: %v", d, err)
	}
	sort.Strings(readings)
	return readings, ar.Stats(), true
}

// Keys lists the bucket's keys.
func (e *Env) Keys(tb testing.TB) []string {
	tb.Helper()
	var keys []string
	it := e.Bucket.List(nil)
	for {
		o, err := it.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// format is one reading as text, NULL as "NULL"; integers are printed
// alike whatever their Go type.
func format(sensor string, ts time.Time, value, qc, imp any) string {
	f := func(v any) string {
		switch v := v.(type) {
		case nil:
			return "NULL"
		case int:
			return fmt.Sprint(int64(v))
		case string:
			return fmt.Sprintf("%q", v)
		}
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s", sensor, ts.UTC().Format(time.RFC3339Nano), f(value), f(qc), f(imp))
}

// PutGzip stores doc, gzipped, as the object key, the way an archive
// another program wrote (the original service, by hand) would be there.
func (e *Env) PutGzip(tb testing.TB, key, doc string) {
	tb.Helper()
	if err := e.Bucket.WriteAll(context.Background(), key, testkit.Gzip(tb, []byte(doc)), nil); err != nil {
		tb.Fatal(err)
	}
}

// ReadGzip returns the JSON document of the object key.
func (e *Env) ReadGzip(tb testing.TB, key string) string {
	tb.Helper()
	b, err := e.Bucket.ReadAll(context.Background(), key)
	if err != nil {
		tb.Fatal(err)
	}
	return string(testkit.Gunzip(tb, b))
}
