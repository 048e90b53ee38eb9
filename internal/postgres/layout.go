package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// Column is one column of a table as the catalog describes it.
type Column struct {
	Name string
	// Type is the column's type as SQL spells it (format_type), e.g.
	// numeric(12,3) or public.imp; values are cast to it on restore.
	Type string
	// Base is the name of the type (of a domain's base type), e.g.
	// float8, numeric, int4, text, citext, jsonb.
	Base string
	// Category is pg_type.typcategory of the base type: N numeric, S
	// string, B boolean, D date/time, E enum, U user-defined (json), ...
	Category   string
	NotNull    bool
	HasDefault bool
	Identity   string // "", "a" (ALWAYS) or "d" (BY DEFAULT)
	Generated  bool
}

// Fillable reports whether restore can fill the column without a value:
// it may be NULL, or has a default, an identity or a generation
// expression.
func (c Column) Fillable() bool {
	return !c.NotNull || c.HasDefault || c.Identity != "" || c.Generated
}

// Extra kinds: how an extra column's values are written in the archive.
const (
	ExtraText      = iota // PostgreSQL's text form, as a JSON string
	ExtraNumber           // an exact JSON number
	ExtraBool             // true / false
	ExtraJSON             // json, jsonb: the value itself
	ExtraTimestamp        // RFC 3339 in UTC, as a JSON string
)

// ExtraKind is how column c's values are archived.
func (c Column) ExtraKind() int {
	switch c.Base {
	case "int2", "int4", "int8", "numeric", "float4", "float8", "oid":
		return ExtraNumber
	case "bool":
		return ExtraBool
	case "json", "jsonb":
		return ExtraJSON
	case "timestamptz", "timestamp":
		return ExtraTimestamp
	}
	return ExtraText
}

// IsJSON reports whether the column holds json or jsonb: a value restores
// from its JSON text.
func (c Column) IsJSON() bool { return c.Base == "json" || c.Base == "jsonb" }

// Layout is what the archiver knows about a table's columns.
type Layout struct {
	Schema measure.Schema
	// The five mapped columns.
	Sensor, Time, Value, QCFlags, Imputation Column
	// Extra are the clean.columns.extra columns, in the order configured.
	Extra []Column
	// Other are the table's remaining columns (ignored ones, and on a
	// restore target every column beyond the mapped ones).
	Other []Column
	// qcText: qc_flags is not an integer type; each value is checked to
	// be integral.
	qcText bool
}

// Fast reports whether days are read by the binary-row path (DayBuffer,
// raw decoding): a floating-point value, integer qc_flags, no extra
// columns, which is the original schema and its float4 variant.
func (l *Layout) Fast() bool {
	return l == nil || (l.Schema.Value != measure.ValueDecimal && !l.qcText && len(l.Extra) == 0)
}

// Original reports whether the mapped columns have the original types
// exactly (text sensor and method, double precision value, integer
// qc_flags): restore can then COPY typed values straight in.
func (l *Layout) Original() bool {
	if l == nil {
		return true
	}
	// No length or precision modifiers either: COPY would round a time to
	// a timestamp(0) silently; the typed path checks every cast is exact.
	str := func(c Column) bool { return c.Type == "text" || c.Type == "character varying" }
	exactTime := l.Time.Type == "timestamp with time zone" || l.Time.Type == "timestamp without time zone"
	return l.Schema.Value == measure.ValueFloat8 && !l.qcText && str(l.Sensor) && str(l.Imputation) && exactTime
}

// columns lists the table's columns, in table order.
func columns(ctx context.Context, q Querier, table []string) ([]Column, error) {
	rows, err := q.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), bt.typname, bt.typcategory::text,
			a.attnotnull, a.atthasdef, a.attidentity::text, a.attgenerated <> ''
		FROM pg_attribute a
		JOIN pg_type t ON t.oid = a.atttypid
		JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, ident(table))
	if err != nil {
		return nil, fmt.Errorf("check columns of %s: %w", display(table), err)
	}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Column, error) {
		var c Column
		err := r.Scan(&c.Name, &c.Type, &c.Base, &c.Category, &c.NotNull, &c.HasDefault, &c.Identity, &c.Generated)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("check columns of %s: %w", display(table), err)
	}
	return cols, nil
}

// layout checks the mapped columns' types and builds the layout; extra
// names clean.columns.extra. It does not judge the other columns.
func (t CleanTable) buildLayout(cols []Column) (*Layout, error) {
	by := map[string]Column{}
	for _, c := range cols {
		by[c.Name] = c
	}
	l := &Layout{Sensor: by[t.Sensor], Time: by[t.Time], Value: by[t.Value], QCFlags: by[t.QCFlags], Imputation: by[t.Imputation]}
	switch l.Value.Base {
	case "float8":
	case "float4":
		l.Schema.Value = measure.ValueFloat4
	case "numeric", "int2", "int4", "int8":
		l.Schema.Value = measure.ValueDecimal
	default:
		return nil, fmt.Errorf("value column %q of %s is %s (setting clean.columns.value); the archive's measurement is a number: the column must be double precision, real, numeric or an integer type",
			t.Value, t, l.Value.Type)
	}
	switch l.QCFlags.Base {
	case "int2", "int4", "int8":
	case "numeric":
		l.qcText = true
	default:
		return nil, fmt.Errorf("qc_flags column %q of %s is %s (setting clean.columns.qc_flags); the archive's qc_flags is an integer: the column must be smallint, integer, bigint or numeric with integral values",
			t.QCFlags, t, l.QCFlags.Type)
	}
	mapped := []string{t.Sensor, t.Time, t.Value, t.QCFlags, t.Imputation}
	for _, name := range t.Extra {
		c, ok := by[name]
		if !ok {
			return nil, fmt.Errorf("table %s has no column %q (setting clean.columns.extra); its columns are: %s", t, name, names(cols))
		}
		if c.Generated {
			return nil, fmt.Errorf("column %q of %s is generated: restore cannot write it, so it cannot be archived; list it in clean.columns.ignore instead (PostgreSQL computes it again)", name, t)
		}
		l.Extra = append(l.Extra, c)
	}
	for _, c := range cols {
		if !slices.Contains(mapped, c.Name) && !slices.Contains(t.Extra, c.Name) {
			l.Other = append(l.Other, c)
		}
	}
	return l, nil
}

// checkCovered is the archive's promise that no column is deleted without
// a trace: every column of the table is mapped, archived (extra) or
// explicitly not kept (ignore), and an ignored column is one restore can
// fill.
func (t CleanTable) checkCovered(l *Layout) error {
	var unlisted []string
	for _, c := range l.Other {
		if slices.Contains(t.Ignore, c.Name) {
			if !c.Fillable() {
				return fmt.Errorf("column %q of %s is NOT NULL without a default (setting clean.columns.ignore): restore could not fill it, so it cannot be left out of the archive; archive it with clean.columns.extra instead", c.Name, t)
			}
			continue
		}
		unlisted = append(unlisted, fmt.Sprintf("%q (%s)", c.Name, c.Type))
	}
	// An ignored name the table does not have loses nothing (a column
	// dropped since, or a typo, which leaves the real column unlisted and
	// so refused above), so it is not an error.
	if len(unlisted) > 0 {
		return fmt.Errorf("table %s has columns the archive would not hold: %s; deleting its rows would lose them. "+
			"Archive them with clean.columns.extra (ARCHIVER_CLEAN_EXTRA_COLUMNS, --clean-extra-columns), "+
			"or, for columns restore can fill (nullable, with a default or identity), declare them not kept with clean.columns.ignore (ARCHIVER_CLEAN_IGNORE_COLUMNS, --clean-ignore-columns)",
			t, strings.Join(unlisted, ", "))
	}
	return nil
}

// CheckRestorable fails, before any archive is read, if the table (as a
// restore target, after Inspect) has a column that restore cannot fill: NOT
// NULL, without a default, identity or generation expression, and not one
// the archives hold (the five mapped columns and clean.columns.extra).
// Without it every day would fail on PostgreSQL's bare not-null violation.
func (t CleanTable) CheckRestorable() error {
	if t.layout == nil {
		return nil
	}
	var bad []string
	for _, c := range t.layout.Other {
		if !c.Fillable() && !slices.Contains(t.Extra, c.Name) {
			bad = append(bad, fmt.Sprintf("%q (%s)", c.Name, c.Type))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	what, it := "column "+bad[0]+" is", "it"
	if len(bad) > 1 {
		what, it = "columns "+strings.Join(bad, ", ")+" are", "them"
	}
	return fmt.Errorf("restore target %s (%s): %s NOT NULL without a default, and the archives do not hold %s (the archive holds the five mapped columns and clean.columns.extra, ARCHIVER_CLEAN_EXTRA_COLUMNS, --clean-extra-columns): no reading could be inserted, so nothing was restored. "+
		"Give %s a default (ALTER TABLE %s ALTER COLUMN … SET DEFAULT …), allow NULL (ALTER TABLE %s ALTER COLUMN … DROP NOT NULL), or restore --into a table without %s; "+
		"if the archives were written with the column in clean.columns.extra, list it there for the restore too",
		t, named(t.source()), what, it, it, ident(t.Name), ident(t.Name), it)
}

// RowChangingInsertTriggers names what can change or divert the rows
// inserted into the table or one of its partitions: enabled BEFORE or
// INSTEAD OF INSERT row triggers, and INSERT rules. AFTER triggers cannot
// change the row and are not listed.
func (t CleanTable) RowChangingInsertTriggers(ctx context.Context, q Querier) ([]string, error) {
	return t.rowChangingTriggers(ctx, q, "INSERT")
}

// RowSkippingDeleteTriggers is RowChangingInsertTriggers for DELETE: what
// can make a DELETE of the table skip (or add) rows.
func (t CleanTable) RowSkippingDeleteTriggers(ctx context.Context, q Querier) ([]string, error) {
	return t.rowChangingTriggers(ctx, q, "DELETE")
}

// triggerEvents are pg_trigger.tgtype's event bit and pg_rewrite.ev_type.
var triggerEvents = map[string]struct {
	bit  int
	rule string
}{"INSERT": {4, "3"}, "DELETE": {8, "4"}}

func (t CleanTable) rowChangingTriggers(ctx context.Context, q Querier, event string) ([]string, error) {
	ev := triggerEvents[event]
	// tgtype bits: 1 row, 2 before, 64 instead, and the event's. tgenabled
	// 'D' is disabled and 'R' fires only as a replica. pg_partition_tree
	// lists nothing for a table that is not partitioned.
	rows, err := q.Query(ctx, `SELECT format('trigger %I on %s (%s `+event+`)', tg.tgname, tg.tgrelid::regclass,
			CASE WHEN tg.tgtype & 64 <> 0 THEN 'INSTEAD OF' ELSE 'BEFORE' END)
		FROM pg_trigger tg
		WHERE (tg.tgrelid = to_regclass($1) OR tg.tgrelid IN (SELECT relid FROM pg_partition_tree(to_regclass($1)))) AND NOT tg.tgisinternal
		AND tg.tgenabled IN ('O', 'A') AND tg.tgtype & 1 <> 0 AND tg.tgtype & $2::int <> 0 AND tg.tgtype & (2 | 64) <> 0
		UNION ALL
		SELECT format('rule %I on %s (ON `+event+`)', r.rulename, r.ev_class::regclass)
		FROM pg_rewrite r
		WHERE (r.ev_class = to_regclass($1) OR r.ev_class IN (SELECT relid FROM pg_partition_tree(to_regclass($1)))) AND r.ev_type = $3 AND r.ev_enabled IN ('O', 'A')
		ORDER BY 1`, ident(t.Name), ev.bit, ev.rule)
	if err != nil {
		return nil, fmt.Errorf("look up the %s triggers of %s: %w", strings.ToLower(event), t, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("look up the %s triggers of %s: %w", strings.ToLower(event), t, err)
	}
	return names, nil
}

// NotFilled explains PostgreSQL's not-null violation (23502) on a
// restore target's column: the archive being restored does not hold it.
// Other errors are returned as they are.
func (t CleanTable) NotFilled(err error, key string) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23502" || pgErr.ColumnName == "" {
		return err
	}
	col := pgx.Identifier{pgErr.ColumnName}.Sanitize()
	return fmt.Errorf("archive %s does not hold column %s of %s, which is NOT NULL without a default (it was archived before the column was in clean.columns.extra, or from another table): nothing of the day was restored; "+
		"give the column a default (ALTER TABLE %s ALTER COLUMN %s SET DEFAULT …), allow NULL (… DROP NOT NULL), or restore --into a table without it: %w",
		key, col, t, ident(t.Name), col, err)
}

func names(cols []Column) string {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = c.Name
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}
