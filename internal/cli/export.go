package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/shizuku-labs/archiver/backends"
	"github.com/shizuku-labs/archiver/internal/config"
	"github.com/shizuku-labs/archiver/internal/export"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/progress"
)

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "write archived readings as CSV, JSON lines or Parquet, straight from storage",
		Description: `Reads the archives of the UTC days in [--from, --to] from storage (nothing is
restored, nothing in the database or storage changes) and writes one row per
reading, in (day, sensor, time) order, with the columns
day, sensor, time, measurement, qc_flags, imputation_method, then one column
per extra column the archives hold (clean.columns.extra). With a database,
each value is written in its column's type (a numeric(p,s) as a Parquet
DECIMAL, text as text in CSV); without one, extra columns are their JSON text.

With a database configured (database.url), archives are found through their
committed manifests in archive_runs and each is checked against its manifest
(sha256 and reading count). Without one, the archive layout is listed
(<prefix>/YYYY/MM/archive-YYYY-MM-DD.json.gz): that works with read access to
the bucket alone, but cannot tell a committed archive from an upload still in
progress, and there is no manifest to check against (it says so).

Formats: csv is PostgreSQL's CSV (COPY ... (FORMAT csv, HEADER)): NULL is an
empty field, an empty string is "", NaN and Infinity as PostgreSQL writes them.
jsonl is one JSON object per line, values as the archive writes them (bare
NaN/Infinity tokens). parquet has day as DATE, time as a UTC microsecond
TIMESTAMP, measurement as DOUBLE, zstd compression, row groups of 122,880 rows.

--out writes one file (replaced only when the whole export succeeded; "-" is
standard output, which streams as it goes). --out-dir writes one file per day,
YYYY-MM-DD.<format>, each replaced only when its day succeeded.

Exit status: 0 when every day was exported, 1 when a day failed (a corrupt or
mismatching archive), no day in the range is archived or no --sensor has a
reading in it, 2 for bad flags, 3 when the database or storage cannot be used.

Examples:
   archiver export --from 2025-01-01 --to 2025-01-31 --format parquet --out january.parquet
   archiver export --from 2025-01-01 --to 2025-12-31 --sensor gauge-7 --sensor gauge-9 --out - | gzip > two.csv.gz
   archiver export --from 2025-01-01 --to 2025-01-31 --format parquet --out-dir ./parquet
   DATABASE_URL= archiver export --bucket s3://archives --from 2025-01-15 --to 2025-01-15 --out -   # no database`,
		Flags: append(append(commandFlags(config.ScopeTables|config.ScopeRestore), rangeFlags("export")...),
			&cli.StringSliceFlag{Name: "sensor", Usage: "export only this sensor (exact name, commas included; repeatable)"},
			&cli.StringFlag{Name: "format", Usage: "csv, jsonl or parquet", Value: "csv"},
			&cli.StringFlag{Name: "out", Usage: "output file, or - for standard output"},
			&cli.StringFlag{Name: "out-dir", Usage: "output directory: one file per day, YYYY-MM-DD.<format> (created if missing)"},
			noProgressFlag(),
		),
		Action: runExport,
	}
}

// noProgressFlag is the log.no_progress setting's flag for a command that
// takes no other metrics-scope setting; setup reads it like any setting.
func noProgressFlag() cli.Flag {
	for _, s := range config.Settings() {
		if s.Key == "log.no_progress" {
			return &cli.BoolFlag{Name: s.Flag, Usage: s.Usage + " [$" + strings.Join(s.Env, ", $") + "]", DefaultText: s.Default}
		}
	}
	panic("log.no_progress is not in the settings table")
}

// exportTypes asks the clean table for the types of the exported columns,
// so that values are written in them (a numeric as DECIMAL in Parquet, a
// text extra column as text in CSV). Without the table, the archive alone
// decides, and the log says so.
func (e *env) exportTypes(ctx context.Context, pool *pgxpool.Pool) map[string]export.ColumnType {
	clean, err := e.cleanTable()
	if err == nil {
		err = clean.Inspect(ctx, pool)
	}
	if err != nil {
		e.log.Warn("column types unknown, so the measurement is written as a number and extra columns as their JSON text", "err", err)
		return nil
	}
	l := clean.Layout()
	types := map[string]export.ColumnType{"measurement": export.ParseColumnType(l.Value.Base, l.Value.Type)}
	for _, c := range append(slices.Clone(l.Extra), l.Other...) {
		types[c.Name] = export.ParseColumnType(c.Base, c.Type)
	}
	return types
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func runExport(c *cli.Context) error {
	req, err := exportArgs(c)
	if err != nil {
		return err
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	x, closeAll, err := e.exporter(ctx)
	if err != nil {
		return err
	}
	defer closeAll()

	plan, err := x.Plan(ctx, req.from, req.to)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return withCode(ExitInterrupted, err)
		case errors.Is(err, manifest.ErrNotMigrated):
			return withCode(ExitUnavailable, err)
		}
		return withCode(ExitUnavailable, fmt.Errorf("export: %w", err))
	}
	if len(plan) == 0 {
		return withCode(ExitPartial, fmt.Errorf("%w: no archived day between %s and %s at %s (prefix %q); nothing was written; `archiver list` shows the archived days",
			export.ErrNoArchives, req.from, req.to, x.Location, e.cfg.Storage.Prefix))
	}
	out, err := req.output(e.stdout)
	if err != nil {
		return err
	}
	f, _ := e.stderr.(*os.File)
	x.Progress = progress.New(e.stderr, progress.Enabled(f, e.cfg.Log.NoProgress))
	s, err := x.Run(ctx, plan, export.Options{From: req.from, To: req.to, Sensors: req.sensors}, out)
	note := ""
	if s.Unverified {
		note = " (found by listing: not checked against manifests)"
	}
	e.log.Info(fmt.Sprintf("Export complete: %d days, %d readings to %s%s; %d days failed", len(s.Days)-s.Failed, s.Exported, out, note, s.Failed),
		"days", len(s.Days)-s.Failed, "days_failed", s.Failed, "readings", s.Exported, "format", string(req.format),
		"duration", s.Finished.Sub(s.Started))
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return withCode(ExitInterrupted, err)
	case errors.Is(err, export.ErrDaysFailed), errors.Is(err, export.ErrNoSensorReadings):
		return withCode(ExitPartial, err)
	}
	return withCode(ExitUnavailable, err)
}

// exportRequest is what an export's flags ask for.
type exportRequest struct {
	from, to        measure.Day
	format          export.Format
	sensors         []string
	outFile, outDir string
}

// exportArgs reads and checks the export's flags: everything they alone
// can show wrong is exit 2 before anything is opened.
func exportArgs(c *cli.Context) (req exportRequest, err error) {
	if req.from, req.to, err = dayRange(c); err != nil {
		return req, err
	}
	if req.from.IsZero() || req.to.IsZero() {
		return req, withCode(ExitUsage, errors.New("which days? give --from YYYY-MM-DD and --to YYYY-MM-DD (the same day for one day)"))
	}
	if req.format, err = export.ParseFormat(c.String("format")); err != nil {
		return req, withCode(ExitUsage, fmt.Errorf("invalid --format: %w", err))
	}
	for _, s := range c.StringSlice("sensor") {
		if s == "" {
			return req, withCode(ExitUsage, errors.New("--sensor needs a sensor name"))
		}
		req.sensors = append(req.sensors, s)
	}
	req.outFile, req.outDir = c.String("out"), c.String("out-dir")
	switch outFile, outDir := req.outFile, req.outDir; {
	case outFile == "" && outDir == "":
		return req, withCode(ExitUsage, errors.New("where to? give --out FILE (- for standard output) or --out-dir DIR (one file per day)"))
	case outFile != "" && outDir != "":
		return req, withCode(ExitUsage, errors.New("use either --out or --out-dir, not both"))
	case outFile == "-" && req.format == export.Parquet && isTerminal(c.App.Writer):
		return req, withCode(ExitUsage, errors.New("--format parquet --out - would write a binary file to the terminal: redirect standard output (--out - > file.parquet) or give --out FILE"))
	case outFile != "" && outFile != "-":
		if fi, err := os.Stat(outFile); err == nil && fi.IsDir() {
			return req, withCode(ExitUsage, fmt.Errorf("--out %s is a directory: use --out-dir %s for one file per day, or name a file", outFile, outFile))
		}
	case outDir != "":
		if fi, err := os.Stat(outDir); err == nil && !fi.IsDir() {
			return req, withCode(ExitUsage, fmt.Errorf("--out-dir %s is not a directory", outDir))
		}
	}
	return req, nil
}

// output is where the export writes: a directory of day files, standard
// output or one file.
func (req exportRequest) output(stdout io.Writer) (export.Output, error) {
	switch {
	case req.outDir != "":
		if err := os.MkdirAll(req.outDir, 0o777); err != nil {
			return nil, withCode(ExitUsage, fmt.Errorf("--out-dir: %w", err))
		}
		return export.ToDir(req.outDir, req.format), nil
	case req.outFile == "-":
		return export.ToWriter(stdout, req.format), nil
	}
	return export.ToFile(req.outFile, req.format), nil
}

// exporter opens what an export reads: the bucket and, when a database is
// configured, its manifests and the clean table's column types. closeAll
// closes them.
func (e *env) exporter(ctx context.Context) (x *export.Exporter, closeAll func(), err error) {
	cfg := e.cfg
	bucketURL, identity, err := e.storage()
	if err != nil {
		return nil, nil, err
	}
	e.warnStorage(bucketURL)
	x = &export.Exporter{
		Prefix: cfg.Storage.Prefix, Location: identity, Limits: e.limits(), Log: e.log,
		Manifests: manifest.NewStore(cfg.Database.ManifestSchema), Schema: cfg.Database.ManifestSchema,
	}
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if strings.TrimSpace(cfg.Database.URL) != "" {
		pool, err := e.connect(ctx, 2)
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, pool.Close)
		// Read only: manifests recorded before location identities are
		// matched, not rewritten.
		if err := e.resolveLegacy(ctx, pool, x.Manifests, identity, false); err != nil {
			closeAll()
			return nil, nil, withCode(ExitUnavailable, err)
		}
		x.DB = pool
		x.Types = e.exportTypes(ctx, pool)
	}
	bucket, err := backends.Open(ctx, bucketURL)
	if err != nil {
		closeAll()
		return nil, nil, withCode(ExitUnavailable, err)
	}
	closers = append(closers, func() { bucket.Close() })
	x.Bucket = bucket
	return x, closeAll, nil
}
