// Package config holds the archiver's settings and how they are layered:
// compiled-in defaults < YAML file (--config) < environment < flags.
//
// Every setting is described once, in the settings table (settings.go), with
// its YAML key, environment variables and flag; flags, --help, the YAML
// loader and config.example.yaml are all checked against that one table, so
// they cannot drift apart.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration of one archiver invocation.
type Config struct {
	Database DatabaseConfig `yaml:"database"`
	Storage  StorageConfig  `yaml:"storage"`
	Raw      RawConfig      `yaml:"raw"`
	Clean    CleanConfig    `yaml:"clean"`
	Archive  ArchiveConfig  `yaml:"archive"`
	Restore  RestoreConfig  `yaml:"restore"`
	Status   StatusConfig   `yaml:"status"`
	Log      LogConfig      `yaml:"log"`
	Metrics  MetricsConfig  `yaml:"metrics"`
	DryRun   bool           `yaml:"dry_run"`
}

// DatabaseConfig says where PostgreSQL is and where the archiver keeps its
// own table.
type DatabaseConfig struct {
	URL            string        `yaml:"url"`
	ManifestSchema string        `yaml:"manifest_schema"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	LockTimeout    time.Duration `yaml:"lock_timeout"`
}

// StorageConfig says where archives go.
type StorageConfig struct {
	Bucket string `yaml:"bucket"`
	Prefix string `yaml:"prefix"`
}

// RawConfig describes the raw measurements table, which is purged, never
// archived.
type RawConfig struct {
	Table         string `yaml:"table"`
	TimeColumn    string `yaml:"time_column"`
	RetentionDays int    `yaml:"retention_days"`
	BatchSize     int    `yaml:"batch_size"`
	RequireClean  bool   `yaml:"require_clean"`
	SensorColumn  string `yaml:"sensor_column"`
}

// CleanConfig describes the clean measurements table, which is archived.
type CleanConfig struct {
	Table         string  `yaml:"table"`
	RetentionDays int     `yaml:"retention_days"`
	Columns       Columns `yaml:"columns"`
}

// Columns names the clean table's columns that map to the archive fields.
type Columns struct {
	Sensor     string `yaml:"sensor"`
	Time       string `yaml:"time"`
	Value      string `yaml:"value"`
	QCFlags    string `yaml:"qc_flags"`
	Imputation string `yaml:"imputation_method"`
	// Extra and Ignore are comma-separated column names: columns beyond
	// the five mapped ones that are archived with every reading, and
	// columns deliberately not archived (see ColumnList).
	Extra  string `yaml:"extra"`
	Ignore string `yaml:"ignore"`
}

// ColumnList splits a comma-separated list of column names (Extra,
// Ignore), trimming spaces around each.
func ColumnList(s string) []string {
	var out []string
	for _, c := range strings.Split(s, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// ArchiveConfig tunes the archive run.
type ArchiveConfig struct {
	Concurrency      int           `yaml:"concurrency"`
	GzipLevel        int           `yaml:"gzip_level"`
	DropPartitions   bool          `yaml:"drop_partitions"`
	MaxRuntime       time.Duration `yaml:"max_runtime"`
	Shard            string        `yaml:"shard"`
	ShardCount       int           `yaml:"shard_count"`
	MaxReplicaLag    time.Duration `yaml:"max_replica_lag"`
	Replicas         string        `yaml:"replicas"`
	MaxRowsPerSecond int           `yaml:"max_rows_per_second"`
}

// RestoreConfig bounds what a restore will accept from storage, so that a
// corrupt or hostile object cannot exhaust memory or disk.
type RestoreConfig struct {
	MaxUncompressedBytes int64  `yaml:"max_uncompressed_bytes"`
	MaxReadings          int64  `yaml:"max_readings"`
	OnConflict           string `yaml:"on_conflict"`
	Concurrency          int    `yaml:"concurrency"`
}

// StatusConfig tunes when `archiver status` fails as a check.
type StatusConfig struct {
	MaxPendingDays int `yaml:"max_pending_days"`
}

// LogConfig selects log verbosity and shape.
type LogConfig struct {
	Level      string `yaml:"level"`
	Format     string `yaml:"format"`
	NoProgress bool   `yaml:"no_progress"`
}

// MetricsConfig says where run metrics go, if anywhere.
type MetricsConfig struct {
	PushURL string `yaml:"push_url"`
	File    string `yaml:"file"`
}

// Default returns the configuration with every default applied. The defaults
// of settings the original service had are the original's.
func Default() Config {
	var c Config
	for _, s := range Settings() {
		if s.Default == "" {
			continue
		}
		if err := s.set(&c, s.Default); err != nil {
			panic(fmt.Sprintf("config: bad default for %s: %v", s.Key, err))
		}
	}
	return c
}

// LoadFile applies a YAML file over c. Unknown keys are errors: a misspelt
// setting that silently falls back to its default is how data gets archived
// (and deleted) with the wrong retention. Every value must also read the way
// the same text would from the environment (yaml.v3 alone turns
// "retention_days: 10.5" into 10 and "connect_timeout: 15" into 15ns), and
// the file holds one YAML document: a second one would be ignored.
func LoadFile(c *Config, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config file: %w", err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is a valid, empty configuration
		}
		return fmt.Errorf("config file %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("config file %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if len(next.Content) > 0 && next.Content[0].Tag != "!!null" { // a trailing "---" is harmless
			return fmt.Errorf("config file %s holds a second YAML document (line %d, after \"---\"), which would be ignored: put every setting in one document", path, next.Line)
		}
	}
	if err := checkScalars(&doc); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(c); err != nil {
		return fmt.Errorf("config file %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// checkScalars parses every setting present in the YAML document with the
// setter the environment uses, so that a value YAML would coerce (a float
// into a whole number, a bare number into a duration) is refused, naming
// the setting.
func checkScalars(doc *yaml.Node) error {
	var errs []error
	for _, s := range Settings() {
		n := lookupNode(doc, strings.Split(s.Key, "."))
		if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			continue
		}
		scratch := Default()
		if err := s.set(&scratch, n.Value); err != nil {
			errs = append(errs, &SettingError{Setting: s, Err: fmt.Errorf("line %d: %w", n.Line, err)})
		}
	}
	return errors.Join(errs...)
}

// lookupNode follows path through the document's mappings; nil if a part
// is missing.
func lookupNode(n *yaml.Node, path []string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

// Validate checks every setting and names the first bad one together with
// how to set it.
func (c *Config) Validate() error {
	var errs []error
	for _, s := range Settings() {
		if s.validate == nil {
			continue
		}
		if err := s.validate(c); err != nil {
			errs = append(errs, &SettingError{Setting: s, Err: err})
		}
	}
	return errors.Join(errs...)
}

// SettingError is a configuration problem with one setting. Its message names
// the YAML key, the environment variable and the flag, so that the operator
// can find where the bad value came from.
type SettingError struct {
	Setting Setting
	Err     error
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("invalid setting %s: %v (set with %s)", e.Setting.Key, e.Err, e.Setting.Sources())
}

func (e *SettingError) Unwrap() error { return e.Err }

// EnvJobCompletionIndex is where Kubernetes tells the pod of an Indexed Job
// its index; with archive.shard_count alone it is the shard index.
const EnvJobCompletionIndex = "JOB_COMPLETION_INDEX"

// ShardSpec returns this worker's shard, INDEX of COUNT (0 of 1 when
// unsharded), from archive.shard ("INDEX/COUNT") or from
// archive.shard_count with the index in JOB_COMPLETION_INDEX.
func (a ArchiveConfig) ShardSpec() (index, count int, err error) {
	if strings.TrimSpace(a.Shard) != "" {
		i, c, ok := strings.Cut(strings.TrimSpace(a.Shard), "/")
		index, err1 := strconv.Atoi(strings.TrimSpace(i))
		count, err2 := strconv.Atoi(strings.TrimSpace(c))
		if !ok || err1 != nil || err2 != nil {
			return 0, 0, fmt.Errorf("%q is not INDEX/COUNT (e.g. 0/4)", a.Shard)
		}
		if count < 1 || count > 1024 || index < 0 || index >= count {
			return 0, 0, fmt.Errorf("%q: COUNT must be 1 to 1024 and INDEX 0 to COUNT-1", a.Shard)
		}
		if a.ShardCount != 0 && a.ShardCount != count {
			return 0, 0, fmt.Errorf("%q disagrees with archive.shard_count %d; set one of them", a.Shard, a.ShardCount)
		}
		return index, count, nil
	}
	if a.ShardCount == 0 {
		return 0, 1, nil
	}
	if a.ShardCount < 1 || a.ShardCount > 1024 {
		return 0, 0, fmt.Errorf("archive.shard_count %d must be 1 to 1024", a.ShardCount)
	}
	v, ok := os.LookupEnv(EnvJobCompletionIndex)
	if !ok {
		return 0, 0, fmt.Errorf("archive.shard_count is %d but %s is not set: run as a Kubernetes Indexed Job, or give the index with --shard INDEX/%d (ARCHIVER_SHARD)",
			a.ShardCount, EnvJobCompletionIndex, a.ShardCount)
	}
	index, err = strconv.Atoi(strings.TrimSpace(v))
	if err != nil || index < 0 || index >= a.ShardCount {
		return 0, 0, fmt.Errorf("%s=%q is not an index from 0 to %d (archive.shard_count %d): does the Job's completions match ARCHIVER_SHARD_COUNT?",
			EnvJobCompletionIndex, v, a.ShardCount-1, a.ShardCount)
	}
	return index, a.ShardCount, nil
}
