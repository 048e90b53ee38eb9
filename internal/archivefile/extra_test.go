package archivefile

import (
	"bytes"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pyjson"
)

func TestExactNumbersRoundTrip(t *testing.T) {
	day := measure.MustParseDay("2025-01-15")
	texts := []string{"123456789.123456789", "12345678901234567890", "1.500", "42", "-0.5", "1e400", "0.000", "-7"}
	var rs []measure.Reading
	for i, tx := range texts {
		r := measure.Reading{Sensor: "s", Time: day.Start().Add(timeStep(i))}
		if err := measure.SetValue(&r, tx); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	var buf bytes.Buffer
	w, err := NewWriterFor(&buf, day, 6, measure.Schema{Value: measure.ValueDecimal})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if err := w.Write(&rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	js := gunzip(t, buf.Bytes())
	for _, tx := range texts {
		if !strings.Contains(js, `"measurement": `+tx+`,`) {
			t.Errorf("archive does not hold %s exactly: %s", tx, js)
		}
	}
	got, _, err := decode(buf.Bytes(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		s, _ := measure.ValueString(&got[i])
		if s != texts[i] {
			t.Errorf("reading %d: read back %q, wrote %q", i, s, texts[i])
		}
	}
}

func timeStep(i int) time.Duration { return time.Duration(i) * 10 * time.Minute }

func TestNegativeZeroKeepsSign(t *testing.T) {
	day := measure.MustParseDay("2025-01-15")
	for _, schema := range []measure.Schema{{}, {Value: measure.ValueFloat4}} {
		var buf bytes.Buffer
		w, err := NewWriterFor(&buf, day, 6, schema)
		if err != nil {
			t.Fatal(err)
		}
		r := measure.Reading{Sensor: "s", Time: day.Start(), Value: fl(math.Copysign(0, -1))}
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if js := gunzip(t, buf.Bytes()); !strings.Contains(js, `"measurement": -0.0,`) {
			t.Errorf("%v: -0 written as %s", schema.Value, js)
		}
		got, _, err := decode(buf.Bytes(), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if !math.Signbit(got[0].Value.Float64) || got[0].ValueText != "" {
			t.Errorf("%v: -0 read back as %v %q", schema.Value, got[0].Value.Float64, got[0].ValueText)
		}
	}
}

func TestFloat4ShortestAndSameReading(t *testing.T) {
	f4 := float64(float32(5.2)) // 5.199999809265137, what older archives hold
	if got := string(pyjson.AppendFloat4(nil, f4)); got != "5.2" {
		t.Errorf("AppendFloat4(float32 5.2) = %s", got)
	}
	for _, f := range []float32{0.1, 1e-45, math.MaxFloat32, 16777217, 3.4e-38, 123456.79} {
		s := string(pyjson.AppendFloat4(nil, float64(f)))
		v, _, ok := measure.ParseNumber([]byte(s))
		if !ok || float32(v.Float64) != f {
			t.Errorf("float4 %v written as %s reads back as %v", f, s, v.Float64)
		}
	}
	day := measure.MustParseDay("2025-01-15")
	old := []measure.Reading{{Sensor: "s", Time: day.Start(), Value: fl(f4)}}
	db := []measure.Reading{{Sensor: "s", Time: day.Start(), Value: fl(5.2)}}
	st, err := measure.Schema{Value: measure.ValueFloat4}.Merge(measure.SliceSource(db), measure.SliceSource(old), func(*measure.Reading) error { return nil })
	if err != nil || st.Both != 1 || st.Total() != 1 {
		t.Errorf("real 5.2 and 5.199999809265137 are not one reading: %+v %v", st, err)
	}
	if st, _ := measure.Merge(measure.SliceSource(db), measure.SliceSource(old), func(*measure.Reading) error { return nil }); st.Total() != 2 {
		t.Errorf("as double precision they must be two readings: %+v", st)
	}
}

func TestExtraRoundTrip(t *testing.T) {
	ms := []measure.Member{
		{Name: "station", Kind: measure.MemberString, Text: "x\"é"},
		{Name: "note", Kind: measure.MemberNull},
		{Name: "n", Kind: measure.MemberNumber, Text: "12345678901234567890.5"},
		{Name: "ok", Kind: measure.MemberBool, Text: "true"},
		{Name: "doc", Kind: measure.MemberJSON, Text: "{\"a\":  [1, \"ü\"],\n \"b\": null}"},
	}
	extra, err := measure.EncodeExtra(ms)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"doc": {"a":  [1, "ü"],` + "\n" + ` "b": null}, "n": 12345678901234567890.5, "note": null, "ok": true, "station": "x\"\u00e9"}`
	if extra != want {
		t.Errorf("EncodeExtra:\n got %s\nwant %s", extra, want)
	}
	day := measure.MustParseDay("2025-01-15")
	rs := []measure.Reading{{Sensor: "s", Time: day.Start(), Value: fl(1), Extra: extra, Other: `"unit": "C"`}}
	data, _ := encode(t, day, rs)
	for _, fast := range []bool{true, false} {
		fastPath = fast
		got, _, err := decode(data, Limits{})
		fastPath = true
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Extra != extra || got[0].Other != `"unit": "C"` {
			t.Fatalf("read back extra %q other %q", got[0].Extra, got[0].Other)
		}
		back, err := ParseExtra(got[0].Extra)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]measure.Member{}
		for _, m := range back {
			byName[m.Name] = m
		}
		for _, m := range ms {
			g := byName[m.Name]
			if g.Kind != m.Kind || (m.Kind != measure.MemberNull && g.Text != m.Text) {
				t.Errorf("member %s: got %+v, want %+v", m.Name, g, m)
			}
		}
		if byName["station"].Raw != `"x\"\u00e9"` {
			t.Errorf("raw string %q", byName["station"].Raw)
		}
	}
	if _, err := measure.EncodeExtra([]measure.Member{{Name: "j", Kind: measure.MemberJSON, Text: "{bad"}}); err == nil {
		t.Error("invalid JSON accepted")
	}
}

// A rewrite (merge, adopt) of another tool's archive keeps what this format
// does not define: reading members and top-level members.
func TestRewriteKeepsUnknownMembers(t *testing.T) {
	doc := `{"source": {"host": "a", "v": [1, 2]}, "day": "2025-01-15", "data": [{"sensor": "s", "measurements": [` +
		`{"time": "2025-01-15T00:00:00Z", "measurement": 1.0, "qc_flags": 0, "imputation_method": null, "unit": "C", "extra": "not an object"}]}], ` +
		`"archived_at": "2025-02-15"}`
	rd, err := NewReader(bytes.NewReader(gz(t, doc)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, rd.Day(), 6)
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	w.SetTrailer(rd.Other())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := gunzip(t, buf.Bytes())
	want := `{"day": "2025-01-15", "data": [{"sensor": "s", "measurements": [` +
		`{"time": "2025-01-15T00:00:00Z", "measurement": 1.0, "qc_flags": 0, "imputation_method": null, "unit": "C", "extra": "not an object"}]}], ` +
		`"source": {"host": "a", "v": [1, 2]}, "archived_at": "2025-02-15"}`
	if got != want {
		t.Errorf("rewrite:\n got %s\nwant %s", got, want)
	}
	doc2 := `{"day": "2025-01-15", "data": [{"sensor": "s", "unit": "C", "measurements": []}]}`
	_, rd2, err := decode(gz(t, doc2), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if g := rd2.GroupFields(); len(g) != 1 || g[0] != "unit" {
		t.Errorf("group fields %v", g)
	}
}
