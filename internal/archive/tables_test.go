package archive_test

// Real tables: column types beyond the original schema's, columns beyond
// the five mapped ones, and schema changes, end to end: archive, decode
// the object independently (encoding/json, not the archive package),
// restore, and compare every column with SQL.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/archive"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/coretest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/postgres"
	"github.com/shizuku-labs/archiver/internal/restore"
)

// tableRunner archives tbl with its own key prefix.
func tableRunner(e *coretest.Env, tbl postgres.CleanTable, prefix string) *archive.Runner {
	r := runner(e, false)
	r.Clean = tbl
	r.Opts.Prefix = prefix
	return r
}

func tableRestorer(e *coretest.Env, tbl postgres.CleanTable, prefix string) *restore.Restorer {
	return &restore.Restorer{
		Pool: e.Pool, Bucket: e.Bucket, Target: tbl, Manifests: e.Manifests, Schema: coretest.Schema,
		Location: coretest.Location, Prefix: prefix, Limits: coretest.Limits, Log: e.Log,
	}
}

// jsonDoc is the archive as a plain JSON decoder sees it.
type jsonDoc struct {
	Day  string `json:"day"`
	Data []struct {
		Sensor       string           `json:"sensor"`
		Measurements []map[string]any `json:"measurements"`
	} `json:"data"`
}

// decodeIndependently reads the day's object with gzip and encoding/json
// (numbers kept as their text).
func decodeIndependently(t *testing.T, e *coretest.Env, key string) (jsonDoc, string) {
	t.Helper()
	js := e.ReadGzip(t, key)
	var doc jsonDoc
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s is not JSON a plain decoder reads: %v\n%s", key, err, js)
	}
	return doc, js
}

type typeCase struct {
	typ    string
	values []string // SQL literals; NULL for NULL
}

var (
	valueTypes = []typeCase{
		{"double precision", []string{"'5.2'", "'-0'", "'1e-05'", "'1e16'", "'123456789.123456789'", "NULL", "'0.1'", "'-2.5e-07'", "'1.7976931348623157e308'", "'5e-324'"}},
		{"real", []string{"'5.2'", "'-0'", "'3.4028235e38'", "'1e-45'", "NULL", "'0.1'", "'16777217'", "'123456.79'"}},
		{"numeric", []string{"'123456789.123456789'", "'12345678901234567890'", "'1.500'", "'-0.000001'", "NULL", "'0'", "'1e-20'", "'99999999999999999999999999999.99999999999'"}},
		{"numeric(12,3)", []string{"'1.500'", "'123456789.123'", "'-0.001'", "NULL", "'0'", "'2.5'"}},
		{"integer", []string{"'42'", "'-2147483648'", "'2147483647'", "'0'", "NULL"}},
	}
	qcTypes = []typeCase{
		{"smallint", []string{"'-32768'", "'32767'", "NULL", "'0'"}},
		{"integer", []string{"'-2147483648'", "'7'", "NULL"}},
		{"bigint", []string{"'9223372036854775807'", "'-9223372036854775808'", "NULL", "'1'"}},
		{"numeric(5,0)", []string{"'99999'", "'-99999'", "NULL", "'0'"}},
	}
	impTypes = []typeCase{
		{"text", []string{"'ARIMA'", "''", "NULL", `E'q"b\\\n é😀'`}},
		{"varchar(10)", []string{"'ARIMA'", "''", "NULL", "'linéar'"}},
		{"citext", []string{"'ARIMA'", "'arima'", "NULL", "''"}},
		{"imp_enum", []string{"'ARIMA'", "'linear'", "NULL"}},
	}
	sensorTypes = []typeCase{
		{"text", []string{"'station-01/rain'", "'β-sensor'", "'10'", "'9'"}},
		{"varchar(20)", []string{"'station-01/rain'", "'10'", "'9'"}},
		{"uuid", []string{"'6f1c1e4a-8a52-4a43-9a57-0e2b8d1f2a10'", "'00000000-0000-0000-0000-000000000001'"}},
		{"integer", []string{"'1'", "'10'", "'9'", "'-5'"}},
	}
	timeTypes = []string{"timestamptz", "timestamp"}
)

// TestTypeMatrix (issue 11, part 2): every value, qc_flags, method, sensor
// and time type a measurement table really has is archived exactly (as a
// plain JSON decoder reads it), restored exactly (every column IS NOT
// DISTINCT FROM the original, and equal as text: the sign of -0, the
// scale of a numeric, the case of a citext, NULL as NULL), and archiving
// the restored rows again gives the same object (I5).
func TestTypeMatrix(t *testing.T) {
	e := coretest.New(t)
	ctx := context.Background()
	e.Exec(t, `CREATE EXTENSION IF NOT EXISTS citext`, `CREATE TYPE imp_enum AS ENUM ('ARIMA', 'linear')`)
	day := e.Today(t).AddDays(-35)
	const rows = 12
	n := 0
	for vi, vt := range valueTypes {
		for qi, qt := range qcTypes {
			it := impTypes[(vi+qi)%len(impTypes)]
			st := sensorTypes[(vi+2*qi)%len(sensorTypes)]
			tt := timeTypes[(vi+qi)%len(timeTypes)]
			name := fmt.Sprintf("m%02d", n)
			n++
			t.Run(fmt.Sprintf("%s/value=%s,qc=%s,imp=%s,sensor=%s,time=%s", name, vt.typ, qt.typ, it.typ, st.typ, tt), func(t *testing.T) {
				e.Exec(t, fmt.Sprintf(`CREATE TABLE %s (s %s NOT NULL, t %s NOT NULL, v %s, q %s, m %s)`, name, st.typ, tt, vt.typ, qt.typ, it.typ))
				var vals []string
				for i := range rows {
					at := day.Start().Add(time.Duration(i)*17*time.Minute + time.Duration(i)*time.Microsecond).Format(time.RFC3339Nano)
					vals = append(vals, fmt.Sprintf("(%s, '%s', %s, %s, %s)", st.values[i%len(st.values)], at,
						vt.values[i%len(vt.values)], qt.values[i%len(qt.values)], it.values[i%len(it.values)]))
				}
				e.Exec(t, `INSERT INTO `+name+` VALUES `+strings.Join(vals, ", "), `CREATE TABLE `+name+`_orig AS SELECT * FROM `+name)
				tbl := postgres.CleanTable{Name: []string{name}, Sensor: "s", Time: "t", Value: "v", QCFlags: "q", Imputation: "m"}
				prefix := "mx/" + name

				s, err := tableRunner(e, tbl, prefix).Run(ctx)
				if err != nil || s.ArchivesWritten != 1 || s.RowsDeleted != rows {
					t.Fatalf("archive: %v, %d archives, %d rows deleted\n%s", err, s.ArchivesWritten, s.RowsDeleted, e.LogBuf)
				}
				key := archivestore.Key(prefix, day)
				doc, js := decodeIndependently(t, e, key)
				checkArchived(t, e, name, vt.typ, doc, js)

				_, sha1, _ := archiveSHA(t, e, prefix, day)
				if _, err := tableRestorer(e, tbl, prefix).Run(ctx, restore.Options{Days: []measure.Day{day}}); err != nil {
					t.Fatalf("restore: %v\n%s", err, e.LogBuf)
				}
				same := `r.%[1]s IS NOT DISTINCT FROM o.%[1]s AND r.%[1]s::text IS NOT DISTINCT FROM o.%[1]s::text`
				var conds []string
				for _, c := range []string{"s", "t", "v", "q", "m"} {
					conds = append(conds, fmt.Sprintf(same, c))
				}
				missing := e.Count(t, `SELECT count(*) FROM `+name+`_orig o WHERE NOT EXISTS (SELECT 1 FROM `+name+` r WHERE `+strings.Join(conds, " AND ")+`)`)
				if got := e.Count(t, `SELECT count(*) FROM `+name); got != rows || missing != 0 {
					t.Errorf("restored %d rows, %d of the %d originals not restored exactly:\n%s", got, missing, rows,
						dump(t, e, `SELECT o.*, r.* FROM `+name+`_orig o FULL JOIN `+name+` r ON r.s::text = o.s::text AND r.t = o.t`))
				}
				// I5: the restored readings archived again change nothing.
				if _, err := tableRunner(e, tbl, prefix).Run(ctx); err != nil {
					t.Fatalf("archive again: %v", err)
				}
				if _, sha2, _ := archiveSHA(t, e, prefix, day); sha2 != sha1 {
					_, js2 := decodeIndependently(t, e, key)
					t.Errorf("archiving the restored rows changed the archive:\nbefore %s\nafter  %s", js, js2)
				}
			})
		}
	}
}

// checkArchived compares every reading of the decoded archive with the
// original rows, value by value in the value column's type.
func checkArchived(t *testing.T, e *coretest.Env, table, valueType string, doc jsonDoc, js string) {
	t.Helper()
	rows, err := e.Pool.Query(context.Background(), `SELECT s::text, t, v::text, q::text, m::text FROM `+table+`_orig`)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for rows.Next() {
		var s, v, q, m *string
		var ts time.Time
		if err := rows.Scan(&s, &ts, &v, &q, &m); err != nil {
			t.Fatal(err)
		}
		want = append(want, readingKey(t, valueType, *s, ts, v, q, m))
	}
	rows.Close()
	var got []string
	for _, g := range doc.Data {
		for _, r := range g.Measurements {
			ts, err := time.Parse(time.RFC3339Nano, r["time"].(string))
			if err != nil {
				t.Fatalf("time %v: %v", r["time"], err)
			}
			text := func(k string) *string {
				switch x := r[k].(type) {
				case nil:
					return nil
				case json.Number:
					s := x.String()
					return &s
				case string:
					return &x
				}
				t.Fatalf("%s: unexpected %T %v", k, r[k], r[k])
				return nil
			}
			if _, ok := r["qc_flags"].(string); ok {
				t.Errorf("qc_flags written as a string: %s", js)
			}
			if _, ok := r["measurement"].(string); ok {
				t.Errorf("measurement written as a string: %s", js)
			}
			if n, ok := r["measurement"].(json.Number); ok && (valueType == "double precision" || valueType == "real") && !strings.ContainsAny(n.String(), ".e") {
				t.Errorf("%s value written as %s, not as Python writes a float (5.0, 1e-05)", valueType, n)
			}
			got = append(got, readingKey(t, valueType, g.Sensor, ts, text("measurement"), text("qc_flags"), text("imputation_method")))
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("archive readings differ from the table's:\n got %q\nwant %q\n%s", got, want, js)
	}
}

// readingKey is a reading as text, the value normalised to what the value
// column's type holds: a double precision or real by its binary value (and
// sign), any other type by its exact decimal text.
func readingKey(t *testing.T, valueType, sensor string, ts time.Time, v, q, m *string) string {
	t.Helper()
	val := "NULL"
	if v != nil {
		val = *v
		switch valueType {
		case "double precision", "real":
			f, err := strconv.ParseFloat(*v, 64)
			if err != nil {
				t.Fatalf("value %s: %v", *v, err)
			}
			bits := 64
			if valueType == "real" {
				f, bits = float64(float32(f)), 32
			}
			val = strconv.FormatFloat(f, 'g', -1, bits)
			if f == 0 && math.Signbit(f) {
				val = "-0"
			}
		}
	}
	str := func(p *string) string {
		if p == nil {
			return "NULL"
		}
		return strconv.Quote(*p)
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s", sensor, ts.UTC().Format(time.RFC3339Nano), val, str(q), str(m))
}

func archiveSHA(t *testing.T, e *coretest.Env, prefix string, d measure.Day) (int64, string, bool) {
	t.Helper()
	m, err := e.Manifests.LatestCommitted(context.Background(), e.Pool, coretest.Location, archivestore.Key(prefix, d))
	if err != nil || m == nil {
		t.Fatalf("no committed manifest for %s: %v", d, err)
	}
	return *m.Readings, m.SHA256, true
}

// dump prints a query's rows, for failure messages.
func dump(t *testing.T, e *coretest.Env, q string) string {
	t.Helper()
	rows, err := e.Pool.Query(context.Background(), q)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err.Error()
		}
		fmt.Fprintf(&b, "%v\n", vals)
	}
	return b.String()
}

// userTable is a production-like clean table: a surrogate key, columns
// beyond the five mapped ones, defaults.
const userTable = `CREATE TABLE u (
	id bigserial PRIMARY KEY,
	s text NOT NULL, t timestamptz NOT NULL, v double precision, q integer, m text,
	station text NOT NULL DEFAULT 'x',
	note text,
	created_at timestamptz DEFAULT now())`

var uTable = postgres.CleanTable{Name: []string{"u"}, Sensor: "s", Time: "t", Value: "v", QCFlags: "q", Imputation: "m"}

// TestUnlistedColumnsRefusedBeforeAnythingChanges (issue 11, part 1): a
// column that is neither mapped nor listed stops the run before anything
// changes, the raw purge included, naming the columns and both settings.
func TestUnlistedColumnsRefusedBeforeAnythingChanges(t *testing.T) {
	e := coretest.New(t)
	ctx := context.Background()
	day := e.Today(t).AddDays(-35)
	e.Exec(t, userTable,
		fmt.Sprintf(`INSERT INTO u (s, t, v, q, m, note) SELECT 's' || i %% 3, '%s'::timestamptz + i * interval '1 minute', i, 0, NULL, 'n' || i FROM generate_series(1, 20) i`, day.Start().Format(time.RFC3339)),
		`INSERT INTO shizuku.raw_measurements (sensor_id, ts, value_mm) SELECT 'r', now() - interval '3 days', i FROM generate_series(1, 5) i`)

	tbl := uTable
	tbl.Ignore = []string{"id"}
	_, err := tableRunner(e, tbl, "p1").Run(ctx)
	if err == nil {
		t.Fatal("archive of a table with unlisted columns succeeded")
	}
	for _, w := range []string{`"station"`, `"note"`, `"created_at"`, "clean.columns.extra", "clean.columns.ignore", "ARCHIVER_CLEAN_EXTRA_COLUMNS", "--clean-ignore-columns"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not name %s: %v", w, err)
		}
	}
	if strings.Contains(err.Error(), `"id"`) {
		t.Errorf("error names the ignored id: %v", err)
	}
	if n := e.Count(t, `SELECT count(*) FROM u`); n != 20 {
		t.Errorf("%d clean rows left of 20", n)
	}
	if n := e.Count(t, `SELECT count(*) FROM shizuku.raw_measurements`); n != 5 {
		t.Errorf("the raw purge ran: %d raw rows left of 5", n)
	}
	if keys := e.Keys(t); len(keys) != 0 {
		t.Errorf("objects written: %v", keys)
	}

	// An ignored column restore could not fill is refused as well.
	e.Exec(t, `ALTER TABLE u ADD COLUMN must text NOT NULL DEFAULT 'y'`, `ALTER TABLE u ALTER COLUMN must DROP DEFAULT`)
	tbl.Extra = []string{"station", "note"}
	tbl.Ignore = []string{"id", "created_at", "must"}
	_, err = tableRunner(e, tbl, "p1").Run(ctx)
	if err == nil || !strings.Contains(err.Error(), `"must"`) || !strings.Contains(err.Error(), "NOT NULL without a default") {
		t.Errorf("ignoring a NOT NULL column without default: %v", err)
	}
}

// TestExtraColumnsArchivedAndRestoredExactly (issue 11, part 1): listed
// columns travel in each reading's "extra" object with their JSON types
// (numbers exact, booleans, json as JSON, timestamps in RFC 3339 UTC,
// anything else as its text form) and come back exactly; ignored ones are
// filled from their defaults.
func TestExtraColumnsArchivedAndRestoredExactly(t *testing.T) {
	e := coretest.New(t)
	ctx := context.Background()
	day := e.Today(t).AddDays(-35)
	e.Exec(t, userTable, `ALTER TABLE u ADD COLUMN n numeric, ADD COLUMN ok boolean, ADD COLUMN doc jsonb, ADD COLUMN raw json,
		ADD COLUMN at timestamptz, ADD COLUMN local timestamp, ADD COLUMN tags int[], ADD COLUMN uid uuid, ADD COLUMN r real, ADD COLUMN big bigint`,
		fmt.Sprintf(`INSERT INTO u (s, t, v, q, m, station, note, n, ok, doc, raw, at, local, tags, uid, r, big) VALUES
		('a', '%[1]s', 1.5, 0, NULL, 'st"1', NULL, 12345678901234567890.123456789, true, '{"b": [1, 2.50], "a": "é"}', '{ "x" :  1 }', '2025-01-15 10:00:00.123456+02', '2025-01-15 10:00:00', '{1,NULL,3}', '6f1c1e4a-8a52-4a43-9a57-0e2b8d1f2a10', 5.2, 9223372036854775807),
		('a', '%[1]s'::timestamptz + interval '1 minute', -0, NULL, 'ARIMA', 'x', 'line1
line2', -0.000, false, '[]', '"str"', 'infinity', NULL, '{}', NULL, '-0', NULL),
		('b', '%[1]s', NULL, 7, '', 'x', '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`, day.Start().Format(time.RFC3339)),
		`CREATE TABLE u_orig AS SELECT * FROM u`)
	extra := []string{"station", "note", "n", "ok", "doc", "raw", "at", "local", "tags", "uid", "r", "big"}
	tbl := uTable
	tbl.Extra, tbl.Ignore = extra, []string{"id", "created_at"}

	if _, err := tableRunner(e, tbl, "p2").Run(ctx); err != nil {
		t.Fatalf("archive: %v\n%s", err, e.LogBuf)
	}
	doc, js := decodeIndependently(t, e, archivestore.Key("p2", day))
	first := doc.Data[0].Measurements[0]
	ex, ok := first["extra"].(map[string]any)
	if !ok {
		t.Fatalf("no extra object: %s", js)
	}
	for k, want := range map[string]any{
		"station": `st"1`, "note": nil, "n": json.Number("12345678901234567890.123456789"), "ok": true,
		"at": "2025-01-15T08:00:00.123456Z", "local": "2025-01-15T10:00:00.000000Z", "tags": "{1,NULL,3}",
		"uid": "6f1c1e4a-8a52-4a43-9a57-0e2b8d1f2a10", "r": json.Number("5.2"), "big": json.Number("9223372036854775807"),
	} {
		if fmt.Sprint(ex[k]) != fmt.Sprint(want) || fmt.Sprintf("%T", ex[k]) != fmt.Sprintf("%T", want) {
			t.Errorf("extra %s = %#v, want %#v", k, ex[k], want)
		}
	}
	if d, ok := ex["doc"].(map[string]any); !ok || fmt.Sprint(d["b"]) != "[1 2.50]" {
		t.Errorf("jsonb not archived as JSON: %#v", ex["doc"])
	}
	if _, ok := ex["id"]; ok {
		t.Errorf("ignored id archived: %s", js)
	}
	if !strings.Contains(js, `"qc_flags": 0, "imputation_method": null, "extra": {`) {
		t.Errorf("extra is not a member after the original fields: %s", js)
	}

	if _, err := tableRestorer(e, tbl, "p2").Run(ctx, restore.Options{Days: []measure.Day{day}}); err != nil {
		t.Fatalf("restore: %v\n%s", err, e.LogBuf)
	}
	var conds []string
	for _, c := range append([]string{"s", "t", "v", "q", "m"}, extra...) {
		eq := fmt.Sprintf(`r.%[1]s IS NOT DISTINCT FROM o.%[1]s AND `, c)
		if c == "raw" || c == "doc" {
			eq = "" // json has no equality: its text is the value
		}
		conds = append(conds, fmt.Sprintf(`%sr.%[2]s::text IS NOT DISTINCT FROM o.%[2]s::text`, eq, c))
	}
	missing := e.Count(t, `SELECT count(*) FROM u_orig o WHERE NOT EXISTS (SELECT 1 FROM u r WHERE `+strings.Join(conds, " AND ")+`)`)
	if n := e.Count(t, `SELECT count(*) FROM u`); n != 3 || missing != 0 {
		t.Errorf("restored %d rows, %d not exactly:\n%s", n, missing, dump(t, e, `SELECT * FROM u`))
	}
	if n := e.Count(t, `SELECT count(*) FROM u WHERE created_at IS NULL OR id IS NULL`); n != 0 {
		t.Errorf("%d restored rows without the ignored columns' defaults", n)
	}
}

// TestNonIntegralQCFlagsRefusesTheDay (issue 11, part 2): a value the
// archive format cannot hold exactly fails its day, which keeps its rows,
// and the error says which column and why; other days go on.
func TestNonIntegralQCFlagsRefusesTheDay(t *testing.T) {
	e := coretest.New(t)
	ctx := context.Background()
	bad, good := e.Today(t).AddDays(-35), e.Today(t).AddDays(-34)
	e.Exec(t, `CREATE TABLE nq (s text NOT NULL, t timestamptz NOT NULL, v numeric, q numeric, m text)`,
		fmt.Sprintf(`INSERT INTO nq VALUES ('a', '%s', 1, 1.5, NULL), ('a', '%s', 2, 0, NULL), ('a', '%s', 3, 4.000, NULL)`,
			bad.Start().Format(time.RFC3339), bad.Start().Add(time.Minute).Format(time.RFC3339), good.Start().Format(time.RFC3339)))
	tbl := postgres.CleanTable{Name: []string{"nq"}, Sensor: "s", Time: "t", Value: "v", QCFlags: "q", Imputation: "m"}
	s, _ := tableRunner(e, tbl, "nq").Run(ctx)
	if s.Failed != 1 || s.ArchivesWritten != 1 {
		t.Fatalf("%d days failed, %d archived; want 1 and 1\n%s", s.Failed, s.ArchivesWritten, e.LogBuf)
	}
	for _, d := range s.Days {
		if d.Day == bad {
			for _, w := range []string{`qc_flags column "q"`, "1.5", "not an integer", "cannot be archived exactly"} {
				if d.Err == nil || !strings.Contains(d.Err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, d.Err)
				}
			}
		}
	}
	if n := e.Count(t, `SELECT count(*) FROM nq WHERE t < $1`, bad.End()); n != 2 {
		t.Errorf("the refused day kept %d of its 2 rows", n)
	}
	doc, js := decodeIndependently(t, e, archivestore.Key("nq", good))
	if q := doc.Data[0].Measurements[0]["qc_flags"]; fmt.Sprint(q) != "4" {
		t.Errorf("integral numeric qc_flags 4.000 archived as %v: %s", q, js)
	}
}

// TestSchemaDriftOnRestore (issue 11, part 3): a column added after a day
// was archived is filled from its default on restore (also when only some
// of the day's readings hold it); a column the archive holds that the
// table no longer has refuses the restore, naming it, importing nothing.
func TestSchemaDriftOnRestore(t *testing.T) {
	e := coretest.New(t)
	ctx := context.Background()
	day := e.Today(t).AddDays(-35)
	at := func(m int) string { return day.Start().Add(time.Duration(m) * time.Minute).Format(time.RFC3339) }
	e.Exec(t, `CREATE TABLE dr (s text NOT NULL, t timestamptz NOT NULL, v double precision, q integer, m text)`,
		`INSERT INTO dr VALUES ('a', '`+at(1)+`', 1, 0, NULL), ('a', '`+at(2)+`', 2, 0, NULL)`)
	tbl := postgres.CleanTable{Name: []string{"dr"}, Sensor: "s", Time: "t", Value: "v", QCFlags: "q", Imputation: "m"}
	if _, err := tableRunner(e, tbl, "dr").Run(ctx); err != nil {
		t.Fatal(err)
	}
	// The table gains a column; late rows of the day carry it.
	e.Exec(t, `ALTER TABLE dr ADD COLUMN station text NOT NULL DEFAULT 'x'`,
		`INSERT INTO dr VALUES ('a', '`+at(3)+`', 3, 0, NULL, 'y')`)
	tbl.Extra = []string{"station"}
	if _, err := tableRunner(e, tbl, "dr").Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tableRestorer(e, tbl, "dr").Run(ctx, restore.Options{Days: []measure.Day{day}}); err != nil {
		t.Fatalf("restore: %v\n%s", err, e.LogBuf)
	}
	if got := dump(t, e, `SELECT v, station FROM dr ORDER BY t`); got != "[1 x]\n[2 x]\n[3 y]\n" {
		t.Errorf("restored (value, station):\n%s", got)
	}

	// Archive again, then the table loses the column.
	if _, err := tableRunner(e, tbl, "dr").Run(ctx); err != nil {
		t.Fatal(err)
	}
	e.Exec(t, `ALTER TABLE dr DROP COLUMN station`)
	_, err := tableRestorer(e, tbl, "dr").Run(ctx, restore.Options{Days: []measure.Day{day}})
	if err == nil || !strings.Contains(err.Error(), `column "station"`) || !strings.Contains(err.Error(), "does not have") {
		t.Errorf("restore into a table without an archived column: %v", err)
	}
	if n := e.Count(t, `SELECT count(*) FROM dr`); n != 0 {
		t.Errorf("%d rows imported by a refused restore", n)
	}
}

// TestOriginalArchiveWithUnknownMembers (issue 10, item 4): an archive of
// the original service holding fields the archiver does not know restores
// without adopting it (the fields are not loaded, and the log says so),
// and merging late rows into it keeps those fields: the restored readings
// are the same readings as the archived ones that carry them. An archive
// whose sensor groups hold such fields is not rewritten: its day fails and
// keeps its rows.
func TestOriginalArchiveWithUnknownMembers(t *testing.T) {
	e := coretest.New(t)
	ctx := context.Background()
	d := e.Today(t).AddDays(-40)
	ds := d.String()
	key := archivestore.Key(coretest.Prefix, d)
	e.PutGzip(t, key, `{"day": "`+ds+`", "data": [`+
		`{"sensor": "s2", "measurements": [{"time": "`+ds+`T00:10:00+00:00", "measurement": 5.0, "qc_flags": 0, "imputation_method": null, "unit": "mm"}]}, `+
		`{"sensor": "s1", "measurements": [{"time": "`+ds+`T00:00:00+00:00", "measurement": 1.5, "qc_flags": 1, "imputation_method": "ARIMA"}]}], `+
		`"archived_at": "2025-02-15T02:00:00"}`)
	if _, err := tableRestorer(e, coretest.Clean, coretest.Prefix).Run(ctx, restore.Options{Days: []measure.Day{d}}); err != nil {
		t.Fatalf("restore without adopting: %v\n%s", err, e.LogBuf)
	}
	if n := e.Count(t, `SELECT count(*) FROM shizuku.clean_measurements`); n != 2 {
		t.Fatalf("restored %d readings, want 2", n)
	}
	if !strings.Contains(e.LogBuf.String(), "1 readings of "+key+" hold fields this archiver does not restore") {
		t.Errorf("restore does not say that it left fields out:\n%s", e.LogBuf)
	}
	e.Exec(t, `INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm) VALUES ('s3', '`+ds+`T01:00:00Z', 7)`)
	s, err := tableRunner(e, coretest.Clean, coretest.Prefix).Run(ctx)
	if err != nil || s.ArchivesWritten != 1 {
		t.Fatalf("archive: %v\n%s", err, e.LogBuf)
	}
	doc, js := decodeIndependently(t, e, key)
	n := 0
	for _, g := range doc.Data {
		n += len(g.Measurements)
	}
	if n != 3 || !strings.Contains(js, `"imputation_method": null, "unit": "mm"}`) || !strings.Contains(js, `"archived_at": "2025-02-15T02:00:00"`) {
		t.Errorf("merged archive (%d readings, want 3) lost what it did not understand:\n%s", n, js)
	}

	// Sensor-group fields cannot be kept by a rewrite: the day is refused.
	d2 := d.AddDays(1)
	e.PutGzip(t, archivestore.Key(coretest.Prefix, d2), `{"day": "`+d2.String()+`", "data": [{"sensor": "s1", "unit": "mm", "measurements": [{"time": "`+d2.String()+`T00:00:00Z", "measurement": 1.0}]}]}`)
	e.Exec(t, `INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm) VALUES ('s3', '`+d2.String()+`T01:00:00Z', 7)`)
	s, _ = tableRunner(e, coretest.Clean, coretest.Prefix).Run(ctx)
	if s.Failed != 1 || e.Count(t, `SELECT count(*) FROM shizuku.clean_measurements`) != 1 {
		t.Fatalf("%d days failed, want the day with sensor-group fields refused and its row kept", s.Failed)
	}
	for _, r := range s.Days {
		if r.Day == d2 && (r.Err == nil || !strings.Contains(r.Err.Error(), "sensor-group members") || !strings.Contains(r.Err.Error(), "unit")) {
			t.Errorf("refusal does not say why: %v", r.Err)
		}
	}
}

// TestMergeWithOlderArchiveComparesInColumnType (issue 11): archives
// written before exact values hold a real as its float8 (5.199999809265137)
// and a numeric(12,3) as a float (1.5); the new writer's 5.2 and 1.500 are
// the same readings, so archiving restored rows again adds nothing (I5).
func TestMergeWithOlderArchiveComparesInColumnType(t *testing.T) {
	e := coretest.New(t)
	ctx := context.Background()
	d := e.Today(t).AddDays(-40)
	for _, c := range []struct{ name, typ, old, db string }{
		{"ol4", "real", "5.199999809265137", "5.2"},
		{"oln", "numeric(12,3)", "1.5", "1.500"},
	} {
		e.Exec(t, `CREATE TABLE `+c.name+` (s text NOT NULL, t timestamptz NOT NULL, v `+c.typ+`, q integer, m text)`,
			`INSERT INTO `+c.name+` VALUES ('a', '`+d.String()+`T00:00:00Z', '`+c.db+`', 0, NULL)`)
		e.PutGzip(t, archivestore.Key(c.name, d), `{"day": "`+d.String()+`", "data": [{"sensor": "a", "measurements": [`+
			`{"time": "`+d.String()+`T00:00:00Z", "measurement": `+c.old+`, "qc_flags": 0, "imputation_method": null}]}]}`)
		tbl := postgres.CleanTable{Name: []string{c.name}, Sensor: "s", Time: "t", Value: "v", QCFlags: "q", Imputation: "m"}
		s, err := tableRunner(e, tbl, c.name).Run(ctx)
		if err != nil || s.ArchivesWritten != 1 {
			t.Fatalf("%s: archive: %v\n%s", c.typ, err, e.LogBuf)
		}
		if r := s.Days[0]; r.Readings != 1 || r.NewReadings != 0 {
			t.Errorf("%s: the table's %s and the archive's %s are two readings: %d in the archive, %d new", c.typ, c.db, c.old, r.Readings, r.NewReadings)
		}
	}
}

// TestTypedRestoreIntoKeyedTable: a table of other types with a reading key
// on (sensor, time) restores exactly through the keyed insert, and a key the
// table holds with another value stays the table's (--on-conflict keep).
func TestTypedRestoreIntoKeyedTable(t *testing.T) {
	e := coretest.New(t)
	ctx := context.Background()
	d := e.Today(t).AddDays(-40)
	e.Exec(t, `CREATE EXTENSION IF NOT EXISTS citext`,
		`CREATE TABLE kt (s uuid NOT NULL, t timestamp NOT NULL, v numeric, q bigint, m citext, PRIMARY KEY (s, t))`,
		`INSERT INTO kt VALUES ('6f1c1e4a-8a52-4a43-9a57-0e2b8d1f2a10', '`+d.String()+` 00:00', 123456789.123456789, 9223372036854775807, NULL),
			('6f1c1e4a-8a52-4a43-9a57-0e2b8d1f2a10', '`+d.String()+` 00:10', 1.500, NULL, 'ARIMA')`,
		`CREATE TABLE kt_orig AS SELECT * FROM kt`)
	tbl := postgres.CleanTable{Name: []string{"kt"}, Sensor: "s", Time: "t", Value: "v", QCFlags: "q", Imputation: "m"}
	if _, err := tableRunner(e, tbl, "kt").Run(ctx); err != nil {
		t.Fatalf("archive: %v\n%s", err, e.LogBuf)
	}
	e.Exec(t, `INSERT INTO kt VALUES ('6f1c1e4a-8a52-4a43-9a57-0e2b8d1f2a10', '`+d.String()+` 00:10', 2, 0, 'table')`)
	s, err := tableRestorer(e, tbl, "kt").Run(ctx, restore.Options{Days: []measure.Day{d}})
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, e.LogBuf)
	}
	if s.Inserted != 1 || s.Conflicts != 1 {
		t.Errorf("inserted %d, conflicts %d; want 1 and 1", s.Inserted, s.Conflicts)
	}
	if got := dump(t, e, `SELECT v::text, q::text, m::text FROM kt ORDER BY t`); got != "[123456789.123456789 9223372036854775807 <nil>]\n[2 0 table]\n" {
		t.Errorf("table after restore:\n%s", got)
	}
}

// TestRestoreTellsNegativeZeroFromZero: restore looks for each archived
// reading in the table with SQL, where = calls -0 and 0 equal; a float
// column stores both, so they are two readings there too. An archive the
// original service wrote (not in canonical order, so deduplicated in SQL)
// holding both, and a table of other types (the typed path) holding 0
// already, each get the -0 restored.
func TestRestoreTellsNegativeZeroFromZero(t *testing.T) {
	e := coretest.New(t)
	ctx := context.Background()
	d := e.Today(t).AddDays(-40)
	ds := d.String()
	// The original service's archive: sensors out of order, a repeated reading.
	e.PutGzip(t, archivestore.Key(coretest.Prefix, d), `{"day": "`+ds+`", "data": [`+
		`{"sensor": "s2", "measurements": [{"time": "`+ds+`T00:10:00+00:00", "measurement": 5.0, "qc_flags": 0, "imputation_method": null}]}, `+
		`{"sensor": "s1", "measurements": [`+
		`{"time": "`+ds+`T00:00:00+00:00", "measurement": 0.0, "qc_flags": 1, "imputation_method": null}, `+
		`{"time": "`+ds+`T00:00:00+00:00", "measurement": -0.0, "qc_flags": 1, "imputation_method": null}, `+
		`{"time": "`+ds+`T00:00:00+00:00", "measurement": -0.0, "qc_flags": 1, "imputation_method": null}]}]}`)
	if _, err := tableRestorer(e, coretest.Clean, coretest.Prefix).Run(ctx, restore.Options{Days: []measure.Day{d}}); err != nil {
		t.Fatalf("restore: %v\n%s", err, e.LogBuf)
	}
	if got := dump(t, e, `SELECT sensor_id, value_mm::text FROM shizuku.clean_measurements ORDER BY sensor_id, value_mm::text`); got != "[s1 -0]\n[s1 0]\n[s2 5]\n" {
		t.Errorf("restored from the original archive:\n%s", got)
	}

	// A real column takes the typed path; the table holds the 0 already.
	e.Exec(t, `CREATE TABLE nz (s text NOT NULL, t timestamptz NOT NULL, v real, q integer, m text)`,
		`INSERT INTO nz VALUES ('a', '`+ds+`T06:00:00Z', '-0', 0, NULL), ('a', '`+ds+`T06:00:00Z', 0, 0, NULL)`)
	tbl := postgres.CleanTable{Name: []string{"nz"}, Sensor: "s", Time: "t", Value: "v", QCFlags: "q", Imputation: "m"}
	if s, err := tableRunner(e, tbl, "nz").Run(ctx); err != nil || s.ArchivesWritten != 1 || s.RowsDeleted != 2 {
		t.Fatalf("archive: %+v, %v\n%s", s, err, e.LogBuf)
	}
	e.Exec(t, `INSERT INTO nz VALUES ('a', '`+ds+`T06:00:00Z', 0, 0, NULL)`)
	if _, err := tableRestorer(e, tbl, "nz").Run(ctx, restore.Options{Days: []measure.Day{d}}); err != nil {
		t.Fatalf("restore: %v\n%s", err, e.LogBuf)
	}
	if got := dump(t, e, `SELECT v::text FROM nz ORDER BY v::text`); got != "[-0]\n[0]\n" {
		t.Errorf("restored into a real column holding 0:\n%s", got)
	}
}

// TestKeyedRestoreTellsNegativeZeroFromZero: in a table keyed on (sensor,
// time), -0 and 0 are two readings with one key. An archive written before
// the key holding both restores the first in canonical order (-0),
// whatever order the staged rows come in, and says the key had two; a
// table's 0 where the archive holds -0 is a conflict that replace resolves.
func TestKeyedRestoreTellsNegativeZeroFromZero(t *testing.T) {
	e := coretest.New(t)
	ctx := context.Background()
	d := e.Today(t).AddDays(-40)
	ds := d.String()
	e.Exec(t, `CREATE TABLE kz (s text NOT NULL, t timestamptz NOT NULL, v double precision, q integer, m text, PRIMARY KEY (s, t))`)
	tbl := postgres.CleanTable{Name: []string{"kz"}, Sensor: "s", Time: "t", Value: "v", QCFlags: "q", Imputation: "m"}
	reading := func(v string) string {
		return `{"time": "` + ds + `T06:00:00Z", "measurement": ` + v + `, "qc_flags": 0, "imputation_method": null}`
	}
	// Canonical order: -0 before 0; then 0 before -0 (the original
	// service's order, whatever it was).
	for i, vs := range [][2]string{{"-0.0", "0.0"}, {"0.0", "-0.0"}} {
		e.Exec(t, `DELETE FROM kz`)
		e.PutGzip(t, archivestore.Key("kz", d), `{"day": "`+ds+`", "data": [{"sensor": "a", "measurements": [`+reading(vs[0])+`, `+reading(vs[1])+`]}]}`)
		s, err := tableRestorer(e, tbl, "kz").Run(ctx, restore.Options{Days: []measure.Day{d}})
		if err != nil {
			t.Fatalf("#%d: restore: %v\n%s", i, err, e.LogBuf)
		}
		if got := dump(t, e, `SELECT v::text FROM kz`); got != "[-0]\n" {
			t.Errorf("#%d: restored %s, want the -0", i, got)
		}
		if s.DupKeys != 1 {
			t.Errorf("#%d: %d keys with several readings reported, want 1", i, s.DupKeys)
		}
	}

	e.Exec(t, `UPDATE kz SET v = 0`)
	e.PutGzip(t, archivestore.Key("kz", d), `{"day": "`+ds+`", "data": [{"sensor": "a", "measurements": [`+reading("-0.0")+`]}]}`)
	rs := tableRestorer(e, tbl, "kz")
	rs.OnConflict = restore.ConflictReplace
	s, err := rs.Run(ctx, restore.Options{Days: []measure.Day{d}})
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, e.LogBuf)
	}
	if got := dump(t, e, `SELECT v::text FROM kz`); got != "[-0]\n" || s.Conflicts != 1 {
		t.Errorf("replace: table holds %s, %d conflicts; want the archived -0, 1", got, s.Conflicts)
	}
}
