package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// DaysWithRows returns the UTC days in [from, to] that have rows, oldest
// first; a zero from or to leaves that side open.
//
// It is one statement: a recursive CTE that asks the time index for the
// first row at or after the start of the next day ("skip scan"), so it costs
// one index probe per day that has data, whatever the number of rows, and no
// round trip per day. Ten years of days on a 100M-row table answer in well
// under a second; without an index on the time column every probe is a scan.
func (t CleanTable) DaysWithRows(ctx context.Context, q Querier, from, to measure.Day) ([]measure.Day, error) {
	bound, err := t.dayBound(ctx, q)
	if err != nil {
		return nil, err
	}
	col, tbl := t.timeCol(), ident(t.Name)
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d::bigint", len(args)) }
	// Rows at -infinity or infinity belong to no day (and have no day
	// number): they are counted by NonFinite and left alone.
	upper := ` AND ` + col + ` < 'infinity'`
	if !to.IsZero() {
		upper = ` AND ` + col + ` < ` + bound(arg(dayNumber(to)+1))
	}
	first := `SELECT floor(extract(epoch FROM min(` + col + `)) / 86400)::bigint FROM ` + tbl + ` WHERE ` + col + ` > '-infinity'` + upper
	if !from.IsZero() {
		first += ` AND ` + col + ` >= ` + bound(arg(dayNumber(from)))
	}
	sql := `WITH RECURSIVE days(n) AS (
		SELECT (` + first + `)
		UNION ALL
		SELECT (SELECT floor(extract(epoch FROM min(` + col + `)) / 86400)::bigint FROM ` + tbl + `
			WHERE ` + col + ` >= ` + bound("(days.n + 1)") + upper + `)
		FROM days WHERE days.n IS NOT NULL
	) SELECT n FROM days WHERE n IS NOT NULL ORDER BY n`
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("find the days with rows in %s: %w", t, err)
	}
	defer rows.Close()
	var days []measure.Day
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("find the days with rows in %s: %w", t, err)
		}
		days = append(days, dayFromNumber(n))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find the days with rows in %s: %w", t, err)
	}
	return days, nil
}

// CountDays counts the rows of every day in [from, to] that has any, in one
// pass over that range: exact, and as costly as reading the range.
func (t CleanTable) CountDays(ctx context.Context, q Querier, from, to measure.Day) (map[measure.Day]int64, error) {
	bound, err := t.dayBound(ctx, q)
	if err != nil {
		return nil, err
	}
	col := t.timeCol()
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d::bigint", len(args)) }
	sql := `SELECT floor(extract(epoch FROM ` + col + `) / 86400)::bigint AS n, count(*) FROM ` + ident(t.Name) + ` WHERE true`
	if !from.IsZero() {
		sql += ` AND ` + col + ` >= ` + bound(arg(dayNumber(from)))
	}
	if !to.IsZero() {
		sql += ` AND ` + col + ` < ` + bound(arg(dayNumber(to)+1))
	}
	rows, err := q.Query(ctx, sql+` GROUP BY n`, args...)
	if err != nil {
		return nil, fmt.Errorf("count the rows per day of %s: %w", t, err)
	}
	defer rows.Close()
	out := map[measure.Day]int64{}
	for rows.Next() {
		var n, c int64
		if err := rows.Scan(&n, &c); err != nil {
			return nil, fmt.Errorf("count the rows per day of %s: %w", t, err)
		}
		out[dayFromNumber(n)] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count the rows per day of %s: %w", t, err)
	}
	return out, nil
}

// dayBound returns a function that turns a SQL expression for a day number
// (days since 1970-01-01) into the start of that UTC day in the time
// column's own type. Built from the epoch with whole seconds, never with
// date_trunc or '1 day', so neither the session's time zone nor a DST change
// can move a boundary, and the comparison stays on the column's type, so the
// index is used.
func (t CleanTable) dayBound(ctx context.Context, q Querier) (func(n string) string, error) {
	var typ string
	err := q.QueryRow(ctx, `SELECT format_type(atttypid, NULL) FROM pg_attribute
		WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped`, ident(t.Name), t.Time).Scan(&typ)
	if err != nil {
		return nil, fmt.Errorf("read the type of %s.%s: %w", t, t.Time, err)
	}
	epoch := `'1970-01-01 00:00:00+00'::timestamptz`
	switch typ {
	case "timestamp with time zone":
	case "timestamp without time zone":
		epoch = `'1970-01-01 00:00:00'::timestamp`
	default:
		return nil, fmt.Errorf("column %q of %s is %s; the archiver needs timestamp with time zone (or timestamp in UTC)", t.Time, t, typ)
	}
	return func(n string) string { return `(` + epoch + ` + ` + n + ` * interval '86400 seconds')` }, nil
}

func dayNumber(d measure.Day) int64 { return d.Start().Unix() / 86400 }

func dayFromNumber(n int64) measure.Day { return measure.DayOf(time.Unix(n*86400, 0)) }
