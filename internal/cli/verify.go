package cli

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shizuku-labs/archiver/backends"
	"github.com/shizuku-labs/archiver/internal/config"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/metrics"
	"github.com/shizuku-labs/archiver/internal/restore"
	"github.com/shizuku-labs/archiver/internal/verify"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "check that every archive in storage is what archive_runs says it is",
		Description: `For every committed manifest (the latest per object) of the days in
[--from, --to] at this storage location, checks that the object exists with
the recorded size. With --deep it downloads each object and checks its sha256,
reading count, day and time bounds too.

An object whose checksum differs from its manifest is reported "pending", not
corrupt, when it is the verified merged archive of a run that failed or
crashed between upload and commit (a later failed run recorded its checksum,
or it decodes, holds at least the recorded readings and the day still has
rows in the clean table): the next archive run finishes it.

Objects under the archive prefix that no manifest knows are "orphans" (for
example the original service's archives). --adopt validates each orphan
deeply (it decodes, its day matches its key, its times lie in the day) and
records an 'adopt' manifest for it, so that archive runs merge with it like
with their own archives; an orphan whose readings are not in canonical order
is first rewritten in canonical order (same readings).

With --metrics-file or --metrics-push-url it reports its results
(archiver_verify_objects{status}, archiver_last_success_timestamp_seconds{command="verify"})
in its own textfile (archiver-verify.prom next to archiver.prom) or
Pushgateway group (job archiver-verify).

A restore drill (--drill N: N archived days picked at random among those with
a committed manifest in the range; --day D, repeatable: those days) proves
that archives restore, not only that they exist: each day's archive is
restored, holding the day's lock as a restore does, into a temporary table
with the clean table's column types and CHECK constraints, checked against its
manifest (sha256, reading count, first and last times), and every row read
back is compared with the archive's reading; the transaction is then rolled
back. Nothing in the clean table changes and nothing is recorded in
archive_runs. Results are reported per day (archiver_verify_drill_days{result}).

Exit status: 0 when everything checks out (pending objects and orphans are
warnings), 1 when an object is missing or corrupt or a drilled day does not
restore exactly (or, with --strict, when there are orphans or objects that
could not be adopted).

Examples:
   archiver verify
   archiver verify --deep --from 2025-01-01 --to 2025-03-31
   archiver verify --deep --format json
   archiver verify --adopt
   archiver verify --drill 3                      # weekly: restore 3 random days, roll back
   archiver verify --day 2025-01-15 --day 2025-02-01`,
		Flags: append(append(commandFlags(config.ScopeTables|config.ScopeRestore|config.ScopeMetrics), rangeFlags("verify")...),
			&cli.BoolFlag{Name: "deep", Usage: "download every object and check sha256, reading count, day and time bounds"},
			&cli.BoolFlag{Name: "adopt", Usage: "validate orphans and record manifests for them (rewrites non-canonical ones in canonical order)"},
			&cli.BoolFlag{Name: "strict", Usage: "exit 1 on orphans and objects not adopted, not only on missing or corrupt ones"},
			&cli.IntFlag{Name: "drill", Usage: "restore drill: restore N random archived days into a temporary table, compare every reading, roll back"},
			&cli.StringSliceFlag{Name: "day", Usage: "restore drill of this UTC day, YYYY-MM-DD (repeatable; instead of --drill N)"},
			formatFlag(),
		),
		Action: runVerify,
	}
}

func runVerify(c *cli.Context) error {
	from, to, format, err := reportArgs(c)
	if err != nil {
		return err
	}
	drillN := c.Int("drill")
	var drillDays []measure.Day
	for _, s := range c.StringSlice("day") {
		for _, part := range strings.Split(s, ",") {
			d, err := parseDayFlag("day", part)
			if err != nil {
				return err
			}
			drillDays = append(drillDays, d)
		}
	}
	switch {
	case drillN < 0:
		return withCode(ExitUsage, fmt.Errorf("invalid --drill %d: give the number of days to restore, e.g. --drill 3", drillN))
	case drillN > 0 && len(drillDays) > 0:
		return withCode(ExitUsage, errors.New("use either --drill N (random days) or --day (these days), not both"))
	}
	e, st, err := begin(c, use{conns: 3, write: c.Bool("adopt")}) // only --adopt writes
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, cfg := c.Context, e.cfg
	v := &verify.Verifier{
		Pool: st.pool, Bucket: st.bucket, Clean: st.clean,
		Manifests: st.manifests, Schema: cfg.Database.ManifestSchema,
		Location: st.location(), Prefix: cfg.Storage.Prefix, GzipLevel: cfg.Archive.GzipLevel, Log: e.log,
		Limits: e.limits(),
	}
	strict := c.Bool("strict")
	obs := e.newObserver(metrics.CommandVerify, st.bucketURL)
	started := time.Now()
	rep, err := v.Run(ctx, verify.Options{From: from, To: to, Deep: c.Bool("deep"), Adopt: c.Bool("adopt")})
	if err == nil {
		counts := map[string]int{}
		for _, s := range verifyStatuses {
			counts[string(s)] = rep.Counts[s]
		}
		obs.rec.VerifyResult(counts, rep.Options.Deep)
	}
	var drill *drillReport
	if err == nil && (drillN > 0 || len(drillDays) > 0) {
		drill, err = runDrill(c, e, st, from, to, drillN, drillDays)
		if err == nil {
			obs.rec.DrillResult(drill.ok(), drill.failed())
		}
	}
	// A verify that could not finish is not a success: the last-success
	// time stays where the last complete verify left it.
	obs.finish(ctx, e, started, err == nil && !rep.Failed(strict) && drill.failed() == 0)
	var ee *exitError
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return withCode(ExitInterrupted, err)
		case errors.As(err, &ee):
			return err
		case errors.Is(err, manifest.ErrNotMigrated):
			return withCode(ExitUnavailable, err)
		}
		return withCode(ExitUnavailable, fmt.Errorf("verify: %w", err))
	}
	if format == "json" {
		if err := writeVerifyJSON(e.stdout, v, rep, strict, drill); err != nil {
			return err
		}
	} else {
		writeVerifyText(e.stdout, v, rep)
		drill.writeText(e.stdout)
	}
	switch {
	case rep.Failed(strict):
		if msg := elsewhereMessage(rep.Elsewhere, v.Location); msg != "" {
			return withCode(ExitPartial, fmt.Errorf("verify found problems: %s", msg))
		}
		return withCode(ExitPartial, fmt.Errorf("verify found problems: %s%s", verifyCounts(rep), drill.summary()))
	case drill.failed() > 0:
		return withCode(ExitPartial, fmt.Errorf("restore drill: %d of %d days do not restore exactly: %s: %v",
			drill.failed(), len(drill.days), drill.firstFailure().Day, drill.firstFailure().Err))
	}
	return nil
}

// drillReport is the outcome of verify's restore drill.
type drillReport struct {
	sampled bool // days picked at random (--drill N), not given (--day)
	days    []restore.DrillResult
}

// runDrill picks the days and restores each into a rolled-back temporary
// table (see restore.Restorer.Drill).
func runDrill(c *cli.Context, e *env, st *stores, from, to measure.Day, n int, days []measure.Day) (*drillReport, error) {
	ctx := c.Context
	r := &restore.Restorer{
		Pool: st.pool, Bucket: st.bucket, Target: st.clean, Manifests: st.manifests, Schema: e.cfg.Database.ManifestSchema,
		Location: st.location(), Prefix: e.cfg.Storage.Prefix, Log: e.log, Limits: e.limits(),
	}
	rep := &drillReport{sampled: n > 0}
	if n > 0 {
		var err error
		if days, err = r.SampleDays(ctx, n, from, to, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))); err != nil {
			return nil, err
		}
		if len(days) == 0 {
			return nil, withCode(ExitPartial, fmt.Errorf("restore drill: no day with a committed archive at %s (prefix %q)%s: nothing to drill", r.Location, r.Prefix, rangeText(from, to)))
		}
		e.log.Info(fmt.Sprintf("Restore drill of %d randomly chosen archived days", len(days)), "days", dayList(days))
	}
	res, err := r.Drill(ctx, days)
	rep.days = res
	return rep, err
}

func rangeText(from, to measure.Day) string {
	switch {
	case !from.IsZero() && !to.IsZero():
		return fmt.Sprintf(" between %s and %s", from, to)
	case !from.IsZero():
		return fmt.Sprintf(" from %s", from)
	case !to.IsZero():
		return fmt.Sprintf(" up to %s", to)
	}
	return ""
}

func dayList(days []measure.Day) string {
	s := make([]string, len(days))
	for i, d := range days {
		s[i] = d.String()
	}
	return strings.Join(s, ", ")
}

func (d *drillReport) failed() int {
	if d == nil {
		return 0
	}
	n := 0
	for _, r := range d.days {
		if r.Err != nil {
			n++
		}
	}
	return n
}

func (d *drillReport) ok() int {
	if d == nil {
		return 0
	}
	return len(d.days) - d.failed()
}

func (d *drillReport) firstFailure() restore.DrillResult {
	for _, r := range d.days {
		if r.Err != nil {
			return r
		}
	}
	return restore.DrillResult{}
}

func (d *drillReport) summary() string {
	if d == nil {
		return ""
	}
	return fmt.Sprintf("; restore drill: %d ok, %d failed", d.ok(), d.failed())
}

func (d *drillReport) writeText(w io.Writer) {
	if d == nil {
		return
	}
	fmt.Fprintln(w, "Restore drill (into a temporary table, rolled back; nothing recorded):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY\tRESULT\tREADINGS\tRESTORED\tCOMPARED\tSHA256\tFOUND BY\tTIME")
	for _, r := range d.days {
		result := "ok"
		if r.Err != nil {
			result = "FAILED"
		}
		found := "key convention (no manifest)"
		if r.ManifestID != 0 {
			found = fmt.Sprintf("manifest #%d", r.ManifestID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", r.Day, result, r.Readings, r.Restored, r.Compared, manifest.ShortSHA(r.SHA256), found, r.Duration.Round(time.Millisecond))
	}
	tw.Flush()
	for _, r := range d.days {
		if r.Err != nil {
			fmt.Fprintf(w, "error: %s: %v\n", r.Day, r.Err)
		}
	}
	fmt.Fprintf(w, "Restore drill: %d days restore exactly, %d failed\n", d.ok(), d.failed())
}

// verifyStatuses is the order statuses are counted and reported in.
var verifyStatuses = []verify.Status{verify.StatusOK, verify.StatusMissing, verify.StatusCorrupt, verify.StatusPending,
	verify.StatusOrphan, verify.StatusStray, verify.StatusAdopted, verify.StatusSkipped}

func verifyCounts(rep verify.Report) string {
	var parts []string
	for _, s := range verifyStatuses {
		parts = append(parts, fmt.Sprintf("%d %s", rep.Counts[s], s))
	}
	return strings.Join(parts, ", ")
}

func writeVerifyText(w io.Writer, v *verify.Verifier, rep verify.Report) {
	for _, f := range rep.Findings {
		day := "-"
		if !f.Day.IsZero() {
			day = f.Day.String()
		}
		fmt.Fprintf(w, "%-7s  %s  %-7s  %s\n", strings.ToUpper(f.Status.Severity()), day, f.Status, f.Message)
	}
	mode := "existence and size"
	if rep.Options.Deep {
		mode = "deep: sha256, readings, day and time bounds"
	}
	if msg := elsewhereMessage(rep.Elsewhere, v.Location); msg != "" {
		fmt.Fprintf(w, "%-7s  %s  %-7s  %s\n", "ERROR", "-", "elsewhere", msg)
	}
	fmt.Fprintf(w, "Verified %d manifests (%s) and %d objects under %q at %s: %s\n",
		rep.Manifests, mode, rep.Objects, v.Prefix, v.Location, verifyCounts(rep))
}

// verifyJSON is the JSON shape of `archiver verify --format json`.
type verifyJSON struct {
	RunID     string         `json:"run_id"`
	Location  string         `json:"location"`
	Prefix    string         `json:"prefix"`
	From      *string        `json:"from"`
	To        *string        `json:"to"`
	Deep      bool           `json:"deep"`
	Adopt     bool           `json:"adopt"`
	Strict    bool           `json:"strict"`
	Manifests int            `json:"manifests_checked"`
	Objects   int            `json:"objects_listed"`
	Counts    map[string]int `json:"counts"`
	OK        bool           `json:"ok"` // false exactly when the exit status is 1
	Findings  []verifyItem   `json:"findings"`
	// Elsewhere: where archive_runs has committed archives when it has none
	// at this location (then ok is false); empty otherwise.
	Elsewhere []verifyLocation `json:"elsewhere"`
	Drill     []drillItem      `json:"drill"` // null when no drill ran
}

type verifyLocation struct {
	Location string `json:"location"`
	Archives int64  `json:"archives"`
}

type drillItem struct {
	Day        string  `json:"day"`
	Key        string  `json:"key"`
	ManifestID *int64  `json:"manifest_id"`
	OK         bool    `json:"ok"`
	Readings   int64   `json:"readings"`
	Restored   int64   `json:"restored"`
	Compared   int64   `json:"compared"`
	SHA256     *string `json:"sha256"`
	Seconds    float64 `json:"seconds"`
	Error      *string `json:"error"`
}

type verifyItem struct {
	Day        *string `json:"day"`
	Key        string  `json:"key"`
	Status     string  `json:"status"`
	Severity   string  `json:"severity"`
	ManifestID *int64  `json:"manifest_id"`
	Readings   *int64  `json:"readings"`
	Message    string  `json:"message"`
}

func writeVerifyJSON(w io.Writer, v *verify.Verifier, rep verify.Report, strict bool, drill *drillReport) error {
	out := verifyJSON{
		RunID: rep.RunID, Location: v.Location, Prefix: v.Prefix, From: optDay(rep.Options.From), To: optDay(rep.Options.To),
		Deep: rep.Options.Deep, Adopt: rep.Options.Adopt, Strict: strict, Manifests: rep.Manifests, Objects: rep.Objects,
		Counts: map[string]int{}, OK: !rep.Failed(strict) && drill.failed() == 0, Findings: []verifyItem{}, Elsewhere: []verifyLocation{},
	}
	for _, l := range rep.Elsewhere {
		out.Elsewhere = append(out.Elsewhere, verifyLocation{Location: backends.Redact(l.Location), Archives: l.Archives})
	}
	if drill != nil {
		out.Drill = []drillItem{}
		for _, r := range drill.days {
			it := drillItem{Day: r.Day.String(), Key: r.Key, OK: r.Err == nil, Readings: r.Readings, Restored: r.Restored, Compared: r.Compared,
				SHA256: optString(r.SHA256), Seconds: r.Duration.Seconds()}
			if r.ManifestID != 0 {
				it.ManifestID = &r.ManifestID
			}
			if r.Err != nil {
				msg := r.Err.Error()
				it.Error = &msg
			}
			out.Drill = append(out.Drill, it)
		}
	}
	for _, s := range verifyStatuses {
		out.Counts[string(s)] = rep.Counts[s]
	}
	for _, f := range rep.Findings {
		it := verifyItem{Day: optDay(f.Day), Key: f.Key, Status: string(f.Status), Severity: f.Status.Severity(), Message: f.Message}
		if f.ManifestID != 0 {
			it.ManifestID = &f.ManifestID
		}
		if f.Readings != 0 {
			it.Readings = &f.Readings
		}
		out.Findings = append(out.Findings, it)
	}
	return writeJSON(w, out, "report")
}
