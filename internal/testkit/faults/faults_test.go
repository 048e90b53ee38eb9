package faults

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The proxy applies a rule to exactly the requests it matches, Times
// times, and each effect does what it says to the client and the target.
func TestProxyRules(t *testing.T) {
	var applied atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			applied.Add(1)
		}
		_, _ = io.WriteString(w, "0123456789")
	}))
	t.Cleanup(target.Close)
	p := NewProxy(t, target.URL)
	get := func(method string) (int, string, error) {
		req, _ := http.NewRequest(method, p.URL()+"/x", strings.NewReader("body"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}

	p.Add(Rule{Method: "get", Times: 2, Status: 503, Body: "slow down", Header: map[string]string{"Retry-After": "1"}})
	for i := range 3 {
		code, body, err := get(http.MethodGet)
		want, wantBody := 503, "slow down"
		if i == 2 {
			want, wantBody = 200, "0123456789"
		}
		if err != nil || code != want || body != wantBody {
			t.Fatalf("GET %d: %d %q %v, want %d %q", i, code, body, err, want, wantBody)
		}
	}
	if code, _, err := get(http.MethodPut); err != nil || code != 200 || applied.Load() != 1 {
		t.Fatalf("a PUT no rule matches: %d %v, applied %d", code, err, applied.Load())
	}

	p.Add(Rule{Match: func(r *http.Request) bool { return r.Method == http.MethodPut }, DropResponse: true, Times: 1})
	if _, _, err := get(http.MethodPut); err == nil || applied.Load() != 2 {
		t.Fatalf("DropResponse: err %v, applied %d: want an error and the PUT applied", err, applied.Load())
	}
	p.Add(Rule{Method: http.MethodPut, DropRequest: true, Times: 1})
	if _, _, err := get(http.MethodPut); err == nil || applied.Load() != 2 {
		t.Fatalf("DropRequest: err %v, applied %d: want an error and the PUT not applied", err, applied.Load())
	}
	p.Add(Rule{Truncate: true, Times: 1})
	if _, body, err := get(http.MethodGet); err == nil || body != "01234" {
		t.Fatalf("Truncate: %q %v, want half the body and an error", body, err)
	}
	p.Add(Rule{Corrupt: true, Times: 1})
	if code, body, err := get(http.MethodGet); err != nil || code != 200 || body == "0123456789" || len(body) != 10 {
		t.Fatalf("Corrupt: %d %q %v, want 10 bytes, one flipped", code, body, err)
	}
	p.Add(Rule{Status: 500})
	p.Clear()
	if code, _, err := get(http.MethodGet); err != nil || code != 200 {
		t.Fatalf("after Clear: %d %v", code, err)
	}
	if n := p.Count(http.MethodGet); n != 6 {
		t.Fatalf("Count(GET) = %d, want 6", n)
	}
}
