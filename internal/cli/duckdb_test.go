package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// duckdbVersion is the @duckdb/node-api release the recipes are tested
// with; .ci/install-deps.sh installs the same one.
const duckdbVersion = "1.5.6-r.1"

// EnvDuckDBDir names a directory whose node_modules holds
// @duckdb/node-api at duckdbVersion (CI pre-installs it). By default the
// test uses <module root>/.tmp/duckdb and installs into it when needed.
const EnvDuckDBDir = "ARCHIVER_DUCKDB_DIR"

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := testkit.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// duckdbModules returns the node_modules directory with the pinned DuckDB,
// installing it if missing. Node and npm are required: the test fails, it
// does not skip, without them.
func duckdbModules(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is required to run the DuckDB recipes: %v", err)
	}
	dir := os.Getenv(EnvDuckDBDir)
	if dir == "" {
		dir = filepath.Join(moduleRoot(t), ".tmp", "duckdb")
	}
	pkg := filepath.Join(dir, "node_modules", "@duckdb", "node-api", "package.json")
	if data, err := os.ReadFile(pkg); err == nil {
		var meta struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(data, &meta) == nil && meta.Version == duckdbVersion {
			return filepath.Join(dir, "node_modules")
		}
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatalf("npm is required to install @duckdb/node-api@%s into %s: %v", duckdbVersion, dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "@duckdb/node-api@"+duckdbVersion).CombinedOutput()
	if err != nil {
		t.Fatalf("npm install @duckdb/node-api@%s: %v\n%s", duckdbVersion, err, out)
	}
	return filepath.Join(dir, "node_modules")
}

// duckdbScript runs SQL (any number of statements) and prints the last
// result's rows as JSON arrays, one per line.
const duckdbScript = `
const { DuckDBInstance } = require('@duckdb/node-api');
(async () => {
  const sql = require('fs').readFileSync(0, 'utf8');
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const stmts = await con.extractStatements(sql);
  let r;
  for (let i = 0; i < stmts.count; i++) {
    const p = await stmts.prepare(i);
    r = await p.runAndReadAll();
  }
  for (const row of r.getRowsJson()) console.log(JSON.stringify(row));
})().catch(e => { console.error(e.message); process.exit(1); });
`

// duckdb runs sql in dir with the real engine and returns its rows.
func duckdb(t *testing.T, dir, sql string) ([][]any, error) {
	t.Helper()
	modules := duckdbModules(t)
	script := filepath.Join(t.TempDir(), "duckdb.cjs")
	if err := os.WriteFile(script, []byte(duckdbScript), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stdin = strings.NewReader(sql)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("duckdb: %v: %s", err, stderr.String())
	}
	var rows [][]any
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var row []any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("duckdb row %q: %v", sc.Text(), err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// readmeRecipe is the SQL block under <!-- recipe: name --> in README.md,
// exactly as users read it.
func readmeRecipe(t *testing.T, name string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(moduleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- recipe: " + regexp.QuoteMeta(name) + " -->\n```sql\n(.*?)```")
	m := re.FindSubmatch(readme)
	if m == nil {
		t.Fatalf("README.md has no SQL block after <!-- recipe: %s -->", name)
	}
	return string(m[1])
}

// duckdbRows turns the rows of the comparison query (day, sensor, epoch
// microseconds, measurement, qc_flags, imputation_method; all but the
// measurement as text) into exportRows.
func duckdbRows(t *testing.T, rows [][]any) []exportRow {
	t.Helper()
	var out []exportRow
	for _, r := range rows {
		d, err := time.Parse(time.DateOnly, r[0].(string))
		if err != nil {
			t.Fatal(err)
		}
		us, err := strconv.ParseInt(r[2].(string), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		e := exportRow{Day: int32(d.Unix() / 86400), Sensor: r[1].(string), Time: us}
		switch v := r[3].(type) {
		case nil:
		case float64:
			e.Value = &v
		case string:
			f, ok := map[string]float64{"NaN": math.NaN(), "Infinity": math.Inf(1), "-Infinity": math.Inf(-1)}[v]
			if !ok {
				t.Fatalf("measurement %q", v)
			}
			e.Value = &f
		default:
			t.Fatalf("measurement %T %v", v, v)
		}
		if r[4] != nil {
			q, err := strconv.ParseInt(r[4].(string), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			e.QCFlags = &q
		}
		if r[5] != nil {
			s := r[5].(string)
			e.Imputation = &s
		}
		out = append(out, e)
	}
	return out
}

// compareQuery reads the recipes' readings view in export order.
const compareQuery = `
SELECT day::VARCHAR, sensor, epoch_us(time)::VARCHAR, measurement, qc_flags::VARCHAR, imputation_method
FROM readings ORDER BY day, sensor, time;`

// TestDuckDBRecipes runs the README's DuckDB SQL verbatim with the real
// engine: over the gzipped JSON archives in the storage directory, and over
// a per-day Parquet export, the readings view holds exactly the rows the
// database held before archiving (NaN, ±Infinity, NULL vs "", microseconds).
// A day bigger than DuckDB's default maximum_object_size fails without the
// setting and reads in full with it.
func TestDuckDBRecipes(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	first, last, want := archivedFixture(h, h.dbRows)

	archives := readmeRecipe(t, "duckdb-archives")
	rows, err := duckdb(t, h.dir, archives+compareQuery)
	if err != nil {
		t.Fatal(err)
	}
	sameRows(t, "DuckDB over the archives", duckdbRows(t, rows), want)

	work := t.TempDir()
	h.mustRun(exportRange(first, last, "--format", "parquet", "--out-dir", filepath.Join(work, "export"))...)
	rows, err = duckdb(t, work, readmeRecipe(t, "duckdb-parquet")+compareQuery)
	if err != nil {
		t.Fatal(err)
	}
	sameRows(t, "DuckDB over the Parquet export", duckdbRows(t, rows), want)

	// One large day: 200 sensors x 1,000 readings, about 19 MB of JSON.
	big := t.TempDir()
	day := measure.MustParseDay("2025-01-15")
	p := filepath.Join(big, filepath.FromSlash(archivestore.Key("archives", day)))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	aw, err := archivefile.NewWriter(f, day, 1)
	if err != nil {
		t.Fatal(err)
	}
	for s := range 200 {
		for i := range 1000 {
			r := measure.Reading{Sensor: fmt.Sprintf("sensor-%03d", s), Time: day.Start().Add(time.Duration(i) * 86 * time.Second)}
			r.Value.Float64, r.Value.Valid = float64(i)/7, true
			if err := aw.Write(&r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if st := aw.Stats(); st.Uncompressed <= 16<<20 {
		t.Fatalf("the large day is only %d bytes of JSON", st.Uncompressed)
	}
	_, err = duckdb(t, big, strings.Replace(archives, "maximum_object_size = 1073741824", "maximum_object_size = 16777216", 1)+compareQuery)
	if err == nil || !strings.Contains(err.Error(), "maximum_object_size") {
		t.Fatalf("DuckDB read a day over 16 MiB with the default maximum_object_size: %v", err)
	}
	rows, err = duckdb(t, big, archives+`SELECT count(*)::VARCHAR, count(DISTINCT sensor)::VARCHAR, max(time) = TIMESTAMPTZ '2025-01-15 23:51:54+00' FROM readings;`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rows); got != "[[200000 200 true]]" {
		t.Fatalf("DuckDB over the large day: %v, want 200000 readings of 200 sensors up to 23:51:54", got)
	}
}
