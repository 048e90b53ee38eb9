package cli

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/shizuku-labs/archiver/backends"
	"github.com/shizuku-labs/archiver/internal/archive"
	"github.com/shizuku-labs/archiver/internal/metrics"
	"github.com/shizuku-labs/archiver/internal/progress"
	"github.com/shizuku-labs/archiver/internal/restore"
)

// observer feeds a run's progress to the Prometheus recorder and the live
// progress line. It implements archive.Observer.
type observer struct {
	command string
	rec     *metrics.Recorder
	disp    *progress.Display

	mu      sync.Mutex
	purged  int64
	pending int
}

// newObserver builds the run's metrics recorder and progress display. The
// display appears only when stderr is a terminal and --no-progress is off.
func (e *env) newObserver(command, bucketURL string) *observer {
	scheme := ""
	if _, u, err := backends.Lookup(bucketURL); err == nil {
		scheme = u.Scheme
	}
	f, _ := e.stderr.(*os.File)
	return &observer{
		command: command,
		rec:     metrics.NewFor(command, scheme),
		disp:    progress.New(e.stderr, progress.Enabled(f, e.cfg.Log.NoProgress)),
	}
}

func (o *observer) Planned(days int) {
	o.mu.Lock()
	o.pending = days
	o.mu.Unlock()
	o.rec.SetDaysPending(days)
	o.disp.Start(days, "days")
}

func (o *observer) Purged(total int64) {
	o.mu.Lock()
	delta := total - o.purged
	o.purged = total
	o.mu.Unlock()
	o.rec.AddPurged(delta)
}

func (o *observer) DayDone(r archive.DayResult) {
	o.mu.Lock()
	if r.Status != archive.StatusPending { // still due: the next run does it
		o.pending--
	}
	pending := o.pending
	o.mu.Unlock()
	o.rec.SetDaysPending(pending)
	switch r.Status {
	case archive.StatusArchived:
		o.rec.AddArchived(r.RowsRead)
		o.rec.AddDeleted(r.RowsDeleted)
		o.rec.ArchiveWritten(r.Bytes, r.Upload)
	case archive.StatusFailed:
		o.rec.DayFailed()
	}
	o.disp.Add(1, r.RowsRead, r.Bytes)
}

// restoreObserver adapts the observer to a restore's events.
type restoreObserver struct{ *observer }

func (o restoreObserver) DayDone(r restore.DayResult) {
	if r.Status == restore.StatusFailed {
		o.rec.DayFailed()
	} else if r.Status == restore.StatusRestored {
		o.rec.AddRestored(r.Inserted)
	}
	o.disp.Add(1, r.Readings, r.Bytes)
}

// finish stops the display and delivers the metrics where configured. A
// metrics failure is logged, not fatal: the run's own outcome stands, and a
// missing push shows up as a stale last-success time, which alerts.
func (o *observer) finish(ctx context.Context, e *env, start time.Time, success bool) {
	o.disp.Finish()
	if e.cfg.DryRun {
		return // a dry run writes nothing anywhere, metrics included
	}
	o.rec.Finish(start, success)
	if p := metrics.TextfilePath(e.cfg.Metrics.File, o.command); p != "" {
		if err := o.rec.WriteTextfile(p); err != nil {
			e.log.Error("could not write the metrics textfile", "path", p, "err", err)
		}
	}
	if u := e.cfg.Metrics.PushURL; u != "" {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := o.rec.Push(pctx, u, ""); err != nil {
			e.log.Error("could not push metrics", "err", err)
		}
	}
}
