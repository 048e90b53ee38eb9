package cli_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/testkit"
)

// partitionedFilled migrates the database, partitions the clean table
// (partitioned) and fills the days of its daily partitions with two
// sensors' sample readings.
func (h *harness) partitionedFilled(fromDaysAgo, toDaysAgo int) []reading {
	h.t.Helper()
	h.mustRun("migrate", "up")
	today := h.today()
	h.partitioned(today, fromDaysAgo, toDaysAgo)
	rows := sample(today, fromDaysAgo, toDaysAgo, 2)
	h.insertClean(rows)
	return rows
}

// partitionedTableDDL replaces the clean table with one range-partitioned
// on ts, with a DEFAULT partition; the tests add the others.
var partitionedTableDDL = []string{
	`DROP TABLE shizuku.clean_measurements`,
	`CREATE TABLE shizuku.clean_measurements (id bigserial, sensor_id text NOT NULL, ts timestamptz NOT NULL,
			value_mm double precision, qc_flags integer, imputation_method text, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts)`,
	`CREATE INDEX ON shizuku.clean_measurements (ts)`,
	`CREATE TABLE shizuku.clean_default PARTITION OF shizuku.clean_measurements DEFAULT`,
}

// partitioned replaces the harness's clean table with one range-partitioned
// on ts: a daily partition for each of the days [fromDaysAgo, toDaysAgo)
// before today, a weekly one for the seven days before those, and a DEFAULT
// partition for everything else.
func (h *harness) partitioned(today time.Time, fromDaysAgo, toDaysAgo int) {
	h.t.Helper()
	stmts := slices.Clone(partitionedTableDDL)
	day := func(ago int) string { return today.AddDate(0, 0, -ago).Format(time.RFC3339) }
	stmts = append(stmts, fmt.Sprintf(`CREATE TABLE shizuku.clean_week PARTITION OF shizuku.clean_measurements FOR VALUES FROM ('%s') TO ('%s')`,
		day(fromDaysAgo+7), day(fromDaysAgo)))
	for ago := fromDaysAgo; ago > toDaysAgo; ago-- {
		stmts = append(stmts, fmt.Sprintf(`CREATE TABLE shizuku."clean_%d" PARTITION OF shizuku.clean_measurements FOR VALUES FROM ('%s') TO ('%s')`,
			ago, day(ago), day(ago-1)))
	}
	for _, s := range stmts {
		h.exec(s)
	}
}

func (h *harness) partitions() []string {
	h.t.Helper()
	rows, err := h.conn.Query(context.Background(), `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'shizuku.clean_measurements'::regclass`)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// TestDropPartitions: with --drop-partitions, the daily partitions of
// archived days are emptied in the day's transaction and dropped, a weekly
// partition goes once all its days are archived, every reading is in its
// archive exactly once, and the manifests count the rows removed. Late
// rows for a dropped day (in the DEFAULT partition) are merged by the next
// run.
func TestDropPartitions(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	h.partitioned(today, 36, 31) // daily 36..32 ago, weekly 43..37 ago
	rows := sample(today, 45, 31, 2)
	h.insertClean(rows)
	if n := h.count(`SELECT count(*) FROM shizuku."clean_33"`); n != 48 {
		t.Fatalf("daily partition holds %d rows, want 48", n)
	}

	r := h.mustRun("archive", "--drop-partitions", "--log-level", "debug", "--concurrency", "4")
	if !strings.Contains(r.stderr, "emptied partition") || !strings.Contains(r.stderr, "Dropped partition shizuku.clean_33") {
		t.Errorf("log does not show the partitions emptied and dropped:\n%s", r.stderr)
	}
	if got, want := strings.Join(h.partitions(), " "), "clean_default"; got != want {
		t.Errorf("partitions left: %s, want %s", got, want)
	}
	h.checkConverged(t, rows)
	if n := h.count(`SELECT sum(rows_deleted) FROM archiver.archive_runs WHERE kind = 'archive' AND status = 'committed'`); n != int64(len(rows)) {
		t.Errorf("manifests record %d rows deleted, want %d", n, len(rows))
	}

	// A late row for a day whose partition is gone lands in DEFAULT, and
	// the next run merges it into the day's archive.
	late := sample(today, 34, 33, 1)[:1]
	late[0].Sensor = "late"
	h.insertClean(late)
	h.mustRun("archive", "--drop-partitions")
	h.checkConverged(t, append(append([]reading{}, rows...), late...))
	if got := strings.Join(h.partitions(), " "); got != "clean_default" {
		t.Errorf("partitions left after the second run: %s", got)
	}
}

// TestDropPartitionsKeepsWhatIsNotArchived: a partition is only dropped when
// every day it covers has a committed archive and it is empty. A failed
// day keeps its partition and its rows; without the switch nothing is
// dropped; a dry run changes nothing.
func TestDropPartitionsKeepsWhatIsNotArchived(t *testing.T) {
	h := newHarness(t)
	rows := h.partitionedFilled(36, 31)
	all := h.partitions()

	h.mustRun("archive", "--drop-partitions", "--dry-run")
	if got := h.partitions(); strings.Join(got, " ") != strings.Join(all, " ") {
		t.Fatalf("dry run changed the partitions: %v", got)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != int64(len(rows)) {
		t.Fatalf("dry run left %d rows of %d", n, len(rows))
	}

	// Plain runs delete rows and leave the (empty) partitions.
	h.mustRun("archive")
	if got := h.partitions(); strings.Join(got, " ") != strings.Join(all, " ") {
		t.Fatalf("a run without --drop-partitions changed the partitions: %v", got)
	}
	h.checkConverged(t, rows)
	// Now they are empty and their days archived: the switch drops them,
	// but not the weekly one, whose days have no archives.
	h.mustRun("archive", "--drop-partitions")
	if got, want := strings.Join(h.partitions(), " "), "clean_default clean_week"; got != want {
		t.Errorf("partitions left: %s, want %s", got, want)
	}
}

// TestDropPartitionsCrash: killed at each step after the partition was
// emptied in the day's transaction, the run converges: TRUNCATE is
// transactional, so the rows are back until a commit records them.
func TestDropPartitionsCrash(t *testing.T) {
	for _, point := range []string{"archive.after-delete", "archive.before-commit", "archive.after-commit"} {
		t.Run(point, func(t *testing.T) {
			h := newHarness(t)
			rows := h.partitionedFilled(36, 31)
			h.killedAt(t, point, "2", nil, "archive", "--drop-partitions")
			h.completes(t, nil, "archive", "--drop-partitions")
			h.checkConverged(t, rows)
			if got := strings.Join(h.partitions(), " "); got != "clean_default clean_week" {
				t.Errorf("partitions left: %s", got)
			}
		})
	}
}

// TestDropPartitionsFailureFailsTheRun: a partition of archived days that
// cannot be dropped (here a view depends on it) is not just a log line: the
// summary counts it, the run exits 1, the rows stay archived and the
// partition stays attached; once the view is gone the next run drops it.
func TestDropPartitionsFailureFailsTheRun(t *testing.T) {
	h := newHarness(t)
	rows := h.partitionedFilled(36, 31)
	h.exec(`CREATE VIEW shizuku.v33 AS SELECT * FROM shizuku.clean_33`)

	r := h.run("archive", "--drop-partitions")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 when a partition cannot be dropped:\n%s", r.code, r.stderr)
	}
	testkit.Contains(t, "output", r.stderr, "Partitions that could not be dropped: 1", "clean_33", "partitions could not be dropped")
	h.checkConverged(t, rows)
	if got := strings.Join(h.partitions(), " "); !strings.Contains(got, "clean_33") || strings.Contains(got, "clean_34") {
		t.Errorf("partitions left: %s, want clean_33 kept and the others dropped", got)
	}

	h.exec(`DROP VIEW shizuku.v33`)
	h.mustRun("archive", "--drop-partitions")
	if got := strings.Join(h.partitions(), " "); got != "clean_default clean_week" {
		t.Errorf("partitions left after the view was dropped: %s", got)
	}
}
