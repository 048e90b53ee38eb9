package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/shizuku-labs/archiver/internal/archive"
	"github.com/shizuku-labs/archiver/internal/config"
	"github.com/shizuku-labs/archiver/internal/manifest"
)

func checkinCommand() *cli.Command {
	return &cli.Command{
		Name:  "checkin",
		Usage: "end a day's checkout: write its archive as exactly what the clean table holds, then delete the rows",
		Description: `A day checked out with "archiver restore --day D --checkout" is left alone by
archive runs while its rows are corrected in the clean table. checkin writes
the day's archive as exactly the rows the table then holds: corrected readings
replace the archived ones, deleted rows leave the archive. The new archive is
read back and verified, and the rows are deleted, in the day's transaction,
which also records the manifest and ends the checkout. --dry-run lists the
readings that would be kept, added, changed and removed.

checkin refuses, changing nothing, when the table holds no rows of the day (an
empty archive is never written: use --abandon) or when the day's archive has
changed since the checkout (someone archived the day meanwhile).

--abandon ends the checkout and leaves the archive as it is; rows of the day
still in the table are merged into the archive by the next archive run, as
after a plain restore.

Examples:
   archiver restore --day 2025-01-15 --checkout
   psql -c "UPDATE ... WHERE ts >= '2025-01-15' AND ts < '2025-01-16'"
   archiver checkin --day 2025-01-15 --dry-run
   archiver checkin --day 2025-01-15
   archiver checkin --day 2025-01-15 --abandon`,
		Flags: append(commandFlags(config.ScopeTables|config.ScopeRestore|config.ScopeWrite),
			&cli.StringFlag{Name: "day", Usage: "the checked-out UTC day, YYYY-MM-DD"},
			&cli.BoolFlag{Name: "abandon", Usage: "end the checkout without changing the archive; the day's rows stay in the table"},
		),
		Action: runCheckin,
	}
}

func runCheckin(c *cli.Context) error {
	if !c.IsSet("day") {
		return withCode(ExitUsage, errors.New("which day? give --day YYYY-MM-DD (the day checked out with `archiver restore --day D --checkout`)"))
	}
	d, err := parseDayFlag("day", c.String("day"))
	if err != nil {
		return err
	}
	e, st, err := begin(c, use{conns: 3, write: true, lockTimeout: true})
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, cfg := c.Context, e.cfg
	r := &archive.Runner{
		Pool: st.pool, Bucket: st.bucket, Clean: st.clean,
		Manifests: st.manifests, Schema: cfg.Database.ManifestSchema, Log: e.log,
		Opts: archive.Options{
			GzipLevel: cfg.Archive.GzipLevel, LockTimeout: cfg.Database.LockTimeout,
			DryRun: cfg.DryRun, Prefix: cfg.Storage.Prefix, Location: st.location(), Limits: e.limits(),
		},
	}
	res, err := r.Checkin(ctx, d, c.Bool("abandon"))
	printCheckin(e, res, c.Bool("abandon"))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, archive.ErrCheckinRefused), errors.Is(err, archive.ErrNotCheckedOut), errors.Is(err, manifest.ErrNotMigrated):
		return withCode(ExitUnavailable, err)
	case ctx.Err() != nil:
		return withCode(ExitInterrupted, err)
	}
	return withCode(ExitPartial, err)
}

func printCheckin(e *env, res archive.CheckinResult, abandon bool) {
	switch res.Status {
	case archive.StatusAbandoned:
		fmt.Fprintf(e.stdout, "Abandoned the checkout of %s (manifest #%d); %s unchanged; %d rows of the day in the table\n", res.Day, res.Checkout, res.Key, res.RowsRead)
		return
	case archive.StatusCheckedIn:
		fmt.Fprintf(e.stdout, "Checked in %s: %s now holds the %d readings of the table (sha256 %s); %d rows deleted; checkout #%d ended\n",
			res.Day, res.Key, res.Readings, manifest.ShortSHA(res.SHA256), res.RowsDeleted, res.Checkout)
	case archive.StatusDryRun:
		if abandon {
			fmt.Fprintf(e.stdout, "Dry run: would abandon the checkout of %s (manifest #%d); %d rows of the day in the table\n", res.Day, res.Checkout, res.RowsRead)
			return
		}
		fmt.Fprintf(e.stdout, "Dry run: checking in %s would write %s from the %d rows of the table (nothing was written)\n", res.Day, res.Key, res.RowsRead)
	default:
		return
	}
	df := res.Diff
	fmt.Fprintf(e.stdout, "Readings: kept %d, added %d, changed %d, removed %d\n", df.Kept, df.Added, df.Changed, df.Removed)
	if ex := archive.Describe(df); len(ex) > 0 {
		fmt.Fprintln(e.stdout, "  "+strings.Join(ex, "\n  "))
	}
}
