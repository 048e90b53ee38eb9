package vercelblob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"gocloud.dev/blob"
)

// accessState is what the bucket knows of the store's access.
type accessState struct {
	access   string // "" while unknown
	source   string // how it is known, for messages
	explicit bool   // given as Options.Access (?access=): never switched
}

// guessAccess is what a write asks for while the store's access is unknown
// (an empty store and nothing configured): private, so that a wrong guess
// can only ever make a blob less readable, and the service's refusal then
// tells the store's access.
const guessAccess = AccessPrivate

func (b *bucket) access() accessState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.acc
}

func (b *bucket) writeAccess() string {
	if a := b.access().access; a != "" {
		return a
	}
	return guessAccess
}

// learnAccess records the store's access seen in a blob URL of the store.
// Given access is never replaced; a contradiction shows when StoreAccess is
// asked or when a write is refused.
func (b *bucket) learnAccess(access, source string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.acc.access == "" {
		b.acc = accessState{access: access, source: source}
	}
}

// mismatchRE matches the service's refusal of a write that asks for the
// access the store does not have; the second access is the store's.
var mismatchRE = regexp.MustCompile(`(?i)cannot use (public|private) access on a (public|private) store`)

// accessMismatch returns the store's access if err is that refusal.
func accessMismatch(err error) (string, bool) {
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeBadRequest {
		return "", false
	}
	m := mismatchRE.FindStringSubmatch(e.Message)
	if m == nil {
		return "", false
	}
	return strings.ToLower(m[2]), true
}

// contradiction is the error for given access that the store does not have.
func (b *bucket) contradiction(given, store, how string) error {
	return &Error{Code: CodeAccessMismatch, Message: fmt.Sprintf(
		"?access=%s contradicts Vercel Blob store %q, which is %s (%s): a store's access is fixed when it is created; remove ?access= from the bucket URL to use the store's access, or use a token of a %s store",
		given, strings.ToLower(b.storeID), store, how, given)}
}

// withStoreAccess sends a write whose headers are h. If the service refuses
// it because it asked for the other access, the store's access is
// remembered, logged, and the write is sent once more, unless the access
// was given: then the refusal is an error that says so.
func (b *bucket) withStoreAccess(ctx context.Context, op, pathname string, h http.Header, send func() error) error {
	h.Set("X-Vercel-Blob-Access", b.writeAccess())
	err := send()
	store, ok := accessMismatch(err)
	if !ok {
		return err
	}
	b.mu.Lock()
	st := b.acc
	if !st.explicit {
		b.acc = accessState{access: store, source: "the service's answer to a write"}
	}
	b.mu.Unlock()
	if st.explicit {
		e := b.contradiction(st.access, store, "the service refused a "+st.access+" write").(*Error)
		e.Op, e.Pathname, e.Err = op, pathname, err
		return e
	}
	b.log.InfoContext(ctx, fmt.Sprintf("Vercel Blob store %q is %s: it refused a %s write; writing %s blobs from now on", strings.ToLower(b.storeID), store, h.Get("X-Vercel-Blob-Access"), store),
		"store", strings.ToLower(b.storeID), "access", store)
	h.Set("X-Vercel-Blob-Access", store)
	return send()
}

// probeRoot is where StoreAccess writes its marker: under the sidecar area,
// which no key maps into and List never shows.
const probeRoot = sidecarRoot + ".probe-"

// StoreAccess finds the access of the store behind b, a bucket opened by
// this package: "public" or "private", and how it is known. Given access
// (?access=) is checked against the store. In order: the base URL's store
// label (VERCEL_BLOB_BASE_URL), the URL of any blob the store lists, and,
// for an empty store when probe is set, a small marker blob written and
// deleted again. An empty store without probe gives "" (unknown) and no
// error: the first write then finds out. A given access the store does not
// have is an error whose gcerrors code is FailedPrecondition.
func StoreAccess(ctx context.Context, b *blob.Bucket, probe bool) (access, source string, err error) {
	var drv *bucket
	if !b.As(&drv) {
		return "", "", errors.New("vercelblob: StoreAccess needs a bucket opened by package vercelblob")
	}
	return drv.storeAccess(ctx, probe)
}

func (b *bucket) storeAccess(ctx context.Context, probe bool) (string, string, error) {
	st := b.access()
	if st.access != "" && !st.explicit {
		return st.access, st.source, nil
	}
	page, err := b.c.list(ctx, "", "", 1, false, nil)
	if err != nil {
		return "", "", err
	}
	store, how := "", ""
	if len(page.Blobs) > 0 {
		if _, acc, _, ok := storeOfString(page.Blobs[0].URL); ok {
			store, how = acc, "the store's blob URLs"
		}
		b.learnBase(&page.Blobs[0])
	}
	if store == "" && probe {
		if store, err = b.probe(ctx); err != nil {
			return "", "", err
		}
		how = "a probe write"
	}
	switch {
	case store == "":
		return st.access, st.source, nil // unknown, or given and not yet contradicted
	case st.explicit && store != st.access:
		return "", "", b.contradiction(st.access, store, "seen in "+how)
	case st.explicit:
		return st.access, st.source + ", confirmed by " + how, nil
	}
	b.mu.Lock()
	b.acc = accessState{access: store, source: how}
	b.mu.Unlock()
	return store, how, nil
}

// probe finds an empty store's access with one write: a marker blob with
// the access given or guessed, deleted again if the store took it. The
// service refuses the other access before writing anything.
func (b *bucket) probe(ctx context.Context) (string, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	p := probeRoot + hex.EncodeToString(rnd[:])
	try := b.writeAccess()
	h := http.Header{}
	h.Set("X-Vercel-Blob-Access", try)
	h.Set("X-Add-Random-Suffix", "0")
	h.Set("X-Allow-Overwrite", "1")
	h.Set("X-Content-Type", "text/plain")
	info, _, err := b.c.put(ctx, p, h, []byte("vercelblob access probe; safe to delete\n"), nil)
	if store, ok := accessMismatch(err); ok {
		return store, nil
	}
	if err != nil {
		return "", err
	}
	target := p
	if info != nil && info.URL != "" {
		target = info.URL
		if _, acc, _, ok := storeOfString(info.URL); ok {
			try = acc
		}
	}
	if err := b.c.del(ctx, []string{target}, "", nil); err != nil {
		return "", fmt.Errorf("delete the access probe %s: %w", p, err)
	}
	return try, nil
}

// needsToken reports whether a content download of rawURL sends the token:
// not for a public store's URL (anyone may read it, and the token has no
// business in a CDN's logs), otherwise yes.
func (b *bucket) needsToken(rawURL string) bool {
	if u, err := url.Parse(rawURL); err == nil {
		if _, acc, _, ok := storeOf(u); ok {
			return acc == AccessPrivate
		}
	}
	return b.access().access != AccessPublic
}
