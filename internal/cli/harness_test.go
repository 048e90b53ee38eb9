package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	_ "github.com/shizuku-labs/archiver/backends/cloud"
	_ "github.com/shizuku-labs/archiver/backends/vercelblob"
	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/pgtest"
)

func TestMain(m *testing.M) {
	// The test schema's clean table has a surrogate id (bigserial), which
	// an operator declares not kept; every command sees the same setting.
	os.Setenv("ARCHIVER_CLEAN_IGNORE_COLUMNS", "id")
	pgtest.Main(m)
}

// harness is one fresh database with the original service's schema, and a
// file:// bucket in a temporary directory.
type harness struct {
	t      *testing.T
	dbURL  string
	dir    string
	bucket string
	conn   *pgx.Conn
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	pgtest.CreateSchema(t, dbURL)
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	dir := t.TempDir()
	return &harness{t: t, dbURL: dbURL, dir: dir, bucket: "file://" + dir, conn: conn}
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs the archiver in process with the harness's database and bucket.
func (h *harness) run(args ...string) result {
	h.t.Helper()
	full := append([]string{"archiver"}, args...)
	if len(args) > 0 && args[0] != "version" && args[0] != "backends" {
		// The harness's flags go first, as global flags: flag parsing stops
		// at the first positional argument (a flag after one is an error),
		// and the command's own flags, given later, win.
		var extra []string
		extra = append(extra, "--database-url", h.dbURL)
		if args[0] != "migrate" && !slices.Contains(args, "--bucket") && h.bucket != "" {
			extra = append(extra, "--bucket", h.bucket)
		}
		full = append(full[:1:1], append(extra, full[1:]...)...)
	}
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), full, &out, &errOut, cli.Build{Version: "test", Commit: "test"})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func (h *harness) mustRun(args ...string) result {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 {
		h.t.Fatalf("archiver %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// reading is a row of the clean table as the tests see it.
type reading struct {
	Sensor     string
	Time       time.Time
	Value      *float64
	QCFlags    *int64
	Imputation *string
}

func (r reading) key() string {
	v, q, m := "null", "null", "null"
	if r.Value != nil {
		v = fmt.Sprint(*r.Value)
	}
	if r.QCFlags != nil {
		q = fmt.Sprint(*r.QCFlags)
	}
	if r.Imputation != nil {
		m = fmt.Sprintf("%q", *r.Imputation)
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s", r.Sensor, r.Time.UTC().Format(time.RFC3339Nano), v, q, m)
}

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }
func str(v string) *string   { return &v }

// today is the start of the current UTC day by the database's clock.
func (h *harness) today() time.Time {
	var now time.Time
	if err := h.conn.QueryRow(context.Background(), `SELECT now()`).Scan(&now); err != nil {
		h.t.Fatal(err)
	}
	now = now.UTC()
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
}

// sample makes readings for the days [from, to) before today: a few sensors
// every 10 minutes, with NULLs, imputation methods and microsecond times.
func sample(today time.Time, fromDaysAgo, toDaysAgo int, sensors int) []reading {
	var out []reading
	for d := fromDaysAgo; d > toDaysAgo; d-- {
		day := today.AddDate(0, 0, -d)
		for s := range sensors {
			for m := 0; m < 24*60; m += 60 {
				t := day.Add(time.Duration(m)*time.Minute + time.Duration(s*37+d)*time.Microsecond)
				r := reading{Sensor: fmt.Sprintf("sensor-%02d", s), Time: t, Value: f64(float64(m)/7.0 + float64(s)), QCFlags: i64(int64(m % 3))}
				switch (m / 60) % 5 {
				case 1:
					r.Imputation = str("ARIMA")
				case 2:
					r.Value = nil
				case 3:
					r.QCFlags = nil
				}
				out = append(out, r)
			}
		}
	}
	return out
}

// archived migrates the database, fills the clean table with the sample
// readings of the days from fromDaysAgo to toDaysAgo (not included) and
// archives them (the rows are deleted): the first day and the readings.
func (h *harness) archived(fromDaysAgo, toDaysAgo, sensors int) (time.Time, []reading) {
	h.t.Helper()
	h.mustRun("migrate", "up")
	today := h.today()
	rs := sample(today, fromDaysAgo, toDaysAgo, sensors)
	h.insertClean(rs)
	h.mustRun("archive")
	return today.AddDate(0, 0, -fromDaysAgo), rs
}

// archivedDay is archived(36, 35, 2): one day of two sensors.
func (h *harness) archivedDay() (time.Time, []reading) {
	h.t.Helper()
	return h.archived(36, 35, 2)
}

func (h *harness) insertClean(rs []reading) {
	h.t.Helper()
	rows := make([][]any, len(rs))
	for i, r := range rs {
		rows[i] = []any{r.Sensor, r.Time, r.Value, r.QCFlags, r.Imputation}
	}
	_, err := h.conn.CopyFrom(context.Background(), pgx.Identifier{"shizuku", "clean_measurements"},
		[]string{"sensor_id", "ts", "value_mm", "qc_flags", "imputation_method"}, pgx.CopyFromRows(rows))
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) cleanRows(where string, args ...any) []reading {
	h.t.Helper()
	return h.readings(`SELECT sensor_id, ts, value_mm, qc_flags::int8, imputation_method FROM shizuku.clean_measurements WHERE `+where+` ORDER BY sensor_id, ts`, args...)
}

// readings runs a query whose columns are sensor, time, value, qc flags and
// imputation method, and returns its rows.
func (h *harness) readings(sql string, args ...any) []reading {
	h.t.Helper()
	rows, err := h.conn.Query(context.Background(), sql, args...)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []reading
	for rows.Next() {
		var r reading
		if err := rows.Scan(&r.Sensor, &r.Time, &r.Value, &r.QCFlags, &r.Imputation); err != nil {
			h.t.Fatal(err)
		}
		r.Time = r.Time.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// exec runs a statement on the test's connection; an error fails the test.
func (h *harness) exec(sql string, args ...any) {
	h.t.Helper()
	if _, err := h.conn.Exec(context.Background(), sql, args...); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
}

// texts runs a query of one text column and returns its rows.
func (h *harness) texts(sql string, args ...any) []string {
	h.t.Helper()
	rows, err := h.conn.Query(context.Background(), sql, args...)
	if err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func (h *harness) count(sql string, args ...any) int64 {
	h.t.Helper()
	var n int64
	if err := h.conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// archiveDoc is the archive format decoded with the standard library only,
// independently of the archiver's own reader.
type archiveDoc struct {
	Day  string `json:"day"`
	Data []struct {
		Sensor       string `json:"sensor"`
		Measurements []struct {
			Time             string   `json:"time"`
			Measurement      *float64 `json:"measurement"`
			QCFlags          *int64   `json:"qc_flags"`
			ImputationMethod *string  `json:"imputation_method"`
		} `json:"measurements"`
	} `json:"data"`
}

// archives decodes every archive object under the bucket directory.
func (h *harness) archives() map[string]archiveDoc {
	h.t.Helper()
	out := map[string]archiveDoc{}
	for key, data := range fileObjects(h.t, h.dir) {
		out[key] = decodeArchive(h.t, key, data)
	}
	return out
}

// archivedReadings is every reading of every archive in the bucket
// directory.
func (h *harness) archivedReadings() []reading {
	h.t.Helper()
	var out []reading
	for _, doc := range h.archives() {
		out = append(out, doc.readings(h.t)...)
	}
	return out
}

func (d archiveDoc) readings(t *testing.T) []reading {
	t.Helper()
	var out []reading
	for _, s := range d.Data {
		for _, m := range s.Measurements {
			ts, err := time.Parse(time.RFC3339Nano, m.Time)
			if err != nil {
				t.Fatalf("archive %s: time %q: %v", d.Day, m.Time, err)
			}
			if !strings.HasSuffix(m.Time, "Z") {
				t.Errorf("archive %s: time %q is not UTC with Z", d.Day, m.Time)
			}
			out = append(out, reading{Sensor: s.Sensor, Time: ts, Value: m.Measurement, QCFlags: m.QCFlags, Imputation: m.ImputationMethod})
		}
	}
	return out
}

func keys(rs []reading) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.key()
	}
	sort.Strings(out)
	return out
}

func sameReadings(t *testing.T, what string, got, want []reading) {
	t.Helper()
	g, w := keys(got), keys(want)
	if len(g) != len(w) {
		t.Fatalf("%s: %d readings, want %d", what, len(g), len(w))
	}
	for i := range g {
		if g[i] != w[i] {
			t.Fatalf("%s: reading %d is %s, want %s", what, i, g[i], w[i])
		}
	}
}

var _ = math.NaN
