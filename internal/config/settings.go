package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Scope says which commands a setting concerns, and so which commands show
// its flag.
type Scope uint16

const (
	ScopeDatabase Scope = 1 << iota // every command that talks to PostgreSQL
	ScopeStorage                    // every command that talks to storage
	ScopeTables                     // commands that read or write measurement tables
	ScopeArchive                    // archive only
	ScopeRestore                    // restore and verify
	ScopeLog                        // every command
	ScopeMetrics                    // commands that report metrics: archive, restore, verify, status
	ScopeWrite                      // commands that change something (dry run)
	ScopeLoad                       // restore only: how archived readings are loaded into a table
	ScopeStatus                     // status only
)

// Setting describes one configuration value and every way to set it.
type Setting struct {
	Key     string   // YAML path, e.g. "raw.retention_days"
	Env     []string // environment variables, first is the preferred name
	Flag    string   // command-line flag name without dashes
	Usage   string   // one line for --help and config.example.yaml
	Default string   // compiled-in default, as text
	Scope   Scope
	Secret  bool // never shown (database URL)

	kind     kind
	field    func(c *Config) any // pointer to the field
	validate func(c *Config) error
}

type kind uint8

const (
	kindString kind = iota
	kindInt
	kindInt64
	kindBool
	kindDuration
)

// Sources names where the setting can be set, for error messages.
func (s Setting) Sources() string {
	parts := []string{"YAML " + s.Key}
	if len(s.Env) > 0 {
		parts = append(parts, "env "+strings.Join(s.Env, " or "))
	}
	if s.Flag != "" {
		parts = append(parts, "flag --"+s.Flag)
	}
	return strings.Join(parts, ", ")
}

// IsBool reports whether the setting is a switch.
func (s Setting) IsBool() bool { return s.kind == kindBool }

// IsInt reports whether the setting is a whole number.
func (s Setting) IsInt() bool { return s.kind == kindInt || s.kind == kindInt64 }

// IsDuration reports whether the setting is a Go duration.
func (s Setting) IsDuration() bool { return s.kind == kindDuration }

// Set parses text into the setting's field of c.
func (s Setting) Set(c *Config, text string) error { return s.set(c, text) }

func (s Setting) set(c *Config, text string) error {
	switch p := s.field(c).(type) {
	case *string:
		*p = text
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", text)
		}
		*p = n
	case *int64:
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", text)
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("%q is not a boolean (use true or false)", text)
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 10s, 5m)", text)
		}
		*p = d
	default:
		panic("config: unsupported field type for " + s.Key)
	}
	return nil
}

// Get returns the setting's current value in c as text.
func (s Setting) Get(c *Config) string {
	switch p := s.field(c).(type) {
	case *string:
		return *p
	case *int:
		return strconv.Itoa(*p)
	case *int64:
		return strconv.FormatInt(*p, 10)
	case *bool:
		return strconv.FormatBool(*p)
	case *time.Duration:
		return p.String()
	}
	return ""
}

// Settings returns the table of every setting, in documentation order.
func Settings() []Setting {
	return []Setting{
		{
			Key: "database.url", Env: []string{"DATABASE_URL"}, Flag: "database-url", Scope: ScopeDatabase, Secret: true,
			Usage: "PostgreSQL connection URL (postgres://user:password@host:5432/db)",
			field: func(c *Config) any { return &c.Database.URL },
		},
		{
			Key: "database.manifest_schema", Env: []string{"ARCHIVER_MANIFEST_SCHEMA"}, Flag: "manifest-schema", Scope: ScopeDatabase,
			Usage: "schema that holds the archive_runs manifest table and the migration state", Default: "archiver",
			field: func(c *Config) any { return &c.Database.ManifestSchema }, validate: nonEmpty(func(c *Config) string { return c.Database.ManifestSchema }),
		},
		{
			Key: "database.connect_timeout", Env: []string{"ARCHIVER_CONNECT_TIMEOUT"}, Flag: "connect-timeout", Scope: ScopeDatabase, kind: kindDuration,
			Usage: "how long to wait for PostgreSQL to accept a connection", Default: "15s",
			field:    func(c *Config) any { return &c.Database.ConnectTimeout },
			validate: func(c *Config) error { return positiveDuration(c.Database.ConnectTimeout) },
		},
		{
			Key: "database.lock_timeout", Env: []string{"ARCHIVER_LOCK_TIMEOUT"}, Flag: "lock-timeout", Scope: ScopeArchive, kind: kindDuration,
			Usage:    "longest wait for a lock on a measurement table (PostgreSQL lock_timeout, also bounds the partition fast path's LOCK and DETACH); a day that cannot get its locks in time is left pending for the next run, so the archiver never queues behind the application's locks and blocks others behind it",
			Default:  "5s",
			field:    func(c *Config) any { return &c.Database.LockTimeout },
			validate: func(c *Config) error { return durationBetween(c.Database.LockTimeout, time.Millisecond, time.Hour) },
		},
		{
			Key: "storage.bucket", Env: []string{"ARCHIVER_BUCKET"}, Flag: "bucket", Scope: ScopeStorage,
			Usage: "archive storage URL (vercelblob://, s3://, gs://, azblob://, file:///dir); empty with VERCEL_BLOB_RW_TOKEN set means Vercel Blob",
			field: func(c *Config) any { return &c.Storage.Bucket },
		},
		{
			Key: "storage.prefix", Env: []string{"ARCHIVER_PREFIX"}, Flag: "prefix", Scope: ScopeStorage,
			Usage: "key prefix of the archive objects: <prefix>/YYYY/MM/archive-YYYY-MM-DD.json.gz", Default: "archives",
			field: func(c *Config) any { return &c.Storage.Prefix }, validate: func(c *Config) error {
				if strings.Contains(c.Storage.Prefix, "//") {
					return errors.New(`must not contain "//"`)
				}
				return nil
			},
		},
		{
			Key: "raw.table", Env: []string{"ARCHIVER_RAW_TABLE"}, Flag: "raw-table", Scope: ScopeArchive,
			Usage: "raw measurements table, [schema.]table; empty switches the raw purge off", Default: "shizuku.raw_measurements",
			field: func(c *Config) any { return &c.Raw.Table }, validate: func(c *Config) error {
				if strings.TrimSpace(c.Raw.Table) == "" {
					return nil // no raw purge
				}
				return tableName(func(c *Config) string { return c.Raw.Table })(c)
			},
		},
		{
			Key: "raw.time_column", Env: []string{"ARCHIVER_RAW_TIME_COLUMN"}, Flag: "raw-time-column", Scope: ScopeArchive,
			Usage: "time column of the raw table", Default: "ts",
			field: func(c *Config) any { return &c.Raw.TimeColumn }, validate: nonEmpty(func(c *Config) string { return c.Raw.TimeColumn }),
		},
		{
			Key: "raw.retention_days", Env: []string{"ARCHIVER_RAW_RETENTION_DAYS"}, Flag: "raw-retention-days", Scope: ScopeArchive, kind: kindInt,
			Usage: "days to keep raw measurements; older ones are deleted", Default: "1",
			field:    func(c *Config) any { return &c.Raw.RetentionDays },
			validate: func(c *Config) error { return between(c.Raw.RetentionDays, 1, 36500) },
		},
		{
			Key: "raw.batch_size", Env: []string{"ARCHIVER_BATCH_SIZE"}, Flag: "batch-size", Scope: ScopeArchive, kind: kindInt,
			Usage: "raw rows deleted per transaction during the purge", Default: "1000",
			field:    func(c *Config) any { return &c.Raw.BatchSize },
			validate: func(c *Config) error { return between(c.Raw.BatchSize, 1, 10_000_000) },
		},
		{
			Key: "raw.require_clean", Env: []string{"ARCHIVER_RAW_REQUIRE_CLEAN"}, Flag: "raw-require-clean", Scope: ScopeArchive, kind: kindBool,
			Usage:   "keep raw rows newer than the newest clean reading (they were not cleaned yet), with a warning and the archiver_raw_purge_held_seconds metric, so a stalled cleaning pipeline loses no raw data; false purges by age alone, as the original",
			Default: "true",
			field:   func(c *Config) any { return &c.Raw.RequireClean },
		},
		{
			Key: "raw.sensor_column", Env: []string{"ARCHIVER_RAW_SENSOR_COLUMN"}, Flag: "raw-sensor-column", Scope: ScopeArchive,
			Usage:   "sensor column of the raw table: with raw.require_clean, hold each sensor's raw rows by its own newest clean reading when the clean table has an index on (sensor, time); sensors with no clean reading, or an empty value, use the table's newest",
			Default: "sensor_id",
			field:   func(c *Config) any { return &c.Raw.SensorColumn },
		},
		{
			Key: "clean.table", Env: []string{"ARCHIVER_CLEAN_TABLE"}, Flag: "clean-table", Scope: ScopeTables,
			Usage: "clean measurements table, [schema.]table", Default: "shizuku.clean_measurements",
			field: func(c *Config) any { return &c.Clean.Table }, validate: tableName(func(c *Config) string { return c.Clean.Table }),
		},
		{
			Key: "clean.retention_days", Env: []string{"ARCHIVER_CLEAN_RETENTION_DAYS"}, Flag: "clean-retention-days", Scope: ScopeArchive | ScopeStatus, kind: kindInt,
			Usage: "days before clean measurements are archived; a UTC day is archived once all of it is older", Default: "30",
			field:    func(c *Config) any { return &c.Clean.RetentionDays },
			validate: func(c *Config) error { return between(c.Clean.RetentionDays, 1, 36500) },
		},
		column("sensor", "sensor id column", "sensor_id", func(c *Config) *string { return &c.Clean.Columns.Sensor }),
		column("time", "reading time column (timestamptz or timestamp in UTC)", "ts", func(c *Config) *string { return &c.Clean.Columns.Time }),
		column("value", "measurement value column", "value_mm", func(c *Config) *string { return &c.Clean.Columns.Value }),
		column("qc_flags", "quality-control flags column", "qc_flags", func(c *Config) *string { return &c.Clean.Columns.QCFlags }),
		column("imputation_method", "imputation method column", "imputation_method", func(c *Config) *string { return &c.Clean.Columns.Imputation }),
		{
			Key: "clean.columns.extra", Env: []string{"ARCHIVER_CLEAN_EXTRA_COLUMNS"}, Flag: "clean-extra-columns", Scope: ScopeTables,
			Usage: "comma-separated columns of the clean table beyond the five mapped ones that are archived with every reading (in its \"extra\" object) and restored exactly",
			field: func(c *Config) any { return &c.Clean.Columns.Extra }, validate: columnLists,
		},
		{
			Key: "clean.columns.ignore", Env: []string{"ARCHIVER_CLEAN_IGNORE_COLUMNS"}, Flag: "clean-ignore-columns", Scope: ScopeTables,
			Usage: "comma-separated columns of the clean table deliberately NOT archived: their values are not kept, and restore fills them from their default (allowed only for nullable, defaulted or identity columns)",
			field: func(c *Config) any { return &c.Clean.Columns.Ignore }, validate: columnLists,
		},
		{
			Key: "archive.concurrency", Env: []string{"ARCHIVER_CONCURRENCY"}, Flag: "concurrency", Scope: ScopeArchive, kind: kindInt,
			Usage: "days archived in parallel", Default: "2",
			field:    func(c *Config) any { return &c.Archive.Concurrency },
			validate: func(c *Config) error { return between(c.Archive.Concurrency, 1, 64) },
		},
		{
			Key: "archive.gzip_level", Env: []string{"ARCHIVER_GZIP_LEVEL"}, Flag: "gzip-level", Scope: ScopeArchive, kind: kindInt,
			Usage: "gzip compression level, 1 (fastest) to 9 (smallest)", Default: "6",
			field:    func(c *Config) any { return &c.Archive.GzipLevel },
			validate: func(c *Config) error { return between(c.Archive.GzipLevel, 1, 9) },
		},
		{
			Key: "archive.drop_partitions", Env: []string{"ARCHIVER_DROP_PARTITIONS"}, Flag: "drop-partitions", Scope: ScopeArchive, kind: kindBool,
			Usage:   "partition fast path, for a clean table range-partitioned on its time column: empty a partition lying wholly inside an archived day with TRUNCATE instead of DELETE (same transaction, same checks), then detach and drop partitions that are empty and wholly inside archived days",
			Default: "false",
			field:   func(c *Config) any { return &c.Archive.DropPartitions },
		},
		{
			Key: "archive.shard", Env: []string{"ARCHIVER_SHARD"}, Flag: "shard", Scope: ScopeArchive,
			Usage:    "INDEX/COUNT: this worker archives only the days whose number (days since 1970-01-01 UTC) mod COUNT is INDEX, and only shard 0 purges raw rows; for a backlog split over COUNT workers (deploy/kubernetes/backfill-job.yaml); empty for all days",
			field:    func(c *Config) any { return &c.Archive.Shard },
			validate: func(c *Config) error { _, _, err := c.Archive.ShardSpec(); return err },
		},
		{
			Key: "archive.shard_count", Env: []string{"ARCHIVER_SHARD_COUNT"}, Flag: "shard-count", Scope: ScopeArchive, kind: kindInt,
			Usage:   "COUNT of archive.shard, with INDEX from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job); 0 for none",
			Default: "0",
			field:   func(c *Config) any { return &c.Archive.ShardCount },
		},
		{
			Key: "archive.max_replica_lag", Env: []string{"ARCHIVER_MAX_REPLICA_LAG"}, Flag: "max-replica-lag", Scope: ScopeArchive, kind: kindDuration,
			Usage:    "pause before each day (and between purge batches) while a replica is further behind than this (e.g. 30s; 0 for no limit), measured on the primary from WAL positions, so a standby whose replay is paused or stuck counts; a day that crosses it is rolled back and retried after the pause; needs pg_monitor",
			Default:  "0s",
			field:    func(c *Config) any { return &c.Archive.MaxReplicaLag },
			validate: func(c *Config) error { return durationBetween(c.Archive.MaxReplicaLag, 0, 24*time.Hour) },
		},
		{
			Key: "archive.replicas", Env: []string{"ARCHIVER_REPLICAS"}, Flag: "replicas", Scope: ScopeArchive,
			Usage: "with archive.max_replica_lag: WAL consumers to wait for beyond physical standbys and their slots, by application_name or slot name, comma-separated (logical subscribers, pg_receivewal)",
			field: func(c *Config) any { return &c.Archive.Replicas },
		},
		{
			Key: "archive.max_rows_per_second", Env: []string{"ARCHIVER_MAX_ROWS_PER_SECOND"}, Flag: "max-rows-per-second", Scope: ScopeArchive, kind: kindInt,
			Usage:    "rows removed per second, raw purged plus clean archived and deleted, averaged over the run and smooth (no more than about a second's worth at once: purge batches and each day's DELETE are cut to half a second's worth, inside the day's transaction); 0 for no limit",
			Default:  "0",
			field:    func(c *Config) any { return &c.Archive.MaxRowsPerSecond },
			validate: func(c *Config) error { return between(c.Archive.MaxRowsPerSecond, 0, 1_000_000_000) },
		},
		{
			Key: "archive.max_runtime", Env: []string{"ARCHIVER_MAX_RUNTIME"}, Flag: "max-runtime", Scope: ScopeArchive, kind: kindDuration,
			Usage:    "run-time budget (e.g. 50m; 0 for none): once the run has lasted this long no new day starts, the days in progress finish, and the rest are left pending for the next run (exit 0); keep it below a hard limit such as activeDeadlineSeconds",
			Default:  "0s",
			field:    func(c *Config) any { return &c.Archive.MaxRuntime },
			validate: func(c *Config) error { return durationBetween(c.Archive.MaxRuntime, 0, 7*24*time.Hour) },
		},
		{
			Key: "restore.max_uncompressed_bytes", Env: []string{"ARCHIVER_RESTORE_MAX_BYTES"}, Flag: "max-uncompressed-bytes", Scope: ScopeRestore, kind: kindInt64,
			Usage: "refuse an archive that decompresses to more bytes than this", Default: "4294967296",
			field:    func(c *Config) any { return &c.Restore.MaxUncompressedBytes },
			validate: func(c *Config) error { return between64(c.Restore.MaxUncompressedBytes, 1, 1<<50) },
		},
		{
			Key: "restore.max_readings", Env: []string{"ARCHIVER_RESTORE_MAX_READINGS"}, Flag: "max-readings", Scope: ScopeRestore, kind: kindInt64,
			Usage: "refuse an archive with more readings than this in one day", Default: "50000000",
			field:    func(c *Config) any { return &c.Restore.MaxReadings },
			validate: func(c *Config) error { return between64(c.Restore.MaxReadings, 1, 1<<50) },
		},
		{
			Key: "restore.concurrency", Env: []string{"ARCHIVER_RESTORE_CONCURRENCY"}, Flag: "restore-concurrency", Scope: ScopeLoad, kind: kindInt,
			Usage: "days restored in parallel, each in its own transaction", Default: "2",
			field:    func(c *Config) any { return &c.Restore.Concurrency },
			validate: func(c *Config) error { return between(c.Restore.Concurrency, 1, 64) },
		},
		{
			Key: "restore.on_conflict", Env: []string{"ARCHIVER_RESTORE_ON_CONFLICT"}, Flag: "on-conflict", Scope: ScopeLoad,
			Usage:   "restore into a table with a key on (sensor, time) that already holds a different reading for a key: keep (the table's reading stays), replace (the archived reading overwrites it; the overwritten values are reported) or fail (nothing of the day is imported); every conflict is counted and the first keys named",
			Default: "keep",
			field:   func(c *Config) any { return &c.Restore.OnConflict }, validate: oneOf(func(c *Config) string { return c.Restore.OnConflict }, "keep", "replace", "fail"),
		},
		{
			Key: "status.max_pending_days", Env: []string{"ARCHIVER_STATUS_MAX_PENDING_DAYS"}, Flag: "max-pending-days", Scope: ScopeStatus, kind: kindInt,
			Usage: "status exits 1 when a day has been pending (due, never archived) for more than this many days", Default: "2",
			field:    func(c *Config) any { return &c.Status.MaxPendingDays },
			validate: func(c *Config) error { return between(c.Status.MaxPendingDays, 0, 36500) },
		},
		{
			Key: "dry_run", Env: []string{"ARCHIVER_DRY_RUN"}, Flag: "dry-run", Scope: ScopeWrite, kind: kindBool,
			Usage: "say what would be done; write nothing to the database or storage", Default: "false",
			field: func(c *Config) any { return &c.DryRun },
		},
		{
			Key: "log.level", Env: []string{"ARCHIVER_LOG_LEVEL"}, Flag: "log-level", Scope: ScopeLog,
			Usage: "debug, info, warn or error", Default: "info",
			field: func(c *Config) any { return &c.Log.Level }, validate: oneOf(func(c *Config) string { return c.Log.Level }, "debug", "info", "warn", "error"),
		},
		{
			Key: "log.format", Env: []string{"ARCHIVER_LOG_FORMAT"}, Flag: "log-format", Scope: ScopeLog,
			Usage: "text (readable, with the run summary) or json (one object per line, for log shippers)", Default: "text",
			field: func(c *Config) any { return &c.Log.Format }, validate: oneOf(func(c *Config) string { return c.Log.Format }, "text", "json"),
		},
		{
			Key: "log.no_progress", Env: []string{"ARCHIVER_NO_PROGRESS"}, Flag: "no-progress", Scope: ScopeMetrics, kind: kindBool,
			Usage: "never show the live progress line (it is shown only when stderr is a terminal)", Default: "false",
			field: func(c *Config) any { return &c.Log.NoProgress },
		},
		{
			Key: "metrics.push_url", Env: []string{"ARCHIVER_METRICS_PUSH_URL"}, Flag: "metrics-push-url", Scope: ScopeMetrics,
			Usage: "Prometheus Pushgateway URL to push run metrics to at the end of a run",
			field: func(c *Config) any { return &c.Metrics.PushURL },
		},
		{
			Key: "metrics.file", Env: []string{"ARCHIVER_METRICS_FILE"}, Flag: "metrics-file", Scope: ScopeMetrics,
			Usage: "node_exporter textfile to write run metrics to (written atomically)",
			field: func(c *Config) any { return &c.Metrics.File },
		},
	}
}

// Lookup returns the setting with the given YAML key.
func Lookup(key string) (Setting, bool) {
	for _, s := range Settings() {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

func column(name, usage, def string, f func(c *Config) *string) Setting {
	return Setting{
		Key:   "clean.columns." + name,
		Env:   []string{"ARCHIVER_CLEAN_" + strings.ToUpper(name) + "_COLUMN"},
		Flag:  "clean-" + strings.ReplaceAll(name, "_", "-") + "-column",
		Scope: ScopeTables, Usage: "clean table " + usage, Default: def,
		field:    func(c *Config) any { return f(c) },
		validate: nonEmpty(func(c *Config) string { return *f(c) }),
	}
}

// columnLists checks clean.columns.extra and clean.columns.ignore together:
// no name twice, none in both, none of the five mapped columns.
func columnLists(c *Config) error {
	col := c.Clean.Columns
	mapped := map[string]string{col.Sensor: "sensor", col.Time: "time", col.Value: "value", col.QCFlags: "qc_flags", col.Imputation: "imputation_method"}
	seen := map[string]string{}
	for _, l := range []struct{ key, list string }{{"clean.columns.extra", col.Extra}, {"clean.columns.ignore", col.Ignore}} {
		for _, name := range ColumnList(l.list) {
			if m, ok := mapped[name]; ok {
				return fmt.Errorf("column %q is already mapped (clean.columns.%s); list only columns beyond the five mapped ones", name, m)
			}
			if prev, ok := seen[name]; ok {
				if prev == l.key {
					return fmt.Errorf("column %q is listed twice in %s", name, l.key)
				}
				return fmt.Errorf("column %q is in both clean.columns.extra and clean.columns.ignore; a column is either archived or not", name)
			}
			seen[name] = l.key
		}
	}
	return nil
}

func nonEmpty(get func(*Config) string) func(*Config) error {
	return func(c *Config) error {
		if strings.TrimSpace(get(c)) == "" {
			return errors.New("must not be empty")
		}
		return nil
	}
}

func tableName(get func(*Config) string) func(*Config) error {
	return func(c *Config) error {
		_, err := ParseTable(get(c))
		return err
	}
}

func oneOf(get func(*Config) string, allowed ...string) func(*Config) error {
	return func(c *Config) error {
		v := get(c)
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

func between(v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%d is out of range: must be between %d and %d", v, lo, hi)
	}
	return nil
}

func between64(v, lo, hi int64) error {
	if v < lo || v > hi {
		return fmt.Errorf("%d is out of range: must be between %d and %d", v, lo, hi)
	}
	return nil
}

func durationBetween(d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return fmt.Errorf("%s is out of range: must be between %s and %s", d, lo, hi)
	}
	return nil
}

func positiveDuration(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s must be positive", d)
	}
	return nil
}
