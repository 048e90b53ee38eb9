// Package backends opens archive storage by URL. It is the archiver's table
// of the storage schemes it offers: a backend package describes its scheme
// here in init (how it is documented, which environment selects it, what
// to check at start), and opens buckets through its own opener or, when it
// registered itself on gocloud's default URL mux as a gocloud driver does,
// through that mux. The archiver core only ever sees a *blob.Bucket, so
// every backend gets gocloud.dev's portable readers, writers, listing and
// error codes for free.
package backends

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"

	"gocloud.dev/blob"

	"github.com/shizuku-labs/archiver/internal/secret"
)

// Backend describes one registered storage scheme. The descriptive fields
// feed `archiver backends` and error messages.
type Backend struct {
	Scheme      string   // URL scheme, e.g. "s3"
	Description string   // one line: what it stores to
	Example     string   // a URL that works once credentials are set
	Credentials []string // environment variables it reads
	// Implicit lists environment variables any of which, set, selects this
	// backend (its bare Scheme + "://") when no bucket URL is configured, as
	// the original service's VERCEL_BLOB_RW_TOKEN selected Vercel Blob.
	Implicit []string
	// Opener opens the bucket; nil means gocloud's default URL mux, on which
	// the driver registered the scheme itself.
	Opener blob.BucketURLOpener
	// Check, if set, runs once the bucket is open and before anything is
	// written: it finds out what it must about the store and says it in a
	// sentence, or fails when the store cannot be used as configured. write
	// is false for a dry run or a command that writes nothing to storage.
	Check func(ctx context.Context, b *blob.Bucket, write bool) (string, error)
	// ObjectURL, if set, returns the URL at which the store serves key
	// (without credentials), or "" when it cannot tell without a request.
	ObjectURL func(b *blob.Bucket, key string) string

	// Ephemeral marks a store that does not outlive the process (mem://).
	// The commands refuse it: rows deleted after archiving to it would be
	// lost when the process exits. Tests use it through the Go API.
	Ephemeral bool
	// Identity returns the canonical identity of the storage location u
	// names (see Identity); nil means the generic one.
	Identity func(u *url.URL) (string, error)
	// Warnings returns what an operator must hear at start about where u
	// stores (a tmpfs that a reboot wipes); nil means none.
	Warnings func(u *url.URL) []string
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
	if b.Scheme == "" {
		panic("backends: Register needs a scheme")
	}
	if b.Opener == nil && !blob.DefaultURLMux().ValidBucketScheme(b.Scheme) {
		panic("backends: " + b.Scheme + " has no opener and is not registered on gocloud's default URL mux")
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
	opener := b.Opener
	if opener == nil {
		opener = blob.DefaultURLMux()
	}
	bucket, err := opener.OpenBucketURL(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("open %s bucket %s: %w", b.Scheme, Redact(rawURL), &redactedError{err: err, msg: redactString(err.Error(), u), u: u})
	}
	return bucket, nil
}

// redactedError shows an opener's error without the URL's secrets. It does
// not Unwrap: a caller printing the chain would print the opener's own
// message, secrets and all. errors.Is reaches the cause; errors.As (and so
// gcerrors.Code, IsConfigError) reaches an error of the chain only if that
// error's own message holds none of the URL's secrets.
type redactedError struct {
	err error
	msg string
	u   *url.URL
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

func (e *redactedError) As(target any) bool {
	if !errors.As(e.err, target) {
		return false
	}
	if found, ok := reflect.ValueOf(target).Elem().Interface().(error); ok && found != nil {
		if msg := found.Error(); redactString(msg, e.u) != msg {
			return false
		}
	}
	return true
}

// Implicit returns the URL of the backend selected by its environment when
// no bucket URL is configured (see Backend.Implicit), and every variable
// that would select one, for the message when none is set.
func Implicit() (rawURL string, names []string) {
	for _, b := range List() {
		for _, name := range b.Implicit {
			names = append(names, name)
			if rawURL == "" && os.Getenv(name) != "" {
				rawURL = b.Scheme + "://"
			}
		}
	}
	return rawURL, names
}

// Check runs the start-up check of rawURL's backend on b (see
// Backend.Check); a backend without one has nothing to say.
func Check(ctx context.Context, rawURL string, b *blob.Bucket, write bool) (string, error) {
	be, _, err := Lookup(rawURL)
	if err != nil || be.Check == nil {
		return "", err
	}
	return be.Check(ctx, b, write)
}

// ObjectURL returns the URL at which rawURL's backend serves key, or "".
func ObjectURL(rawURL string, b *blob.Bucket, key string) string {
	be, _, err := Lookup(rawURL)
	if err != nil || be.ObjectURL == nil {
		return ""
	}
	return be.ObjectURL(b, key)
}

// IsConfigError reports whether err says that the settings alone are wrong
// (a driver marks such errors with a ConfigError() bool method), as opposed
// to a store that could not be reached or used.
func IsConfigError(err error) bool {
	var c interface{ ConfigError() bool }
	return errors.As(err, &c) && c.ConfigError()
}

// secretParams are query parameters that may carry credentials in some
// backends' URLs; their values are never shown.
var secretParams = []string{"token", "secret", "pass", "pwd", "sig", "key", "sas", "cred", "auth", "session"}

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
	if _, has := u.User.Password(); has && atBeyondAuthority(rawURL) {
		// A password with an unescaped "/", "?" or "#" ends early for the
		// parser, and the rest of it looks like host, path, query or
		// fragment: show only what follows the last "@".
		rest := rawURL[strings.LastIndex(rawURL, "@")+1:]
		head, query, hasQuery := strings.Cut(rest, "?")
		out := u.Scheme + "://" + url.User(u.User.Username()).String() + ":xxxxx@" + head
		if hasQuery {
			out += "?" + redactQuery(query)
		}
		return out
	}
	return redactURL(u)
}

func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		if _, has := c.User.Password(); has {
			c.User = url.UserPassword(c.User.Username(), "xxxxx")
		} else {
			c.User = url.User("xxxxx") // a user name alone is often a token
		}
	}
	if i := strings.LastIndex(c.Fragment, "@"); i >= 0 {
		// A "#" in a nested URL's password ends the outer URL early.
		c.Fragment, c.RawFragment = "xxxxx"+c.Fragment[i:], ""
	}
	if i := strings.LastIndex(c.Opaque, "@"); i >= 0 {
		// "s3:user:password@bucket" parses as an opaque URL with no user
		// info; whatever comes before the "@" may be a credential.
		c.Opaque = "xxxxx" + c.Opaque[i:]
	}
	if q, err := url.ParseQuery(c.RawQuery); err == nil {
		// The usual case, formatted as it always was: the redacted URL is
		// the location recorded in (and looked up from) the manifests.
		changed := false
		for k, vs := range q {
			if isSecretParam(k) {
				q.Set(k, "xxxxx")
				changed = true
				continue
			}
			for i, v := range vs {
				// A nested URL (s3's endpoint=http://key:secret@host)
				// is redacted like the outer one.
				if strings.Contains(v, "@") || strings.Contains(v, "://") {
					if r := redactNested(v); r != v {
						vs[i] = r
						changed = true
					}
				}
			}
		}
		if changed {
			c.RawQuery = q.Encode()
		}
	} else {
		c.RawQuery = redactQuery(c.RawQuery)
	}
	return c.String()
}

// redactNested redacts a query value that is (or may be) a URL with user
// info; anything before an "@" is dropped when it does not parse.
func redactNested(v string) string {
	scheme, rest, ok := strings.Cut(v, "://")
	i := strings.LastIndex(rest, "@")
	switch {
	case ok && i >= 0:
		// Whatever lies before the last "@" may be user info, however
		// it is punctuated.
		user, _, hasPassword := strings.Cut(rest[:i], ":")
		if !hasPassword || strings.ContainsAny(user, "/?#@") {
			return scheme + "://xxxxx" + rest[i:]
		}
		return scheme + "://" + user + ":xxxxx" + rest[i:]
	case ok:
		return Redact(v)
	case strings.Contains(v, "@"):
		return "xxxxx" + v[strings.LastIndex(v, "@"):]
	}
	return v
}

// atBeyondAuthority reports whether rawURL has an "@" after the end of its
// authority (the first "/", "?" or "#" after "//").
func atBeyondAuthority(rawURL string) bool {
	i := strings.Index(rawURL, "//")
	if i < 0 {
		return false
	}
	after := rawURL[i+2:]
	end := strings.IndexAny(after, "/?#")
	return end >= 0 && strings.LastIndex(after, "@") > end
}

// redactQuery masks the values of credential-like parameters in a raw
// query that url.ParseQuery cannot decode. It works on the raw text, pair
// by pair: ParseQuery drops the pairs it cannot decode (a bad %-escape, a
// ";"), so re-encoding what it kept left those pairs, secrets and all, as
// they were.
func redactQuery(raw string) string {
	var b strings.Builder
	start := 0
	for i := 0; i <= len(raw); i++ {
		if i < len(raw) && raw[i] != '&' && raw[i] != ';' {
			continue
		}
		pair := raw[start:i]
		rawKey, v, hasValue := strings.Cut(pair, "=")
		key := rawKey
		if k, err := url.QueryUnescape(rawKey); err == nil {
			key = k
		}
		switch {
		case hasValue && isSecretParam(key):
			b.WriteString(rawKey + "=xxxxx")
		case hasValue && strings.Contains(v, "@"):
			// A nested URL's user information, up to its last "@" (an
			// "@" in the key alone leaves the value as it is).
			b.WriteString(rawKey + "=" + "xxxxx" + v[strings.LastIndex(v, "@"):])
		default:
			b.WriteString(pair)
		}
		if i < len(raw) {
			b.WriteByte(raw[i])
		}
		start = i + 1
	}
	return b.String()
}

// redactString removes the secret parts of u from a message produced by a
// third-party opener, which may quote the URL it was given as written
// (percent-encoded) or decoded, so both forms are replaced.
func redactString(msg string, u *url.URL) string {
	secrets := secretsOf(u)
	// Longest first, so that a secret is never half replaced by a shorter
	// form of itself.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, v := range secrets {
		msg = strings.ReplaceAll(msg, v, "xxxxx")
	}
	return msg
}

// Secrets returns the credentials in rawURL (passwords, a user name that
// stands alone, secret-looking query values, those of nested URLs), in the
// forms they may be quoted in, for a process-wide secret.Set. A URL that
// does not parse yields what lies between its "://" and last "@".
func Secrets(rawURL string) []string {
	u, err := url.Parse(rawURL)
	var out []string
	if err == nil {
		out = secretsOf(u)
	}
	if _, rest, ok := strings.Cut(rawURL, "://"); ok {
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			region := rest[:i]
			if _, pw, ok := strings.Cut(region, ":"); ok {
				region = pw
			}
			out = append(out, region)
		}
	}
	return out
}

func secretsOf(u *url.URL) []string {
	var secrets []string
	add := func(v string) {
		if v != "" {
			secrets = append(secrets, v, url.QueryEscape(v), url.PathEscape(v))
		}
	}
	userinfo := func(u *url.URL) {
		if u.User == nil {
			return
		}
		if p, ok := u.User.Password(); ok {
			add(p)
			if _, raw, ok := strings.Cut(u.User.String(), ":"); ok {
				add(raw) // as written in the URL
			}
		} else {
			add(u.User.Username())
		}
	}
	userinfo(u)
	for _, kv := range strings.Split(u.RawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		d, err := url.QueryUnescape(v)
		if err != nil {
			d = v
		}
		if isSecretParam(k) {
			add(secret.Part(v))
			add(secret.Part(d))
			continue
		}
		if nu, err := url.Parse(d); err == nil && nu.User != nil {
			userinfo(nu) // a nested URL's credentials
		} else if _, rest, ok := strings.Cut(d, "://"); ok && strings.Contains(rest, "@") {
			region := rest[:strings.LastIndex(rest, "@")]
			if _, pw, ok := strings.Cut(region, ":"); ok {
				region = pw
			}
			add(region)
		}
	}
	if i := strings.LastIndex(u.Fragment, "@"); i >= 0 {
		add(u.Fragment[:i]) // the rest of a nested password cut by "#"
	}
	return secrets
}

type createKey struct{}

// WithCreate returns a context under which Open may create a missing
// bucket (a file:// directory). Only a real archive run uses it: a dry
// run, verify or restore of a location that is not there must fail, not
// leave an empty directory behind.
func WithCreate(ctx context.Context) context.Context {
	return context.WithValue(ctx, createKey{}, true)
}

// CreateAllowed reports whether ctx came from WithCreate; openers call it.
func CreateAllowed(ctx context.Context) bool {
	v, _ := ctx.Value(createKey{}).(bool)
	return v
}

// CheckDurable refuses a bucket that does not outlive the process: the
// archiver deletes rows once their archive is written, so an archive that
// vanishes on exit is data lost.
func CheckDurable(rawURL string) error {
	b, _, err := Lookup(rawURL)
	if err != nil {
		return err
	}
	if b.Ephemeral {
		return fmt.Errorf("bucket URL %s names %s: it does not outlive the process, so every archived day would be lost when it exits; use a real store (e.g. file:///var/lib/archiver/archives, s3://bucket)",
			Redact(rawURL), b.Description)
	}
	return nil
}

// Warnings returns what an operator must hear at start about where rawURL
// stores (a tmpfs, a directory systemd's PrivateTmp wipes).
func Warnings(rawURL string) []string {
	b, u, err := Lookup(rawURL)
	if err != nil || b.Warnings == nil {
		return nil
	}
	return b.Warnings(u)
}
