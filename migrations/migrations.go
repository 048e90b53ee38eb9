// Package migrations holds the archiver's own schema changes as plain SQL,
// embedded in the binary and applied by golang-migrate. The files use
// unqualified names: the runner sets search_path to the configured manifest
// schema, so one set of files serves any schema name.
package migrations

import "embed"

// FS holds the *.up.sql and *.down.sql files.
//
//go:embed *.sql
var FS embed.FS
