package cli_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/shizuku-labs/archiver/backends/vercelblob"
	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
	"github.com/shizuku-labs/archiver/internal/cli"
)

// migrationEnv is a user of the original service moving to the archiver:
// the environment holds exactly the original's variables, DATABASE_URL,
// VERCEL_BLOB_RW_TOKEN and VERCEL_BLOB_BASE_URL (copied from a blob URL of
// the store), plus VERCEL_BLOB_API_URL, without which the test server could
// not stand in for Vercel. No flags, no bucket URL, no other setting: the
// clean table is the original's five columns (the harness's surrogate id is
// dropped, and with it the ARCHIVER_CLEAN_IGNORE_COLUMNS that declares it).
type migrationEnv struct {
	*harness
	srv *vercelblobtest.Server
}

func newMigrationEnv(t *testing.T, baseURL func(*vercelblobtest.Server) string, opts ...vercelblobtest.Option) *migrationEnv {
	t.Helper()
	srv := vercelblobtest.NewServer(testToken, opts...)
	t.Cleanup(srv.Close)
	h := newHarness(t)
	h.bucket = ""
	h.mustRun("migrate", "up")
	h.exec(`ALTER TABLE shizuku.clean_measurements DROP COLUMN id`)
	for _, name := range []string{"ARCHIVER_BUCKET", "BLOB_READ_WRITE_TOKEN", "ARCHIVER_CONFIG", "ARCHIVER_CLEAN_IGNORE_COLUMNS"} {
		t.Setenv(name, "") // restored when the test ends
		os.Unsetenv(name)
	}
	t.Setenv("DATABASE_URL", h.dbURL)
	t.Setenv("VERCEL_BLOB_RW_TOKEN", testToken)
	t.Setenv("VERCEL_BLOB_BASE_URL", baseURL(srv))
	t.Setenv("VERCEL_BLOB_API_URL", srv.APIURL)
	return &migrationEnv{harness: h, srv: srv}
}

// run runs the archiver with the environment only.
func (m *migrationEnv) run(args ...string) result {
	m.t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), append([]string{"archiver"}, args...), &out, &errOut, cli.Build{Version: "test", Commit: "test"})
	r := result{code: code, stdout: out.String(), stderr: errOut.String()}
	if code != 0 {
		m.t.Fatalf("archiver %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, testToken) || strings.Contains(r.stdout+r.stderr, "s3cr3t") {
		m.t.Fatalf("the token appears in the output of archiver %s", strings.Join(args, " "))
	}
	return r
}

// fetch GETs a blob URL as anyone (token "") or with the token.
func fetch(t *testing.T, u, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// migrate archives three days with the original's variables, checks every
// archive's URL with fetchAs (returning its bytes), then restores them and
// runs verify --deep.
func (m *migrationEnv) migrate(t *testing.T, wantAccess string, fetchAs func(t *testing.T, u string) []byte) {
	today := m.today()
	rows := sample(today, 35, 32, 3)
	m.insertClean(rows)
	r := m.run("archive")
	if !strings.Contains(r.stderr, "Vercel Blob store \\\"teststore\\\": "+wantAccess+" access") &&
		!strings.Contains(r.stderr, `Vercel Blob store "teststore": `+wantAccess+" access") {
		t.Errorf("no start-up line naming the store's %s access:\n%s", wantAccess, r.stderr)
	}
	if n := m.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Fatalf("%d rows left after archiving", n)
	}
	for _, req := range m.srv.Requests() {
		if req.Kind == vercelblobtest.KindPut && req.Status != http.StatusOK {
			t.Errorf("a put was refused (%d): the store's access was not known from VERCEL_BLOB_BASE_URL", req.Status)
		}
	}
	var archived []reading
	for d := 35; d > 32; d-- {
		day := today.AddDate(0, 0, -d)
		u := m.srv.BlobURL(dayKey(day))
		if want := "Created archive for " + day.Format(time.DateOnly) + ": " + u; !strings.Contains(r.stderr, want) {
			t.Errorf("log lacks %q:\n%s", want, r.stderr)
		}
		archived = append(archived, decodeArchive(t, u, fetchAs(t, u)).readings(t)...)
	}
	sameReadings(t, "archives fetched at their URLs", archived, rows)
	// Written with a short CDN max-age, so that a merge reaches readers of
	// the public URL within minutes, not the service's default month.
	b, err := vercelblob.OpenBucket(context.Background(), &vercelblob.Options{Token: testToken, APIURL: m.srv.APIURL})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a, err := b.Attributes(context.Background(), dayKey(today.AddDate(0, 0, -35))); err != nil || !strings.Contains(a.CacheControl, "max-age=300") {
		t.Errorf("archive attributes %+v, %v: want max-age=300", a, err)
	}

	m.run("restore", "--from", today.AddDate(0, 0, -35).Format(time.DateOnly), "--to", today.AddDate(0, 0, -33).Format(time.DateOnly))
	sameReadings(t, "restored rows", m.cleanRows("true"), rows)
	m.run("verify", "--deep")
}

// TestMigrationToPublicStore: the original's users have public stores.
// Archives go there with public access, each can be fetched by anyone at
// the URL the log shows, and restore and verify --deep work.
func TestMigrationToPublicStore(t *testing.T) {
	m := newMigrationEnv(t, func(s *vercelblobtest.Server) string { return s.ContentBase() + "/" }, vercelblobtest.WithAccess(vercelblobtest.AccessPublic))
	m.migrate(t, "public", func(t *testing.T, u string) []byte {
		st, data := fetch(t, u, "")
		if st != http.StatusOK {
			t.Fatalf("anonymous GET %s: %d", u, st)
		}
		return data
	})
}

// TestMigrationToPrivateStore: the same with a private store: anonymous
// fetches are refused, fetches with the token work.
func TestMigrationToPrivateStore(t *testing.T) {
	m := newMigrationEnv(t, func(s *vercelblobtest.Server) string { return s.ContentBase() }, vercelblobtest.WithAccess(vercelblobtest.AccessPrivate))
	m.migrate(t, "private", func(t *testing.T, u string) []byte {
		if st, _ := fetch(t, u, ""); st != http.StatusForbidden {
			t.Errorf("anonymous GET of a private archive %s: %d, want 403", u, st)
		}
		st, data := fetch(t, u, testToken)
		if st != http.StatusOK {
			t.Fatalf("GET %s with the token: %d", u, st)
		}
		return data
	})
}

// putOriginal stores an archive as the Python service wrote it: public,
// json.dumps formatting, gzip, at its key.
func putOriginal(t *testing.T, srv *vercelblobtest.Server, day time.Time) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(originalArchive(day)))
	zw.Close()
	b, err := vercelblob.OpenBucket(context.Background(), &vercelblob.Options{Token: testToken, APIURL: srv.APIURL, Access: vercelblob.AccessPublic})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(context.Background(), dayKey(day), buf.Bytes(), &blob.WriterOptions{ContentType: "application/gzip"}); err != nil {
		t.Fatal(err)
	}
}

// TestOriginalArchivesInPublicStore: the original service's archives are
// already in the user's public store (no manifests). They restore, and a
// day with late rows is merged with the original's archive, behind a CDN
// that serves the old copy of every URL it has seen.
func TestOriginalArchivesInPublicStore(t *testing.T) {
	m := newMigrationEnv(t, func(s *vercelblobtest.Server) string { return "" },
		vercelblobtest.WithAccess(vercelblobtest.AccessPublic), vercelblobtest.WithStaleReads())
	days := []time.Time{m.today().AddDate(0, 0, -60), m.today().AddDate(0, 0, -59)}
	for _, d := range days {
		putOriginal(t, m.srv, d)
	}
	// Copied from a blob URL, pathname and all.
	t.Setenv("VERCEL_BLOB_BASE_URL", m.srv.BlobURL(dayKey(days[0])))
	// Someone reads the original's archives: the CDN now holds them.
	for _, d := range days {
		if st, _ := fetch(t, m.srv.BlobURL(dayKey(d)), ""); st != http.StatusOK {
			t.Fatalf("anonymous GET of the original's archive: %d", st)
		}
	}

	// Restore both days as the original left them.
	m.run("restore", "--from", days[0].Format(time.DateOnly), "--to", days[1].Format(time.DateOnly))
	if n := m.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 6 {
		t.Fatalf("restored %d rows of the original's archives, want 6", n)
	}
	m.run("archive") // archives them again, merged with (equal to) the originals

	// Late rows for the first day: merged with the archive in the store,
	// not with the CDN's stale copy.
	late := []reading{{Sensor: "beta", Time: days[0].Add(3 * time.Hour), Value: f64(1.25), QCFlags: i64(0)}}
	m.insertClean(late)
	m.run("archive")
	if n := m.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Fatalf("%d rows left", n)
	}
	data, _ := m.srv.Object(dayKey(days[0]))
	if n := readingsIn(t, data); n != 4 {
		t.Errorf("merged archive holds %d readings, want the original's 3 and the late one", n)
	}
	// The CDN still serves the original's copy at the URL (so the test
	// can tell), and that is the only stale answer given: the archiver's
	// reads went around it.
	if _, cdn := fetch(t, m.srv.BlobURL(dayKey(days[0])), ""); readingsIn(t, cdn) != 3 {
		t.Fatal("the CDN model did not serve the stale copy; the test proves nothing")
	}
	stale := 0
	for _, req := range m.srv.Requests() {
		if req.Stale {
			stale++
		}
	}
	if stale != 1 {
		t.Errorf("%d stale answers, want 1 (the anonymous read just made)", stale)
	}
	m.run("restore", "--day", days[0].Format(time.DateOnly))
	if n := m.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 4 {
		t.Errorf("restored %d rows of the merged day, want 4", n)
	}
	m.run("verify", "--deep")
}

// readingsIn counts the readings of a gzipped archive, NaN values and all
// (which encoding/json cannot decode).
func readingsIn(t *testing.T, gz []byte) int {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), `"time":`)
}

// runCode runs the archiver with the environment only and returns what
// happened, whatever the exit code.
func (m *migrationEnv) runCode(args ...string) result {
	m.t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), append([]string{"archiver"}, args...), &out, &errOut, cli.Build{Version: "test", Commit: "test"})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// TestStoreAccessMistakesStopAtStart: a bucket URL whose ?access= the
// store does not have, and a VERCEL_BLOB_BASE_URL of another store, stop
// the run before anything changes (the raw purge included) with a message
// that names the setting, the store's access and the fix; a dry run on an
// empty store writes nothing and says the access is unknown.
func TestStoreAccessMistakesStopAtStart(t *testing.T) {
	m := newMigrationEnv(t, func(s *vercelblobtest.Server) string { return "" }, vercelblobtest.WithAccess(vercelblobtest.AccessPublic))
	t.Setenv("ARCHIVER_RAW_REQUIRE_CLEAN", "false") // purge by age alone, so that a purge would show
	if _, err := m.conn.Exec(context.Background(), `INSERT INTO shizuku.raw_measurements (sensor_id, ts) VALUES ('s', now() - interval '3 days')`); err != nil {
		t.Fatal(err)
	}
	m.insertClean(sample(m.today(), 32, 31, 1))
	raw := func() int64 { return m.count(`SELECT count(*) FROM shizuku.raw_measurements`) }

	r := m.runCode("archive", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stderr, "access not known yet") {
		t.Errorf("dry run on an empty store: exit %d\n%s", r.code, r.stderr)
	}
	if c := m.srv.Counts(); c[vercelblobtest.KindPut]+c[vercelblobtest.KindDelete]+c[vercelblobtest.KindCopy] != 0 {
		t.Errorf("the dry run wrote: %v", c)
	}

	// An empty public store, ?access=private: the probe finds out.
	r = m.runCode("archive", "--bucket", "vercelblob://?access=private")
	if r.code != cli.ExitUnavailable || !strings.Contains(r.stderr, "?access=private contradicts") || !strings.Contains(r.stderr, "which is public") {
		t.Errorf("?access=private on an empty public store: exit %d, want %d\n%s", r.code, cli.ExitUnavailable, r.stderr)
	}
	if raw() != 1 || len(m.srv.Pathnames()) != 0 {
		t.Errorf("a run that stopped at start changed something: %d raw rows, objects %v", raw(), m.srv.Pathnames())
	}

	m.run("archive") // finds out by itself: public
	if raw() != 0 {
		t.Fatalf("the successful run did not purge the raw row; the checks of the purge prove nothing")
	}
	if st, _ := fetch(t, m.srv.BlobURL(dayKey(m.today().AddDate(0, 0, -32))), ""); st != http.StatusOK {
		t.Errorf("archive not public: %d", st)
	}
	if _, err := m.conn.Exec(context.Background(), `INSERT INTO shizuku.raw_measurements (sensor_id, ts) VALUES ('s', now() - interval '3 days')`); err != nil {
		t.Fatal(err)
	}
	before := raw()
	// A store with blobs: the list tells.
	r = m.runCode("archive", "--bucket", "vercelblob://?access=private")
	if r.code != cli.ExitUnavailable || !strings.Contains(r.stderr, "?access=private contradicts") || !strings.Contains(r.stderr, "seen in the store's blob URLs") {
		t.Errorf("?access=private on a public store: exit %d\n%s", r.code, r.stderr)
	}
	if raw() != before {
		t.Errorf("the raw purge ran before the access check: %d raw rows, want %d", raw(), before)
	}

	other := vercelblobtest.NewServer("vercel_blob_rw_otherstore_s3cr3tT0kenValue", vercelblobtest.WithAccess(vercelblobtest.AccessPublic))
	defer other.Close()
	t.Setenv("VERCEL_BLOB_BASE_URL", other.BlobURL("archives/2024/12/archive-2024-12-01.json.gz"))
	r = m.runCode("archive")
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "VERCEL_BLOB_BASE_URL is a URL of Vercel Blob store \"otherstore\"") {
		t.Errorf("base URL of another store: exit %d, want %d\n%s", r.code, cli.ExitUsage, r.stderr)
	}
	if raw() != before {
		t.Errorf("the raw purge ran with a base URL of another store")
	}
}
