// Package verify checks that the archive objects in storage are what the
// manifests in archive_runs say they are, finds objects no manifest knows
// (orphans, such as the original service's archives), and can adopt
// orphans by recording manifests for them after validating them. It is
// what an operator runs regularly to trust the archive.
package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/logging"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/postgres"
)

// Verifier holds what a verification needs. Build one per run.
type Verifier struct {
	Pool      *pgxpool.Pool
	Bucket    *blob.Bucket
	Clean     postgres.CleanTable // the archived table: tells pending merges apart, and its day locks guard adoption
	Manifests *manifest.Store
	Schema    string // manifest schema, checked for migrations
	Location  string // bucket URL without credentials, as recorded in manifests
	Prefix    string // object key prefix
	Limits    archivefile.Limits
	GzipLevel int // for rewriting an adopted archive in canonical order: the archive.gzip_level setting
	// ReadStallTimeout abandons a storage read call that makes no progress
	// for this long; 0 means archivestore.DefaultReadStallTimeout.
	ReadStallTimeout time.Duration
	Log              *slog.Logger
}

// Options select what Run checks.
type Options struct {
	From, To measure.Day // inclusive; a zero bound is open
	// Deep downloads every object and checks sha256, reading count, day
	// and time bounds; without it only existence and size are checked.
	Deep bool
	// Adopt validates each orphan deeply and records an 'adopt' manifest
	// for it, so that archive runs merge with it as with their own.
	Adopt bool
}

// Status is the verdict on one object.
type Status string

const (
	StatusOK      Status = "ok"
	StatusMissing Status = "missing" // a committed manifest's object is gone (error)
	StatusCorrupt Status = "corrupt" // the object is not what its manifest says, or unreadable (error)
	StatusPending Status = "pending" // a verified superset awaiting an archive run's commit (warning)
	StatusOrphan  Status = "orphan"  // an archive object no manifest knows (warning)
	StatusStray   Status = "stray"   // an object under the prefix that is not a day archive key (warning)
	StatusAdopted Status = "adopted" // an orphan validated and recorded by --adopt (info)
	StatusSkipped Status = "skipped" // not adopted this time, see the message (warning)
)

// Severity of a status.
func (s Status) Severity() string {
	switch s {
	case StatusMissing, StatusCorrupt:
		return "error"
	case StatusOK, StatusAdopted:
		return "info"
	}
	return "warning"
}

// Finding is what verify has to say about one object.
type Finding struct {
	Day        measure.Day
	Key        string
	Status     Status
	ManifestID int64 // the committed manifest checked (or recorded, for adopted); 0 if none
	Readings   int64 // readings found in the object (deep checks only)
	Message    string
}

// Report is the outcome of a run.
type Report struct {
	RunID     string
	Started   time.Time
	Finished  time.Time
	Options   Options
	Manifests int // committed manifests checked (latest per object)
	Objects   int // objects listed under the prefix
	Counts    map[Status]int
	Findings  []Finding // everything but StatusOK, in day order
	// Elsewhere lists where archive_runs has committed archives when it
	// has none at this location (a changed bucket URL, token or account):
	// an error, since nothing could be verified.
	Elsewhere []manifest.LocationCount
}

// Failed reports whether the report holds errors: a missing or corrupt
// object. Orphans fail only when strict is set.
func (r Report) Failed(strict bool) bool {
	if r.Counts[StatusMissing]+r.Counts[StatusCorrupt] > 0 || len(r.Elsewhere) > 0 {
		return true
	}
	return strict && r.Counts[StatusOrphan]+r.Counts[StatusStray]+r.Counts[StatusSkipped] > 0
}

// Run verifies the archive. It returns an error only when it cannot do
// its job (database, storage, migrations); what it finds is in the report.
func (v *Verifier) Run(ctx context.Context, opts Options) (rep Report, err error) {
	rep = Report{RunID: manifest.NewRunID(), Started: time.Now().UTC(), Options: opts, Counts: map[Status]int{}}
	defer func() {
		rep.Finished = time.Now().UTC()
		rep.sortFindings()
	}()
	log := v.Log.With(logging.Context("run_id", rep.RunID))
	if err := manifest.CheckMigrated(ctx, v.Pool, v.Schema); err != nil {
		return rep, err
	}
	if err := v.Clean.Inspect(ctx, v.Pool); err != nil {
		if opts.Adopt {
			return rep, err
		}
		// Only needed to tell a pending merge from corruption; the check of
		// the archive itself goes on.
		log.Warn("cannot read the clean table; objects awaiting an archive run may be reported as corrupt or orphaned", "err", err)
	}

	f := manifest.Filter{Location: v.Location}.Days(opts.From.Start(), opts.To.Start())
	committed, failed, err := v.manifests(ctx, f)
	if err != nil {
		return rep, err
	}
	objects, err := v.list(ctx)
	if err != nil {
		return rep, err
	}
	rep.Objects = len(objects)

	// Every committed manifest: the object must be there and match.
	for _, m := range committed {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rep.Manifests++
		size, listed := objects[m.ObjectKey]
		rep.add(ctx, log, v.checkManifest(ctx, m, size, listed, failed[m.ObjectKey], opts.Deep))
	}

	// Every object no committed manifest knows.
	for _, key := range slices.Sorted(maps.Keys(objects)) {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if _, known := committed[key]; known {
			continue
		}
		if fd, ok := v.checkUnknown(ctx, log, rep.RunID, key, opts); ok {
			rep.add(ctx, log, fd)
		}
	}
	if rep.Manifests == 0 {
		if rep.Elsewhere, err = v.elsewhere(ctx); err != nil {
			return rep, err
		}
	}
	log.Info("verify finished", "manifests", rep.Manifests, "objects", rep.Objects, "ok", rep.Counts[StatusOK],
		"missing", rep.Counts[StatusMissing], "corrupt", rep.Counts[StatusCorrupt], "pending", rep.Counts[StatusPending],
		"orphans", rep.Counts[StatusOrphan], "adopted", rep.Counts[StatusAdopted])
	return rep, nil
}

// add counts a finding and, unless it is OK, keeps and logs it at its
// severity.
func (rep *Report) add(ctx context.Context, log *slog.Logger, fd Finding) {
	rep.Counts[fd.Status]++
	if fd.Status == StatusOK {
		return
	}
	rep.Findings = append(rep.Findings, fd)
	lvl := slog.LevelWarn
	switch fd.Status.Severity() {
	case "error":
		lvl = slog.LevelError
	case "info":
		lvl = slog.LevelInfo
	}
	log.Log(ctx, lvl, fd.Message, "status", string(fd.Status), "key", fd.Key, "day", fd.Day.String())
}

// sortFindings orders the findings by day, then key.
func (rep *Report) sortFindings() {
	slices.SortStableFunc(rep.Findings, func(a, b Finding) int {
		if c := a.Day.Compare(b.Day); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
}

// checkUnknown says what an object no committed manifest knows is: the
// backup of a day being replaced, a stray key, or an orphan (checkOrphan);
// ok is false for an object outside the days asked for.
func (v *Verifier) checkUnknown(ctx context.Context, log *slog.Logger, runID, key string, opts Options) (fd Finding, ok bool) {
	inRange := func(d measure.Day) bool {
		return (opts.From.IsZero() || !d.Before(opts.From)) && (opts.To.IsZero() || !opts.To.Before(d))
	}
	d, isDay := archivestore.ParseKey(v.Prefix, key)
	if of, isBackup := archivestore.BackupOf(key); !isDay && isBackup {
		if bd, ok := archivestore.ParseKey(v.Prefix, of); ok && inRange(bd) {
			return Finding{Day: bd, Key: key, Status: StatusPending, Message: fmt.Sprintf(
				"%s is the copy of %s that an archive run keeps while it replaces it: the run stopped before committing; the next archive run of %s merges with it and removes it", key, of, bd)}, true
		}
	}
	if !isDay {
		if opts.From.IsZero() && opts.To.IsZero() {
			return Finding{Key: key, Status: StatusStray, Message: fmt.Sprintf(
				"%s is under the archive prefix %q but is not a day archive key (<prefix>/YYYY/MM/archive-YYYY-MM-DD.json.gz); archiver ignores it", key, v.Prefix)}, true
		}
		return Finding{}, false
	}
	if !inRange(d) {
		return Finding{}, false
	}
	return v.checkOrphan(ctx, log, runID, d, key, opts), true
}

// elsewhere lists the locations that hold committed archives when this
// one holds none: a bucket URL spelled or pointed differently.
func (v *Verifier) elsewhere(ctx context.Context) ([]manifest.LocationCount, error) {
	locs, err := v.Manifests.CommittedLocations(ctx, v.Pool)
	if err != nil {
		return nil, err
	}
	if len(locs) > 0 && !slices.ContainsFunc(locs, func(l manifest.LocationCount) bool { return l.Location == v.Location }) {
		return locs, nil
	}
	return nil, nil
}

// manifests returns the latest committed archive/adopt manifest per object
// key, and the failed archive rows per key.
func (v *Verifier) manifests(ctx context.Context, f manifest.Filter) (map[string]*manifest.Entry, map[string][]manifest.Entry, error) {
	f.Kinds, f.Status = []string{manifest.KindArchive, manifest.KindAdopt}, manifest.StatusCommitted
	entries, err := v.Manifests.List(ctx, v.Pool, f)
	if err != nil {
		return nil, nil, err
	}
	committed := map[string]*manifest.Entry{}
	for i := range entries { // oldest first: the last one per key wins
		committed[entries[i].ObjectKey] = &entries[i]
	}
	f.Kinds, f.Status = []string{manifest.KindArchive}, manifest.StatusFailed
	entries, err = v.Manifests.List(ctx, v.Pool, f)
	if err != nil {
		return nil, nil, err
	}
	failed := map[string][]manifest.Entry{}
	for _, e := range entries {
		failed[e.ObjectKey] = append(failed[e.ObjectKey], e)
	}
	return committed, failed, nil
}

// list returns the objects under the prefix with their sizes.
func (v *Verifier) list(ctx context.Context) (map[string]int64, error) {
	prefix := archivestore.KeyPrefix(v.Prefix)
	out := map[string]int64{}
	it := v.Bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list objects under %q: %w", prefix, err)
		}
		if !obj.IsDir {
			out[obj.Key] = obj.Size
		}
	}
}

func describe(m *manifest.Entry) string {
	return fmt.Sprintf("manifest #%d (%s run %s, %s)", m.ID, m.Kind, m.RunID, m.FinishedAt.UTC().Format(time.RFC3339))
}

// checkManifest checks one committed manifest against its object.
func (v *Verifier) checkManifest(ctx context.Context, m *manifest.Entry, size int64, found bool, failed []manifest.Entry, deep bool) Finding {
	d, _ := archivestore.ParseKey(v.Prefix, m.ObjectKey)
	if m.Day != nil {
		d = measure.DayOf(*m.Day)
	}
	fd := Finding{Day: d, Key: m.ObjectKey, ManifestID: m.ID, Status: StatusOK}
	if !found {
		// Not in the listing: ask the object itself before calling it gone.
		attrs, err := v.Bucket.Attributes(ctx, m.ObjectKey)
		switch {
		case err == nil:
			size, found = attrs.Size, true
		case gcerrors.Code(err) != gcerrors.NotFound:
			fd.Status, fd.Message = StatusCorrupt, fmt.Sprintf("%s recorded by %s cannot be checked: %v", m.ObjectKey, describe(m), err)
			return fd
		}
	}
	if !found {
		fd.Status = StatusMissing
		fd.Message = fmt.Sprintf("%s recorded by %s (%d readings, sha256 %s) is missing from storage", m.ObjectKey, describe(m), manifest.Count(m.Readings), manifest.ShortSHA(m.SHA256))
		return fd
	}
	if !deep && m.Bytes != nil && size == *m.Bytes {
		return fd
	}
	if m.Bytes != nil && size != *m.Bytes {
		v.Log.Debug("size differs from the manifest; reading the object to tell a pending merge from corruption", "key", m.ObjectKey)
	}
	return v.deepCheck(ctx, fd, d, m, size, failed)
}

// deepCheck downloads the object and compares it with its manifest.
func (v *Verifier) deepCheck(ctx context.Context, fd Finding, d measure.Day, m *manifest.Entry, size int64, failed []manifest.Entry) Finding {
	st, _, day, err := v.read(ctx, m.ObjectKey)
	fd.Readings = st.Readings
	if err != nil {
		fd.Status, fd.Message = StatusCorrupt, fmt.Sprintf("%s recorded by %s cannot be read: %v", m.ObjectKey, describe(m), err)
		return fd
	}
	if day != d {
		fd.Status, fd.Message = StatusCorrupt, fmt.Sprintf("%s recorded by %s holds the archive of %s, not %s", m.ObjectKey, describe(m), day, d)
		return fd
	}
	if st.SHA256 == m.SHA256 {
		var diffs []string
		if m.Readings != nil && st.Readings != *m.Readings {
			diffs = append(diffs, fmt.Sprintf("%d readings, manifest %d", st.Readings, *m.Readings))
		}
		if m.Bytes != nil && st.Bytes != *m.Bytes {
			diffs = append(diffs, fmt.Sprintf("%d bytes, manifest %d", st.Bytes, *m.Bytes))
		}
		if m.MinTime != nil && st.Readings > 0 && !m.MinTime.Equal(st.MinTime) {
			diffs = append(diffs, fmt.Sprintf("first reading %s, manifest %s", st.MinTime.Format(time.RFC3339Nano), m.MinTime.UTC().Format(time.RFC3339Nano)))
		}
		if m.MaxTime != nil && st.Readings > 0 && !m.MaxTime.Equal(st.MaxTime) {
			diffs = append(diffs, fmt.Sprintf("last reading %s, manifest %s", st.MaxTime.Format(time.RFC3339Nano), m.MaxTime.UTC().Format(time.RFC3339Nano)))
		}
		if len(diffs) > 0 {
			fd.Status, fd.Message = StatusCorrupt, fmt.Sprintf("%s matches the sha256 of %s but not its record: %s", m.ObjectKey, describe(m), strings.Join(diffs, "; "))
		}
		return fd
	}

	// Another checksum. A run that uploaded a merged archive (a verified
	// superset of this one) and then failed or crashed before committing
	// leaves exactly that; the next archive run of the day commits it.
	for _, f := range failed {
		if f.ID > m.ID && f.SHA256 == st.SHA256 {
			fd.Status, fd.Message = StatusPending, fmt.Sprintf(
				"%s is the archive uploaded by failed run %s (manifest row #%d, %s: %s), %d readings where %s recorded %d; the next archive run of %s merges the day's rows into it and commits it",
				m.ObjectKey, f.RunID, f.ID, f.FinishedAt.UTC().Format(time.RFC3339), firstLine(f.Error), st.Readings, describe(m), manifest.Count(m.Readings), d)
			return fd
		}
	}
	if m.Readings == nil || st.Readings >= *m.Readings {
		rows, err := v.Clean.CountDay(ctx, v.Pool, d)
		if err == nil && rows > 0 {
			fd.Status, fd.Message = StatusPending, fmt.Sprintf(
				"%s has sha256 %s and %d readings where %s recorded %s and %d, and %s still has %d rows of %s: a run uploaded a merged archive and stopped before committing; the next archive run finishes it",
				m.ObjectKey, manifest.ShortSHA(st.SHA256), st.Readings, describe(m), manifest.ShortSHA(m.SHA256), manifest.Count(m.Readings), v.Clean, rows, d)
			return fd
		}
	}
	fd.Status = StatusCorrupt
	fd.Message = fmt.Sprintf("%s does not match %s: sha256 %s (recorded %s), %d readings (recorded %d), %d bytes (recorded %d)",
		m.ObjectKey, describe(m), manifest.ShortSHA(st.SHA256), manifest.ShortSHA(m.SHA256), st.Readings, manifest.Count(m.Readings), size, manifest.Count(m.Bytes))
	return fd
}

// read decodes a whole object and returns what it holds.
func (v *Verifier) read(ctx context.Context, key string) (archivefile.Stats, bool, measure.Day, error) {
	return v.store().Scan(ctx, key)
}

// store is the one path to the archive objects.
func (v *Verifier) store() *archivestore.Store {
	return &archivestore.Store{Bucket: v.Bucket, Limits: v.Limits, ReadStallTimeout: v.ReadStallTimeout}
}

// checkOrphan classifies an archive object that no committed manifest
// knows, and adopts it if asked.
func (v *Verifier) checkOrphan(ctx context.Context, log *slog.Logger, runID string, d measure.Day, key string, opts Options) Finding {
	fd := Finding{Day: d, Key: key, Status: StatusOrphan}
	rows, err := v.Clean.CountDay(ctx, v.Pool, d)
	if err == nil && rows > 0 {
		// The next archive run of the day merges the object with these rows
		// and records a manifest; adopting it now would only race that run.
		fd.Status, fd.Message = StatusPending, fmt.Sprintf(
			"%s has no committed manifest, and %s still has %d rows of %s: the next archive run merges them into it and records a manifest",
			key, v.Clean, rows, d)
		return fd
	}
	if opts.Adopt {
		return v.adopt(ctx, log, runID, fd)
	}
	fd.Message = fmt.Sprintf("%s is not recorded by any manifest (an archive of the original service?)", key)
	if opts.Deep {
		st, _, day, err := v.read(ctx, key)
		fd.Readings = st.Readings
		switch {
		case err != nil:
			fd.Status, fd.Message = StatusCorrupt, fmt.Sprintf("%s (no manifest) cannot be read: %v", key, err)
			return fd
		case day != d:
			fd.Status, fd.Message = StatusCorrupt, fmt.Sprintf("%s (no manifest) holds the archive of %s, not %s", key, day, d)
			return fd
		}
		fd.Message += fmt.Sprintf("; it reads fine: %d readings, %d sensors", st.Readings, st.Sensors)
	}
	fd.Message += "; `archiver verify --adopt` validates it and records a manifest for it"
	return fd
}

// adopt validates an orphan and records an 'adopt' manifest for it. An
// orphan whose readings are not in canonical order (the original service
// wrote sensors in the order it met them) is first rewritten in canonical
// order, same readings, so that archive runs can stream-merge with it.
// The day lock keeps archive runs off the day meanwhile.
func (v *Verifier) adopt(ctx context.Context, log *slog.Logger, runID string, fd Finding) Finding {
	d, key := fd.Day, fd.Key
	started := time.Now().UTC()
	conn, err := v.Pool.Acquire(ctx)
	if err != nil {
		fd.Status, fd.Message = StatusSkipped, fmt.Sprintf("%s not adopted: acquire connection: %v", key, err)
		return fd
	}
	defer conn.Release()
	unlock, ok, err := v.Clean.TryLockDay(ctx, conn, d)
	if err != nil || !ok {
		fd.Status, fd.Message = StatusSkipped, fmt.Sprintf("%s not adopted: %s is held by another archiver run (or the lock failed: %v); run verify --adopt again later", key, d, err)
		return fd
	}
	defer unlock()
	// Under the lock, make sure it is still an orphan of an empty day.
	if m, err := v.Manifests.LatestCommitted(ctx, conn, v.Location, key); err != nil || m != nil {
		fd.Status, fd.Message = StatusSkipped, fmt.Sprintf("%s not adopted: it got a manifest meanwhile (or the lookup failed: %v)", key, err)
		return fd
	}

	st, canonical, day, err := v.read(ctx, key)
	fd.Readings = st.Readings
	switch {
	case err != nil:
		fd.Status, fd.Message = StatusCorrupt, fmt.Sprintf("%s (no manifest) cannot be adopted: it cannot be read: %v", key, err)
		return fd
	case day != d:
		fd.Status, fd.Message = StatusCorrupt, fmt.Sprintf("%s (no manifest) cannot be adopted: it holds the archive of %s, not %s", key, day, d)
		return fd
	case st.Readings > 0 && (!d.Contains(st.MinTime) || !d.Contains(st.MaxTime)):
		fd.Status, fd.Message = StatusCorrupt, fmt.Sprintf("%s (no manifest) cannot be adopted: readings from %s to %s lie outside %s", key, st.MinTime, st.MaxTime, d)
		return fd
	}
	// An archive run records the checksum of what it is about to upload;
	// an object with one that was never committed is that run's upload:
	// the day's rows as they were then, which the application may have
	// changed or deleted since (the day has no rows left). Adopting it
	// would bring them back.
	ours, err := v.Manifests.FailedUploads(ctx, conn, v.Location, key)
	if err != nil {
		fd.Status, fd.Message = StatusSkipped, fmt.Sprintf("%s not adopted: %v", key, err)
		return fd
	}
	if ours[st.SHA256] {
		fd.Status, fd.Message = StatusSkipped, fmt.Sprintf("%s not adopted: it is the upload of an archive run that never committed it (a failed manifest row has its sha256 %s), not an archive; the day's rows were changed or deleted since; delete the object if that was meant", key, manifest.ShortSHA(st.SHA256))
		return fd
	}
	var format *int64
	note := ""
	if !canonical {
		before := st.Readings
		st, err = v.canonicalize(ctx, d, key)
		if err != nil {
			fd.Status, fd.Message = StatusSkipped, fmt.Sprintf("%s not adopted: rewriting it in canonical order failed, the object is unchanged: %v", key, err)
			return fd
		}
		format = manifest.Int64(archivefile.FormatVersion)
		note = fmt.Sprintf("; rewritten in canonical order (%d readings read, %d distinct written)", before, st.Readings)
	}
	dayStart := d.Start()
	e := manifest.Entry{
		RunID: runID, Kind: manifest.KindAdopt, Status: manifest.StatusCommitted, Day: &dayStart,
		ObjectKey: key, Location: v.Location, Readings: manifest.Int64(st.Readings), Sensors: manifest.Int64(st.Sensors),
		Bytes: manifest.Int64(st.Bytes), SHA256: st.SHA256, FormatVersion: format, StartedAt: started,
	}
	if st.Readings > 0 {
		e.MinTime, e.MaxTime = &st.MinTime, &st.MaxTime
	}
	if err := v.Manifests.Insert(ctx, conn, &e); err != nil {
		fd.Status, fd.Message = StatusSkipped, fmt.Sprintf("%s not adopted: %v", key, err)
		return fd
	}
	fd.Status, fd.ManifestID, fd.Readings = StatusAdopted, e.ID, st.Readings
	fd.Message = fmt.Sprintf("%s adopted as manifest #%d: %d readings, %d sensors, sha256 %s%s", key, e.ID, st.Readings, st.Sensors, manifest.ShortSHA(st.SHA256), note)
	return fd
}

// canonicalize rewrites the object at key with the same readings in
// canonical order, reads it back and checks it. The day is held in memory
// to sort it, bounded by Limits.MaxReadings (as the archive run does for
// such archives). The new object replaces the old one only on success.
func (v *Verifier) canonicalize(ctx context.Context, d measure.Day, key string) (archivefile.Stats, error) {
	if v.GzipLevel == 0 {
		// Not a default of its own: the level is the archive.gzip_level setting.
		return archivefile.Stats{}, errors.New("no gzip level to rewrite with (archive.gzip_level)")
	}
	s := v.store()
	ar, err := s.Open(ctx, key)
	if err != nil {
		return archivefile.Stats{}, err
	}
	defer ar.Close()
	sorted, err := archivefile.SortedSource(ar, v.Limits.MaxReadings)
	if err != nil {
		return archivefile.Stats{}, err
	}
	st, err := s.Write(ctx, key, archivestore.WriteOptions{Day: d, Level: v.GzipLevel}, func(aw *archivefile.Writer) error {
		for {
			r, err := sorted.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if err := aw.Write(r); err != nil {
				return err
			}
		}
		// Another tool's members are kept, or the rewrite is refused.
		return archivefile.CarryOver(aw, ar.Reader, key)
	})
	if err != nil {
		return st, err
	}
	return st, s.ReadBack(ctx, key, archivestore.Expect{Day: d, SHA256: st.SHA256, Readings: st.Readings, Canonical: true})
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
