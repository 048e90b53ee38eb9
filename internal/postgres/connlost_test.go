package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/pgtest"
	"github.com/shizuku-labs/archiver/internal/postgres"
)

// TestIsConnectionLost: a statement on a connection the server terminated
// is a lost connection, which a failed day's record may be retried after;
// an ordinary SQL error is not.
func TestIsConnectionLost(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	victim, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close(ctx)
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)

	_, err = victim.Exec(ctx, `SELECT * FROM no_such_table`)
	if err == nil || postgres.IsConnectionLost(err) {
		t.Fatalf("a missing table: err %v, IsConnectionLost %v; want an error that is not a lost connection", err, postgres.IsConnectionLost(err))
	}
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, victim.PgConn().PID()); err != nil {
		t.Fatal(err)
	}
	_, err = victim.Exec(ctx, `SELECT 1`)
	if !postgres.IsConnectionLost(err) {
		t.Fatalf("a terminated connection: err %v is not a lost connection", err)
	}
	_, err = victim.Exec(ctx, `SELECT 1`)
	if !postgres.IsConnectionLost(err) {
		t.Fatalf("a closed connection: err %v is not a lost connection", err)
	}
}
