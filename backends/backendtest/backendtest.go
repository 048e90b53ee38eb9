// Package backendtest is the storage conformance suite every archiver backend
// must pass, and the emulators that let the cloud backends run it offline.
//
// gocloud.dev's drivers have their own conformance tests; this suite checks
// the behaviour the archiver itself relies on (conditional create, NotFound
// codes, listing a month of archives page by page, a cancelled upload leaving
// nothing behind, ...) through the same URL the service would be given, so a
// wrong URL option or a missing credential shows up here and not in
// production.
package backendtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/testkit"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Opener opens the bucket under test. It is called once per subtest and
// returns the bucket and the URL it was opened from (used in failure
// messages). The suite closes the bucket when the subtest ends. Subtests do
// not share keys, so every call may return the same underlying bucket.
type Opener func(t *testing.T) (*blob.Bucket, string)

// LargeObjectSize is the size of the streamed object in the large-object
// test: larger than one S3 multipart part (5 MiB) and one GCS resumable chunk
// (16 MiB), so the backends' multi-request upload paths are exercised.
const LargeObjectSize = 20 << 20

var runSeq atomic.Int64

// Run runs the conformance suite against the bucket that open returns.
// Each subtest writes under its own key prefix, so backends (or runs) that
// share a real bucket do not collide.
func Run(t *testing.T, open Opener) {
	t.Helper()
	run := fmt.Sprintf("backendtest-%d-%d", time.Now().UnixNano(), runSeq.Add(1))
	tests := []struct {
		name string
		fn   func(t *testing.T, c *suiteCase)
	}{
		{"RoundTripWithContentType", testRoundTrip},
		{"Attributes", testAttributes},
		{"ListPrefixPagination", testListPagination},
		{"ListDelimiter", testListDelimiter},
		{"OverwriteReplaces", testOverwrite},
		{"IfNotExist", testIfNotExist},
		{"DeleteAndNotFound", testDeleteAndNotFound},
		{"LargeObjectStreamed", testLargeObject},
		{"CancelledWriteLeavesNoObject", testCancelledWrite},
		{"Copy", testCopy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, u := open(t)
			if b == nil {
				t.Fatalf("open returned a nil bucket (URL %q)", u)
			}
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("close bucket %s: %v", u, err)
				}
			})
			c := &suiteCase{b: b, url: u, prefix: run + "/" + sanitize(tc.name) + "/"}
			tc.fn(t, c)
		})
	}
}

type suiteCase struct {
	b      *blob.Bucket
	url    string
	prefix string
}

// key returns a key in the layout the archiver writes, under this subtest's
// prefix.
func (c *suiteCase) key(rest string) string { return c.prefix + rest }

func (c *suiteCase) write(t *testing.T, key string, data []byte, contentType string) {
	t.Helper()
	opts := &blob.WriterOptions{ContentType: contentType}
	if err := c.b.WriteAll(t.Context(), key, data, opts); err != nil {
		t.Fatalf("%s: write %s: %v", c.url, key, err)
	}
}

func (c *suiteCase) read(t *testing.T, key string) []byte {
	t.Helper()
	got, err := c.b.ReadAll(t.Context(), key)
	if err != nil {
		t.Fatalf("%s: read %s: %v", c.url, key, err)
	}
	return got
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9-]+`)

func sanitize(s string) string { return unsafeChars.ReplaceAllString(s, "-") }

func wantCode(t *testing.T, what string, err error, want gcerrors.ErrorCode) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got no error, want %v", what, want)
	}
	if got := gcerrors.Code(err); got != want {
		t.Fatalf("%s: got error code %v (%v), want %v", what, got, err, want)
	}
}

func testRoundTrip(t *testing.T, c *suiteCase) {
	key := c.key("archives/2025/01/archive-2025-01-15.json.gz")
	data := testkit.RandomBytes(t, 64<<10)
	c.write(t, key, data, "application/gzip")

	r, err := c.b.NewReader(t.Context(), key, nil)
	if err != nil {
		t.Fatalf("new reader: %v", err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(data))
	}
	if ct := r.ContentType(); ct != "application/gzip" {
		t.Errorf("reader content type %q, want application/gzip", ct)
	}
	if r.Size() != int64(len(data)) {
		t.Errorf("reader size %d, want %d", r.Size(), len(data))
	}

	// An empty object is a valid archive-in-progress marker and must survive.
	empty := c.key("archives/2025/01/empty")
	c.write(t, empty, nil, "application/octet-stream")
	if got := c.read(t, empty); len(got) != 0 {
		t.Errorf("empty object read back as %d bytes", len(got))
	}
}

func testAttributes(t *testing.T, c *suiteCase) {
	key := c.key("archives/2025/01/archive-2025-01-16.json.gz")
	data := testkit.RandomBytes(t, 1234)
	before := time.Now()
	if err := c.b.WriteAll(t.Context(), key, data, &blob.WriterOptions{
		ContentType: "application/gzip",
		Metadata:    map[string]string{"sha256": fmt.Sprintf("%x", sha256.Sum256(data))},
	}); err != nil {
		t.Fatalf("write: %v", err)
	}
	after := time.Now()

	a, err := c.b.Attributes(t.Context(), key)
	if err != nil {
		t.Fatalf("attributes: %v", err)
	}
	if a.Size != int64(len(data)) {
		t.Errorf("size %d, want %d", a.Size, len(data))
	}
	if a.ContentType != "application/gzip" {
		t.Errorf("content type %q, want application/gzip", a.ContentType)
	}
	// Servers keep their own clock and some store seconds only; a generous
	// window still catches a zero or wildly wrong time.
	const slack = 2 * time.Minute
	if a.ModTime.IsZero() || a.ModTime.Before(before.Add(-slack)) || a.ModTime.After(after.Add(slack)) {
		t.Errorf("mod time %v not within %v of the write (%v .. %v)", a.ModTime, slack, before, after)
	}
	if got, want := a.Metadata["sha256"], fmt.Sprintf("%x", sha256.Sum256(data)); got != want {
		t.Errorf("metadata sha256 = %q, want %q (all metadata: %v)", got, want, a.Metadata)
	}
}

func testListPagination(t *testing.T, c *suiteCase) {
	const n, pageSize = 23, 5
	var want []string
	for i := 1; i <= n; i++ {
		k := c.key(fmt.Sprintf("archives/2025/01/archive-2025-01-%02d.json.gz", i))
		c.write(t, k, []byte{byte(i)}, "application/gzip")
		want = append(want, k)
	}
	// Outside the listed prefix: must not show up.
	c.write(t, c.key("archives/2025/02/archive-2025-02-01.json.gz"), []byte("x"), "application/gzip")
	c.write(t, c.key("archives/2025/010-not-january"), []byte("x"), "application/gzip")

	opts := &blob.ListOptions{Prefix: c.key("archives/2025/01/")}
	var got []string
	pages := 0
	for token := blob.FirstPageToken; token != nil; {
		objs, next, err := c.b.ListPage(t.Context(), token, pageSize, opts)
		if err != nil {
			t.Fatalf("list page %d: %v", pages+1, err)
		}
		pages++
		if len(objs) > pageSize {
			t.Fatalf("page %d has %d objects, more than the page size %d", pages, len(objs), pageSize)
		}
		for _, o := range objs {
			got = append(got, o.Key)
			if o.IsDir {
				t.Errorf("%s listed as a directory without a delimiter", o.Key)
			}
		}
		token = next
		if pages > n+2 {
			t.Fatalf("listing never ends: %d pages for %d objects", pages, n)
		}
	}
	if pages < (n+pageSize-1)/pageSize {
		t.Errorf("%d objects came in %d pages of at most %d", n, pages, pageSize)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged listing:\n got %q\nwant %q (lexicographic order)", got, want)
	}

	// The iterator must agree with the pages.
	var iter []string
	it := c.b.List(opts)
	for {
		o, err := it.Next(t.Context())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		iter = append(iter, o.Key)
		if o.Size != 1 {
			t.Errorf("%s listed with size %d, want 1", o.Key, o.Size)
		}
	}
	if !slices.Equal(iter, want) {
		t.Fatalf("iterator listing:\n got %q\nwant %q", iter, want)
	}
}

func testListDelimiter(t *testing.T, c *suiteCase) {
	for _, k := range []string{
		"archives/2024/12/archive-2024-12-31.json.gz",
		"archives/2025/01/archive-2025-01-01.json.gz",
		"archives/2025/01/archive-2025-01-02.json.gz",
		"archives/2025/02/archive-2025-02-01.json.gz",
		"archives/MANIFEST",
	} {
		c.write(t, c.key(k), []byte(k), "text/plain")
	}
	type entry struct {
		key   string
		isDir bool
	}
	list := func(prefix string) []entry {
		var out []entry
		it := c.b.List(&blob.ListOptions{Prefix: c.key(prefix), Delimiter: "/"})
		for {
			o, err := it.Next(t.Context())
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatalf("list %s: %v", prefix, err)
			}
			out = append(out, entry{strings.TrimPrefix(o.Key, c.prefix), o.IsDir})
		}
	}
	if got, want := list("archives/"), []entry{
		{"archives/2024/", true}, {"archives/2025/", true}, {"archives/MANIFEST", false},
	}; !slices.Equal(got, want) {
		t.Errorf("list archives/ with delimiter:\n got %v\nwant %v", got, want)
	}
	if got, want := list("archives/2025/"), []entry{
		{"archives/2025/01/", true}, {"archives/2025/02/", true},
	}; !slices.Equal(got, want) {
		t.Errorf("list archives/2025/ with delimiter:\n got %v\nwant %v", got, want)
	}
	if got := list("archives/2026/"); len(got) != 0 {
		t.Errorf("list of an absent prefix returned %v", got)
	}
}

func testOverwrite(t *testing.T, c *suiteCase) {
	key := c.key("archives/2025/01/archive-2025-01-17.json.gz")
	c.write(t, key, bytes.Repeat([]byte("old "), 1000), "application/gzip")
	c.write(t, key, []byte("new, and shorter"), "application/json")
	if got := c.read(t, key); string(got) != "new, and shorter" {
		t.Fatalf("after overwrite read %q", got)
	}
	a, err := c.b.Attributes(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if a.Size != int64(len("new, and shorter")) || a.ContentType != "application/json" {
		t.Errorf("after overwrite attributes size=%d type=%q", a.Size, a.ContentType)
	}
}

func testIfNotExist(t *testing.T, c *suiteCase) {
	key := c.key("archives/2025/01/archive-2025-01-18.json.gz")
	opts := &blob.WriterOptions{ContentType: "application/gzip", IfNotExist: true}
	if err := c.b.WriteAll(t.Context(), key, []byte("first"), opts); err != nil {
		t.Fatalf("IfNotExist write of a new key: %v", err)
	}
	err := c.b.WriteAll(t.Context(), key, []byte("second"), opts)
	wantCode(t, "IfNotExist write over an existing key", err, gcerrors.FailedPrecondition)
	if got := c.read(t, key); string(got) != "first" {
		t.Fatalf("the refused write changed the object to %q", got)
	}
}

func testDeleteAndNotFound(t *testing.T, c *suiteCase) {
	ctx := t.Context()
	key := c.key("archives/2025/01/archive-2025-01-19.json.gz")
	c.write(t, key, []byte("doomed"), "application/gzip")
	if ok, err := c.b.Exists(ctx, key); err != nil || !ok {
		t.Fatalf("exists before delete = %v, %v", ok, err)
	}
	if err := c.b.Delete(ctx, key); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if ok, err := c.b.Exists(ctx, key); err != nil || ok {
		t.Fatalf("exists after delete = %v, %v", ok, err)
	}
	_, err := c.b.NewReader(ctx, key, nil)
	wantCode(t, "read of a deleted key", err, gcerrors.NotFound)
	_, err = c.b.Attributes(ctx, key)
	wantCode(t, "attributes of a deleted key", err, gcerrors.NotFound)
	err = c.b.Delete(ctx, key)
	wantCode(t, "delete of a deleted key", err, gcerrors.NotFound)
	_, err = c.b.ReadAll(ctx, c.key("never/written"))
	wantCode(t, "read of a key never written", err, gcerrors.NotFound)
}

func testLargeObject(t *testing.T, c *suiteCase) {
	ctx := t.Context()
	key := c.key("archives/2025/01/archive-2025-01-20.json.gz")
	data := testkit.RandomBytes(t, LargeObjectSize)
	want := sha256.Sum256(data)

	w, err := c.b.NewWriter(ctx, key, &blob.WriterOptions{ContentType: "application/gzip"})
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	// Small writes, as the archiver's gzip stream makes them: the backend
	// must stream, not insist on one buffer.
	if _, err := io.CopyBuffer(w, onlyReader{bytes.NewReader(data)}, make([]byte, 32<<10)); err != nil {
		w.Close()
		t.Fatalf("stream %d bytes: %v", len(data), err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close writer: %v", err)
	}

	r, err := c.b.NewReader(ctx, key, nil)
	if err != nil {
		t.Fatalf("new reader: %v", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	r.Close()
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if n != int64(len(data)) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("read back %d bytes with sha256 %x, wrote %d with %x", n, h.Sum(nil), len(data), want)
	}

	// A range in the middle, as a resumed download would ask for.
	const off, length = 13<<20 + 7, 4096
	rr, err := c.b.NewRangeReader(ctx, key, off, length, nil)
	if err != nil {
		t.Fatalf("range reader: %v", err)
	}
	part, err := io.ReadAll(rr)
	rr.Close()
	if err != nil {
		t.Fatalf("range read: %v", err)
	}
	if !bytes.Equal(part, data[off:off+length]) {
		t.Fatalf("range read of %d bytes at %d differs", length, off)
	}
}

// onlyReader hides WriterTo/ReaderFrom so io.CopyBuffer really uses small
// writes.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func testCancelledWrite(t *testing.T, c *suiteCase) {
	key := c.key("archives/2025/01/archive-2025-01-21.json.gz")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := c.b.NewWriter(ctx, key, &blob.WriterOptions{ContentType: "application/gzip"})
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	// More than one upload part, so the write is really under way at the
	// backend when it is cancelled.
	chunk := testkit.RandomBytes(t, 1<<20)
	for range 6 {
		if _, err := w.Write(chunk); err != nil {
			t.Fatalf("write before cancel: %v", err)
		}
	}
	cancel()
	// Writes after the cancel may or may not fail; Close must.
	_, _ = w.Write(chunk)
	err = w.Close()
	if err == nil {
		t.Fatal("Close after the context was cancelled returned nil: a half-written archive would look complete")
	}

	// Some backends abort asynchronously; give them a moment before calling
	// the object leaked.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := c.b.Exists(context.Background(), key)
		if err != nil {
			t.Fatalf("exists after cancelled write: %v", err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cancelled write left an object behind")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// And nothing else (temporary files, partial names) under the key.
	it := c.b.List(&blob.ListOptions{Prefix: c.prefix})
	for {
		o, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		t.Errorf("cancelled write left %q (%d bytes)", o.Key, o.Size)
	}
}

func testCopy(t *testing.T, c *suiteCase) {
	src := c.key("archives/2025/01/archive-2025-01-22.json.gz")
	dst := c.key("archives/2025/01/archive-2025-01-22.json.gz.bak")
	data := testkit.RandomBytes(t, 100<<10)
	c.write(t, src, data, "application/gzip")
	if err := c.b.Copy(t.Context(), dst, src, nil); err != nil {
		t.Fatalf("copy: %v", err)
	}
	if got := c.read(t, dst); !bytes.Equal(got, data) {
		t.Fatalf("copy holds %d bytes that differ from the %d of the source", len(got), len(data))
	}
	if got := c.read(t, src); !bytes.Equal(got, data) {
		t.Fatal("copy changed the source")
	}
	a, err := c.b.Attributes(t.Context(), dst)
	if err != nil {
		t.Fatal(err)
	}
	if a.ContentType != "application/gzip" {
		t.Errorf("copy has content type %q, want the source's application/gzip", a.ContentType)
	}
	err = c.b.Copy(t.Context(), c.key("copy-of-nothing"), c.key("nothing"), nil)
	wantCode(t, "copy of a missing source", err, gcerrors.NotFound)
}
