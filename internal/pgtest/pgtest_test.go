package pgtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatalf("connect %s: %v", dbURL, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestDatabasesAreSeparateAndHoldTheSchema(t *testing.T) {
	ctx := t.Context()
	a, b := NewDatabase(t), NewDatabase(t)
	if a == b {
		t.Fatalf("two databases share a URL: %s", a)
	}

	CreateSchema(t, a)
	CreateSchema(t, a) // scripts re-apply it; it must be idempotent

	ca := connect(t, a)
	ts := time.Date(2025, 1, 15, 10, 30, 0, 0, time.UTC)
	var rawID int64
	if err := ca.QueryRow(ctx, `INSERT INTO shizuku.raw_measurements (sensor_id, ts, value_mm, payload)
		VALUES ($1, $2, $3, $4) RETURNING id`, "gauge-7", ts, 12.5, map[string]any{"battery": 3.7}).Scan(&rawID); err != nil {
		t.Fatalf("insert raw: %v", err)
	}
	if _, err := ca.Exec(ctx, `INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags, imputation_method)
		VALUES ($1, $2, NULL, 4, 'linear')`, "gauge-7", ts); err != nil {
		t.Fatalf("insert clean: %v", err)
	}

	var (
		sensor  string
		gotTS   time.Time
		value   float64
		battery float64
	)
	if err := ca.QueryRow(ctx, `SELECT sensor_id, ts, value_mm, (payload->>'battery')::float8
		FROM shizuku.raw_measurements WHERE id = $1`, rawID).Scan(&sensor, &gotTS, &value, &battery); err != nil {
		t.Fatalf("read raw: %v", err)
	}
	if sensor != "gauge-7" || !gotTS.Equal(ts) || value != 12.5 || battery != 3.7 {
		t.Fatalf("read back %q %v %v %v", sensor, gotTS, value, battery)
	}
	var method string
	var flags int32
	if err := ca.QueryRow(ctx, `SELECT qc_flags, imputation_method FROM shizuku.clean_measurements`).Scan(&flags, &method); err != nil {
		t.Fatalf("read clean: %v", err)
	}
	if flags != 4 || method != "linear" {
		t.Fatalf("clean row: %d %q", flags, method)
	}

	// The schema went into a only.
	cb := connect(t, b)
	var exists bool
	if err := cb.QueryRow(ctx, `SELECT to_regclass('shizuku.raw_measurements') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("schema created in database a is visible in database b")
	}
}

func TestDatabaseIsDroppedAfterTest(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		u := NewDatabase(t)
		name = u[strings.LastIndex(u, "/")+1 : strings.Index(u, "?")]
		// An open connection must not stop the drop (WITH (FORCE)).
		conn, err := pgx.Connect(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn // deliberately left open
	})
	conn := connect(t, URL(t))
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}

func TestSchemaSQLIsEmbedded(t *testing.T) {
	for _, want := range []string{"shizuku.raw_measurements", "shizuku.clean_measurements", "payload", "imputation_method"} {
		if !strings.Contains(SchemaSQL, want) {
			t.Errorf("SchemaSQL lacks %q", want)
		}
	}
}

// TestStandbyFollowsPrimary: the standby replays what the primary writes,
// stops while replay is paused, and catches up when resumed.
func TestStandbyFollowsPrimary(t *testing.T) {
	ctx := context.Background()
	s := NewStandby(t)
	primary, err := pgx.Connect(ctx, URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close(ctx)
	table := fmt.Sprintf("standby_probe_%d", time.Now().UnixNano())
	if _, err := primary.Exec(ctx, `CREATE TABLE `+table+` (n int); INSERT INTO `+table+` VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	defer primary.Exec(ctx, `DROP TABLE `+table)
	standby, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close(ctx)
	rows := func() int {
		var n int
		if err := standby.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			return -1 // not replayed yet
		}
		return n
	}
	waitFor := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); rows() != want; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("standby has %d rows, want %d", rows(), want)
			}
		}
	}
	waitFor(1)
	s.PauseReplay(t)
	if _, err := primary.Exec(ctx, `INSERT INTO `+table+` VALUES (2)`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if n := rows(); n != 1 {
		t.Fatalf("standby has %d rows with replay paused, want 1", n)
	}
	s.ResumeReplay(t)
	waitFor(2)
}
