// Package testkit holds the small helpers that tests in several packages
// need: a free TCP port, the module's root directory, random bytes. It is
// imported only by tests and test-support packages (pgtest, backendtest,
// vercelblobtest), never by the archiver itself.
package testkit

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
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
