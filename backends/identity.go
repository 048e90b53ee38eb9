package backends

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
)

// Identity returns the canonical identity of the storage location that
// rawURL names: what the manifests record and are matched on, so that two
// spellings of one place (a trailing slash, "//", file:/x and file:///x, an
// option such as ?no_tmp_dir=1, the implicit Vercel default spelled out)
// find the same archives, and two places never do.
//
// An identity is a URL, scheme://bucket[/path][?prefix=P][&endpoint=E]:
// the scheme; the bucket, container or directory, normalised; gocloud's
// prefix= option verbatim (it is part of every key); and the endpoint
// where it changes where objects live (an S3-compatible endpoint, an
// emulator, an Azure account, a Vercel store). What only the credentials
// say (the Vercel store id, the Azure account) comes from the environment
// of the process. It never holds user info, a secret query value or any
// other credential.
func Identity(rawURL string) (string, error) {
	b, u, err := Lookup(rawURL)
	if err != nil {
		return "", err
	}
	if strings.Contains(rawURL, "#") {
		// Nothing after a "#" reaches a store: it is a password or value
		// with an unescaped "#", cut short.
		return "", fmt.Errorf("bucket URL %s holds a \"#\", which ends a URL: percent-encode it as %%23 (the URL is shown redacted)", Redact(rawURL))
	}
	if b.Identity != nil {
		id, err := b.Identity(u)
		if err != nil {
			return "", fmt.Errorf("bucket URL %s: %w", Redact(rawURL), err)
		}
		return id, nil
	}
	return Location{Scheme: u.Scheme, Bucket: u.Host, Path: u.Path, Prefix: u.Query().Get("prefix")}.String(), nil
}

// Location is the parsed form of an identity; backends that compute their
// own identity fill one and return its String.
type Location struct {
	Scheme   string
	Bucket   string // lowercased unless CaseSensitive
	Path     string // cleaned: no "//", ".", "..", or trailing "/"
	Prefix   string // gocloud's prefix= option, verbatim
	Endpoint string // see Endpoint; empty when the scheme's default
	// CaseSensitive keeps the bucket's case (a file path's is significant).
	CaseSensitive bool
}

func (l Location) String() string {
	bucket := l.Bucket
	if !l.CaseSensitive {
		bucket = strings.ToLower(bucket)
	}
	p := ""
	if l.Path != "" {
		p = path.Clean("/" + l.Path)
		if p == "/" {
			p = ""
		}
	}
	out := strings.ToLower(l.Scheme) + "://" + bucket + (&url.URL{Path: p}).EscapedPath()
	var q []string
	if l.Endpoint != "" {
		q = append(q, "endpoint="+queryValue(l.Endpoint))
	}
	if l.Prefix != "" {
		q = append(q, "prefix="+queryValue(l.Prefix))
	}
	if len(q) > 0 {
		out += "?" + strings.Join(q, "&")
	}
	return out
}

// queryValue escapes a query value, but keeps ":" and "/" (legal there)
// so that people can read it.
func queryValue(v string) string {
	return strings.NewReplacer("%3A", ":", "%2F", "/").Replace(url.QueryEscape(v))
}

// Endpoint normalises a service address for an identity: host[:port][/path],
// host lowercased, without scheme, user info, query, the scheme's default
// port or a trailing slash; so http://KEY:SECRET@MinIO:9000/ and
// minio:9000 are the same endpoint. An address without a scheme is taken
// as host[:port].
func Endpoint(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		// Still never keep what may be user info.
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			raw = raw[i+1:]
		}
		return strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(raw, "https://"), "http://"))
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	p := ""
	if u.Path != "" {
		p = path.Clean("/" + u.Path)
		if p == "/" {
			p = ""
		}
	}
	return host + p
}
