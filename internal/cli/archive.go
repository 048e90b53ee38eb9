package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v2"
	"gocloud.dev/blob"

	"github.com/shizuku-labs/archiver/backends"
	"github.com/shizuku-labs/archiver/internal/archive"
	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/config"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/metrics"
	"github.com/shizuku-labs/archiver/internal/postgres"
)

func archiveCommand() *cli.Command {
	return &cli.Command{
		Name:  "archive",
		Usage: "purge old raw rows, archive old clean rows per UTC day, delete what was archived",
		Description: `Step 1 deletes raw measurements older than raw.retention_days, in batches.
Step 2 archives every UTC day of clean measurements that lies wholly before
now - clean.retention_days: the day's rows (merged with the day's existing
archive, if any) are written to <prefix>/YYYY/MM/archive-YYYY-MM-DD.json.gz,
read back and verified, and only then deleted, in the same transaction that
records the manifest in archive_runs. A day that fails keeps all its rows;
the run goes on with the other days and exits 1. A day stopped by a throttle
(--lock-timeout, --max-runtime, --max-replica-lag) is pending instead: kept,
reported with its reason, retried by the next run, exit 0.

Examples:
   archiver archive --bucket file:///var/archives
   archiver archive --dry-run
   ARCHIVER_CLEAN_RETENTION_DAYS=60 archiver archive --concurrency 4`,
		Flags:  commandFlags(config.ScopeTables | config.ScopeArchive | config.ScopeWrite | config.ScopeMetrics),
		Action: runArchive,
	}
}

func runArchive(c *cli.Context) error {
	e, err := setup(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	cfg := e.cfg
	started := time.Now().UTC()
	shard, shards, err := cfg.Archive.ShardSpec()
	if err != nil {
		return e.failedStart(ctx, "archive", started, withCode(ExitUsage, fmt.Errorf("invalid setting archive.shard: %w", err)))
	}
	raw, err := e.rawTable()
	if err != nil {
		return e.failedStart(ctx, "archive", started, err)
	}
	st, err := e.open(ctx, use{conns: cfg.Archive.Concurrency + 2, create: true, write: true, lockTimeout: true})
	if err != nil {
		return e.failedStart(ctx, "archive", started, err)
	}
	defer st.Close()
	bucketURL := st.bucketURL
	r := &archive.Runner{
		Pool: st.pool, Bucket: st.bucket, Raw: raw, Clean: st.clean,
		Manifests: st.manifests, Schema: cfg.Database.ManifestSchema,
		Log: e.log,
		Opts: archive.Options{
			RawRetentionDays: cfg.Raw.RetentionDays, CleanRetentionDays: cfg.Clean.RetentionDays,
			RawRequireClean: cfg.Raw.RequireClean, RawSensorColumn: cfg.Raw.SensorColumn,
			BatchSize: cfg.Raw.BatchSize, Concurrency: cfg.Archive.Concurrency, GzipLevel: cfg.Archive.GzipLevel,
			DropPartitions: cfg.Archive.DropPartitions, LockTimeout: cfg.Database.LockTimeout,
			MaxRuntime: cfg.Archive.MaxRuntime, MaxRowsPerSecond: cfg.Archive.MaxRowsPerSecond,
			MaxReplicaLag: cfg.Archive.MaxReplicaLag, Replicas: cfg.Archive.Replicas,
			ShardIndex: shard, ShardCount: shards,
			DryRun: cfg.DryRun, Prefix: cfg.Storage.Prefix, Location: st.location(),
			ObjectURL: func(key string) string { return backends.ObjectURL(st.bucketURL, st.bucket, key) },
			Limits:    e.limits(),
		},
	}
	if msg, err := st.elsewhere(ctx); err == nil && msg != "" {
		e.log.Warn("WARNING: " + msg + "; archiving to the new location")
	}
	obs := e.newObserver(metrics.CommandArchive, bucketURL)
	r.Observer = obs
	e.banner("Starting Data Archiver Service", bucketURL)
	s, err := r.Run(ctx)
	obs.rec.SetRawPurgeHeld(s.RawHeld)
	obs.rec.SetReplicaLagPaused(s.ReplicaLagPaused)
	obs.rec.SetInfiniteTime(s.NonFinite)
	obs.finish(ctx, e, s.Started, err == nil)
	e.summary(s, err)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, archive.ErrDaysFailed), errors.Is(err, archive.ErrPartitionsFailed):
		return withCode(ExitPartial, err)
	case errors.Is(err, manifest.ErrNotMigrated):
		return withCode(ExitUnavailable, err)
	case ctx.Err() != nil:
		return withCode(ExitInterrupted, err)
	case s.PurgeErr != nil:
		return withCode(ExitPartial, err)
	}
	return withCode(ExitUnavailable, err)
}

// failedStart reports a run that could not start (no database, bad
// storage, missing tables) to the metrics where they are configured, as a
// failed run, so that alerting on last_run_success fires at once instead of
// when the last success goes stale; then returns err.
func (e *env) failedStart(ctx context.Context, command string, started time.Time, err error) error {
	e.newObserver(command, e.cfg.Storage.Bucket).finish(ctx, e, started, false)
	return err
}

func (e *env) connect(ctx context.Context, maxConns int, opts ...postgres.Option) (*pgxpool.Pool, error) {
	pool, err := postgres.Connect(ctx, e.cfg.Database.URL, e.cfg.Database.ConnectTimeout, maxConns, opts...)
	var ce *postgres.ConfigError
	if errors.As(err, &ce) {
		return nil, withCode(ExitUsage, err) // a bad setting: nothing was tried
	}
	if err != nil {
		return nil, withCode(ExitUnavailable, err)
	}
	return pool, nil
}

// stores are what the commands that read or write archives work with: the
// database, the bucket, the manifest table and the clean table.
type stores struct {
	pool      *pgxpool.Pool
	bucket    *blob.Bucket
	bucketURL string
	identity  string // the storage location's identity, recorded in manifests
	manifests *manifest.Store
	clean     postgres.CleanTable
}

// use says what open opens for a command, and what the command does with it.
type use struct {
	conns       int  // database connections
	create      bool // create a missing bucket (a file:// directory): a real archive run only
	write       bool // write to storage: the backend's start-up check may then probe the store
	lockTimeout bool // every statement on the measurement tables waits for its locks at most database.lock_timeout
}

// begin is the preamble of a command that has nothing of its own to check
// between loading the settings and opening the stores: setup, then open.
func begin(c *cli.Context, u use) (*env, *stores, error) {
	e, err := setup(c)
	if err != nil {
		return nil, nil, err
	}
	st, err := e.open(c.Context, u)
	return e, st, err
}

// open names the clean table (a bad setting is refused before anything is
// tried), connects to the database, opens the configured bucket (creating
// a missing one if u.create) and runs its backend's start-up check. A dry
// run creates and writes nothing, whatever u says.
func (e *env) open(ctx context.Context, u use) (*stores, error) {
	clean, err := e.cleanTable()
	if err != nil {
		return nil, err
	}
	bucketURL, identity, err := e.storage()
	if err != nil {
		return nil, err
	}
	e.warnStorage(bucketURL)
	var opts []postgres.Option
	if u.lockTimeout {
		opts = append(opts, postgres.WithLockTimeout(e.cfg.Database.LockTimeout))
	}
	pool, err := e.connect(ctx, u.conns, opts...)
	if err != nil {
		return nil, err
	}
	openCtx := ctx
	if u.create && !e.cfg.DryRun {
		openCtx = backends.WithCreate(ctx)
	}
	bucket, err := backends.Open(openCtx, bucketURL)
	if err != nil {
		pool.Close()
		if backends.IsConfigError(err) {
			return nil, withCode(ExitUsage, err)
		}
		return nil, withCode(ExitUnavailable, err)
	}
	st := &stores{pool: pool, bucket: bucket, bucketURL: bucketURL, identity: identity, manifests: manifest.NewStore(e.cfg.Database.ManifestSchema), clean: clean}
	st.manifests.Scrub = e.secrets.Scrub
	if err := e.resolveLegacy(ctx, pool, st.manifests, st.identity, !e.cfg.DryRun); err != nil {
		st.Close()
		return nil, withCode(ExitUnavailable, err)
	}
	note, err := backends.Check(ctx, bucketURL, bucket, u.write && !e.cfg.DryRun)
	if err != nil {
		st.Close()
		return nil, withCode(ExitUnavailable, fmt.Errorf("storage %s: %w", backends.Redact(bucketURL), err))
	}
	if note != "" {
		e.log.Info(note)
	}
	return st, nil
}

// openManifests connects to the database of a command that reads
// archive_runs and touches no storage, and refuses a database that is not
// migrated.
func (e *env) openManifests(ctx context.Context) (*pgxpool.Pool, *manifest.Store, error) {
	pool, err := e.connect(ctx, 2)
	if err != nil {
		return nil, nil, err
	}
	schema := e.cfg.Database.ManifestSchema
	if err := manifest.CheckMigrated(ctx, pool, schema); err != nil {
		pool.Close()
		return nil, nil, withCode(ExitUnavailable, err)
	}
	return pool, manifest.NewStore(schema), nil
}

// resolveLegacy matches the manifests recorded before location identities
// (their location is the bucket URL as configured) to identity, and
// rewrites them if asked (not in a dry run or a read-only command). A
// database that is not migrated is left to the command to report.
func (e *env) resolveLegacy(ctx context.Context, pool *pgxpool.Pool, store *manifest.Store, identity string, rewrite bool) error {
	if manifest.CheckMigrated(ctx, pool, e.cfg.Database.ManifestSchema) != nil {
		return nil
	}
	n, err := store.ResolveLegacy(ctx, pool, identity, backends.Identity, rewrite)
	if err != nil {
		return err
	}
	if n > 0 {
		e.log.Info(fmt.Sprintf("%d manifests recorded before location identities are at %s", n, identity))
	}
	return nil
}

// location is the storage location's identity, as manifests record it.
func (s *stores) location() string { return s.identity }

// elsewhere says so when archive_runs holds committed archives but none at
// this location, listing where they are: a changed bucket URL, token or
// account would otherwise look like an empty store.
func (s *stores) elsewhere(ctx context.Context) (string, error) {
	locs, err := s.manifests.CommittedLocations(ctx, s.pool)
	if err != nil {
		return "", err
	}
	return elsewhereMessage(locs, s.identity), nil
}

func elsewhereMessage(locs []manifest.LocationCount, identity string) string {
	if len(locs) == 0 {
		return ""
	}
	var at []string
	for _, l := range locs {
		if l.Location == identity {
			return ""
		}
		at = append(at, fmt.Sprintf("%s (%d)", backends.Redact(l.Location), l.Archives))
	}
	return fmt.Sprintf("archive_runs holds committed archives, but none at %s (the storage this bucket URL and these credentials name); they are at: %s. Check storage.bucket and the credentials that pick the store (VERCEL_BLOB_RW_TOKEN, AZURE_STORAGE_ACCOUNT, endpoint=)",
		identity, strings.Join(at, ", "))
}

// Close releases the bucket and the database.
func (s *stores) Close() {
	s.bucket.Close()
	s.pool.Close()
}

// limits bound what is accepted when an archive is read back from storage.
func (e *env) limits() archivefile.Limits {
	return archivefile.Limits{MaxUncompressedBytes: e.cfg.Restore.MaxUncompressedBytes, MaxReadings: e.cfg.Restore.MaxReadings}
}

// cleanTable is the clean table the commands work on, with the configured
// columns.
func (e *env) cleanTable() (postgres.CleanTable, error) {
	t, err := cleanTableFor(e.cfg, e.cfg.Clean.Table)
	if err != nil {
		return t, withCode(ExitUsage, err)
	}
	return t, nil
}

// rawTable is the raw table archive purges: archive alone needs it. It is
// the zero RawTable when the purge is switched off (raw.table empty).
func (e *env) rawTable() (postgres.RawTable, error) {
	if strings.TrimSpace(e.cfg.Raw.Table) == "" {
		return postgres.RawTable{}, nil
	}
	name, err := config.ParseTable(e.cfg.Raw.Table)
	if err != nil {
		return postgres.RawTable{}, withCode(ExitUsage, fmt.Errorf("invalid setting raw.table: %w", err))
	}
	return postgres.RawTable{Name: name, TimeColumn: e.cfg.Raw.TimeColumn}, nil
}

// cleanTableFor is the clean table description with the configured columns,
// for name (the clean table itself, or a restore target).
func cleanTableFor(cfg config.Config, name string) (postgres.CleanTable, error) {
	parts, err := config.ParseTable(name)
	if err != nil {
		return postgres.CleanTable{}, fmt.Errorf("invalid table %q: %w", name, err)
	}
	col := cfg.Clean.Columns
	return postgres.CleanTable{Name: parts, Sensor: col.Sensor, Time: col.Time, Value: col.Value, QCFlags: col.QCFlags, Imputation: col.Imputation,
		Extra: config.ColumnList(col.Extra), Ignore: config.ColumnList(col.Ignore)}, nil
}

const rule = "================================================================================"

// banner logs the original service's start banner and configuration block.
// In JSON mode the same facts are one record's fields.
func (e *env) banner(title, bucketURL string) {
	cfg := e.cfg
	if cfg.Log.Format == "json" {
		e.log.Info(title, "raw_retention_days", cfg.Raw.RetentionDays, "clean_retention_days", cfg.Clean.RetentionDays,
			"batch_size", cfg.Raw.BatchSize, "concurrency", cfg.Archive.Concurrency, "dry_run", cfg.DryRun,
			"bucket", backends.Redact(bucketURL), "prefix", cfg.Storage.Prefix)
		return
	}
	for _, line := range []string{
		rule, title, "Run time: " + time.Now().UTC().Format(time.RFC3339), rule, "Configuration:",
		fmt.Sprintf("  Raw retention: %d days", cfg.Raw.RetentionDays),
		fmt.Sprintf("  Clean retention: %d days", cfg.Clean.RetentionDays),
		fmt.Sprintf("  Batch size: %d", cfg.Raw.BatchSize),
		fmt.Sprintf("  Concurrency: %d", cfg.Archive.Concurrency),
		fmt.Sprintf("  Dry run: %t", cfg.DryRun),
		fmt.Sprintf("  Storage: %s (prefix %q)", backends.Redact(bucketURL), cfg.Storage.Prefix),
	} {
		e.log.Info(line)
	}
}

// summary logs the original's statistics block, plus what the original did
// not have: failed and skipped days. Its title says how the run ended: only
// a run that went through every step claims completion.
func (e *env) summary(s archive.Summary, runErr error) {
	var failed []string
	for _, d := range s.Days {
		if d.Status == archive.StatusFailed {
			failed = append(failed, d.Day.String())
		}
	}
	title, level := "Archiver Service Complete", slog.LevelInfo
	switch {
	case runErr == nil:
	case errors.Is(runErr, archive.ErrDaysFailed), errors.Is(runErr, archive.ErrPartitionsFailed):
		title, level = "Archiver Service Complete, with failures", slog.LevelWarn
	case errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded):
		title, level = "Archiver Service Interrupted", slog.LevelWarn
	default:
		title, level = "Archiver Service Failed", slog.LevelError
	}
	if s.DryRun && runErr == nil {
		title += " (dry run: nothing was changed)"
	}
	if e.cfg.Log.Format == "json" {
		e.log.Log(context.Background(), level, title, "run_id", s.RunID, "dry_run", s.DryRun,
			"raw_deleted", s.RawPurged, "clean_archived", s.RowsArchived, "clean_deleted", s.RowsDeleted,
			"archives_created", s.ArchivesWritten, "bytes_written", s.BytesWritten, "days", len(s.Days),
			"days_failed", s.Failed, "days_locked", s.Locked, "days_pending", s.Pending, "pending", archive.PendingSummary(s), "failed_days", failed, "replaced", s.Replaced, "days_checked_out", len(s.CheckedOut),
			"raw_purge_held_seconds", int64(s.RawHeld.Seconds()), "replica_lag_paused_seconds", s.ReplicaLagPaused.Seconds(), "raw_purge_held_all", s.RawHeldAll,
			"partitions_dropped", s.PartitionsDropped, "partitions_deferred", s.PartitionsDeferred, "partitions_failed", len(s.PartitionErrs),
			"rows_infinite_time", s.NonFinite,
			"duration", s.Finished.Sub(s.Started))
		return
	}
	if !s.DryRun && level != slog.LevelError {
		e.log.Info("Step 3: Deleted archived measurements from database")
		e.log.Info(fmt.Sprintf("Deleted %d archived clean measurements", s.RowsDeleted))
	}
	lines := []string{rule, title, "Statistics:"}
	if s.DryRun {
		lines = append(lines, fmt.Sprintf("  Raw measurements that would be deleted: %d", s.RawPurged),
			fmt.Sprintf("  Days that would be archived: %d", len(s.Days)))
	} else {
		lines = append(lines,
			fmt.Sprintf("  Raw measurements deleted: %d", s.RawPurged),
			fmt.Sprintf("  Clean measurements archived: %d", s.RowsArchived),
			fmt.Sprintf("  Clean measurements deleted: %d", s.RowsDeleted),
			fmt.Sprintf("  Archive files created: %d", s.ArchivesWritten))
	}
	if len(s.CheckedOut) > 0 {
		var days []string
		for _, d := range s.CheckedOut {
			days = append(days, d.String())
		}
		lines = append(lines, fmt.Sprintf("  Days checked out, left alone until `archiver checkin`: %d (%s)", len(s.CheckedOut), strings.Join(days, ", ")))
	}
	if s.Replaced > 0 {
		lines = append(lines, fmt.Sprintf("  Archived readings replaced by the table's newer reading with the same key: %d", s.Replaced))
	}
	if s.Failed > 0 {
		lines = append(lines, fmt.Sprintf("  Days failed: %d (%s)", s.Failed, strings.Join(failed, ", ")))
	}
	if s.Locked > 0 {
		lines = append(lines, fmt.Sprintf("  Days skipped (held by another run): %d", s.Locked))
	}
	if s.PartitionsDropped > 0 || s.PartitionsDeferred > 0 || len(s.PartitionErrs) > 0 {
		lines = append(lines, fmt.Sprintf("  Partitions dropped: %d", s.PartitionsDropped))
	}
	if s.PartitionsDeferred > 0 {
		lines = append(lines, fmt.Sprintf("  Partitions left for the next run (in use): %d", s.PartitionsDeferred))
	}
	if len(s.PartitionErrs) > 0 {
		lines = append(lines, fmt.Sprintf("  Partitions that could not be dropped: %d (%v)", len(s.PartitionErrs), s.PartitionErrs[0]))
	}
	if p := archive.PendingSummary(s); p != "" {
		lines = append(lines, "  Days pending for the next run: "+p)
	}
	if s.RawHeldAll {
		lines = append(lines, "  Raw purge held back: the clean table has no reading, every raw row was kept (raw.require_clean)")
	} else if s.RawHeld > 0 {
		lines = append(lines, fmt.Sprintf("  Raw purge held back: cleaning is %s behind the raw retention (raw.require_clean)", s.RawHeld.Round(time.Second)))
	}
	if s.ReplicaLagPaused > 0 {
		lines = append(lines, fmt.Sprintf("  Paused for replica lag: %s", s.ReplicaLagPaused.Round(time.Millisecond)))
	}
	if s.PurgePending != "" {
		lines = append(lines, "  Raw purge stopped early, the next run goes on: "+s.PurgePending)
	}
	if s.NonFinite > 0 {
		lines = append(lines, fmt.Sprintf("  Rows left with an infinite time (no day): %d", s.NonFinite))
	}
	lines = append(lines, fmt.Sprintf("  Duration: %s", s.Finished.Sub(s.Started).Round(time.Millisecond)), rule)
	for _, l := range lines {
		e.log.Log(context.Background(), level, l)
	}
}
