// Package secret removes known secrets from text on its way out: log
// lines, error messages, manifest rows. Redacting a URL where it is printed
// is the first line of defence (backends.Redact); this is the last, for
// what third-party code quotes in its errors (a nested endpoint URL in an
// SDK's parse error, a host name that is really a piece of a password) and
// for error chains kept with %w.
package secret

import (
	"io"
	"net/url"
	"strings"
	"sync"
)

// MinRun is the shortest run of a secret's characters that is removed: no
// MinRun consecutive characters of a secret survive Scrub.
const MinRun = 4

// Mask replaces what is removed.
const Mask = "xxxxx"

// Scrub replaces every run of at least MinRun characters of msg that
// occurs in one of secrets.
func Scrub(msg string, secrets []string) string {
	return scrub(msg, secrets, grams(secrets))
}

// grams is every run of MinRun characters of the secrets: a position of a
// message that starts none of them starts no secret run, which keeps
// scrubbing a long output linear.
func grams(secrets []string) map[string]bool {
	g := map[string]bool{}
	for _, s := range secrets {
		for i := 0; i+MinRun <= len(s); i++ {
			g[s[i:i+MinRun]] = true
		}
	}
	return g
}

func scrub(msg string, secrets []string, g map[string]bool) string {
	if len(g) == 0 || len(msg) < MinRun {
		return msg
	}
	var b strings.Builder
	changed := false
	for i := 0; i < len(msg); {
		best := 0
		if i+MinRun <= len(msg) && g[msg[i:i+MinRun]] {
			for _, s := range secrets {
				for n := min(len(msg)-i, len(s)); n >= MinRun && n > best; n-- {
					if strings.Contains(s, msg[i:i+n]) {
						best = n
						break
					}
				}
			}
		}
		if best > 0 {
			if !changed {
				b.WriteString(msg[:i])
				changed = true
			}
			b.WriteString(Mask)
			i += best
			continue
		}
		if changed {
			b.WriteByte(msg[i])
		}
		i++
	}
	if !changed {
		return msg
	}
	return b.String()
}

// Part is the part of a credential that is secret. Of a Vercel Blob token,
// vercel_blob_rw_<storeId>_<secret>, it is the last part: the prefix and
// the store id name the scheme and the store, and masking them would mask
// every "vercelblob" and store name of the output. Any other value is
// secret whole.
func Part(v string) string {
	if parts := strings.SplitN(v, "_", 5); len(parts) == 5 && strings.HasPrefix(v, "vercel_blob_r") && len(parts[4]) >= MinRun {
		return parts[4]
	}
	return v
}

// Set is the secrets of one process, added as they become known.
type Set struct {
	mu      sync.RWMutex
	secrets []string
	grams   map[string]bool
}

// Add records secrets, in the forms they may be quoted in: as is,
// query-escaped, path-escaped and JSON-escaped. Values shorter than
// MinRun are ignored: only whole-URL redaction can hide those.
func (s *Set) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		if len(v) < MinRun {
			continue
		}
		for _, f := range []string{v, url.QueryEscape(v), url.PathEscape(v), strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v)} {
			if !contains(s.secrets, f) {
				s.secrets = append(s.secrets, f)
			}
		}
	}
	s.grams = grams(s.secrets)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Scrub removes the set's secrets from msg.
func (s *Set) Scrub(msg string) string {
	if s == nil {
		return msg
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return scrub(msg, s.secrets, s.grams)
}

// Writer returns w with the set's secrets removed from every write. Each
// write must be whole lines (as slog handlers write records), so that a
// secret is never split between two writes.
func (s *Set) Writer(w io.Writer) io.Writer { return &writer{s: s, w: w} }

type writer struct {
	s *Set
	w io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	out := w.s.Scrub(string(p))
	if _, err := io.WriteString(w.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}
