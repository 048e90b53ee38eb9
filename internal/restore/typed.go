package restore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/postgres"
)

// The typed path restores into a table that is not the original schema
// (a numeric or real value, an enum or citext method, a uuid sensor,
// columns beyond the five mapped ones): every value is staged as text,
// exactly as the archive holds it, and cast to its column's own type by
// PostgreSQL on insert, so that NULL stays NULL, an enum label is an
// enum label, and a numeric keeps every digit. The archive's "extra"
// values go to the columns of the same name; a column the archive does
// not hold is filled from its default.

// typedColumns are the target's columns an archive's "extra" values may
// go to: every column beyond the mapped ones that can be written.
func typedColumns(l *postgres.Layout) []postgres.Column {
	var cols []postgres.Column
	for _, c := range l.Other {
		if !c.Generated {
			cols = append(cols, c)
		}
	}
	return cols
}

// typedSource feeds COPY into the text staging table.
type typedSource struct {
	archiveRows
	target  string
	key     string
	cols    []postgres.Column
	byName  map[string]int
	fields  []textField // sensor, value, qc, method, extras..., presence
	ts      timeField
	row     []any
	present []byte
	members []measure.Member
}

func newTypedSource(rd *archivefile.Reader, target, key string, cols []postgres.Column) *typedSource {
	s := &typedSource{archiveRows: archiveRows{rd: rd}, target: target, key: key, cols: cols, byName: map[string]int{}}
	for i, c := range cols {
		s.byName[c.Name] = i
	}
	s.fields = make([]textField, 4+len(cols)+1)
	s.row = make([]any, 0, 5+len(cols)+1)
	s.row = append(s.row, &s.fields[0], &s.ts, &s.fields[1], &s.fields[2], &s.fields[3])
	for i := range cols {
		s.row = append(s.row, &s.fields[4+i])
	}
	s.row = append(s.row, &s.fields[4+len(cols)])
	s.present = make([]byte, len(cols))
	return s
}

// Next implements pgx.CopyFromSource.
func (s *typedSource) Next() bool {
	r := s.next()
	if r == nil {
		return false
	}
	s.fields[0] = textField{s: r.Sensor, valid: true}
	s.ts.t = r.Time
	v, ok := measure.ValueString(r)
	s.fields[1] = textField{s: v, valid: ok}
	s.fields[2] = textField{valid: r.QCFlags.Valid}
	if r.QCFlags.Valid {
		s.fields[2].s = strconv.FormatInt(r.QCFlags.Int64, 10)
	}
	s.fields[3] = textField{s: r.Imputation.String, valid: r.Imputation.Valid}
	for i := range s.cols {
		s.fields[4+i] = textField{}
		s.present[i] = '0'
	}
	if r.Extra != "" {
		var err error
		if s.members, err = archivefile.ParseExtra(r.Extra); err != nil {
			s.err = err
			return false
		}
		for _, m := range s.members {
			i, ok := s.byName[m.Name]
			if !ok {
				s.err = missingColumnError(s.key, s.target, m.Name)
				return false
			}
			s.present[i] = '1'
			switch {
			case m.Kind == measure.MemberNull:
			case s.cols[i].IsJSON():
				s.fields[4+i] = textField{s: m.Raw, valid: true}
			default:
				s.fields[4+i] = textField{s: m.Text, valid: true}
			}
		}
	}
	s.fields[4+len(s.cols)] = textField{s: string(s.present), valid: true}
	return s.handed()
}

// Values implements pgx.CopyFromSource.
func (s *typedSource) Values() ([]any, error) { return s.row, nil }

// errColumnGone: the archive holds a column the table does not have.
var errColumnGone = errors.New("column missing from the table")

// missingColumnError: the archive holds a column the table no longer has.
func missingColumnError(key, target, col string) error {
	return fmt.Errorf("%w: "+"archive %s holds column %q (in its readings' \"extra\" values), which table %s does not have: its schema changed since the day was archived, and restoring would lose that column; add the column back (or restore into a table that has it with --into), then restore",
		errColumnGone, key, col, target)
}

// textTable stages the archive as text for the typed path.
const textTable = tempTable + "_text"

// loadTyped is load for the typed path: COPY the archive into a staging
// table of text columns, check it, then insert what the target lacks,
// every value cast to its column's type.
func (r *Restorer) loadTyped(ctx context.Context, tx pgx.Tx, d measure.Day, ar *archivefile.Reader, key string, m *manifest.Entry, opts Options, ld *loaded) (*typedSource, error) {
	t := r.Target
	l := t.Layout()
	cols := typedColumns(l)
	var def strings.Builder
	def.WriteString(`CREATE TEMP TABLE ` + textTable + ` (s text, t timestamptz, v text, q text, m text`)
	names := []string{"s", "t", "v", "q", "m"}
	for i := range cols {
		fmt.Fprintf(&def, ", e%d text", i)
		names = append(names, fmt.Sprintf("e%d", i))
	}
	def.WriteString(`, p text) ON COMMIT DROP`)
	names = append(names, "p")
	if _, err := tx.Exec(ctx, def.String()); err != nil {
		return nil, fmt.Errorf("create staging table for %s: %w", t, err)
	}
	src := newTypedSource(ar, t.String(), key, cols)
	_, err := tx.CopyFrom(ctx, pgx.Identifier{textTable}, names, src)
	ld.stats, ld.canonical = ar.Stats(), ar.Canonical()
	if src.err != nil {
		return src, src.err
	}
	if err != nil {
		return src, fmt.Errorf("load archive %s into a staging table: %w", key, err)
	}
	if err := r.staged(ctx, tx, textTable, d, key, ar, m, opts, ld); err != nil {
		return src, err
	}
	prows, err := tx.Query(ctx, `SELECT DISTINCT p FROM `+textTable)
	if err != nil {
		return src, fmt.Errorf("read staging table: %w", err)
	}
	patterns, err := pgx.CollectRows(prows, pgx.RowTo[string])
	if err != nil {
		return src, fmt.Errorf("read staging table: %w", err)
	}
	q := func(c string) string { return pgx.Identifier{c}.Sanitize() }
	cast := func(expr string, c postgres.Column) string { return expr + `::` + c.Type }
	mapped := []string{cast("t.s", l.Sensor), cast("t.t", l.Time), cast("t.v", l.Value), cast("t.q", l.QCFlags), cast("t.m", l.Imputation)}
	if err := r.checkExactCasts(ctx, tx, key, mapped, cols); err != nil {
		return src, err
	}
	if r.key != "" {
		// A keyed table: the archive's readings, in the columns' types,
		// go through the keyed insert (conflicts by key, --on-conflict),
		// one set of readings per set of extra columns present, so that a
		// column missing from some readings gets its default.
		for n, p := range patterns {
			k := keyedSet{cols: quoteAll(t.Columns()), asText: []bool{false, false, false, false, true}}
			as := make([]string, len(mapped))
			for i, c := range t.Columns() {
				as[i] = mapped[i] + ` AS ` + q(c)
			}
			for i, c := range cols {
				if p[i] != '1' {
					continue
				}
				as = append(as, cast(fmt.Sprintf("t.e%d", i), c)+` AS `+q(c.Name))
				k.cols = append(k.cols, q(c.Name))
				k.asText = append(k.asText, true) // by their text, as archived: json has no equality
				if c.Identity == "a" {
					k.override = ` OVERRIDING SYSTEM VALUE`
				}
			}
			k.from = fmt.Sprintf("%s_%d", tempTable, n)
			if strings.Trim(p, "01") != "" {
				return src, fmt.Errorf("staging table: unexpected presence pattern %q", p)
			}
			// The pattern is inline: CREATE TABLE AS takes no parameters.
			if _, err := tx.Exec(ctx, `CREATE TEMP TABLE `+k.from+` ON COMMIT DROP AS SELECT `+strings.Join(as, ", ")+` FROM `+textTable+` t WHERE t.p = '`+p+`'`); err != nil {
				return src, fmt.Errorf("stage readings in the types of %s: %w", t, err)
			}
			if _, err := tx.Exec(ctx, `ANALYZE `+k.from); err != nil {
				return src, fmt.Errorf("analyze staging table: %w", err)
			}
			if err := r.insertKeyed(ctx, tx, d, ld, k); err != nil {
				return src, err
			}
		}
		return src, nil
	}
	var distinct int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT * FROM `+textTable+`) s`).Scan(&distinct); err != nil {
		return src, fmt.Errorf("count distinct readings: %w", err)
	}
	target := pgx.Identifier(t.Name).Sanitize()
	for _, p := range patterns {
		// One insert per set of columns present: a column missing from
		// some readings (added to the table after they were archived)
		// gets its default, not NULL.
		into := quoteAll(t.Columns())
		sel := slices.Clone(mapped)
		// Identity is every restored column, compared in its type (text
		// for the sensor and method: citext would call 'A' and 'a' equal;
		// extra columns by their text, json having no equality).
		match := []string{
			`x.` + q(l.Time.Name) + ` >= $1`, `x.` + q(l.Time.Name) + ` < $2`,
			`x.` + q(l.Sensor.Name) + `::text = t.s`,
			`x.` + q(l.Time.Name) + ` = ` + mapped[1],
			sameValue(`x.`+q(l.Value.Name), mapped[2], l.Schema.Value),
			`x.` + q(l.QCFlags.Name) + ` IS NOT DISTINCT FROM ` + mapped[3],
			`x.` + q(l.Imputation.Name) + `::text IS NOT DISTINCT FROM t.m`,
		}
		override := ""
		for i, c := range cols {
			if p[i] != '1' {
				continue
			}
			e := fmt.Sprintf("t.e%d", i)
			into = append(into, q(c.Name))
			sel = append(sel, cast(e, c))
			match = append(match, `x.`+q(c.Name)+`::text IS NOT DISTINCT FROM (`+cast(e, c)+`)::text`)
			if c.Identity == "a" {
				override = ` OVERRIDING SYSTEM VALUE`
			}
		}
		sql := `INSERT INTO ` + target + ` (` + strings.Join(into, ", ") + `)` + override +
			// DISTINCT on the staged text: json has no equality.
			` SELECT ` + strings.Join(sel, ", ") + ` FROM (SELECT DISTINCT * FROM ` + textTable + ` WHERE p = $3) t WHERE true` +
			` AND NOT EXISTS (SELECT 1 FROM ` + target + ` x WHERE ` + strings.Join(match, " AND ") + `)`
		tag, err := tx.Exec(ctx, sql, d.Start(), d.End(), p)

		if err != nil {
			return src, fmt.Errorf("insert restored readings into %s: %w", t, err)
		}
		ld.inserted += tag.RowsAffected()
	}
	ld.present = distinct - ld.inserted
	return src, nil
}

// checkExactCasts fails if a column of the target cannot hold an archived
// value exactly: a cast to a shorter varchar or char cuts text, to
// timestamp(p) rounds times, to numeric(p,s), an integer or real rounds
// numbers, all without an error. Text is compared as text, times as
// times, json as jsonb, and numbers by their decimal value (the cast
// value's own text, which for real is the shortest that reads back the
// same, so a value of a real column archived as such compares equal).
// mapped are the casts of the staged columns s, t, v, q and m; extra the
// columns staged as e0, e1, ...
func (r *Restorer) checkExactCasts(ctx context.Context, tx pgx.Tx, key string, mapped []string, extra []postgres.Column) error {
	l := r.Target.Layout()
	cols := []postgres.Column{l.Sensor, l.Time, l.Value, l.QCFlags, l.Imputation}
	staged := []string{"t.s", "t.t", "t.v", "t.q", "t.m"}
	kinds := []int{postgres.ExtraText, postgres.ExtraTimestamp, postgres.ExtraNumber, postgres.ExtraNumber, postgres.ExtraText}
	casts := slices.Clone(mapped)
	for i, c := range extra {
		e := fmt.Sprintf("t.e%d", i)
		cols, staged, kinds = append(cols, c), append(staged, e), append(kinds, c.ExtraKind())
		casts = append(casts, e+`::`+c.Type)
	}
	var same, shown, vals, got []string
	for i, c := range casts {
		var cond string
		switch kinds[i] {
		case postgres.ExtraTimestamp:
			cond = `(` + c + `)::timestamptz IS NOT DISTINCT FROM ` + staged[i] + `::timestamptz`
		case postgres.ExtraNumber:
			cond = `(` + c + `)::text::numeric IS NOT DISTINCT FROM ` + staged[i] + `::numeric`
		case postgres.ExtraJSON:
			cond = `(` + c + `)::jsonb IS NOT DISTINCT FROM ` + staged[i] + `::jsonb`
		case postgres.ExtraBool:
			cond = `(` + c + `)::bool IS NOT DISTINCT FROM ` + staged[i] + `::bool`
		default:
			cond = `(` + c + `)::text IS NOT DISTINCT FROM ` + staged[i]
		}
		same = append(same, cond)
		shown = append(shown, fmt.Sprintf(`CASE WHEN NOT (%s) THEN %d END`, cond, i))
		vals = append(vals, staged[i]+`::text`)
		got = append(got, `(`+c+`)::text`)
	}
	var col int
	var was, became string
	err := tx.QueryRow(ctx, `SELECT x.i, x.was, x.got FROM (SELECT coalesce(`+strings.Join(shown, ", ")+`) AS i,
			ARRAY[`+strings.Join(vals, ", ")+`] AS vals, ARRAY[`+strings.Join(got, ", ")+`] AS casts
		FROM `+textTable+` t WHERE NOT (`+strings.Join(same, " AND ")+`) LIMIT 1) s,
		LATERAL (SELECT s.i, coalesce(s.vals[s.i+1], 'NULL'), coalesce(s.casts[s.i+1], 'NULL')) x(i, was, got)`).Scan(&col, &was, &became)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check that %s holds the archive's values: %w", r.Target, err)
	}
	c := cols[col]
	return fmt.Errorf("column %q of %s is %s, which cannot hold the archive's values exactly: %q would become %q (archive %s); nothing of the day was restored. "+
		"Restore --into a table whose columns have the clean table's types (or wider ones: text, timestamptz, numeric, double precision)",
		c.Name, r.Target, c.Type, was, became, key)
}
