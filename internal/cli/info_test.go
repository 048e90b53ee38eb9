package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/shizuku-labs/archiver/internal/cli"
)

func runMain(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), append([]string{"archiver"}, args...), &out, &errOut, cli.Build{Version: "v9.8.7", Commit: "abc1234"})
	return code, out.String(), errOut.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runMain("version")
	for _, want := range []string{"v9.8.7", "abc1234", runtime.Version()} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("version output lacks %q (exit %d):\n%s", want, code, out)
		}
	}
}

func TestBackendsListsEverySchemeWithCredentials(t *testing.T) {
	code, out, _ := runMain("backends")
	for _, want := range []string{"vercelblob://", "s3://", "gs://", "azblob://", "file://", "mem://", "VERCEL_BLOB_RW_TOKEN", "AWS_ACCESS_KEY_ID"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("backends output lacks %q:\n%s", want, out)
		}
	}
}

// TestHelpShowsEnvironmentVariables: every flag's --help line names its
// environment variable, and every command has a description with examples.
func TestHelpShowsEnvironmentVariables(t *testing.T) {
	_, out, _ := runMain("archive", "--help")
	for _, want := range []string{"--bucket", "[$ARCHIVER_BUCKET]", "--clean-retention-days", "[$ARCHIVER_CLEAN_RETENTION_DAYS]", "[$DATABASE_URL]", "Examples:"} {
		if !strings.Contains(out, want) {
			t.Errorf("archive --help lacks %q", want)
		}
	}
	app := cli.New(io.Discard, io.Discard, cli.Build{})
	for _, cmd := range app.Commands {
		paths := [][]string{{cmd.Name}}
		for _, sub := range cmd.Subcommands {
			paths = append(paths, []string{cmd.Name, sub.Name})
		}
		for _, path := range paths {
			_, out, _ := runMain(append(path, "--help")...)
			if !strings.Contains(out, "DESCRIPTION") || !strings.Contains(out, "Examples:") {
				t.Errorf("%s --help lacks a description with examples:\n%s", strings.Join(path, " "), out)
			}
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		code, out, _ := runMain("completion", shell)
		if code != 0 || !strings.Contains(out, "--generate-bash-completion") {
			t.Errorf("completion %s: exit %d\n%s", shell, code, out)
		}
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		_, out, _ := runMain("completion", "bash")
		if b, err := exec.Command(bash, "-n", "-c", out).CombinedOutput(); err != nil {
			t.Errorf("bash script does not parse: %v\n%s", err, b)
		}
	}
	if code, _, errOut := runMain("completion", "fish"); code != cli.ExitUsage || !strings.Contains(errOut, "bash or zsh") {
		t.Errorf("unknown shell: exit %d: %s", code, errOut)
	}
	// The binary answers completion requests with its commands. (urfave/cli
	// reads os.Args for this, so it takes a real process.)
	b, err := exec.Command(archiverBinary(t), "--generate-bash-completion").Output()
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, want := range []string{"archive", "migrate", "backends"} {
		if !strings.Contains(out, want) {
			t.Errorf("completion candidates lack %q:\n%s", want, out)
		}
	}
}

// TestJSONLogs: with --log-format json every line is a JSON object, and the
// run summary is one record with the statistics as fields.
func TestJSONLogs(t *testing.T) {
	h := newHarness(t)
	h.mustRun("migrate", "up")
	h.insertClean(sample(h.today(), 32, 31, 2))
	r := h.mustRun("archive", "--log-format", "json")
	var summary map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if rec["msg"] == "Archiver Service Complete" {
			summary = rec
		}
	}
	if summary == nil || summary["clean_archived"] != float64(48) || summary["archives_created"] != float64(1) {
		t.Errorf("summary record: %v", summary)
	}
}
