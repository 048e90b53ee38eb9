package manifest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/shizuku-labs/archiver/migrations"
)

// MigrationsTable is golang-migrate's state table, kept in the manifest
// schema next to archive_runs.
const MigrationsTable = "schema_migrations"

// LatestVersion is the highest migration embedded in this binary.
func LatestVersion() uint {
	var latest uint
	entries, _ := fs.ReadDir(migrations.FS, ".")
	for _, e := range entries {
		head, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			continue
		}
		if v, err := strconv.ParseUint(head, 10, 32); err == nil && uint(v) > latest {
			latest = uint(v)
		}
	}
	return latest
}

// Migrator applies the embedded migrations with golang-migrate.
type Migrator struct {
	m      *migrate.Migrate
	schema string
}

// NewMigrator connects a migrator to the manifest schema of the database
// that pool is connected to, creating the schema if asked. It uses its own
// connection (golang-migrate holds an advisory lock on it), so run it on a
// direct connection, not through a transaction-pooling proxy.
func NewMigrator(ctx context.Context, pool *pgxpool.Pool, schema string, createSchema bool) (*Migrator, error) {
	// CREATE SCHEMA needs the CREATE privilege on the database even when
	// the schema exists (IF NOT EXISTS is checked after the privilege), and
	// the least-privilege setup (README, Database privileges) gives the
	// role its schema instead: create it only when it is missing.
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return nil, fmt.Errorf("look up manifest schema %q: %w", schema, err)
	}
	if createSchema && !exists {
		if _, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			// Two `migrate up` at once race inside IF NOT EXISTS: the
			// loser gets a unique violation (or duplicate_schema) once the
			// winner has committed, so the schema is there.
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "23505" && pgErr.Code != "42P06" {
				return nil, fmt.Errorf("create manifest schema %q: %w", schema, err)
			}
		}
	} else {
		var exists bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
			return nil, fmt.Errorf("look up manifest schema %q: %w", schema, err)
		}
		if !exists {
			return nil, fmt.Errorf("%w: schema %q does not exist; run `archiver migrate up`", ErrNoSchema, schema)
		}
	}
	// The migration files use unqualified names; sessions whose search_path
	// is the schema put them in it. A plain database/sql handle, not a pool:
	// golang-migrate keeps a *sql.Conn that it does not give back when
	// WithInstance fails, and a pool would wait for it forever on Close.
	cc := pool.Config().ConnConfig.Copy()
	cc.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	db := stdlib.OpenDB(*cc)
	driver, err := migratepgx.WithInstance(db, &migratepgx.Config{
		MigrationsTable: MigrationsTable,
		SchemaName:      schema,
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare migrations in schema %q: %w", schema, err)
	}
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		return nil, fmt.Errorf("prepare migrations: %w", err)
	}
	return &Migrator{m: m, schema: schema}, nil
}

// ErrNoSchema means the manifest schema has not been created yet.
var ErrNoSchema = errors.New("manifest schema missing")

// Up applies all pending migrations. Nothing to do is not an error.
func (g *Migrator) Up() error { return g.explain(g.m.Up()) }

// Down rolls back n migrations; n <= 0 rolls back all of them.
func (g *Migrator) Down(n int) error {
	if n <= 0 {
		return g.explain(g.m.Down())
	}
	return g.explain(g.m.Steps(-n))
}

// Force sets the recorded version without running anything, to recover from
// a failed (dirty) migration after fixing it by hand.
func (g *Migrator) Force(v int) error { return g.explain(g.m.Force(v)) }

// Version returns the applied version; 0 means none.
func (g *Migrator) Version() (uint, bool, error) {
	v, dirty, err := g.m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	return v, dirty, err
}

// Close releases the migrator's connection.
func (g *Migrator) Close() error {
	srcErr, dbErr := g.m.Close()
	return errors.Join(srcErr, dbErr)
}

func (g *Migrator) explain(err error) error {
	var dirty migrate.ErrDirty
	switch {
	case err == nil, errors.Is(err, migrate.ErrNoChange):
		return nil
	case errors.As(err, &dirty):
		return fmt.Errorf("migration %d failed earlier and left the schema %q dirty: repair it by hand, then run `archiver migrate force %d` (or the version before it): %w",
			dirty.Version, g.schema, dirty.Version, err)
	}
	return fmt.Errorf("migrate schema %q: %w", g.schema, err)
}

// CheckMigrated returns nil if the manifest schema is at exactly the version
// this binary expects. It only reads, so it is safe in a dry run.
func CheckMigrated(ctx context.Context, q Querier, schema string) error {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`,
		pgx.Identifier{schema, MigrationsTable}.Sanitize()).Scan(&exists); err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	want := LatestVersion()
	if !exists {
		return fmt.Errorf("%w: schema %q has no archiver tables; run `archiver migrate up` first", ErrNotMigrated, schema)
	}
	var v int64
	var dirty bool
	err := q.QueryRow(ctx, `SELECT version, dirty FROM `+pgx.Identifier{schema, MigrationsTable}.Sanitize()+` LIMIT 1`).Scan(&v, &dirty)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: schema %q has no migrations applied; run `archiver migrate up` first", ErrNotMigrated, schema)
	}
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	switch {
	case dirty:
		return fmt.Errorf("%w: migration %d in schema %q failed halfway (dirty); repair it, then run `archiver migrate force %d` and `archiver migrate up`",
			ErrNotMigrated, v, schema, v)
	case uint(v) < want:
		return fmt.Errorf("%w: schema %q is at version %d, this archiver needs %d; run `archiver migrate up`", ErrNotMigrated, schema, v, want)
	case uint(v) > want:
		return fmt.Errorf("%w: schema %q is at version %d, newer than this archiver (%d); upgrade the archiver binary", ErrNotMigrated, schema, v, want)
	}
	// The version alone does not prove the table is there (dropped or
	// renamed by hand, or a `migrate force` after a `migrate down`); a run
	// must not purge or archive anything it cannot record.
	var table bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{schema, "archive_runs"}.Sanitize()).Scan(&table); err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if !table {
		return fmt.Errorf("%w: schema %q is at version %d but has no archive_runs table; put it back, or run `archiver migrate force -- -1` and `archiver migrate up` to create it afresh (its history is then lost)",
			ErrNotMigrated, schema, v)
	}
	return nil
}

// Versions lists the embedded migration versions, ascending.
func Versions() []uint {
	var out []uint
	seen := map[uint]bool{}
	entries, _ := fs.ReadDir(migrations.FS, ".")
	for _, e := range entries {
		head, _, _ := strings.Cut(e.Name(), "_")
		if v, err := strconv.ParseUint(head, 10, 32); err == nil && !seen[uint(v)] {
			seen[uint(v)] = true
			out = append(out, uint(v))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// CountManifests returns how many manifest rows archive_runs holds, and how many of
// them are committed archives; both 0 if the table is missing.
func CountManifests(ctx context.Context, q Querier, schema string) (total, committed int64, err error) {
	var exists bool
	table := pgx.Identifier{schema, "archive_runs"}.Sanitize()
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil || !exists {
		return 0, 0, err
	}
	err = q.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE kind = 'archive' AND status = 'committed') FROM `+table).Scan(&total, &committed)
	if err != nil {
		return 0, 0, fmt.Errorf("count manifests in %s: %w", table, err)
	}
	return total, committed, nil
}

var dropStatement = regexp.MustCompile(`(?i)\bDROP\s+(TABLE|INDEX|COLUMN|SCHEMA|TYPE|FUNCTION|VIEW)\s+(?:IF\s+EXISTS\s+)?([^\s,;(]+)`)

// DownDrops lists what rolling back migration v drops ("column key_mode",
// "table archive_runs"), read from its embedded down file, so that
// `migrate down` can say it before it does it.
func DownDrops(v uint) []string {
	entries, _ := fs.ReadDir(migrations.FS, ".")
	var out []string
	for _, e := range entries {
		head, _, _ := strings.Cut(e.Name(), "_")
		if n, err := strconv.ParseUint(head, 10, 32); err != nil || uint(n) != v || !strings.HasSuffix(e.Name(), ".down.sql") {
			continue
		}
		data, err := fs.ReadFile(migrations.FS, e.Name())
		if err != nil {
			continue
		}
		for _, m := range dropStatement.FindAllStringSubmatch(string(data), -1) {
			out = append(out, strings.ToLower(m[1])+" "+m[2])
		}
	}
	return out
}
