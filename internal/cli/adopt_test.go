package cli_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
)

// TestVerifyDoesNotAdoptAnUncommittedUpload: a run uploads a new day and
// fails before committing (here, a corrupted read-back); the application
// then deletes the day's rows. `verify --adopt` must not adopt the upload
// as an archive: that would bring back readings that no longer exist, and
// `restore` would put them back in the table.
func TestVerifyDoesNotAdoptAnUncommittedUpload(t *testing.T) {
	h, srv := vercelHarness(t)
	h.bucket = fastVercel
	h.insertClean(sample(h.today(), 33, 32, 2))
	srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindDownload, PathnamePrefix: "archives/", Corrupt: true})
	if r := h.run("archive"); r.code == 0 {
		t.Fatal("the run with a corrupted read-back succeeded")
	}
	srv.ClearFaults()
	if _, err := h.conn.Exec(context.Background(), `DELETE FROM shizuku.clean_measurements`); err != nil {
		t.Fatal(err)
	}
	r := h.run("verify", "--adopt")
	if !strings.Contains(r.stdout+r.stderr, "never committed") {
		t.Errorf("verify --adopt does not say the object is an uncommitted upload:\n%s\n%s", r.stdout, r.stderr)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE kind = 'adopt'`); n != 0 {
		t.Fatalf("verify --adopt adopted an uncommitted upload (%d adopt manifests)", n)
	}
	h.mustRun("archive")
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE status = 'committed' AND kind IN ('archive', 'adopt')`); n != 0 {
		t.Errorf("%d committed manifests for a day whose rows were all deleted", n)
	}
}

// TestVerifyRecognisesBackups: after a run that stopped while replacing a
// day's archive, the copy it kept (<key>.committed) is reported as pending,
// not as a stray object the archiver ignores, and `verify --strict` passes;
// the next archive run removes it.
func TestVerifyRecognisesBackups(t *testing.T) {
	f := newFaultFixture(t)
	h := f.h
	f.srv.AddFault(vercelblobtest.Fault{Kind: vercelblobtest.KindPut, Drop: vercelblobtest.DropResponse})
	if r := h.run("archive"); r.code == 0 {
		t.Fatal("the run whose uploads lost their answers succeeded")
	}
	f.srv.ClearFaults()
	if _, ok := f.srv.Object(f.keyA + ".committed"); !ok {
		t.Fatalf("no backup of %s: %v", f.keyA, f.srv.Pathnames())
	}
	r := h.run("verify", "--deep", "--strict")
	if r.code != 0 || !strings.Contains(r.stdout, "pending") || !strings.Contains(r.stdout, "copy of "+f.keyA) || strings.Contains(r.stdout, "  stray  ") {
		t.Errorf("verify --deep --strict with a backup: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	h.mustRun("archive")
	if _, ok := f.srv.Object(f.keyA + ".committed"); ok {
		t.Error("the backup is still there after a successful run")
	}
	h.checkObjects(t, vercelObjects(f.srv), f.want)
	if r := h.run("verify", "--deep", "--strict"); r.code != 0 || strings.Contains(r.stdout, "  pending  ") {
		t.Errorf("verify after the successful run: exit %d\n%s", r.code, r.stdout)
	}
}
