package restore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/archivestore/storetest"
	"github.com/shizuku-labs/archiver/internal/measure"
)

// TestRestoreReadStallIsAbandoned: a restore whose storage read stalls
// (the client would wait an hour) fails the day within the read-stall
// timeout, with nothing imported, instead of hanging with the day's lock.
func TestRestoreReadStallIsAbandoned(t *testing.T) {
	e := newEnv(t)
	st := storetest.NewStalling(t)
	e.bucket = st.Bucket
	d := measure.MustParseDay("2025-01-15")
	e.putArchive(t, d, 200)
	st.StallDownloads()

	r := e.restorer()
	r.ReadStallTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	s, err := r.Run(ctx, Options{Days: []measure.Day{d}})
	took := time.Since(start)
	if len(s.Days) != 1 || s.Days[0].Err == nil || !strings.Contains(s.Days[0].Err.Error(), "storage stalled") {
		t.Fatalf("restore of a stalled read: %+v, %v; want the day failed by the stall guard\n%s", s.Days, err, e.log)
	}
	if took > 10*time.Second {
		t.Errorf("a 300ms stall timeout took %v to end the restore", took)
	}
	if n := e.count(t, "SELECT count(*) FROM shizuku.clean_measurements"); n != 0 {
		t.Errorf("%d rows imported by a failed restore", n)
	}
}
