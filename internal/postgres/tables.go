package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// RawTable is the raw measurements table, which is only ever purged. A
// RawTable without a Name is the purge switched off (raw.table empty).
type RawTable struct {
	Name       []string
	TimeColumn string
}

// CleanTable is the clean measurements table and the columns that map to
// the archive's fields.
type CleanTable struct {
	Name                                     []string
	Sensor, Time, Value, QCFlags, Imputation string
	// Extra and Ignore are clean.columns.extra and clean.columns.ignore.
	Extra, Ignore []string
	// Source says how the table was named, for messages: a setting key
	// (empty means clean.table) or a flag such as "--into".
	Source string

	layout *Layout // set by Check or Inspect
}

// Layout is what Check (or Inspect) learned of the table's columns;
// nil before, which reads as the original schema.
func (t CleanTable) Layout() *Layout { return t.layout }

// Schema is the archive schema of the table's value column.
func (t CleanTable) Schema() measure.Schema {
	if t.layout == nil {
		return measure.Schema{}
	}
	return t.layout.Schema
}

// String names the table as configured, for messages.
func (t CleanTable) String() string { return display(t.Name) }

// Columns are the columns of the archive's fields: sensor and time (a
// reading key's columns) first, then the reading's values.
func (t CleanTable) Columns() []string {
	return []string{t.Sensor, t.Time, t.Value, t.QCFlags, t.Imputation}
}

// String names the table as configured, for messages.
func (t RawTable) String() string { return display(t.Name) }

// Disabled reports whether the raw purge is switched off.
func (t RawTable) Disabled() bool { return len(t.Name) == 0 }

// Check fails, before anything is changed, if the raw table or its time
// column is missing, or the role may not delete from it.
func (t RawTable) Check(ctx context.Context, q Querier) error {
	if _, err := checkColumns(ctx, q, t.Name, "raw.table", map[string]string{t.TimeColumn: "raw.time_column"}, t.TimeColumn); err != nil {
		return err
	}
	return checkPrivileges(ctx, q, t.Name, "raw.table", TablePrivileges("archive", OnRawTable)...)
}

func (t CleanTable) source() string {
	if t.Source == "" {
		return "clean.table"
	}
	return t.Source
}

// Names are the spellings under which manifests may have recorded this
// table (they record String()): as configured, schema-qualified as the
// catalog names it, and bare when the table is on the search path.
func (t CleanTable) Names(ctx context.Context, q Querier) ([]string, error) {
	var schema, name string
	var visible bool
	if err := q.QueryRow(ctx, `SELECT n.nspname::text, c.relname::text, pg_table_is_visible(c.oid)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`, ident(t.Name)).Scan(&schema, &name, &visible); err != nil {
		return nil, fmt.Errorf("look up table %s: %w", t, err)
	}
	names := []string{t.String(), display([]string{schema, name})}
	if visible {
		names = append(names, name)
	}
	return names, nil
}

// CheckPrivileges fails, before anything is uploaded or changed, if the
// role may not do privs (e.g. "SELECT", "DELETE", "INSERT") on the table,
// or the table is a view that cannot take them: without it a run would
// upload every day's archive and fail at the DELETE, every run.
func (t CleanTable) CheckPrivileges(ctx context.Context, q Querier, privs ...string) error {
	return checkPrivileges(ctx, q, t.Name, t.source(), privs...)
}

// updatableEvents are pg_relation_is_updatable's bits (1 << CmdType).
var updatableEvents = map[string]int{"UPDATE": 1 << 2, "INSERT": 1 << 3, "DELETE": 1 << 4}

func checkPrivileges(ctx context.Context, q Querier, table []string, source string, privs ...string) error {
	var role, kind string
	var updatable int
	err := q.QueryRow(ctx, `SELECT current_user::text, c.relkind::text, pg_relation_is_updatable(c.oid, true)
		FROM pg_class c WHERE c.oid = to_regclass($1)`, ident(table)).Scan(&role, &kind, &updatable)
	if err != nil {
		return fmt.Errorf("check privileges on %s: %w", display(table), err)
	}
	var missing []string
	for _, p := range privs {
		// SELECT, INSERT and UPDATE may be granted per column (the real
		// statement then says which column is missing); DELETE only on the
		// table.
		check := `has_table_privilege`
		if p == "SELECT" || p == "INSERT" || p == "UPDATE" {
			check = `has_any_column_privilege`
		}
		var ok bool
		if err := q.QueryRow(ctx, `SELECT `+check+`(to_regclass($1), $2)`, ident(table), p).Scan(&ok); err != nil {
			return fmt.Errorf("check privileges on %s: %w", display(table), err)
		}
		if !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("role %q lacks the %s privilege on table %s (%s): nothing was changed; grant it (GRANT %s ON %s TO %s) or point %s at a table the role may change",
			role, strings.Join(missing, " and "), display(table), named(source), strings.Join(missing, ", "), ident(table), pgx.Identifier{role}.Sanitize(), source)
	}
	for _, p := range privs {
		if bit, ok := updatableEvents[p]; ok && updatable&bit == 0 {
			what := "a view"
			if kind != "v" {
				what = "a relation of kind " + kind
			}
			return fmt.Errorf("table %s (%s) is %s that does not accept %s: nothing was changed; point %s at the underlying table (or give the view an INSTEAD OF %s trigger or rule)",
				display(table), named(source), what, p, source, p)
		}
	}
	return nil
}

// named is how a message refers to where a table name came from.
func named(source string) string {
	if strings.HasPrefix(source, "--") {
		return "flag " + source
	}
	return "setting " + source
}

// Check fails, before anything is changed, if the clean table or one of its
// configured columns is missing, if a mapped column's type cannot be
// archived exactly, or if the table has a column that is neither mapped,
// nor archived (clean.columns.extra), nor declared not kept
// (clean.columns.ignore). It records the table's Layout.
func (t *CleanTable) Check(ctx context.Context, q Querier) error {
	l, err := t.inspect(ctx, q)
	if err != nil {
		return err
	}
	if err := t.checkCovered(l); err != nil {
		return err
	}
	t.layout = l
	return nil
}

// Inspect is Check without the promise about unlisted columns, for
// commands that delete nothing: a table readings are restored into (its
// other columns are filled from their defaults, so they need not be
// listed), verify and status. It records the table's Layout.
func (t *CleanTable) Inspect(ctx context.Context, q Querier) error {
	// What a restore writes is decided by the archive, not by
	// clean.columns.extra: every other column is a possible target.
	u := *t
	u.Extra, u.Ignore = nil, nil
	l, err := u.inspect(ctx, q)
	if err != nil {
		return err
	}
	t.layout = l
	return nil
}

func (t CleanTable) inspect(ctx context.Context, q Querier) (*Layout, error) {
	cols, err := checkColumns(ctx, q, t.Name, t.source(), map[string]string{
		t.Sensor: "clean.columns.sensor", t.Time: "clean.columns.time", t.Value: "clean.columns.value",
		t.QCFlags: "clean.columns.qc_flags", t.Imputation: "clean.columns.imputation_method",
	}, t.Time)
	if err != nil {
		return nil, err
	}
	return t.buildLayout(cols)
}

func checkColumns(ctx context.Context, q Querier, table []string, tableKey string, want map[string]string, timeCol string) ([]Column, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, ident(table)).Scan(&exists); err != nil {
		return nil, fmt.Errorf("check table %s: %w", display(table), err)
	}
	if !exists {
		hint := ""
		if tableKey == "raw.table" {
			hint = ", or set raw.table empty (ARCHIVER_RAW_TABLE=, --raw-table '') to run without the raw purge"
		}
		return nil, fmt.Errorf("table %s does not exist (%s); create it or point %s at the right table%s", display(table), named(tableKey), tableKey, hint)
	}
	cols, err := columns(ctx, q, table)
	if err != nil {
		return nil, err
	}
	have := map[string]string{}
	for _, c := range cols {
		have[c.Name] = c.Type
	}
	var missing []string
	for col, key := range want {
		if _, ok := have[col]; !ok {
			missing = append(missing, fmt.Sprintf("%q (setting %s)", col, key))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		var cols []string
		for c := range have {
			cols = append(cols, c)
		}
		sort.Strings(cols)
		return nil, fmt.Errorf("table %s has no column %s; its columns are: %s",
			display(table), strings.Join(missing, ", "), strings.Join(cols, ", "))
	}
	if typ := have[timeCol]; !strings.HasPrefix(typ, "timestamp") {
		return nil, fmt.Errorf("column %q of %s is %s; the archiver needs timestamp with time zone (or timestamp in UTC)", timeCol, display(table), typ)
	}
	return cols, nil
}

// PurgeRaw deletes raw rows older than cutoff, batch rows per transaction,
// so that purging millions of rows never holds one long transaction or lock.
// afterBatch is called after every committed batch with the running total;
// an error from it stops the purge.
func (t RawTable) PurgeRaw(ctx context.Context, q Querier, cutoff time.Time, batch int, afterBatch func(int64) error) (int64, error) {
	tbl, col := ident(t.Name), pgx.Identifier{t.TimeColumn}.Sanitize()
	// ctid is only unique within one partition, so the time predicate is
	// repeated outside the subquery: a ctid that matches a row of another
	// partition can then only match a row that is due for purging anyway.
	sql := `DELETE FROM ` + tbl + ` WHERE ctid = ANY(ARRAY(SELECT ctid FROM ` + tbl + ` WHERE ` + col + ` < $1 LIMIT $2)) AND ` + col + ` < $1`
	return t.purgeBatches(ctx, q, sql, cutoff, batch, afterBatch, cutoff, batch)
}

// purgeBatches runs the batched DELETE sql with args until a batch deletes
// fewer than batch rows, calling afterBatch after each.
func (t RawTable) purgeBatches(ctx context.Context, q Querier, sql string, cutoff time.Time, batch int, afterBatch func(int64) error, args ...any) (int64, error) {
	var total int64
	for {
		tag, err := q.Exec(ctx, sql, args...)
		if err != nil {
			return total, fmt.Errorf("purge raw rows of %s older than %s: %w", t, cutoff.Format(time.RFC3339), err)
		}
		total += tag.RowsAffected()
		if afterBatch != nil {
			if err := afterBatch(total); err != nil {
				return total, err
			}
		}
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
	}
}

// CountRawBefore counts raw rows older than cutoff, for a dry run.
func (t RawTable) CountRawBefore(ctx context.Context, q Querier, cutoff time.Time) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, `SELECT count(*) FROM `+ident(t.Name)+` WHERE `+pgx.Identifier{t.TimeColumn}.Sanitize()+` < $1`, cutoff).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count raw rows of %s: %w", t, err)
	}
	return n, nil
}

func (t CleanTable) timeCol() string { return pgx.Identifier{t.Time}.Sanitize() }

// Days returns the UTC days before end that have rows, oldest first (see
// DaysWithRows: one index probe per day that has data).
func (t CleanTable) Days(ctx context.Context, q Querier, end measure.Day) ([]measure.Day, error) {
	days, err := t.DaysWithRows(ctx, q, measure.Day{}, end.AddDays(-1))
	if err != nil {
		return nil, fmt.Errorf("find days to archive: %w", err)
	}
	return days, nil
}

// NonFinite counts the rows whose time is -infinity or infinity. They
// belong to no UTC day, so they are never archived (nor deleted); the run
// warns about them instead of failing on them.
func (t CleanTable) NonFinite(ctx context.Context, q Querier) (minusInf, plusInf int64, err error) {
	col := t.timeCol()
	err = q.QueryRow(ctx, `SELECT count(*) FILTER (WHERE `+col+` = '-infinity'), count(*) FILTER (WHERE `+col+` = 'infinity')
		FROM `+ident(t.Name)+` WHERE `+col+` = '-infinity' OR `+col+` = 'infinity'`).Scan(&minusInf, &plusInf)
	if err != nil {
		return 0, 0, fmt.Errorf("count rows of %s with an infinite time: %w", t, err)
	}
	return minusInf, plusInf, nil
}

// CountDay counts the rows of one day.
func (t CleanTable) CountDay(ctx context.Context, q Querier, d measure.Day) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, `SELECT count(*) FROM `+ident(t.Name)+` WHERE `+t.timeCol()+` >= $1 AND `+t.timeCol()+` < $2`,
		d.Start(), d.End()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count rows of %s on %s: %w", t, d, err)
	}
	return n, nil
}

// DeleteDay deletes the rows of day d with the same predicate StreamDay
// read them with.
func (t CleanTable) DeleteDay(ctx context.Context, q Querier, d measure.Day) (int64, error) {
	tag, err := q.Exec(ctx, `DELETE FROM `+ident(t.Name)+` WHERE `+t.timeCol()+` >= $1 AND `+t.timeCol()+` < $2`, d.Start(), d.End())
	if err != nil {
		return 0, fmt.Errorf("delete archived rows of %s on %s: %w", t, d, err)
	}
	return tag.RowsAffected(), nil
}

// TryLockDay takes the advisory lock of day d of this table on conn, so
// that two archiver runs (or an archive and a restore) never work on the
// same day at once. It returns ok=false at once if another session holds it.
//
// The lock is session-level and must be taken before the day's transaction
// begins: a REPEATABLE READ snapshot is taken by the transaction's first
// statement, so a lock taken inside it could be granted only after another
// run committed the day, leaving us a snapshot from before that commit.
// unlock must be called when the day is done; if it cannot release the lock,
// it closes the connection, which releases it too.
func (t CleanTable) TryLockDay(ctx context.Context, conn *pgxpool.Conn, d measure.Day) (unlock func(), ok bool, err error) {
	k1, k2 := t.lockKey(d)
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, k1, k2).Scan(&ok); err != nil {
		return nil, false, fmt.Errorf("lock %s of %s: %w", d, t, err)
	}
	if !ok {
		return func() {}, false, nil
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1, $2)`, k1, k2); err != nil {
			_ = conn.Conn().Close(uctx) // a pooled session must not keep the lock
		}
	}, true, nil
}

// lockKey is (hash of the table, day number): the two-int advisory lock space
// keeps our locks apart from golang-migrate's single-bigint lock.
func (t CleanTable) lockKey(d measure.Day) (int32, int32) {
	h := fnv.New32a()
	h.Write([]byte("archiver day lock\x00" + ident(t.Name)))
	return int32(h.Sum32()), int32(d.Start().Unix() / 86400)
}
