package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestReadmeUsingItRuns runs the README's "Using it" commands as written,
// in bash with -e, on a database holding 15 due days: `archiver` resolves
// through the PATH line to bin/archiver, as it does right after make demo.
// Only two lines are the test's own: `make build` (the test builds
// bin/archiver itself, in a temporary directory) and the export of
// DATABASE_URL and ARCHIVER_BUCKET, whose values are placeholders.
func TestReadmeUsingItRuns(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## Using it\n")
	if !ok {
		t.Fatal("README.md has no Using it section")
	}
	_, rest, _ = strings.Cut(rest, "```sh\n")
	block, _, _ := strings.Cut(rest, "```\n")
	if !strings.Contains(block, `export PATH="$PWD/bin:$PATH"`) {
		t.Fatalf("Using it does not put bin/archiver on PATH:\n%s", block)
	}

	dbURL := pgtest.NewDatabase(t)
	pgtest.CreateSchema(t, dbURL)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags)
		SELECT 's' || s, t, 1.5, 0 FROM generate_series(1, 3) s,
		generate_series(date_trunc('day', now()) - interval '45 days', date_trunc('day', now()) - interval '30 days 1 hour', interval '1 hour') t`); err != nil {
		t.Fatal(err)
	}

	bin, err := archiverBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(dir, "bin", "archiver")); err != nil {
		t.Fatal(err)
	}
	var script []string
	for _, line := range strings.Split(block, "\n") {
		switch {
		case strings.HasPrefix(line, "make build"):
			continue // built above
		case strings.HasPrefix(line, "export DATABASE_URL="):
			line = "export DATABASE_URL='" + dbURL + "' ARCHIVER_BUCKET='file://" + filepath.Join(dir, "archives") + "' ARCHIVER_CLEAN_IGNORE_COLUMNS=id"
		}
		script = append(script, line)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", strings.Join(script, "\n"))
	cmd.Dir = dir
	// Not the developer's PATH entry for another archiver: only the README's line may find it.
	cmd.Env = append(os.Environ(), "PATH=/usr/local/bin:/usr/bin:/bin", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README Using it, run as written: %v\n%s", err, out)
	}
	for _, want := range []string{"Archive files created: 15", "# archived 15", "Restore into", "USAGE:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("README Using it output lacks %q:\n%s", want, out)
		}
	}
}
