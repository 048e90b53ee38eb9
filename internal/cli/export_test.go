package cli_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/shizuku-labs/archiver/backends/backendtest"
	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// exportValues are measurements whose text forms differ between encoders:
// PostgreSQL's float8out, Python's repr and Go's 'g' disagree on most of
// them, and NaN and ±Infinity have no JSON number.
var exportValues = []float64{
	math.NaN(), math.Inf(1), math.Inf(-1), 0, 1, 1.5, -2.25, 0.1 + 0.2, 1.0 / 3, 100, 1e6, 1e14, 1e15, 1e16, 1e20,
	123456789012345.6, 1e-4, 1e-5, 1.5e-5, 5e-324, math.MaxFloat64, -math.SmallestNonzeroFloat64, 2.5e-7, -1e-300, 4.35, 1e21, 9007199254740993,
}

// exportTexts are text values whose CSV forms need quoting, or look like it.
var exportTexts = []*string{nil, str(""), str("ARIMA"), str("a,b"), str(`quo"te`), str("line\nbreak"), str("cr\rx"), str(" "), str("NULL"), str(`\N`), str("é🙂")}

// exportFixture inserts readings for days 40..38 before today: awkward
// sensors, values and texts, one reading per (sensor, time), with
// microsecond times at both ends of each day.
// archivedFixture fills the export fixture, takes snap of what the
// database holds, archives it and returns the fixture's days and snap.
func archivedFixture[T any](h *harness, snap func(where string) T) (first, last time.Time, want T) {
	h.t.Helper()
	first, last, _ = exportFixture(h)
	want = snap("")
	h.mustRun("archive")
	return first, last, want
}

// exportRange is the arguments of an export of the days [first, last],
// then more.
func exportRange(first, last time.Time, more ...string) []string {
	return append([]string{"export", "--from", rstDay(first), "--to", rstDay(last)}, more...)
}

func exportFixture(h *harness) (first, last time.Time, rows []reading) {
	today := h.today()
	first, last = today.AddDate(0, 0, -40), today.AddDate(0, 0, -38)
	sensors := []string{"B", "a", "é", "with,comma", `quo"te`, "🙂", "z"}
	rnd := rand.New(rand.NewPCG(16, 1))
	for day := first; !day.After(last); day = day.AddDate(0, 0, 1) {
		for si, s := range sensors {
			for i := range 40 {
				t := day.Add(time.Duration(i) * 36 * time.Minute)
				switch i {
				case 0:
				case 1:
					t = day.Add(time.Microsecond)
				case 39:
					t = day.Add(24*time.Hour - time.Microsecond)
				default:
					t = t.Add(time.Duration(rnd.IntN(1_000_000)) * time.Microsecond)
				}
				r := reading{Sensor: s, Time: t}
				switch k := (i + si) % 5; {
				case k == 0:
					r.Value = nil
				case i < len(exportValues):
					r.Value = f64(exportValues[(i+si)%len(exportValues)])
				default:
					r.Value = f64(math.Float64frombits(rnd.Uint64()))
				}
				if q := (i + 2*si) % 4; q != 0 {
					r.QCFlags = i64(int64([]int{0, -1, math.MaxInt32}[q-1]))
				}
				r.Imputation = exportTexts[(i*3+si)%len(exportTexts)]
				rows = append(rows, r)
			}
		}
	}
	h.insertClean(rows)
	return first, last, rows
}

// exportQuery selects the clean table's rows as export writes them, in
// export's order (sensors in byte order).
const exportQuery = `SELECT ts::date AS day, sensor_id AS sensor, ts AS time, value_mm AS measurement, qc_flags, imputation_method
	FROM shizuku.clean_measurements %s ORDER BY ts::date, sensor_id COLLATE "C", ts`

// pgCSV is what PostgreSQL itself writes for the rows: COPY ... TO STDOUT
// (FORMAT csv, HEADER) in a UTC session.
func (h *harness) pgCSV(where string) []byte {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.conn.Exec(ctx, `SET TimeZone = 'UTC'`); err != nil {
		h.t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := h.conn.PgConn().CopyTo(ctx, &buf, `COPY (`+fmt.Sprintf(exportQuery, where)+`) TO STDOUT (FORMAT csv, HEADER)`); err != nil {
		h.t.Fatal(err)
	}
	return buf.Bytes()
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s differs at line %d (of %d, want %d):\n got: %q\nwant: %q", what, i+1, len(gl), len(wl), g, w)
		}
	}
	t.Fatalf("%s differs", what)
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExportCSVIsPostgresCSV: archive awkward readings, then export them
// from the archives: the CSV is byte for byte what PostgreSQL's COPY wrote
// for the same rows before they were archived (NULL vs "", quoting, NaN,
// ±Infinity, float digits, microseconds), through --out and stdout, with
// and without a sensor filter.
func TestExportCSVIsPostgresCSV(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	first, last, _ := exportFixture(h)
	want := h.pgCSV("")
	wantTwo := h.pgCSV(`WHERE sensor_id IN ('with,comma', '🙂')`)
	h.mustRun("archive")
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Fatalf("%d rows left after archiving", n)
	}

	out := filepath.Join(t.TempDir(), "all.csv")
	h.mustRun(exportRange(first, last, "--out", out)...)
	sameBytes(t, "export --out", readFile(t, out), want)

	r := h.mustRun(exportRange(first, last, "--out", "-", "--format", "CSV")...)
	sameBytes(t, "export --out -", []byte(r.stdout), want)

	r = h.mustRun(exportRange(first, last, "--out", "-", "--sensor", "with,comma", "--sensor", "🙂")...)
	sameBytes(t, "export --sensor", []byte(r.stdout), wantTwo)
	testkit.Contains(t, "log", r.stderr, "Export complete: 3 days")
}

// exportRow is a row of a Parquet export.
type exportRow struct {
	Day        int32    `parquet:"day"`
	Sensor     string   `parquet:"sensor"`
	Time       int64    `parquet:"time"`
	Value      *float64 `parquet:"measurement"`
	QCFlags    *int64   `parquet:"qc_flags"`
	Imputation *string  `parquet:"imputation_method"`
}

// dbRows reads the clean table in export order as exportRows.
func (h *harness) dbRows(where string) []exportRow {
	h.t.Helper()
	rows, err := h.conn.Query(context.Background(), `SELECT (day - date '1970-01-01')::int4, sensor, (extract(epoch FROM time) * 1000000)::int8, measurement, qc_flags::int8, imputation_method FROM (`+
		fmt.Sprintf(exportQuery, where)+`) q`)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []exportRow
	for rows.Next() {
		var r exportRow
		if err := rows.Scan(&r.Day, &r.Sensor, &r.Time, &r.Value, &r.QCFlags, &r.Imputation); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (r exportRow) String() string {
	v, q, m := "NULL", "NULL", "NULL"
	if r.Value != nil {
		v = fmt.Sprintf("%v(%x)", *r.Value, math.Float64bits(*r.Value))
		if math.IsNaN(*r.Value) {
			v = "NaN"
		}
	}
	if r.QCFlags != nil {
		q = fmt.Sprint(*r.QCFlags)
	}
	if r.Imputation != nil {
		m = fmt.Sprintf("%q", *r.Imputation)
	}
	return fmt.Sprintf("%d|%q|%d|%s|%s|%s", r.Day, r.Sensor, r.Time, v, q, m)
}

func sameRows(t *testing.T, what string, got, want []exportRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i].String() != want[i].String() {
			t.Fatalf("%s: row %d is %s, want %s", what, i, got[i], want[i])
		}
	}
}

func readParquet(t *testing.T, p string) ([]exportRow, *parquet.File) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	rows, err := parquet.Read[exportRow](f, st.Size())
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return rows, pf
}

// TestExportParquetMatchesDatabase: the Parquet export holds, in order, the
// rows the database held before archiving, every value exact (float bits,
// NaN, ±Infinity, NULL vs ""), with the schema the README promises, zstd
// compressed; --out-dir writes one such file per day.
func TestExportParquetMatchesDatabase(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	first, last, want := archivedFixture(h, h.dbRows)

	out := filepath.Join(t.TempDir(), "all.parquet")
	h.mustRun(exportRange(first, last, "--format", "parquet", "--out", out)...)
	got, pf := readParquet(t, out)
	sameRows(t, "parquet export", got, want)

	var cols []string
	for _, c := range pf.Schema().Fields() {
		cols = append(cols, c.Name())
	}
	if strings.Join(cols, ",") != "day,sensor,time,measurement,qc_flags,imputation_method" {
		t.Errorf("columns %v", cols)
	}
	for _, col := range pf.Metadata().RowGroups[0].Columns {
		if c := col.MetaData.Codec.String(); c != "ZSTD" {
			t.Errorf("column %v: codec %s, want ZSTD", col.MetaData.PathInSchema, c)
		}
	}
	schema := pf.Schema().String()
	for _, wantType := range []string{"int32 day (DATE)", "binary sensor (STRING)", "int64 time (TIMESTAMP(isAdjustedToUTC=true,unit=MICROS))",
		"optional double measurement", "optional int64 qc_flags", "optional binary imputation_method (STRING)"} {
		if !strings.Contains(schema, wantType) {
			t.Errorf("schema lacks %q:\n%s", wantType, schema)
		}
	}

	dir := filepath.Join(t.TempDir(), "days") // created by export
	h.mustRun(exportRange(first, last, "--format", "parquet", "--out-dir", dir)...)
	entries, _ := os.ReadDir(dir)
	var names []string
	var all []exportRow
	for _, e := range entries {
		names = append(names, e.Name())
		rows, _ := readParquet(t, filepath.Join(dir, e.Name()))
		all = append(all, rows...)
	}
	wantNames := []string{rstDay(first) + ".parquet", rstDay(first.AddDate(0, 0, 1)) + ".parquet", rstDay(last) + ".parquet"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("out-dir holds %v, want %v", names, wantNames)
	}
	sameRows(t, "parquet per-day export", all, want)
}

// TestExportJSONLMatchesDatabase: one object per line with the archive's
// own value tokens; every line parses back to the database's row.
func TestExportJSONLMatchesDatabase(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	first, last, want := archivedFixture(h, h.dbRows)

	r := h.mustRun(exportRange(first, last, "--format", "jsonl", "--out", "-")...)
	got := parseJSONL(t, r.stdout)
	sameRows(t, "jsonl export", got, want)
	if !strings.Contains(r.stdout, `"measurement":NaN,`) || !strings.Contains(r.stdout, `"measurement":-Infinity,`) || !strings.Contains(r.stdout, `"imputation_method":""}`) {
		t.Errorf("jsonl lacks the archive's NaN/-Infinity tokens or an empty string")
	}
}

// parseJSONL decodes export's JSON lines with the standard library, after
// turning the bare NaN/Infinity tokens (which it rejects) into strings.
func parseJSONL(t *testing.T, text string) []exportRow {
	t.Helper()
	var out []exportRow
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, tok := range []string{"-Infinity", "Infinity", "NaN"} {
			line = strings.Replace(line, `"measurement":`+tok+`,`, `"measurement":"`+tok+`",`, 1)
		}
		var v struct {
			Day        string  `json:"day"`
			Sensor     string  `json:"sensor"`
			Time       string  `json:"time"`
			Value      any     `json:"measurement"`
			QCFlags    *int64  `json:"qc_flags"`
			Imputation *string `json:"imputation_method"`
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		d, err := time.Parse(time.DateOnly, v.Day)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := time.Parse(time.RFC3339Nano, v.Time)
		if err != nil || !strings.HasSuffix(v.Time, "Z") {
			t.Fatalf("time %q: %v", v.Time, err)
		}
		r := exportRow{Day: int32(d.Unix() / 86400), Sensor: v.Sensor, Time: ts.UnixMicro(), QCFlags: v.QCFlags, Imputation: v.Imputation}
		switch x := v.Value.(type) {
		case nil:
		case string:
			f := map[string]float64{"NaN": math.NaN(), "Infinity": math.Inf(1), "-Infinity": math.Inf(-1)}[x]
			r.Value = &f
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				t.Fatal(err)
			}
			r.Value = &f
		default:
			t.Fatalf("measurement %T", x)
		}
		out = append(out, r)
	}
	return out
}

// runNoDB runs the archiver with no database configured at all.
func (h *harness) runNoDB(args ...string) result {
	h.t.Helper()
	full := append([]string{"archiver", args[0], "--bucket", h.bucket}, args[1:]...)
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), full, &out, &errOut, cli.Build{Version: "test", Commit: "test"})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// TestExportWithoutDatabase: with only storage configured, export lists the
// layout, says it cannot tell committed archives from uploads in progress,
// and writes the same CSV; an archive of the original service (no
// manifest, sensors unsorted, a duplicate) comes out sorted, once each.
func TestExportWithoutDatabase(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	first, last, want := archivedFixture(h, h.pgCSV)
	t.Setenv("DATABASE_URL", "")

	r := h.runNoDB(exportRange(first, last, "--out", "-")...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	sameBytes(t, "export without a database", []byte(r.stdout), want)
	testkit.Contains(t, "log", r.stderr, "no database configured", "cannot tell a committed archive from an upload still in progress", "not checked against manifests")

	day := time.Date(2024, 11, 3, 0, 0, 0, 0, time.UTC)
	doc, _ := rstPythonArchive(day)
	h.rstPutGzip(rstKey(day), doc)
	r = h.runNoDB("export", "--from", "2024-11-03", "--to", "2024-11-03", "--out", "-")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	wantOrig := "day,sensor,time,measurement,qc_flags,imputation_method\n" +
		"2024-11-03,Mike,2024-11-03 03:30:00+00,1e-07,0,\n" +
		"2024-11-03,alpha,2024-11-03 01:00:00+00,-0.5,,linear\n" +
		"2024-11-03,alpha,2024-11-03 02:00:00.123456+00,12,1,\n" +
		"2024-11-03,zeta-7,2024-11-03 00:00:00+00,5,0,\n" +
		"2024-11-03,zeta-7,2024-11-03 00:10:00.25+00,5.8,0,ARIMA\n" +
		"2024-11-03,zeta-7,2024-11-03 23:59:00.999999+00,,2,\n"
	sameBytes(t, "original service archive", []byte(r.stdout), []byte(wantOrig))

	// With the database, the same object has no manifest: not exported.
	r = h.run("export", "--from", "2024-11-03", "--to", "2024-11-03", "--out", "-")
	if r.code != cli.ExitPartial || r.stdout != "" {
		t.Fatalf("export of an object without a manifest: exit %d, stdout %q", r.code, r.stdout)
	}
	testkit.Contains(t, "log", r.stderr, "have no committed manifest", "verify --adopt", "no archived day between 2024-11-03 and 2024-11-03")
}

// TestExportFromS3AndVercelBlob: the same export, byte for byte, from the
// S3 emulator (with and without a database) and the Vercel Blob test server.
func TestExportFromS3AndVercelBlob(t *testing.T) {
	t.Run("s3", func(t *testing.T) {
		h := newHarness(t)
		h.bucket = backendtest.StartS3(t)
		h.mustRun("migrate", "up")
		first, last, want := archivedFixture(h, h.pgCSV)
		r := h.mustRun(exportRange(first, last, "--out", "-")...)
		sameBytes(t, "export from S3", []byte(r.stdout), want)
		t.Setenv("DATABASE_URL", "")
		r = h.runNoDB(exportRange(first, last, "--out", "-")...)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		sameBytes(t, "export from S3 without a database", []byte(r.stdout), want)
	})
	t.Run("vercelblob", func(t *testing.T) {
		h, _ := vercelHarness(t)
		first, last, want := archivedFixture(h, h.dbRows)
		out := filepath.Join(t.TempDir(), "v.parquet")
		h.mustRun(exportRange(first, last, "--format", "parquet", "--out", out)...)
		got, _ := readParquet(t, out)
		sameRows(t, "export from Vercel Blob", got, want)
	})
}

// TestExportRefusesMismatchingArchive: an archive that differs from its
// manifest (here: the same readings, recompressed, so only the checksum
// tells) fails its day: a single --out file is not written at all, an
// --out-dir export writes the other days and not that one; exit 1.
func TestExportRefusesMismatchingArchive(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	first, last, _ := exportFixture(h)
	h.mustRun("archive")
	mid := first.AddDate(0, 0, 1)
	doc := h.archiveText(rstKey(mid))
	h.rstPutGzip(rstKey(mid), doc) // other gzip bytes, same JSON

	out := filepath.Join(t.TempDir(), "all.csv")
	r := h.run(exportRange(first, last, "--out", out)...)
	if r.code != cli.ExitPartial {
		t.Fatalf("exit %d, want %d\n%s", r.code, cli.ExitPartial, r.stderr)
	}
	testkit.Contains(t, "error", r.stderr, "does not match its manifest", "sha256", "nothing was written to "+out)
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed export left %s (%v)", out, err)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*partial")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}

	dir := t.TempDir()
	r = h.run(exportRange(first, last, "--out-dir", dir)...)
	if r.code != cli.ExitPartial {
		t.Fatalf("exit %d, want %d\n%s", r.code, cli.ExitPartial, r.stderr)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{rstDay(first) + ".csv", rstDay(last) + ".csv"}; !slices.Equal(names, want) {
		t.Errorf("out-dir holds %v, want %v", names, want)
	}
}

// archiveText is the decompressed JSON of an archive object.
func (h *harness) archiveText(key string) string {
	h.t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(h.rstObject(key)))
	if err != nil {
		h.t.Fatal(err)
	}
	var b strings.Builder
	if _, err := bufio.NewReader(zr).WriteTo(&b); err != nil {
		h.t.Fatal(err)
	}
	return b.String()
}

// TestExportBadInput: flags alone show the problem (exit 2, before any
// connection); an empty range exits 1 and writes nothing.
func TestExportBadInput(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	out := filepath.Join(t.TempDir(), "x.csv")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "2025-01-01", "--to", "2025-01-02"}, "--out FILE"},
		{[]string{"--from", "2025-01-01", "--to", "2025-01-02", "--out", out, "--out-dir", "d"}, "not both"},
		{[]string{"--from", "2025-01-01", "--out", out}, "--to"},
		{[]string{"--from", "2025-01-03", "--to", "2025-01-02", "--out", out}, "is after"},
		{[]string{"--from", "2025-01-01", "--to", "2025-01-02", "--out", out, "--format", "xml"}, "csv, jsonl or parquet"},
		{[]string{"--from", "2025-1-1", "--to", "2025-01-02", "--out", out}, "YYYY-MM-DD"},
		{[]string{"--from", "2025-01-01", "--to", "2025-01-02", "--out", t.TempDir()}, "is a directory"},
	} {
		r := h.run(append([]string{"export"}, c.args...)...)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("export %v: exit %d, want %d with %q\n%s", c.args, r.code, cli.ExitUsage, c.want, r.stderr)
		}
	}
	r := h.run("export", "--from", "2025-01-01", "--to", "2025-01-02", "--out", out)
	if r.code != cli.ExitPartial || !strings.Contains(r.stderr, "no archived day between 2025-01-01 and 2025-01-02") {
		t.Errorf("empty range: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("an empty export wrote %s", out)
	}
}

// TestExportWhileAnArchiveRunReplacesADay: while a run replaces a day's
// archive (the committed object kept at <key>.committed, another object at
// the key), export exports the committed archive from the copy.
func TestExportWhileAnArchiveRunReplacesADay(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	first, last, want := archivedFixture(h, h.pgCSV)
	mid := first.AddDate(0, 0, 1)
	key := rstKey(mid)
	committed := h.rstObject(key)
	h.rstPutObject(key+".committed", committed)
	h.rstPutGzip(key, strings.Replace(h.archiveText(key), `"data": [`, `"data":  [`, 1)) // an upload in progress

	r := h.mustRun(exportRange(first, last, "--out", "-")...)
	sameBytes(t, "export during a replacement", []byte(r.stdout), want)
	testkit.Contains(t, "log", r.stderr, "is being replaced by an archive run", key+".committed")
}
