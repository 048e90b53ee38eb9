package cli_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/manifest"
)

// latest is the newest migration version, as the commands print it.
var latest = strconv.Itoa(int(manifest.LatestVersion()))

func TestMigrateCommands(t *testing.T) {
	h := newHarness(t)
	if r := h.mustRun("migrate", "version"); !strings.HasPrefix(r.stdout, "0 ") {
		t.Errorf("fresh database version: %q", r.stdout)
	}
	h.mustRun("migrate", "up")
	if r := h.mustRun("migrate", "up"); !strings.Contains(r.stdout, "version "+latest) {
		t.Errorf("second up: %q", r.stdout)
	}
	if r := h.mustRun("migrate", "version"); !strings.HasPrefix(r.stdout, latest+" ") {
		t.Errorf("version after up: %q", r.stdout)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs`); n != 0 {
		t.Errorf("archive_runs not empty: %d", n)
	}
	h.mustRun("migrate", "down", "--yes", latest)
	if n := h.count(`SELECT count(*) FROM pg_tables WHERE schemaname = 'archiver' AND tablename = 'archive_runs'`); n != 0 {
		t.Error("down 1 left archive_runs")
	}
	if r := h.run("migrate", "down", "zero"); r.code != cli.ExitUsage {
		t.Errorf("down with a bad N: exit %d", r.code)
	}
	h.mustRun("migrate", "up")
	h.mustRun("migrate", "force", latest)
	if r := h.mustRun("migrate", "version"); !strings.HasPrefix(r.stdout, latest+" ") || strings.Contains(r.stdout, "dirty") {
		t.Errorf("version after force: %q", r.stdout)
	}
	// Another schema name keeps everything apart.
	h.mustRun("migrate", "up", "--manifest-schema", `ops "archiver"`)
	if n := h.count(`SELECT count(*) FROM "ops ""archiver""".archive_runs`); n != 0 {
		t.Errorf("archive_runs in the quoted schema: %d", n)
	}
}

// TestMigrateUpTwiceAtOnce: deploys may start two migrations together; the
// second waits for the first's lock and finds nothing to do.
func TestMigrateUpTwiceAtOnce(t *testing.T) {
	h := newHarness(t)
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Go(func() { results[i] = h.run("migrate", "up") })
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("migrate up #%d: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	if r := h.mustRun("migrate", "version"); !strings.HasPrefix(r.stdout, latest+" ") {
		t.Errorf("version: %q", r.stdout)
	}
}
