package vercelblobtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

const token = "vercel_blob_rw_store1_secretValue"

type call struct {
	method, url string
	hdr         map[string]string
	body        string
}

func do(t *testing.T, s *Server, c call) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(c.method, c.url, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Api-Version", "12")
	for k, v := range c.hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

func errCode(t *testing.T, data []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("error body is not JSON: %q", data)
	}
	return e.Error.Code
}

var private = map[string]string{"X-Vercel-Blob-Access": "private"}

func TestAuthAndRequiredHeaders(t *testing.T) {
	s := NewServer(token)
	defer s.Close()
	cases := []struct {
		hdr        map[string]string
		status     int
		code       string
		withAccess bool
	}{
		{map[string]string{"Authorization": ""}, 403, "forbidden", true},
		{map[string]string{"Authorization": "Bearer vercel_blob_rw_store1_other"}, 403, "forbidden", true},
		{map[string]string{"Authorization": "Bearer vercel_blob_rw_store2_secretValue"}, 403, "store_not_found", true},
		{map[string]string{"X-Api-Version": ""}, 400, "bad_request", true},
		{map[string]string{"X-Vercel-Blob-Store-Id": "store2"}, 400, "bad_request", true},
		{map[string]string{}, 400, "bad_request", false}, // no access header
		{map[string]string{"X-Cache-Control-Max-Age": "10"}, 400, "bad_request", true},
	}
	for _, c := range cases {
		h := map[string]string{}
		if c.withAccess {
			h["X-Vercel-Blob-Access"] = "private"
		}
		for k, v := range c.hdr {
			h[k] = v
		}
		status, _, data := do(t, s, call{method: "PUT", url: s.APIURL + "/?pathname=a.txt", hdr: h, body: "x"})
		if status != c.status || errCode(t, data) != c.code {
			t.Errorf("%v: got %d %s, want %d %s", c.hdr, status, data, c.status, c.code)
		}
	}
	if n := len(s.Pathnames()); n != 0 {
		t.Errorf("%d objects stored by rejected requests", n)
	}
}

func TestRouteForms(t *testing.T) {
	s := NewServer(token)
	defer s.Close()
	if st, _, data := do(t, s, call{method: "PUT", url: s.URL + "/?pathname=dir/a.txt", hdr: private, body: "hello"}); st != 200 {
		t.Fatalf("put at root: %d %s", st, data)
	}
	for _, u := range []string{s.APIURL + "?url=dir/a.txt", s.APIURL + "/?url=dir/a.txt", s.URL + "/?url=dir/a.txt", s.URL + "?url=dir/a.txt"} {
		st, _, data := do(t, s, call{method: "GET", url: u})
		var h struct {
			Size int64
			URL  string
		}
		if st != 200 || json.Unmarshal(data, &h) != nil || h.Size != 5 {
			t.Errorf("head via %s: %d %s", u, st, data)
		}
	}
	st, _, data := do(t, s, call{method: "GET", url: s.APIURL + "?"})
	if st != 200 || !strings.Contains(string(data), `"dir/a.txt"`) {
		t.Errorf("bare list: %d %s", st, data)
	}
	if st, _, data := do(t, s, call{method: "PUT", url: s.APIURL + "/?pathname=a//b", hdr: private}); st != 400 || errCode(t, data) != "bad_request" {
		t.Errorf(`pathname with "//": %d %s`, st, data)
	}
}

func TestDeleteAnswersJSON(t *testing.T) {
	s := NewServer(token)
	defer s.Close()
	json := map[string]string{"Content-Type": "application/json"}
	st, _, data := do(t, s, call{method: "POST", url: s.APIURL + "/delete", hdr: json, body: `{"urls":["missing.txt"]}`})
	if st != 200 || string(data) != "null" {
		t.Errorf("delete of a missing blob: %d %q, want 200 null", st, data)
	}
	st, _, _ = do(t, s, call{method: "POST", url: s.APIURL + "/delete", body: `{"urls":["x"]}`})
	if st != 400 {
		t.Errorf("delete without JSON content type: %d", st)
	}
}

func TestListFoldedAndCursor(t *testing.T) {
	s := NewServer(token)
	defer s.Close()
	for _, p := range []string{"p/t/t/t", "p/t-/t.", "p/testFile1", "p/d", "p/dir1/x", "q/other"} {
		do(t, s, call{method: "PUT", url: s.APIURL + "/?pathname=" + p, hdr: private, body: "x"})
	}
	var names []string
	cursor := ""
	for {
		u := s.APIURL + "?limit=2&prefix=p/&mode=folded"
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		_, _, data := do(t, s, call{method: "GET", url: u})
		var page struct {
			Blobs   []struct{ Pathname string }
			Folders []string
			Cursor  string
			HasMore bool
		}
		if err := json.Unmarshal(data, &page); err != nil {
			t.Fatal(err)
		}
		var here []string
		for _, b := range page.Blobs {
			here = append(here, b.Pathname)
		}
		here = append(here, page.Folders...)
		if len(here) > 2 {
			t.Fatalf("page of %d", len(here))
		}
		names = append(names, here...)
		if !page.HasMore {
			break
		}
		cursor = page.Cursor
	}
	got := strings.Join(names, ",")
	// Order is by name with folders and blobs interleaved, page by page.
	for _, want := range []string{"p/d", "p/dir1/", "p/t-/", "p/t/", "p/testFile1"} {
		if !strings.Contains(got, want) {
			t.Errorf("folded listing %s lacks %s", got, want)
		}
	}
	if strings.Contains(got, "q/") || len(names) != 5 {
		t.Errorf("folded listing %s", got)
	}
}

func TestMultipartRules(t *testing.T) {
	s := NewServer(token)
	defer s.Close()
	s.SetMinPartSize(4)
	mpu := func(action string, extra map[string]string, body string) (int, []byte) {
		h := map[string]string{"X-Vercel-Blob-Access": "private", "X-Mpu-Action": action}
		for k, v := range extra {
			h[k] = v
		}
		st, _, data := do(t, s, call{method: "POST", url: s.APIURL + "/mpu?pathname=big.bin", hdr: h, body: body})
		return st, data
	}
	st, data := mpu("create", nil, "")
	var up struct{ Key, UploadID string }
	if st != 200 || json.Unmarshal(data, &up) != nil || up.Key == "" || up.UploadID == "" {
		t.Fatalf("create: %d %s", st, data)
	}
	ids := map[string]string{"X-Mpu-Key": encodeURIComponentForTest(up.Key), "X-Mpu-Upload-Id": up.UploadID}
	etags := map[string]string{}
	for n, body := range map[string]string{"1": "aaaa", "2": "bb", "3": "cccc"} {
		h := map[string]string{"X-Mpu-Part-Number": n}
		for k, v := range ids {
			h[k] = v
		}
		st, data := mpu("upload", h, body)
		var e struct{ ETag string }
		if st != 200 || json.Unmarshal(data, &e) != nil {
			t.Fatalf("upload part %s: %d %s", n, st, data)
		}
		etags[n] = e.ETag
	}
	complete := func(parts string) (int, []byte) {
		h := map[string]string{"Content-Type": "application/json"}
		for k, v := range ids {
			h[k] = v
		}
		return mpu("complete", h, parts)
	}
	// Part 2 is too small and not last.
	st, data = complete(`[{"partNumber":3,"etag":` + q(etags["3"]) + `},{"partNumber":1,"etag":` + q(etags["1"]) + `},{"partNumber":2,"etag":` + q(etags["2"]) + `}]`)
	if st != 400 || !bytes.Contains(data, []byte("at least")) {
		t.Fatalf("complete with a small middle part: %d %s", st, data)
	}
	// Parts 1 and 3 only, given out of order: sorted, 2 skipped.
	st, data = complete(`[{"partNumber":3,"etag":` + q(etags["3"]) + `},{"partNumber":1,"etag":` + q(etags["1"]) + `}]`)
	if st != 200 {
		t.Fatalf("complete: %d %s", st, data)
	}
	if got, _ := s.Object("big.bin"); string(got) != "aaaacccc" {
		t.Errorf("assembled %q", got)
	}
	if s.PendingUploads() != 0 {
		t.Error("upload not cleaned up")
	}
}

func q(s string) string { b, _ := json.Marshal(s); return string(b) }

func encodeURIComponentForTest(s string) string {
	r := strings.NewReplacer("/", "%2F", "#", "%23", " ", "%20")
	return r.Replace(s)
}

func TestDownloads(t *testing.T) {
	s := NewServer(token)
	defer s.Close()
	_, _, data := do(t, s, call{method: "PUT", url: s.APIURL + "/?pathname=d/f.txt", hdr: private, body: "0123456789"})
	var r struct{ URL, DownloadURL string }
	json.Unmarshal(data, &r)
	get := func(u string, h map[string]string) (int, http.Header, []byte) {
		req, _ := http.NewRequest("GET", u, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	auth := map[string]string{"Authorization": "Bearer " + token}
	if st, _, _ := get(r.URL, nil); st != 403 {
		t.Errorf("private without token: %d", st)
	}
	st, h, b := get(r.URL, map[string]string{"Authorization": "Bearer " + token, "Range": "bytes=2-4"})
	if st != 206 || string(b) != "234" || h.Get("Content-Range") != "bytes 2-4/10" {
		t.Errorf("range: %d %q %v", st, b, h)
	}
	if _, h, _ := get(r.DownloadURL, auth); !strings.HasPrefix(h.Get("Content-Disposition"), "attachment") {
		t.Errorf("download=1: %v", h.Get("Content-Disposition"))
	}
	_, h, _ = get(r.URL, auth)
	if st, _, _ := get(r.URL, map[string]string{"Authorization": "Bearer " + token, "If-None-Match": h.Get("ETag")}); st != 304 {
		t.Errorf("If-None-Match: %d", st)
	}
	s.AddFault(Fault{Kind: KindDownload, Times: 1, Corrupt: true})
	if _, _, b := get(r.URL, auth); string(b) == "0123456789" || len(b) != 10 {
		t.Errorf("corrupt fault: %q", b)
	}
}

func TestFaultsAndCounters(t *testing.T) {
	s := NewServer(token)
	defer s.Close()
	s.AddFault(Fault{Kind: KindHead, Times: 2, Status: 429, Code: "rate_limited", RetryAfter: 7})
	for i := 0; i < 3; i++ {
		st, h, data := do(t, s, call{method: "GET", url: s.APIURL + "?url=x"})
		if i < 2 && (st != 429 || h.Get("Retry-After") != "7" || errCode(t, data) != "rate_limited") {
			t.Errorf("faulted request %d: %d %v %s", i, st, h, data)
		}
		if i == 2 && (st != 404 || errCode(t, data) != "not_found") {
			t.Errorf("after the fault: %d %s", st, data)
		}
	}
	s.AddFault(Fault{Kind: KindList, Status: 502, RawBody: "<html>"})
	if st, _, data := do(t, s, call{method: "GET", url: s.APIURL + "?limit=1"}); st != 502 || string(data) != "<html>" {
		t.Errorf("raw body fault: %d %q", st, data)
	}
	s.ClearFaults()
	if st, _, _ := do(t, s, call{method: "GET", url: s.APIURL + "?limit=1"}); st != 200 {
		t.Errorf("after ClearFaults: %d", st)
	}
	if c := s.Counts(); c[KindHead] != 3 || c[KindList] != 2 {
		t.Errorf("counts %v", c)
	}
	s.AddFault(Fault{Kind: KindHead, Times: 1, Drop: DropResponse})
	req, _ := http.NewRequest("GET", s.APIURL+"?url=x", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Api-Version", "12")
	if resp, err := s.Client().Do(req); err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Error("dropped response read completely")
		}
	}
}

// A store has one access: writes asking for the other are refused the way
// the service refuses them, and blob URLs carry the store id and access
// where a client reads them for a real store (the host's first two labels).
func TestStoreHasOneAccess(t *testing.T) {
	for _, access := range []string{AccessPrivate, AccessPublic} {
		other := map[string]string{AccessPrivate: AccessPublic, AccessPublic: AccessPrivate}[access]
		s := NewServer(token, WithAccess(access))
		mine := map[string]string{"X-Vercel-Blob-Access": access}
		theirs := map[string]string{"X-Vercel-Blob-Access": other}
		st, _, data := do(t, s, call{method: "PUT", url: s.APIURL + "/?pathname=a.txt", hdr: mine, body: "a"})
		if st != 200 {
			t.Fatalf("%s store: put with its own access: %d %s", access, st, data)
		}
		var put struct{ URL string }
		_ = json.Unmarshal(data, &put)
		if want := s.URL + "/store1." + access + ".blob.vercel-storage.com/a.txt"; put.URL != want || s.BlobURL("a.txt") != want {
			t.Errorf("%s store: blob URL %s (BlobURL %s), want %s", access, put.URL, s.BlobURL("a.txt"), want)
		}
		wantMsg := "Cannot use " + other + " access on a " + access + " store. The store is configured with " + access + " access."
		for _, c := range []call{
			{method: "PUT", url: s.APIURL + "/?pathname=b.txt", hdr: theirs, body: "b"},
			{method: "PUT", url: s.APIURL + "?pathname=c.txt&fromUrl=a.txt", hdr: theirs},
			{method: "POST", url: s.APIURL + "/rename?pathname=d.txt&fromUrl=a.txt", hdr: theirs},
			{method: "POST", url: s.APIURL + "/mpu?pathname=e.txt", hdr: map[string]string{"X-Vercel-Blob-Access": other, "X-Mpu-Action": "create"}},
		} {
			st, _, data := do(t, s, c)
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			_ = json.Unmarshal(data, &e)
			if st != 400 || e.Error.Code != "bad_request" || e.Error.Message != wantMsg {
				t.Errorf("%s store: %s %s with %s access: %d %s", access, c.method, c.url, other, st, data)
			}
		}
		if got := s.Pathnames(); len(got) != 1 {
			t.Errorf("%s store: refused writes stored objects: %v", access, got)
		}
		// The other access's URL of the blob is not the store's.
		wrong := strings.Replace(put.URL, "."+access+".", "."+other+".", 1)
		if st, _, _ := do(t, s, call{method: "GET", url: wrong}); st != 404 {
			t.Errorf("%s store: GET of the %s URL: %d, want 404", access, other, st)
		}
		s.Close()
	}
}

// Anonymous reads: a public store's content is world-readable, a private
// store's needs the token.
func TestAnonymousReads(t *testing.T) {
	for access, want := range map[string]int{AccessPublic: 200, AccessPrivate: 403} {
		s := NewServer(token, WithAccess(access))
		do(t, s, call{method: "PUT", url: s.APIURL + "/?pathname=a.txt", hdr: map[string]string{"X-Vercel-Blob-Access": access}, body: "a"})
		resp, err := http.Get(s.BlobURL("a.txt"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s store: anonymous GET %d, want %d", access, resp.StatusCode, want)
		}
		s.Close()
	}
}

// With stale reads on, a public store's plain GET keeps returning the copy
// first served after an overwrite and a delete; cache=0 reads the store,
// and so does any other query (another cache key).
func TestStaleReadsOnPublicStore(t *testing.T) {
	var log bytes.Buffer
	s := NewServer(token, WithAccess(AccessPublic), WithStaleReads(), WithRequestLog(&log))
	defer s.Close()
	pub := map[string]string{"X-Vercel-Blob-Access": AccessPublic, "X-Allow-Overwrite": "1"}
	get := func(u string) string {
		t.Helper()
		st, _, data := do(t, s, call{method: "GET", url: u})
		if st != 200 {
			return strconv.Itoa(st)
		}
		return string(data)
	}
	do(t, s, call{method: "PUT", url: s.APIURL + "/?pathname=a.txt", hdr: pub, body: "old"})
	u := s.BlobURL("a.txt")
	if got := get(u); got != "old" {
		t.Fatalf("first read %q", got)
	}
	do(t, s, call{method: "PUT", url: s.APIURL + "/?pathname=a.txt", hdr: pub, body: "new"})
	if got := get(u); got != "old" {
		t.Errorf("plain GET after overwrite: %q, want the stale %q", got, "old")
	}
	if got := get(u + "?cache=0"); got != "new" {
		t.Errorf("GET with cache=0: %q", got)
	}
	if got := get(u + "?v=2"); got != "new" {
		t.Errorf("GET with another query: %q", got)
	}
	if !strings.Contains(log.String(), "(stale CDN copy)") {
		t.Errorf("request log does not mark the stale answer:\n%s", log.String())
	}
	do(t, s, call{method: "POST", url: s.APIURL + "/delete", hdr: map[string]string{"Content-Type": "application/json"}, body: `{"urls":["a.txt"]}`})
	if got := get(u); got != "old" {
		t.Errorf("plain GET after delete: %q, want the stale copy", got)
	}
	if got := get(u + "?cache=0"); got != "404" {
		t.Errorf("GET with cache=0 after delete: %q", got)
	}
}
