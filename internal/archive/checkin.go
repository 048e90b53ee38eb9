package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/logging"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/postgres"
)

var (
	// ErrNotCheckedOut: checkin of a day that has no open checkout.
	ErrNotCheckedOut = errors.New("day is not checked out")
	// ErrCheckinRefused: the day cannot be checked in as it is; the
	// message says why and what to do.
	ErrCheckinRefused = errors.New("checkin refused")
)

// checkin carries a day's checkout through archiveDay.
type checkin struct {
	co   *manifest.Entry // the open checkout (restore row)
	diff measure.DiffStats
}

// CheckinResult is what Checkin did.
type CheckinResult struct {
	DayResult
	RunID string
	// Diff is how the table's rows differ from the archive they replace
	// (a dry run: would replace).
	Diff measure.DiffStats
}

// Checkin ends the checkout of day d (restore --checkout). It writes the
// day's archive as exactly the rows the clean table holds: corrections
// replace the archived readings, deleted rows leave the archive. Like a
// daily run it then reads the object back, verifies it, deletes the rows
// and records the manifest, in the day's transaction, which also ends the
// checkout. It refuses when the table holds no rows of the day or when
// the day's archive changed since the checkout. With abandon it only ends
// the checkout: the archive stays as it is, and the rows (if any) stay in
// the table, to be merged into the archive by the next daily run as after
// a plain restore. Opts.DryRun says what would be done.
func (r *Runner) Checkin(ctx context.Context, d measure.Day, abandon bool) (CheckinResult, error) {
	res := CheckinResult{RunID: manifest.NewRunID()}
	log := r.Log.With(logging.Context("run_id", res.RunID))
	if err := manifest.CheckMigrated(ctx, r.Pool, r.Schema); err != nil {
		return res, err
	}
	if err := r.Clean.Check(ctx, r.Pool); err != nil {
		return res, err
	}
	// Before the day's archive is rewritten: a role that cannot delete the
	// day's rows would upload and then fail at the DELETE.
	if !abandon {
		if err := r.Clean.CheckPrivileges(ctx, r.Pool, postgres.TablePrivileges("checkin", postgres.OnCleanTable)...); err != nil {
			return res, fmt.Errorf("%w: %w", ErrCheckinRefused, err)
		}
	}
	var err error
	if r.Key, err = r.Clean.ReadingKey(ctx, r.Pool); err != nil {
		return res, err
	}
	if abandon {
		res.DayResult, err = r.abandon(ctx, log, d)
		return res, err
	}
	ci := &checkin{}
	var buf postgres.DayBuffer
	res.DayResult = r.archiveDay(ctx, log, res.RunID, d, &buf, ci)
	res.Diff = ci.diff
	switch res.Status {
	case StatusLocked:
		return res, fmt.Errorf("%s is being archived or restored by another run; try again when it has finished", d)
	case StatusFailed, StatusPending:
		return res, res.Err
	}
	return res, nil
}

// abandon ends the checkout of d and leaves the archive and the table as
// they are.
func (r *Runner) abandon(ctx context.Context, log *slog.Logger, d measure.Day) (DayResult, error) {
	res := DayResult{Day: d, Key: archivestore.Key(r.Opts.Prefix, d)}
	conn, err := r.Pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	unlock, ok, err := r.Clean.TryLockDay(ctx, conn, d)
	if err != nil {
		return res, err
	}
	defer unlock()
	if !ok {
		return res, fmt.Errorf("%s is being archived or restored by another run; try again when it has finished", d)
	}
	co, err := r.Manifests.OpenCheckout(ctx, conn, r.Opts.Location, res.Key)
	if err != nil {
		return res, err
	}
	if co == nil {
		return res, fmt.Errorf("%w: %s has no open checkout at %s; nothing to abandon", ErrNotCheckedOut, d, r.Opts.Location)
	}
	res.Checkout = co.ID
	n, err := r.Clean.CountDay(ctx, conn, d)
	if err != nil {
		return res, err
	}
	res.RowsRead = n
	rows := fmt.Sprintf("the %d rows of the day stay in %s; the next archive run merges them into the archive as after a plain restore (changed readings are kept next to the archived ones: delete the rows first to drop the changes)", n, r.Clean)
	if n == 0 {
		rows = fmt.Sprintf("%s holds no rows of the day", r.Clean)
	}
	if r.Opts.DryRun {
		res.Status = StatusDryRun
		log.Info(fmt.Sprintf("Dry run: would abandon the checkout of %s (restore manifest #%d); the archive stays as it is; %s", d, co.ID, rows))
		return res, nil
	}
	if err := r.Manifests.EndCheckout(ctx, conn, co.ID, manifest.CheckoutAbandoned); err != nil {
		return res, err
	}
	res.Status = StatusAbandoned
	log.Info(fmt.Sprintf("Abandoned the checkout of %s (restore manifest #%d); the archive %s stays as it is; %s", d, co.ID, res.Key, rows))
	return res, nil
}

// combine is how write joins the day's rows with the archived readings: a
// union (merge), or for a checkin the rows alone, compared with the
// archive to say what changed.
func (r *Runner) combine(ci *checkin) func(rows, old measure.Source, emit func(*measure.Reading) error) (measure.KeyStats, error) {
	if ci == nil {
		return r.merge
	}
	return func(rows, old measure.Source, emit func(*measure.Reading) error) (measure.KeyStats, error) {
		st, err := r.Clean.Schema().Diff(rows, old, emit)
		ci.diff = st
		return measure.KeyStats{MergeStats: measure.MergeStats{FromA: st.Added + st.Changed, Both: st.Kept}}, err
	}
}

// dryCheckin says what a checkin would change, writing nothing.
func (j *dayJob) dryCheckin(ctx context.Context) error {
	in, err := j.inputs(ctx)
	if err != nil {
		return err
	}
	defer in.close()
	ci, n := j.ci, j.res.RowsRead
	if ci.diff, err = j.r.Clean.Schema().Diff(in.rows, in.old, nil); err != nil {
		return err
	}
	if in.oldReader != nil {
		// Nothing is written, so nothing is retried: an upload never
		// committed at the key fails the dry run as it is.
		st := in.oldReader.Stats()
		if v, err := judgeSource(j.facts, j.plan, j.res.Day, sourceRead{Day: in.oldReader.Day(), SHA256: st.SHA256, Readings: st.Readings}); v != accept {
			return err
		}
	}
	j.res.Status = StatusDryRun
	j.res.Readings = n
	j.log.Info(fmt.Sprintf("Dry run: would check in %s from %d rows of %s: kept %d, added %d, changed %d, removed %d",
		j.res.Day, n, j.r.Clean, ci.diff.Kept, ci.diff.Added, ci.diff.Changed, ci.diff.Removed))
	return nil
}

// Describe lists a diff's examples, for messages.
func Describe(st measure.DiffStats) []string {
	var out []string
	add := func(what string, ex []string) {
		for _, e := range ex {
			out = append(out, what+" "+e)
		}
	}
	add("added", st.Added1)
	add("changed", st.Changed1)
	add("removed", st.Removed1)
	return out
}
