package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/shizuku-labs/archiver/backends"
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
   archiver migrate down 1
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
			{Name: "down", Usage: "roll back N migrations (all if N is omitted)", ArgsUsage: "[N]", Flags: flags,
				Description: "Rolls back the newest N migrations. Rolling back the first one drops archive_runs and with it\nthe record of every archive: the archives themselves stay in storage.\n\nExamples:\n   archiver migrate down 1", Action: func(c *cli.Context) error {
					n := 0
					if c.Args().Present() {
						v, err := strconv.Atoi(c.Args().First())
						if err != nil || v < 1 {
							return withCode(ExitUsage, fmt.Errorf("migrate down: N must be a positive whole number, got %q", c.Args().First()))
						}
						n = v
					}
					return withMigrator(c, false, func(e *env, m *manifest.Migrator) error {
						if err := m.Down(n); err != nil {
							return withCode(ExitUnavailable, err)
						}
						v, _, _ := m.Version()
						fmt.Fprintf(e.stdout, "schema %q is at version %d\n", e.cfg.Database.ManifestSchema, v)
						return nil
					})
				}},
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
	return fn(e, m)
}

// identifyLegacyLocations records the configured storage location's
// identity in the manifests written before identities existed, when a
// bucket is configured (else the first archive, verify or restore run
// does it).
func (e *env) identifyLegacyLocations(ctx context.Context) error {
	u, err := e.bucketURL()
	if err != nil {
		return nil
	}
	id, err := backends.Identity(u)
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
