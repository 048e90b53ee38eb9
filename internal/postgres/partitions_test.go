package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pgtest"
	"github.com/shizuku-labs/archiver/internal/postgres"
)

// TestLockPartitionsBeforeTheSnapshot is what makes TRUNCATE safe: a writer
// in flight on the partition when the day's transaction locks it is waited
// for, and its row is then in the transaction's snapshot (so it is counted,
// archived and only then removed); a writer that comes later waits for the
// commit.
func TestLockPartitionsBeforeTheSnapshot(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	pool, err := postgres.Connect(ctx, dbURL, 10*time.Second, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, s := range []string{
		`CREATE TABLE m (sensor_id text NOT NULL, ts timestamptz NOT NULL, value_mm float8, qc_flags int, imputation_method text) PARTITION BY RANGE (ts)`,
		`CREATE TABLE m_15 PARTITION OF m FOR VALUES FROM ('2025-01-15') TO ('2025-01-16')`,
		`CREATE TABLE m_16 PARTITION OF m FOR VALUES FROM ('2025-01-16') TO ('2025-01-17')`,
		`CREATE TABLE m_week PARTITION OF m FOR VALUES FROM ('2025-01-01') TO ('2025-01-08')`,
		`CREATE TABLE m_default PARTITION OF m DEFAULT`,
		`INSERT INTO m (sensor_id, ts) VALUES ('a', '2025-01-15 01:00Z')`,
	} {
		if _, err := pool.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	tbl := postgres.CleanTable{Name: []string{"m"}, Sensor: "sensor_id", Time: "ts", Value: "value_mm", QCFlags: "qc_flags", Imputation: "imputation_method"}
	day := measure.MustParseDay("2025-01-15")
	parts, err := tbl.DayPartitions(ctx, pool, day)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 || parts[0].Name != "m_15" {
		t.Fatalf("partitions inside %s: %+v", day, parts)
	}
	all, err := tbl.Partitions(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 { // not DEFAULT
		t.Fatalf("partitions: %+v", all)
	}

	// A writer is in flight on the day's partition.
	writer, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Exec(ctx, `INSERT INTO m (sensor_id, ts) VALUES ('b', '2025-01-15 02:00Z')`); err != nil {
		t.Fatal(err)
	}
	day1, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer day1.Rollback(ctx)
	locked := make(chan error, 1)
	go func() { locked <- postgres.LockPartitions(ctx, day1, parts, 10*time.Second) }()
	select {
	case err := <-locked:
		t.Fatalf("the lock was granted while a writer was in flight (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-locked; err != nil {
		t.Fatal(err)
	}
	n, err := parts[0].CountRows(ctx, day1)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("the day's snapshot sees %d rows of the partition, want 2 (the in-flight writer's included)", n)
	}
	// A later writer waits for the commit.
	later := make(chan error, 1)
	go func() {
		_, err := pool.Exec(ctx, `INSERT INTO m (sensor_id, ts) VALUES ('c', '2025-01-15 03:00Z')`)
		later <- err
	}()
	select {
	case err := <-later:
		t.Fatalf("a writer got in while the partition was locked (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := parts[0].Truncate(ctx, day1); err != nil {
		t.Fatal(err)
	}
	if err := day1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-later; err != nil {
		t.Fatal(err)
	}
	var left int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM m_15`).Scan(&left); err != nil || left != 1 {
		t.Fatalf("after the truncate and the later writer: %d rows (%v), want the later one", left, err)
	}
	// Not empty: kept. Emptied: dropped.
	if err := tbl.DropEmptyPartition(ctx, pool, parts[0], time.Second); !errors.Is(err, postgres.ErrNotEmpty) {
		t.Fatalf("dropping a partition holding a row: %v", err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM m_15`); err != nil {
		t.Fatal(err)
	}
	if err := tbl.DropEmptyPartition(ctx, pool, parts[0], time.Second); err != nil {
		t.Fatal(err)
	}
	if all, _ := tbl.Partitions(ctx, pool); len(all) != 2 {
		t.Fatalf("after the drop: %+v", all)
	}
	// A held lock on the table makes the drop give up in time, changing nothing.
	reader, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback(ctx)
	if _, err := reader.Exec(ctx, `SELECT count(*) FROM m`); err != nil {
		t.Fatal(err)
	}
	if err := tbl.DropEmptyPartition(ctx, pool, all[0], 100*time.Millisecond); !postgres.IsLockTimeout(err) {
		t.Fatalf("drop under a held lock: %v, want a lock timeout", err)
	}
}
