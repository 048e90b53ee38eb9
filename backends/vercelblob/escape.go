package vercelblob

import (
	"strings"
	"unicode/utf8"
)

// Key escaping.
//
// gocloud keys are arbitrary UTF-8, but a Vercel Blob pathname must not
// contain "//", must not end in "/" (that is a dashboard folder marker), and
// ends up verbatim in a content URL, where "?", "#", "%", "\" and dot
// segments would be reinterpreted by URL parsers and CDNs. We therefore map
// keys to pathnames with a reversible escape: an escaped ASCII rune becomes
// "~" followed by two lower-case hex digits, and "~" itself is always
// escaped, so every "~" in a pathname we produce starts an escape. A key
// ending in "/" gets a lone "~" appended (the end marker), which escaping
// never produces otherwise.
//
// Unlike gocloud's internal/escape (which we cannot import), every decision
// depends only on the rune and the runes before it. That makes escaping
// prefix-stable: escape(prefix) is a prefix of escape(key) for every key that
// starts with prefix, and the converse holds too, so list prefixes can be
// escaped and sent to the server without client-side filtering.
//
// Ordinary keys such as "archives/2025/01/archive-2025-01-15.json.gz" are
// left unchanged. Non-ASCII runes are left unchanged as well: the service
// stores UTF-8 pathnames, and the URLs it returns percent-encode them.

const (
	escapeChar = '~'
	// maxPathnameLen is the SDK's client-side limit on pathname length.
	maxPathnameLen = 950
)

// shouldEscape reports whether the rune at runes[i] must be escaped. It only
// looks at runes[:i+1]; see the prefix-stability note above.
func shouldEscape(runes []rune, i int) bool {
	r := runes[i]
	switch {
	case r >= utf8.RuneSelf:
		return false
	case r < 0x20 || r == 0x7f:
		return true
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	switch r {
	case '/':
		// A leading "/" would be stripped or rejected, and "//" is refused.
		return i == 0 || runes[i-1] == '/'
	case '.':
		// A segment starting with "." could be a dot segment ("." or ".."),
		// which URL parsers collapse. Escaping every segment-initial dot is
		// prefix-stable, unlike checking the whole segment.
		return i == 0 || runes[i-1] == '/'
	case '-', '_', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		// RFC 3986 pchar characters: safe in a URL path as they are.
		return false
	}
	// Everything else in ASCII: space, '"', '#', '%', '<', '>', '?', '[',
	// '\\', ']', '^', '`', '{', '|', '}' and our own escape character '~'.
	return true
}

const hexDigits = "0123456789abcdef"

// escapePrefix escapes s without the end marker. Used for list prefixes and
// as the body of escapeKey.
func escapePrefix(s string) string {
	runes := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range runes {
		if shouldEscape(runes, i) {
			b.WriteByte(escapeChar)
			b.WriteByte(hexDigits[r>>4])
			b.WriteByte(hexDigits[r&0xf])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// escapeKey maps a gocloud key to a Vercel pathname.
func escapeKey(key string) string {
	p := escapePrefix(key)
	if strings.HasSuffix(p, "/") {
		p += string(escapeChar)
	}
	return p
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// unescapeKey reverses escapeKey. Pathnames written by other tools are decoded
// leniently: a "~" that does not start a valid escape is kept as it is.
func unescapeKey(p string) string {
	if !strings.ContainsRune(p, escapeChar) {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != escapeChar {
			b.WriteByte(c)
			continue
		}
		if i+2 < len(p) {
			hi, ok1 := unhex(p[i+1])
			lo, ok2 := unhex(p[i+2])
			// Only ASCII is ever escaped, so a first digit above 7 is not ours.
			if ok1 && ok2 && hi < 8 {
				b.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		if i == len(p)-1 && i > 0 && p[i-1] == '/' {
			// The end marker of a key that ends in "/".
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// validPathname applies the SDK's client-side pathname rules, so that a bad
// key fails before any request is made.
func validPathname(p string) error {
	switch {
	case p == "":
		return &Error{Code: CodeInvalidKey, Message: "empty key"}
	case len(p) > maxPathnameLen:
		return &Error{Code: CodeInvalidKey, Message: "key too long: its escaped pathname exceeds 950 bytes"}
	case strings.Contains(p, "//"):
		// Unreachable through escapeKey; kept as a guard for raw pathnames.
		return &Error{Code: CodeInvalidKey, Message: `pathname contains "//"`}
	}
	return nil
}
