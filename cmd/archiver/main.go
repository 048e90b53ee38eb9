// Command archiver keeps a PostgreSQL measurement database small without
// losing a reading. See README.md, or run `archiver --help`.
package main

import (
	"context"
	"os"
	"os/signal"
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

func main() {
	// SIGTERM is how Kubernetes stops a Job: cancel the run so that the day
	// in progress rolls back (its rows stay) and the exit code says why.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, os.Stdout, os.Stderr, cli.Build{Version: version, Commit: commit})
	stop()
	os.Exit(code)
}
