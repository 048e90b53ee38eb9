// Package archive runs one archive job: purge old raw rows, then for every
// UTC day of clean rows older than the retention, write the day's archive
// (merged with any archive already in storage), read it back, verify it, and
// only then delete the rows and record the manifest, in one transaction.
//
// The order of those steps is the product's safety promise (docs/DESIGN.md
// I1-I7); each is commented where it happens.
package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"gocloud.dev/blob"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/failpoint"
	"github.com/shizuku-labs/archiver/internal/logging"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/postgres"
	"github.com/shizuku-labs/archiver/internal/workpool"
)

// Options tune one run.
type Options struct {
	RawRetentionDays   int
	CleanRetentionDays int
	BatchSize          int // raw rows per purge transaction
	Concurrency        int // days in parallel
	GzipLevel          int
	DryRun             bool
	// DropPartitions is the partition fast path: a partition of the clean
	// table lying wholly inside a day is emptied with TRUNCATE in the
	// day's transaction instead of DELETE, and partitions that are empty
	// and lie wholly inside archived days are detached and dropped after
	// the days.
	DropPartitions bool
	Prefix         string // object key prefix
	Location       string // bucket URL without credentials, recorded in manifests
	// ObjectURL, if set, gives the URL by which a key can be fetched (a
	// public store's blob URL, say), for the log line of an archived day;
	// "" means the store has none to tell.
	ObjectURL func(key string) string
	Limits    archivefile.Limits // for reading existing archives back
	// ReadStallTimeout abandons a storage read call that makes no progress
	// for this long; 0 means archivestore.DefaultReadStallTimeout.
	ReadStallTimeout time.Duration
	// MaxClockSkew is how far the database's and the host's clocks may
	// disagree; 0 means DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// RawRequireClean holds back the raw purge: raw rows newer than the
	// newest clean reading (per sensor with RawSensorColumn, when the clean
	// table has an index on (sensor, time)) are kept.
	RawRequireClean bool
	RawSensorColumn string // raw table's sensor column; "" holds table-wide
	// MaxRowsPerSecond paces the rows the run removes (raw purged plus
	// clean archived and deleted); 0 means no limit. See rateLimiter.
	MaxRowsPerSecond int
	// MaxReplicaLag pauses the run, before each day and between purge
	// batches, while a replica is further behind than this (see
	// lagMonitor); 0 means no limit. Replicas names the WAL consumers
	// counted beyond physical standbys and slots (comma-separated
	// application or slot names).
	MaxReplicaLag time.Duration
	Replicas      string
	// ShardIndex of ShardCount: with ShardCount > 1 the run archives only
	// the days whose number (days since 1970-01-01 UTC) mod ShardCount is
	// ShardIndex, and only shard 0 purges raw rows. The days' advisory
	// locks stay the safety net against overlapping workers.
	ShardIndex, ShardCount int
	// MaxRuntime is the run-time budget: once the run has lasted this
	// long no new day starts (the days in progress finish) and the rest
	// are left pending for the next run. 0 means no budget.
	MaxRuntime time.Duration
	// LockTimeout bounds every wait for a lock on the measurement tables
	// that this package sets itself (the partition fast path's LOCK and
	// DETACH); the pool's sessions carry the same lock_timeout for every
	// other statement. 0 means DefaultLockTimeout.
	LockTimeout time.Duration
	// InMemoryDay is the most rows of a day sorted in the archiver's
	// memory; a larger day is sorted by PostgreSQL and streamed. 0 means
	// postgres.MaxInMemoryDay (tests lower it to take the streaming path).
	InMemoryDay int
}

// Observer is told about progress as it happens, for metrics and the
// progress display. Calls may come from several goroutines.
type Observer interface {
	Planned(days int)
	Purged(rows int64)
	DayDone(r DayResult)
}

// Runner holds what a run needs. Build one per run.
type Runner struct {
	Pool      *pgxpool.Pool
	Bucket    *blob.Bucket
	Raw       postgres.RawTable
	Clean     postgres.CleanTable
	Manifests *manifest.Store
	Schema    string // manifest schema, checked for migrations
	Log       *slog.Logger
	Observer  Observer // optional
	Clock     Clock    // the throttles' time source; nil is the real clock
	Opts      Options

	// Key is the clean table's reading key (see postgres.ReadingKey),
	// found by Run; "" when the table has none.
	Key string

	started    time.Time // by Clock, for the run-time budget
	budgetOnce sync.Once
	limiter    *rateLimiter // Options.MaxRowsPerSecond; nil when off
	lag        *lagMonitor  // Options.MaxReplicaLag; nil when off
}

// keyMode is what manifests record of the reading identity an archive was
// merged by.
func (r *Runner) keyMode() string {
	if r.Key != "" {
		return manifest.KeySensorTime
	}
	return manifest.KeyNone
}

// Status of one day in a run.
type Status string

const (
	StatusArchived Status = "archived" // archive written, verified, rows deleted
	StatusFailed   Status = "failed"   // nothing deleted; see Err
	StatusLocked   Status = "locked"   // another run holds the day; skipped
	StatusNothing  Status = "nothing"  // no rows left for the day when we got to it
	StatusDryRun   Status = "dry-run"  // would have been archived
	// StatusCheckedOut: the day is checked out (restore --checkout); left
	// alone until checkin.
	StatusCheckedOut Status = "checked-out"
	// StatusCheckedIn: Checkin wrote the day's archive as its rows.
	StatusCheckedIn Status = "checked-in"
	// StatusAbandoned: Checkin ended the checkout, archive unchanged.
	StatusAbandoned Status = "abandoned"
	// StatusPending: skipped for this run by a throttle (a lock it could
	// not get in time, the run-time budget); nothing deleted, retried by
	// the next run, and not a failure. See Reason.
	StatusPending Status = "pending"
)

// DayResult is what happened to one day.
type DayResult struct {
	Day          measure.Day
	Status       Status
	Key          string
	RowsRead     int64 // rows of the day read from the database
	RowsDeleted  int64
	Readings     int64 // readings in the archive object written
	NewReadings  int64 // readings that were not yet in storage
	PrevReadings int64 // readings of the existing object merged in
	Replaced     int64 // archived readings replaced by the table's reading with their key
	Checkout     int64 // checked-out day: the restore manifest row of the checkout
	Sensors      int64
	Bytes        int64
	SHA256       string
	Upload       time.Duration // writing the object: encoding and upload overlap, so this is both
	Err          error
	Reason       string // StatusPending: why the day was left for the next run

	// pending is the manifest row recorded just before the object was
	// published (status failed, the object's checksum).
	pending *manifest.Entry
}

// Summary is the outcome of a run.
type Summary struct {
	RunID        string
	Started      time.Time
	Finished     time.Time
	DryRun       bool
	RawCutoff    time.Time
	CleanEnd     measure.Day // days before this one were due
	RawPurged    int64       // in a dry run: rows that would be purged
	PurgeErr     error
	PurgePending string // why the purge stopped early without failing (a lock timeout); "" if it finished
	// ReplicaLagPaused is the time the run spent paused for replica lag.
	ReplicaLagPaused time.Duration
	// The raw purge's hold (Options.RawRequireClean): RawHeld is how far
	// past the raw cutoff the oldest raw row it kept is (0: none kept),
	// RawHeldAll that it kept every row (the clean table has no reading).
	RawHeld          time.Duration
	RawHeldAll       bool
	RawHoldPerSensor bool
	CleanNewest      time.Time // newest finite clean reading, when the hold looked
	Days             []DayResult
	RowsArchived     int64 // database rows moved into archives
	RowsDeleted      int64
	Replaced         int64         // archived readings replaced by the table's newer reading with their key
	CheckedOut       []measure.Day // days left alone because they are checked out
	ArchivesWritten  int
	BytesWritten     int64
	Failed           int
	Locked           int
	Pending          int // days due but left for the next run (StatusPending)
	// NonFinite counts the clean rows whose time is -infinity or
	// infinity: they belong to no day and are left alone.
	NonFinite int64
	// PartitionsDropped counts the partitions detached and dropped
	// (Options.DropPartitions); PartitionsDeferred those left for the next
	// run because the application held locks on the table; PartitionErrs
	// the partitions that could not be dropped for any other reason (a
	// missing privilege, say), which fail the run with ErrPartitionsFailed.
	PartitionsDropped  int
	PartitionsDeferred int
	PartitionErrs      []error
}

// ErrDaysFailed is returned (wrapped) when a run finished but some days
// failed; their rows are still in the database and the next run retries them.
var ErrDaysFailed = errors.New("some days failed")

// ErrPartitionsFailed is returned (wrapped) when every day was archived but
// partitions of archived days could not be dropped (Options.DropPartitions)
// for a reason other than the application's locks. No row is at risk: the
// partitions are empty and stay attached until a run can drop them.
var ErrPartitionsFailed = errors.New("partitions could not be dropped")

// Run performs the job. It returns a summary even on error. Failing days do
// not stop the run; a failed purge or a failed precondition (tables,
// migrations) does.
func (r *Runner) Run(ctx context.Context) (s Summary, err error) {
	s = Summary{RunID: manifest.NewRunID(), Started: time.Now().UTC(), DryRun: r.Opts.DryRun}
	log := r.Log.With(logging.Context("run_id", s.RunID))
	r.started = r.clock().Now()
	if r.Opts.MaxRowsPerSecond > 0 {
		r.limiter = newRateLimiter(r.clock(), r.Opts.MaxRowsPerSecond)
	}
	if r.Opts.MaxReplicaLag > 0 {
		// First, so that a role that cannot see the replicas is refused
		// before anything changes.
		m, err := startLagMonitor(ctx, r.Pool, log, r.Opts.MaxReplicaLag, replicaNames(r.Opts.Replicas))
		if err != nil {
			return s, err
		}
		r.lag = m
		defer func() { s.ReplicaLagPaused = m.Stop() }()
	} else if names := replicaNames(r.Opts.Replicas); len(names) > 0 {
		log.Warn("archive.replicas names WAL consumers to wait for, but archive.max_replica_lag is not set, so the run waits for no replica; "+
			"set archive.max_replica_lag (ARCHIVER_MAX_REPLICA_LAG, --max-replica-lag), or unset archive.replicas", "replicas", strings.Join(names, ","))
	}
	defer func() { s.Finished = time.Now().UTC() }()

	if err := r.preflight(ctx, log); err != nil {
		return s, err
	}
	if err := r.cutoffs(ctx, &s); err != nil {
		return s, err
	}
	if err := r.rawStep(ctx, log, &s); err != nil {
		return s, err
	}
	days, err := r.dueDays(ctx, log, &s)
	if err != nil {
		return s, err
	}
	s.Days = r.processDays(ctx, log, s.RunID, days)
	s.tally()
	if err := ctx.Err(); err != nil {
		return s, fmt.Errorf("run interrupted: %w", err)
	}
	if r.Opts.DropPartitions && !r.Opts.DryRun {
		r.dropPartitions(ctx, log, &s)
	}
	return s, s.outcome()
}

// preflight checks everything that can refuse the run before anything
// changes: the schema, the tables and the privileges, whose archives these
// are, and the clean table's reading key.
func (r *Runner) preflight(ctx context.Context, log *slog.Logger) error {
	if err := manifest.CheckMigrated(ctx, r.Pool, r.Schema); err != nil {
		return err
	}
	if !r.Raw.Disabled() {
		if err := r.Raw.Check(ctx, r.Pool); err != nil {
			return err
		}
	}
	if err := r.Clean.Check(ctx, r.Pool); err != nil {
		return err
	}
	// Before anything is uploaded or purged: a role that may not delete
	// from the clean table would otherwise upload every day and fail at
	// the DELETE, every run.
	if err := r.Clean.CheckPrivileges(ctx, r.Pool, postgres.TablePrivileges("archive", postgres.OnCleanTable)...); err != nil {
		return err
	}
	if err := r.checkOwnArchives(ctx); err != nil {
		return err
	}
	var err error
	if r.Key, err = r.Clean.ReadingKey(ctx, r.Pool); err != nil {
		return err
	}
	if r.Key != "" {
		log.Info(fmt.Sprintf("%s has a key on (%s, %s), %s: a reading in the table replaces the archived reading with the same key", r.Clean, r.Clean.Sensor, r.Clean.Time, r.Key))
	}
	return nil
}

// cutoffs sets the run's raw cutoff and first day not due from the
// database's clock, the clock the readings were stamped with: a host clock
// running ahead cannot make us archive early.
func (r *Runner) cutoffs(ctx context.Context, s *Summary) error {
	hostBefore := time.Now()
	now, err := postgres.Now(ctx, r.Pool)
	if err != nil {
		return err
	}
	// A cutoff computed from one clock is always before that clock's now;
	// only a second clock tells whether the first runs ahead (see
	// DefaultMaxClockSkew). The host's is read around the query.
	hostNow := hostBefore.Add(time.Since(hostBefore) / 2)
	if err := checkClocks(now, hostNow, r.Opts.MaxClockSkew); err != nil {
		return err
	}
	s.RawCutoff = now.Add(-time.Duration(r.Opts.RawRetentionDays) * 24 * time.Hour)
	s.CleanEnd = measure.DayOf(now.Add(-time.Duration(r.Opts.CleanRetentionDays) * 24 * time.Hour))
	return nil
}

// rawStep is step 1, the raw purge, where this run does it.
func (r *Runner) rawStep(ctx context.Context, log *slog.Logger, s *Summary) error {
	switch {
	case r.Raw.Disabled():
		log.Info("Step 1: Raw purge switched off (raw.table is empty)")
	case !r.purges():
		log.Info("Step 1: Deleting old raw measurements...", "table", r.Raw.String(), "older_than", s.RawCutoff.Format(time.RFC3339))
		log.Info(fmt.Sprintf("Shard %d/%d: the raw purge is shard 0's", r.Opts.ShardIndex, r.Opts.ShardCount))
	default:
		if err := r.purge(ctx, log, s); err != nil {
			s.PurgeErr = err
			if ctx.Err() != nil {
				err = fmt.Errorf("run interrupted during the raw purge (batches already deleted stay deleted; the next run purges the rest): %w", err)
			}
			return err
		}
	}
	return nil
}

// dueDays starts step 2: the days this run archives (this shard's, when
// sharded), with a warning for rows that belong to no day.
func (r *Runner) dueDays(ctx context.Context, log *slog.Logger, s *Summary) ([]measure.Day, error) {
	log.Info("Step 2: Archiving old clean measurements...", "table", r.Clean.String(), "before", s.CleanEnd.String())
	minusInf, plusInf, err := r.Clean.NonFinite(ctx, r.Pool)
	if err != nil {
		return nil, err
	}
	if s.NonFinite = minusInf + plusInf; s.NonFinite > 0 {
		log.Warn(fmt.Sprintf("%d rows of %s have an infinite time and belong to no day: they are left in the table, not archived; "+
			"give them a real time (UPDATE) or delete them", s.NonFinite, r.Clean),
			"table", r.Clean.String(), "minus_infinity", minusInf, "plus_infinity", plusInf)
	}
	days, err := r.Clean.Days(ctx, r.Pool, s.CleanEnd)
	if err != nil {
		return nil, err
	}
	if r.Opts.ShardCount > 1 {
		all := len(days)
		days = r.shardDays(days)
		log.Info(fmt.Sprintf("Shard %d/%d: %d of the %d due days are this worker's", r.Opts.ShardIndex, r.Opts.ShardCount, len(days), all))
	}
	if r.Observer != nil {
		r.Observer.Planned(len(days))
	}
	if len(days) == 0 {
		log.Info("No clean measurements to archive", "before", s.CleanEnd.String())
	} else {
		log.Info(fmt.Sprintf("Archiving measurements from %s to %s", days[0], days[len(days)-1]), "days", len(days))
	}
	return days, nil
}

// tally adds the days' results up.
func (s *Summary) tally() {
	for _, d := range s.Days {
		switch d.Status {
		case StatusArchived:
			s.RowsArchived += d.RowsRead
			s.Replaced += d.Replaced
			s.RowsDeleted += d.RowsDeleted
			s.ArchivesWritten++
			s.BytesWritten += d.Bytes
		case StatusFailed:
			s.Failed++
		case StatusLocked:
			s.Locked++
		case StatusCheckedOut:
			s.CheckedOut = append(s.CheckedOut, d.Day)
		case StatusPending:
			s.Pending++
		}
	}
}

// outcome is the run's error once its days are done: failed days and
// partitions left attached, nil when there are neither.
func (s *Summary) outcome() error {
	var errs []error
	if s.Failed > 0 {
		errs = append(errs, fmt.Errorf("%w: %d of %d days failed; their rows are still in the database and the next run retries them",
			ErrDaysFailed, s.Failed, len(s.Days)))
	}
	if len(s.PartitionErrs) > 0 {
		errs = append(errs, fmt.Errorf("%w: %d empty partitions of archived days stay attached (first: %w); the next run tries again",
			ErrPartitionsFailed, len(s.PartitionErrs), s.PartitionErrs[0]))
	}
	return errors.Join(errs...)
}

func (r *Runner) purge(ctx context.Context, log *slog.Logger, s *Summary) error {
	log.Info("Step 1: Deleting old raw measurements...", "table", r.Raw.String(), "older_than", s.RawCutoff.Format(time.RFC3339))
	hold, all, err := r.rawHold(ctx, log, s)
	if err != nil {
		return err
	}
	if all {
		if !r.Opts.DryRun {
			r.reportHeld(ctx, log, s)
		}
		return nil
	}
	if hold != nil {
		defer func() {
			if !r.Opts.DryRun {
				r.reportHeld(ctx, log, s)
			}
		}()
	}
	if r.Opts.DryRun {
		n, err := r.Raw.CountRawHeld(ctx, r.Pool, s.RawCutoff, hold)
		if err != nil {
			return err
		}
		s.RawPurged = n
		log.Info(fmt.Sprintf("Dry run: would delete %d raw measurements older than %s", n, s.RawCutoff.Format(time.RFC3339)))
		return nil
	}
	started := time.Now().UTC()
	var purged int64
	n, err := r.Raw.PurgeRawHeld(ctx, r.Pool, s.RawCutoff, hold, r.limiter.batch(r.Opts.BatchSize), func(total int64) error {
		if r.Observer != nil {
			r.Observer.Purged(total)
		}
		if err := failpoint.Inject("purge.after-batch"); err != nil {
			return err
		}
		if err := r.limiter.took(ctx, total-purged); err != nil {
			return err
		}
		purged = total
		if reason := r.waitForReplicas(ctx); reason != "" {
			return errBudget // the pause used up the budget
		}
		if r.overBudget() {
			return errBudget
		}
		return nil
	})
	s.RawPurged = n
	e := manifest.Entry{
		RunID: s.RunID, Kind: manifest.KindPurge, Status: manifest.StatusCommitted, SourceTable: r.Raw.String(),
		RowsDeleted: manifest.Int64(n), MaxTime: &s.RawCutoff, StartedAt: started,
	}
	if reason := pendingReason(ctx, err); reason != "" {
		// The batches deleted are committed; the rest is the next run's.
		e.Error = "stopped early, the next run purges the rest: " + reason + ": " + err.Error()
	} else if err != nil {
		e.Status, e.Error = manifest.StatusFailed, err.Error()
	}
	if merr := r.Manifests.Insert(context.WithoutCancel(ctx), r.Pool, &e); merr != nil {
		err = errors.Join(err, merr)
	}
	if err != nil {
		if reason := pendingReason(ctx, err); reason != "" {
			// Like a day that cannot get its locks: left for the next run.
			s.PurgePending = reason
			log.Warn("raw purge stopped early: "+reason+"; batches already committed stay deleted, the next run purges the rest",
				"table", r.Raw.String(), "deleted", n, "err", err)
			return nil
		}
		log.Error("raw purge failed; batches already committed stay deleted", "table", r.Raw.String(), "deleted", n, "err", err)
		return err
	}
	log.Info(fmt.Sprintf("Deleted %d raw measurements older than %s", n, s.RawCutoff.Format(time.RFC3339)), "table", r.Raw.String())
	return nil
}

// processDays runs the days through Concurrency workers and returns their
// results in day order.
func (r *Runner) processDays(ctx context.Context, log *slog.Logger, runID string, days []measure.Day) []DayResult {
	// Cancelled: days not started keep their rows and are not reported.
	return workpool.Each(ctx, r.Opts.Concurrency, len(days), func() func(int) DayResult {
		buf := postgres.DayBuffer{Limit: r.Opts.InMemoryDay} // this worker's days, one after the other
		return func(i int) DayResult {
			// The throttles are checked before the day starts: no
			// transaction is open and no lock held while they wait.
			if reason := r.beforeDay(ctx, log); reason != "" {
				return DayResult{Day: days[i], Key: archivestore.Key(r.Opts.Prefix, days[i]), Status: StatusPending, Reason: reason}
			}
			res := r.archiveDay(ctx, log, runID, days[i], &buf, nil)
			// Rolled back because the replica lag crossed the limit
			// during the day: retried once the replicas catch up.
			for try := 1; res.Status == StatusPending && res.Reason == reasonLag && try <= lagRetries; try++ {
				if reason := r.beforeDay(ctx, log); reason != "" || ctx.Err() != nil {
					if reason != "" {
						res.Reason = reason
					}
					break
				}
				res = r.archiveDay(ctx, log, runID, days[i], &buf, nil)
			}
			if r.Observer != nil {
				r.Observer.DayDone(res)
			}
			return res
		}
	})
}

// partitionDropTries is how often dropping one partition tries to get its
// ACCESS EXCLUSIVE lock on the clean table (each wait bounded by the lock
// timeout, as the application's queries queue behind it meanwhile).
const partitionDropTries = 3

// dropPartitions detaches and drops the partitions of the clean table that
// lie wholly inside days before end, every one of which has a committed
// archive at this location, and that hold no row (checked once detached,
// when nothing can be added). They were emptied by this run's days or by
// earlier runs (a weekly partition empties day by day), so no row leaves
// the database here. A partition that cannot be dropped now is left for
// the next run. It counts what it did in s.
func (r *Runner) dropPartitions(ctx context.Context, log *slog.Logger, s *Summary) {
	end := s.CleanEnd
	parts, err := r.Clean.Partitions(ctx, r.Pool)
	if err != nil {
		log.Warn("cannot list the partitions of the clean table; none dropped", "err", err)
		s.PartitionErrs = append(s.PartitionErrs, fmt.Errorf("list the partitions of %s: %w", r.Clean.String(), err))
		return
	}
	for _, p := range parts {
		if ctx.Err() != nil {
			break
		}
		if p.To.After(end.Start()) {
			continue // not wholly before the days due
		}
		ok, err := r.allArchived(ctx, p)
		if err != nil {
			log.Warn("cannot check the archives of a partition's days; not dropped", "partition", p.String(), "err", err)
			s.PartitionErrs = append(s.PartitionErrs, fmt.Errorf("check the archives of partition %s: %w", p, err))
			continue
		}
		if !ok {
			continue
		}
		for try := 1; ; try++ {
			err = r.Clean.DropEmptyPartition(ctx, r.Pool, p, r.lockTimeout())
			if err == nil || !postgres.IsLockTimeout(err) || try == partitionDropTries {
				break
			}
			// Short pauses: the application's queries queued behind each
			// attempt, not the archiver, are what waits.
			time.Sleep(time.Duration(try) * time.Second)
		}
		switch {
		case err == nil:
			s.PartitionsDropped++
			log.Info(fmt.Sprintf("Dropped partition %s", p), "from", p.From.Format(time.RFC3339), "to", p.To.Format(time.RFC3339))
		case errors.Is(err, postgres.ErrNotEmpty):
			log.Info("partition of archived days holds rows added since; kept, they are archived by the next run", "partition", p.String())
		case postgres.IsLockTimeout(err):
			s.PartitionsDeferred++
			log.Info("partition of archived days is in use by the application; left for the next run", "partition", p.String())
		default:
			s.PartitionErrs = append(s.PartitionErrs, fmt.Errorf("drop partition %s: %w", p, err))
			log.Error("could not drop an empty partition of archived days; the next run tries again", "partition", p.String(), "err", err)
		}
	}
}

// allArchived reports whether every day p covers has a committed archive
// at this location.
func (r *Runner) allArchived(ctx context.Context, p postgres.Partition) (bool, error) {
	for d := measure.DayOf(p.From); d.Start().Before(p.To); d = d.AddDays(1) {
		m, err := r.Manifests.LatestCommitted(ctx, r.Pool, r.Opts.Location, archivestore.Key(r.Opts.Prefix, d))
		if err != nil || m == nil {
			return false, err
		}
	}
	return true, nil
}

// checkOwnArchives fails, before anything changes, if the archives at this
// location and prefix are another table's: the keys are the same, so this
// table's days would be merged into that table's archives (a restore of
// either then brings back the other's readings, and in a keyed table this
// table's reading replaces that table's archived one, whose row is gone).
func (r *Runner) checkOwnArchives(ctx context.Context) error {
	names, err := r.Clean.Names(ctx, r.Pool)
	if err != nil {
		return err
	}
	d := measure.DayOf(time.Unix(0, 0))
	keyPrefix := strings.TrimSuffix(archivestore.Key(r.Opts.Prefix, d), archivestore.Key("", d))
	others, err := r.Manifests.OtherTables(ctx, r.Pool, r.Opts.Location, keyPrefix, names)
	if err != nil || len(others) == 0 {
		return err
	}
	o := others[0]
	more := ""
	if len(others) > 1 {
		more = fmt.Sprintf(" (and of %d more tables)", len(others)-1)
	}
	days := fmt.Sprintf("%d committed days", o.Archives)
	if o.Archives == 1 {
		days = "1 committed day"
	}
	return fmt.Errorf("the archives at %s under prefix %q are another table's: %s of %s (%s to %s)%s, not of %s; "+
		"archiving %s there would merge its readings into that table's archives: nothing was changed. "+
		"Give each table its own prefix (storage.prefix, ARCHIVER_PREFIX, --prefix) or bucket; "+
		"if %s is that table renamed, record its new name first: UPDATE %s SET source_table = '%s' WHERE source_table = '%s'",
		r.Opts.Location, r.Opts.Prefix, days, o.Table, measure.DayOf(o.First), measure.DayOf(o.Last), more, r.Clean,
		r.Clean, r.Clean, pgx.Identifier{r.Schema, "archive_runs"}.Sanitize(), sqlQuote(r.Clean.String()), sqlQuote(o.Table))
}

func sqlQuote(s string) string { return strings.ReplaceAll(s, "'", "''") }
