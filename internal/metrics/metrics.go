// Package metrics records what an archiver run did as Prometheus metrics and
// hands them to the monitoring system the way a batch job has to: a cron job
// or CronJob pod is gone before any scraper could reach it, so the numbers are
// either written to a node_exporter textfile or pushed to a Pushgateway at the
// end of the run.
//
// A nil *Recorder is a valid no-op, so callers that run without metrics need
// no conditionals.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const namespace = "archiver"

// commandArchive is the scheduled command: the one the alerts watch.
const commandArchive = "archive"

// Recorder holds one run's metrics in a registry of its own, so that nothing
// another library registers on the global default registry leaks into the
// pushed or written metrics, and so that tests can use many recorders.
type Recorder struct {
	command string
	reg     *prometheus.Registry

	purged, archived, deleted, restored prometheus.Counter
	archivesWritten, bytesUploaded      prometheus.Counter
	daysFailed                          prometheus.Counter
	daysPending                         prometheus.Gauge
	rawPurgeHeld                        prometheus.Gauge
	replicaLagPaused                    prometheus.Gauge
	infiniteTime                        prometheus.Gauge
	upload                              prometheus.Observer

	// Vectors, not plain gauges, for the run-level series: a series that was
	// never set is then absent instead of 0. For last_success that matters:
	// exporting 0 after a failed run would read as "last success in 1970"
	// and overwrite the real timestamp the staleness alert relies on.
	runDuration, lastRun, lastSuccess, lastRunSuccess *prometheus.GaugeVec

	verifyObjects, verifyDeep *prometheus.GaugeVec // verify only
	verifyDrill               *prometheus.GaugeVec // verify only
	statusDays, oldestPending *prometheus.GaugeVec // status only

	now func() time.Time
}

// New returns a Recorder for the scheduled `archive` command that uploads to
// the storage backend named by backendScheme (the bucket URL's scheme, e.g.
// "s3", "vercelblob", "file").
func New(backendScheme string) *Recorder {
	return NewFor(commandArchive, backendScheme)
}

// Commands that report metrics. Each exports only its own families (and
// the run-level series, labelled command=<command>), so that the textfiles
// of several commands can sit side by side in node_exporter's directory:
// two files holding the same unlabelled series would fail the whole scrape.
const (
	CommandArchive = commandArchive
	CommandRestore = "restore"
	CommandVerify  = "verify"
	CommandStatus  = "status"
)

// NewFor returns a Recorder for command (one of the Command constants). Its
// run-level series carry command=<command>, so they never stand in for the
// archive run's.
func NewFor(command, backendScheme string) *Recorder {
	if backendScheme == "" {
		backendScheme = "unknown"
	}
	r := &Recorder{command: command, reg: prometheus.NewRegistry(), now: time.Now}

	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
		r.reg.MustRegister(c)
		return c
	}
	gaugeVec := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
		r.reg.MustRegister(g)
		return g
	}

	if command == CommandArchive || command == CommandRestore {
		failed := prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "days_failed_total",
			Help: "Days whose archive or restore failed in this run.",
		}, []string{"command"})
		r.reg.MustRegister(failed)
		// Created at 0 so that increase() has a starting point and a run without
		// failures still reports the series.
		r.daysFailed = failed.WithLabelValues(command)
	}
	switch command {
	case CommandArchive:
		r.purged = counter("readings_purged_total", "Raw readings deleted because they were older than the raw retention.")
		r.archived = counter("readings_archived_total", "Clean readings written to archives and verified.")
		r.deleted = counter("readings_deleted_total", "Archived clean readings deleted from the database.")
		r.archivesWritten = counter("archives_written_total", "Day archives uploaded and verified.")
		r.bytesUploaded = counter("bytes_uploaded_total", "Compressed archive bytes uploaded.")
		pending := prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "days_pending",
			Help: "Days old enough to archive that are still in the database.",
		})
		r.reg.MustRegister(pending)
		r.daysPending = pending
		r.rawPurgeHeld = prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "raw_purge_held_seconds",
			Help: "How far past the raw retention the oldest raw reading kept by raw.require_clean is (cleaning is this far behind); 0 when nothing was held back.",
		})
		r.reg.MustRegister(r.rawPurgeHeld)
		r.replicaLagPaused = prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "replica_lag_paused_seconds",
			Help: "Time the last run spent paused because a replica was further behind than archive.max_replica_lag.",
		})
		r.reg.MustRegister(r.replicaLagPaused)
		r.infiniteTime = prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "clean_rows_infinite_time",
			Help: "Clean rows whose time is -infinity or infinity: they belong to no day, so they are never archived.",
		})
		r.reg.MustRegister(r.infiniteTime)
		upload := prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "upload_duration_seconds",
			Help: "Time to upload one day archive.",
			// A day file is a few hundred kB to a few hundred MB; uploads range
			// from tens of milliseconds (file://) to minutes (large S3 uploads).
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"backend"})
		r.reg.MustRegister(upload)
		r.upload = upload.WithLabelValues(backendScheme)
	case CommandRestore:
		r.restored = counter("readings_restored_total", "Readings inserted back into the database from archives.")
	case CommandVerify:
		r.verifyObjects = gaugeVec("verify_objects", "Archive objects by the result of the last verify: ok, missing, corrupt, pending, orphan, stray, adopted, skipped.", "status")
		r.verifyDeep = gaugeVec("verify_deep", "1 if the last verify downloaded and checked every object (--deep), else 0.", "command")
		r.verifyDrill = gaugeVec("verify_drill_days", "Days restored by the last verify restore drill (--drill, --day) into a rolled-back temporary table, by result: ok (every reading restored exactly) or failed.", "result")
	case CommandStatus:
		r.statusDays = gaugeVec("status_days", "UTC days by state at the last status check: failed, checked out, partial, pending, archived, not due, empty.", "state")
		r.oldestPending = gaugeVec("status_oldest_pending_age_seconds", "How long the oldest pending day (due, never archived) has been due at the last status check; 0 when none.", "command")
	}

	r.runDuration = gaugeVec("run_duration_seconds", "Wall time of the last run.", "command")
	r.lastRun = gaugeVec("last_run_timestamp_seconds", "Unix time the last run finished, successful or not.", "command")
	r.lastSuccess = gaugeVec("last_success_timestamp_seconds", "Unix time the last successful run finished.", "command")
	r.lastRunSuccess = gaugeVec("last_run_success", "1 if the last run succeeded for every day, else 0.", "command")
	return r
}

// VerifyResult records the outcome of a verify: objects per result status,
// and whether it was a deep verify.
func (r *Recorder) VerifyResult(counts map[string]int, deep bool) {
	if r == nil || r.verifyObjects == nil {
		return
	}
	for s, n := range counts {
		r.verifyObjects.WithLabelValues(s).Set(float64(n))
	}
	d := 0.0
	if deep {
		d = 1
	}
	r.verifyDeep.WithLabelValues(r.command).Set(d)
}

// DrillResult records the outcome of a restore drill: days that restored
// exactly and days that did not.
func (r *Recorder) DrillResult(ok, failed int) {
	if r == nil || r.verifyDrill == nil {
		return
	}
	r.verifyDrill.WithLabelValues("ok").Set(float64(ok))
	r.verifyDrill.WithLabelValues("failed").Set(float64(failed))
}

// StatusResult records a status check: days per state (every state, zeros
// included, so that a state that empties is seen as 0, not as gone) and the
// age of the oldest pending day.
func (r *Recorder) StatusResult(days map[string]int, oldestPending time.Duration) {
	if r == nil || r.statusDays == nil {
		return
	}
	for s, n := range days {
		r.statusDays.WithLabelValues(s).Set(float64(n))
	}
	r.oldestPending.WithLabelValues(r.command).Set(oldestPending.Seconds())
}

// Gatherer exposes the recorder's registry, e.g. to serve it over HTTP.
func (r *Recorder) Gatherer() prometheus.Gatherer {
	if r == nil {
		return prometheus.Gatherers{}
	}
	return r.reg
}

// AddPurged counts raw readings deleted by retention.
func (r *Recorder) AddPurged(n int64) {
	if r != nil {
		addInt(r.purged, n)
	}
}

// AddArchived counts readings written to verified archives.
func (r *Recorder) AddArchived(n int64) {
	if r != nil {
		addInt(r.archived, n)
	}
}

// AddDeleted counts archived readings deleted from the database.
func (r *Recorder) AddDeleted(n int64) {
	if r != nil {
		addInt(r.deleted, n)
	}
}

// AddRestored counts readings restored into the database.
func (r *Recorder) AddRestored(n int64) {
	if r != nil {
		addInt(r.restored, n)
	}
}

// ArchiveWritten records one uploaded day archive of the given compressed
// size and upload time.
func (r *Recorder) ArchiveWritten(bytes int64, upload time.Duration) {
	if r == nil {
		return
	}
	if r.archivesWritten == nil {
		return
	}
	r.archivesWritten.Inc()
	addInt(r.bytesUploaded, bytes)
	r.upload.Observe(upload.Seconds())
}

// DayFailed counts one day that could not be archived or restored.
func (r *Recorder) DayFailed() {
	if r != nil && r.daysFailed != nil {
		r.daysFailed.Inc()
	}
}

// SetDaysPending reports how many archivable days remain in the database.
func (r *Recorder) SetDaysPending(n int) {
	if r != nil && r.daysPending != nil {
		r.daysPending.Set(float64(n))
	}
}

// SetRawPurgeHeld reports how far the raw purge was held back because
// cleaning is behind (raw.require_clean).
func (r *Recorder) SetRawPurgeHeld(d time.Duration) {
	if r != nil && r.rawPurgeHeld != nil {
		r.rawPurgeHeld.Set(d.Seconds())
	}
}

// SetReplicaLagPaused reports the time the run paused for replica lag.
func (r *Recorder) SetReplicaLagPaused(d time.Duration) {
	if r != nil && r.replicaLagPaused != nil {
		r.replicaLagPaused.Set(d.Seconds())
	}
}

// SetInfiniteTime reports how many clean rows have an infinite time.
func (r *Recorder) SetInfiniteTime(n int64) {
	if r != nil && r.infiniteTime != nil {
		r.infiniteTime.Set(float64(n))
	}
}

// Finish records the end of a run that started at start. success means every
// day succeeded: a partial failure (exit code 1) is not a success, so the
// last-success timestamp keeps pointing at the last complete run.
func (r *Recorder) Finish(start time.Time, success bool) {
	if r == nil {
		return
	}
	now := r.now()
	r.runDuration.WithLabelValues(r.command).Set(now.Sub(start).Seconds())
	r.lastRun.WithLabelValues(r.command).Set(unixSeconds(now))
	ok := 0.0
	if success {
		ok = 1
		r.lastSuccess.WithLabelValues(r.command).Set(unixSeconds(now))
	}
	r.lastRunSuccess.WithLabelValues(r.command).Set(ok)
}

// addInt ignores negative n: Counter.Add panics on it, and a miscounted
// metric must never take the run down.
func addInt(c prometheus.Counter, n int64) {
	if c != nil && n > 0 {
		c.Add(float64(n))
	}
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

// Commands lists every command that reports metrics.
var Commands = []string{CommandArchive, CommandRestore, CommandVerify, CommandStatus}

// Exported returns the name of every series the archiver can export, over
// all commands (a histogram's _bucket, _sum and _count included), so that
// alert rules and dashboards can be checked against what really exists.
func Exported() map[string]bool {
	names := map[string]bool{}
	for _, cmd := range Commands {
		r := NewFor(cmd, "file")
		// Touch every series, so that vectors without a child yet are
		// gathered too.
		r.AddPurged(1)
		r.AddArchived(1)
		r.AddDeleted(1)
		r.AddRestored(1)
		r.ArchiveWritten(1, time.Second)
		r.DayFailed()
		r.SetDaysPending(1)
		r.VerifyResult(map[string]int{"ok": 1}, true)
		r.DrillResult(1, 0)
		r.StatusResult(map[string]int{"pending": 1}, time.Hour)
		r.Finish(time.Now(), true)
		mfs, err := r.reg.Gather()
		if err != nil {
			panic("metrics: gather: " + err.Error())
		}
		for _, mf := range mfs {
			names[mf.GetName()] = true
			if mf.GetType() == dto.MetricType_HISTOGRAM {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					names[mf.GetName()+s] = true
				}
			}
		}
	}
	return names
}
