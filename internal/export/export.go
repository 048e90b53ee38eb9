// Package export reads day archives straight from storage and writes their
// readings as CSV, JSON lines or Parquet, without restoring anything into a
// database. It finds the archives through their manifests in archive_runs
// when it has a database, or by listing the archive layout when it has none,
// streams each archive through the archive decoder (constant memory per
// day, whatever the range), checks it against its manifest, and writes rows
// in (day, sensor, time) order.
package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
)

// Exporter holds what an export needs. Build one per run.
type Exporter struct {
	Bucket   *blob.Bucket
	Prefix   string // object key prefix
	Location string // bucket URL without credentials, as recorded in manifests
	Limits   archivefile.Limits
	// ReadStallTimeout abandons a storage read call that makes no progress
	// for this long; 0 means archivestore.DefaultReadStallTimeout.
	ReadStallTimeout time.Duration

	// DB and Manifests find archives through archive_runs; with DB nil the
	// archive layout is listed instead.
	DB        manifest.Querier
	Manifests *manifest.Store
	Schema    string // manifest schema, checked for migrations

	// Types are the column types the database says, by export column name
	// ("measurement" and the extra columns' names); nil without a database.
	Types map[string]ColumnType

	Log      *slog.Logger
	Progress Progress // may be nil
}

// Progress is told how far an export has come (a *progress.Display).
type Progress interface {
	Start(total int, unit string)
	Add(done int, readings, bytes int64)
	Finish()
}

// Options select what Run exports.
type Options struct {
	From, To measure.Day // inclusive, both required
	Sensors  []string    // only these sensors (exact names); empty: all
}

// Archive is one day's archive object to export.
type Archive struct {
	Day      measure.Day
	Key      string
	Manifest *manifest.Entry // nil when found by listing (no database, or no manifest)
}

// DayResult is what happened to one day.
type DayResult struct {
	Day        measure.Day
	Key        string
	ManifestID int64
	Readings   int64 // readings in the archive
	Exported   int64 // rows written (after the sensor filter)
	Bytes      int64 // compressed bytes read
	SHA256     string
	Err        error
}

// Summary is the outcome of a run.
type Summary struct {
	Started, Finished time.Time
	Days              []DayResult
	Exported          int64
	Failed            int
	Unverified        bool // archives were found by listing: no manifest to check them against
}

var (
	// ErrDaysFailed is returned (wrapped) when some days could not be exported.
	ErrDaysFailed = errors.New("some days failed")
	// ErrChecksum: an archive differs from what its manifest recorded.
	ErrChecksum = errors.New("archive does not match its manifest")
	// ErrNoArchives: the range holds no archived day.
	ErrNoArchives = errors.New("no archived day in the range")
	// ErrNoSensorReadings: none of the --sensor names has a reading in the
	// range's archives (names are exact: a typo or the wrong case).
	ErrNoSensorReadings = errors.New("no reading of the requested sensors")
)

// Plan lists the archives of the days in [from, to], ascending.
func (x *Exporter) Plan(ctx context.Context, from, to measure.Day) ([]Archive, error) {
	objects, err := x.list(ctx, from, to)
	if err != nil {
		return nil, err
	}
	if x.DB == nil {
		x.Log.Warn(fmt.Sprintf("no database configured: archives are found by listing %s (prefix %q); without archive_runs, export cannot tell a committed archive from an upload still in progress, and has no manifest to check them against (only their own gzip checksum and structure); configure the database (--database-url) to export committed archives only",
			x.Location, x.Prefix))
		out := make([]Archive, 0, len(objects))
		for d, key := range objects {
			out = append(out, Archive{Day: d, Key: key})
		}
		slices.SortFunc(out, func(a, b Archive) int { return a.Day.Compare(b.Day) })
		return out, nil
	}
	if err := manifest.CheckMigrated(ctx, x.DB, x.Schema); err != nil {
		return nil, err
	}
	ft, tt := from.Start(), to.Start()
	entries, err := x.Manifests.List(ctx, x.DB, manifest.Filter{
		Kinds: []string{manifest.KindArchive, manifest.KindAdopt}, Status: manifest.StatusCommitted,
		Location: x.Location, From: &ft, To: &tt,
	})
	if err != nil {
		return nil, err
	}
	byDay := map[measure.Day]*manifest.Entry{}
	for i := range entries { // oldest first: the latest per day wins
		e := &entries[i]
		if d, ok := archivestore.ParseKey(x.Prefix, e.ObjectKey); ok && !d.Before(from) && !d.After(to) {
			byDay[d] = e
		}
	}
	out := make([]Archive, 0, len(byDay))
	for d, e := range byDay {
		out = append(out, Archive{Day: d, Key: e.ObjectKey, Manifest: e})
	}
	slices.SortFunc(out, func(a, b Archive) int { return a.Day.Compare(b.Day) })
	var unknown []string
	for d, key := range objects {
		if byDay[d] == nil {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		x.Log.Warn(fmt.Sprintf("%d archive objects in the range have no committed manifest in archive_runs and are not exported (an upload in progress, or an archive of the original service): %s; `archiver verify` tells which, and `archiver verify --adopt` records manifests for genuine ones",
			len(unknown), strings.Join(first(unknown, 5), ", ")))
	}
	return out, nil
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(slices.Clone(s[:n]), fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}

// list returns the day archive objects under the prefix with days in range.
// A range of a few years is listed month by month (the layout's
// <prefix>/YYYY/MM/ directories), so a short export of a large bucket does
// not page through every archive; longer ranges list the whole prefix.
func (x *Exporter) list(ctx context.Context, from, to measure.Day) (map[measure.Day]string, error) {
	prefix := archivestore.KeyPrefix(x.Prefix)
	prefixes := []string{prefix}
	if months := monthPrefixes(x.Prefix, from, to); len(months) <= 36 {
		prefixes = months
	}
	out := map[measure.Day]string{}
	for _, p := range prefixes {
		it := x.Bucket.List(&blob.ListOptions{Prefix: p})
		for {
			obj, err := it.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("list archives under %q: %w", p, err)
			}
			if d, ok := archivestore.ParseKey(x.Prefix, obj.Key); ok && !d.Before(from) && !d.After(to) {
				out[d] = obj.Key
			}
		}
	}
	return out, nil
}

// monthPrefixes are the <prefix>/YYYY/MM/ directories of the months from
// from to to.
func monthPrefixes(prefix string, from, to measure.Day) []string {
	var out []string
	for t := time.Date(from.Start().Year(), from.Start().Month(), 1, 0, 0, 0, 0, time.UTC); !t.After(to.Start()); t = t.AddDate(0, 1, 0) {
		key := archivestore.Key(prefix, measure.DayOf(t))
		out = append(out, key[:strings.LastIndexByte(key, '/')+1])
		if len(out) > 36 {
			break
		}
	}
	return out
}

// Run exports the planned archives to out. A day that cannot be exported
// stops a single-stream or single-file export (which then leaves no file);
// with one file per day the other days go on. It returns a summary even on
// error.
func (x *Exporter) Run(ctx context.Context, plan []Archive, opts Options, out Output) (s Summary, err error) {
	s = Summary{Started: time.Now().UTC()}
	defer func() { s.Finished = time.Now().UTC() }()
	var sensors *sensorFilter
	if len(opts.Sensors) > 0 {
		sensors = newSensorFilter(opts.Sensors)
	}
	out.setTypes(x.Types)
	if x.Progress != nil {
		x.Progress.Start(len(plan), "days")
		defer x.Progress.Finish()
	}
	var failed []DayResult
	for _, a := range plan {
		if err := ctx.Err(); err != nil {
			break
		}
		if a.Manifest == nil {
			s.Unverified = true
		}
		res := x.exportDay(ctx, a, sensors, out)
		if x.Progress != nil {
			x.Progress.Add(1, res.Exported, res.Bytes)
		}
		s.Days = append(s.Days, res)
		if res.Err != nil {
			s.Failed++
			failed = append(failed, res)
			x.Log.Error("day not exported", "day", res.Day.String(), "key", res.Key, "err", res.Err)
			if !out.perDay() {
				break
			}
			continue
		}
		s.Exported += res.Exported
		x.Log.Info(fmt.Sprintf("Exported %s: %d of %d readings", res.Day, res.Exported, res.Readings),
			"key", res.Key, "manifest_id", res.ManifestID, "sha256", res.SHA256, "bytes", res.Bytes)
	}
	if cerr := ctx.Err(); cerr != nil && err == nil {
		err = fmt.Errorf("export interrupted: %w", cerr)
	}
	if err == nil && len(failed) > 0 {
		what := "nothing was written to " + out.String()
		switch {
		case out.perDay():
			what = fmt.Sprintf("no file was written for them; the other %d days are in %s", len(plan)-len(failed), out)
		case !out.discards():
			what = "the output is INCOMPLETE and must not be used"
		}
		more := ""
		if len(failed) > 1 {
			more = fmt.Sprintf(" (and %d more days, see above)", len(failed)-1)
		}
		err = fmt.Errorf("%w: %d of %d days could not be exported (%s): %s: %v%s",
			ErrDaysFailed, len(failed), len(plan), what, failed[0].Day, failed[0].Err, more)
	}
	if err == nil && sensors != nil && len(s.Days) > 0 {
		err = sensors.check(x.Log, plan[0].Day, s.Days[len(s.Days)-1].Day)
	}
	if cerr := out.close(err); cerr != nil && err == nil {
		err = cerr
	}
	return s, err
}

// exportDay writes one day's readings to out.
func (x *Exporter) exportDay(ctx context.Context, a Archive, sensors *sensorFilter, out Output) (res DayResult) {
	res = DayResult{Day: a.Day, Key: a.Key}
	if a.Manifest != nil {
		res.ManifestID = a.Manifest.ID
	}
	if a.Manifest != nil {
		a.Key = x.committedKey(ctx, a)
		res.Key = a.Key
	}
	var src measure.Source
	var ar *archivefile.Reader
	canonical := a.Manifest != nil // archive runs and adoption write canonical archives only
	scanned := ""
	if !canonical {
		// Without a manifest, read the whole object once first: it proves
		// it decodes before any row is written, and says whether it is in
		// canonical order (the original service's are not).
		st, ok, err := x.scan(ctx, a)
		if err != nil {
			res.Err = err
			return res
		}
		canonical = ok
		res.Bytes = st.Bytes
		scanned = st.SHA256
	}
	ar, closeObj, err := x.open(ctx, a)
	if err != nil {
		res.Err = err
		return res
	}
	defer closeObj()
	src = ar
	if !canonical {
		// Sorting needs the day in memory, bounded by restore.max_readings
		// as when archive runs merge with such an archive.
		if src, err = archivefile.SortedSource(ar, x.Limits.MaxReadings); err != nil {
			res.Err = x.decodeErr(a.Key, err)
			return res
		}
	}
	rw, err := out.begin(a.Day)
	if err != nil {
		res.Err = err
		return res
	}
	err = x.copyDay(a, src, ar, canonical, sensors, rw, &res)
	if err == nil {
		st := ar.Stats()
		res.Readings, res.SHA256 = st.Readings, st.SHA256
		res.Bytes += st.Bytes
		err = x.check(a, st)
		if err == nil && scanned != "" && scanned != st.SHA256 {
			err = fmt.Errorf("archive %s changed while it was being exported (sha256 %s, then %s): export again: %w", a.Key, scanned, st.SHA256, ErrChecksum)
		}
	}
	if eerr := out.end(a.Day, err); eerr != nil && err == nil {
		err = eerr
	}
	res.Err = err
	if err != nil {
		res.Exported = 0
	}
	return res
}

func (x *Exporter) copyDay(a Archive, src measure.Source, ar *archivefile.Reader, canonical bool, sensors *sensorFilter, rw rowWriter, res *DayResult) error {
	var other int64
	example := ""
	for {
		r, err := src.Next()
		if errors.Is(err, io.EOF) {
			if other > 0 {
				// As restore does: said, not silently dropped.
				x.Log.Warn(fmt.Sprintf("%d readings of %s hold fields the archive format does not define (written by another tool, e.g. %s); they are not exported and stay in the archive", other, a.Key, example))
			}
			return nil
		}
		if err != nil {
			return x.decodeErr(a.Key, err)
		}
		if canonical && !ar.Canonical() {
			return fmt.Errorf("archive %s is not in canonical order (sensor %q, time %s sorts before the reading before it), though its manifest or a first read said it was: the object changed: %w",
				a.Key, r.Sensor, r.Time.Format(time.RFC3339Nano), archivefile.ErrCorrupt)
		}
		if sensors != nil && !sensors.keep(r.Sensor) {
			continue
		}
		if r.Other != "" {
			if other == 0 {
				example = r.Other
				if len(example) > 80 {
					example = example[:80] + "..."
				}
			}
			other++
		}
		if err := rw.write(a.Day, r); err != nil {
			return fmt.Errorf("%s: %w", a.Day, err)
		}
		res.Exported++
	}
}

// committedKey is where the committed archive of a is: its key, or, while
// an archive run replaces it (the object at the key has another size than
// the manifest records, and the copy the run keeps at BackupKey has the
// recorded one), that copy. The checks against the manifest decide in the
// end; this only spares exporting an upload in progress.
func (x *Exporter) committedKey(ctx context.Context, a Archive) string {
	m := a.Manifest
	if m.Bytes == nil {
		return a.Key
	}
	if attrs, err := x.Bucket.Attributes(ctx, a.Key); err == nil && attrs.Size == *m.Bytes {
		return a.Key
	}
	backup := archivestore.BackupKey(a.Key)
	if attrs, err := x.Bucket.Attributes(ctx, backup); err == nil && attrs.Size == *m.Bytes {
		x.Log.Info(fmt.Sprintf("%s is being replaced by an archive run (or one stopped before committing): exporting the committed archive from %s", a.Key, backup),
			"manifest_id", m.ID)
		return backup
	}
	return a.Key
}

// scan reads a whole object, checking it and its order.
func (x *Exporter) scan(ctx context.Context, a Archive) (archivefile.Stats, bool, error) {
	ar, closeObj, err := x.open(ctx, a)
	if err != nil {
		return archivefile.Stats{}, false, err
	}
	defer closeObj()
	for {
		_, err := ar.Next()
		if errors.Is(err, io.EOF) {
			return ar.Stats(), ar.Canonical(), nil
		}
		if err != nil {
			return ar.Stats(), false, x.decodeErr(a.Key, err)
		}
	}
}

func (x *Exporter) open(ctx context.Context, a Archive) (*archivefile.Reader, func(), error) {
	o, err := x.store().OpenDay(ctx, a.Key, a.Day, a.Manifest, cannotRead)
	if err != nil {
		return nil, nil, err
	}
	return o.Reader, func() { o.Close() }, nil
}

const cannotRead = "cannot be read"

func (x *Exporter) decodeErr(key string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return x.store().DecodeError(key, err, cannotRead)
}

// check compares a fully read archive with its manifest.
func (x *Exporter) check(a Archive, st archivefile.Stats) error {
	m := a.Manifest
	if m == nil {
		return nil
	}
	var diffs []string
	if st.SHA256 != m.SHA256 {
		diffs = append(diffs, fmt.Sprintf("sha256 %s, manifest #%d recorded %s", st.SHA256, m.ID, m.SHA256))
	}
	if m.Readings != nil && st.Readings != *m.Readings {
		diffs = append(diffs, fmt.Sprintf("%d readings, manifest #%d recorded %d", st.Readings, m.ID, *m.Readings))
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("archive %s: %s: %w. If `archiver verify --deep` reports the day as pending, an archive run stopped between upload and commit: run `archiver archive` to complete it, then export again; otherwise the object was changed or damaged",
		a.Key, strings.Join(diffs, "; "), ErrChecksum)
}

// store is the one path to the archive objects.
func (x *Exporter) store() *archivestore.Store {
	return &archivestore.Store{Bucket: x.Bucket, Limits: x.Limits, ReadStallTimeout: x.ReadStallTimeout}
}

// sensorFilter is --sensor: exact names, and what was seen of them, so
// that a name with no reading (a typo, the wrong case) is said rather than
// exported as nothing.
type sensorFilter struct {
	want map[string]bool // name -> seen
	near map[string]string
}

func newSensorFilter(names []string) *sensorFilter {
	f := &sensorFilter{want: map[string]bool{}, near: map[string]string{}}
	for _, n := range names {
		f.want[n] = false
	}
	return f
}

// keep reports whether a reading of sensor is exported.
func (f *sensorFilter) keep(sensor string) bool {
	seen, ok := f.want[sensor]
	if ok {
		if !seen {
			f.want[sensor] = true
		}
		return true
	}
	if len(f.near) < len(f.want) {
		for n, seen := range f.want {
			if !seen && f.near[n] == "" && strings.EqualFold(n, sensor) {
				f.near[n] = sensor
			}
		}
	}
	return false
}

// check says which requested sensors had no reading in [from, to]: an
// error when none had, else a warning.
func (f *sensorFilter) check(log *slog.Logger, from, to measure.Day) error {
	var missing []string
	for n, seen := range f.want {
		if seen {
			continue
		}
		m := fmt.Sprintf("%q", n)
		if near := f.near[n]; near != "" {
			m += fmt.Sprintf(" (did you mean %q?)", near)
		}
		missing = append(missing, m)
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	msg := fmt.Sprintf("no reading of sensor %s in the archives of %s to %s (sensor names are exact and case-sensitive)", strings.Join(missing, ", "), from, to)
	if len(missing) == len(f.want) {
		return fmt.Errorf("%w: %s; nothing was exported", ErrNoSensorReadings, msg)
	}
	log.Warn(msg)
	return nil
}
