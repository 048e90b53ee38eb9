package vercelblob

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

var weirdKeys = []string{
	"foo/bar/baz", "foo//bar///baz", "../foo/../bar/../../baz../", "foo\\bar\\baz",
	"..\\foo\\\\bar\\\\\\baz", "foo\"bar\"baz", "foo bar baz", "12345", "☺☺☺",
	"/leading", "trailing/", "/", "//", "a~b", "~", "a/~", "a/~2f", "__0x2f__", "%2F", "?#&=",
	"\x00\x01\x1f\x7f", ".", "..", ".hidden/.x/y", sidecarRoot + "x", "dir/", "dir//",
}

func TestEscapeRoundTrip(t *testing.T) {
	for _, k := range weirdKeys {
		p := escapeKey(k)
		if got := unescapeKey(p); got != k {
			t.Errorf("unescape(escape(%q)) = %q via %q", k, got, p)
		}
		if err := validPathname(p); err != nil {
			t.Errorf("escape(%q) = %q is not a valid pathname: %v", k, p, err)
		}
		if strings.HasPrefix(p, sidecarRoot) {
			t.Errorf("escape(%q) = %q lands in the sidecar area", k, p)
		}
		if strings.HasSuffix(p, "/") || strings.HasPrefix(p, "/") || strings.Contains(p, "//") {
			t.Errorf("escape(%q) = %q breaks a pathname rule", k, p)
		}
	}
}

func TestOrdinaryKeysUnchanged(t *testing.T) {
	for _, k := range []string{
		"archives/2025/01/archive-2025-01-15.json.gz", "a-b_c.d/e+f=g@h:i,j;k!l$m&n'o(p)q*r", "día/über",
	} {
		if p := escapeKey(k); p != k {
			t.Errorf("escape(%q) = %q, want unchanged", k, p)
		}
	}
}

// Escaping is prefix-stable: escape(prefix) is a prefix of escape(key) if
// and only if key starts with prefix. List relies on it.
func TestEscapePrefixStable(t *testing.T) {
	alphabet := []rune("ab/._~-\\ ?%☺\x00")
	r := rand.New(rand.NewPCG(1, 2))
	gen := func() string {
		n := r.IntN(8)
		var b strings.Builder
		for range n {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 20000 {
		key, prefix := gen(), gen()
		if r.IntN(2) == 0 && len(key) > 0 {
			prefix = string([]rune(key)[:r.IntN(utf8.RuneCountInString(key)+1)])
		}
		want := strings.HasPrefix(key, prefix)
		got := strings.HasPrefix(escapeKey(key), escapePrefix(prefix))
		if got != want {
			t.Fatalf("key %q prefix %q: escaped %q / %q: prefix match %v, want %v",
				key, prefix, escapeKey(key), escapePrefix(prefix), got, want)
		}
		if unescapeKey(escapeKey(key)) != key {
			t.Fatalf("round trip of %q failed", key)
		}
	}
}

func TestUnescapeLenient(t *testing.T) {
	for in, want := range map[string]string{"a~zz": "a~zz", "a~": "a~", "a~f": "a~f", "x~ff": "x~ff", "d/~": "d/"} {
		if got := unescapeKey(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
