package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shizuku-labs/archiver/backends"
	"github.com/shizuku-labs/archiver/internal/config"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/metrics"
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

Exit status: 0 when everything checks out (pending objects and orphans are
warnings), 1 when an object is missing or corrupt (or, with --strict, when
there are orphans or objects that could not be adopted).

Examples:
   archiver verify
   archiver verify --deep --from 2025-01-01 --to 2025-03-31
   archiver verify --deep --format json
   archiver verify --adopt`,
		Flags: append(commandFlags(config.ScopeTables|config.ScopeRestore|config.ScopeMetrics),
			&cli.StringFlag{Name: "from", Usage: "first UTC day to verify, YYYY-MM-DD"},
			&cli.StringFlag{Name: "to", Usage: "last UTC day to verify, YYYY-MM-DD"},
			&cli.BoolFlag{Name: "deep", Usage: "download every object and check sha256, reading count, day and time bounds"},
			&cli.BoolFlag{Name: "adopt", Usage: "validate orphans and record manifests for them (rewrites non-canonical ones in canonical order)"},
			&cli.BoolFlag{Name: "strict", Usage: "exit 1 on orphans and objects not adopted, not only on missing or corrupt ones"},
			&cli.StringFlag{Name: "format", Usage: "text or json", Value: "text"},
		),
		Action: runVerify,
	}
}

func runVerify(c *cli.Context) error {
	from, to, err := dayRange(c)
	if err != nil {
		return err
	}
	format := c.String("format")
	if format != "text" && format != "json" {
		return withCode(ExitUsage, fmt.Errorf("invalid --format %q: use text or json", format))
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	cfg := e.cfg
	_, clean, err := tables(cfg)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	st, err := e.open(ctx, 3, storageUse{write: c.Bool("adopt") && !cfg.DryRun}) // only --adopt writes
	if err != nil {
		return err
	}
	defer st.Close()
	v := &verify.Verifier{
		Pool: st.pool, Bucket: st.bucket, Clean: clean,
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
	// A verify that could not finish is not a success: the last-success
	// time stays where the last complete verify left it.
	obs.finish(ctx, e, started, err == nil && !rep.Failed(strict))
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return withCode(ExitInterrupted, err)
		case errors.Is(err, manifest.ErrNotMigrated):
			return withCode(ExitUnavailable, err)
		}
		return withCode(ExitUnavailable, fmt.Errorf("verify: %w", err))
	}
	if format == "json" {
		if err := writeVerifyJSON(e.stdout, v, rep, strict); err != nil {
			return err
		}
	} else {
		writeVerifyText(e.stdout, v, rep)
	}
	if rep.Failed(strict) {
		if msg := elsewhereMessage(rep.Elsewhere, v.Location); msg != "" {
			return withCode(ExitPartial, fmt.Errorf("verify found problems: %s", msg))
		}
		return withCode(ExitPartial, fmt.Errorf("verify found problems: %s", verifyCounts(rep)))
	}
	return nil
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
}

type verifyLocation struct {
	Location string `json:"location"`
	Archives int64  `json:"archives"`
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

func writeVerifyJSON(w io.Writer, v *verify.Verifier, rep verify.Report, strict bool) error {
	out := verifyJSON{
		RunID: rep.RunID, Location: v.Location, Prefix: v.Prefix, From: optDay(rep.Options.From), To: optDay(rep.Options.To),
		Deep: rep.Options.Deep, Adopt: rep.Options.Adopt, Strict: strict, Manifests: rep.Manifests, Objects: rep.Objects,
		Counts: map[string]int{}, OK: !rep.Failed(strict), Findings: []verifyItem{}, Elsewhere: []verifyLocation{},
	}
	for _, l := range rep.Elsewhere {
		out.Elsewhere = append(out.Elsewhere, verifyLocation{Location: backends.Redact(l.Location), Archives: l.Archives})
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
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return withCode(ExitUnavailable, fmt.Errorf("write report: %w", err))
	}
	return nil
}
