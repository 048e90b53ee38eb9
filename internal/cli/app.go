// Package cli is the archiver's command line: a thin urfave/cli layer that
// turns flags, environment and the config file into a config.Config and
// calls the core packages. Main is what cmd/archiver runs; tests call it in
// process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"
	"github.com/urfave/cli/v2"

	"github.com/shizuku-labs/archiver/backends"
	"github.com/shizuku-labs/archiver/internal/config"
	"github.com/shizuku-labs/archiver/internal/envfile"
	"github.com/shizuku-labs/archiver/internal/logging"
	"github.com/shizuku-labs/archiver/internal/postgres"
	"github.com/shizuku-labs/archiver/internal/secret"
)

// Exit codes. They are part of the interface: cron wrappers and alerting
// tell a partial failure from a broken setup by them.
const (
	ExitOK          = 0 // everything done
	ExitPartial     = 1 // the run finished but some days failed (or verify found problems)
	ExitUsage       = 2 // bad flag, setting or config file; nothing was done
	ExitUnavailable = 3 // cannot start: database or storage unreachable, not migrated, tables missing
	ExitInterrupted = 4 // stopped by SIGINT/SIGTERM; finished days are kept, the rest retried next run
)

// Build describes the binary, set at build time with -ldflags.
type Build struct {
	Version string
	Commit  string
}

// Main runs the archiver with args (args[0] is the program name) and returns
// the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, build Build) int {
	// Like the original service, read a .env file in the working directory
	// if there is one. Variables already set win, as with python-dotenv.
	if _, err := os.Stat(".env"); err == nil {
		if err := godotenv.Load(".env"); err != nil {
			fmt.Fprintf(stderr, "archiver: error: read .env: %v\n", err)
			return ExitUsage
		}
	}
	// The last line of defence for I8: every secret setup learns is
	// removed from what reaches stderr (logs, errors) and stdout (but for
	// export's data), whatever third-party code quoted in an error.
	secrets := &secret.Set{}
	app := New(stdout, secrets.Writer(stderr), build)
	app.Metadata = map[string]any{metaSecrets: secrets}
	err := app.RunContext(ctx, args)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(app.ErrWriter, "archiver: error: %v\n", err)
	return exitCode(ctx, err)
}

// exitError carries an exit code through urfave/cli.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func exitCode(ctx context.Context, err error) int {
	var ee *exitError
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, &ee):
		return ee.code
	}
	// Errors urfave/cli itself raises are about flags and arguments.
	return ExitUsage
}

// New builds the urfave/cli application.
func New(stdout, stderr io.Writer, build Build) *cli.App {
	app := &cli.App{
		Name:  "archiver",
		Usage: "keep a PostgreSQL measurement database small without losing a reading",
		Description: `archiver purges old raw measurements, archives old clean measurements to blob
storage as one gzipped JSON file per UTC day, deletes exactly what it archived
(after reading the archive back and verifying it), records every archive in the
archive_runs table, and restores archived days on demand.

Settings come from defaults < YAML file (--config) < environment < flags.`,
		Version:              fmt.Sprintf("%s (commit %s, %s)", build.Version, build.Commit, runtime.Version()),
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		// A repeatable flag's value is taken whole: sensor names may hold
		// commas (restore --day splits its own list).
		DisableSliceFlagSeparator: true,
		HideVersion:               true,
		Flags:                     commonFlags(),
		ExitErrHandler:            func(*cli.Context, error) {}, // Main prints and maps errors
		// Every command, in one list: a newcomer finds each one here.
		Commands: []*cli.Command{
			archiveCommand(),
			checkinCommand(),
			restoreCommand(),
			verifyCommand(),
			listCommand(),
			statusCommand(),
			exportCommand(),
			migrateCommand(),
			backendsCommand(),
			versionCommand(build),
			completionCommand(),
		},
	}
	sort.Slice(app.Commands, func(i, j int) bool { return app.Commands[i].Name < app.Commands[j].Name })
	// --version is what most tools answer; it prints what `archiver version`
	// prints. urfave's own flag (hidden above) prints a different line.
	app.Flags = append(app.Flags, &cli.BoolFlag{Name: "version", Usage: "print version, commit and Go version, as the version command does"})
	app.Action = func(c *cli.Context) error {
		switch {
		case c.Bool("version"):
			printVersion(c.App.Writer, build)
			return nil
		case c.Args().Present():
			return withCode(ExitUsage, fmt.Errorf("unknown command %q; run 'archiver --help' for the list of commands", c.Args().First()))
		}
		return cli.ShowAppHelp(c)
	}
	app.OnUsageError = usageError
	strictArgs(app.Commands)
	return app
}

// usageError replaces urfave/cli's answer to a bad flag (the parse error
// followed by the whole help text, in which the error is easy to miss) with
// the error and one line saying where the help is.
func usageError(c *cli.Context, err error, _ bool) error {
	msg := err.Error()
	// Go's flag package names a flag with one dash; ours are documented
	// with two.
	for _, p := range []string{"flag -", "defined: -", "argument: -"} {
		if !strings.Contains(msg, p+"-") {
			msg = strings.Replace(msg, p, p+"-", 1)
		}
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: --"); ok {
		if where := commandsWithFlag(c.App.Commands, name); len(where) > 0 {
			msg += fmt.Sprintf(" here; --%s is a flag of %s: give it after the command name, e.g. %s --%s",
				name, strings.Join(where, ", "), where[0], name)
		} else if near := config.Nearest(name, flagNames(c)); near != "" {
			msg += fmt.Sprintf(" (did you mean --%s?)", near)
		}
	}
	return withCode(ExitUsage, fmt.Errorf("%s\nRun '%s --help' for usage.", msg, helpName(c)))
}

// flagNames are the names of the flags c takes.
func flagNames(c *cli.Context) []string {
	flags := c.App.Flags
	if c.Command != nil && c.Command.Name != "" {
		flags = c.Command.Flags
	}
	var out []string
	for _, f := range flags {
		out = append(out, f.Names()...)
	}
	return out
}

// commandsWithFlag names the commands (as typed: "archiver verify") that
// take flag name.
func commandsWithFlag(cmds []*cli.Command, name string) []string {
	var out []string
	for _, cmd := range cmds {
		out = append(out, commandsWithFlag(cmd.Subcommands, name)...)
		if cmd.Action == nil {
			continue
		}
		for _, f := range cmd.Flags {
			if slices.Contains(f.Names(), name) {
				out = append(out, cmd.HelpName)
				break
			}
		}
	}
	return out
}

func helpName(c *cli.Context) string {
	if c.Command != nil && c.Command.HelpName != "" {
		return c.Command.HelpName
	}
	return c.App.Name
}

// strictArgs makes every command refuse what urfave/cli would silently
// ignore: its flag parsing stops at the first positional argument, so in
// `archiver migrate down 1 --database-url x` the flag is never read and the
// command runs against $DATABASE_URL. Commands without an ArgsUsage take no
// arguments at all.
func strictArgs(cmds []*cli.Command) {
	for _, cmd := range cmds {
		strictArgs(cmd.Subcommands)
		cmd.OnUsageError = usageError
		if cmd.Action == nil {
			continue
		}
		action, takesArgs := cmd.Action, cmd.ArgsUsage != ""
		cmd.Action = func(c *cli.Context) error {
			if err := checkArgs(c, takesArgs); err != nil {
				return err
			}
			return action(c)
		}
	}
}

func checkArgs(c *cli.Context, takesArgs bool) error {
	args := c.Args().Slice()
	for i, a := range args {
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		if _, err := strconv.ParseFloat(a, 64); err == nil {
			continue // a negative number is an argument (after "--")
		}
		name, _, _ := strings.Cut(a, "=")
		if !strings.HasPrefix(name, "--") {
			name = "-" + name
		}
		after := "the command"
		if i > 0 {
			after = fmt.Sprintf("the argument %q", args[i-1])
		}
		return withCode(ExitUsage, fmt.Errorf("flag %s comes after %s, where it would be ignored (flags stop at the first argument): put every flag before the arguments, e.g. %s %s ... %s",
			name, after, helpName(c), name, strings.Join(args[:i], " ")))
	}
	if !takesArgs && len(args) > 0 {
		return withCode(ExitUsage, fmt.Errorf("%s takes no arguments, got %q; run '%s --help' for usage", helpName(c), strings.Join(args, " "), helpName(c)))
	}
	return nil
}

// commonScopes are the settings every command accepts, before or after the
// command name.
const commonScopes = config.ScopeDatabase | config.ScopeStorage | config.ScopeLog

func commonFlags() []cli.Flag {
	return append([]cli.Flag{&cli.StringFlag{
		Name:    "config",
		Usage:   "YAML configuration file (see config.example.yaml)",
		EnvVars: []string{"ARCHIVER_CONFIG"},
	}, &cli.StringFlag{
		Name:    "env-file",
		Usage:   "environment file read as systemd's EnvironmentFile= reads it (KEY=value lines, taken literally: & $ # and spaces need no quoting); its values override the environment",
		EnvVars: []string{"ARCHIVER_ENV_FILE"},
	}}, settingFlags(commonScopes)...)
}

// loadEnvFile puts the variables of the environment file into the process
// environment, where the settings and the storage backends' credentials are
// read from. Its values override inherited ones, as sourcing the file in a
// shell or systemd's EnvironmentFile= did; flags still override both.
func loadEnvFile(path string) error {
	vars, err := envfile.Read(path)
	if err != nil {
		return err
	}
	for _, v := range vars { // a later assignment wins, as in systemd
		if err := os.Setenv(v.Key, v.Value); err != nil {
			return fmt.Errorf("environment file %s: line %d: %w", path, v.Line, err)
		}
	}
	return nil
}

// settingFlags makes one flag per setting in scopes. Environment variables
// are read by config.Load (so that the file < env < flag order holds), and
// only shown here in the usage text.
func settingFlags(scopes config.Scope) []cli.Flag {
	var out []cli.Flag
	for _, s := range config.Settings() {
		if s.Scope&scopes == 0 || s.Flag == "" {
			continue
		}
		usage := s.Usage
		if len(s.Env) > 0 {
			usage += " [$" + strings.Join(s.Env, ", $") + "]"
		}
		def := s.Default
		switch {
		case s.IsBool():
			out = append(out, &cli.BoolFlag{Name: s.Flag, Usage: usage, DefaultText: def})
		case s.IsInt():
			out = append(out, &cli.Int64Flag{Name: s.Flag, Usage: usage, DefaultText: def})
		case s.IsDuration():
			out = append(out, &cli.DurationFlag{Name: s.Flag, Usage: usage, DefaultText: def})
		default:
			out = append(out, &cli.StringFlag{Name: s.Flag, Usage: usage, DefaultText: def})
		}
	}
	return out
}

func commandFlags(scopes config.Scope) []cli.Flag {
	return append(commonFlags(), settingFlags(scopes&^commonScopes)...)
}

// env is the context a command action works in.
type env struct {
	cfg     config.Config
	log     *slog.Logger
	stdout  io.Writer
	stderr  io.Writer
	secrets *secret.Set // known secrets, removed from output and manifests
}

// metaSecrets is the App.Metadata key of the process's secret.Set.
const metaSecrets = "secrets"

// setup loads the configuration and builds the logger. Flags may be given
// before or after the command name; the innermost wins.
func setup(c *cli.Context) (*env, error) {
	flags := map[string]string{}
	file, envFile := "", ""
	lineage := c.Lineage()
	for i := len(lineage) - 1; i >= 0; i-- { // outermost (app) first
		ctx := lineage[i]
		if ctx.Command == nil && ctx.App == nil {
			continue
		}
		for _, name := range ctx.LocalFlagNames() {
			switch name {
			case "config":
				file = ctx.String("config")
			case "env-file":
				envFile = ctx.String("env-file")
			default:
				flags[name] = fmt.Sprint(ctx.Value(name))
			}
		}
	}
	if envFile == "" {
		envFile = os.Getenv("ARCHIVER_ENV_FILE")
	}
	if envFile != "" {
		if err := loadEnvFile(envFile); err != nil {
			return nil, withCode(ExitUsage, err)
		}
	}
	if file == "" {
		file = os.Getenv("ARCHIVER_CONFIG")
	}
	cfg, err := config.Load(config.Sources{File: file, Flags: flags})
	if err != nil {
		err = withCode(ExitUsage, err)
		reportConfigFailure(c, cfg, err)
		return nil, err
	}
	secrets, _ := c.App.Metadata[metaSecrets].(*secret.Set)
	if secrets == nil {
		secrets = &secret.Set{} // an App built by New alone, as tests do
	}
	secrets.Add(postgres.Secrets(cfg.Database.URL)...)
	secrets.Add(backends.Secrets(cfg.Storage.Bucket)...)
	for _, name := range []string{"VERCEL_BLOB_RW_TOKEN", "BLOB_READ_WRITE_TOKEN"} {
		secrets.Add(secret.Part(os.Getenv(name)))
	}
	log, err := logging.New(c.App.ErrWriter, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return nil, withCode(ExitUsage, err)
	}
	stdout := c.App.Writer
	if c.Command == nil || c.Command.Name != "export" { // export writes data
		stdout = secrets.Writer(stdout)
	}
	return &env{cfg: cfg, log: log, stdout: stdout, stderr: c.App.ErrWriter, secrets: secrets}, nil
}

// reportConfigFailure records a run refused for its configuration as a
// failed run in the metrics, when the command writes metrics and the
// metrics settings could be read (cfg holds what was loaded): otherwise an
// alert on last_run_success fires only when the last success goes stale.
func reportConfigFailure(c *cli.Context, cfg config.Config, err error) {
	if c.Command == nil || !slices.Contains(flagNames(c), "metrics-file") || (cfg.Metrics.File == "" && cfg.Metrics.PushURL == "") {
		return
	}
	log, lerr := logging.New(c.App.ErrWriter, cfg.Log.Level, cfg.Log.Format)
	if lerr != nil {
		log, _ = logging.New(c.App.ErrWriter, "info", "text")
	}
	e := &env{cfg: cfg, log: log, stdout: io.Discard, stderr: c.App.ErrWriter}
	_ = e.failedStart(c.Context, c.Command.Name, time.Now().UTC(), err)
}

// storage names the configured storage without opening it: its URL
// (bucketURL) and its location's identity, as manifests record it.
func (e *env) storage() (bucketURL, identity string, err error) {
	u, err := e.bucketURL()
	if err != nil {
		return "", "", err
	}
	id, err := backends.Identity(u)
	if err != nil {
		return "", "", withCode(ExitUsage, fmt.Errorf("invalid setting storage.bucket: %w", err))
	}
	return u, id, nil
}

// warnStorage logs what the backend warns about the storage at bucketURL
// (a bucket directory under /tmp, say), for the commands that open it.
func (e *env) warnStorage(bucketURL string) {
	for _, w := range backends.Warnings(bucketURL) {
		e.log.Warn("WARNING: " + w)
	}
}

// bucketURL picks the storage: the configured URL, or the backend that the
// environment selects (Vercel Blob when only the original service's token
// is set, as the original did).
func (e *env) bucketURL() (string, error) {
	u := strings.TrimSpace(e.cfg.Storage.Bucket)
	if u == "" {
		implicit, names := backends.Implicit()
		if implicit != "" {
			return implicit, nil
		}
		return "", withCode(ExitUsage, fmt.Errorf(
			"no storage configured: set --bucket / ARCHIVER_BUCKET / storage.bucket (e.g. file:///var/archives), or set %s to use the storage they select (known schemes: %s)",
			strings.Join(names, " or "), strings.Join(backends.Schemes(), ", ")))
	}
	if _, err := backends.Identity(u); err != nil {
		return "", withCode(ExitUsage, fmt.Errorf("invalid setting storage.bucket: %w", err))
	}
	if err := backends.CheckDurable(u); err != nil {
		return "", withCode(ExitUsage, fmt.Errorf("invalid setting storage.bucket: %w", err))
	}
	return u, nil
}
