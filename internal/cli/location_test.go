package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shizuku-labs/archiver/internal/cli"
)

// TestRespelledBucketURLFindsManifests: manifests are matched on the
// storage location's identity, not the URL's spelling. A trailing slash,
// "//", file:/x or an option made every archive an orphan (verify exit 0
// with nothing checked), and let archive miss the committed manifest that
// guards a merge.
func TestRespelledBucketURLFindsManifests(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	first := sample(today, 40, 38, 2)
	h.insertClean(first)
	h.mustRun("archive")
	for _, spelling := range []string{"file://" + h.dir + "/", "file:" + h.dir, "file://" + strings.Replace(h.dir, "/", "//", 1) + "?no_tmp_dir=1"} {
		r := h.mustRun("verify", "--deep", "--strict", "--format", "json", "--bucket", spelling)
		var rep struct {
			Manifests int            `json:"manifests_checked"`
			Counts    map[string]int `json:"counts"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%s: %v\n%s", spelling, err, r.stdout)
		}
		if rep.Manifests != 2 || rep.Counts["ok"] != 2 || rep.Counts["orphan"] != 0 {
			t.Errorf("verify --bucket %s: %d manifests checked, counts %v; want the 2 archives checked ok", spelling, rep.Manifests, rep.Counts)
		}
	}
	// Late rows archived through another spelling merge with the
	// committed archive, under its manifest.
	late := sample(today, 40, 39, 1)
	for i := range late {
		late[i].Sensor = "late-" + late[i].Sensor
	}
	h.insertClean(late)
	h.mustRun("archive", "--bucket", "file://"+h.dir+"//")
	got := 0
	for _, doc := range h.archives() {
		for _, d := range doc.Data {
			got += len(d.Measurements)
		}
	}
	if want := len(first) + len(late); got != want {
		t.Errorf("the archives hold %d readings, want %d", got, want)
	}
	if n := h.count(`SELECT count(DISTINCT location) FROM archiver.archive_runs WHERE kind = 'archive'`); n != 1 {
		t.Errorf("manifests record %d locations for one directory", n)
	}
	h.mustRun("verify", "--deep", "--strict")
}

// TestLegacyManifestLocationsRewritten: manifests written before
// identities hold the bucket URL as it was configured; they keep working
// through any spelling, are rewritten to the identity on first use (not by
// a dry run), and by migrate up.
func TestLegacyManifestLocationsRewritten(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 40, 37, 2))
	h.mustRun("archive")
	legacy := func() {
		t.Helper()
		if _, err := h.conn.Exec(t.Context(), `UPDATE archiver.archive_runs SET location = $1, location_canonical = false`, "file://"+h.dir+"/"); err != nil {
			t.Fatal(err)
		}
	}
	legacy()
	h.mustRun("archive", "--dry-run")
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE location_canonical`); n != 0 {
		t.Errorf("a dry run rewrote %d manifests", n)
	}
	r := h.mustRun("verify", "--strict", "--format", "json", "--bucket", "file:"+h.dir)
	if !strings.Contains(r.stdout, `"manifests_checked": 3`) {
		t.Errorf("verify did not find the older manifests:\n%s", r.stdout)
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE NOT location_canonical OR location <> $1`, "file://"+h.dir); n != 0 {
		t.Errorf("%d manifests not rewritten to the identity", n)
	}
	legacy()
	t.Setenv("ARCHIVER_BUCKET", "file://"+h.dir+"//")
	h.mustRun("migrate", "up")
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE NOT location_canonical`); n != 0 {
		t.Errorf("migrate up left %d manifests unrewritten", n)
	}
}

// TestArchivesAtAnotherLocation: when archive_runs holds committed
// archives but none at the given location, verify fails (exit 1) saying
// where they are, restore says so, and archive warns.
func TestArchivesAtAnotherLocation(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	h.insertClean(sample(today, 40, 38, 2))
	h.mustRun("archive")
	other := "file://" + t.TempDir()
	r := h.run("verify", "--bucket", other)
	if r.code != cli.ExitPartial || !strings.Contains(r.stdout, "none at "+other) || !strings.Contains(r.stdout, "file://"+h.dir+" (2)") {
		t.Errorf("verify at an empty location: exit %d, want %d naming where the archives are\n%s\n%s", r.code, cli.ExitPartial, r.stdout, r.stderr)
	}
	r = h.run("verify", "--bucket", other, "--format", "json")
	if r.code != cli.ExitPartial || !strings.Contains(r.stdout, `"ok": false`) || !strings.Contains(r.stdout, `"archives": 2`) {
		t.Errorf("verify --format json at an empty location: exit %d\n%s", r.code, r.stdout)
	}
	r = h.run("restore", "--bucket", other, "--from", today.AddDate(0, 0, -41).Format("2006-01-02"), "--to", today.AddDate(0, 0, -38).Format("2006-01-02"))
	if r.code == 0 || !strings.Contains(r.stderr, "none at "+other) {
		t.Errorf("restore from an empty location: exit %d, no word of where the archives are\n%s", r.code, r.stderr)
	}
	h.insertClean(sample(today, 45, 44, 1))
	r = h.mustRun("archive", "--bucket", other)
	if !strings.Contains(r.stderr, "none at "+other) {
		t.Errorf("archive to a new location does not say where the archives are:\n%s", r.stderr)
	}
}

// TestVercelDefaultAndSpelledOut: no bucket URL (the original's default),
// vercelblob:// and vercelblob://label?access=private are one store.
func TestVercelDefaultAndSpelledOut(t *testing.T) {
	h, srv := vercelHarness(t)
	h.insertClean(sample(h.today(), 40, 38, 2))
	h.mustRun("archive")
	for _, spelling := range []string{"vercelblob://", "vercelblob://archives?access=private"} {
		r := h.mustRun("verify", "--strict", "--format", "json", "--bucket", spelling)
		if !strings.Contains(r.stdout, `"manifests_checked": 2`) {
			t.Errorf("verify --bucket %s did not find the default's manifests:\n%s", spelling, r.stdout)
		}
	}
	if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE location = $1`, "vercelblob://teststore?endpoint="+strings.TrimPrefix(srv.APIURL, "http://")); n == 0 {
		var locs []string
		rows, _ := h.conn.Query(t.Context(), `SELECT DISTINCT coalesce(location, '') FROM archiver.archive_runs`)
		for rows.Next() {
			var l string
			_ = rows.Scan(&l)
			locs = append(locs, l)
		}
		rows.Close()
		t.Errorf("no manifest records the store id and endpoint as the location: %q", locs)
	}
}
