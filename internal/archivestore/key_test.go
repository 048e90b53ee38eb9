package archivestore

import (
	"testing"

	"github.com/shizuku-labs/archiver/internal/measure"
)

func TestKey(t *testing.T) {
	d := measure.MustParseDay("2025-01-05")
	cases := []struct{ prefix, want string }{
		{"archives", "archives/2025/01/archive-2025-01-05.json.gz"},
		{"/archives/", "archives/2025/01/archive-2025-01-05.json.gz"},
		{"a/b", "a/b/2025/01/archive-2025-01-05.json.gz"},
		{"", "2025/01/archive-2025-01-05.json.gz"},
		{"/", "2025/01/archive-2025-01-05.json.gz"},
	}
	for _, c := range cases {
		if got := Key(c.prefix, d); got != c.want {
			t.Errorf("Key(%q) = %s, want %s", c.prefix, got, c.want)
		}
		got, ok := ParseKey(c.prefix, c.want)
		if !ok || got != d {
			t.Errorf("ParseKey(%q, %q) = %v, %v", c.prefix, c.want, got, ok)
		}
	}
	bad := []struct{ prefix, key string }{
		{"archives", "archives/2025/02/archive-2025-01-05.json.gz"}, // month dir disagrees
		{"archives", "archives/2024/01/archive-2025-01-05.json.gz"},
		{"archives", "other/2025/01/archive-2025-01-05.json.gz"},
		{"archives", "archives2/2025/01/archive-2025-01-05.json.gz"},
		{"archives", "archives/x/2025/01/archive-2025-01-05.json.gz"},
		{"archives", "archives/2025/01/archive-2025-01-05.json"},
		{"archives", "archives/2025/01/archive-2025-01-05.json.gz.tmp"},
		{"archives", "archives/2025/01/archive-2025-1-05.json.gz"},
		{"archives", "archives/2025/02/archive-2025-02-30.json.gz"},
		{"archives", "archives//2025/01/archive-2025-01-05.json.gz"},
		{"", "/2025/01/archive-2025-01-05.json.gz"},
		{"", "archives/2025/01/archive-2025-01-05.json.gz"},
		{"archives", "archives/2025/01/"},
		{"archives", "archives"},
	}
	for _, c := range bad {
		if d, ok := ParseKey(c.prefix, c.key); ok {
			t.Errorf("ParseKey(%q, %q) accepted as %v", c.prefix, c.key, d)
		}
	}
}

// FuzzKeyRoundTrip: every day's key names that day and only it.
func FuzzKeyRoundTrip(f *testing.F) {
	for _, s := range []string{"2025-01-15", "2024-02-29", "0000-01-01", "9999-12-31"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := measure.ParseDay(s)
		if err != nil {
			return
		}
		if k, ok := ParseKey("p", Key("p", d)); !ok || k != d {
			t.Fatalf("%s: key round trip gave %v %v", s, k, ok)
		}
	})
}
