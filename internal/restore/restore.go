// Package restore brings archived days back into a PostgreSQL table: it
// finds each day's archive through its manifest (or, for archives of the
// original Python service, by the key convention), streams it from storage
// through the archive decoder into COPY, and inserts only the readings the
// table does not hold yet, in one transaction per day. A corrupt or
// mismatching archive imports nothing.
package restore

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
	"github.com/jackc/pgx/v5/pgconn"
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

// Restorer holds what a restore needs. Build one per run.
type Restorer struct {
	Pool      *pgxpool.Pool
	Bucket    *blob.Bucket
	Target    postgres.CleanTable // where readings go (the clean table or another one with its columns)
	Manifests *manifest.Store
	Schema    string // manifest schema, checked for migrations
	Location  string // bucket URL without credentials, as recorded in manifests
	Prefix    string // object key prefix
	Limits    archivefile.Limits
	Log       *slog.Logger
	// ReadStallTimeout abandons a storage read call that makes no progress
	// for this long; 0 means archivestore.DefaultReadStallTimeout.
	ReadStallTimeout time.Duration

	// LockWait is how long to wait for a day that another run (an archive
	// or another restore) holds; zero means DefaultLockWait.
	LockWait time.Duration

	// Observer, if set, is told about progress, for metrics and the
	// progress display.
	Observer Observer

	// Concurrency is how many days are restored at once (0: one).
	Concurrency int

	// OnConflict is ConflictKeep (the default, ""), ConflictReplace or
	// ConflictFail: what to do when the target has a key on (sensor, time)
	// and holds another reading with a key of the archive.
	OnConflict string

	key string // the target's reading key, found by Run; "" for none
}

// Observer is told about a restore's progress as it happens.
type Observer interface {
	Planned(days int)
	DayDone(r DayResult)
}

// DefaultLockWait is how long a restore waits for a day held by another run.
const DefaultLockWait = 30 * time.Second

// Options select what Run restores.
type Options struct {
	Days []measure.Day
	// DryRun downloads, decodes and verifies each archive and counts its
	// readings; it writes nothing to the database (not even a manifest row).
	DryRun bool
	// IgnoreChecksum restores an archive whose sha256 or reading count
	// differs from its manifest. The mismatch is logged as an error and
	// recorded in the restore's manifest row.
	IgnoreChecksum bool
	// Checkout marks each restored day checked out (its restore manifest
	// row, with the sha256 of the object restored): archive runs leave it
	// alone until `archiver checkin` writes its archive as exactly what the
	// table holds. The target must be the clean table.
	Checkout bool
	// AllowInsertTriggers restores into a target whose BEFORE INSERT
	// triggers or INSERT rules may change the restored rows; without it
	// such a target is refused.
	AllowInsertTriggers bool
}

// Status of one day of a restore.
type Status string

const (
	StatusRestored Status = "restored" // loaded; see Inserted and Present
	StatusDryRun   Status = "dry-run"  // verified, nothing written
	StatusFailed   Status = "failed"   // nothing imported; see Err
)

// DayResult is what happened to one day.
type DayResult struct {
	Day        measure.Day
	Status     Status
	Key        string
	ManifestID int64 // the committed manifest the archive was found by; 0 if by key convention
	Readings   int64 // readings in the archive
	Sensors    int64
	Bytes      int64
	SHA256     string
	Inserted   int64 // readings inserted into the target
	Present    int64 // distinct readings the target already held
	// ChecksumIgnored describes the manifest mismatch that IgnoreChecksum
	// let through; empty when there was none.
	ChecksumIgnored string
	// Keyed target (see Restorer.OnConflict): keys the target held with
	// another reading, and the first few with both values; readings of
	// the target overwritten (replace); keys the archive holds with
	// several readings, and the first few with their values.
	Conflicts        int64
	ConflictExamples []string
	Replaced         int64
	DupKeys          int64
	DupExamples      []string
	Checkout         int64 // the restore manifest row that checked the day out (Options.Checkout)
	Err              error
}

// Summary is the outcome of a run.
type Summary struct {
	RunID    string
	Started  time.Time
	Finished time.Time
	DryRun   bool
	Target   string
	Days     []DayResult
	Readings int64
	Inserted int64
	Present  int64
	// Keyed targets: conflicts with the table's readings, table readings
	// overwritten, keys the archives held with several readings.
	Conflicts int64
	Replaced  int64
	DupKeys   int64
	Restored  int // days restored (or verified, in a dry run)
	Failed    int
}

var (
	// ErrDaysFailed is returned (wrapped) when some days could not be
	// restored; nothing of those days was imported.
	ErrDaysFailed = errors.New("some days failed")
	// ErrNoArchive: the day has neither a manifest nor an object at its key.
	ErrNoArchive = errors.New("no archive for the day")
	// ErrChecksum: the archive differs from what its manifest recorded.
	ErrChecksum = errors.New("archive does not match its manifest")
	// ErrLocked: another run held the day for longer than LockWait.
	ErrLocked = errors.New("day is held by another run")
	// ErrConflict: OnConflict is fail and the target holds another reading
	// with a key of the archive.
	ErrConflict = errors.New("the table holds other readings with the archive's keys")
)

// What a restore into a keyed table does with a key the table already
// holds with another reading (Restorer.OnConflict).
const (
	ConflictKeep    = "keep"    // the table's reading stays
	ConflictReplace = "replace" // the archived reading overwrites it
	ConflictFail    = "fail"    // nothing of the day is imported
)

// Run restores the days in opts. Days are independent: a failing day is
// reported and the others go on. It returns a summary even on error.
func (r *Restorer) Run(ctx context.Context, opts Options) (s Summary, err error) {
	s = Summary{RunID: manifest.NewRunID(), Started: time.Now().UTC(), DryRun: opts.DryRun, Target: r.Target.String()}
	defer func() { s.Finished = time.Now().UTC() }()
	log := r.Log.With(logging.Context("run_id", s.RunID))

	days := slices.Clone(opts.Days)
	slices.SortFunc(days, measure.Day.Compare)
	days = slices.Compact(days)
	if len(days) == 0 {
		return s, errors.New("no days to restore")
	}
	for _, d := range days {
		if d.IsZero() {
			return s, errors.New("cannot restore the zero day")
		}
	}
	// Preconditions, before anything is read or written.
	if err := manifest.CheckMigrated(ctx, r.Pool, r.Schema); err != nil {
		return s, err
	}
	if err := r.Target.Inspect(ctx, r.Pool); err != nil {
		return s, fmt.Errorf("restore target %s: %w", r.Target, err)
	}
	if err := r.Target.CheckRestorable(); err != nil {
		return s, err
	}
	if !opts.AllowInsertTriggers {
		trig, err := r.Target.RowChangingInsertTriggers(ctx, r.Pool)
		if err != nil {
			return s, err
		}
		if len(trig) > 0 {
			return s, fmt.Errorf("restore target %s has %s, which may change or divert every restored reading: the table would then hold other values than the archive, and the next archive run would keep both versions; nothing was restored. "+
				"Disable it for the restore (ALTER TABLE … DISABLE TRIGGER …, then ENABLE TRIGGER), restore --into a table without it, or pass --allow-insert-triggers to restore through it knowingly",
				r.Target, strings.Join(trig, ", "))
		}
	}
	privs := postgres.TablePrivileges("restore", postgres.OnCleanTable)
	if r.OnConflict == ConflictReplace {
		privs = append(privs, "UPDATE") // INSERT … ON CONFLICT DO UPDATE (the grant list's "restore --on-conflict replace")
	}
	if err := r.Target.CheckPrivileges(ctx, r.Pool, privs...); err != nil {
		return s, err
	}
	if r.key, err = r.Target.ReadingKey(ctx, r.Pool); err != nil {
		return s, err
	}

	if r.Observer != nil {
		r.Observer.Planned(len(days))
	}
	for _, res := range r.restoreDays(ctx, log, s.RunID, days, opts) {
		s.Days = append(s.Days, res)
		switch res.Status {
		case StatusFailed:
			s.Failed++
		default:
			s.Restored++
			s.Readings += res.Readings
			s.Inserted += res.Inserted
			s.Present += res.Present
			s.Conflicts += res.Conflicts
			s.Replaced += res.Replaced
			s.DupKeys += res.DupKeys
		}
	}
	if err := ctx.Err(); err != nil {
		return s, fmt.Errorf("restore interrupted: %w", err)
	}
	if s.Failed > 0 {
		var first DayResult
		for _, d := range s.Days {
			if d.Status == StatusFailed {
				first = d
				break
			}
		}
		more := ""
		if s.Failed > 1 {
			more = fmt.Sprintf(" (and %d more days, see above)", s.Failed-1)
		}
		return s, fmt.Errorf("%w: %d of %d days could not be restored, nothing of them was imported: %s: %v%s",
			ErrDaysFailed, s.Failed, len(days), first.Day, first.Err, more)
	}
	return s, nil
}

// restoreDays restores the days through Concurrency workers, each day in
// its own connection, lock and transaction, and returns the results of the
// days that were started, in day order. The days are read ahead of the
// workers (see prefetched), so that PostgreSQL does not wait for the
// archiver's decoding.
func (r *Restorer) restoreDays(ctx context.Context, log *slog.Logger, runID string, days []measure.Day, opts Options) []DayResult {
	pre := r.startPrefetch(ctx, log, days, opts)
	defer pre.stop()
	// Cancelled: days not started are not reported.
	return workpool.Each(ctx, r.Concurrency, len(days), func() func(int) DayResult {
		return func(i int) DayResult {
			res := r.restoreDay(ctx, log, runID, days[i], opts, pre.get(ctx, i))
			if r.Observer != nil {
				r.Observer.DayDone(res)
			}
			return res
		}
	})
}

// restoreDay restores one day: locate, lock, then download, decode,
// verify, COPY and insert in one transaction. pf, if not nil, is the day
// located and read ahead (see prefetched).
func (r *Restorer) restoreDay(ctx context.Context, log *slog.Logger, runID string, d measure.Day, opts Options, pf *prefetched) DayResult {
	res := DayResult{Day: d, Key: archivestore.Key(r.Prefix, d)}
	log = log.With(logging.Context("day", d.String()), logging.Context("key", res.Key))
	started := time.Now().UTC()
	fail := func(err error) DayResult { return r.fail(ctx, log, runID, started, res, opts, err) }
	defer pf.discard()

	var m *manifest.Entry
	var err error
	if pf != nil {
		m, err = pf.m, pf.err
	} else {
		m, err = r.locate(ctx, log, d, res.Key)
	}
	if err != nil {
		return fail(err)
	}
	if m != nil {
		res.ManifestID = m.ID
	}

	conn, err := r.Pool.Acquire(ctx)
	if err != nil {
		return fail(fmt.Errorf("acquire connection: %w", err))
	}
	defer conn.Release()
	// I6: the same day lock as the archive run, on the target table, taken
	// before the transaction (see TryLockDay). A restore into the clean
	// table thus never interleaves with an archive of the same day.
	unlock, err := r.lock(ctx, log, conn, d)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	if pf != nil {
		// Located before the lock: a run that held the day meanwhile may
		// have archived it anew. Then the read-ahead is of another object,
		// and the day is located again.
		now, err := r.Manifests.LatestCommitted(ctx, conn, r.Location, res.Key)
		if err != nil {
			return fail(err)
		}
		if (now == nil) != (m == nil) || now != nil && now.ID != m.ID {
			pf.discard()
			res.ManifestID = 0
			if m, err = r.locate(ctx, log, d, res.Key); err != nil {
				return fail(err)
			}
			if m != nil {
				res.ManifestID = m.ID
			}
		}
	}

	if opts.Checkout {
		if err := r.checkCheckout(ctx, conn, d, m, res.Key); err != nil {
			return fail(err)
		}
	}
	if opts.DryRun {
		return r.dryRun(ctx, log, d, m, res, opts)
	}

	tx, err := conn.Begin(ctx)
	if err != nil {
		return fail(fmt.Errorf("begin transaction: %w", err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // no-op after commit

	ld, err := r.load(ctx, log, tx, d, m, res.Key, opts, pf)
	err = r.Target.NotFilled(err, res.Key)
	res.fill(ld)
	if errors.Is(err, ErrChecksum) {
		// A checkin that stopped before committing leaves its upload at
		// the key; archive runs leave a checked-out day alone, so it is
		// checkin that completes it.
		if co, cerr := r.Manifests.OpenCheckout(ctx, r.Pool, r.Location, res.Key); cerr == nil && co != nil {
			err = fmt.Errorf("%w (%s is checked out, restore manifest #%d: if a checkin stopped before committing, run `archiver checkin --day %s` to complete it)", err, d, co.ID, d)
		}
	}
	if err != nil {
		return fail(err)
	}
	if ld.mismatch != "" {
		log.Error("CHECKSUM MISMATCH IGNORED (--ignore-checksum): restoring an archive that differs from its manifest", "mismatch", ld.mismatch)
	}
	r.reportKeys(log, res)
	e := r.entry(runID, started, res, manifest.StatusCommitted)
	e.MinTime, e.MaxTime = timePtr(ld.stats.MinTime), timePtr(ld.stats.MaxTime)
	if ld.mismatch != "" {
		e.Error = "restored with --ignore-checksum: " + ld.mismatch
	}
	if opts.Checkout {
		e.Checkout = manifest.CheckoutOpen
	}
	if err := r.Manifests.Insert(ctx, tx, &e); err != nil {
		return fail(err)
	}
	if err := failpoint.Inject("restore.before-commit"); err != nil {
		return fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		res.Inserted, res.Present = 0, 0
		return fail(fmt.Errorf("commit restore: %w", err))
	}
	res.Status = StatusRestored
	_ = failpoint.Inject("restore.after-commit") // only kill/sleep make sense here
	log.Info(fmt.Sprintf("Restored %s into %s: %d readings inserted, %d already present", d, r.Target, res.Inserted, res.Present),
		"readings", res.Readings, "sensors", res.Sensors, "bytes", res.Bytes, "sha256", res.SHA256, "manifest_id", res.ManifestID)
	if opts.Checkout {
		res.Checkout = e.ID
		log.Info(fmt.Sprintf("Checked out %s (manifest #%d): archive runs leave the day alone; correct its rows, then `archiver checkin --day %s` writes its archive as exactly what the table holds (or `archiver checkin --day %s --abandon`)", d, e.ID, d, d))
	}
	return res
}

// checkCheckout refuses a checkout that could not be checked in: of an
// archive that no manifest describes (checkin replaces the committed
// archive, and must know which one was checked out), or of a day checked
// out already.
func (r *Restorer) checkCheckout(ctx context.Context, q manifest.Querier, d measure.Day, m *manifest.Entry, key string) error {
	if m == nil {
		return fmt.Errorf("cannot check out %s: no manifest in archive_runs describes %s, so a checkin could not tell whether the archive changed meanwhile; run `archiver verify --adopt` to record it first", d, key)
	}
	co, err := r.Manifests.OpenCheckout(ctx, q, r.Location, key)
	if err != nil {
		return err
	}
	if co != nil {
		return fmt.Errorf("%s is checked out already (restore manifest #%d, run %s, %s): check it in with `archiver checkin --day %s`, or end that checkout with `archiver checkin --day %s --abandon`",
			d, co.ID, co.RunID, co.FinishedAt.Format(time.RFC3339), d, d)
	}
	return nil
}

// reportKeys logs what a restore into a keyed table resolved by key.
func (r *Restorer) reportKeys(log *slog.Logger, res DayResult) {
	if res.DupKeys > 0 {
		log.Warn(fmt.Sprintf("the archive of %s holds %d keys (%s, %s) with more than one reading (written before the table had its key?); restored the first of each, the archive keeps all of them until the table holds a reading with the key",
			res.Day, res.DupKeys, r.Target.Sensor, r.Target.Time), "keys", strings.Join(res.DupExamples, "; "))
	}
	switch {
	case res.Conflicts == 0:
	case res.Replaced > 0 || r.OnConflict == ConflictReplace:
		log.Warn(fmt.Sprintf("%d readings of %s in %s differed from the archive's reading with the same key and were overwritten (--on-conflict replace)", res.Replaced, res.Day, r.Target),
			"overwritten", strings.Join(res.ConflictExamples, "; "))
	default:
		log.Warn(fmt.Sprintf("%d readings of %s in %s differ from the archive's reading with the same key; the table's readings were kept (--on-conflict keep)", res.Conflicts, res.Day, r.Target),
			"keys", strings.Join(res.ConflictExamples, "; "))
	}
}

// locate finds the day's archive: the latest committed manifest at this
// location, or else an object at the key convention. It returns the
// manifest (nil when found by convention).
func (r *Restorer) locate(ctx context.Context, log *slog.Logger, d measure.Day, key string) (*manifest.Entry, error) {
	m, err := r.Manifests.LatestCommitted(ctx, r.Pool, r.Location, key)
	if err != nil {
		return nil, err
	}
	if m != nil {
		log.Info(fmt.Sprintf("Found archive for %s through manifest #%d", d, m.ID),
			"run", m.RunID, "kind", m.Kind, "readings", manifest.Count(m.Readings), "sha256", m.SHA256)
		return m, nil
	}
	exists, err := r.Bucket.Exists(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("look for archive %s: %w", key, err)
	}
	if !exists {
		return nil, r.noArchive(ctx, d, key)
	}
	log.Warn(fmt.Sprintf("No manifest for %s in archive_runs: restoring %s found by the key convention (an archive of the original service?); there is no recorded checksum or count to verify it against, only its own gzip CRC and structure", d, key))
	return nil, nil
}

// noArchive explains a day without an archive and names the archived days
// nearest to it.
func (r *Restorer) noArchive(ctx context.Context, d measure.Day, key string) error {
	msg := fmt.Sprintf("no archive for %s: no manifest in archive_runs and no object at %s (location %s)", d, key, r.Location)
	days, err := r.ArchivedDays(ctx, measure.Day{}, measure.Day{})
	if err != nil {
		return &noArchiveError{fmt.Sprintf("%s (could not list archived days: %v)", msg, err)}
	}
	near := Nearest(days, d, 2)
	if len(near) == 0 {
		return &noArchiveError{fmt.Sprintf("%s; no day is archived at this location under prefix %q", msg, r.Prefix)}
	}
	s := make([]string, len(near))
	for i, n := range near {
		s[i] = n.String()
	}
	return &noArchiveError{fmt.Sprintf("%s; nearest archived days: %s", msg, strings.Join(s, ", "))}
}

// noArchiveError is ErrNoArchive with the day's explanation.
type noArchiveError struct{ msg string }

func (e *noArchiveError) Error() string        { return e.msg }
func (e *noArchiveError) Is(target error) bool { return target == ErrNoArchive }

// Nearest returns up to n of days (ascending) on each side of d, ascending,
// leaving out d itself.
func Nearest(days []measure.Day, d measure.Day, n int) []measure.Day {
	i, _ := slices.BinarySearchFunc(days, d, measure.Day.Compare)
	lo := max(0, i-n)
	j := i
	if j < len(days) && days[j] == d {
		j++
	}
	hi := min(len(days), j+n)
	out := slices.Clone(days[lo:i])
	return append(out, days[j:hi]...)
}

// ArchivedDays lists the days in [from, to] (a zero bound is open) that
// have an archive at this location: a committed archive or adopt manifest,
// or an object under the prefix whose key follows the convention. Days are
// ascending and unique.
func (r *Restorer) ArchivedDays(ctx context.Context, from, to measure.Day) ([]measure.Day, error) {
	f := manifest.Filter{Kinds: []string{manifest.KindArchive, manifest.KindAdopt}, Status: manifest.StatusCommitted, Location: r.Location}.Days(from.Start(), to.Start())
	entries, err := r.Manifests.List(ctx, r.Pool, f)
	if err != nil {
		return nil, err
	}
	seen := map[measure.Day]bool{}
	var days []measure.Day
	add := func(d measure.Day) {
		if (!from.IsZero() && d.Before(from)) || (!to.IsZero() && d.After(to)) || seen[d] {
			return
		}
		seen[d] = true
		days = append(days, d)
	}
	for _, e := range entries {
		if d, ok := archivestore.ParseKey(r.Prefix, e.ObjectKey); ok {
			add(d)
		}
	}
	prefix := archivestore.KeyPrefix(r.Prefix)
	it := r.Bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list archives under %q: %w", prefix, err)
		}
		if d, ok := archivestore.ParseKey(r.Prefix, obj.Key); ok {
			add(d)
		}
	}
	slices.SortFunc(days, measure.Day.Compare)
	return days, nil
}

// lock takes the day lock, retrying with backoff for up to LockWait.
func (r *Restorer) lock(ctx context.Context, log *slog.Logger, conn *pgxpool.Conn, d measure.Day) (func(), error) {
	wait := r.LockWait
	if wait <= 0 {
		wait = DefaultLockWait
	}
	deadline := time.Now().Add(wait)
	delay := 100 * time.Millisecond
	warned := false
	for {
		unlock, ok, err := r.Target.TryLockDay(ctx, conn, d)
		if err != nil {
			return nil, err
		}
		if ok {
			return unlock, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%w: %s of %s is being archived or restored by another archiver run; waited %s, try again when it has finished",
				ErrLocked, d, r.Target, wait)
		}
		if !warned {
			log.Warn(fmt.Sprintf("%s of %s is held by another archiver run; waiting up to %s", d, r.Target, wait))
			warned = true
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// loaded is what load learned about an archive.
type loaded struct {
	complete  bool // the whole object was read: stats describe all of it
	stats     archivefile.Stats
	canonical bool
	inserted  int64
	present   int64
	mismatch  string // manifest mismatch let through by IgnoreChecksum

	other        int64 // readings holding members restore does not load
	otherExample string

	conflicts        int64 // keys the target holds with another reading
	conflictExamples []string
	replaced         int64 // target readings overwritten (ConflictReplace)
	dupKeys          int64 // keys the archive holds with several readings
	dupExamples      []string
}

func (res *DayResult) fill(ld loaded) {
	if !ld.complete {
		return // counts and checksum of part of an object mean nothing
	}
	res.Readings, res.Sensors, res.Bytes, res.SHA256 = ld.stats.Readings, ld.stats.Sensors, ld.stats.Bytes, ld.stats.SHA256
	res.Inserted, res.Present, res.ChecksumIgnored = ld.inserted, ld.present, ld.mismatch
	res.Conflicts, res.ConflictExamples, res.Replaced = ld.conflicts, ld.conflictExamples, ld.replaced
	res.DupKeys, res.DupExamples = ld.dupKeys, ld.dupExamples
}

// tempTable is the per-transaction staging table; ON COMMIT DROP and a
// rollback both remove it.
const tempTable = "archiver_restore"

// maxExamples is how many keys a restore names for conflicts and for
// readings of the archive that share a key.
const maxExamples = 5

// load brings the archive into the target in tx, and checks it against the
// day and the manifest. Every step runs in tx: any error leaves the target
// as it was.
//
// When the target holds no rows of the day (the common case: a day
// restored where it was archived from), the archive is copied straight into
// the target: COPY's speed, nothing to compare. That is decided in the
// day's transaction under the day lock, so no archive or restore run adds
// rows meanwhile; the copy is done under a savepoint and given up for the
// staged load when the archive holds a reading twice (or, in a keyed
// table, two readings with one key: an archive written before the table
// had its key), or when the application inserted a reading with a key of
// the archive meanwhile. Otherwise the archive is staged in a temporary
// table and only what the target lacks is inserted (see loadStaged).
func (r *Restorer) load(ctx context.Context, log *slog.Logger, tx pgx.Tx, d measure.Day, m *manifest.Entry, key string, opts Options, pf *prefetched) (loaded, error) {
	if !r.Target.Layout().Original() {
		return r.loadTypedDay(ctx, log, tx, d, m, key, opts)
	}
	// The original schema's types: typed values go straight in, unless the
	// archive holds values of other columns ("extra"), which only the
	// typed path places; the attempt is then rolled back to its savepoint.
	sp, err := tx.Begin(ctx)
	if err != nil {
		return loaded{}, fmt.Errorf("savepoint: %w", err)
	}
	ld, err := r.loadOriginal(ctx, log, sp, d, m, key, opts, pf)
	if !errors.Is(err, errNeedTyped) {
		if err == nil {
			if err = sp.Commit(ctx); err != nil {
				err = fmt.Errorf("release savepoint: %w", err)
			}
		}
		if err == nil && ld.other > 0 {
			warnOther(log, key, ld.other, ld.otherExample)
		}
		return ld, err
	}
	if err := sp.Rollback(ctx); err != nil {
		return loaded{}, fmt.Errorf("roll back to savepoint: %w", err)
	}
	return r.loadTypedDay(ctx, log, tx, d, m, key, opts)
}

// errNeedTyped: the archive holds "extra" values, which the typed path
// restores.
var errNeedTyped = errors.New("the archive holds values of columns beyond the five mapped ones")

// loadOriginal is load for a target of the original schema's types.
func (r *Restorer) loadOriginal(ctx context.Context, log *slog.Logger, tx pgx.Tx, d measure.Day, m *manifest.Entry, key string, opts Options, pf *prefetched) (loaded, error) {
	var empty bool
	if err := tx.QueryRow(ctx, dayEmptySQL(r.Target), d.Start(), d.End()).Scan(&empty); err != nil {
		return loaded{}, fmt.Errorf("look for rows of %s in %s: %w", d, r.Target, err)
	}
	if empty {
		ld, err, again := r.loadDirect(ctx, tx, d, m, key, opts, pf)
		if !again {
			return ld, err
		}
		log.Info("the archive holds a reading twice or two readings with one key, or the table gained rows of the day: loading it through a staging table instead", "reason", err)
	}
	pf.discard()
	return r.loadStaged(ctx, tx, d, m, key, opts)
}

// dayEmptySQL is the query (parameters: the day's bounds) that says
// whether t holds no rows of a day. It asks for the day's first row in
// time order, which the time index answers with one probe whatever the
// planner's statistics say. A plain NOT EXISTS (SELECT 1 … WHERE time in
// the day) is planned as a sequential scan, expecting to meet a row soon,
// when the statistics say the day holds rows, as they do for a day
// archived (deleted) since the last ANALYZE, the usual day to restore: the
// scan then reads the whole table to find nothing, once per day restored.
// PostgreSQL drops an ORDER BY inside EXISTS, hence the subquery in FROM.
func dayEmptySQL(t postgres.CleanTable) string {
	tm := pgx.Identifier{t.Time}.Sanitize()
	return `SELECT count(*) = 0 FROM (SELECT FROM ` + pgx.Identifier(t.Name).Sanitize() + ` WHERE ` + tm + ` >= $1 AND ` + tm + ` < $2 ORDER BY ` + tm + ` LIMIT 1) d`
}

// errNotStrict: the archive does not hold each reading (each key, in a
// keyed table) once in canonical order, so it cannot be copied straight
// into the target.
var errNotStrict = errors.New("not strictly in canonical order")

// loadDirect copies the archive straight into the target under a
// savepoint, from pf's read-ahead if it has one for the target's types.
// again says that the copy was given up and rolled back and the staged
// load should be used.
func (r *Restorer) loadDirect(ctx context.Context, tx pgx.Tx, d measure.Day, m *manifest.Entry, key string, opts Options, pf *prefetched) (ld loaded, err error, again bool) {
	t := r.Target
	sp, err := tx.Begin(ctx)
	if err != nil {
		return ld, fmt.Errorf("savepoint: %w", err), false
	}
	table := pgx.Identifier(t.Name)
	oids, err := describe(ctx, sp.Conn().PgConn(), table, t.Columns())
	if err != nil {
		return ld, err, false
	}
	var ar *archivefile.Reader
	var src *copySource
	var rows *binRows
	if pf.usable(oids) {
		ar, src, rows = pf.ar, pf.src, pf.rows
		pf.rows = nil // now this copy's: released by copyBinary, closed below
		defer pf.closeObj()
	} else {
		pf.discard()
		var closeObj func()
		if ar, closeObj, err = r.open(ctx, d, key, m); err != nil {
			return ld, err, false
		}
		defer closeObj()
		src = newCopySource(ar)
		src.strict, src.keyed = true, r.key != ""
		// Into a table without a reading key, in time order (see binRows);
		// a keyed table's key index leads with the sensor, as the archive
		// does.
		rows = newBinRows(src, sp.Conn().TypeMap(), oids, r.key == "")
	}
	n, err := copyBinary(ctx, sp, table, t.Columns(), rows)
	ld.stats, ld.canonical = ar.Stats(), ar.Canonical()
	ld.other, ld.otherExample = src.other, src.otherExample
	if errors.Is(src.err, errNotStrict) || err != nil && src.err == nil && r.key != "" && isUniqueViolation(err) {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return ld, fmt.Errorf("roll back to savepoint: %w", rerr), false
		}
		if src.err != nil {
			return loaded{}, src.err, true
		}
		return loaded{}, err, true
	}
	if errors.Is(src.err, errNeedTyped) {
		return ld, src.err, false
	}
	if src.err != nil {
		return ld, r.decodeErr(key, src.err), false
	}
	if err != nil {
		return ld, fmt.Errorf("copy archive %s into %s: %w", key, r.Target, err), false
	}
	if err := sp.Commit(ctx); err != nil {
		return ld, fmt.Errorf("release savepoint: %w", err), false
	}
	ld.complete = true
	if ld.mismatch, err = r.check(d, key, ar, m, opts.IgnoreChecksum); err != nil {
		return ld, err, false
	}
	if err := failpoint.Inject("restore.after-copy"); err != nil {
		return ld, err, false
	}
	ld.inserted = n
	if err := failpoint.Inject("restore.after-insert"); err != nil {
		return ld, err, false
	}
	return ld, nil, false
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// staged follows a complete COPY of the archive into staging table (the
// staged and the typed paths): ld is complete, the archive is checked
// against its manifest (ld.mismatch), the after-copy failpoint is passed,
// and the table is analyzed: statistics make the planner pick a hash
// anti-join for big days.
func (r *Restorer) staged(ctx context.Context, tx pgx.Tx, table string, d measure.Day, key string, ar *archivefile.Reader, m *manifest.Entry, opts Options, ld *loaded) error {
	ld.complete = true
	var err error
	if ld.mismatch, err = r.check(d, key, ar, m, opts.IgnoreChecksum); err != nil {
		return err
	}
	if err := failpoint.Inject("restore.after-copy"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `ANALYZE `+table); err != nil {
		return fmt.Errorf("analyze staging table: %w", err)
	}
	return nil
}

// loadStaged streams the archive into a temporary table with COPY, checks
// it, then inserts what the target lacks: readings not there yet (no key),
// or, in a keyed table, readings of keys not there yet, resolving keys the
// table holds with another reading by OnConflict.
func (r *Restorer) loadStaged(ctx context.Context, tx pgx.Tx, d measure.Day, m *manifest.Entry, key string, opts Options) (loaded, error) {
	var ld loaded
	t := r.Target
	target := pgx.Identifier(t.Name).Sanitize()
	colList := strings.Join(quoteAll(t.Columns()), ", ")

	// The staging table takes the target's column types, so COPY encodes
	// straight into them and the comparison below is type for type.
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE `+tempTable+` ON COMMIT DROP AS SELECT `+colList+` FROM `+target+` WITH NO DATA`); err != nil {
		return ld, fmt.Errorf("create staging table for %s: %w", r.Target, err)
	}

	ar, closeObj, err := r.open(ctx, d, key, m)
	if err != nil {
		return ld, err
	}
	defer closeObj()
	src := newCopySource(ar)
	_, err = copyRows(ctx, tx, pgx.Identifier{tempTable}, t.Columns(), src, false)
	ld.stats, ld.canonical = ar.Stats(), ar.Canonical()
	ld.other, ld.otherExample = src.other, src.otherExample
	if errors.Is(src.err, errNeedTyped) {
		return ld, src.err
	}
	if src.err != nil {
		return ld, r.decodeErr(key, src.err)
	}
	if err != nil {
		return ld, fmt.Errorf("load archive %s into a staging table (types of %s): %w", key, r.Target, err)
	}
	if err := r.staged(ctx, tx, tempTable, d, key, ar, m, opts, &ld); err != nil {
		return ld, err
	}
	if r.key != "" {
		if err := r.insertKeyed(ctx, tx, d, &ld, keyedSet{cols: quoteAll(t.Columns()), from: tempTable}); err != nil {
			return ld, err
		}
	} else if err := r.insertMissing(ctx, tx, d, &ld); err != nil {
		return ld, err
	}
	if err := failpoint.Inject("restore.after-insert"); err != nil {
		return ld, err
	}
	return ld, nil
}

// insertMissing inserts the staged readings the target does not hold.
// Identity is the whole reading, as in measure.Compare: a row that
// matches on all five fields (NULL matching NULL) is already there.
func (r *Restorer) insertMissing(ctx context.Context, tx pgx.Tx, d measure.Day, ld *loaded) error {
	t := r.Target
	q := func(c string) string { return pgx.Identifier{c}.Sanitize() }
	target := pgx.Identifier(t.Name).Sanitize()
	cols := quoteAll(t.Columns())
	colList := strings.Join(cols, ", ")
	value := q(t.Value) // double precision: the original types
	distinct := ld.stats.Readings
	sel := `SELECT `
	if !ld.canonical {
		// Archives of the original service may repeat a reading; a reading
		// is inserted once. Canonical archives hold each reading once.
		// DISTINCT alone would take -0 and 0 for one value.
		sel = `SELECT DISTINCT ON (` + prefixed("t", cols) + `, t.` + value + `::text) `
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT `+colList+`, `+value+`::text FROM `+tempTable+`) s`).Scan(&distinct); err != nil {
			return fmt.Errorf("count distinct readings: %w", err)
		}
	}
	same := make([]string, len(cols))
	for i, c := range cols {
		same[i] = `x.` + c + ` IS NOT DISTINCT FROM t.` + c
		if c == value {
			same[i] = sameValue(`x.`+c, `t.`+c, measure.ValueFloat8)
		}
	}
	// The time range keeps the probe on the target's time index.
	sql := `INSERT INTO ` + target + ` (` + colList + `) ` + sel + `t.` + strings.Join(cols, ", t.") +
		` FROM ` + tempTable + ` t WHERE NOT EXISTS (SELECT 1 FROM ` + target + ` x WHERE x.` + q(t.Time) + ` >= $1 AND x.` + q(t.Time) + ` < $2` +
		` AND ` + strings.Join(same, ` AND `) + `)`
	tag, err := tx.Exec(ctx, sql, d.Start(), d.End())
	if err != nil {
		return fmt.Errorf("insert restored readings into %s: %w", r.Target, err)
	}
	ld.inserted = tag.RowsAffected()
	ld.present = distinct - ld.inserted
	return nil
}

// keyedSet is a set of staged readings for insertKeyed: a relation
// (from) whose columns are named and typed as the target's columns cols
// (quoted; the sensor and time columns first). Columns marked asText are
// compared, ordered and made distinct by their text (json has no
// equality); override is the INSERT's OVERRIDING clause, if any.
type keyedSet struct {
	cols     []string
	asText   []bool
	from     string
	override string
}

// insertKeyed inserts the staged readings into a target whose (sensor,
// time) is a key. The archive may hold several readings with one key
// (written before the table had its key, or by the original service): the
// one that sorts first (value, qc_flags, imputation_method, NULL first) is
// restored, deterministically, and the keys are reported. A key the target
// holds with another reading is a conflict, resolved by OnConflict; it is
// never a bare unique violation. Counts add to ld's, so that several sets
// (one per set of extra columns present) can be loaded in turn.
func (r *Restorer) insertKeyed(ctx context.Context, tx pgx.Tx, d measure.Day, ld *loaded, k keyedSet) error {
	t := r.Target
	target := pgx.Identifier(t.Name).Sanitize()
	cols := k.cols
	s, tm := cols[0], cols[1]
	rest := cols[2:]
	colList := strings.Join(cols, ", ")
	// cmp is a column as it is compared: in its type, or as text.
	cmp := func(alias string, i int) string {
		if k.asText != nil && k.asText[i] {
			return alias + `.` + cols[i] + `::text`
		}
		return alias + `.` + cols[i]
	}
	// zeroSign tells -0 from 0 in a float value column, which = does
	// not (see sameValue); it is NULL for every other value.
	zeroSign := func(alias string) string { return "" }
	if l := t.Layout(); l == nil || l.Schema.Value != measure.ValueDecimal {
		zeroSign = func(alias string) string {
			v := alias + `.` + cols[2]
			return `CASE WHEN ` + v + ` = 0 THEN ` + v + `::text END`
		}
	}
	cmpRest := func(alias string) string {
		out := make([]string, len(rest))
		for i := range rest {
			out[i] = cmp(alias, i+2)
		}
		if z := zeroSign(alias); z != "" {
			out = append(out, z)
		}
		return strings.Join(out, ", ")
	}
	fmtVals := func(alias string) string {
		parts := make([]string, len(rest))
		for i, c := range rest {
			// Numbers as they are, the method (text) quoted.
			if i == 2 {
				parts[i] = `coalesce(quote_literal(` + alias + `.` + c + `::text), 'NULL')`
			} else {
				parts[i] = `coalesce(` + alias + `.` + c + `::text, 'NULL')`
			}
		}
		return `'(' || ` + strings.Join(parts, ` || ', ' || `) + ` || ')'`
	}
	order := make([]string, len(rest))
	for i, c := range rest {
		order[i] = `u.` + c + `::text COLLATE "C" NULLS FIRST`
		if i == 0 {
			order[i] = `u.` + c + ` NULLS FIRST` // values in their own order, NaN last, as the archive sorts them
		}
	}
	if z := zeroSign("u"); z != "" {
		order = append(order, z+` COLLATE "C"`) // -0 first, as the last tie-break, as measure.Compare
	}
	orderList := strings.Join(order, ", ")

	// Keys the archive holds with more than one reading.
	all := make([]string, len(cols))
	for i := range cols {
		all[i] = cmp("u", i)
	}
	if z := zeroSign("u"); z != "" {
		all = append(all, z)
	}
	distinct := `(SELECT DISTINCT ON (` + strings.Join(all, ", ") + `) * FROM ` + k.from + ` u) u`
	var dupKeys int64
	rows, err := tx.Query(ctx, `SELECT u.`+s+`::text, to_json(u.`+tm+`)#>>'{}', string_agg(`+fmtVals("u")+`, ' and ' ORDER BY `+orderList+`), count(*) OVER ()
		FROM `+distinct+` GROUP BY u.`+s+`, u.`+tm+` HAVING count(*) > 1 ORDER BY u.`+s+`::text COLLATE "C", u.`+tm+` LIMIT `+fmt.Sprint(maxExamples))
	if err != nil {
		return fmt.Errorf("look for readings of the archive with one key: %w", err)
	}
	for rows.Next() {
		var sensor, at, vals string
		if err := rows.Scan(&sensor, &at, &vals, &dupKeys); err != nil {
			rows.Close()
			return fmt.Errorf("look for readings of the archive with one key: %w", err)
		}
		if len(ld.dupExamples) < maxExamples {
			ld.dupExamples = append(ld.dupExamples, fmt.Sprintf("%s at %s: %s", sensor, at, vals))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look for readings of the archive with one key: %w", err)
	}
	ld.dupKeys += dupKeys

	// One reading a key: the first in the archive's order.
	pick := `(SELECT DISTINCT ON (u.` + s + `, u.` + tm + `) u.* FROM ` + k.from + ` u ORDER BY u.` + s + `, u.` + tm + `, ` + orderList + `)`
	var keysTotal int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT `+s+`, `+tm+` FROM `+k.from+` u) k`).Scan(&keysTotal); err != nil {
		return fmt.Errorf("count keys of the archive: %w", err)
	}

	// Keys the target holds with another reading.
	var conflicts int64
	differs := `(` + cmpRest("x") + `) IS DISTINCT FROM (` + cmpRest("p") + `)`
	rows, err = tx.Query(ctx, `SELECT p.`+s+`::text, to_json(p.`+tm+`)#>>'{}', `+fmtVals("x")+`, `+fmtVals("p")+`, count(*) OVER ()
		FROM `+pick+` p JOIN `+target+` x ON x.`+s+` = p.`+s+` AND x.`+tm+` = p.`+tm+` AND x.`+tm+` >= $1 AND x.`+tm+` < $2
		WHERE `+differs+` ORDER BY p.`+s+`::text COLLATE "C", p.`+tm+` LIMIT `+fmt.Sprint(maxExamples), d.Start(), d.End())
	if err != nil {
		return fmt.Errorf("compare the archive with %s: %w", r.Target, err)
	}
	for rows.Next() {
		var sensor, at, table, archived string
		if err := rows.Scan(&sensor, &at, &table, &archived, &conflicts); err != nil {
			rows.Close()
			return fmt.Errorf("compare the archive with %s: %w", r.Target, err)
		}
		if len(ld.conflictExamples) < maxExamples {
			ld.conflictExamples = append(ld.conflictExamples, fmt.Sprintf("%s at %s: table %s, archive %s", sensor, at, table, archived))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("compare the archive with %s: %w", r.Target, err)
	}
	ld.conflicts += conflicts

	mode := r.OnConflict
	if mode == "" {
		mode = ConflictKeep
	}
	if ld.conflicts > 0 && mode == ConflictFail {
		return fmt.Errorf("%w: %d readings of the archive differ from the reading %s holds with the same key (%s), e.g. %s; nothing of the day was imported. --on-conflict keep leaves the table's readings, --on-conflict replace overwrites them with the archived ones",
			ErrConflict, ld.conflicts, r.Target, t.Sensor+", "+t.Time, strings.Join(ld.conflictExamples, "; "))
	}
	insert := `INSERT INTO ` + target + ` AS x (` + colList + `)` + k.override + ` SELECT ` + prefixed("p", cols) + ` FROM ` + pick + ` p ON CONFLICT (` + s + `, ` + tm + `) `
	var inserted, replaced int64
	switch mode {
	case ConflictReplace:
		set := make([]string, len(rest))
		for i, c := range rest {
			set[i] = c + ` = EXCLUDED.` + c
		}
		sql := `WITH w AS (` + insert + `DO UPDATE SET ` + strings.Join(set, ", ") +
			` WHERE (` + cmpRest("x") + `) IS DISTINCT FROM (` + cmpRest("EXCLUDED") + `) RETURNING (x.xmax = 0) AS fresh)
			SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM w`
		if err := tx.QueryRow(ctx, sql).Scan(&inserted, &replaced); err != nil {
			return fmt.Errorf("insert restored readings into %s: %w", r.Target, err)
		}
	default:
		tag, err := tx.Exec(ctx, insert+`DO NOTHING`)
		if err != nil {
			return fmt.Errorf("insert restored readings into %s: %w", r.Target, err)
		}
		inserted = tag.RowsAffected()
	}
	ld.inserted += inserted
	ld.replaced += replaced
	ld.present += keysTotal - inserted - conflicts
	return nil
}

// sameValue is the condition that x and t, SQL values of the value
// column (of type v), are one value as measure.Compare sees them. In a real
// or double precision column = and IS NOT DISTINCT FROM call -0 and 0
// equal, although the column stores both (two readings), so zeros are told
// apart by their text ('-0', '0'); a numeric has no -0.
func sameValue(x, t string, v measure.ValueType) string {
	same := x + ` IS NOT DISTINCT FROM ` + t
	if v == measure.ValueDecimal {
		return same
	}
	return `(` + same + ` AND ((` + x + ` = 0) IS NOT TRUE OR ` + x + `::text = (` + t + `)::text))`
}

func quoteAll(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = pgx.Identifier{c}.Sanitize()
	}
	return out
}

func prefixed(alias string, cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = alias + `.` + c
	}
	return strings.Join(out, ", ")
}

// loadTypedDay is load for a target that is not of the original schema's
// types, or an archive holding "extra" values (see loadTyped).
func (r *Restorer) loadTypedDay(ctx context.Context, log *slog.Logger, tx pgx.Tx, d measure.Day, m *manifest.Entry, key string, opts Options) (loaded, error) {
	var ld loaded
	ar, closeObj, err := r.open(ctx, d, key, m)
	if err != nil {
		return ld, err
	}
	defer closeObj()
	src, err := r.loadTyped(ctx, tx, d, ar, key, m, opts, &ld)
	if src != nil && src.err != nil {
		if errors.Is(src.err, errColumnGone) {
			return ld, src.err
		}
		return ld, r.decodeErr(key, src.err)
	}
	if err != nil {
		return ld, err
	}
	if src.other > 0 {
		warnOther(log, key, src.other, src.otherExample)
	}
	if err := failpoint.Inject("restore.after-insert"); err != nil {
		return ld, err
	}
	return ld, nil
}

// warnOther says that some readings' members (another tool's fields) were
// not restored; the archive keeps them.
func warnOther(log *slog.Logger, key string, n int64, example string) {
	log.Warn(fmt.Sprintf("%d readings of %s hold fields this archiver does not restore (written by another tool, e.g. %s); they stay in the archive", n, key, firstN(example, 80)))
}

func firstN(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// dryRun downloads, decodes and verifies the archive and counts it.
func (r *Restorer) dryRun(ctx context.Context, log *slog.Logger, d measure.Day, m *manifest.Entry, res DayResult, opts Options) DayResult {
	ar, closeObj, err := r.open(ctx, d, res.Key, m)
	if err != nil {
		return r.dryFail(log, res, err)
	}
	defer closeObj()
	for {
		_, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return r.dryFail(log, res, r.decodeErr(res.Key, err))
		}
	}
	ld := loaded{complete: true, stats: ar.Stats()}
	ld.mismatch, err = r.check(d, res.Key, ar, m, opts.IgnoreChecksum)
	res.fill(ld)
	if err != nil {
		return r.dryFail(log, res, err)
	}
	if ld.mismatch != "" {
		log.Error("CHECKSUM MISMATCH would be ignored (--ignore-checksum)", "mismatch", ld.mismatch)
	}
	res.Status = StatusDryRun
	log.Info(fmt.Sprintf("Dry run: would restore %d readings of %s into %s", res.Readings, d, r.Target),
		"sensors", res.Sensors, "bytes", res.Bytes, "sha256", res.SHA256, "manifest_id", res.ManifestID)
	return res
}

// dryFail reports a failed day of a dry run, which records nothing (I7).
func (r *Restorer) dryFail(log *slog.Logger, res DayResult, err error) DayResult {
	res.Status, res.Err = StatusFailed, err
	log.Error("day cannot be restored", "err", err)
	return res
}

// open starts reading the archive object.
func (r *Restorer) open(ctx context.Context, d measure.Day, key string, m *manifest.Entry) (*archivefile.Reader, func(), error) {
	o, err := r.store().OpenDay(ctx, key, d, m, cannotRestore)
	if err != nil {
		return nil, nil, err
	}
	return o.Reader, func() { o.Close() }, nil
}

const cannotRestore = "cannot be restored"

// decodeErr says which archive could not be read, with a hint for limits.
func (r *Restorer) decodeErr(key string, err error) error {
	return r.store().DecodeError(key, err, cannotRestore)
}

// check verifies a fully read archive: its day and time bounds, and, when
// a manifest describes it, sha256 and reading count. A manifest mismatch
// is an error unless ignore is set; then it is returned as a description.
func (r *Restorer) check(d measure.Day, key string, ar *archivefile.Reader, m *manifest.Entry, ignore bool) (string, error) {
	st := ar.Stats()
	if ar.Day() != d {
		return "", fmt.Errorf("archive %s says it is for day %s, but its key is for %s: refusing to restore a misplaced archive: %w",
			key, ar.Day(), d, archivefile.ErrCorrupt)
	}
	if st.Readings > 0 && (!d.Contains(st.MinTime) || !d.Contains(st.MaxTime)) {
		return "", fmt.Errorf("archive %s has readings from %s to %s, outside %s: %w",
			key, st.MinTime.Format(time.RFC3339Nano), st.MaxTime.Format(time.RFC3339Nano), d, archivefile.ErrOutsideDay)
	}
	if m == nil {
		return "", nil
	}
	var diffs []string
	if st.SHA256 != m.SHA256 {
		diffs = append(diffs, fmt.Sprintf("sha256 %s, manifest #%d recorded %s", st.SHA256, m.ID, m.SHA256))
	}
	if m.Readings != nil && st.Readings != *m.Readings {
		diffs = append(diffs, fmt.Sprintf("%d readings, manifest #%d recorded %d", st.Readings, m.ID, *m.Readings))
	}
	if len(diffs) == 0 {
		return "", nil
	}
	msg := fmt.Sprintf("archive %s: %s", key, strings.Join(diffs, "; "))
	if ignore {
		return msg, nil
	}
	// The usual cause is an archive run that uploaded the day and stopped
	// before committing: its object may hold row versions the application
	// changed since, so the fix is to let `archiver archive` complete the
	// day, not to restore the object as it is.
	return "", fmt.Errorf("%s: %w; refusing to restore it (nothing was imported). If `archiver verify --deep` reports the day as pending, an archive run stopped before committing: run `archiver archive` to complete it, then restore. Otherwise investigate; --ignore-checksum restores the object as it is, which may bring back row versions changed since",
		msg, ErrChecksum)
}

// fail records a failed day; the day's transaction (if any) is rolled back
// by restoreDay's deferred Rollback, so nothing of the day was imported.
func (r *Restorer) fail(ctx context.Context, log *slog.Logger, runID string, started time.Time, res DayResult, opts Options, err error) DayResult {
	if opts.DryRun {
		return r.dryFail(log, res, err)
	}
	res.Status, res.Err, res.Inserted, res.Present = StatusFailed, err, 0, 0
	log.Error("day not restored; nothing of it was imported", "err", err)
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	e := r.entry(runID, started, res, manifest.StatusFailed)
	e.Error = err.Error()
	if merr := r.Manifests.Insert(mctx, r.Pool, &e); merr != nil {
		log.Error("could not record the failed restore in archive_runs", "err", merr)
	}
	return res
}

func (r *Restorer) entry(runID string, started time.Time, res DayResult, status string) manifest.Entry {
	day := res.Day.Start()
	e := manifest.Entry{
		RunID: runID, Kind: manifest.KindRestore, Status: status, Day: &day,
		SourceTable: r.Target.String(), ObjectKey: res.Key, Location: r.Location,
		SHA256: res.SHA256, StartedAt: started,
	}
	if status == manifest.StatusCommitted {
		e.RowsInserted, e.RowsPresent = manifest.Int64(res.Inserted), manifest.Int64(res.Present)
		e.KeyMode = manifest.KeyNone
		if r.key != "" {
			e.KeyMode, e.RowsReplaced = manifest.KeySensorTime, manifest.Int64(res.Replaced)
		}
	}
	if res.SHA256 != "" {
		e.Readings, e.Sensors, e.Bytes = manifest.Int64(res.Readings), manifest.Int64(res.Sensors), manifest.Int64(res.Bytes)
	}
	return e
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// store is the one path to the archive objects.
func (r *Restorer) store() *archivestore.Store {
	return &archivestore.Store{Bucket: r.Bucket, Limits: r.Limits, ReadStallTimeout: r.ReadStallTimeout}
}
