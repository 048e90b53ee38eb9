package vercelblobtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shizuku-labs/archiver/internal/testkit/faults"
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

// Fault describes requests to disturb and how, in this server's terms
// (request kinds, pathnames, its error JSON); AddFault turns it into a
// faults.Rule, the same rules the emulators' fault proxy applies. It
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
}

// AddFault installs f.
func (s *Server) AddFault(f Fault) {
	rule := faults.Rule{
		Method:      f.Method,
		Times:       f.Times,
		Delay:       f.Delay,
		DropRequest: f.Drop == DropRequest,
		// This server's DropResponse closes halfway through the body.
		Truncate: f.Truncate || f.Drop == DropResponse,
		Corrupt:  f.Corrupt,
	}
	if f.Kind != "" || f.PathnamePrefix != "" {
		rule.Match = func(r *http.Request) bool {
			kind, pathname := s.classify(r)
			return (f.Kind == "" || f.Kind == kind) && strings.HasPrefix(pathname, f.PathnamePrefix)
		}
	}
	if f.Status != 0 {
		rule.Status = f.Status
		rule.Header = map[string]string{"Content-Type": "application/json"}
		if f.RetryAfter > 0 {
			rule.Header["Retry-After"] = strconv.Itoa(f.RetryAfter)
		}
		if f.RawBody != "" {
			rule.Header["Content-Type"] = "text/html"
			rule.Body = f.RawBody
		} else {
			msg := f.Message
			if msg == "" {
				msg = "injected failure"
			}
			body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": f.Code, "message": msg}})
			rule.Body = string(body)
		}
	}
	s.faults.Add(rule)
}

// FailNext makes the next n requests of kind (and method, if not empty)
// fail with status and error code.
func (s *Server) FailNext(n int, kind, method string, status int, code string) {
	s.AddFault(Fault{Kind: kind, Method: method, Times: n, Status: status, Code: code, Message: "injected failure"})
}

// ClearFaults removes all faults.
func (s *Server) ClearFaults() { s.faults.Clear() }

// Unwrap lets a fault's hijack reach the connection behind statusWriter.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
