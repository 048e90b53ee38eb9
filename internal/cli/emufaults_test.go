package cli_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gocloud.dev/gcerrors"

	"github.com/shizuku-labs/archiver/backends"
	"github.com/shizuku-labs/archiver/backends/backendtest"
	"github.com/shizuku-labs/archiver/internal/cli"
	"github.com/shizuku-labs/archiver/internal/testkit/faults"
)

// runBinaryFor runs the archiver binary like runBinary, but kills it after
// timeout: a run that hangs on a failing store is a failure, not a slow test.
func (h *harness) runBinaryFor(t *testing.T, timeout time.Duration, env []string, args ...string) (int, string) {
	t.Helper()
	args = append(args, "--database-url", h.dbURL)
	if args[0] != "migrate" && h.bucket != "" {
		args = append(args, "--bucket", h.bucket)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, archiverBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("archiver %s did not finish within %v (hung on a failing store?):\n%s", strings.Join(args[:1], " "), timeout, out)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("run archiver: %v", err)
	return 0, ""
}

// emulator is a cloud backend's emulator behind a fault proxy.
type emulator struct {
	name   string
	direct string // bucket URL straight to the emulator, for the checker
	via    string // bucket URL through the proxy, for the archiver
	env    []string
	proxy  *faults.Proxy
}

func startEmulator(t *testing.T, name string) *emulator {
	t.Helper()
	e := &emulator{name: name}
	switch name {
	case "s3":
		e.direct = backendtest.StartS3(t)
		u, _ := url.Parse(e.direct)
		q := u.Query()
		e.proxy = faults.NewProxy(t, q.Get("endpoint"))
		q.Set("endpoint", e.proxy.URL())
		u.RawQuery = q.Encode()
		e.via = u.String()
	case "gs":
		// gocloud's gs opener reads STORAGE_EMULATOR_HOST once per process:
		// the archiver runs as a child process with the proxy's address, the
		// checker in this process with the emulator's. No other test of this
		// package may start a GCS emulator.
		e.direct = backendtest.StartGCS(t)
		e.proxy = faults.NewProxy(t, "http://"+os.Getenv("STORAGE_EMULATOR_HOST"))
		e.via = e.direct + "?retries=1"
		e.env = []string{"STORAGE_EMULATOR_HOST=" + e.proxy.Host()}
	case "azblob":
		e.direct = backendtest.StartAzurite(t)
		u, _ := url.Parse(e.direct)
		q := u.Query()
		e.proxy = faults.NewProxy(t, "http://"+q.Get("domain"))
		q.Set("domain", e.proxy.Host())
		u.RawQuery = q.Encode()
		e.via = u.String()
	default:
		t.Fatalf("no emulator %s", name)
	}
	return e
}

// objects reads the archive objects of keys straight from the emulator.
func (e *emulator) objects(t *testing.T, prefix string, keys []string) map[string][]byte {
	t.Helper()
	b, err := backends.Open(t.Context(), e.direct)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	out := map[string][]byte{}
	for _, k := range keys {
		data, err := b.ReadAll(t.Context(), prefix+"/"+k)
		if gcerrors.Code(err) == gcerrors.NotFound {
			continue
		}
		if err != nil {
			t.Fatalf("read %s: %v", k, err)
		}
		out[k] = data
	}
	return out
}

func isUpload(r *http.Request) bool {
	return (r.Method == http.MethodPut || r.Method == http.MethodPost) &&
		(strings.Contains(r.URL.Path, ".json.gz") || strings.HasPrefix(r.URL.Path, "/upload/"))
}

func isObjectRead(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, ".json.gz") && !strings.HasPrefix(r.URL.Path, "/storage/v1/")
}

var emulatorFaults = []struct {
	name  string
	rule  faults.Rule
	short bool // also in the always-on run; the rest only with ARCHIVER_TEST_LONG
}{
	{"upload 503", faults.Rule{Match: isUpload, Status: 503, Body: "<Error><Code>SlowDown</Code></Error>"}, true},
	{"upload 500", faults.Rule{Match: isUpload, Status: 500, Body: "internal error"}, false},
	{"upload 429 with retry-after", faults.Rule{Match: isUpload, Status: 429, Header: map[string]string{"Retry-After": "1"}}, false},
	{"connection reset mid-upload", faults.Rule{Match: isUpload, DropRequest: true}, false},
	{"upload applied, answer lost", faults.Rule{Match: isUpload, DropResponse: true}, true},
	{"read-back 500", faults.Rule{Match: isObjectRead, Status: 500, Body: "internal error"}, false},
	{"truncated read-back", faults.Rule{Match: isObjectRead, Truncate: true}, true},
	{"silently corrupted read-back", faults.Rule{Match: isObjectRead, Corrupt: true}, true},
}

// TestEmulatorStorageFaults runs the storage faults against the S3, GCS and
// Azure emulators through a fault proxy, with the cloud SDKs' own retry
// behaviour: a persistent fault must end the run (no hang) with exit 1,
// nothing deleted and a failed manifest per day; the next healthy run
// archives everything exactly once.
func TestEmulatorStorageFaults(t *testing.T) {
	for _, backend := range []string{"s3", "gs", "azblob"} {
		t.Run(backend, func(t *testing.T) {
			emu := startEmulator(t, backend)
			for i, c := range emulatorFaults {
				t.Run(c.name, func(t *testing.T) {
					if !c.short && long(0, 1) == 0 {
						t.Skipf("long variant: set %s=1 (make test-long)", EnvLong)
					}
					if backend == "gs" && c.name == "truncated read-back" && long(0, 1) == 0 {
						// The GCS client reopens a body that keeps breaking off
						// forever; only the archiver's read stall guard (2 minutes)
						// ends it. internal/archive TestReadStallIsAbandoned covers
						// the guard quickly.
						t.Skipf("takes the 2-minute read stall timeout: set %s=1 (make test-long)", EnvLong)
					}
					emu.proxy.Clear()
					h := newHarness(t)
					h.mustRun("migrate", "up")
					prefix := fmt.Sprintf("case%d-%d", i, time.Now().UnixNano())
					h.bucket = emu.via
					args := []string{"archive", "--prefix", prefix, "--no-progress"}
					today := h.today()
					keyA, keyB := dayKey(today.AddDate(0, 0, -34)), dayKey(today.AddDate(0, 0, -33))
					keyA, keyB = strings.TrimPrefix(keyA, "archives/"), strings.TrimPrefix(keyB, "archives/")
					first := sample(today, 34, 33, 2)
					h.insertClean(first)
					if code, out := h.runBinaryFor(t, time.Minute, emu.env, args...); code != 0 {
						t.Fatalf("first run: exit %d\n%s", code, out)
					}
					late := sample(today, 34, 33, 1)
					for i := range late {
						late[i].Sensor = "late-" + late[i].Sensor
					}
					pending := append(late, sample(today, 33, 32, 2)...)
					h.insertClean(pending)
					want := append(append([]reading{}, first...), pending...)
					before := h.count(`SELECT max(id) FROM archiver.archive_runs`)

					emu.proxy.Add(c.rule)
					code, out := h.runBinaryFor(t, 5*time.Minute, emu.env, args...) // the read stall guard takes 2m+
					emu.proxy.Clear()
					if code != cli.ExitPartial {
						t.Fatalf("exit %d, want %d\n%s", code, cli.ExitPartial, out)
					}
					sameReadings(t, "rows after the failed run", h.cleanRows("true"), pending)
					objs := emu.objects(t, prefix, []string{keyA})
					have := map[string]bool{}
					for _, rd := range decodeArchive(t, keyA, objs[keyA]).readings(t) {
						have[rd.key()] = true
					}
					for _, rd := range first {
						if !have[rd.key()] {
							t.Fatalf("the committed archive lost %s", rd.key())
						}
					}
					if n := h.count(`SELECT count(*) FROM archiver.archive_runs WHERE id > $1 AND kind = 'archive' AND status = 'failed' AND error <> ''`, before); n != 2 {
						t.Errorf("%d failed manifests with a reason, want 2\n%s", n, out)
					}

					if code, out := h.runBinaryFor(t, time.Minute, emu.env, args...); code != 0 {
						t.Fatalf("the run after storage recovered: exit %d\n%s", code, out)
					}
					objs = emu.objects(t, prefix, []string{keyA, keyB})
					h.exec(`UPDATE archiver.archive_runs SET object_key = substr(object_key, length($1) + 2)`, prefix)
					h.checkObjects(t, objs, want)
				})
			}
		})
	}
}
