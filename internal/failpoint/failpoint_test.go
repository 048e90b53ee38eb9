package failpoint

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The kill action is tested in a child process: it must die by SIGKILL.
func TestKillAction(t *testing.T) {
	if os.Getenv("FAILPOINT_CHILD") == "1" {
		_ = Inject("x.before")
		_ = Inject("x.kill") // dies on the 2nd hit, not the 1st
		_ = Inject("x.kill")
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillAction$")
	cmd.Env = append(os.Environ(), "FAILPOINT_CHILD=1", EnvVar+"=x.kill=kill@2")
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != -1 || !strings.Contains(string(out), "failpoint x.kill") {
		t.Fatalf("child was not killed: %v\n%s", err, out)
	}
}

func TestErrorActionAndUnsetPoints(t *testing.T) {
	once.Do(func() {}) // keep load from running; set the table by hand
	m := map[string]*point{"y.err": {action: "error"}}
	points.Store(&m)
	defer points.Store(nil)
	if err := Inject("y.err"); err == nil || !strings.Contains(err.Error(), "y.err") {
		t.Errorf("error action: %v", err)
	}
	if err := Inject("not.set"); err != nil {
		t.Errorf("unset point: %v", err)
	}
}

func BenchmarkInjectOff(b *testing.B) {
	for b.Loop() {
		_ = Inject("archive.after-upload")
	}
}
