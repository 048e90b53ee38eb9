// Package testkit holds the small helpers that tests in several packages
// need: a free TCP port, the module's root directory, random bytes,
// gzip in and out, a heap-growth probe, a text-contains check. It is
// imported only by tests and test-support packages (pgtest, backendtest,
// vercelblobtest), never by the archiver itself.
package testkit

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now, for
// servers (PostgreSQL, Azurite) that must be told their port up front.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free TCP port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ErrNoModuleRoot is returned by ModuleRoot outside the module.
var ErrNoModuleRoot = errors.New("go.mod not found above the working directory")

// ModuleRoot is the directory holding go.mod, found upwards from the
// working directory (a test's working directory is its package's).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoModuleRoot
		}
		dir = parent
	}
}

// RandomBytes returns n random bytes, failing t if there are none to have.
func RandomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// Gzip compresses data as one gzip stream, as another program would
// write an archive (the standard library's compressor, default level).
func Gzip(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Gunzip decompresses a gzip file, failing t if it is not one.
func Gunzip(t testing.TB, data []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Contains fails t (and goes on) for each of wants that text, what the
// test names as what, does not contain.
func Contains(t testing.TB, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// HeapGrowth runs f and reports how far the live heap rose above where it
// was before f (sampled every 2ms while f runs, after a GC before it), and
// how many allocations f made: for tests that memory stays flat whatever
// the size of the input.
func HeapGrowth(f func()) (growth, mallocs uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	stop, peak := make(chan struct{}), make(chan uint64)
	go func() {
		var top uint64
		var ms runtime.MemStats
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				peak <- top
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				top = max(top, ms.HeapAlloc)
			}
		}
	}()
	f()
	close(stop)
	top := <-peak
	runtime.ReadMemStats(&after)
	if top > before.HeapAlloc {
		growth = top - before.HeapAlloc
	}
	return growth, after.Mallocs - before.Mallocs
}
