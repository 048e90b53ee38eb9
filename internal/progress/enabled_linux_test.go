package progress

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns the terminal side of a new pseudo-terminal, so Enabled can
// be tested on a real terminal without one attached to the test.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	t.Cleanup(func() { slave.Close() })
	return slave
}

func TestEnabledOnTerminal(t *testing.T) {
	tty := openPTY(t)
	for _, tc := range []struct {
		name     string
		term     string
		ci       *string
		disabled bool
		want     bool
	}{
		{name: "interactive", term: "xterm-256color", want: true},
		{name: "no-progress flag", term: "xterm-256color", disabled: true},
		{name: "dumb terminal", term: "dumb"},
		{name: "CI", term: "xterm-256color", ci: ptr("true")},
		{name: "CI set empty", term: "xterm-256color", ci: ptr("")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TERM", tc.term)
			t.Setenv("CI", "")
			if tc.ci == nil {
				os.Unsetenv("CI")
			} else {
				os.Setenv("CI", *tc.ci)
			}
			if got := Enabled(tty, tc.disabled); got != tc.want {
				t.Errorf("Enabled = %v, want %v", got, tc.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }
