package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shizuku-labs/archiver/internal/config"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/metrics"
	"github.com/shizuku-labs/archiver/internal/restore"
)

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:  "restore",
		Usage: "load archived days back into the database, without duplicating rows",
		Description: `Restores one or more UTC days from their archives. Each day's archive is found
through its manifest in archive_runs (or, for archives written by the original
Python service, by the key <prefix>/YYYY/MM/archive-YYYY-MM-DD.json.gz, which is
logged). It is streamed from storage, decoded and checked (sha256 and reading
count against the manifest, day, times within the day, size limits) and
loaded with COPY: straight into the target when it holds no rows of the day,
else through a temporary table, inserting only readings the target does not
hold yet (all five fields equal), in one transaction per day: a corrupt or
mismatching archive imports nothing, and restoring twice inserts nothing the
second time. Every restore is recorded in archive_runs (kind 'restore').

Into a table with a key on (sensor, time), a key the table holds with another
reading is resolved by --on-conflict: keep (default; the table's reading
stays), replace (the archive's overwrites it; the old values are reported) or
fail (nothing of the day is imported). --checkout marks the days checked out
for correction: archive runs leave them alone until "archiver checkin".

With --from/--to, the days in that range that have an archive are restored.
The day lock is shared with "archiver archive": a day being archived is waited
for (up to 30s). Restored rows of days older than clean.retention_days are
archived (and deleted) again by the next archive run, with no change to the
archive; restore --into another table to keep them.

Examples:
   archiver restore --day 2025-01-15
   archiver restore --day 2025-01-15 --day 2025-01-17 --dry-run
   archiver restore --from 2025-01-01 --to 2025-01-31 --into analysis.january
   archiver restore --day 2025-01-15 --ignore-checksum   # a damaged archive, knowingly
   archiver restore --day 2025-01-15 --on-conflict replace
   archiver restore --day 2025-01-15 --checkout          # then correct the rows and: archiver checkin --day 2025-01-15`,
		Flags: append(commandFlags(config.ScopeTables|config.ScopeRestore|config.ScopeLoad|config.ScopeWrite|config.ScopeMetrics),
			&cli.StringSliceFlag{Name: "day", Usage: "UTC day to restore, YYYY-MM-DD (repeatable)"},
			&cli.StringFlag{Name: "from", Usage: "restore the archived days from this UTC day, YYYY-MM-DD (with --to)"},
			&cli.StringFlag{Name: "to", Usage: "restore the archived days up to and including this UTC day, YYYY-MM-DD (with --from)"},
			&cli.StringFlag{Name: "into", Usage: "target table, [schema.]table with the clean table's columns (default: clean.table)"},
			&cli.BoolFlag{Name: "ignore-checksum", Usage: "restore an archive whose sha256 or reading count differs from its manifest (logged and recorded)"},
			&cli.BoolFlag{Name: "allow-insert-triggers", Usage: "restore through the target's BEFORE INSERT triggers and INSERT rules, which may change the restored rows (without it such a target is refused)"},
			&cli.BoolFlag{Name: "checkout", Usage: "check the days out to correct them: archive runs leave them alone until `archiver checkin` writes each day's archive as exactly what the clean table holds"},
		),
		Action: runRestore,
	}
}

// restoreDays reads --day or --from/--to. It runs before anything else, so
// bad input changes nothing and needs no database.
func restoreDays(c *cli.Context) (days []measure.Day, from, to measure.Day, err error) {
	for _, s := range c.StringSlice("day") {
		for _, part := range strings.Split(s, ",") {
			d, err := parseDayFlag("day", part)
			if err != nil {
				return nil, from, to, err
			}
			days = append(days, d)
		}
	}
	from, to, err = dayRange(c)
	if err != nil {
		return nil, from, to, err
	}
	ranged := !from.IsZero() || !to.IsZero()
	switch {
	case len(days) > 0 && ranged:
		return nil, from, to, withCode(ExitUsage, errors.New("use either --day or --from/--to, not both"))
	case ranged && (from.IsZero() || to.IsZero()):
		return nil, from, to, withCode(ExitUsage, errors.New("--from and --to go together: give both (use --day for a single day)"))
	case len(days) == 0 && !ranged:
		return nil, from, to, withCode(ExitUsage, errors.New("which days? give --day YYYY-MM-DD (repeatable) or --from YYYY-MM-DD --to YYYY-MM-DD"))
	}
	return days, from, to, nil
}

func runRestore(c *cli.Context) error {
	days, from, to, err := restoreDays(c)
	if err != nil {
		return err
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	cfg := e.cfg
	into, source := strings.TrimSpace(c.String("into")), "--into"
	if into == "" {
		into, source = cfg.Clean.Table, "clean.table"
	}
	target, err := cleanTableFor(cfg, into)
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("%s: %w", source, err))
	}
	if c.Bool("checkout") {
		clean, _ := e.cleanTable()
		switch {
		case target.String() != clean.String():
			return withCode(ExitUsage, fmt.Errorf("--checkout restores into the clean table (%s), from which checkin archives the day again; it cannot be used with --into %s", clean, into))
		case c.Bool("ignore-checksum"):
			return withCode(ExitUsage, errors.New("--checkout cannot be used with --ignore-checksum: a checkin replaces the archive that was checked out, which must be the one its manifest describes"))
		}
	}
	target.Source = source
	st, err := e.open(ctx, use{conns: cfg.Restore.Concurrency + 2}) // restore writes nothing to storage
	if err != nil {
		return e.failedStart(ctx, "restore", time.Now().UTC(), err)
	}
	defer st.Close()
	bucketURL := st.bucketURL
	r := &restore.Restorer{
		Pool: st.pool, Bucket: st.bucket, Target: target,
		Manifests: st.manifests, Schema: cfg.Database.ManifestSchema,
		Location: st.location(), Prefix: cfg.Storage.Prefix, Log: e.log, Limits: e.limits(),
		OnConflict: cfg.Restore.OnConflict, Concurrency: cfg.Restore.Concurrency,
	}
	elsewhere, _ := st.elsewhere(ctx)
	if elsewhere != "" {
		e.log.Warn("WARNING: " + elsewhere + "; an archive found here is restored without a manifest to check it against")
	}
	if !from.IsZero() {
		days, err = r.ArchivedDays(ctx, from, to)
		if err != nil {
			return withCode(ExitUnavailable, err)
		}
		if len(days) == 0 {
			err := noArchiveInRange(ctx, r, from, to)
			if elsewhere != "" {
				err = fmt.Errorf("%w; %s", err, elsewhere)
			}
			return withCode(ExitPartial, err)
		}
		e.log.Info(fmt.Sprintf("%d archived days between %s and %s", len(days), from, to))
	}

	obs := e.newObserver(metrics.CommandRestore, bucketURL)
	r.Observer = restoreObserver{obs}
	s, err := r.Run(ctx, restore.Options{Days: days, DryRun: cfg.DryRun, IgnoreChecksum: c.Bool("ignore-checksum"), Checkout: c.Bool("checkout"), AllowInsertTriggers: c.Bool("allow-insert-triggers")})
	obs.finish(ctx, e, s.Started, err == nil)
	printRestoreSummary(e, s)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, restore.ErrDaysFailed):
		return withCode(ExitPartial, err)
	case ctx.Err() != nil:
		return withCode(ExitInterrupted, err)
	}
	return withCode(ExitUnavailable, err)
}

func noArchiveInRange(ctx context.Context, r *restore.Restorer, from, to measure.Day) error {
	msg := fmt.Sprintf("no archived day between %s and %s at %s (prefix %q)", from, to, r.Location, r.Prefix)
	all, err := r.ArchivedDays(ctx, measure.Day{}, measure.Day{})
	if err != nil {
		return fmt.Errorf("%s (could not list archived days: %v)", msg, err)
	}
	near := append(restore.Nearest(all, from, 2), restore.Nearest(all, to, 2)...)
	var s []string
	seen := map[measure.Day]bool{}
	for _, d := range near {
		if !seen[d] && (d.Before(from) || d.After(to)) {
			seen[d] = true
			s = append(s, d.String())
		}
	}
	if len(s) == 0 {
		return fmt.Errorf("%s; no day is archived there", msg)
	}
	return fmt.Errorf("%s; nearest archived days: %s", msg, strings.Join(s, ", "))
}

// printRestoreSummary writes one line per day and the totals to stdout.
func printRestoreSummary(e *env, s restore.Summary) {
	if len(s.Days) == 0 {
		return
	}
	title := "Restore into " + s.Target
	if s.DryRun {
		title += " (dry run: nothing was written)"
	}
	fmt.Fprintln(e.stdout, title)
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "DAY\tSTATUS\tREADINGS\tINSERTED\tPRESENT\tSHA256\tFOUND BY")
	var errs, notes []string
	for _, d := range s.Days {
		found := "key convention (no manifest)"
		if d.ManifestID != 0 {
			found = fmt.Sprintf("manifest #%d", d.ManifestID)
		}
		if d.ChecksumIgnored != "" {
			found += ", CHECKSUM MISMATCH IGNORED"
		}
		if d.Checkout != 0 {
			found += fmt.Sprintf(", checked out (#%d)", d.Checkout)
		}
		readings, inserted, present := dash(d.Readings, d.SHA256 != ""), dash(d.Inserted, d.Status == restore.StatusRestored), dash(d.Present, d.Status == restore.StatusRestored)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Day, d.Status, readings, inserted, present, manifest.ShortSHA(d.SHA256), found)
		if d.Err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", d.Day, d.Err))
		}
		if d.DupKeys > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d keys with more than one archived reading; restored the first of each: %s", d.Day, d.DupKeys, strings.Join(d.DupExamples, "; ")))
		}
		switch {
		case d.Conflicts == 0:
		case d.Replaced > 0:
			notes = append(notes, fmt.Sprintf("%s: %d table readings overwritten by the archive's (--on-conflict replace): %s", d.Day, d.Replaced, strings.Join(d.ConflictExamples, "; ")))
		default:
			notes = append(notes, fmt.Sprintf("%s: %d keys the table holds with another reading, kept (--on-conflict keep): %s", d.Day, d.Conflicts, strings.Join(d.ConflictExamples, "; ")))
		}
	}
	w.Flush()
	for _, msg := range notes {
		fmt.Fprintln(e.stdout, "note: "+msg)
	}
	for _, msg := range errs {
		fmt.Fprintln(e.stdout, "error: "+msg)
	}
	if s.DryRun {
		fmt.Fprintf(e.stdout, "Days: %d verified, %d failed; readings that would be restored: %d\n", s.Restored, s.Failed, s.Readings)
	} else {
		fmt.Fprintf(e.stdout, "Days: %d restored, %d failed; readings: %d; inserted: %d; already present: %d\n",
			s.Restored, s.Failed, s.Readings, s.Inserted, s.Present)
		if s.Conflicts > 0 || s.DupKeys > 0 {
			fmt.Fprintf(e.stdout, "Keys: %d conflicts with the table (%d overwritten), %d keys with several archived readings\n", s.Conflicts, s.Replaced, s.DupKeys)
		}
	}
	e.log.Info("Restore complete", "run_id", s.RunID, "target", s.Target, "dry_run", s.DryRun, "days_restored", s.Restored,
		"days_failed", s.Failed, "readings", s.Readings, "inserted", s.Inserted, "already_present", s.Present,
		"conflicts", s.Conflicts, "replaced", s.Replaced, "duplicate_keys", s.DupKeys,
		"duration", s.Finished.Sub(s.Started))
}

func dash(n int64, known bool) string {
	if !known {
		return "-"
	}
	return fmt.Sprint(n)
}
