package export

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/archivestore/storetest"
	"github.com/shizuku-labs/archiver/internal/measure"
)

// TestExportReadStallIsAbandoned: an export whose storage read stalls (the
// client would wait an hour) fails within the read-stall timeout instead
// of hanging.
func TestExportReadStallIsAbandoned(t *testing.T) {
	st := storetest.NewStalling(t)
	d := measure.MustParseDay("2025-01-15")
	putArchive(t, st.Bucket, d, measure.Schema{}, []measure.Reading{{Sensor: "s", Time: d.Start().Add(time.Minute)}})
	x := &Exporter{Bucket: st.Bucket, Prefix: "archives", Location: "vercelblob://x", Log: slog.New(slog.DiscardHandler),
		ReadStallTimeout: 300 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	plan, err := x.Plan(ctx, d, d)
	if err != nil {
		t.Fatal(err)
	}
	st.StallDownloads()
	start := time.Now()
	var out bytes.Buffer
	_, err = x.Run(ctx, plan, Options{From: d, To: d}, ToWriter(&out, CSV))
	if err == nil || !strings.Contains(err.Error(), "storage stalled") {
		t.Fatalf("export of a stalled read: %v, want the stall guard's error", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a 300ms stall timeout took %v to end the export", took)
	}
}
