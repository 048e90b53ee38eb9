package cloud_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/shizuku-labs/archiver/backends"
	"github.com/shizuku-labs/archiver/backends/cloud"
)

// TestFileTempFilesCleanedAndNeverListed: temporary files go next to
// their target; one a killed run left (unmodified for longer than
// cloud.StaleTempAge) is removed when a run that writes opens the bucket,
// one of a run still going is spared; neither is ever listed as a key.
func TestFileTempFilesCleanedAndNeverListed(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "2024", "01")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	name := func(n int64) string {
		return filepath.Join(sub, "archive-2024-01-01.json.gz."+strconv.FormatInt(n, 16)+".tmp")
	}
	stale, live := name(time.Now().Add(-3*time.Hour).UnixNano()), name(time.Now().UnixNano())
	for _, p := range []string{stale, live} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-cloud.StaleTempAge - time.Minute)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	// A read-only open (dry run, verify, restore) removes nothing.
	ro, err := backends.Open(t.Context(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	ro.Close()
	if _, err := os.Stat(stale); err != nil {
		t.Errorf("a read-only open removed %s: %v", stale, err)
	}
	b, err := backends.Open(backends.WithCreate(t.Context()), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the killed run's temporary file %s is still there", stale)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the running write's temporary file was removed: %v", err)
	}
	if err := b.WriteAll(t.Context(), "2024/01/archive-2024-01-02.json.gz", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	var keys []string
	it := b.List(&blob.ListOptions{})
	for {
		o, err := it.Next(t.Context())
		if err != nil {
			break
		}
		keys = append(keys, o.Key)
	}
	if len(keys) != 1 || keys[0] != "2024/01/archive-2024-01-02.json.gz" {
		t.Errorf("listed %q, want only the archive", keys)
	}
	entries, _ := os.ReadDir(sub)
	if len(entries) != 3 { // the live temp file, the archive and its .attrs
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the directory holds %q: the write left a temporary file or wrote it elsewhere", names)
	}
}
