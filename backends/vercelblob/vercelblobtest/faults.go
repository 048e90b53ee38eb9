package vercelblobtest

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// DropMode says where a faulty request loses its connection.
type DropMode int

const (
	// DropNone keeps the connection.
	DropNone DropMode = iota
	// DropRequest reads part of the request body, then closes the
	// connection: the request is not applied.
	DropRequest
	// DropResponse applies the request, then closes the connection halfway
	// through the response body: the client cannot know it succeeded.
	DropResponse
)

// Fault describes requests to disturb and how. Set it up with AddFault; it
// applies to the next Times matching requests (every one if Times <= 0)
// until ClearFaults. Faults are matched in the order they were added, and a
// request consumes at most one fault.
type Fault struct {
	Kind           string // one of the Kind constants; "" matches any
	Method         string // "" matches any
	PathnamePrefix string // matches the request's pathname; "" matches any
	Times          int

	// Delay holds the request this long first (cut short if the client
	// goes away); combined with any of the effects below.
	Delay time.Duration
	// Status answers with this status instead of serving, with the error
	// JSON {"error":{"code":Code,"message":Message}}, or RawBody verbatim
	// if set (to imitate a proxy's non-JSON page).
	Status     int
	Code       string
	Message    string
	RawBody    string
	RetryAfter int // seconds, sent as retry-after with Status

	Drop DropMode
	// Corrupt flips one byte in the middle of the response body; Truncate
	// sends the full Content-Length and half the body, then closes. Meant
	// for downloads, but they apply to any kind.
	Corrupt  bool
	Truncate bool

	used int
}

// AddFault installs f.
func (s *Server) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := f
	cp.used = 0
	s.faults = append(s.faults, &cp)
}

// FailNext makes the next n requests of kind (and method, if not empty)
// fail with status and error code.
func (s *Server) FailNext(n int, kind, method string, status int, code string) {
	s.AddFault(Fault{Kind: kind, Method: method, Times: n, Status: status, Code: code, Message: "injected failure"})
}

// ClearFaults removes all faults.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// matchFault finds and consumes the fault for a request; s.mu must be held.
func (s *Server) matchFault(kind, method, pathname string) *Fault {
	for i, f := range s.faults {
		if f.Kind != "" && f.Kind != kind || f.Method != "" && !strings.EqualFold(f.Method, method) ||
			f.PathnamePrefix != "" && !strings.HasPrefix(pathname, f.PathnamePrefix) {
			continue
		}
		f.used++
		cp := *f
		if f.Times > 0 && f.used >= f.Times {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return &cp
	}
	return nil
}

// applyFault carries out f; it reports whether the request was answered.
func (s *Server) applyFault(f *Fault, w http.ResponseWriter, r *http.Request, kind string) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-r.Context().Done():
			t.Stop()
			return true
		case <-t.C:
		}
	}
	switch {
	case f.Drop == DropRequest:
		// Read a little of the body so the client is mid-request.
		_, _ = io.CopyN(io.Discard, r.Body, max(r.ContentLength/2, 1))
		hijackClose(w, nil)
		return true
	case f.Status != 0:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		if f.RawBody != "" {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(f.Status)
			_, _ = io.WriteString(w, f.RawBody)
			return true
		}
		msg := f.Message
		if msg == "" {
			msg = "injected failure"
		}
		writeError(w, &apiError{status: f.Status, code: f.Code, message: msg})
		return true
	case f.Drop == DropResponse || f.Truncate || f.Corrupt:
		rec := httptest.NewRecorder()
		s.serve(rec, r, kind)
		body := rec.Body.Bytes()
		if f.Corrupt && len(body) > 0 {
			body[len(body)/2] ^= 0xff
		}
		if f.Drop == DropResponse || f.Truncate {
			hijackClose(w, func(bw *bufio.Writer) {
				fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", rec.Code, http.StatusText(rec.Code))
				h := rec.Header().Clone()
				h.Set("Content-Length", strconv.Itoa(len(body)))
				h.Del("Transfer-Encoding")
				_ = h.Write(bw)
				bw.WriteString("\r\n")
				bw.Write(body[:len(body)/2])
			})
			return true
		}
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
		return true
	}
	return false
}

// hijackClose takes over the connection, optionally writes raw bytes, and
// closes it.
func hijackClose(w http.ResponseWriter, write func(*bufio.Writer)) {
	for {
		if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
			if _, isHJ := w.(http.Hijacker); !isHJ {
				w = u.Unwrap()
				continue
			}
		}
		break
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("vercelblobtest: connection cannot be hijacked (HTTP/2?)")
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

// Unwrap lets hijackClose reach the connection behind statusWriter.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
