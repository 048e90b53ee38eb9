// Package status answers an operator's first question: for every UTC day,
// is it archived, waiting, stuck or failed, and since when. It reads the
// clean table's time index (which days have rows) and archive_runs (what was
// archived, what failed, what was restored); it never touches storage and
// never changes anything.
package status

import (
	"context"
	"fmt"
	"time"

	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/postgres"
)

// State is what a day is in. Every day has exactly one: the first in States
// order that applies.
type State string

const (
	// Failed: due, rows in the table, and the last archive attempt failed.
	Failed State = "failed"
	// CheckedOut: taken out of the daily runs by `restore --checkout` (an
	// open checkout on its restore row) until `checkin` ends it.
	CheckedOut State = "checked out"
	// Partial: archived, and rows for the day are in the table again (late
	// rows or a restore); the next archive run merges them.
	Partial State = "partial"
	// Pending: due, rows in the table, never archived.
	Pending State = "pending"
	// Archived: a committed archive and no rows left.
	Archived State = "archived"
	// NotDue: the day is not old enough to archive yet.
	NotDue State = "not due"
	// Empty: no rows and no archive.
	Empty State = "empty"
)

// States lists every state in the order they are decided (and shown).
var States = []State{Failed, CheckedOut, Partial, Pending, Archived, NotDue, Empty}

// Problem reports whether a day in state s needs an operator's attention or
// is waiting for the next run.
func (s State) Problem() bool {
	return s == Failed || s == CheckedOut || s == Partial || s == Pending
}

// Day is one UTC day's status.
type Day struct {
	Day   measure.Day
	State State
	DueAt time.Time // when the day became (or becomes) old enough to archive

	// From the latest committed archive (or adopt) manifest, if any.
	Key        string
	Bytes      *int64
	Readings   *int64
	ArchivedAt *time.Time

	HasRows bool
	Rows    *int64 // exact row count, only with Options.Counts

	LastAttempt *time.Time // latest archive attempt, committed or failed
	Attempts    int        // failed attempts since the last committed archive
	RestoredAt  *time.Time // latest committed restore, if after the archive
	Reason      string     // why the day is in a problem state, one line
}

// Options limit and deepen a status query.
type Options struct {
	From, To       measure.Day // zero: from the first day with data or an archive, to today
	Counts         bool        // exact row counts per day (reads every row of the range)
	MaxPendingDays int         // a day pending longer than this after it became due is overdue
}

// Report is the status of every day in the range.
type Report struct {
	Now      time.Time // the database's clock
	From, To measure.Day
	Location string // storage location the archives were filtered by; empty: any
	Options  Options
	Days     []Day // oldest first, one per day of [From, To]
	Counts   map[State]int
	// Overdue are the pending days due for longer than MaxPendingDays.
	Overdue []measure.Day
	// OldestPendingAge is how long the oldest pending day has been due; 0
	// when no day is pending.
	OldestPendingAge time.Duration
}

// Failed reports whether the report should fail a check (exit 1): a day
// failed, or a day has been pending for longer than allowed.
func (r Report) Failed() bool { return r.Counts[Failed] > 0 || len(r.Overdue) > 0 }

// Checker computes reports.
type Checker struct {
	Pool          postgres.Querier
	Clean         postgres.CleanTable
	Manifests     *manifest.Store
	Location      string // archives at this location count; empty: any location
	RetentionDays int    // clean.retention_days: when a day becomes due
}

// Run builds the report.
func (c *Checker) Run(ctx context.Context, opts Options) (Report, error) {
	rep := Report{Location: c.Location, Options: opts, Counts: map[State]int{}}
	if err := c.Clean.Inspect(ctx, c.Pool); err != nil {
		return rep, err
	}
	now, err := postgres.Now(ctx, c.Pool)
	if err != nil {
		return rep, err
	}
	rep.Now = now
	withRows, err := c.Clean.DaysWithRows(ctx, c.Pool, opts.From, opts.To)
	if err != nil {
		return rep, err
	}
	var counts map[measure.Day]int64
	if opts.Counts {
		if counts, err = c.Clean.CountDays(ctx, c.Pool, opts.From, opts.To); err != nil {
			return rep, err
		}
	}
	f := manifest.Filter{Kinds: []string{manifest.KindArchive, manifest.KindAdopt, manifest.KindRestore}}.Days(opts.From.Start(), opts.To.Start())
	entries, err := c.Manifests.List(ctx, c.Pool, f)
	if err != nil {
		return rep, err
	}
	hist := history(entries, func(e manifest.Entry) bool {
		return c.Location == "" || e.Location == "" || c.Manifests.AtLocation(e, c.Location)
	})

	// The range: as given, else from the first day with data or an archive
	// to today (or the last day with data, if rows lie in the future).
	from, to := opts.From, opts.To
	today := measure.DayOf(now)
	if from.IsZero() || to.IsZero() {
		lo, hi := today, today
		for _, d := range withRows {
			lo, hi = minDay(lo, d), maxDay(hi, d)
		}
		for d := range hist {
			lo, hi = minDay(lo, d), maxDay(hi, d)
		}
		// A --to before the first day with data (or a --from after the
		// last) shows just that day rather than a range that runs backwards.
		switch {
		case from.IsZero() && to.IsZero():
			from, to = lo, hi
		case from.IsZero():
			from = minDay(lo, to)
		default:
			to = maxDay(hi, from)
		}
	}
	rep.From, rep.To = from, to
	rows := map[measure.Day]bool{}
	for _, d := range withRows {
		rows[d] = true
	}
	retention := time.Duration(c.RetentionDays) * 24 * time.Hour
	maxPending := time.Duration(opts.MaxPendingDays) * 24 * time.Hour
	for d := from; !d.After(to); d = d.AddDays(1) {
		day := decide(d, now, retention, rows[d], hist[d])
		if opts.Counts {
			n := counts[d]
			day.Rows = &n
		}
		if day.State == Pending {
			age := now.Sub(day.DueAt)
			if rep.OldestPendingAge == 0 {
				rep.OldestPendingAge = age
			}
			if age > maxPending {
				rep.Overdue = append(rep.Overdue, d)
			}
		}
		rep.Counts[day.State]++
		rep.Days = append(rep.Days, day)
	}
	return rep, nil
}

// dayHistory is what archive_runs says about one day.
type dayHistory struct {
	archive     *manifest.Entry // latest committed archive or adopt
	lastAttempt *manifest.Entry // latest archive row, committed or failed
	failures    int             // failed archive rows after the latest committed one
	restore     *manifest.Entry // latest committed restore
	checkout    *manifest.Entry // open checkout (restore --checkout), if any
}

// history folds the manifest rows (oldest first, as List returns them) into
// one history per day.
func history(entries []manifest.Entry, here func(manifest.Entry) bool) map[measure.Day]*dayHistory {
	out := map[measure.Day]*dayHistory{}
	for i := range entries {
		e := &entries[i]
		if e.Day == nil || !here(*e) {
			continue
		}
		d := measure.DayOf(*e.Day)
		h := out[d]
		if h == nil {
			h = &dayHistory{}
			out[d] = h
		}
		switch {
		case e.Kind == manifest.KindRestore:
			if e.Status == manifest.StatusCommitted {
				h.restore = e
				if e.Checkout == manifest.CheckoutOpen {
					h.checkout = e
				}
			}
		case e.Status == manifest.StatusCommitted: // archive or adopt
			h.archive = e
			h.failures = 0
			if e.Kind == manifest.KindArchive {
				h.lastAttempt = e
			}
		case e.Kind == manifest.KindArchive && manifest.IsPending(e): // stopped by a throttle: not a failure
			h.lastAttempt = e
		case e.Kind == manifest.KindArchive && e.Status == manifest.StatusFailed:
			h.lastAttempt = e
			h.failures++
		}
	}
	return out
}

// decide gives a day its state: the first that applies, in States order.
func decide(d measure.Day, now time.Time, retention time.Duration, hasRows bool, h *dayHistory) Day {
	day := Day{Day: d, DueAt: d.End().Add(retention), HasRows: hasRows}
	due := !now.Before(day.DueAt)
	if h == nil {
		h = &dayHistory{}
	}
	if a := h.archive; a != nil {
		day.Key, day.Bytes, day.Readings = a.ObjectKey, a.Bytes, a.Readings
		t := a.FinishedAt
		day.ArchivedAt = &t
	}
	if h.lastAttempt != nil {
		t := h.lastAttempt.FinishedAt
		day.LastAttempt = &t
	}
	day.Attempts = h.failures
	if r := h.restore; r != nil && (h.archive == nil || r.FinishedAt.After(h.archive.FinishedAt)) {
		t := r.FinishedAt
		day.RestoredAt = &t
	}
	switch {
	case due && hasRows && h.lastAttempt != nil && h.lastAttempt.Status == manifest.StatusFailed && !manifest.IsPending(h.lastAttempt):
		day.State = Failed
		day.Reason = fmt.Sprintf("%s, last at %s: %s", plural(h.failures, "failed attempt"),
			h.lastAttempt.FinishedAt.UTC().Format(time.RFC3339), firstLine(h.lastAttempt.Error))
	case h.checkout != nil:
		day.State = CheckedOut
		day.Reason = fmt.Sprintf("checked out at %s by %s@%s; archive runs leave it alone until `archiver checkin --day %s` (or --abandon)",
			h.checkout.FinishedAt.UTC().Format(time.RFC3339), orUnknown(h.checkout.OSUser), orUnknown(h.checkout.Host), d)
	case hasRows && h.archive != nil:
		day.State = Partial
		if day.RestoredAt != nil {
			day.Reason = fmt.Sprintf("restored at %s; the next archive run merges the rows into the archive again and deletes them",
				day.RestoredAt.UTC().Format(time.RFC3339))
		} else {
			day.Reason = "rows arrived after the day was archived; the next archive run merges them into the archive"
		}
	case due && hasRows:
		day.State = Pending
		day.Reason = fmt.Sprintf("due since %s (%s), never archived", day.DueAt.UTC().Format(time.RFC3339), age(now.Sub(day.DueAt)))
		if manifest.IsPending(h.lastAttempt) {
			day.Reason += "; the last run left it " + firstLine(h.lastAttempt.Error)
		}
	case h.archive != nil:
		day.State = Archived
	case !due:
		day.State = NotDue
	default:
		day.State = Empty
	}
	return day
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// age renders a duration in days and hours, the units pending days are
// judged in.
func age(d time.Duration) string {
	days := int(d / (24 * time.Hour))
	hours := int(d % (24 * time.Hour) / time.Hour)
	if days == 0 {
		return fmt.Sprintf("%dh", hours)
	}
	return fmt.Sprintf("%dd %dh", days, hours)
}

func minDay(a, b measure.Day) measure.Day {
	if b.Before(a) {
		return b
	}
	return a
}

func maxDay(a, b measure.Day) measure.Day {
	if b.After(a) {
		return b
	}
	return a
}
