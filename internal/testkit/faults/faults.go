// Package faults disturbs HTTP requests the way a real store or network
// can: error statuses, slowness, dropped connections, truncated or
// corrupted bodies. The Vercel Blob test server applies its rules in
// front of its own handler; Proxy applies them in front of an emulator
// that has no fault knobs of its own (gofakes3, fake-gcs-server,
// Azurite), so every backend is disturbed the same way. It is imported
// only by tests and test-support packages.
package faults

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Rule disturbs the requests that match it. Zero fields match anything
// and do nothing.
type Rule struct {
	Method string // compared case-insensitively
	// Match, if set, must accept the request too (e.g. only object data,
	// not listing or bucket metadata).
	Match func(r *http.Request) bool
	Times int // the next Times matching requests; 0: every one

	// Delay holds the request this long first (cut short if the client
	// goes away); combined with any of the effects below.
	Delay time.Duration
	// Status answers with this status, Header and Body instead of serving.
	Status int
	Header map[string]string
	Body   string
	// DropRequest reads part of the request body, then closes the
	// connection: the request is not applied.
	DropRequest bool
	// DropResponse applies the request, then closes the connection
	// without answering: the client cannot know it succeeded.
	DropResponse bool
	// Truncate applies the request and sends the full Content-Length but
	// half the body, then closes; Corrupt flips one byte in the middle of
	// the body. Meant for downloads, they apply to any request.
	Truncate bool
	Corrupt  bool

	used int
}

// Set is a list of rules, matched in the order they were added; a request
// consumes at most one. The zero Set is empty and ready to use; it is safe
// for concurrent use.
type Set struct {
	mu    sync.Mutex
	rules []*Rule
}

// Add installs r.
func (s *Set) Add(r Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.used = 0
	s.rules = append(s.rules, &r)
}

// Clear removes every rule.
func (s *Set) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
}

// Take finds the rule for req and consumes one of its Times; nil when no
// rule matches.
func (s *Set) Take(req *http.Request) *Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.rules {
		if r.Method != "" && !strings.EqualFold(r.Method, req.Method) || r.Match != nil && !r.Match(req) {
			continue
		}
		r.used++
		cp := *r
		if r.Times > 0 && r.used >= r.Times {
			s.rules = append(s.rules[:i:i], s.rules[i+1:]...)
		}
		return &cp
	}
	return nil
}

// Apply carries out r on a request that serve would answer (the test
// server's handler, or the proxy to the emulator). It reports whether the
// request was answered; if not, the caller serves it as usual.
func (r *Rule) Apply(w http.ResponseWriter, req *http.Request, serve http.Handler) bool {
	if r.Delay > 0 {
		t := time.NewTimer(r.Delay)
		select {
		case <-req.Context().Done():
			t.Stop()
			return true
		case <-t.C:
		}
	}
	switch {
	case r.DropRequest:
		// Read a little of the body so the client is mid-request.
		_, _ = io.CopyN(io.Discard, req.Body, max(req.ContentLength/2, 1))
		hijackClose(w, nil)
		return true
	case r.Status != 0:
		_, _ = io.Copy(io.Discard, req.Body)
		for k, v := range r.Header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(r.Status)
		_, _ = io.WriteString(w, r.Body)
		return true
	case r.DropResponse || r.Truncate || r.Corrupt:
		rec := httptest.NewRecorder()
		serve.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if r.Corrupt && len(body) > 0 {
			body[len(body)/2] ^= 0xff
		}
		switch {
		case r.DropResponse:
			hijackClose(w, nil) // applied, but the client never hears of it
		case r.Truncate:
			hijackClose(w, func(bw *bufio.Writer) {
				fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", rec.Code, http.StatusText(rec.Code))
				h := rec.Header().Clone()
				h.Set("Content-Length", strconv.Itoa(len(body)))
				h.Del("Transfer-Encoding")
				_ = h.Write(bw)
				bw.WriteString("\r\n")
				bw.Write(body[:len(body)/2])
			})
		default:
			for k, vs := range rec.Header() {
				w.Header()[k] = vs
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
		}
		return true
	}
	return false
}

// hijackClose takes over the connection (through wrappers that Unwrap),
// optionally writes raw bytes, and closes it.
func hijackClose(w http.ResponseWriter, write func(*bufio.Writer)) {
	conn, bufrw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		if err == http.ErrNotSupported {
			panic("faults: connection cannot be hijacked (HTTP/2?)")
		}
		return
	}
	if write != nil {
		write(bufrw.Writer)
		_ = bufrw.Flush()
	}
	_ = conn.Close()
}

// Proxy is a reverse proxy in front of an emulator that applies its Set's
// rules to the requests passing through.
type Proxy struct {
	Set
	srv *httptest.Server
	rp  *httputil.ReverseProxy

	mu   sync.Mutex
	hits map[string]int // method -> requests seen
}

// NewProxy starts a proxy to target (the emulator's root URL), closed when
// the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{hits: map[string]int{}}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	return p
}

// URL is the proxy's root URL; Host is its host:port.
func (p *Proxy) URL() string  { return p.srv.URL }
func (p *Proxy) Host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// Count is how many requests with method have passed through.
func (p *Proxy) Count(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[method]
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.hits[r.Method]++
	p.mu.Unlock()
	if rule := p.Take(r); rule != nil && rule.Apply(w, r, p.rp) {
		return
	}
	p.rp.ServeHTTP(w, r)
}
