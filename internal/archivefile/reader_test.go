package archivefile

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/measure/measuretest"
)

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }

// randomReadings returns n random readings of day in canonical order
// (see measuretest.RandomReadings).
func randomReadings(rng *rand.Rand, day measure.Day, n int) []measure.Reading {
	return measuretest.RandomReadings(rng, day, n)
}

func TestRoundTrip(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		rng := newRand(seed)
		day := measure.DayOf(time.Unix(rng.Int63n(4e9), 0))
		want := randomReadings(rng, day, rng.Intn(3000))
		data, ws := encode(t, day, want)
		got, r, err := decode(data, Limits{})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		sameReadings(t, got, want)
		if r.Day() != day || !r.Canonical() {
			t.Fatalf("seed %d: day %v canonical %v", seed, r.Day(), r.Canonical())
		}
		rs := r.Stats()
		if rs != ws {
			t.Fatalf("seed %d: reader stats %+v, writer stats %+v", seed, rs, ws)
		}
		// Re-encoding what was read gives the same bytes.
		again, _ := encode(t, day, got)
		if !bytes.Equal(again, data) {
			t.Fatalf("seed %d: re-encoding changed the bytes", seed)
		}
	}
}

func TestReaderOriginalFormat(t *testing.T) {
	// What the Python service wrote: json.dumps of a dict built in first-seen
	// order, datetime.isoformat() times with +00:00, floats as repr, plus an
	// extra key a later version added.
	doc := `{"day": "2025-01-15", "data": [` +
		`{"sensor": "sensor_id_2", "measurements": [` +
		`{"time": "2025-01-15T00:10:00+00:00", "measurement": 5.0, "qc_flags": 0, "imputation_method": null}, ` +
		`{"time": "2025-01-15T00:00:00.250000+00:00", "measurement": 5, "qc_flags": null, "imputation_method": "ARIMA"}]}, ` +
		`{"sensor": "sensor_id_1", "measurements": [` +
		`{"time": "2025-01-15T01:00:00+01:00", "measurement": 1e-05, "qc_flags": 2, "imputation_method": "lin\u00e9ar"}, ` +
		`{"time": "2025-01-15T00:00:00", "measurement": NaN, "qc_flags": 0, "imputation_method": null}, ` +
		`{"time": "2025-01-14T19:30:00-05:00", "measurement": -Infinity, "qc_flags": 0, "imputation_method": null, "note": [1, {"x": null}]}, ` +
		`{"time": "2025-01-15T00:00:00Z", "measurement": Infinity, "qc_flags": 0, "imputation_method": null}, ` +
		`{"time": "2025-01-15T00:00:00Z", "measurement": Infinity, "qc_flags": 0, "imputation_method": null}]}], ` +
		`"archived_at": "2025-02-15T02:00:00.000000"}`
	got, r, err := decode(gz(t, doc), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	day := measure.MustParseDay("2025-01-15")
	want := []measure.Reading{
		{Sensor: "sensor_id_2", Time: ts(t, "2025-01-15T00:10:00Z"), Value: fl(5), QCFlags: qc(0)},
		{Sensor: "sensor_id_2", Time: ts(t, "2025-01-15T00:00:00.25Z"), Value: fl(5), Imputation: imp("ARIMA")},
		{Sensor: "sensor_id_1", Time: ts(t, "2025-01-15T00:00:00Z"), Value: fl(1e-05), QCFlags: qc(2), Imputation: imp("linéar")},
		{Sensor: "sensor_id_1", Time: ts(t, "2025-01-15T00:00:00Z"), Value: fl(math.NaN()), QCFlags: qc(0)},
		{Sensor: "sensor_id_1", Time: ts(t, "2025-01-15T00:30:00Z"), Value: fl(math.Inf(-1)), QCFlags: qc(0), Other: `"note": [1, {"x": null}]`},
		{Sensor: "sensor_id_1", Time: ts(t, "2025-01-15T00:00:00Z"), Value: fl(math.Inf(1)), QCFlags: qc(0)},
		{Sensor: "sensor_id_1", Time: ts(t, "2025-01-15T00:00:00Z"), Value: fl(math.Inf(1)), QCFlags: qc(0)},
	}
	sameReadings(t, got, want)
	for _, g := range got {
		if g.Time.Location() != time.UTC {
			t.Errorf("time %v not in UTC", g.Time)
		}
	}
	// What this format does not define is kept, for rewrites (issue 10).
	if got := r.Other(); got != `"archived_at": "2025-02-15T02:00:00.000000"` {
		t.Errorf("top-level members kept: %q", got)
	}
	if got[1].ValueText != "5" || got[0].ValueText != "" {
		t.Errorf("measurement 5 kept as %q, 5.0 as %q", got[1].ValueText, got[0].ValueText)
	}
	if r.Day() != day || r.Canonical() {
		t.Errorf("day %v canonical %v", r.Day(), r.Canonical())
	}
	if st := r.Stats(); st.Readings != 7 || st.Sensors != 2 {
		t.Errorf("stats %+v", st)
	}

	// Converting it: sort, then write canonically.
	src, err := SortedSource(measure.SliceSource(got), 0)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, day, 6)
	if _, err := measure.Merge(src, measure.SliceSource(nil), w.Write); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Stats().Readings != 6 {
		t.Errorf("converted archive has %d readings, want 6", w.Stats().Readings)
	}
}

func TestReaderTolerance(t *testing.T) {
	// Pretty-printed (json.dumps(indent=2)), "day" after "data", unknown
	// keys everywhere, fields missing or reordered, escapes in keys.
	doc := "{\n  \"version\": {\"a\": [1, 2.5e3, true, false, null, \"x\\\"\\u00e9\"]},\n" +
		"  \"data\": [\n    {\"extra\": {}, \"sensor\": \"s\\u0031\", \"other\": [], \"measurements\": [\n" +
		"      {\"qc_flags\": 7, \"time\": \"2025-03-01t12:00:00.1z\"},\n" +
		"      {\"measurement\": -0, \"time\": \"2025-03-01 12:00:00.123456789\", \"imputation_method\": \"\\ud83d\\ude00\"},\n" +
		"      {\"time\": \"2025-03-01T23:59:59.999999Z\", \"measurement\": 1E+2, \"qc_flags\": -0}\n" +
		"    ]},\n    {\"sensor\": \"s2\"},\n    {\"sensor\": \"s3\", \"measurements\": []}\n  ],\n" +
		"  \"day\": \"2025-03-01\"\n}\n"
	got, r, err := decode(gz(t, doc), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []measure.Reading{
		{Sensor: "s1", Time: ts(t, "2025-03-01T12:00:00.1Z"), QCFlags: qc(7)},
		{Sensor: "s1", Time: ts(t, "2025-03-01T12:00:00.123456789Z"), Value: fl(math.Copysign(0, -1)), Imputation: imp("😀")},
		{Sensor: "s1", Time: ts(t, "2025-03-01T23:59:59.999999Z"), Value: fl(100), QCFlags: qc(0)},
	}
	sameReadings(t, got, want)
	if r.Day() != measure.MustParseDay("2025-03-01") || !r.Canonical() || r.Stats().Sensors != 1 {
		t.Errorf("day %v canonical %v stats %+v", r.Day(), r.Canonical(), r.Stats())
	}
}

func TestReaderDayKnownAfterNewReader(t *testing.T) {
	data, _ := encode(t, measure.MustParseDay("2025-01-15"), nil)
	r, err := NewReader(bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Day() != measure.MustParseDay("2025-01-15") {
		t.Errorf("Day() = %v right after NewReader", r.Day())
	}
}

func TestReaderStatsMatchObject(t *testing.T) {
	day := measure.MustParseDay("2025-01-15")
	data, ws := encode(t, day, randomReadings(newRand(3), day, 1000))
	_, r, err := decode(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.Bytes != int64(len(data)) || st.SHA256 != ws.SHA256 {
		t.Errorf("reader %+v writer %+v", st, ws)
	}
}

func TestReaderCanonical(t *testing.T) {
	day := "2025-01-15"
	mk := func(ms ...string) string {
		return `{"day": "` + day + `", "data": [{"sensor": "a", "measurements": [` + strings.Join(ms, ", ") + `]}]}`
	}
	m := func(tm string, v string) string {
		return `{"time": "` + day + `T` + tm + `Z", "measurement": ` + v + `, "qc_flags": null, "imputation_method": null}`
	}
	cases := []struct {
		doc  string
		want bool
	}{
		{mk(m("00:00:00", "1"), m("00:00:01", "1")), true},
		{mk(m("00:00:01", "1"), m("00:00:00", "1")), false},
		{mk(m("00:00:00", "1"), m("00:00:00", "1.0")), false}, // duplicate
		{mk(m("00:00:00", "1"), m("00:00:00", "NaN")), true},
		{mk(m("00:00:00", "NaN"), m("00:00:00", "Infinity")), false},
	}
	for i, c := range cases {
		_, r, err := decode(gz(t, c.doc), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Canonical() != c.want {
			t.Errorf("case %d: Canonical() = %v", i, r.Canonical())
		}
	}
}

func TestReaderReusesReading(t *testing.T) {
	day := measure.MustParseDay("2025-01-15")
	data, _ := encode(t, day, randomReadings(newRand(4), day, 10))
	r, err := NewReader(bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := r.Next()
	b, _ := r.Next()
	if a != b {
		t.Error("documented reuse of the returned Reading does not hold")
	}
}

// errAfter returns data then a non-EOF error, like a dropped connection.
type errAfter struct {
	r   io.Reader
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, e.err
	}
	return n, err
}

func TestReaderErrors(t *testing.T) {
	day := measure.MustParseDay("2025-01-15")
	good, _ := encode(t, day, randomReadings(newRand(5), day, 2000))
	stored := func() []byte {
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, day, 0)
		for _, r := range randomReadings(newRand(5), day, 200) {
			if err := w.Write(&r); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		return buf.Bytes()
	}()
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x20
		return c
	}
	okDoc := func(inner string) []byte {
		return gz(t, `{"day": "2025-01-15", "data": [{"sensor": "s", "measurements": [`+inner+`]}]}`)
	}
	rd := func(tm string) string {
		return `{"time": "` + tm + `", "measurement": 1.0, "qc_flags": 0, "imputation_method": null}`
	}
	cases := []struct {
		name string
		data []byte
		lim  Limits
		is   error  // errors.Is target, if any
		msg  string // substring of the message
	}{
		{"empty", nil, Limits{}, ErrCorrupt, "not a gzip"},
		{"not gzip", []byte(`{"day": "2025-01-15", "data": []}`), Limits{}, ErrCorrupt, "not a gzip"},
		{"truncated gzip", good[:len(good)/2], Limits{}, ErrCorrupt, "truncated"},
		{"truncated trailer", good[:len(good)-3], Limits{}, ErrCorrupt, "truncated"},
		{"flipped byte in stored body", flip(stored, len(stored)/2), Limits{}, ErrCorrupt, "checksum"},
		{"flipped CRC", flip(good, len(good)-6), Limits{}, ErrCorrupt, "checksum"},
		{"flipped byte in deflate body", flip(good, len(good)/2), Limits{}, ErrCorrupt, ""},
		{"garbage after gzip", append(bytes.Clone(good), "this is not a gzip header"...), Limits{}, ErrCorrupt, "after the first stream"},
		{"not an object", gz(t, `[1]`), Limits{}, ErrCorrupt, "not a JSON object"},
		{"invalid JSON", gz(t, `{"day": "2025-01-15", "data": [}`), Limits{}, ErrCorrupt, "invalid archive JSON"},
		{"invalid JSON in reading", okDoc(`{"time": "2025-01-15T00:00:00Z", "measurement": 1.0,, }`), Limits{}, ErrCorrupt, "reading #1"},
		{"truncated JSON", gz(t, `{"day": "2025-01-15", "data": [{"sensor": "s", "measurements": [`), Limits{}, ErrCorrupt, "unexpected end"},
		{"trailing data", gz(t, `{"day": "2025-01-15", "data": []} {}`), Limits{}, ErrCorrupt, "after the JSON document"},
		{"missing day", gz(t, `{"data": []}`), Limits{}, ErrCorrupt, `no "day"`},
		{"missing data", gz(t, `{"day": "2025-01-15"}`), Limits{}, ErrCorrupt, `no "data"`},
		{"bad day", gz(t, `{"day": "2025-1-15", "data": []}`), Limits{}, ErrCorrupt, `"2025-1-15"`},
		{"duplicate day", gz(t, `{"day": "2025-01-15", "day": "2025-01-15", "data": []}`), Limits{}, ErrCorrupt, "duplicate"},
		{"time before day", okDoc(rd("2025-01-15T00:00:00Z") + ", " + rd("2025-01-14T23:59:59.999999Z")), Limits{}, ErrOutsideDay, `reading #2 (sensor "s")`},
		{"time after day (offset)", okDoc(rd("2025-01-15T23:30:00-01:00")), Limits{}, ErrOutsideDay, "2025-01-16T00:30:00Z"},
		{"time outside day, day after data", gz(t, `{"data": [{"sensor": "s", "measurements": [`+rd("2025-01-15T00:00:00Z")+", "+rd("2025-01-16T00:00:00Z")+`]}], "day": "2025-01-15"}`), Limits{}, ErrOutsideDay, "reading #2"},
		{"bad time", okDoc(rd("2025-01-15T24:00:00Z")), Limits{}, ErrCorrupt, `invalid "time"`},
		{"too many fraction digits", okDoc(rd("2025-01-15T00:00:00.1234567890Z")), Limits{}, ErrCorrupt, `invalid "time"`},
		{"missing time", okDoc(`{"measurement": 1.0}`), Limits{}, ErrCorrupt, `no "time"`},
		{"string measurement", okDoc(`{"time": "2025-01-15T00:00:00Z", "measurement": "1.0"}`), Limits{}, ErrCorrupt, `"measurement"`},
		{"hex measurement", okDoc(`{"time": "2025-01-15T00:00:00Z", "measurement": 0x10}`), Limits{}, ErrCorrupt, `"measurement"`},
		{"fractional qc", okDoc(`{"time": "2025-01-15T00:00:00Z", "qc_flags": 1.5}`), Limits{}, ErrCorrupt, `"qc_flags"`},
		{"huge qc", okDoc(`{"time": "2025-01-15T00:00:00Z", "qc_flags": 9223372036854775808}`), Limits{}, ErrCorrupt, "int64"},
		{"numeric imputation", okDoc(`{"time": "2025-01-15T00:00:00Z", "imputation_method": 3}`), Limits{}, ErrCorrupt, `"imputation_method"`},
		{"duplicate field", okDoc(`{"time": "2025-01-15T00:00:00Z", "time": "2025-01-15T00:00:00Z"}`), Limits{}, ErrCorrupt, "duplicate"},
		{"lone surrogate", okDoc(`{"time": "2025-01-15T00:00:00Z", "imputation_method": "\ud800x"}`), Limits{}, ErrCorrupt, "surrogate"},
		{"invalid UTF-8", okDoc("{\"time\": \"2025-01-15T00:00:00Z\", \"imputation_method\": \"\xff\"}"), Limits{}, ErrCorrupt, "UTF-8"},
		{"control char", okDoc("{\"time\": \"2025-01-15T00:00:00Z\", \"imputation_method\": \"a\nb\"}"), Limits{}, ErrCorrupt, "control character"},
		{"group without sensor", gz(t, `{"day": "2025-01-15", "data": [{"x": 1}]}`), Limits{}, ErrCorrupt, `no "sensor"`},
		{"measurements before sensor", gz(t, `{"day": "2025-01-15", "data": [{"measurements": [], "sensor": "s"}]}`), Limits{}, ErrCorrupt, "before"},
		{"numeric sensor", gz(t, `{"day": "2025-01-15", "data": [{"sensor": 1}]}`), Limits{}, ErrCorrupt, `"sensor" must be a string`},
		{"bad skipped value", gz(t, `{"day": "2025-01-15", "x": [1, }], "data": []}`), Limits{}, ErrCorrupt, "invalid archive JSON"},
		{"too many readings", okDoc(rd("2025-01-15T00:00:00Z") + ", " + rd("2025-01-15T00:00:01Z")), Limits{MaxReadings: 1}, ErrLimit, "more than 1 readings"},
		{"too large", good, Limits{MaxUncompressedBytes: 1000}, ErrLimit, "1000 bytes"},
		{"read error", nil, Limits{}, nil, "connection reset"},
	}
	cases[len(cases)-1].data = good // wrapped below
	cases = append(cases, struct {
		name string
		data []byte
		lim  Limits
		is   error
		msg  string
	}{"read error in header", good[:4], Limits{}, nil, "connection reset"})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var src io.Reader = bytes.NewReader(c.data)
			switch c.name {
			case "read error":
				src = &errAfter{r: bytes.NewReader(c.data[:len(c.data)/2]), err: errors.New("connection reset")}
			case "read error in header":
				src = &errAfter{r: bytes.NewReader(c.data), err: errors.New("connection reset")}
			}
			var err error
			r, err := NewReader(src, c.lim)
			if err == nil {
				for {
					if _, err = r.Next(); err != nil {
						break
					}
				}
				if _, again := r.Next(); again != err {
					t.Errorf("error not sticky: %v then %v", err, again)
				}
			}
			if err == nil || err == io.EOF {
				t.Fatalf("no error")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %v", err, c.is)
			}
			if c.is == nil && errors.Is(err, ErrCorrupt) {
				t.Errorf("I/O failure %q blamed on the archive", err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not mention %q", err, c.msg)
			}
			if !strings.HasPrefix(err.Error(), "archivefile: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestReaderLimitsExact(t *testing.T) {
	day := measure.MustParseDay("2025-01-15")
	rs := randomReadings(newRand(6), day, 100)
	data, st := encode(t, day, rs)
	if _, _, err := decode(data, Limits{MaxReadings: int64(len(rs)), MaxUncompressedBytes: st.Uncompressed}); err != nil {
		t.Errorf("limits equal to the content rejected: %v", err)
	}
	if _, _, err := decode(data, Limits{MaxUncompressedBytes: st.Uncompressed - 1}); !errors.Is(err, ErrLimit) {
		t.Errorf("one byte over: %v", err)
	}
}

func TestReaderMultistreamGzip(t *testing.T) {
	// Concatenated gzip members are one stream to gzip(1); accept them.
	doc := `{"day": "2025-01-15", "data": []}`
	data := append(gz(t, doc[:10]), gz(t, doc[10:])...)
	if _, _, err := decode(data, Limits{}); err != nil {
		t.Fatal(err)
	}
}

func TestReaderLongTokens(t *testing.T) {
	// Strings longer than the read window, and a skipped value spanning
	// many windows, must work.
	long := strings.Repeat("ab\\\"c", 40000)
	doc := `{"day": "2025-01-15", "skip": "` + long + `", "data": [{"sensor": "` + long + `", "measurements": [` +
		`{"time": "2025-01-15T00:00:00Z", "imputation_method": "` + long + `"}]}]}`
	got, _, err := decode(gz(t, doc), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.ReplaceAll(long, `\"`, `"`)
	if len(got) != 1 || got[0].Sensor != want || got[0].Imputation.String != want {
		t.Fatal("long strings mangled")
	}
}

func TestReaderDeepNesting(t *testing.T) {
	deep := strings.Repeat("[", 200000) + strings.Repeat("]", 200000)
	doc := `{"day": "2025-01-15", "x": ` + deep + `, "data": []}`
	if _, _, err := decode(gz(t, doc), Limits{}); err != nil {
		t.Fatal(err)
	}
	bad := `{"day": "2025-01-15", "x": ` + strings.Repeat("[", 1000) + strings.Repeat("}", 1000) + `, "data": []}`
	if _, _, err := decode(gz(t, bad), Limits{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("mismatched brackets: %v", err)
	}
}

func TestReaderCloseDoesNotCloseSource(t *testing.T) {
	data, _ := encode(t, measure.MustParseDay("2025-01-15"), nil)
	r, err := NewReader(bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err == nil {
		t.Error("Next after Close succeeded")
	}
}

// parseTime with a memo of the last date reads every time as it does
// without one, whichever dates come one after another (a memo that kept a
// stale day would let a reading of another day pass as the archive's).
func TestParseTimeMemo(t *testing.T) {
	rng := newRand(3)
	var memo dateMemo
	for range 20000 {
		ts := time.Unix(rng.Int63n(4e9)-1e9, 0).UTC()
		if rng.Intn(3) > 0 {
			ts = ts.Truncate(24 * time.Hour).Add(time.Duration(rng.Intn(86400)) * time.Second) // often the same date twice
		}
		b := []byte(ts.Format("2006-01-02T15:04:05Z"))
		if rng.Intn(50) == 0 {
			b[rng.Intn(10)] = "0123456789x"[rng.Intn(11)] // sometimes another or an impossible date
		}
		s1, n1, ok1 := parseTime(b, &memo)
		s2, n2, ok2 := parseTime(b, nil)
		if s1 != s2 || n1 != n2 || ok1 != ok2 {
			t.Fatalf("%s: with memo %d %d %v, without %d %d %v", b, s1, n1, ok1, s2, n2, ok2)
		}
	}
}
