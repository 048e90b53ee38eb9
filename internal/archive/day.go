package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"gocloud.dev/gcerrors"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/failpoint"
	"github.com/shizuku-labs/archiver/internal/logging"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/postgres"
)

// dayJob is one day's archive run. Its steps run in order (see run), each
// leaving what it learned for the next; a step that fails returns its error
// and archiveDay records the failure in one place (fail). A step that ends
// the day without failing (locked, checked out, nothing to do, dry run)
// sets res.Status and returns nil.
type dayJob struct {
	r       *Runner
	log     *slog.Logger
	runID   string
	started time.Time
	buf     *postgres.DayBuffer
	ci      *checkin // nil unless the day is being checked in
	res     DayResult

	tx    pgx.Tx
	parts []postgres.Partition // emptied with TRUNCATE (see deleteDay)
	facts recoveryFacts        // what is known of the day's storage
	plan  sourcePlan           // where the archived readings are (planSource)
	// atKey is the object at the key, opened to learn whether it exists;
	// the first write that merges with it reads it (then it is nil).
	atKey io.ReadCloser
	// rows is the day read into buf by count, or nil for a day streamed.
	rows  *postgres.DayRows
	stats archivefile.Stats // of the archive published
	// rejected is the checksum of the object at the key once judgeSource
	// found it an upload never committed (errNotArchive).
	rejected string
	undo     []func() // run by close, last first
}

// errNotArchive aborts a write whose merge source turned out to be an
// upload that was never committed; upload plans again (see judgeSource).
var errNotArchive = errors.New("the object merged with is an upload that was never committed")

// archiveDay archives one day. Everything it does to the database happens in
// one REPEATABLE READ transaction: the rows it streams into the archive and
// the rows it deletes are the same snapshot, so a row inserted or changed by
// the application meanwhile is either in both or in neither (a concurrent
// update of a row we read makes the DELETE fail with a serialization error,
// and the day is retried by the next run).
//
// With ci, the day is checked in (see Checkin): its archive is written as
// exactly the day's rows instead of their union with the archive.
func (r *Runner) archiveDay(ctx context.Context, log *slog.Logger, runID string, d measure.Day, buf *postgres.DayBuffer, ci *checkin) DayResult {
	j := &dayJob{r: r, runID: runID, started: time.Now().UTC(), buf: buf, ci: ci,
		res: DayResult{Day: d, Key: archivestore.Key(r.Opts.Prefix, d)}}
	j.log = log.With(logging.Context("day", d.String()), logging.Context("key", j.res.Key))
	defer j.close()
	if err := j.run(ctx); err != nil {
		return j.fail(ctx, err)
	}
	return j.res
}

// run is the day's steps, in order.
func (j *dayJob) run(ctx context.Context) error {
	steps := []func(context.Context) error{
		j.lock,        // the day's lock and transaction
		j.checkout,    // a checked-out day is left alone, or checked in
		j.count,       // anything left to archive?
		j.findArchive, // where the day's archived readings are
		j.dryRun,
		j.upload,   // the merged archive, published
		j.readBack, // I1: checked in storage before anything is deleted
		j.deleteDay,
		j.commit,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil || j.res.Status != "" {
			return err
		}
	}
	j.done(ctx)
	return nil
}

func (j *dayJob) close() {
	for i := len(j.undo) - 1; i >= 0; i-- {
		j.undo[i]()
	}
}

// lock takes the day's lock and opens its transaction.
func (j *dayJob) lock(ctx context.Context) error {
	r, d := j.r, j.res.Day
	conn, err := r.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	j.undo = append(j.undo, conn.Release)

	// I6: one run per day. A second run skips the day and says so; the
	// first run finishes it.
	unlock, ok, err := r.Clean.TryLockDay(ctx, conn, d)
	if err != nil {
		return err
	}
	j.undo = append(j.undo, unlock)
	if !ok {
		j.res.Status = StatusLocked
		j.log.Warn("day is being archived by another run; skipped")
		return nil
	}

	// Partition fast path (opt-in): partitions lying wholly inside the day
	// are locked before the transaction's snapshot is taken, so that they
	// can later be emptied with TRUNCATE instead of DELETE (see deleteDay).
	var parts []postgres.Partition
	if r.Opts.DropPartitions && !r.Opts.DryRun {
		if parts, err = r.Clean.DayPartitions(ctx, conn, d); err != nil {
			return err
		}
	}
	tx, parts, err := r.begin(ctx, j.log, conn, d, parts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	j.tx, j.parts = tx, parts
	j.undo = append(j.undo, func() { tx.Rollback(context.WithoutCancel(ctx)) }) // no-op after commit
	return nil
}

// checkout: a checked-out day's rows are being corrected: they are
// archived by checkin, not merged into the archive by a daily run.
func (j *dayJob) checkout(ctx context.Context) error {
	r, d := j.r, j.res.Day
	co, err := r.Manifests.OpenCheckout(ctx, j.tx, r.Opts.Location, j.res.Key)
	if err != nil {
		return err
	}
	switch {
	case j.ci == nil && co != nil:
		j.res.Status, j.res.Checkout = StatusCheckedOut, co.ID
		j.log.Warn(fmt.Sprintf("%s is checked out (restore manifest #%d, %s): left alone; `archiver checkin --day %s` archives it as the table holds it, `archiver checkin --day %s --abandon` ends the checkout",
			d, co.ID, co.FinishedAt.Format(time.RFC3339), d, d))
	case j.ci != nil && co == nil:
		return fmt.Errorf("%w: %s has no open checkout at %s (check a day out with `archiver restore --day %s --checkout`)", ErrNotCheckedOut, d, r.Opts.Location, d)
	case j.ci != nil:
		j.ci.co = co
		j.res.Checkout = co.ID
	}
	return nil
}

// count: the plan was made before we held the lock; another run may have
// archived the day since. Nothing to do then (I4). A day of ordinary size
// is read here, in time-index order, and sorted in memory, which costs
// PostgreSQL far less than sorting it, and its row count is the count: a
// separate count(*) would cost PostgreSQL a fifth of the day's work again.
// A day too large to hold (or a dry run, which reads nothing) is counted,
// and a large day is later sorted by PostgreSQL and streamed, in constant
// memory.
func (j *dayJob) count(ctx context.Context) error {
	r, d := j.r, j.res.Day
	n, err := j.readDay(ctx)
	if err != nil {
		return err
	}
	if n == 0 && j.ci != nil {
		return fmt.Errorf("%w: %s has no rows of %s: checking in would write an empty archive. To end the checkout and keep the archive as it is, run `archiver checkin --day %s --abandon`",
			ErrCheckinRefused, r.Clean, d, d)
	}
	if n == 0 {
		j.res.Status = StatusNothing
		j.log.Debug("no rows left for the day")
		return nil
	}
	j.res.RowsRead = n
	return failpoint.Inject("archive.after-read")
}

// readDay reads the day into the worker's buffer, or counts it when it
// cannot be held there (j.rows stays nil then). A buffer that has held a
// day is reused at its size without counting; the worker's first day, or
// one larger than the last, is counted to size it once.
func (j *dayJob) readDay(ctx context.Context) (int64, error) {
	r, d := j.r, j.res.Day
	if r.Opts.DryRun || !r.Clean.Layout().Fast() {
		// A table the binary-row path cannot read is always streamed.
		return r.Clean.CountDay(ctx, j.tx, d)
	}
	var rows *postgres.DayRows
	err := postgres.ErrBufferFull
	if j.buf.Sized() {
		rows, err = r.Clean.ReadDay(ctx, j.tx, d, j.buf, 0)
	}
	if errors.Is(err, postgres.ErrBufferFull) || errors.Is(err, postgres.ErrDayTooLarge) {
		n, cerr := r.Clean.CountDay(ctx, j.tx, d)
		if cerr != nil || n == 0 || !j.buf.Fits(n) {
			return n, cerr
		}
		rows, err = r.Clean.ReadDay(ctx, j.tx, d, j.buf, n)
	}
	if err != nil {
		return 0, err
	}
	j.rows = rows
	j.undo = append(j.undo, rows.Close)
	return rows.Len(), nil
}

// findArchive gathers what is known of the day's storage and plans where
// its archived readings are.
func (j *dayJob) findArchive(ctx context.Context) error {
	r, d, key := j.r, j.res.Day, j.res.Key
	prev, err := r.Manifests.LatestCommitted(ctx, j.tx, r.Opts.Location, key)
	if err != nil {
		return err
	}
	j.facts = recoveryFacts{Key: key, Committed: prev}
	// Opening the day's object tells whether it exists and starts reading
	// it in one request, where Exists and then a read would take two.
	pre, err := r.store().OpenRaw(ctx, key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("check for existing archive %s: %w", key, err)
	}
	if err == nil {
		j.facts.AtKey, j.atKey = true, pre
		j.undo = append(j.undo, func() { pre.Close() }) // once a write has read it, or if none does
	}
	if ci := j.ci; ci != nil && (prev == nil || prev.SHA256 != ci.co.SHA256) {
		now := "no committed archive"
		if prev != nil {
			now = fmt.Sprintf("manifest #%d (run %s, %s) with sha256 %s", prev.ID, prev.RunID, prev.FinishedAt.Format(time.RFC3339), prev.SHA256)
		}
		return fmt.Errorf("%w: the archive of %s changed since it was checked out (restore manifest #%d restored sha256 %s; the day's archive is now %s): checking in would drop what was archived meanwhile. Run `archiver checkin --day %s --abandon`, then check the day out again",
			ErrCheckinRefused, d, ci.co.ID, ci.co.SHA256, now, d)
	}
	if j.facts.AtKey {
		// An object with the checksum of one of our uploads that never
		// committed is that upload, not an archive (see judgeSource).
		if j.facts.Ours, err = r.Manifests.FailedUploads(ctx, r.Pool, r.Opts.Location, key); err != nil {
			return err
		}
	}
	return j.replan(ctx)
}

// replan decides where the archived readings are from the facts (see
// planSource), looking the backup up when the decision needs it.
func (j *dayJob) replan(ctx context.Context) error {
	p := planSource(j.facts)
	if p.NeedBackup {
		ok, err := j.r.Bucket.Exists(ctx, backupKey(j.res.Key))
		if err != nil {
			return fmt.Errorf("check for the backup of %s: %w", j.res.Key, err)
		}
		j.facts.BackupKnown, j.facts.Backup = true, ok
		p = planSource(j.facts)
	}
	if p.Refuse != nil {
		return p.Refuse
	}
	if p.Warn != "" {
		args := []any{"sha256", j.facts.Rejected}
		if p.Source == backupKey(j.res.Key) {
			args = append(args, "backup", p.Source)
		}
		if p.Trust {
			args = append(args, "manifest", j.facts.Committed.ID)
		}
		j.log.Warn(p.Warn, args...)
	}
	j.plan = p
	return nil
}

// dryRun says what the day would do, and ends it.
func (j *dayJob) dryRun(ctx context.Context) error {
	if !j.r.Opts.DryRun {
		return nil
	}
	if j.ci != nil {
		return j.dryCheckin(ctx)
	}
	j.res.Status = StatusDryRun
	msg := fmt.Sprintf("Dry run: would archive %d rows of %s to %s", j.res.RowsRead, j.res.Day, j.res.Key)
	if j.facts.AtKey {
		msg += " (merged with the archive already there)"
	}
	j.log.Info(msg)
	return nil
}

// upload writes the day's archive and publishes it. When the object merged
// with turns out to be an upload that was never committed, the day is
// written again from the source planned then.
func (j *dayJob) upload(ctx context.Context) error {
	writeStart := time.Now()
	var ms measure.KeyStats
	var err error
	for {
		ms, err = j.write(ctx)
		if !errors.Is(err, errNotArchive) {
			break
		}
		j.facts.Rejected = j.rejected
		if err = j.replan(ctx); err != nil {
			break
		}
	}
	res := &j.res
	res.Upload = time.Since(writeStart)
	res.Bytes, res.SHA256, res.Readings, res.Sensors = j.stats.Bytes, j.stats.SHA256, j.stats.Readings, j.stats.Sensors
	res.NewReadings, res.PrevReadings = ms.FromA, ms.FromB+ms.Both
	res.Replaced = ms.Replaced
	if err != nil {
		return err
	}
	if ms.Replaced > 0 {
		j.log.Info(fmt.Sprintf("%d archived readings of %s replaced by the table's newer reading with the same key (%s)", ms.Replaced, res.Day, j.r.Key),
			"replaced", ms.Replaced, "first_keys", strings.Join(ms.ReplacedKeys, "; "))
	}
	return failpoint.Inject("archive.after-upload")
}

// readBack reads the object back from storage and checks it before
// deleting anything it is meant to contain (I1).
func (j *dayJob) readBack(ctx context.Context) error {
	want := archivestore.Expect{Day: j.res.Day, SHA256: j.stats.SHA256, Readings: j.stats.Readings}
	if err := j.r.store().ReadBack(ctx, j.res.Key, want); err != nil {
		return err
	}
	return failpoint.Inject("archive.after-verify")
}

// deleteDay deletes the day's rows, exactly the rows archived.
func (j *dayJob) deleteDay(ctx context.Context) error {
	// The DELETE is what writes the day's WAL: not while a replica lags.
	if err := j.r.checkLag(); err != nil {
		return err
	}
	deleted, err := j.r.deleteDay(ctx, j.log, j.tx, j.res.Day, j.parts)
	if err != nil {
		return err
	}
	if deleted != j.res.RowsRead {
		// The day's lock and snapshot keep other runs and late rows out:
		// what changes a DELETE's count is the table's own triggers and rules.
		why := "the day changed under the run"
		if trig, terr := j.r.Clean.RowSkippingDeleteTriggers(ctx, j.tx); terr == nil && len(trig) > 0 {
			why = "the table's " + strings.Join(trig, ", ") + " skipped or added rows; disable it for the archive runs (ALTER TABLE … DISABLE TRIGGER …) or make it let the archiver's DELETE through"
		}
		return fmt.Errorf("would delete %d rows but archived %d: %s; rolled back, nothing deleted", deleted, j.res.RowsRead, why)
	}
	j.res.RowsDeleted = deleted
	return failpoint.Inject("archive.after-delete")
}

// commit records the day's manifest and commits it with the delete.
func (j *dayJob) commit(ctx context.Context) error {
	r, ci := j.r, j.ci
	e := r.entry(j.runID, j.started, j.res, manifest.StatusCommitted)
	e.MinTime, e.MaxTime = &j.stats.MinTime, &j.stats.MaxTime
	if ci != nil {
		e.Checkout, e.CheckoutID = manifest.CheckoutCheckin, &ci.co.ID
	}
	if err := r.Manifests.Insert(ctx, j.tx, &e); err != nil {
		return err
	}
	if ci != nil {
		if err := r.Manifests.EndCheckout(ctx, j.tx, ci.co.ID, manifest.CheckoutCheckedIn); err != nil {
			return err
		}
	}
	if err := failpoint.Inject("archive.before-commit"); err != nil {
		return err
	}
	if err := j.tx.Commit(ctx); err != nil {
		j.res.RowsDeleted = 0
		return fmt.Errorf("commit delete and manifest: %w", err)
	}
	return nil
}

// done tidies up after the commit and says what the day did.
func (j *dayJob) done(ctx context.Context) {
	r, res, log, d := j.r, &j.res, j.log, j.res.Day
	res.Status = StatusArchived
	_ = failpoint.Inject("archive.after-commit") // only kill/sleep make sense here
	// The row recorded before publishing stood for an upload in progress;
	// the committed row says it all now. (The transaction's snapshot does
	// not see that row, so it is removed after the commit. If that fails,
	// a failed row with the committed checksum is left: misleading, not
	// harmful.)
	if err := r.Manifests.Delete(context.WithoutCancel(ctx), r.Pool, res.pending.ID); err != nil {
		log.Warn("could not remove the upload-in-progress row of the committed day", "err", err)
	}
	// The key holds the committed archive now; its backup is not needed.
	if j.plan.deletesBackup(res.Key) {
		if err := r.Bucket.Delete(context.WithoutCancel(ctx), backupKey(res.Key)); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			log.Warn("could not delete the backup of the replaced archive; it is harmless, and the next run that replaces the day's archive replaces it", "backup", backupKey(res.Key), "err", err)
		}
	}
	if ci := j.ci; ci != nil {
		res.Status = StatusCheckedIn
		log.Info(fmt.Sprintf("Checked in %s: %s holds exactly the %d readings of the table (kept %d, added %d, changed %d, removed %d); checkout #%d ended",
			d, res.Key, res.Readings, ci.diff.Kept, ci.diff.Added, ci.diff.Changed, ci.diff.Removed, ci.co.ID),
			"sha256", res.SHA256, "deleted", res.RowsDeleted)
		return
	}
	// As the original logged it: the archive's URL where the store has one.
	where := res.Key
	if r.Opts.ObjectURL != nil {
		if u := r.Opts.ObjectURL(res.Key); u != "" {
			where = u
		}
	}
	// The text form is one aligned line per day, as the original's summary
	// reads; the JSON form has every fact as its own field.
	msg := fmt.Sprintf("Created archive for %s: %s  readings %8d  new %8d  merged %8d  sensors %5d  bytes %10d  deleted %8d",
		d, where, res.Readings, res.NewReadings, res.PrevReadings, res.Sensors, res.Bytes, res.RowsDeleted)
	if res.Replaced > 0 {
		msg += fmt.Sprintf("  replaced %d", res.Replaced)
	}
	if len(res.SHA256) >= 12 {
		msg += "  sha256 " + res.SHA256[:12]
	}
	log.Info(msg, logging.Context("location", r.Opts.Location), logging.Context("readings", res.Readings),
		logging.Context("new", res.NewReadings), logging.Context("merged", res.PrevReadings), logging.Context("sensors", res.Sensors),
		logging.Context("bytes", res.Bytes), logging.Context("deleted", res.RowsDeleted), logging.Context("replaced", res.Replaced),
		logging.Context("sha256", res.SHA256))
}

// begin opens the day's REPEATABLE READ transaction. With partitions to
// empty, their SHARE locks are its first statement (before any snapshot:
// see postgres.LockPartitions); if they cannot be had in time, the
// transaction is opened again without them, and the day is deleted row by
// row as usual. It returns the partitions it holds.
func (r *Runner) begin(ctx context.Context, log *slog.Logger, conn *pgxpool.Conn, d measure.Day, parts []postgres.Partition) (pgx.Tx, []postgres.Partition, error) {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead}
	tx, err := conn.BeginTx(ctx, opts)
	if err != nil || !r.Opts.DropPartitions {
		return tx, nil, err
	}
	// A generic plan of a day's statement locks every partition of the
	// table, the other days' too: two days each holding its own
	// partitions for TRUNCATE would then deadlock on each other's. Plans
	// made for the day's bounds lock only the day's partitions.
	if err := postgres.CustomPlans(ctx, tx); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return nil, nil, err
	}
	if len(parts) == 0 {
		return tx, nil, nil
	}
	lerr := postgres.LockPartitions(ctx, tx, parts, r.lockTimeout())
	if lerr == nil {
		// The partitions were listed before the lock; now that they are
		// locked they cannot be detached or re-bounded: list them again
		// and keep those that are still the day's.
		now, err := r.Clean.DayPartitions(ctx, tx, d)
		if err != nil {
			tx.Rollback(context.WithoutCancel(ctx))
			return nil, nil, err
		}
		var keep []postgres.Partition
		for _, p := range parts {
			if slices.Contains(now, p) {
				keep = append(keep, p)
			}
		}
		return tx, keep, nil
	}
	tx.Rollback(context.WithoutCancel(ctx))
	if ctx.Err() != nil {
		return nil, nil, lerr
	}
	log.Warn("could not lock the day's partitions in time; deleting its rows instead of truncating", "err", lerr)
	if tx, err = conn.BeginTx(ctx, opts); err != nil {
		return nil, nil, err
	}
	if err := postgres.CustomPlans(ctx, tx); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return nil, nil, err
	}
	return tx, nil, nil
}

// deleteDay removes the day's rows in the day's transaction and returns how
// many it removed; the caller checks that this is the number archived.
// Partitions locked by begin are emptied with TRUNCATE: their rows are
// counted first, in the transaction's snapshot, which holds every row they
// have (begin locked out writers before the snapshot was taken), and all of
// which were streamed into the archive (they lie inside the day). What the
// partitions do not hold (other partitions, a DEFAULT partition) is
// deleted row by row with the day's predicate. A partition that cannot be
// truncated (say, a foreign key points at the table) is rolled back to
// its savepoint and left to the DELETE.
func (r *Runner) deleteDay(ctx context.Context, log *slog.Logger, tx pgx.Tx, d measure.Day, parts []postgres.Partition) (int64, error) {
	var truncated int64
	for _, p := range parts {
		n, err := p.CountRows(ctx, tx)
		if err != nil {
			return 0, err
		}
		// Paced before the TRUNCATE, while readers can still use the
		// partition (Options.MaxRowsPerSecond).
		if err := r.paceRows(ctx, n); err != nil {
			return 0, err
		}
		sp, err := tx.Begin(ctx) // savepoint
		if err != nil {
			return 0, fmt.Errorf("truncate partition %s: %w", p, err)
		}
		if err := p.Truncate(ctx, sp); err != nil {
			if rerr := sp.Rollback(ctx); rerr != nil {
				return 0, errors.Join(err, rerr)
			}
			log.Warn("cannot truncate the day's partition; deleting its rows instead", "partition", p.String(), "err", err)
			continue
		}
		if err := sp.Commit(ctx); err != nil {
			return 0, fmt.Errorf("truncate partition %s: %w", p, err)
		}
		truncated += n
		log.Debug("emptied partition", "partition", p.String(), "rows", n)
	}
	deleted, err := r.deleteRows(ctx, tx, d) // in paced batches with Options.MaxRowsPerSecond
	if err != nil {
		return 0, err
	}
	return truncated + deleted, nil
}

// write streams the union of the day's rows and the archived readings (the
// planned source, if any) into a new object at the key. The union is a
// superset of the existing object, so replacing it keeps I2; if anything
// fails, the upload is aborted (archivestore.Store.Write), so no partial
// object is ever published.
func (j *dayJob) write(ctx context.Context) (measure.KeyStats, error) {
	r, d, key := j.r, j.res.Day, j.res.Key
	var ms measure.KeyStats
	in, err := j.inputs(ctx)
	if err != nil {
		return ms, err
	}
	defer in.close()

	// What the merge or the checks refuse says which archive it was
	// writing.
	wrap := func(err error) error {
		if err == nil {
			return nil
		}
		return fmt.Errorf("write archive %s: %w", key, err)
	}
	combine := r.combine(j.ci)
	j.stats, err = r.store().Write(ctx, key, archivestore.WriteOptions{
		Day: d, Level: r.Opts.GzipLevel, Schema: r.Clean.Schema(),
		// A new day's key must still be free when the upload lands: if some
		// other writer created it meanwhile, fail rather than overwrite.
		IfNotExist: !j.facts.AtKey,
		Tap:        func(w io.Writer) io.Writer { return &midUpload{w: w} },
		BeforePublish: func(st archivefile.Stats) error {
			return wrap(j.prePublish(ctx, in, st))
		},
	}, func(aw *archivefile.Writer) error {
		var err error
		if ms, err = combine(in.rows, in.old, aw.Write); err != nil {
			return wrap(err)
		}
		if in.oldReader != nil {
			// No rewrite drops data: what the existing archive holds beyond
			// this format (another tool's members) is carried over, or the
			// day is refused.
			return wrap(archivefile.CarryOver(aw, in.oldReader, j.plan.Source))
		}
		return nil
	})
	return ms, err
}

// judge says whether the source just read holds the day's archived
// readings (judgeSource); it returns errNotArchive for an upload never
// committed.
func (j *dayJob) judge(in *inputs) error {
	if in.oldReader == nil {
		return nil
	}
	st := in.oldReader.Stats()
	v, err := judgeSource(j.facts, j.plan, j.res.Day, sourceRead{Day: in.oldReader.Day(), SHA256: st.SHA256, Readings: st.Readings})
	if v == fallBack {
		j.rejected = st.SHA256
		return fmt.Errorf("%w: %w", errNotArchive, err)
	}
	return err
}

// prePublish runs once the new archive is complete, before it replaces
// what is at the key.
func (j *dayJob) prePublish(ctx context.Context, in *inputs, st archivefile.Stats) error {
	r, d, key := j.r, j.res.Day, j.res.Key
	if err := j.judge(in); err != nil {
		return err
	}
	// Same snapshot, same predicate: the archive must hold every row read
	// (or, for a streamed day, counted) under the lock, or the DELETE
	// check below means nothing.
	if in.rows.Count() != j.res.RowsRead {
		return fmt.Errorf("streamed %d rows of %s but counted %d in the same snapshot", in.rows.Count(), d, j.res.RowsRead)
	}
	if j.plan.CopyToBackup && in.oldReader != nil {
		// The object about to be replaced holds archived readings (a
		// committed archive, or one this archiver did not write): keep a
		// copy until the commit, so that if the run stops in between, the
		// next one merges with those readings and not with our uncommitted
		// upload, whose rows the application may have changed since.
		if err := r.Bucket.Copy(ctx, backupKey(key), key, nil); err != nil {
			return fmt.Errorf("back up %s before replacing it: %w", key, err)
		}
		if err := failpoint.Inject("archive.after-backup"); err != nil {
			return err
		}
	}
	if err := j.recordUpload(ctx, st); err != nil {
		return err
	}
	return failpoint.Inject("archive.before-publish")
}

// recordUpload records, just before the object is published, the upload
// about to land, so that an object left at the key by a run that never
// committed is known for what it is (see judgeSource). A failure is
// written into this row; a commit records its own row and removes this one.
func (j *dayJob) recordUpload(ctx context.Context, stats archivefile.Stats) error {
	p := j.res
	p.Bytes, p.SHA256, p.Readings, p.Sensors = stats.Bytes, stats.SHA256, stats.Readings, stats.Sensors
	e := j.r.entry(j.runID, j.started, p, manifest.StatusFailed)
	e.Error = "upload started; the run stopped before it committed (killed, crashed, or lost its database connection)"
	if err := j.r.Manifests.Insert(ctx, j.r.Pool, &e); err != nil {
		return err
	}
	j.res.pending = &e
	return nil
}

// merge is the union of the day's rows and the archived readings: by
// whole reading, or, when the table has a reading key (Runner.Key), by key,
// the table's reading replacing the archived one with its key.
func (r *Runner) merge(rows, old measure.Source, emit func(*measure.Reading) error) (measure.KeyStats, error) {
	// Values are compared in the value column's type: 5.2 and an older
	// archive's 5.199999809265137 are one real.
	schema := r.Clean.Schema()
	if r.Key != "" {
		return schema.MergeByKey(rows, old, emit)
	}
	ms, err := schema.Merge(rows, old, emit)
	return measure.KeyStats{MergeStats: ms}, err
}

// inputs are what a day's archive is written from: the day's rows, in
// canonical order, and the readings already archived (old), with the reader
// of the planned source, which judge checks once it has been read.
type inputs struct {
	rows      *postgres.DayRows
	old       measure.Source
	oldReader *archivefile.Reader
	closers   []func()
}

func (in *inputs) close() {
	for i := len(in.closers) - 1; i >= 0; i-- {
		in.closers[i]()
	}
}

// inputs opens the day's rows and the planned source.
func (j *dayJob) inputs(ctx context.Context) (*inputs, error) {
	r, d, src := j.r, j.res.Day, j.plan.Source
	in := &inputs{old: emptySource{}}
	var err error
	if j.rows != nil {
		// Read by count; a second write reads it again from the start.
		j.rows.Rewind()
		in.rows = j.rows
	} else {
		if in.rows, err = r.Clean.StreamDay(ctx, j.tx, d); err != nil {
			return nil, err
		}
		in.closers = append(in.closers, in.rows.Close)
	}
	if src == "" {
		return in, nil
	}
	or := j.atKey
	if src != j.res.Key || or == nil {
		if or, err = r.store().OpenRaw(ctx, src); err != nil {
			in.close()
			return nil, fmt.Errorf("open existing archive %s: %w", src, err)
		}
	} else {
		j.atKey = nil // read once; a second write opens it again
	}
	obj, err := r.store().Decode(or)
	if err != nil {
		in.close()
		return nil, fmt.Errorf("existing archive %s: %w", src, err)
	}
	in.closers = append(in.closers, func() { obj.Close() })
	in.oldReader, in.old = obj.Reader, obj.Reader
	if schema := r.Clean.Schema(); j.facts.Committed == nil || j.plan.WantSHA == "" || schema != (measure.Schema{}) {
		// Not written under a manifest of ours: the original service's
		// archive (sensors in first-seen order) or a crashed run's. One
		// day is held in memory to sort it; our own archives stream.
		// So is an archive of a table whose values are not double
		// precision: older versions ordered its values as float8.
		if in.old, err = archivefile.SortedSourceFor(obj.Reader, schema, r.Opts.Limits.MaxReadings); err != nil {
			in.close()
			return nil, fmt.Errorf("existing archive %s: %w", src, err)
		}
	}
	// Say which input failed: "merge: source B" would not tell an
	// operator that the archive in storage is unreadable.
	in.old = existingSource{src: in.old, key: src}
	return in, nil
}

// backupKey is where the archived readings of key are kept while a run
// replaces the object at key: from just before the new object is published
// until the run commits.
func backupKey(key string) string { return archivestore.BackupKey(key) }

// recordTries bounds the attempts to record a failed day when the
// database connections fail under it (see fail).
const recordTries = 5

// fail records a failed day. Nothing of the day was deleted: the
// transaction is rolled back by close.
func (j *dayJob) fail(ctx context.Context, err error) DayResult {
	r, res, log := j.r, j.res, j.log
	runID, started := j.runID, j.started
	res.Status, res.Err, res.RowsDeleted = StatusFailed, err, 0
	if reason := pendingReason(ctx, err); reason != "" {
		res.Status, res.Reason = StatusPending, reason
		log.Warn("day stopped and rolled back, not failed: "+reason+"; its rows stay in the database", "err", err)
	} else {
		log.Error("day failed; its rows stay in the database", "err", err)
	}
	if r.Opts.DryRun {
		return res // I7: a dry run records nothing
	}
	if res.Status == StatusPending && res.pending == nil {
		return res // nothing was uploaded: a skipped day leaves no trace to record
	}
	// The run may be failing because ctx was cancelled; the failure must
	// still be recorded.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	e := r.entry(runID, started, res, manifest.StatusFailed)
	write := r.Manifests.Insert
	if res.pending != nil {
		// The row recorded before publishing keeps the checksum of what
		// may now be at the key; it gets the reason.
		e = *res.pending
		e.FinishedAt = time.Time{}
		write = r.Manifests.Update
	}
	e.Error = err.Error()
	if res.Status == StatusPending {
		e.Error = manifest.PendingPrefix + res.Reason + ": " + err.Error()
	}
	// A day fails most often because the database went away: the pool's
	// other connections may be just as dead (pg_terminate_backend of every
	// session, a restart). Each attempt on a dead one discards it; a few
	// attempts reach a fresh connection, so the reason is not lost. At
	// worst a repeated Insert records the failure twice, which misleads no
	// one: both rows are failed rows of the same day with the same reason.
	merr := write(mctx, r.Pool, &e)
	for try := 1; merr != nil && postgres.IsConnectionLost(merr) && try < recordTries && mctx.Err() == nil; try++ {
		merr = write(mctx, r.Pool, &e)
	}
	if merr != nil {
		log.Error("could not record the failed day in archive_runs", "err", merr)
	}
	return res
}

func (r *Runner) entry(runID string, started time.Time, res DayResult, status string) manifest.Entry {
	day := res.Day.Start()
	e := manifest.Entry{
		RunID: runID, Kind: manifest.KindArchive, Status: status, Day: &day,
		SourceTable: r.Clean.String(), ObjectKey: res.Key, Location: r.Opts.Location,
		RowsDeleted: manifest.Int64(res.RowsDeleted), SHA256: res.SHA256, StartedAt: started,
		FormatVersion: manifest.Int64(archivefile.FormatVersion), KeyMode: r.keyMode(),
	}
	if res.SHA256 != "" {
		e.RowsReplaced = manifest.Int64(res.Replaced)
	}
	if res.SHA256 != "" {
		e.Readings, e.Sensors, e.Bytes = manifest.Int64(res.Readings), manifest.Int64(res.Sensors), manifest.Int64(res.Bytes)
	}
	return e
}

// store is the one path to the run's archive objects.
func (r *Runner) store() *archivestore.Store {
	return &archivestore.Store{Bucket: r.Bucket, Limits: r.Opts.Limits, ReadStallTimeout: r.Opts.ReadStallTimeout}
}

// midUpload fires the archive.mid-upload failpoint once the first bytes
// have gone to storage, so a crash test can kill an upload half done.
type midUpload struct {
	w     io.Writer
	fired bool
}

func (m *midUpload) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	if err == nil && !m.fired {
		m.fired = true
		err = failpoint.Inject("archive.mid-upload")
	}
	return n, err
}

// existingSource names the existing archive in the errors of reading it.
type existingSource struct {
	src measure.Source
	key string
}

func (s existingSource) Next() (*measure.Reading, error) {
	rd, err := s.src.Next()
	if err != nil && err != io.EOF {
		err = fmt.Errorf("existing archive %s in storage is unreadable: %w", s.key, err)
	}
	return rd, err
}

type emptySource struct{}

func (emptySource) Next() (*measure.Reading, error) { return nil, io.EOF }
