package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// Partition is a leaf partition of a clean table that is range-partitioned
// on its time column, with its bounds [From, To).
type Partition struct {
	Schema, Name string
	From, To     time.Time
}

func (p Partition) ident() string { return pgx.Identifier{p.Schema, p.Name}.Sanitize() }

// String names the partition for messages.
func (p Partition) String() string { return p.Schema + "." + p.Name }

// Inside reports whether every time the partition can hold lies in day d.
func (p Partition) Inside(d measure.Day) bool {
	return !p.From.Before(d.Start()) && !p.To.After(d.End()) && p.From.Before(p.To)
}

// Partitions lists the leaf partitions of the table when it is partitioned
// by RANGE on exactly its time column, with their bounds; nil otherwise.
// Partitions that are themselves partitioned, foreign tables, the DEFAULT
// partition and unbounded ranges (MINVALUE, MAXVALUE) are left out: they
// are never dropped. Bounds are read in the session's time zone, UTC, which
// is also how a timestamp (without time zone) column is taken.
func (t CleanTable) Partitions(ctx context.Context, q Querier) ([]Partition, error) {
	var byTime bool
	err := q.QueryRow(ctx, `SELECT count(*) = 1 FROM pg_partitioned_table p
		JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attname = $2 AND NOT a.attisdropped
		WHERE p.partrelid = to_regclass($1) AND p.partstrat = 'r' AND p.partnatts = 1 AND p.partattrs[0] = a.attnum`,
		ident(t.Name), t.Time).Scan(&byTime)
	if err != nil {
		return nil, fmt.Errorf("read the partitioning of %s: %w", t, err)
	}
	if !byTime {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT n.nspname, c.relname, b[1]::timestamptz, b[2]::timestamptz
		FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace,
		LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), '^FOR VALUES FROM \(''([^'']*)''\) TO \(''([^'']*)''\)$') b
		WHERE i.inhparent = to_regclass($1) AND c.relkind = 'r' AND b IS NOT NULL
		ORDER BY 3`, ident(t.Name))
	if err != nil {
		return nil, fmt.Errorf("list the partitions of %s: %w", t, err)
	}
	var out []Partition
	for rows.Next() {
		var p Partition
		var from, to pgtypeTime
		if err := rows.Scan(&p.Schema, &p.Name, &from, &to); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list the partitions of %s: %w", t, err)
		}
		if !from.ok || !to.ok {
			continue // infinity: never inside a day
		}
		p.From, p.To = from.t.UTC(), to.t.UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the partitions of %s: %w", t, err)
	}
	return out, nil
}

// pgtypeTime scans a timestamptz that may be ±infinity.
type pgtypeTime struct {
	t  time.Time
	ok bool
}

func (p *pgtypeTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		p.t, p.ok = v, true
	default:
		p.ok = false // infinity comes as a string or an InfinityModifier
	}
	return nil
}

// DayPartitions returns the partitions that lie wholly inside day d (see
// Partitions).
func (t CleanTable) DayPartitions(ctx context.Context, q Querier, d measure.Day) ([]Partition, error) {
	all, err := t.Partitions(ctx, q)
	if err != nil {
		return nil, err
	}
	var out []Partition
	for _, p := range all {
		if p.Inside(d) {
			out = append(out, p)
		}
	}
	return out, nil
}

// LockPartitions takes SHARE locks on parts, which lets readers in and
// keeps every writer out until the transaction ends. It must be the first
// statement of a REPEATABLE READ transaction: a LOCK takes no snapshot, so
// the snapshot of the next statement is taken after every writer that was
// in flight on those partitions has finished, and then sees every row they
// will hold until the commit. That is what makes emptying them with
// TRUNCATE, which removes rows whatever the snapshot, remove exactly the
// rows the transaction saw (and archived). timeout bounds the wait for the
// writers, and every later lock wait of the transaction; on expiry the
// transaction is aborted.
func LockPartitions(ctx context.Context, tx pgx.Tx, parts []Partition, timeout time.Duration) error {
	if len(parts) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, max(1, timeout.Milliseconds()))); err != nil {
		return fmt.Errorf("lock partitions: %w", err)
	}
	sql := `LOCK TABLE ONLY `
	for i, p := range parts {
		if i > 0 {
			sql += `, `
		}
		sql += p.ident()
	}
	if _, err := tx.Exec(ctx, sql+` IN SHARE MODE`); err != nil {
		return fmt.Errorf("lock partitions: %w", err)
	}
	// The timeout stays set for the rest of the transaction: every later
	// statement waits for its locks no longer than the LOCK did.
	return nil
}

// CustomPlans makes the rest of tx plan every statement for its actual
// parameters (plan_cache_mode = force_custom_plan), so that a statement on
// a partitioned table opens and locks only the partitions its bounds
// select; a generic plan would lock every partition. It takes no
// snapshot.
func CustomPlans(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
		return fmt.Errorf("set plan_cache_mode: %w", err)
	}
	return nil
}

// CountRows counts the partition's rows in q's snapshot.
func (p Partition) CountRows(ctx context.Context, q Querier) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, `SELECT count(*) FROM ONLY `+p.ident()).Scan(&n); err != nil {
		return 0, fmt.Errorf("count rows of partition %s: %w", p, err)
	}
	return n, nil
}

// Truncate empties the partition in tx. See LockPartitions for when that
// removes exactly the rows the transaction saw.
func (p Partition) Truncate(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `TRUNCATE ONLY `+p.ident()); err != nil {
		return fmt.Errorf("truncate partition %s: %w", p, err)
	}
	return nil
}

// ErrNotEmpty: a partition about to be dropped holds rows.
var ErrNotEmpty = errors.New("partition is not empty")

// DropEmptyPartition detaches and drops p, in one transaction, only if it
// holds no row once detached (nothing can be added to it then). Detaching
// takes an ACCESS EXCLUSIVE lock on the parent table, which the
// application's queries queue behind: lockTimeout bounds that wait, and on
// expiry nothing is changed (the error wraps the lock timeout).
func (t CleanTable) DropEmptyPartition(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}, p Partition, lockTimeout time.Duration) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("drop partition %s: %w", p, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, max(1, lockTimeout.Milliseconds()))); err != nil {
		return fmt.Errorf("drop partition %s: %w", p, err)
	}
	if _, err := tx.Exec(ctx, `ALTER TABLE `+ident(t.Name)+` DETACH PARTITION `+p.ident()); err != nil {
		return fmt.Errorf("detach partition %s: %w", p, err)
	}
	var rows bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ONLY `+p.ident()+`)`).Scan(&rows); err != nil {
		return fmt.Errorf("drop partition %s: %w", p, err)
	}
	if rows {
		return fmt.Errorf("drop partition %s: %w", p, ErrNotEmpty)
	}
	if _, err := tx.Exec(ctx, `DROP TABLE `+p.ident()); err != nil {
		return fmt.Errorf("drop partition %s: %w", p, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("drop partition %s: %w", p, err)
	}
	return nil
}
