package verify_test

// verify tested through its Go API against a real PostgreSQL and an
// in-memory bucket, with archives written by a real archive run.

import (
	"context"
	"testing"

	"github.com/shizuku-labs/archiver/internal/archive"
	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/coretest"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pgtest"
	"github.com/shizuku-labs/archiver/internal/verify"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// archived archives three days and returns them.
func archived(t *testing.T, e *coretest.Env) []measure.Day {
	t.Helper()
	today := e.Today(t)
	from := today.AddDays(-36)
	e.Seed(t, from, from.AddDays(3), 2, 5)
	r := &archive.Runner{
		Pool: e.Pool, Bucket: e.Bucket, Raw: coretest.Raw, Clean: coretest.Clean,
		Manifests: e.Manifests, Schema: coretest.Schema, Log: e.Log,
		Opts: archive.Options{
			RawRetentionDays: 1, CleanRetentionDays: 30, BatchSize: 1000, Concurrency: 1, GzipLevel: 6,
			Prefix: coretest.Prefix, Location: coretest.Location, Limits: coretest.Limits,
		},
	}
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatalf("archive: %v\n%s", err, e.LogBuf)
	}
	return []measure.Day{from, from.AddDays(1), from.AddDays(2)}
}

func verifier(e *coretest.Env) *verify.Verifier {
	return &verify.Verifier{
		Pool: e.Pool, Bucket: e.Bucket, Clean: coretest.Clean, Manifests: e.Manifests, Schema: coretest.Schema,
		Location: coretest.Location, Prefix: coretest.Prefix, Limits: coretest.Limits, GzipLevel: 6, Log: e.Log,
	}
}

func findings(rep verify.Report) map[string]verify.Status {
	out := map[string]verify.Status{}
	for _, f := range rep.Findings {
		out[f.Key] = f.Status
	}
	return out
}

// TestVerifyFindsEveryKindOfProblem: archives as written are ok (deep and
// not); then a missing object, an object replaced by another day's
// content, an object no manifest knows (orphan) and one no manifest knows
// that holds another day (corrupt) are each reported as such, and only
// the missing and corrupt ones fail the report.
func TestVerifyFindsEveryKindOfProblem(t *testing.T) {
	e := coretest.New(t)
	days := archived(t, e)
	ctx := context.Background()
	for _, deep := range []bool{false, true} {
		rep, err := verifier(e).Run(ctx, verify.Options{Deep: deep})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Manifests != 3 || rep.Counts[verify.StatusOK] != 3 || len(rep.Findings) != 0 || rep.Failed(true) {
			t.Fatalf("deep=%v on fresh archives: %d manifests, counts %v, findings %v", deep, rep.Manifests, rep.Counts, rep.Findings)
		}
	}

	missing, corrupt := archivestore.Key(coretest.Prefix, days[0]), archivestore.Key(coretest.Prefix, days[1])
	if err := e.Bucket.Delete(ctx, missing); err != nil {
		t.Fatal(err)
	}
	other, err := e.Bucket.ReadAll(ctx, archivestore.Key(coretest.Prefix, days[2]))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Bucket.WriteAll(ctx, corrupt, other, nil); err != nil {
		t.Fatal(err)
	}
	orphanDay := days[0].AddDays(-10)
	orphan := archivestore.Key(coretest.Prefix, orphanDay)
	w, err := e.Bucket.NewWriter(ctx, orphan, nil)
	if err != nil {
		t.Fatal(err)
	}
	aw, err := archivefile.NewWriter(w, orphanDay, 6)
	if err != nil {
		t.Fatal(err)
	}
	if err := aw.Write(&measure.Reading{Sensor: "s", Time: orphanDay.Start()}); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	misplaced := archivestore.Key(coretest.Prefix, days[0].AddDays(-11))
	if err := e.Bucket.WriteAll(ctx, misplaced, other, nil); err != nil {
		t.Fatal(err)
	}

	rep, err := verifier(e).Run(ctx, verify.Options{Deep: true})
	if err != nil {
		t.Fatal(err)
	}
	got := findings(rep)
	for key, want := range map[string]verify.Status{missing: verify.StatusMissing, corrupt: verify.StatusCorrupt,
		orphan: verify.StatusOrphan, misplaced: verify.StatusCorrupt} {
		if got[key] != want {
			t.Errorf("%s: %q, want %q (all findings: %v)", key, got[key], want, rep.Findings)
		}
	}
	if !rep.Failed(false) {
		t.Error("a missing and a corrupt archive do not fail the report")
	}
}
