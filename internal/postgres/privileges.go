package postgres

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Object is what a Grant is on.
type Object int

const (
	OnDatabase       Object = iota // the database the archiver connects to
	OnTableSchemas                 // the schemas of the raw and clean tables
	OnRawTable                     // raw.table
	OnCleanTable                   // clean.table (and a restore --into target)
	OnCleanSequences               // the sequences of the clean table's serial columns
	OnManifestSchema               // database.manifest_schema: the archiver's own schema
	OnRole                         // a role to be a member of
)

// Grant is one privilege the archiver's database role needs. Privileges is
// the one list of them: the README's GRANT statements are rendered from it
// and the commands' start-up privilege checks read it (TablePrivileges), so
// that what the docs ask a DBA to grant and what the archiver checks before
// it changes anything cannot drift apart; an end-to-end test runs every
// command as a role holding exactly these grants.
type Grant struct {
	On       Object
	Privs    []string // SQL privilege names; for OnManifestSchema, ownership; for OnRole, the role
	Commands []string // commands that need it
	Feature  string   // non-empty: needed only with this setting or flag
	Why      string
}

// Privileges lists every grant, in the order a DBA would run them.
func Privileges() []Grant {
	return []Grant{
		{On: OnDatabase, Privs: []string{"CONNECT"}, Commands: []string{"every command"},
			Why: "connect"},
		{On: OnDatabase, Privs: []string{"TEMPORARY"}, Commands: []string{"restore", "verify"},
			Why: "stage an archive in a temporary table when the day already has rows (verify --drill restores into one)"},
		{On: OnTableSchemas, Privs: []string{"USAGE"}, Commands: []string{"archive", "restore", "verify", "status", "checkin", "export"},
			Why: "reach the measurement tables (export: their column types)"},
		{On: OnRawTable, Privs: []string{"SELECT", "DELETE"}, Commands: []string{"archive"},
			Why: "the raw purge"},
		{On: OnCleanTable, Privs: []string{"SELECT"}, Commands: []string{"archive", "restore", "checkin", "verify", "status"},
			Why: "read a day's rows (restore: which readings the table already holds)"},
		{On: OnCleanTable, Privs: []string{"DELETE"}, Commands: []string{"archive", "checkin"},
			Why: "delete exactly the rows that were archived"},
		{On: OnCleanTable, Privs: []string{"INSERT"}, Commands: []string{"restore"},
			Why: "insert restored readings"},
		{On: OnCleanSequences, Privs: []string{"USAGE"}, Commands: []string{"restore"},
			Why: "restored rows take new values from the clean table's serial columns (not needed for identity columns); find the sequence with pg_get_serial_sequence('<table>', '<column>')"},
		{On: OnCleanTable, Privs: []string{"UPDATE"}, Commands: []string{"restore"}, Feature: "restore --on-conflict replace",
			Why: "overwrite a keyed reading with the archived one"},
		{On: OnManifestSchema, Commands: []string{"migrate", "every command"},
			Why: "the archiver's own schema, owned by its role: migrate creates archive_runs in it, every command reads and writes it"},
		{On: OnCleanTable, Privs: []string{"OWNER"}, Commands: []string{"archive"}, Feature: "archive.drop_partitions",
			Why: "TRUNCATE, DETACH and DROP of the clean table's partitions need its ownership"},
		{On: OnRole, Privs: []string{"pg_monitor"}, Commands: []string{"archive"}, Feature: "archive.max_replica_lag",
			Why: "read the replicas' lag in pg_stat_replication"},
	}
}

// TablePrivileges returns the privileges command needs on a measurement
// table (OnRawTable or OnCleanTable) without optional features, e.g.
// SELECT and DELETE for archive on the clean table.
func TablePrivileges(command string, on Object) []string {
	var out []string
	for _, g := range Privileges() {
		if g.On != on || g.Feature != "" || !contains(g.Commands, command) {
			continue
		}
		for _, p := range g.Privs {
			if !contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// Names are the objects GrantSQL renders the grants for.
type Names struct {
	Role, Database, ManifestSchema string
	Raw, Clean                     []string   // [schema,] table
	CleanSequences                 [][]string // [schema,] sequence of each serial column of the clean table
}

// GrantSQL renders Privileges as the SQL statements a DBA runs, one per
// grant, each after a comment line saying which commands need it and why.
func GrantSQL(n Names) string {
	role := pgx.Identifier{n.Role}.Sanitize()
	var b strings.Builder
	for _, g := range Privileges() {
		var stmt string
		switch g.On {
		case OnDatabase:
			stmt = fmt.Sprintf("GRANT %s ON DATABASE %s TO %s;", strings.Join(g.Privs, ", "), pgx.Identifier{n.Database}.Sanitize(), role)
		case OnTableSchemas:
			var schemas []string
			for _, t := range [][]string{n.Raw, n.Clean} {
				if len(t) == 2 && !contains(schemas, pgx.Identifier{t[0]}.Sanitize()) {
					schemas = append(schemas, pgx.Identifier{t[0]}.Sanitize())
				}
			}
			if len(schemas) == 0 {
				continue
			}
			stmt = fmt.Sprintf("GRANT %s ON SCHEMA %s TO %s;", strings.Join(g.Privs, ", "), strings.Join(schemas, ", "), role)
		case OnRawTable, OnCleanTable:
			t := n.Clean
			if g.On == OnRawTable {
				t = n.Raw
			}
			if contains(g.Privs, "OWNER") {
				stmt = fmt.Sprintf("ALTER TABLE %s OWNER TO %s;", ident(t), role)
			} else {
				stmt = fmt.Sprintf("GRANT %s ON %s TO %s;", strings.Join(g.Privs, ", "), ident(t), role)
			}
		case OnCleanSequences:
			if len(n.CleanSequences) == 0 {
				continue
			}
			var seqs []string
			for _, q := range n.CleanSequences {
				seqs = append(seqs, ident(q))
			}
			stmt = fmt.Sprintf("GRANT %s ON SEQUENCE %s TO %s;", strings.Join(g.Privs, ", "), strings.Join(seqs, ", "), role)
		case OnManifestSchema:
			stmt = fmt.Sprintf("CREATE SCHEMA %s AUTHORIZATION %s;", pgx.Identifier{n.ManifestSchema}.Sanitize(), role)
		case OnRole:
			stmt = fmt.Sprintf("GRANT %s TO %s;", strings.Join(g.Privs, ", "), role)
		}
		who := strings.Join(g.Commands, ", ")
		if g.Feature != "" {
			who = "only for " + g.Feature
		}
		fmt.Fprintf(&b, "-- %s: %s\n%s\n", who, g.Why, stmt)
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
