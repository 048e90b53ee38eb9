package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

const sha = "bfc7a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0"

// TestTextIsShortJSONIsComplete: Context attributes (run id, day, key)
// stay out of text info lines and appear on text warnings and errors; the
// JSON form has every attribute on every line; a sha256 is shortened in
// text only.
func TestTextIsShortJSONIsComplete(t *testing.T) {
	var text, js bytes.Buffer
	for _, c := range []struct {
		format string
		buf    *bytes.Buffer
	}{{"text", &text}, {"json", &js}} {
		log, err := New(c.buf, "info", c.format)
		if err != nil {
			t.Fatal(err)
		}
		day := log.With(Context("run_id", "6d9c3b19"), "table", "t").With(Context("day", "2026-10-28"))
		day.Info("Created archive for 2026-10-28", Context("readings", 72), "sha256", sha)
		day.Error("day failed", "err", "boom")
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("text: %q", text.String())
	}
	info, failed := lines[0], lines[1]
	for _, no := range []string{"run_id", "day=", "readings=", sha} {
		if strings.Contains(info, no) {
			t.Errorf("text info line has %q: %s", no, info)
		}
	}
	for _, want := range []string{"table=t", "sha256=" + sha[:12] + "…"} {
		if !strings.Contains(info, want) {
			t.Errorf("text info line lacks %q: %s", want, info)
		}
	}
	for _, want := range []string{"run_id=6d9c3b19", "day=2026-10-28", "table=t", "err=boom"} {
		if !strings.Contains(failed, want) {
			t.Errorf("text error line lacks %q: %s", want, failed)
		}
	}
	for i, line := range strings.Split(strings.TrimSpace(js.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["run_id"] != "6d9c3b19" || m["day"] != "2026-10-28" || m["table"] != "t" {
			t.Errorf("JSON line %d lacks a context field: %s", i, line)
		}
		if i == 0 && (m["sha256"] != sha || m["readings"] != float64(72)) {
			t.Errorf("JSON info line lacks the full sha256 or the readings: %s", line)
		}
	}
}
