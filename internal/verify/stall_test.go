package verify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/archivestore/storetest"
	"github.com/shizuku-labs/archiver/internal/coretest"
	"github.com/shizuku-labs/archiver/internal/verify"
)

// TestVerifyReadStallIsAbandoned: a deep verify whose storage reads stall
// (the client would wait an hour) reports each day it could not read
// within the read-stall timeout instead of hanging.
func TestVerifyReadStallIsAbandoned(t *testing.T) {
	e := coretest.New(t)
	st := storetest.NewStalling(t)
	e.Bucket = st.Bucket
	days := archived(t, e)
	st.StallDownloads()

	v := verifier(e)
	v.ReadStallTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	rep, err := v.Run(ctx, verify.Options{Deep: true})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != len(days) {
		t.Fatalf("findings %v, want one per archived day", rep.Findings)
	}
	for _, f := range rep.Findings {
		if f.Status != verify.StatusCorrupt || !strings.Contains(f.Message, "storage stalled") {
			t.Errorf("%s: %s %q, want it unreadable because storage stalled", f.Key, f.Status, f.Message)
		}
	}
	if took > 20*time.Second {
		t.Errorf("a 300ms stall timeout took %v to end a verify of %d days", took, len(days))
	}
}
