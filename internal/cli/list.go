package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list archived days and every archive, restore, adopt and purge run recorded in archive_runs",
		Description: `Reads the archive_runs manifest table (it does not touch storage). The table
format groups the rows by UTC day: every archive written (and adopted by
"verify --adopt"), failed runs with their error, and restores. The JSON format
is a stable contract for scripts: {"from", "to", "entries": [...]}, one entry
per archive_runs row including raw purges, with every field always present
(null when it does not apply); see the README for the fields.

Examples:
   archiver list
   archiver list --from 2025-01-01 --to 2025-01-31
   archiver list --format json | jq '.entries[] | select(.status == "failed")'`,
		Flags: append(append(commandFlags(0), rangeFlags("list")...),
			&cli.StringFlag{Name: "format", Usage: "table or json", Value: "table"},
		),
		Action: runList,
	}
}

// parseDayFlag parses a day flag strictly, naming the flag and the form.
func parseDayFlag(flag, s string) (measure.Day, error) {
	s = strings.TrimSpace(s)
	d, err := measure.ParseDay(s)
	if err != nil {
		why := "not a date in the form YYYY-MM-DD"
		if strings.Contains(err.Error(), "no such calendar date") {
			why = "no such calendar date"
		}
		return d, withCode(ExitUsage, fmt.Errorf("invalid --%s %q: %s; want a UTC day as YYYY-MM-DD, e.g. 2025-01-15", flag, s, why))
	}
	return d, nil
}

// formatFlag is --format of the commands that report as text or JSON.
func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Usage: "text or json", Value: "text"}
}

// outputFormat reads --format: "text" or "json".
func outputFormat(c *cli.Context) (string, error) {
	format := c.String("format")
	if format != "text" && format != "json" {
		return "", withCode(ExitUsage, fmt.Errorf("invalid --format %q: use text or json", format))
	}
	return format, nil
}

// writeJSON writes a command's JSON report, indented.
func writeJSON(w io.Writer, v any, what string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return withCode(ExitUnavailable, fmt.Errorf("write %s: %w", what, err))
	}
	return nil
}

// rangeFlags are --from and --to of a command that works on a range of
// days ("first UTC day to <verb>").
func rangeFlags(verb string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "from", Usage: "first UTC day to " + verb + ", YYYY-MM-DD"},
		&cli.StringFlag{Name: "to", Usage: "last UTC day to " + verb + ", YYYY-MM-DD"},
	}
}

// reportArgs reads the day range and --format of a command that reports
// as text or JSON.
func reportArgs(c *cli.Context) (from, to measure.Day, format string, err error) {
	if from, to, err = dayRange(c); err != nil {
		return from, to, "", err
	}
	format, err = outputFormat(c)
	return from, to, format, err
}

// dayRange reads the optional --from and --to flags; a bound not given is
// the zero Day (open).
func dayRange(c *cli.Context) (from, to measure.Day, err error) {
	if s := c.String("from"); s != "" {
		if from, err = parseDayFlag("from", s); err != nil {
			return from, to, err
		}
	}
	if s := c.String("to"); s != "" {
		if to, err = parseDayFlag("to", s); err != nil {
			return from, to, err
		}
	}
	if !from.IsZero() && !to.IsZero() && from.After(to) {
		return from, to, withCode(ExitUsage, fmt.Errorf("--from %s is after --to %s", from, to))
	}
	return from, to, nil
}

func runList(c *cli.Context) error {
	from, to, err := dayRange(c)
	if err != nil {
		return err
	}
	format := c.String("format")
	if format != "table" && format != "json" {
		return withCode(ExitUsage, fmt.Errorf("invalid --format %q: use table or json", format))
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	pool, store, err := e.openManifests(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()

	f := manifest.Filter{Kinds: []string{manifest.KindArchive, manifest.KindAdopt, manifest.KindRestore}}.Days(from.Start(), to.Start())
	entries, err := store.List(ctx, pool, f)
	if err != nil {
		return withCode(ExitUnavailable, err)
	}
	// Purges have no day; they belong to the range by when they ran.
	purges, err := store.List(ctx, pool, manifest.Filter{Kinds: []string{manifest.KindPurge}})
	if err != nil {
		return withCode(ExitUnavailable, err)
	}
	var inRange []manifest.Entry
	for _, p := range purges {
		d := measure.DayOf(p.FinishedAt)
		if (from.IsZero() || !d.Before(from)) && (to.IsZero() || !d.After(to)) {
			inRange = append(inRange, p)
		}
	}

	if format == "json" {
		return writeListJSON(e.stdout, from, to, append(inRange, entries...))
	}
	writeListTable(e.stdout, entries, len(inRange))
	return nil
}

// listEntry is the JSON contract of `archiver list --format json`. Every
// field is always present; null means "does not apply" or "not recorded".
// Add fields at the end; never rename or remove one.
type listEntry struct {
	ID            int64      `json:"id"`
	RunID         string     `json:"run_id"`
	Kind          string     `json:"kind"`   // archive | adopt | restore | purge
	Status        string     `json:"status"` // committed | failed | skipped
	Day           *string    `json:"day"`    // YYYY-MM-DD; null for purges
	ObjectKey     *string    `json:"object_key"`
	Location      *string    `json:"location"`
	SourceTable   *string    `json:"source_table"` // archive: table archived; restore: target; purge: raw table
	Readings      *int64     `json:"readings"`
	Sensors       *int64     `json:"sensors"`
	Bytes         *int64     `json:"bytes"`
	SHA256        *string    `json:"sha256"`
	MinTime       *time.Time `json:"min_time"`
	MaxTime       *time.Time `json:"max_time"` // purge: the cutoff
	RowsDeleted   *int64     `json:"rows_deleted"`
	RowsInserted  *int64     `json:"rows_inserted"`
	RowsPresent   *int64     `json:"rows_present"`
	FormatVersion *int64     `json:"format_version"`
	Error         *string    `json:"error"`
	Host          *string    `json:"host"`
	OSUser        *string    `json:"os_user"`
	StartedAt     time.Time  `json:"started_at"`
	FinishedAt    time.Time  `json:"finished_at"`
}

type listOutput struct {
	From    *string     `json:"from"` // the --from given, or null
	To      *string     `json:"to"`
	Entries []listEntry `json:"entries"` // purges (by time) first, then by day, oldest first
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optDay(d measure.Day) *string {
	if d.IsZero() {
		return nil
	}
	s := d.String()
	return &s
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func writeListJSON(w io.Writer, from, to measure.Day, entries []manifest.Entry) error {
	out := listOutput{From: optDay(from), To: optDay(to), Entries: make([]listEntry, 0, len(entries))}
	for _, e := range entries {
		le := listEntry{
			ID: e.ID, RunID: e.RunID, Kind: e.Kind, Status: e.Status, ObjectKey: optString(e.ObjectKey),
			Location: optString(e.Location), SourceTable: optString(e.SourceTable), Readings: e.Readings, Sensors: e.Sensors,
			Bytes: e.Bytes, SHA256: optString(e.SHA256), MinTime: utcPtr(e.MinTime), MaxTime: utcPtr(e.MaxTime),
			RowsDeleted: e.RowsDeleted, RowsInserted: e.RowsInserted, RowsPresent: e.RowsPresent, FormatVersion: e.FormatVersion,
			Error: optString(e.Error), Host: optString(e.Host), OSUser: optString(e.OSUser),
			StartedAt: e.StartedAt.UTC(), FinishedAt: e.FinishedAt.UTC(),
		}
		if e.Day != nil {
			le.Day = optDay(measure.DayOf(*e.Day))
		}
		out.Entries = append(out.Entries, le)
	}
	return writeJSON(w, out, "list")
}

// writeListTable prints the entries grouped by day: the day is shown on
// the first row of its group.
func writeListTable(w io.Writer, entries []manifest.Entry, purges int) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "No archives, restores or failed runs recorded for these days.")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DAY\tKIND\tSTATUS\tREADINGS\tSENSORS\tBYTES\tSHA256\tLOCATION\tWHEN\tNOTE")
		last := ""
		days := 0
		for _, e := range entries {
			day := "-"
			if e.Day != nil {
				day = measure.DayOf(*e.Day).String()
			}
			shown := day
			if day == last {
				shown = ""
			} else {
				days++
			}
			last = day
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", shown, e.Kind, e.Status,
				optInt(e.Readings), optInt(e.Sensors), optInt(e.Bytes), manifest.ShortSHA(e.SHA256), orDash(e.Location),
				e.FinishedAt.UTC().Format(time.RFC3339), listNote(e))
		}
		tw.Flush()
		fmt.Fprintf(w, "%d days, %d rows\n", days, len(entries))
	}
	if purges > 0 {
		fmt.Fprintf(w, "%d raw purge runs in this period (see --format json)\n", purges)
	}
}

func listNote(e manifest.Entry) string {
	var note string
	switch {
	case e.Kind == manifest.KindRestore && e.Status == manifest.StatusCommitted:
		note = fmt.Sprintf("restored into %s: %s inserted, %s already present", e.SourceTable, optInt(e.RowsInserted), optInt(e.RowsPresent))
	case e.Kind == manifest.KindArchive && e.Status == manifest.StatusCommitted:
		note = fmt.Sprintf("from %s, %s rows deleted", e.SourceTable, optInt(e.RowsDeleted))
	case e.Kind == manifest.KindAdopt:
		note = "adopted by verify --adopt"
	}
	if e.Error != "" {
		msg, _, _ := strings.Cut(e.Error, "\n")
		if len(msg) > 160 {
			msg = msg[:160] + "..."
		}
		if note != "" {
			note += "; "
		}
		if e.Status == manifest.StatusFailed {
			note += "error: " + msg
		} else {
			note += msg
		}
	}
	return note
}

func optInt(p *int64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
