package vercelblob

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// sdkVersion is the @vercel/blob release docs/vercel-blob-protocol.md was read from.
const sdkVersion = "2.8.0"

// EnvSDKDir names a directory holding node_modules/@vercel/blob at
// sdkVersion (CI can pre-install it there). By default the test uses
// <module root>/.tmp/node and installs into it when needed with
//
//	npm install --prefix <dir> --no-audit --no-fund @vercel/blob@2.8.0
const EnvSDKDir = "VERCELBLOB_SDK_DIR"

// sdkDir returns a directory whose node_modules has the pinned SDK,
// installing it if missing. Node and npm are required: this test fails, it
// does not skip, without them.
func sdkDir(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is required for the SDK compatibility test: %v", err)
	}
	dir := os.Getenv(EnvSDKDir)
	if dir == "" {
		root, err := testkit.ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, ".tmp", "node")
	}
	pkg := filepath.Join(dir, "node_modules", "@vercel", "blob", "package.json")
	if data, err := os.ReadFile(pkg); err == nil {
		var meta struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(data, &meta) == nil && meta.Version == sdkVersion {
			return dir
		}
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatalf("npm is required to install @vercel/blob@%s into %s: %v", sdkVersion, dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "@vercel/blob@"+sdkVersion)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm install @vercel/blob@%s: %v\n%s", sdkVersion, err, out)
	}
	return dir
}

// The official SDK, unchanged, must work against the fake, a public store
// and a private one: this is what keeps the fake (and so the driver tests)
// honest about the protocol.
func TestOfficialSDKAgainstFake(t *testing.T) {
	dir := sdkDir(t)
	for _, access := range []string{vercelblobtest.AccessPrivate, vercelblobtest.AccessPublic} {
		t.Run(access, func(t *testing.T) { sdkAgainstFake(t, dir, access) })
	}
}

func sdkAgainstFake(t *testing.T, dir, access string) {
	srv := vercelblobtest.NewServer(testToken, vercelblobtest.WithAccess(access))
	defer srv.Close()
	ctx := context.Background()

	b, err := OpenBucket(ctx, &Options{Token: testToken, APIURL: srv.APIURL, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, "go/written-by-go.txt", []byte("written by the Go driver"), nil); err != nil {
		t.Fatal(err)
	}

	script, err := os.ReadFile(filepath.Join("testdata", "sdk-check.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	// Run from dir so that the bare import resolves to the pinned SDK.
	scriptPath := filepath.Join(dir, "sdk-check-"+filepath.Base(t.TempDir())+".mjs")
	if err := os.WriteFile(scriptPath, script, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(scriptPath)
	nctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(nctx, "node", scriptPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"VERCEL_BLOB_API_URL="+srv.APIURL,
		"BLOB_READ_WRITE_TOKEN="+testToken,
		"STORE_ACCESS="+access,
		// A failure should surface at once, not after the SDK's long backoff.
		"VERCEL_BLOB_RETRIES=0",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("SDK script failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "SDK OK") {
		t.Fatalf("SDK script did not finish:\n%s\n%s", stdout.String(), stderr.String())
	}
	t.Log(strings.TrimSpace(stdout.String()))

	got, err := b.ReadAll(ctx, "sdk/for-go.txt")
	if err != nil || string(got) != "written by the SDK" {
		t.Fatalf("reading the SDK's blob with the driver: %q, %v", got, err)
	}
	c := srv.Counts()
	for _, kind := range []string{vercelblobtest.KindPut, vercelblobtest.KindHead, vercelblobtest.KindList,
		vercelblobtest.KindCopy, vercelblobtest.KindDelete, vercelblobtest.KindMPUCreate,
		vercelblobtest.KindMPUUpload, vercelblobtest.KindMPUComplete, vercelblobtest.KindDownload} {
		if c[kind] == 0 {
			t.Errorf("the SDK run made no %s request", kind)
		}
	}
	if c[vercelblobtest.KindUnknown] != 0 {
		t.Errorf("%d requests the fake did not recognise", c[vercelblobtest.KindUnknown])
	}
}
