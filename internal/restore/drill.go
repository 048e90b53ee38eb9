package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/postgres"
)

// drillTable is the temporary table a drill restores into; the rollback
// that ends every drill removes it.
const drillTable = "archiver_drill"

// ErrDrillMismatch: the rows a drill restored are not the archive's readings.
var ErrDrillMismatch = errors.New("restored rows differ from the archive")

// DrillResult is what a restore drill found for one day.
type DrillResult struct {
	Day        measure.Day
	Key        string
	ManifestID int64 // the committed manifest the archive was found by; 0 if by key convention
	Readings   int64 // readings in the archive
	Restored   int64 // rows the restore put into the drill table
	Compared   int64 // readings compared one by one, table against archive
	SHA256     string
	Duration   time.Duration
	Err        error // nil: the day restores exactly
}

// Drill proves that archived days restore: for each day it holds the day's
// lock (as a restore does), restores the archive with the restore's own
// load into a temporary table with the target's columns and CHECK
// constraints, checks the archive against its manifest, reads every row
// back and compares it with the archive's reading, and rolls the
// transaction back. Nothing in the target changes and nothing is recorded
// in archive_runs. Days are independent; the results say which failed.
func (r *Restorer) Drill(ctx context.Context, days []measure.Day) ([]DrillResult, error) {
	if err := manifest.CheckMigrated(ctx, r.Pool, r.Schema); err != nil {
		return nil, err
	}
	// As for a restore: the archive decides what is written, so columns
	// beyond the mapped ones need not be listed.
	if err := r.Target.Inspect(ctx, r.Pool); err != nil {
		return nil, fmt.Errorf("restore drill: table %s: %w", r.Target, err)
	}
	days = slices.Clone(days)
	slices.SortFunc(days, measure.Day.Compare)
	days = slices.Compact(days)
	var out []DrillResult
	for _, d := range days {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("restore drill interrupted: %w", err)
		}
		out = append(out, r.drillDay(ctx, d))
	}
	return out, nil
}

func (r *Restorer) drillDay(ctx context.Context, d measure.Day) (res DrillResult) {
	started := time.Now()
	res = DrillResult{Day: d, Key: archivestore.Key(r.Prefix, d)}
	log := r.Log.With("day", d.String(), "key", res.Key, "drill", true)
	defer func() {
		res.Duration = time.Since(started)
		if res.Err != nil {
			log.Error("restore drill failed", "err", res.Err)
		} else {
			log.Info(fmt.Sprintf("Restore drill of %s: %d readings restored and compared, they match the archive and its manifest", d, res.Compared),
				"manifest_id", res.ManifestID, "sha256", res.SHA256)
		}
	}()
	m, err := r.locate(ctx, log, d, res.Key)
	if err != nil {
		res.Err = err
		return res
	}
	if m != nil {
		res.ManifestID = m.ID
	}
	conn, err := r.Pool.Acquire(ctx)
	if err != nil {
		res.Err = fmt.Errorf("acquire connection: %w", err)
		return res
	}
	defer conn.Release()
	unlock, err := r.lock(ctx, log, conn, d)
	if err != nil {
		res.Err = err
		return res
	}
	defer unlock()
	tx, err := conn.Begin(ctx)
	if err != nil {
		res.Err = fmt.Errorf("begin transaction: %w", err)
		return res
	}
	// The drill's whole point: whatever happens, nothing is kept.
	defer tx.Rollback(context.WithoutCancel(ctx))

	drill, err := r.drillTarget(ctx, tx)
	if err != nil {
		res.Err = err
		return res
	}
	ld, err := drill.load(ctx, log, tx, d, m, res.Key, Options{}, nil)
	res.Readings, res.SHA256, res.Restored = ld.stats.Readings, ld.stats.SHA256, ld.inserted
	if err != nil {
		res.Err = err
		return res
	}
	if m != nil {
		if err := timesMatch(m, ld.stats); err != nil {
			res.Err = fmt.Errorf("archive %s: %w", res.Key, err)
			return res
		}
	}
	res.Compared, res.Err = r.compareDrill(ctx, tx, drill.Target, d, res.Key, m, ld.stats.SHA256)
	return res
}

// drillTarget creates the drill table: the target's columns and types and
// its CHECK constraints, so the archive's values must fit exactly what a
// real restore would write them into. Columns the archive does not fill
// lose NOT NULL, and no defaults are copied: a default such as nextval()
// would advance the target's sequence, which no rollback undoes.
func (r *Restorer) drillTarget(ctx context.Context, tx pgx.Tx) (*Restorer, error) {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE `+drillTable+` (LIKE `+pgx.Identifier(r.Target.Name).Sanitize()+` INCLUDING CONSTRAINTS) ON COMMIT DROP`); err != nil {
		return nil, fmt.Errorf("create the drill table like %s: %w", r.Target, err)
	}
	rows, err := tx.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = 'pg_temp.`+drillTable+`'::regclass AND attnum > 0 AND NOT attisdropped AND attnotnull`)
	if err != nil {
		return nil, fmt.Errorf("drill table columns: %w", err)
	}
	notNull, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("drill table columns: %w", err)
	}
	for _, c := range notNull {
		if slices.Contains(r.Target.Columns(), c) {
			continue
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE pg_temp.`+drillTable+` ALTER COLUMN `+pgx.Identifier{c}.Sanitize()+` DROP NOT NULL`); err != nil {
			return nil, fmt.Errorf("drill table: %w", err)
		}
	}
	drill := *r
	drill.Target.Name = []string{"pg_temp", drillTable}
	drill.key = "" // no unique index: every archived reading goes in
	return &drill, nil
}

// timesMatch compares the archive's first and last reading times with its
// manifest's (sha256 and count are checked by load).
func timesMatch(m *manifest.Entry, st archivefile.Stats) error {
	if st.Readings == 0 {
		return nil
	}
	if m.MinTime != nil && !m.MinTime.Equal(st.MinTime) {
		return fmt.Errorf("first reading at %s, manifest #%d recorded %s: %w", st.MinTime.Format(time.RFC3339Nano), m.ID, m.MinTime.UTC().Format(time.RFC3339Nano), ErrChecksum)
	}
	if m.MaxTime != nil && !m.MaxTime.Equal(st.MaxTime) {
		return fmt.Errorf("last reading at %s, manifest #%d recorded %s: %w", st.MaxTime.Format(time.RFC3339Nano), m.ID, m.MaxTime.UTC().Format(time.RFC3339Nano), ErrChecksum)
	}
	return nil
}

// compareDrill reads the drill table back in canonical order, as an
// archive run would read the day, and compares it reading by reading with
// a second read of the archive (sorted, each reading once, when it is not
// canonical). The object must not have changed between the two reads.
func (r *Restorer) compareDrill(ctx context.Context, tx pgx.Tx, table postgres.CleanTable, d measure.Day, key string, m *manifest.Entry, sha string) (int64, error) {
	ar, closeObj, err := r.open(ctx, d, key, m)
	if err != nil {
		return 0, err
	}
	defer closeObj()
	var src measure.Source = ar
	if m == nil {
		// An archive found by key convention may be the original service's,
		// unsorted, with repeats; sorting bounds memory as restore does.
		if src, err = archivefile.SortedSource(ar, r.Limits.MaxReadings); err != nil {
			return 0, r.decodeErr(key, err)
		}
	}
	// The table is read back with the extra columns the archive holds
	// (restore writes what the archive holds, whatever is configured now).
	first, ferr := src.Next()
	var pending *measure.Reading
	if ferr == nil {
		c := *first
		pending = &c
		if table, err = withExtra(ctx, tx, table, c.Extra); err != nil {
			return 0, err
		}
	}
	next := func() (*measure.Reading, error) {
		if ferr != nil {
			return nil, ferr
		}
		if pending != nil {
			p := pending
			pending = nil
			return p, nil
		}
		return src.Next()
	}
	rows, err := table.StreamDay(ctx, tx, d)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	// Values are compared in the value column's type, as archive runs
	// compare them (a real's archived 5.2 is its float4).
	schema := r.Target.Schema()
	var n int64
	var prev measure.Reading
	have := false
	for {
		a, aerr := next()
		if aerr != nil && !errors.Is(aerr, io.EOF) {
			return n, r.decodeErr(key, aerr)
		}
		if aerr == nil && have && schema.Compare(&prev, a) == 0 {
			continue // a repeated reading is restored once
		}
		t, terr := rows.Next()
		if terr != nil && !errors.Is(terr, io.EOF) {
			return n, terr
		}
		switch {
		case aerr != nil && terr != nil:
			if got := ar.Stats().SHA256; got != sha {
				return n, fmt.Errorf("archive %s changed during the drill (sha256 %s, then %s): %w", key, sha, got, ErrChecksum)
			}
			return n, nil
		case aerr != nil:
			return n, fmt.Errorf("%w: %s holds a reading the archive does not: %s", ErrDrillMismatch, table, describeReading(t))
		case terr != nil:
			return n, fmt.Errorf("%w: the archive's reading %s was not restored", ErrDrillMismatch, describeReading(a))
		}
		if schema.Compare(a, t) != 0 {
			return n, fmt.Errorf("%w: reading #%d of the day reads back from %s as %s, the archive holds %s", ErrDrillMismatch, n+1, table, describeReading(t), describeReading(a))
		}
		prev, have = *a, true
		n++
	}
}

// withExtra returns the drill table described with the archive's extra
// columns (the members of a reading's "extra" object) and every other
// column as not kept, so that its rows read back as the archive's readings.
func withExtra(ctx context.Context, tx pgx.Tx, table postgres.CleanTable, extra string) (postgres.CleanTable, error) {
	ms, err := archivefile.ParseExtra(extra)
	if err != nil || len(ms) == 0 {
		return table, err
	}
	t := table
	t.Extra, t.Ignore = nil, nil
	for _, m := range ms {
		t.Extra = append(t.Extra, m.Name)
	}
	if l := table.Layout(); l != nil {
		for _, c := range append(slices.Clone(l.Extra), l.Other...) {
			if !slices.Contains(t.Extra, c.Name) {
				t.Ignore = append(t.Ignore, c.Name)
			}
		}
	}
	if err := t.Check(ctx, tx); err != nil {
		return table, fmt.Errorf("read the drill table back with the archive's extra columns: %w", err)
	}
	return t, nil
}

func describeReading(r *measure.Reading) string {
	v, q, m := "NULL", "NULL", "NULL"
	if r.Value.Valid {
		v = fmt.Sprint(r.Value.Float64)
		if r.ValueText != "" {
			v = r.ValueText
		}
	}
	if r.QCFlags.Valid {
		q = fmt.Sprint(r.QCFlags.Int64)
	}
	if r.Imputation.Valid {
		m = fmt.Sprintf("%q", r.Imputation.String)
	}
	s := fmt.Sprintf("(sensor %q, time %s, value %s, qc_flags %s, imputation_method %s", r.Sensor, r.Time.UTC().Format(time.RFC3339Nano), v, q, m)
	if r.Extra != "" {
		s += ", extra " + r.Extra
	}
	return s + ")"
}

// SampleDays picks n distinct days at random among the days in [from, to]
// (a zero bound is open) that have a committed archive manifest at this
// location; all of them when there are n or fewer.
func (r *Restorer) SampleDays(ctx context.Context, n int, from, to measure.Day, rnd *rand.Rand) ([]measure.Day, error) {
	f := manifest.Filter{Kinds: []string{manifest.KindArchive, manifest.KindAdopt}, Status: manifest.StatusCommitted, Location: r.Location}.Days(from.Start(), to.Start())
	entries, err := r.Manifests.List(ctx, r.Pool, f)
	if err != nil {
		return nil, err
	}
	var days []measure.Day
	seen := map[measure.Day]bool{}
	for _, e := range entries {
		if d, ok := archivestore.ParseKey(r.Prefix, e.ObjectKey); ok && !seen[d] {
			seen[d] = true
			days = append(days, d)
		}
	}
	rnd.Shuffle(len(days), func(i, j int) { days[i], days[j] = days[j], days[i] })
	days = days[:min(n, len(days))]
	slices.SortFunc(days, measure.Day.Compare)
	return days, nil
}
