// Package failpoint lets tests crash or disturb the archiver at named points
// between its steps, to prove that a run killed anywhere converges on the
// next run (docs/DESIGN.md, I3).
//
// Failpoints are set in the environment, read once:
//
//	ARCHIVER_FAILPOINTS="archive.after-upload=kill,purge.after-batch=sleep(2s)"
//
// Actions: kill (SIGKILL this process: no deferred cleanup, no rollback
// message, like a crash or an OOM kill), exit (os.Exit(86)), sleep(D) (pause,
// giving a test time to act, e.g. terminate the connection), error (the
// point returns an error, as a failing step would). An action can be limited
// to the Nth time the point is reached: "archive.after-commit=kill@2".
//
// With the variable unset, Inject is one atomic load and a nil check.
package failpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// EnvVar holds the failpoint settings.
const EnvVar = "ARCHIVER_FAILPOINTS"

type point struct {
	action string
	arg    time.Duration
	nth    int64 // 0: every time
	hits   atomic.Int64
}

var (
	once   sync.Once
	points atomic.Pointer[map[string]*point]
)

func load() {
	spec := os.Getenv(EnvVar)
	if spec == "" {
		return
	}
	m := map[string]*point{}
	for _, item := range strings.Split(spec, ",") {
		name, act, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			panic(fmt.Sprintf("%s: %q is not name=action", EnvVar, item))
		}
		p := &point{}
		if a, n, ok := strings.Cut(act, "@"); ok {
			nth, err := strconv.ParseInt(n, 10, 64)
			if err != nil || nth < 1 {
				panic(fmt.Sprintf("%s: bad count in %q", EnvVar, item))
			}
			act, p.nth = a, nth
		}
		if d, ok := strings.CutPrefix(act, "sleep("); ok {
			dur, err := time.ParseDuration(strings.TrimSuffix(d, ")"))
			if err != nil {
				panic(fmt.Sprintf("%s: bad duration in %q", EnvVar, item))
			}
			act, p.arg = "sleep", dur
		}
		switch act {
		case "kill", "exit", "sleep", "error":
		default:
			panic(fmt.Sprintf("%s: unknown action %q (kill, exit, sleep(D), error)", EnvVar, act))
		}
		p.action = act
		m[name] = p
	}
	points.Store(&m)
}

// Inject runs the failpoint called name, if one is set. It returns an error
// only for the "error" action.
func Inject(name string) error {
	once.Do(load)
	m := points.Load()
	if m == nil {
		return nil
	}
	p := (*m)[name]
	if p == nil {
		return nil
	}
	if hit := p.hits.Add(1); p.nth > 0 && hit != p.nth {
		return nil
	}
	switch p.action {
	case "kill":
		fmt.Fprintf(os.Stderr, "failpoint %s: killing the process\n", name)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	case "exit":
		fmt.Fprintf(os.Stderr, "failpoint %s: exiting\n", name)
		os.Exit(86)
	case "sleep":
		time.Sleep(p.arg)
	case "error":
		return fmt.Errorf("failpoint %s", name)
	}
	return nil
}
