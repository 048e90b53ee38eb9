package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/cli"
)

// TestEphemeralBucketRefused: mem:// vanishes with the process, so a real
// run would delete the archived rows for good. Every command that takes a
// bucket refuses it, from the setting alone (exit 2), before the database.
func TestEphemeralBucketRefused(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	h.insertClean(sample(today, 40, 38, 2))
	for _, args := range [][]string{
		{"archive"},
		{"archive", "--dry-run"},
		{"verify"},
		{"restore", "--day", today.AddDate(0, 0, -39).Format(time.DateOnly)},
		{"status"},
		{"checkin", "--day", today.AddDate(0, 0, -39).Format(time.DateOnly)},
		{"export", "--from", today.AddDate(0, 0, -39).Format(time.DateOnly), "--to", today.AddDate(0, 0, -39).Format(time.DateOnly), "--out", "-"},
	} {
		r := h.run(append(args, "--bucket", "mem://")...)
		if r.code != cli.ExitUsage {
			t.Errorf("%v --bucket mem://: exit %d, want %d\n%s", args, r.code, cli.ExitUsage, r.stderr)
		}
		if !strings.Contains(r.stderr, "does not outlive the process") || !strings.Contains(r.stderr, "storage.bucket") {
			t.Errorf("%v --bucket mem://: the error does not say why or name the setting:\n%s", args, r.stderr)
		}
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != int64(len(sample(today, 40, 38, 2))) {
		t.Errorf("%d clean rows left after the refused runs, want all", n)
	}
}

// TestVolatileBucketDirectoryWarns: a file:// bucket on a tmpfs, or under
// /tmp (wiped with the unit by systemd's PrivateTmp=yes), is lost later;
// the run warns at start.
func TestVolatileBucketDirectoryWarns(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	shm, err := os.MkdirTemp("/dev/shm", "archiver-warn-")
	if err != nil {
		t.Fatalf("need /dev/shm (a tmpfs): %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	r := h.mustRun("archive", "--bucket", "file://"+shm)
	if !strings.Contains(r.stderr, "tmpfs") || !strings.Contains(r.stderr, "WARN") {
		t.Errorf("no tmpfs warning for %s:\n%s", shm, r.stderr)
	}
	tmp, err := os.MkdirTemp("/tmp", "archiver-warn-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	r = h.mustRun("archive", "--bucket", "file://"+tmp)
	if !strings.Contains(r.stderr, "PrivateTmp") {
		t.Errorf("no PrivateTmp warning for %s:\n%s", tmp, r.stderr)
	}
	home := filepath.Join(os.Getenv("HOME"), ".cache", "archiver-warn-test")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	if r := h.mustRun("archive", "--bucket", "file://"+home); strings.Contains(r.stderr, "tmpfs") || strings.Contains(r.stderr, "PrivateTmp") {
		t.Errorf("warned about %s, a persistent directory:\n%s", home, r.stderr)
	}
}

// TestFileURLWithHostRefused: file://tmp/x means host "tmp", path /x; it
// used to write to /x.
func TestFileURLWithHostRefused(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	name := "archiver-host-typo-" + filepath.Base(h.dir)
	for _, args := range [][]string{{"archive"}, {"archive", "--dry-run"}, {"verify"}} {
		r := h.run(append(args, "--bucket", "file://tmp/"+name)...)
		if r.code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, r.code, cli.ExitUsage, r.stderr)
		}
		if !strings.Contains(r.stderr, "file:///tmp/"+name) {
			t.Errorf("%v: the error does not show the fix:\n%s", args, r.stderr)
		}
	}
	if _, err := os.Stat("/" + name); !os.IsNotExist(err) {
		os.RemoveAll("/" + name)
		t.Errorf("/%s was created", name)
	}
}

// TestOnlyArchiveCreatesBucketDirectory: a dry run, verify and restore of
// a directory that is not there fail (exit 3) and leave nothing behind;
// a real archive creates it.
func TestOnlyArchiveCreatesBucketDirectory(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	h.insertClean(sample(today, 40, 38, 2))
	dir := filepath.Join(h.dir, "not", "yet")
	h.bucket = "file://" + dir
	for _, args := range [][]string{
		{"archive", "--dry-run"},
		{"verify"},
		{"restore", "--day", today.AddDate(0, 0, -39).Format(time.DateOnly)},
	} {
		r := h.run(args...)
		if r.code != cli.ExitUnavailable || !strings.Contains(r.stderr, "does not exist") {
			t.Errorf("%v on a missing directory: exit %d, want %d with a message\n%s", args, r.code, cli.ExitUnavailable, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(h.dir, "not")); !os.IsNotExist(err) {
			t.Fatalf("%v created the bucket directory", args)
		}
	}
	h.mustRun("archive")
	if len(h.archivesIn(dir)) != 2 {
		t.Errorf("archive did not create %s with the archives", dir)
	}
}

// archivesIn lists the archive files under dir.
func (h *harness) archivesIn(dir string) []string {
	var out []string
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".json.gz") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestFileBucketOnAnotherFilesystem: the bucket is on a tmpfs (/dev/shm)
// and the temp dir on another filesystem, as with a mounted archive disk
// or systemd's PrivateTmp. Writing the temporary file to the temp dir and
// renaming it failed every day with "invalid cross-device link".
func TestFileBucketOnAnotherFilesystem(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	shm, err := os.MkdirTemp("/dev/shm", "archiver-xdev-")
	if err != nil {
		t.Fatalf("need /dev/shm (a tmpfs): %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	tmp := t.TempDir()
	var a, b syscall.Stat_t
	if syscall.Stat(shm, &a) != nil || syscall.Stat(tmp, &b) != nil || a.Dev == b.Dev {
		t.Fatalf("%s and %s are not on different filesystems", shm, tmp)
	}
	t.Setenv("TMPDIR", tmp)
	today := h.today()
	rows := sample(today, 40, 37, 2)
	h.insertClean(rows)
	h.bucket = "file://" + shm
	h.mustRun("archive")
	if got := len(h.archivesIn(shm)); got != 3 {
		t.Errorf("%d archives on the other filesystem, want 3", got)
	}
	if n := h.count(`SELECT count(*) FROM shizuku.clean_measurements`); n != 0 {
		t.Errorf("%d rows left", n)
	}
	h.mustRun("verify", "--deep", "--strict")
}

// TestFileArchiveFlushedBeforeCommit traces the real binary: the archive's
// data is fsynced before it is renamed into place, its directory after,
// and both before the transaction that deletes the day's rows commits. A
// power cut after the commit cannot lose the archive.
func TestFileArchiveFlushedBeforeCommit(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatal("strace is needed (apt-get install strace; .ci/install-deps.sh installs it)")
	}
	h := newHarness(t)
	h.mustRun("migrate", "up")
	today := h.today()
	h.insertClean(sample(today, 40, 39, 2))
	day := today.AddDate(0, 0, -40).Format(time.DateOnly)
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-y", "-s", "200", "-o", trace, "-e", "trace=fsync,fdatasync,rename,renameat,renameat2,write,sendto",
		archiverBinary(t), "archive", "--database-url", h.dbURL, "--bucket", h.bucket)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("archive under strace: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	find := func(from int, re *regexp.Regexp) int {
		for i := from; i < len(lines); i++ {
			if re.MatchString(lines[i]) {
				return i
			}
		}
		return -1
	}
	name := regexp.QuoteMeta("archive-" + day + ".json.gz")
	monthDir := regexp.QuoteMeta(h.dir) + `(/[^>]*)?/` + day[:4] + "/" + day[5:7]
	rename := find(0, regexp.MustCompile(`rename\w*\(.*`+name+`\.[0-9a-f]+\.tmp".*`+name+`"`))
	if rename < 0 {
		t.Fatalf("no rename of the temporary file into %s in the trace:\n%s", day, raw)
	}
	if i := find(0, regexp.MustCompile(`f(data)?sync\(\d+<[^>]*`+name+`\.[0-9a-f]+\.tmp>`)); i < 0 || i > rename {
		t.Errorf("the archive's data was not fsynced before the rename (fsync at line %d, rename at %d)", i, rename)
	}
	dirSync := find(rename, regexp.MustCompile(`f(data)?sync\(\d+<`+monthDir+`>`))
	if dirSync < 0 {
		t.Fatalf("the archive's directory was not fsynced after the rename")
	}
	commit := find(rename, regexp.MustCompile(`(?i)(write|sendto)\(\d+<(TCP|UNIX|socket)[^>]*>.*commit`))
	if commit < 0 {
		t.Fatalf("no commit sent after the archive was written:\n%s", strings.Join(lines[rename:], "\n"))
	}
	if dirSync > commit {
		t.Errorf("the directory was fsynced (line %d) after the day's transaction committed (line %d)", dirSync, commit)
	}
}
