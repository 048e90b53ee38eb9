package postgres

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// genericRows reads a day of a table that the binary-row path cannot
// (exact decimal values, numeric qc_flags, extra columns): every value is
// read in its PostgreSQL text form and turned into the archive's exact
// form. PostgreSQL sorts by sensor and time; the few rows that share both
// are put in the archive's full order here, since PostgreSQL cannot order
// by the archive's text of the extra columns.
type genericRows struct {
	t      CleanTable
	d      measure.Day
	rows   pgx.Rows
	vals   []pgtype.Text
	ts     time.Time
	dest   []any
	extras []measure.Member

	ahead   measure.Reading // the first row of the next run
	haveAhd bool
	done    bool
	run     []measure.Reading
	i       int
	out     measure.Reading
}

// genericSelect is the select list: sensor, time, value, qc_flags,
// method, then the extra columns, each in the text form decode expects.
func (t CleanTable) genericSelect() string {
	q := func(c string) string { return pgx.Identifier{c}.Sanitize() }
	list := []string{q(t.Sensor) + `::text`, t.timeCol(), q(t.Value) + `::text`, q(t.QCFlags) + `::text`, q(t.Imputation) + `::text`}
	for _, c := range t.layout.Extra {
		col := q(c.Name)
		switch c.ExtraKind() {
		case ExtraTimestamp:
			utc := col
			if c.Base == "timestamptz" {
				utc = col + ` AT TIME ZONE 'UTC'`
			}
			list = append(list, `CASE WHEN isfinite(`+col+`) THEN to_char(`+utc+`, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') ELSE `+col+`::text END`)
		default:
			list = append(list, col+`::text`)
		}
	}
	return strings.Join(list, ", ")
}

func (t CleanTable) genericDay(ctx context.Context, q Querier, d measure.Day) (*DayRows, error) {
	sql := `SELECT ` + t.genericSelect() + ` FROM ` + ident(t.Name) + t.dayPredicate() + ` ORDER BY ` + t.canonicalOrder(false)
	rows, err := q.Query(ctx, sql, d.Start(), d.End())
	if err != nil {
		return nil, fmt.Errorf("read rows of %s on %s: %w", t, d, err)
	}
	g := &genericRows{t: t, d: d, rows: rows, vals: make([]pgtype.Text, 5+len(t.layout.Extra))}
	g.dest = make([]any, len(g.vals))
	for i := range g.vals {
		g.dest[i] = &g.vals[i]
	}
	g.dest[1] = &g.ts
	return &DayRows{gen: g}, nil
}

// next returns the next reading in the archive's order.
func (g *genericRows) next() (*measure.Reading, error) {
	if g.i >= len(g.run) {
		if err := g.fill(); err != nil {
			return nil, err
		}
		if len(g.run) == 0 {
			return nil, io.EOF
		}
	}
	g.out = g.run[g.i]
	g.i++
	return &g.out, nil
}

// fill reads the next run of rows with one sensor and time, sorted.
func (g *genericRows) fill() error {
	g.run, g.i = g.run[:0], 0
	if g.haveAhd {
		g.run = append(g.run, g.ahead)
		g.haveAhd = false
	}
	for !g.done {
		if !g.rows.Next() {
			g.done = true
			if err := g.rows.Err(); err != nil {
				return fmt.Errorf("read rows of %s on %s: %w", g.t, g.d, err)
			}
			break
		}
		var r measure.Reading
		if err := g.decode(&r); err != nil {
			return fmt.Errorf("read rows of %s on %s: %w", g.t, g.d, err)
		}
		if len(g.run) > 0 && (r.Sensor != g.run[0].Sensor || !r.Time.Equal(g.run[0].Time)) {
			g.ahead, g.haveAhd = r, true
			break
		}
		g.run = append(g.run, r)
	}
	if len(g.run) > 1 {
		schema := g.t.layout.Schema
		slices.SortFunc(g.run, func(a, b measure.Reading) int { return schema.Compare(&a, &b) })
	}
	return nil
}

// decode turns the current row into r, or explains why it cannot be
// archived exactly.
func (g *genericRows) decode(r *measure.Reading) error {
	if err := g.rows.Scan(g.dest...); err != nil {
		return err
	}
	v := g.vals
	if !v[0].Valid {
		return fmt.Errorf("NULL sensor")
	}
	r.Sensor = v[0].String
	r.Time = g.ts.UTC()
	where := func() string { return fmt.Sprintf("sensor %q, time %s", r.Sensor, r.Time.Format(time.RFC3339Nano)) }
	switch {
	case !v[2].Valid:
	case g.t.layout.Schema.Value == measure.ValueDecimal:
		if err := measure.SetValue(r, v[2].String); err != nil {
			return fmt.Errorf("value column %q (%s): %w", g.t.Value, where(), err)
		}
	default:
		// A float: its value, written as the schema writes floats (5.0,
		// not PostgreSQL's 5), like the binary-row path.
		f, err := strconv.ParseFloat(v[2].String, 64)
		if err != nil {
			return fmt.Errorf("value column %q (%s): %w", g.t.Value, where(), err)
		}
		r.Value.Float64, r.Value.Valid = f, true
	}
	if v[3].Valid {
		n, err := parseIntegral(v[3].String)
		if err != nil {
			return fmt.Errorf("qc_flags column %q holds %s (%s): %w; the archive's qc_flags is an integer, so this reading cannot be archived exactly: the day is not archived and its rows stay",
				g.t.QCFlags, v[3].String, where(), err)
		}
		r.QCFlags.Int64, r.QCFlags.Valid = n, true
	}
	if v[4].Valid {
		r.Imputation.String, r.Imputation.Valid = v[4].String, true
	}
	if len(g.t.layout.Extra) == 0 {
		return nil
	}
	g.extras = g.extras[:0]
	for i, c := range g.t.layout.Extra {
		val := v[5+i]
		m := measure.Member{Name: c.Name}
		switch {
		case !val.Valid:
			m.Kind = measure.MemberNull
		case c.ExtraKind() == ExtraNumber:
			m.Kind, m.Text = measure.MemberNumber, val.String
		case c.ExtraKind() == ExtraBool:
			m.Kind, m.Text = measure.MemberBool, val.String
		case c.IsJSON():
			if strings.TrimSpace(val.String) == "null" {
				return fmt.Errorf("column %q holds the JSON value null (%s), which the archive could not tell from SQL NULL: this reading cannot be archived exactly; the day is not archived and its rows stay",
					c.Name, where())
			}
			m.Kind, m.Text = measure.MemberJSON, val.String
		default:
			m.Kind, m.Text = measure.MemberString, val.String
		}
		g.extras = append(g.extras, m)
	}
	extra, err := measure.EncodeExtra(g.extras)
	if err != nil {
		return fmt.Errorf("%s: %w", where(), err)
	}
	r.Extra = extra
	return nil
}

// parseIntegral reads a numeric's text as an int64, refusing a fraction
// (1.5) or a value out of int64 range; trailing zeros of the fraction
// (3.0) are only scale.
func parseIntegral(s string) (int64, error) {
	ip, fp, _ := strings.Cut(s, ".")
	if strings.Trim(fp, "0") != "" {
		return 0, fmt.Errorf("not an integer")
	}
	n, err := strconv.ParseInt(ip, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not an integer in the int64 range")
	}
	return n, nil
}
