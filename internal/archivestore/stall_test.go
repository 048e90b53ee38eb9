package archivestore_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/archivestore/storetest"
)

// TestReadStallIsAbandoned: a store that stops answering mid-read (here, a
// client with a one-hour request timeout and a store that holds every
// download) fails the read after the stall timeout instead of hanging the
// run; a healthy read under the guard is unaffected.
func TestReadStallIsAbandoned(t *testing.T) {
	st := storetest.NewStalling(t)
	if err := st.Bucket.WriteAll(t.Context(), "k", []byte("hello"), nil); err != nil {
		t.Fatal(err)
	}
	s := &archivestore.Store{Bucket: st.Bucket, ReadStallTimeout: 300 * time.Millisecond}

	rd, err := s.OpenRaw(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rd)
	rd.Close()
	if err != nil || string(data) != "hello" {
		t.Fatalf("healthy read: %q, %v", data, err)
	}

	st.StallDownloads()
	start := time.Now()
	rd, err = s.OpenRaw(t.Context(), "k")
	if err == nil {
		_, err = io.ReadAll(rd)
		rd.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "storage stalled") {
		t.Fatalf("stalled read: %v, want a stall error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a 300ms stall timeout took %v to fire", d)
	}
}
