package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// connStringSeeds are connection strings that pgx cannot parse, each with
// the password it holds.
var connStringSeeds = []struct{ url, password string }{
	// Unescaped special characters: pgx's best-effort masking let the tail
	// of this password ("y#z%z") through, and the underlying error quoted
	// more of it.
	{"postgres://archiver:Pw-7731/q?x@y#z%z@127.0.0.1:notaport/db", "Pw-7731/q?x@y#z%z"},
	{"postgres://archiver:hunter2-secret@127.0.0.1:notaport/db", "hunter2-secret"},
	{"postgres://archiver:pa%zzss-secret@127.0.0.1/db", "pa%zzss-secret"},
	{"postgresql://a:b@c:d@e/f?sslmode=bogus&password=q-secret-q", "q-secret-q"},
	{"host=127.0.0.1 password='unterminated-secret port=5432", "unterminated-secret"},
	{"host=127.0.0.1 password=plain-secret port=notaport", "plain-secret"},
	{"postgres://u:sp ace-secret@host:5432/db?connect_timeout=x", "sp ace-secret"},
	{"postgres://u:secret-in-user@host:99999999/db", "secret-in-user"},
}

// TestConnectionStringErrorHidesPassword: a DATABASE_URL that does not
// parse is reported without echoing any of it.
func TestConnectionStringErrorHidesPassword(t *testing.T) {
	for _, c := range connStringSeeds {
		_, err := Connect(context.Background(), c.url, time.Second, 1)
		if err == nil {
			t.Errorf("%q: connected", c.url)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "invalid database URL") {
			continue // parsed after all; the connection error is another test's business
		}
		for _, frag := range fragments(c.password, 5) {
			if strings.Contains(msg, frag) {
				t.Errorf("%q: the error holds %q of the password: %s", c.url, frag, msg)
				break
			}
		}
	}
}

// FuzzConnectionStringError: whatever the connection string, an error
// from parsing it never holds a piece (5 characters or more) of the
// password that was put into it, unless that piece is in the rest of the
// string too (a user name equal to the password cannot be hidden).
func FuzzConnectionStringError(f *testing.F) {
	for _, c := range connStringSeeds {
		i := strings.Index(c.url, c.password)
		f.Add(c.url[:i], c.password, c.url[i+len(c.password):])
	}
	f.Fuzz(func(t *testing.T, before, password, after string) {
		if len(password) < 5 || strings.ContainsAny(password, "\x00") {
			return
		}
		conn := before + password + after
		_, err := pgxpool.ParseConfig(conn)
		if err == nil {
			return
		}
		msg := "invalid database URL (DATABASE_URL): " + parseReason(err)
		rest := before + "\x00" + after
		for _, frag := range fragments(password, 5) {
			if strings.Contains(msg, frag) && !strings.Contains(rest, frag) && !strings.Contains("invalid database URL (DATABASE_URL): ", frag) {
				t.Fatalf("%q: the error holds %q of the password %q: %s", conn, frag, password, msg)
			}
		}
	})
}

// fragments returns every substring of s of length n (s itself if shorter).
func fragments(s string, n int) []string {
	if len(s) <= n {
		return []string{s}
	}
	var out []string
	for i := 0; i+n <= len(s); i++ {
		out = append(out, s[i:i+n])
	}
	return out
}
