package backends_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/shizuku-labs/archiver/backends"
)

// FuzzBucketURL: Parse, Lookup and Redact never panic, whatever the bucket
// URL, and what they show never depends on the URL's secrets: the password
// of its user info, the values of credential-like query parameters
// (token=, password=, sig=, ...; pairs split at "&" or ";", decodable or
// not) and whatever comes before the "@" of an opaque URL
// (s3:user:password@bucket). The URL with every character of its secrets
// replaced (keeping what gives it its shape) must redact to the same text
// and give the same errors; if it does not, some of a secret shows.
func FuzzBucketURL(f *testing.F) {
	for _, seed := range []string{
		"s3://AKIA:wJalrXUtnFEMI@bucket/archives?region=eu-central-1",
		"s3://ak:hunter2@bucket/%zz",
		"vercelblob://archives?token=vercel_blob_rw_x_y",
		"azblob://c?sas_token=sv%3D2022%26sig%3DabcSECRET",
		"s3://b?secret_key=SK1SK1%zz&region=x",
		"x://b?password=P1P1P1;x=1",
		"ftp://archiver:hunter2@example.com/archives",
		"s3:archiver:hunter2@bucket",
		"s3://ak:p@ss/wo?rd#x@bucket/archives",
		"gs://bucket?prefix=a/&access_key=AK1AK1#frag",
		"file:///var/archives?token=tok%20en",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_, perr := backends.Parse(raw)
		_, _, lerr := backends.Lookup(raw)
		red := backends.Redact(raw)
		neutral, ok := neutralize(raw)
		if !ok || neutral == raw {
			return
		}
		_, nperr := backends.Parse(neutral)
		_, _, nlerr := backends.Lookup(neutral)
		if nred := backends.Redact(neutral); nred != red {
			t.Fatalf("Redact shows a secret of %q:\n  %q\nwith the secrets replaced:\n  %q", raw, red, nred)
		}
		if errText(perr) != errText(nperr) || errText(lerr) != errText(nlerr) {
			t.Fatalf("an error shows a secret of %q:\n  %v\n  %v\nwith the secrets replaced:\n  %v\n  %v", raw, perr, lerr, nperr, nlerr)
		}
	})
}

// neutralize replaces every character of raw's secrets, found where
// net/url finds them: hex digits by '0', others by 'Q', except "@", ":"
// and "%", which shape the URL and its escapes. It reports false when raw
// does not parse (Redact then shows nothing of it).
func neutralize(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	b := []byte(raw)
	blank := func(from, to int) {
		for i := from; i < to; i++ {
			switch c := b[i]; {
			case c == '@' || c == ':' || c == '%':
			case '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F':
				b[i] = '0' // a %-escape stays as decodable, or not, as it was
			default:
				b[i] = 'Q'
			}
		}
	}
	// The parser cuts the fragment first, then the scheme, then the query.
	rest := raw
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	start := len(u.Scheme) + 1 // after "scheme:"
	if u.Scheme == "" {
		start = 0
	}
	body, query := rest[start:], ""
	if i := strings.IndexByte(body, '?'); i >= 0 {
		body, query = body[:i], body[i+1:]
	}
	queryAt := start + len(body) + 1
	switch {
	case u.Opaque != "":
		if i := strings.LastIndexByte(body, '@'); i >= 0 {
			blank(start, start+i)
		}
	case strings.HasPrefix(body, "//"):
		authority := body[2:]
		if i := strings.IndexByte(authority, '/'); i >= 0 {
			authority = authority[:i]
		}
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			if colon := strings.IndexByte(authority[:at], ':'); colon >= 0 {
				blank(start+2+colon+1, start+2+at)
			}
		}
	}
	pos := queryAt
	for _, pair := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
		i := strings.Index(raw[pos:], pair) + pos
		k, _, hasValue := strings.Cut(pair, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if hasValue && secretKey(k) {
			blank(i+strings.IndexByte(pair, '=')+1, i+len(pair))
		}
		pos = i + len(pair)
	}
	return string(b), true
}

func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"token", "secret", "password", "sig", "key", "sas", "credentials"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestRedactAmbiguousPassword: a password written with an unescaped "/",
// "?" or "#" ends early for the URL parser, and the rest of it would show
// as host, path, query or fragment; nothing before the last "@" shows.
func TestRedactAmbiguousPassword(t *testing.T) {
	for in, want := range map[string]string{
		"s3://ak:p@ss/wo?rd#x@bucket/archives":        "s3://ak:xxxxx@bucket/archives",
		"s3://ak:p@ss/wo@bucket/archives?token=T0K3N": "s3://ak:xxxxx@bucket/archives?token=xxxxx",
		"s3://ak:p@ss@bucket/archives":                "s3://ak:xxxxx@bucket/archives", // parses fine: password "p@ss"
	} {
		if got := backends.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
