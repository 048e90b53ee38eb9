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
	"github.com/shizuku-labs/archiver/internal/postgres"
)

// archiveDay archives one day. Everything it does to the database happens in
// one REPEATABLE READ transaction: the rows it streams into the archive and
// the rows it deletes are the same snapshot, so a row inserted or changed by
// the application meanwhile is either in both or in neither (a concurrent
// update of a row we read makes the DELETE fail with a serialization error,
// and the day is retried by the next run).
//
// With ci, the day is checked in (see Checkin): its archive is written as
// exactly the day's rows instead of their union with the archive.
func (r *Runner) archiveDay(ctx context.Context, log *slog.Logger, runID string, d archivefile.Day, buf *postgres.DayBuffer, ci *checkin) DayResult {
	res := DayResult{Day: d, Key: archivefile.Key(r.Opts.Prefix, d)}
	log = log.With(logging.Context("day", d.String()), logging.Context("key", res.Key))
	started := time.Now().UTC()

	conn, err := r.Pool.Acquire(ctx)
	if err != nil {
		return r.fail(ctx, log, runID, started, res, fmt.Errorf("acquire connection: %w", err))
	}
	defer conn.Release()

	// I6: one run per day. A second run skips the day and says so; the
	// first run finishes it.
	unlock, ok, err := r.Clean.TryLockDay(ctx, conn, d)
	if err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}
	defer unlock()
	if !ok {
		res.Status = StatusLocked
		log.Warn("day is being archived by another run; skipped")
		return res
	}

	// Partition fast path (opt-in): partitions lying wholly inside the day
	// are locked before the transaction's snapshot is taken, so that they
	// can later be emptied with TRUNCATE instead of DELETE (see deleteDay).
	var parts []postgres.Partition
	if r.Opts.DropPartitions && !r.Opts.DryRun {
		if parts, err = r.Clean.DayPartitions(ctx, conn, d); err != nil {
			return r.fail(ctx, log, runID, started, res, err)
		}
	}
	tx, parts, err := r.begin(ctx, log, conn, d, parts)
	if err != nil {
		return r.fail(ctx, log, runID, started, res, fmt.Errorf("begin transaction: %w", err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // no-op after commit
	// A checked-out day's rows are being corrected: they are archived by
	// checkin, not merged into the archive by a daily run.
	co, err := r.Manifests.OpenCheckout(ctx, tx, r.Opts.Location, res.Key)
	if err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}
	switch {
	case ci == nil && co != nil:
		res.Status, res.Checkout = StatusCheckedOut, co.ID
		log.Warn(fmt.Sprintf("%s is checked out (restore manifest #%d, %s): left alone; `archiver checkin --day %s` archives it as the table holds it, `archiver checkin --day %s --abandon` ends the checkout",
			d, co.ID, co.FinishedAt.Format(time.RFC3339), d, d))
		return res
	case ci != nil && co == nil:
		return r.fail(ctx, log, runID, started, res, fmt.Errorf("%w: %s has no open checkout at %s (check a day out with `archiver restore --day %s --checkout`)", ErrNotCheckedOut, d, r.Opts.Location, d))
	case ci != nil:
		ci.co = co
		res.Checkout = co.ID
	}
	// The plan was made before we held the lock; another run may have
	// archived the day since. Nothing to do then (I4).
	n, err := r.Clean.CountDay(ctx, tx, d)
	if err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}
	if n == 0 && ci != nil {
		return r.fail(ctx, log, runID, started, res, fmt.Errorf("%w: %s has no rows of %s: checking in would write an empty archive. To end the checkout and keep the archive as it is, run `archiver checkin --day %s --abandon`",
			ErrCheckinRefused, r.Clean, d, d))
	}
	if n == 0 {
		res.Status = StatusNothing
		log.Debug("no rows left for the day")
		return res
	}
	res.RowsRead = n
	if err := failpoint.Inject("archive.after-read"); err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}

	prev, err := r.Manifests.LatestCommitted(ctx, tx, r.Opts.Location, res.Key)
	if err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}
	// Opening the day's object tells whether it exists and starts reading
	// it in one request, where Exists and then a read would take two.
	pre, err := r.store().OpenRaw(ctx, res.Key)
	exists := err == nil
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return r.fail(ctx, log, runID, started, res, fmt.Errorf("check for existing archive %s: %w", res.Key, err))
	}
	if exists {
		defer pre.Close() // once write has read it, or if it never does
	}
	if ci != nil && (prev == nil || prev.SHA256 != ci.co.SHA256) {
		now := "no committed archive"
		if prev != nil {
			now = fmt.Sprintf("manifest #%d (run %s, %s) with sha256 %s", prev.ID, prev.RunID, prev.FinishedAt.Format(time.RFC3339), prev.SHA256)
		}
		return r.fail(ctx, log, runID, started, res, fmt.Errorf("%w: the archive of %s changed since it was checked out (restore manifest #%d restored sha256 %s; the day's archive is now %s): checking in would drop what was archived meanwhile. Run `archiver checkin --day %s --abandon`, then check the day out again",
			ErrCheckinRefused, d, ci.co.ID, ci.co.SHA256, now, d))
	}
	src, err := r.source(ctx, res.Key, prev, exists)
	if err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}
	if exists && src.key == res.Key {
		src.opened = pre
	}

	if r.Opts.DryRun && ci != nil {
		return r.dryCheckin(ctx, log, tx, res, n, src, prev, buf, ci)
	}
	if r.Opts.DryRun {
		res.Status = StatusDryRun
		msg := fmt.Sprintf("Dry run: would archive %d rows of %s to %s", n, d, res.Key)
		if exists {
			msg += " (merged with the archive already there)"
		}
		log.Info(msg)
		return res
	}

	// Recorded just before the object is published, so that an object
	// left at the key by a run that never committed is known for what it
	// is (see source). A failure is written into this row; a commit
	// records its own row and removes this one.
	beforePublish := func(stats archivefile.Stats) error {
		p := res
		p.Bytes, p.SHA256, p.Readings, p.Sensors = stats.Bytes, stats.SHA256, stats.Readings, stats.Sensors
		e := r.entry(runID, started, p, manifest.StatusFailed)
		e.Error = "upload started; the run stopped before it committed (killed, crashed, or lost its database connection)"
		if err := r.Manifests.Insert(ctx, r.Pool, &e); err != nil {
			return err
		}
		res.pending = &e
		return nil
	}
	writeStart := time.Now()
	var sha string
	var stats archivefile.Stats
	var ms archivefile.KeyStats
	for {
		sha, stats, ms, err = r.write(ctx, tx, d, res.Key, n, exists, src, prev, buf, beforePublish, r.combine(ci))
		var u *uncommittedError
		if !errors.As(err, &u) || src.fallback {
			break
		}
		if src, err = r.fallback(ctx, log, res.Key, prev, u); err != nil {
			break
		}
	}
	res.Upload = time.Since(writeStart)
	res.Bytes, res.SHA256, res.Readings, res.Sensors = stats.Bytes, sha, stats.Readings, stats.Sensors
	res.NewReadings, res.PrevReadings = ms.FromA, ms.FromB+ms.Both
	res.Replaced = ms.Replaced
	if ms.Replaced > 0 && err == nil {
		log.Info(fmt.Sprintf("%d archived readings of %s replaced by the table's newer reading with the same key (%s)", ms.Replaced, d, r.Key),
			"replaced", ms.Replaced, "first_keys", strings.Join(ms.ReplacedKeys, "; "))
	}
	if err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}

	if err := failpoint.Inject("archive.after-upload"); err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}

	// I1: read the object back from storage and check it before deleting
	// anything it is meant to contain.
	if err := r.store().ReadBack(ctx, res.Key, archivestore.Expect{Day: d, SHA256: sha, Readings: stats.Readings}); err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}
	if err := failpoint.Inject("archive.after-verify"); err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}

	// The DELETE is what writes the day's WAL: not while a replica lags.
	if err := r.checkLag(); err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}
	deleted, err := r.deleteDay(ctx, log, tx, d, parts)
	if err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}
	if deleted != res.RowsRead {
		return r.fail(ctx, log, runID, started, res, fmt.Errorf(
			"would delete %d rows but archived %d: the day changed under the run; rolled back, nothing deleted", deleted, res.RowsRead))
	}
	res.RowsDeleted = deleted
	if err := failpoint.Inject("archive.after-delete"); err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}

	e := r.entry(runID, started, res, manifest.StatusCommitted)
	e.MinTime, e.MaxTime = &stats.MinTime, &stats.MaxTime
	if ci != nil {
		e.Checkout, e.CheckoutID = manifest.CheckoutCheckin, &ci.co.ID
	}
	if err := r.Manifests.Insert(ctx, tx, &e); err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}
	if ci != nil {
		if err := r.Manifests.EndCheckout(ctx, tx, ci.co.ID, manifest.CheckoutCheckedIn); err != nil {
			return r.fail(ctx, log, runID, started, res, err)
		}
	}
	if err := failpoint.Inject("archive.before-commit"); err != nil {
		return r.fail(ctx, log, runID, started, res, err)
	}
	if err := tx.Commit(ctx); err != nil {
		res.RowsDeleted = 0
		return r.fail(ctx, log, runID, started, res, fmt.Errorf("commit delete and manifest: %w", err))
	}
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
	if src.backup && src.key != "" || src.key == backupKey(res.Key) {
		if err := r.Bucket.Delete(context.WithoutCancel(ctx), backupKey(res.Key)); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			log.Warn("could not delete the backup of the replaced archive; it is harmless, and the next run that replaces the day's archive replaces it", "backup", backupKey(res.Key), "err", err)
		}
	}
	if ci != nil {
		res.Status = StatusCheckedIn
		log.Info(fmt.Sprintf("Checked in %s: %s holds exactly the %d readings of the table (kept %d, added %d, changed %d, removed %d); checkout #%d ended",
			d, res.Key, res.Readings, ci.diff.Kept, ci.diff.Added, ci.diff.Changed, ci.diff.Removed, ci.co.ID),
			"sha256", res.SHA256, "deleted", res.RowsDeleted)
		return res
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
	return res
}

// begin opens the day's REPEATABLE READ transaction. With partitions to
// empty, their SHARE locks are its first statement (before any snapshot:
// see postgres.LockPartitions); if they cannot be had in time, the
// transaction is opened again without them, and the day is deleted row by
// row as usual. It returns the partitions it holds.
func (r *Runner) begin(ctx context.Context, log *slog.Logger, conn *pgxpool.Conn, d archivefile.Day, parts []postgres.Partition) (pgx.Tx, []postgres.Partition, error) {
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
func (r *Runner) deleteDay(ctx context.Context, log *slog.Logger, tx pgx.Tx, d archivefile.Day, parts []postgres.Partition) (int64, error) {
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

// write streams the union of the day's rows and the existing archive (if
// any) into a new object at key, and returns the checksum and counts of what
// it wrote. The union is a superset of the existing object, so replacing it
// keeps I2; if anything fails the writer's context is cancelled before Close,
// so no partial object is ever published.
func (r *Runner) write(ctx context.Context, tx pgx.Tx, d archivefile.Day, key string, want int64, exists bool, src oldSource, prev *manifest.Entry, buf *postgres.DayBuffer, beforePublish func(archivefile.Stats) error,
	combine func(rows, old archivefile.Source, emit func(*archivefile.Reading) error) (archivefile.KeyStats, error)) (string, archivefile.Stats, archivefile.KeyStats, error) {
	var stats archivefile.Stats
	var ms archivefile.KeyStats

	rows, old, oldReader, closeInputs, err := r.inputs(ctx, tx, d, want, src, prev, buf)
	if err != nil {
		return "", stats, ms, err
	}
	defer closeInputs()

	// What the merge or the checks refuse says which archive it was
	// writing; an uncommitted upload is a verdict for archiveDay, as it is.
	wrap := func(err error) error {
		var u *uncommittedError
		if err == nil || errors.As(err, &u) {
			return err
		}
		return fmt.Errorf("write archive %s: %w", key, err)
	}
	stats, err = r.store().Write(ctx, key, archivestore.WriteOptions{
		Day: d, Level: r.Opts.GzipLevel, Schema: r.Clean.Schema(),
		// A new day's key must still be free when the upload lands: if some
		// other writer created it meanwhile, fail rather than overwrite.
		IfNotExist: !exists,
		Tap:        func(w io.Writer) io.Writer { return &midUpload{w: w} },
		BeforePublish: func(st archivefile.Stats) error {
			return wrap(r.prePublish(ctx, d, key, want, src, prev, rows, oldReader, beforePublish, st))
		},
	}, func(aw *archivefile.Writer) error {
		var err error
		if ms, err = combine(rows, old, aw.Write); err != nil {
			return wrap(err)
		}
		if oldReader != nil {
			// No rewrite drops data: what the existing archive holds beyond
			// this format (another tool's members) is carried over, or the
			// day is refused.
			return wrap(archivefile.CarryOver(aw, oldReader, src.key))
		}
		return nil
	})
	if err != nil {
		return "", archivefile.Stats{}, ms, err
	}
	return stats.SHA256, stats, ms, nil
}

// prePublish runs once the new archive is complete, before it replaces
// what is at key.
func (r *Runner) prePublish(ctx context.Context, d archivefile.Day, key string, want int64, src oldSource, prev *manifest.Entry, rows *postgres.DayRows, oldReader *archivefile.Reader, beforePublish func(archivefile.Stats) error, st archivefile.Stats) error {
	if oldReader != nil {
		if err := checkExisting(d, key, oldReader, prev, src); err != nil {
			return err
		}
	}
	// Same snapshot, same predicate: the stream must have returned exactly
	// the rows counted under the lock, or the DELETE check below means nothing.
	if rows.Count() != want {
		return fmt.Errorf("streamed %d rows of %s but counted %d in the same snapshot", rows.Count(), d, want)
	}
	if src.backup && oldReader != nil {
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
	if err := beforePublish(st); err != nil {
		return err
	}
	return failpoint.Inject("archive.before-publish")
}

// merge is the union of the day's rows and the archived readings: by
// whole reading, or, when the table has a reading key (Runner.Key), by key,
// the table's reading replacing the archived one with its key.
func (r *Runner) merge(rows, old archivefile.Source, emit func(*archivefile.Reading) error) (archivefile.KeyStats, error) {
	// Values are compared in the value column's type: 5.2 and an older
	// archive's 5.199999809265137 are one real.
	schema := r.Clean.Schema()
	if r.Key != "" {
		return schema.MergeByKey(rows, old, emit)
	}
	ms, err := schema.Merge(rows, old, emit)
	return archivefile.KeyStats{MergeStats: ms}, err
}

// inputs opens what a day's archive is written from: the day's rows, in
// canonical order, and the readings already archived (src), with the
// reader of the existing object, whose checksum checkExisting checks once
// it has been read. closeAll releases them.
func (r *Runner) inputs(ctx context.Context, tx pgx.Tx, d archivefile.Day, want int64, src oldSource, prev *manifest.Entry, buf *postgres.DayBuffer) (rows *postgres.DayRows, old archivefile.Source, oldReader *archivefile.Reader, closeAll func(), err error) {
	// A day of ordinary size is read in time-index order and sorted in
	// memory, which costs PostgreSQL far less than sorting it; a huge day
	// is sorted by PostgreSQL and streamed, in constant memory.
	if want <= postgres.MaxInMemoryDay {
		rows, err = r.Clean.ReadDay(ctx, tx, d, buf, want)
	} else {
		rows, err = r.Clean.StreamDay(ctx, tx, d)
	}
	if err != nil {
		return nil, nil, nil, nil, err
	}
	closers := []func(){rows.Close}
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}

	old = emptySource{}
	if src.key != "" {
		or, err := src.opened, error(nil)
		if or == nil {
			or, err = r.store().OpenRaw(ctx, src.key)
		}
		if err != nil {
			closeAll()
			return nil, nil, nil, nil, fmt.Errorf("open existing archive %s: %w", src.key, err)
		}
		obj, err := r.store().Decode(or)
		if err != nil {
			closeAll()
			return nil, nil, nil, nil, fmt.Errorf("existing archive %s: %w", src.key, err)
		}
		closers = append(closers, func() { obj.Close() })
		oldReader = obj.Reader
		old = oldReader
		if schema := r.Clean.Schema(); prev == nil || src.wantSHA == "" || schema != (archivefile.Schema{}) {
			// Not written under a manifest of ours: the original service's
			// archive (sensors in first-seen order) or a crashed run's. One
			// day is held in memory to sort it; our own archives stream.
			// So is an archive of a table whose values are not double
			// precision: older versions ordered its values as float8.
			old, err = schema.SortedSource(oldReader, r.Opts.Limits.MaxReadings)
			if err != nil {
				closeAll()
				return nil, nil, nil, nil, fmt.Errorf("existing archive %s: %w", src.key, err)
			}
		}
		// Say which input failed: "merge: source B" would not tell an
		// operator that the archive in storage is unreadable.
		old = existingSource{src: old, key: src.key}
	}

	return rows, old, oldReader, closeAll, nil
}

// backupKey is where the archived readings of key are kept while a run
// replaces the object at key: from just before the new object is published
// until the run commits.
func backupKey(key string) string { return archivefile.BackupKey(key) }

// oldSource says where write finds the readings already archived for a day.
type oldSource struct {
	key      string          // object to merge with; "" for none
	wantSHA  string          // if set, the object must have this checksum (its committed manifest's)
	ours     map[string]bool // checksums of our uploads that were never committed
	backup   bool            // the object is at the day's key: copy it to the backup key before replacing it
	trust    bool            // accept a superset of the committed archive (see fallback)
	fallback bool            // chosen by fallback: no second fallback
	// opened is key, already open for reading (archiveDay opens the day's
	// object to learn whether it exists); nil means write opens key.
	opened io.ReadCloser
}

// uncommittedError: the object at the day's key is an upload of a run that
// never committed, not the day's archive.
type uncommittedError struct {
	key, sha string
}

func (e *uncommittedError) Error() string {
	return fmt.Sprintf("%s (sha256 %s) was uploaded by a run that never committed it", e.key, e.sha)
}

// source decides where the day's archived readings are. Normally the
// object at the key; whether it really is the archive (and not an upload
// of a run that stopped before committing) is known only once it has been
// read, by its checksum: write then returns an uncommittedError and
// fallback picks the backup. When a committed archive's object is missing
// from the key, its backup may still hold it.
func (r *Runner) source(ctx context.Context, key string, prev *manifest.Entry, exists bool) (oldSource, error) {
	switch {
	case exists:
		ours, err := r.Manifests.FailedUploads(ctx, r.Pool, r.Opts.Location, key)
		if err != nil {
			return oldSource{}, err
		}
		s := oldSource{key: key, ours: ours, backup: true}
		if prev != nil {
			s.wantSHA = prev.SHA256
		}
		return s, nil
	case prev != nil:
		ok, err := r.Bucket.Exists(ctx, backupKey(key))
		if err != nil {
			return oldSource{}, fmt.Errorf("check for the backup of %s: %w", key, err)
		}
		if !ok {
			// Writing a new object with only the rows still in the database
			// would hide that the readings of the earlier archive are gone.
			return oldSource{}, fmt.Errorf(
				"archive %s recorded by manifest #%d (run %s, %d readings) is missing from storage; refusing to write over lost data: restore the object or investigate with `archiver verify`",
				key, prev.ID, prev.RunID, manifest.Count(prev.Readings))
		}
		return oldSource{key: backupKey(key), wantSHA: prev.SHA256, fallback: true}, nil
	}
	return oldSource{}, nil
}

// fallback picks the day's archived readings when the object at the key
// turned out to be an upload that was never committed. Its readings beyond
// the archive's came from the database as it was then; the rows still
// there are read again, and the ones the application changed or deleted
// since must not come back.
func (r *Runner) fallback(ctx context.Context, log *slog.Logger, key string, prev *manifest.Entry, u *uncommittedError) (oldSource, error) {
	bk := backupKey(key)
	ok, err := r.Bucket.Exists(ctx, bk)
	if err != nil {
		return oldSource{}, fmt.Errorf("check for the backup of %s: %w", key, err)
	}
	switch {
	case ok:
		log.Warn("the object at the key was uploaded by a run that never committed it; merging with its backup instead", "sha256", u.sha, "backup", bk)
		s := oldSource{key: bk, fallback: true}
		if prev != nil {
			s.wantSHA = prev.SHA256
		}
		return s, nil
	case prev == nil:
		log.Warn("the object at the key was uploaded by a run that never committed it, and the day has no archive yet; replacing it with the day's rows", "sha256", u.sha)
		return oldSource{fallback: true}, nil
	}
	// Left by an archiver that kept no backups: as it assumed, a superset
	// of the committed archive is taken to be a crashed run's upload.
	log.Warn("the object at the key does not match its manifest and has no backup; merging with it as long as it holds at least the archived readings",
		"sha256", u.sha, "manifest", prev.ID)
	return oldSource{key: key, wantSHA: prev.SHA256, backup: true, trust: true, fallback: true}, nil
}

// checkExisting makes sure the object merged with holds the day's archived
// readings: the committed archive itself (its checksum), not an upload that
// was never committed, and not something changed outside the archiver.
func checkExisting(d archivefile.Day, key string, old *archivefile.Reader, prev *manifest.Entry, src oldSource) error {
	if !old.Day().IsZero() && old.Day() != d {
		return fmt.Errorf("existing archive %s is for day %s, not %s", src.key, old.Day(), d)
	}
	got := old.Stats()
	switch {
	case src.wantSHA == "":
		if src.key == key && src.ours[got.SHA256] {
			return &uncommittedError{key: key, sha: got.SHA256}
		}
		return nil
	case got.SHA256 == src.wantSHA:
		return nil
	case src.trust && got.Readings >= manifest.Count(prev.Readings):
		return nil
	case src.key == key && !src.trust && !src.fallback:
		return &uncommittedError{key: key, sha: got.SHA256}
	case src.key != key:
		return fmt.Errorf("backup %s holds sha256 %s but manifest #%d of %s recorded %s: neither it nor %s is the archived day; refusing to replace it (investigate with `archiver verify --deep`)",
			src.key, got.SHA256, prev.ID, key, prev.SHA256, key)
	}
	// Fewer readings than the manifest means someone replaced or truncated it.
	return fmt.Errorf("existing archive %s holds %d readings but its manifest #%d recorded %d: it was changed outside the archiver; refusing to replace it (investigate with `archiver verify --deep`)",
		key, got.Readings, prev.ID, manifest.Count(prev.Readings))
}

// fail records a failed day. Nothing of the day was deleted: the
// transaction is rolled back by archiveDay's deferred Rollback.
func (r *Runner) fail(ctx context.Context, log *slog.Logger, runID string, started time.Time, res DayResult, err error) DayResult {
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
	if merr := write(mctx, r.Pool, &e); merr != nil {
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
	src archivefile.Source
	key string
}

func (s existingSource) Next() (*archivefile.Reading, error) {
	rd, err := s.src.Next()
	if err != nil && err != io.EOF {
		err = fmt.Errorf("existing archive %s in storage is unreadable: %w", s.key, err)
	}
	return rd, err
}

type emptySource struct{}

func (emptySource) Next() (*archivefile.Reading, error) { return nil, io.EOF }
