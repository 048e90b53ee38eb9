package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/shizuku-labs/archiver/internal/manifest"
)

func migrateCommand() *cli.Command {
	flags := commandFlags(0)
	return &cli.Command{
		Name:  "migrate",
		Usage: "create or update the archiver's own tables (archive_runs)",
		Description: `Applies the SQL migrations embedded in this binary with golang-migrate, in the
manifest schema (database.manifest_schema, default "archiver"). Run
"archiver migrate up" on every deploy, on a direct connection to PostgreSQL
(not through a transaction-pooling proxy: the migration lock is a session
advisory lock). Two "migrate up" at once are safe: the second waits.

Examples:
   archiver migrate up
   archiver migrate version
   archiver migrate down --yes 1
   archiver migrate force 1`,
		Subcommands: []*cli.Command{
			{Name: "up", Usage: "apply all pending migrations", Flags: flags,
				Description: "Creates the manifest schema if needed and applies every migration this binary has that the\ndatabase lacks. Nothing to do is success.\n\nExamples:\n   archiver migrate up\n   DATABASE_URL=postgres://archiver@db/measurements archiver migrate up", Action: func(c *cli.Context) error {
					return withMigrator(c, true, func(e *env, m *manifest.Migrator) error {
						if err := m.Up(); err != nil {
							return withCode(ExitUnavailable, err)
						}
						v, _, err := m.Version()
						if err != nil {
							return withCode(ExitUnavailable, err)
						}
						fmt.Fprintf(e.stdout, "schema %q is at version %d\n", e.cfg.Database.ManifestSchema, v)
						return e.identifyLegacyLocations(c.Context)
					})
				}},
			{Name: "down", Usage: "roll back N migrations (all if N is omitted); needs --yes", ArgsUsage: "[N]",
				Flags:       append(flags, &cli.BoolFlag{Name: "yes", Usage: "really roll back: rolling back the first migration drops archive_runs, the record of every archive"}),
				Description: "Rolls back the newest N migrations (all of them without N). Rolling back the first one drops\narchive_runs and with it the record of every archive: the archives themselves stay in storage.\nIt first says what it will drop (how many manifests), then needs --yes, or, when stdin is a\nterminal, the manifest schema's name typed in.\n\nExamples:\n   archiver migrate down --yes 1", Action: migrateDown},
			{Name: "version", Usage: "print the applied migration version", Flags: flags,
				Description: "Prints the applied version, whether the last migration failed halfway (dirty), and the newest\nversion this binary has.\n\nExamples:\n   archiver migrate version", Action: func(c *cli.Context) error {
					err := withMigrator(c, false, func(e *env, m *manifest.Migrator) error {
						v, dirty, err := m.Version()
						if err != nil {
							return withCode(ExitUnavailable, err)
						}
						state := ""
						if dirty {
							state = " (dirty: a migration failed halfway; repair it, then `archiver migrate force V`)"
						}
						fmt.Fprintf(e.stdout, "%d%s (this binary has migrations up to %d)\n", v, state, manifest.LatestVersion())
						return nil
					})
					if errors.Is(err, manifest.ErrNoSchema) {
						fmt.Fprintf(c.App.Writer, "0 (no archiver schema yet; this binary has migrations up to %d: run `archiver migrate up`)\n", manifest.LatestVersion())
						return nil
					}
					return err
				}},
			{Name: "force", Usage: "set the recorded version without running migrations (after repairing a failed one)", ArgsUsage: "V", Flags: flags,
				Description: "After a migration failed halfway, repair the schema by hand to the state of version V, then\nrecord it; the dirty flag is cleared.\n\nExamples:\n   archiver migrate force 1", Action: func(c *cli.Context) error {
					v, err := strconv.Atoi(c.Args().First())
					if err != nil || v < -1 {
						return withCode(ExitUsage, fmt.Errorf("migrate force: V must be a version number, got %q", c.Args().First()))
					}
					return withMigrator(c, false, func(e *env, m *manifest.Migrator) error {
						if err := m.Force(v); err != nil {
							return withCode(ExitUnavailable, err)
						}
						fmt.Fprintf(e.stdout, "schema %q forced to version %d\n", e.cfg.Database.ManifestSchema, v)
						return nil
					})
				}},
		},
	}
}

func withMigrator(c *cli.Context, create bool, fn func(*env, *manifest.Migrator) error) error {
	return withPoolMigrator(c, create, func(e *env, _ *pgxpool.Pool, m *manifest.Migrator) error { return fn(e, m) })
}

func withPoolMigrator(c *cli.Context, create bool, fn func(*env, *pgxpool.Pool, *manifest.Migrator) error) error {
	e, err := setup(c)
	if err != nil {
		return err
	}
	pool, err := e.connect(c.Context, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := manifest.NewMigrator(c.Context, pool, e.cfg.Database.ManifestSchema, create)
	if err != nil {
		return withCode(ExitUnavailable, err)
	}
	defer m.Close()
	return fn(e, pool, m)
}

// Where a destructive migration asks; tests replace them.
var (
	confirmIn       io.Reader = os.Stdin
	confirmTerminal           = func() bool { return term.IsTerminal(int(os.Stdin.Fd())) }
)

// migrateDown rolls back migrations only when told to twice: it says what
// will be dropped, then needs --yes (or the schema's name typed on a
// terminal). Without it nothing changes.
func migrateDown(c *cli.Context) error {
	n := 0
	if c.Args().Present() {
		v, err := strconv.Atoi(c.Args().First())
		if err != nil || v < 1 || c.Args().Len() > 1 {
			return withCode(ExitUsage, fmt.Errorf("migrate down: N must be one positive whole number, got %q", strings.Join(c.Args().Slice(), " ")))
		}
		n = v
	}
	return withPoolMigrator(c, false, func(e *env, pool *pgxpool.Pool, m *manifest.Migrator) error {
		schema := e.cfg.Database.ManifestSchema
		v, _, err := m.Version()
		if err != nil {
			return withCode(ExitUnavailable, err)
		}
		var undo []uint // applied versions this rolls back, newest first
		for _, mv := range slices.Backward(manifest.Versions()) {
			if mv <= v && (n == 0 || len(undo) < n) {
				undo = append(undo, mv)
			}
		}
		if len(undo) == 0 {
			fmt.Fprintf(e.stdout, "schema %q is at version %d: nothing to roll back\n", schema, v)
			return nil
		}
		plan := fmt.Sprintf("migrate down rolls back schema %q from version %d to %d (migrations %s)", schema, v, versionBelow(undo[len(undo)-1]), joinVersions(undo))
		for _, mv := range undo {
			if drops := manifest.DownDrops(mv); len(drops) > 0 && mv != manifest.Versions()[0] {
				plan += fmt.Sprintf("; migration %d drops %s (the values they hold are lost)", mv, strings.Join(drops, ", "))
			}
		}
		if undo[len(undo)-1] == manifest.Versions()[0] {
			total, committed, err := manifest.CountManifests(c.Context, pool, schema)
			if err != nil {
				return withCode(ExitUnavailable, err)
			}
			plan += fmt.Sprintf(": this DROPS archive_runs and its %d manifest rows (%d committed archives), the record of what was archived and its checksums; the archive objects stay in storage, but restore and verify can no longer check them", total, committed)
		}
		fmt.Fprintln(e.stderr, plan)
		if !c.Bool("yes") {
			if !confirmTerminal() {
				return withCode(ExitUsage, fmt.Errorf("migrate down: nothing was changed; add --yes to roll back (archiver migrate down --yes%s)", argText(n)))
			}
			fmt.Fprintf(e.stderr, "Type the schema name (%s) to roll back, anything else to cancel: ", schema)
			line, _ := bufio.NewReader(confirmIn).ReadString('\n')
			if strings.TrimSpace(line) != schema {
				return withCode(ExitUsage, errors.New("migrate down: cancelled; nothing was changed"))
			}
		}
		if err := m.Down(n); err != nil {
			return withCode(ExitUnavailable, err)
		}
		v, _, _ = m.Version()
		fmt.Fprintf(e.stdout, "schema %q is at version %d\n", schema, v)
		return nil
	})
}

// versionBelow is the embedded version before v; 0 if none.
func versionBelow(v uint) uint {
	below := uint(0)
	for _, mv := range manifest.Versions() {
		if mv < v {
			below = mv
		}
	}
	return below
}

func joinVersions(vs []uint) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.FormatUint(uint64(v), 10)
	}
	return strings.Join(s, ", ")
}

func argText(n int) string {
	if n == 0 {
		return ""
	}
	return " " + strconv.Itoa(n)
}

// identifyLegacyLocations records the configured storage location's
// identity in the manifests written before identities existed, when a
// bucket is configured (else the first archive, verify or restore run
// does it).
func (e *env) identifyLegacyLocations(ctx context.Context) error {
	_, id, err := e.storage()
	if err != nil {
		return nil
	}
	pool, err := e.connect(ctx, 1)
	if err != nil {
		return err
	}
	defer pool.Close()
	return e.resolveLegacy(ctx, pool, manifest.NewStore(e.cfg.Database.ManifestSchema), id, true)
}
