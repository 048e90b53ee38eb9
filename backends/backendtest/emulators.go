package backendtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/shizuku-labs/archiver/internal/testkit"
)

// Bucket is the bucket (or Azure container) every emulator starts with.
const Bucket = "archiver-test"

// The emulators' environment is process-wide, so tests that start one must
// not call t.Parallel (t.Setenv enforces this).

// StartS3 runs gofakes3 in process on a loopback HTTP server, creates Bucket
// and returns an s3:// URL for it. It sets AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (gofakes3 accepts any) and hides the developer's own
// AWS configuration, so the test cannot reach a real account.
func StartS3(t testing.TB) string {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(Bucket); err != nil {
		t.Fatalf("backendtest: gofakes3: create bucket %s: %v", Bucket, err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)

	isolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "backendtest")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "backendtest-secret")

	q := url.Values{}
	q.Set("endpoint", srv.URL)
	q.Set("region", "us-east-1")
	q.Set("use_path_style", "true")
	q.Set("disable_https", "true")
	// gofakes3 does not understand the SDK's default streaming checksum
	// trailers; many S3-compatible stores need the same setting.
	q.Set("request_checksum_calculation", "when_required")
	// Nor does it return checksums, and the SDK logs a line per GET when it
	// finds none to validate.
	q.Set("response_checksum_validation", "when_required")
	return "s3://" + Bucket + "?" + q.Encode()
}

// isolateAWS stops the AWS SDK from picking up the developer's profiles,
// session tokens or endpoint overrides.
func isolateAWS(t testing.TB) {
	none := filepath.Join(t.TempDir(), "no-such-aws-file")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	for _, v := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		unsetenv(t, v)
	}
}

// unsetenv removes v for the rest of the test and restores it afterwards.
func unsetenv(t testing.TB, v string) {
	t.Setenv(v, "") // records the old value for restoring
	os.Unsetenv(v)
}

// StartGCS runs fake-gcs-server in process over plain HTTP, creates Bucket,
// sets STORAGE_EMULATOR_HOST to its host:port and returns a gs:// URL.
//
// gocloud's gs opener honours STORAGE_EMULATOR_HOST itself: it then uses no
// credentials and sends JSON API requests to http://$STORAGE_EMULATOR_HOST/
// storage/v1/. The value must therefore be host:port without a scheme.
func StartGCS(t testing.TB) string {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http",
		Host:   "127.0.0.1",
		// The Go client reads objects through the XML API at
		// http://host:port/<bucket>/<object>; the server treats such paths as
		// object downloads only for requests to its public host (any port).
		PublicHost: "127.0.0.1",
	})
	if err != nil {
		t.Fatalf("backendtest: start fake-gcs-server: %v", err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: Bucket})

	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatalf("backendtest: fake-gcs-server URL %q: %v", srv.URL(), err)
	}
	t.Setenv("STORAGE_EMULATOR_HOST", u.Host)
	unsetenv(t, "STORAGE_EMULATOR_HOST_GRPC")
	return "gs://" + Bucket
}

// Azurite's well-known development account; not a secret.
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// EnvAzurite overrides where the azurite-blob executable is looked for.
const EnvAzurite = "ARCHIVER_AZURITE_BLOB"

const azuriteHelp = "install it with: npm install -g azurite (or run .ci/install-emulators.sh), " +
	"or set " + EnvAzurite + " to the azurite-blob executable"

// StartAzurite runs azurite-blob as a subprocess on a free loopback port with
// its data in a temporary directory, creates the container Bucket, and
// returns an azblob:// URL for it. It sets AZURE_STORAGE_ACCOUNT and
// AZURE_STORAGE_KEY to the well-known development account and clears the
// other Azure credential variables; the URL carries the emulator endpoint
// (localemu=true, protocol=http, domain=127.0.0.1:port) because gocloud's
// azblob opener reads the environment only once per process.
func StartAzurite(t testing.TB) string {
	t.Helper()
	bin, err := findAzurite()
	if err != nil {
		t.Fatalf("backendtest: Azurite is needed for the azblob tests and was not found: %v\n%s", err, azuriteHelp)
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "azurite.log")

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := testkit.FreePort()
		if err != nil {
			t.Fatalf("backendtest: %v", err)
		}
		lastErr = startAzurite(t, bin, filepath.Join(dir, fmt.Sprint(attempt)), logPath, port)
		if lastErr == nil {
			return setupAzurite(t, port)
		}
	}
	t.Fatalf("backendtest: start Azurite (%s): %v\n%s", bin, lastErr, azuriteHelp)
	return ""
}

func startAzurite(t testing.TB, bin, dataDir, logPath string, port int) error {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	args := []string{
		"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
		"--location", dataDir, "--silent", "--skipApiVersionCheck", "--loose",
	}
	if azuriteHasFlag(bin, "--disableTelemetry") {
		// CI has no internet; don't let Azurite try to phone home.
		args = append(args, "--disableTelemetry")
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dataDir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group so cleanup kills node and anything it forks; the
	// death signal keeps a killed test binary from leaking the emulator.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}

	deadline := time.Now().Add(30 * time.Second)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		select {
		case err := <-exited:
			exited <- err
			stop()
			return fmt.Errorf("azurite-blob exited during start-up (%v); its output:\n%s", err, tail(logPath))
		default:
		}
		// Any HTTP answer means it is serving; unauthenticated requests get 403.
		resp, err := http.Get("http://" + addr + "/" + AzuriteAccount + "?comp=list")
		if err == nil {
			resp.Body.Close()
			t.Cleanup(stop)
			return nil
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("azurite-blob did not answer on %s within 30s; its output:\n%s", addr, tail(logPath))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func setupAzurite(t testing.TB, port int) string {
	t.Helper()
	domain := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for _, v := range []string{"AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGEBLOB_CONNECTIONSTRING",
		"AZURE_STORAGE_DOMAIN", "AZURE_STORAGE_PROTOCOL", "AZURE_STORAGE_IS_LOCAL_EMULATOR", "AZURE_STORAGE_IS_CDN"} {
		unsetenv(t, v)
	}
	t.Setenv("AZURE_STORAGE_ACCOUNT", AzuriteAccount)
	t.Setenv("AZURE_STORAGE_KEY", AzuriteKey)

	cred, err := azblob.NewSharedKeyCredential(AzuriteAccount, AzuriteKey)
	if err != nil {
		t.Fatalf("backendtest: Azurite credential: %v", err)
	}
	cc, err := container.NewClientWithSharedKeyCredential(
		fmt.Sprintf("http://%s/%s/%s", domain, AzuriteAccount, Bucket), cred, nil)
	if err != nil {
		t.Fatalf("backendtest: Azurite container client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cc.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		t.Fatalf("backendtest: create Azurite container %s: %v", Bucket, err)
	}

	q := url.Values{}
	q.Set("localemu", "true")
	q.Set("protocol", "http")
	q.Set("domain", domain)
	return "azblob://" + Bucket + "?" + q.Encode()
}

// findAzurite looks for azurite-blob where the ways of installing it put it.
func findAzurite() (string, error) {
	if p := os.Getenv(EnvAzurite); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("%s=%s is not an executable file", EnvAzurite, p)
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p, nil
	}
	var candidates []string
	if out, err := exec.Command("npm", "prefix", "-g").Output(); err == nil {
		candidates = append(candidates, filepath.Join(strings.TrimSpace(string(out)), "bin", "azurite-blob"))
	}
	if out, err := exec.Command("npm", "root", "-g").Output(); err == nil {
		candidates = append(candidates, filepath.Join(strings.TrimSpace(string(out)), ".bin", "azurite-blob"))
	}
	if root, err := testkit.ModuleRoot(); err == nil {
		candidates = append(candidates,
			filepath.Join(root, ".tmp", "node", "node_modules", ".bin", "azurite-blob"),
			filepath.Join(root, "node_modules", ".bin", "azurite-blob"))
	}
	for _, c := range candidates {
		if isExecutable(c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("azurite-blob is not on PATH nor in %s", strings.Join(candidates, ", "))
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

var (
	helpMu    sync.Mutex
	helpCache = map[string]string{}
)

// azuriteHasFlag reports whether this Azurite knows flag; older releases
// reject options they do not know.
func azuriteHasFlag(bin, flag string) bool {
	helpMu.Lock()
	defer helpMu.Unlock()
	h, ok := helpCache[bin]
	if !ok {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, _ := exec.CommandContext(ctx, bin, "--help").CombinedOutput()
		h = string(out)
		helpCache[bin] = h
	}
	return strings.Contains(h, flag)
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no output: %v)", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	if len(b) == 0 {
		return "(no output)"
	}
	return string(b)
}
