// Command archiver keeps a PostgreSQL measurement database small without
// losing a reading. See README.md, or run `archiver --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	_ "github.com/shizuku-labs/archiver/backends/cloud"      // s3, gs, azblob, file, mem
	_ "github.com/shizuku-labs/archiver/backends/vercelblob" // vercelblob, the default
	"github.com/shizuku-labs/archiver/internal/cli"
)

// Set at build time: -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = "unknown"
)

// gcPercent is the process's garbage collection target. An archive run's
// heap is mostly its day buffers, which live for the whole run and hold no
// pointers (cheap to mark), and it makes little garbage: collecting when the
// heap has grown by a fifth rather than doubled keeps peak memory flat in
// the number of days, at a cost too small to measure. GOGC in the
// environment still decides. It is set here, not in the core packages, so
// that a program embedding them keeps its own setting.
const gcPercent = 20

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	stopProfiles := startProfiles(os.Stderr)
	// SIGTERM is how Kubernetes stops a Job: cancel the run so that the day
	// in progress rolls back (its rows stay) and the exit code says why.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, os.Stdout, os.Stderr, cli.Build{Version: version, Commit: commit})
	stop()
	stopProfiles()
	os.Exit(code)
}
