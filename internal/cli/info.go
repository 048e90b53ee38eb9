package cli

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/shizuku-labs/archiver/backends"
)

func versionCommand(b Build) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print version, commit and Go version",
		Description: `The version and commit are set at build time (make build, deploy/Dockerfile).

Examples:
   archiver version`,
		Action: func(c *cli.Context) error {
			printVersion(c.App.Writer, b)
			return nil
		},
	}
}

func printVersion(w io.Writer, b Build) {
	fmt.Fprintf(w, "archiver %s\ncommit %s\n%s %s/%s\n", b.Version, b.Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func backendsCommand() *cli.Command {
	return &cli.Command{
		Name:  "backends",
		Usage: "list the storage backends, a URL example and the credentials each reads",
		Description: `The bucket URL (--bucket, ARCHIVER_BUCKET, storage.bucket) picks the backend by
its scheme. Credentials always come from the environment, never from the URL.
With no bucket URL, the backend whose variables are set (DEFAULT WHEN SET)
is used: Vercel Blob, for the original service's VERCEL_BLOB_RW_TOKEN.

Examples:
   archiver backends`,
		Action: func(c *cli.Context) error {
			w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "SCHEME\tEXAMPLE\tCREDENTIALS\tDEFAULT WHEN SET\tDESCRIPTION")
			dash := func(s []string) string {
				if len(s) == 0 {
					return "-"
				}
				return strings.Join(s, ", ")
			}
			for _, b := range backends.List() {
				fmt.Fprintf(w, "%s://\t%s\t%s\t%s\t%s\n", b.Scheme, b.Example, dash(b.Credentials), dash(b.Implicit), b.Description)
			}
			return w.Flush()
		},
	}
}
