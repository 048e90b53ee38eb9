package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/shizuku-labs/archiver/backends"
	"github.com/shizuku-labs/archiver/internal/config"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/metrics"
	"github.com/shizuku-labs/archiver/internal/status"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show every UTC day as a calendar: archived, pending, failed, partial, not due or empty",
		Description: `For every UTC day from the first day with data or an archive to today, one
state, the first that applies:
   failed       due, rows in the table, and the last archive attempt failed
   checked out  taken out of the daily runs by restore --checkout
   partial      archived, and rows for it are in the table again (late rows, a
                restore): the next archive run merges them
   pending      due (older than clean.retention_days), rows in the table, never archived
   archived     a committed archive and no rows left
   not due      not old enough to archive yet
   empty        no rows and no archive

It reads the clean table's time index (one probe per day with data, never a
scan) and archive_runs; it does not touch storage and changes nothing. The
terminal form is a calendar, one line per month (coloured on a terminal
unless NO_COLOR is set), then the problem days with their reasons.
--format json lists every day with its state, archive key, size and reading
count; --counts adds exact row counts per day (this reads every row).

Exit status: 1 when a day failed, or has been pending for more than
--max-pending-days days after it became due, so that it can run as a check;
else 0.

Examples:
   archiver status
   archiver status --from 2025-01-01 --to 2025-12-31
   archiver status --format json | jq '.days[] | select(.state == "failed")'
   archiver status --max-pending-days 0 --metrics-file /var/lib/node_exporter/textfile_collector/archiver.prom`,
		Flags: append(append(commandFlags(config.ScopeTables|config.ScopeStatus|config.ScopeMetrics), rangeFlags("show")...),
			&cli.BoolFlag{Name: "counts", Usage: "exact row counts per day (reads every row of the range)"},
			formatFlag(),
		),
		Action: runStatus,
	}
}

func runStatus(c *cli.Context) error {
	from, to, format, err := reportArgs(c)
	if err != nil {
		return err
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	cfg := e.cfg
	clean, err := e.cleanTable()
	if err != nil {
		return err
	}
	// Storage is not opened, only named: archives recorded for another
	// location do not count. Without a bucket setting every location counts.
	location, scheme := "", ""
	if u, id, err := e.storage(); err == nil {
		location = id
		if _, pu, err := backends.Lookup(u); err == nil {
			scheme = pu.Scheme
		}
	} else if strings.TrimSpace(cfg.Storage.Bucket) != "" {
		return err // a bucket setting that cannot work (mem://, file://host/) is refused here too
	}
	pool, store, err := e.openManifests(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	if location != "" {
		if err := e.resolveLegacy(ctx, pool, store, location, false); err != nil {
			return withCode(ExitUnavailable, err)
		}
	}
	started := time.Now()
	chk := &status.Checker{Pool: pool, Clean: clean, Manifests: store, Location: location, RetentionDays: cfg.Clean.RetentionDays}
	rep, err := chk.Run(ctx, status.Options{From: from, To: to, Counts: c.Bool("counts"), MaxPendingDays: cfg.Status.MaxPendingDays})
	obs := &observer{command: metrics.CommandStatus, rec: metrics.NewFor(metrics.CommandStatus, scheme)}
	if err != nil {
		obs.finish(ctx, e, started, false)
		if ctx.Err() != nil {
			return withCode(ExitInterrupted, err)
		}
		if errors.Is(err, manifest.ErrNotMigrated) {
			return withCode(ExitUnavailable, err)
		}
		return withCode(ExitUnavailable, fmt.Errorf("status: %w", err))
	}
	days := map[string]int{}
	for _, s := range status.States {
		days[string(s)] = rep.Counts[s]
	}
	obs.rec.StatusResult(days, rep.OldestPendingAge)
	obs.finish(ctx, e, started, !rep.Failed())

	if format == "json" {
		if err := writeStatusJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		// The terminal is the one under the secret-scrubbing writer.
		status.WriteCalendar(e.stdout, rep, colourOutput(c.App.Writer))
	}
	if rep.Failed() {
		return withCode(ExitPartial, errors.New(status.Verdict(rep)))
	}
	return nil
}

// colourOutput: colours only on a terminal, and never with NO_COLOR set
// (https://no-color.org) or TERM=dumb.
func colourOutput(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// statusJSON is the JSON contract of `archiver status --format json`. Every
// field is always present; null means "does not apply". Add fields at the
// end; never rename or remove one.
type statusJSON struct {
	Now              time.Time      `json:"now"` // the database's clock
	From             string         `json:"from"`
	To               string         `json:"to"`
	Location         *string        `json:"location"` // archives counted only at this location; null: any
	MaxPendingDays   int            `json:"max_pending_days"`
	OK               bool           `json:"ok"` // false exactly when the exit status is 1
	Counts           map[string]int `json:"counts"`
	Overdue          []string       `json:"overdue"` // pending for more than max_pending_days
	OldestPendingAge float64        `json:"oldest_pending_age_seconds"`
	Days             []statusDay    `json:"days"`
}

type statusDay struct {
	Day         string     `json:"day"`
	State       string     `json:"state"`
	DueAt       time.Time  `json:"due_at"`
	ArchiveKey  *string    `json:"archive_key"`
	Bytes       *int64     `json:"bytes"`
	Readings    *int64     `json:"readings"` // in the archive
	ArchivedAt  *time.Time `json:"archived_at"`
	HasRows     bool       `json:"has_rows"`
	Rows        *int64     `json:"rows"` // with --counts only
	LastAttempt *time.Time `json:"last_attempt_at"`
	Attempts    int        `json:"failed_attempts"`
	RestoredAt  *time.Time `json:"restored_at"`
	Reason      *string    `json:"reason"`
}

func writeStatusJSON(w io.Writer, rep status.Report) error {
	out := statusJSON{
		Now: rep.Now.UTC(), From: rep.From.String(), To: rep.To.String(), Location: optString(rep.Location),
		MaxPendingDays: rep.Options.MaxPendingDays, OK: !rep.Failed(), Counts: map[string]int{}, Overdue: []string{},
		OldestPendingAge: rep.OldestPendingAge.Seconds(), Days: make([]statusDay, 0, len(rep.Days)),
	}
	for _, s := range status.States {
		out.Counts[string(s)] = rep.Counts[s]
	}
	for _, d := range rep.Overdue {
		out.Overdue = append(out.Overdue, d.String())
	}
	for _, d := range rep.Days {
		out.Days = append(out.Days, statusDay{
			Day: d.Day.String(), State: string(d.State), DueAt: d.DueAt.UTC(), ArchiveKey: optString(d.Key),
			Bytes: d.Bytes, Readings: d.Readings, ArchivedAt: utcPtr(d.ArchivedAt), HasRows: d.HasRows, Rows: d.Rows,
			LastAttempt: utcPtr(d.LastAttempt), Attempts: d.Attempts, RestoredAt: utcPtr(d.RestoredAt), Reason: optString(d.Reason),
		})
	}
	return writeJSON(w, out, "status")
}
