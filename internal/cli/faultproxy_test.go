package cli_test

import (
	"bufio"
	"bytes"
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

// faultProxy sits between a backend's SDK and its emulator (gofakes3,
// fake-gcs-server, Azurite) and disturbs chosen requests the way a real
// store or network can: error statuses, slowness, dropped connections,
// truncated or corrupted bodies. The emulators have no fault knobs of their
// own; this gives every backend the Vercel test server's.
type faultProxy struct {
	srv    *httptest.Server
	target *url.URL
	rp     *httputil.ReverseProxy

	mu    sync.Mutex
	rules []*proxyRule
	hits  map[string]int // "METHOD" -> requests seen
}

// proxyRule disturbs requests that match it. Zero fields match anything.
type proxyRule struct {
	Method string
	// Match, if set, must accept the request too (e.g. only object data,
	// not listing or bucket metadata).
	Match func(r *http.Request) bool
	Times int // 0: every matching request

	Delay     time.Duration
	Status    int
	Body      string
	Header    map[string]string
	DropReq   bool // read part of the request, then close the connection: not applied
	DropResp  bool // apply, then close the connection without answering
	Truncate  bool // apply, send the full Content-Length and half the body
	Corrupt   bool // apply, flip a byte in the middle of the body
	usedTimes int
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{target: u, hits: map[string]int{}}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.ErrorLog = nil
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	return p
}

// URL is the proxy's root URL; Host is its host:port.
func (p *faultProxy) URL() string  { return p.srv.URL }
func (p *faultProxy) Host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

func (p *faultProxy) add(r proxyRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, &r)
}

func (p *faultProxy) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

func (p *faultProxy) count(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[method]
}

func (p *faultProxy) match(r *http.Request) *proxyRule {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hits[r.Method]++
	for i, rule := range p.rules {
		if rule.Method != "" && rule.Method != r.Method || rule.Match != nil && !rule.Match(r) {
			continue
		}
		rule.usedTimes++
		cp := *rule
		if rule.Times > 0 && rule.usedTimes >= rule.Times {
			p.rules = append(p.rules[:i:i], p.rules[i+1:]...)
		}
		return &cp
	}
	return nil
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rule := p.match(r)
	if rule == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	if rule.Delay > 0 {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(rule.Delay):
		}
	}
	switch {
	case rule.DropReq:
		_, _ = io.CopyN(io.Discard, r.Body, max(r.ContentLength/2, 1))
		hijack(w, nil)
	case rule.Status != 0:
		_, _ = io.Copy(io.Discard, r.Body)
		for k, v := range rule.Header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rule.Status)
		_, _ = io.WriteString(w, rule.Body)
	case rule.DropResp || rule.Truncate || rule.Corrupt:
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rule.Corrupt && len(body) > 0 {
			body = bytes.Clone(body)
			body[len(body)/2] ^= 0xff
		}
		if rule.DropResp {
			hijack(w, nil) // applied, but the client never hears of it
			return
		}
		if rule.Truncate {
			hijack(w, func(bw *bufio.Writer) {
				fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", rec.Code, http.StatusText(rec.Code))
				h := rec.Header().Clone()
				h.Set("Content-Length", strconv.Itoa(len(body)))
				h.Del("Transfer-Encoding")
				_ = h.Write(bw)
				bw.WriteString("\r\n")
				bw.Write(body[:len(body)/2])
			})
			return
		}
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

func hijack(w http.ResponseWriter, write func(*bufio.Writer)) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("faultProxy: cannot hijack")
	}
	conn, bufrw, err := hj.Hijack()
	if err != nil {
		return
	}
	if write != nil {
		write(bufrw.Writer)
		_ = bufrw.Flush()
	}
	_ = conn.Close()
}
