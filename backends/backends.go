// Package backends opens archive storage by URL. A backend package registers
// its URL scheme in init, the way database/sql drivers and golang-migrate
// drivers do; the archiver core only ever sees a *blob.Bucket, so every
// backend gets gocloud.dev's portable readers, writers, listing and error
// codes for free.
package backends

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"gocloud.dev/blob"
)

// Backend describes one registered storage scheme. The descriptive fields
// feed `archiver backends` and error messages.
type Backend struct {
	Scheme      string               // URL scheme, e.g. "s3"
	Description string               // one line: what it stores to
	Example     string               // a URL that works once credentials are set
	Credentials []string             // environment variables it reads
	Opener      blob.BucketURLOpener // opens the bucket
}

var (
	mu       sync.RWMutex
	registry = map[string]Backend{}
)

// Register makes a backend available by its scheme. Like sql.Register it
// panics on a duplicate, since that is a programming error found at start-up.
func Register(b Backend) {
	mu.Lock()
	defer mu.Unlock()
	if b.Scheme == "" || b.Opener == nil {
		panic("backends: Register needs a scheme and an opener")
	}
	if _, dup := registry[b.Scheme]; dup {
		panic("backends: scheme registered twice: " + b.Scheme)
	}
	registry[b.Scheme] = b
}

// List returns the registered backends sorted by scheme.
func List() []Backend {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]Backend, 0, len(registry))
	for _, b := range registry {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Scheme < out[j].Scheme })
	return out
}

// Schemes returns the registered schemes, sorted.
func Schemes() []string {
	var s []string
	for _, b := range List() {
		s = append(s, b.Scheme)
	}
	return s
}

// Lookup returns the backend registered for the scheme of rawURL.
func Lookup(rawURL string) (Backend, *url.URL, error) {
	u, err := Parse(rawURL)
	if err != nil {
		return Backend{}, nil, err
	}
	mu.RLock()
	b, ok := registry[u.Scheme]
	mu.RUnlock()
	if !ok {
		return Backend{}, nil, fmt.Errorf("unknown storage scheme %q in bucket URL %s (known schemes: %s)",
			u.Scheme, Redact(rawURL), strings.Join(Schemes(), ", "))
	}
	return b, u, nil
}

// Parse checks that rawURL is an absolute URL with a scheme; the error never
// repeats credentials that may be embedded in it.
func Parse(rawURL string) (*url.URL, error) {
	if strings.TrimSpace(rawURL) == "" {
		return nil, fmt.Errorf("empty bucket URL (set --bucket or ARCHIVER_BUCKET, e.g. file:///var/archives; known schemes: %s)",
			strings.Join(Schemes(), ", "))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("malformed bucket URL %s: expected scheme://bucket[/path][?options] (known schemes: %s)",
			Redact(rawURL), strings.Join(Schemes(), ", "))
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("bucket URL %s has no scheme: expected scheme://bucket (known schemes: %s)",
			Redact(rawURL), strings.Join(Schemes(), ", "))
	}
	return u, nil
}

// Open opens the bucket named by rawURL with the backend registered for its
// scheme.
func Open(ctx context.Context, rawURL string) (*blob.Bucket, error) {
	b, u, err := Lookup(rawURL)
	if err != nil {
		return nil, err
	}
	bucket, err := b.Opener.OpenBucketURL(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("open %s bucket %s: %s", b.Scheme, Redact(rawURL), redactString(err.Error(), u))
	}
	return bucket, nil
}

// secretParams are query parameters that may carry credentials in some
// backends' URLs; their values are never shown.
var secretParams = []string{"token", "secret", "password", "sig", "signature", "key", "sas", "credentials"}

func isSecretParam(name string) bool {
	name = strings.ToLower(name)
	for _, s := range secretParams {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// Redact returns rawURL with any user info password and credential-like query
// values replaced, for logs, errors and manifests.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Do not echo something we cannot parse: it may hold a secret.
		return "<unparsable URL>"
	}
	return redactURL(u)
}

func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		if _, has := c.User.Password(); has {
			c.User = url.UserPassword(c.User.Username(), "xxxxx")
		}
	}
	q := c.Query()
	changed := false
	for k := range q {
		if isSecretParam(k) {
			q.Set(k, "xxxxx")
			changed = true
		}
	}
	if changed {
		c.RawQuery = q.Encode()
	}
	return c.String()
}

// redactString removes the secret parts of u from a message produced by a
// third-party opener, which may quote the URL it was given as written
// (percent-encoded) or decoded, so both forms are replaced.
func redactString(msg string, u *url.URL) string {
	var secrets []string
	add := func(v string) {
		if v != "" {
			secrets = append(secrets, v, url.QueryEscape(v), url.PathEscape(v))
		}
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			add(p)
			if _, raw, ok := strings.Cut(u.User.String(), ":"); ok {
				add(raw) // as written in the URL
			}
		}
	}
	for _, kv := range strings.Split(u.RawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if !isSecretParam(k) {
			continue
		}
		add(v)
		if d, err := url.QueryUnescape(v); err == nil {
			add(d)
		}
	}
	// Longest first, so that a secret is never half replaced by a shorter
	// form of itself.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, v := range secrets {
		msg = strings.ReplaceAll(msg, v, "xxxxx")
	}
	return msg
}
