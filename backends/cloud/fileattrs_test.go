package cloud_test

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/shizuku-labs/archiver/backends"
)

// TestFileEmptySidecarIsRepaired: fileblob writes an object's ".attrs"
// sidecar in place before renaming the data into place; a process killed in
// between (the crash test hit it) leaves an empty sidecar next to intact
// data, and every later existence check and read of the object failed with
// EOF. Opening the bucket removes such sidecars.
func TestFileEmptySidecarIsRepaired(t *testing.T) {
	dir := t.TempDir()
	key := "archives/2025/01/archive-2025-01-15.json.gz"
	p := filepath.Join(dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+".attrs", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := backends.Open(t.Context(), (&url.URL{Scheme: "file", Path: dir}).String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ok, err := b.Exists(t.Context(), key)
	if err != nil || !ok {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	data, err := b.ReadAll(t.Context(), key)
	if err != nil || string(data) != "data" {
		t.Fatalf("ReadAll = %q, %v", data, err)
	}
}
