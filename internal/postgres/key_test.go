package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/pgtest"
	"github.com/shizuku-labs/archiver/internal/postgres"
)

// TestReadingKey: only a non-partial, immediate unique key on exactly the
// sensor and time columns (in either order) is a reading key.
func TestReadingKey(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	cases := []struct {
		name, ddl, want string
	}{
		{"primary key", `PRIMARY KEY (s, "T")`, "m_pkey"},
		{"unique, other order", `CONSTRAINT u UNIQUE ("T", s)`, "u"},
		{"surrogate id", `id bigserial PRIMARY KEY`, ""},
		{"wider key", `UNIQUE (s, "T", q)`, ""},
		{"deferrable", `UNIQUE (s, "T") DEFERRABLE INITIALLY DEFERRED`, ""},
		{"none", ``, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			schema := pgx.Identifier{"k" + string(rune('a'+i))}.Sanitize()
			ddl := `CREATE SCHEMA ` + schema + `; CREATE TABLE ` + schema + `.m (s text NOT NULL, "T" timestamptz NOT NULL, v float8, q int, m text`
			if c.ddl != "" {
				ddl += ", " + c.ddl
			}
			if _, err := conn.Exec(ctx, ddl+`)`); err != nil {
				t.Fatal(err)
			}
			tbl := postgres.CleanTable{Name: []string{"k" + string(rune('a'+i)), "m"}, Sensor: "s", Time: "T", Value: "v", QCFlags: "q", Imputation: "m"}
			got, err := tbl.ReadingKey(ctx, conn)
			if err != nil || got != c.want {
				t.Errorf("ReadingKey = %q, %v; want %q", got, err, c.want)
			}
		})
	}
	// Indexes rather than constraints: a unique index counts, unless
	// partial or on an expression.
	if _, err := conn.Exec(ctx, `CREATE TABLE ix (s text NOT NULL, t timestamptz NOT NULL, v float8, q int, m text);
		CREATE UNIQUE INDEX ix_part ON ix (s, t) WHERE q IS NOT NULL;
		CREATE UNIQUE INDEX ix_expr ON ix (lower(s), t)`); err != nil {
		t.Fatal(err)
	}
	tbl := postgres.CleanTable{Name: []string{"ix"}, Sensor: "s", Time: "t", Value: "v", QCFlags: "q", Imputation: "m"}
	if got, err := tbl.ReadingKey(ctx, conn); err != nil || got != "" {
		t.Errorf("partial and expression indexes: ReadingKey = %q, %v; want none", got, err)
	}
	if _, err := conn.Exec(ctx, `CREATE UNIQUE INDEX ix_key ON ix (t, s)`); err != nil {
		t.Fatal(err)
	}
	if got, err := tbl.ReadingKey(ctx, conn); err != nil || got != "ix_key" {
		t.Errorf("unique index: ReadingKey = %q, %v; want ix_key", got, err)
	}
	// A partitioned table's key is on the parent.
	if _, err := conn.Exec(ctx, `CREATE TABLE pt (s text NOT NULL, t timestamptz NOT NULL, v float8, q int, m text, PRIMARY KEY (s, t)) PARTITION BY RANGE (t);
		CREATE TABLE pt_1 PARTITION OF pt FOR VALUES FROM ('2025-01-01') TO ('2025-01-02')`); err != nil {
		t.Fatal(err)
	}
	tbl.Name = []string{"pt"}
	if got, err := tbl.ReadingKey(ctx, conn); err != nil || got != "pt_pkey" {
		t.Errorf("partitioned table: ReadingKey = %q, %v; want pt_pkey", got, err)
	}
}
