// Command vercelblob-testserver runs the in-memory Vercel Blob fake of
// package vercelblobtest, for trying the archiver or the @vercel/blob SDK
// without a Vercel account:
//
//	vercelblob-testserver -addr 127.0.0.1:8787 -token vercel_blob_rw_teststore_secret
//
// It prints the VERCEL_BLOB_API_URL to export. Data lives in memory only.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"time"

	"github.com/shizuku-labs/archiver/backends/vercelblob/vercelblobtest"
)

var tokenRE = regexp.MustCompile(`^vercel_blob_rw_[A-Za-z0-9]+_[A-Za-z0-9_]+$`)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vercelblob-testserver:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("vercelblob-testserver", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8787", "host:port to listen on")
	token := fs.String("token", "", "read-write token clients must present: vercel_blob_rw_<storeId>_<secret>")
	minPart := fs.Int64("min-part-size", vercelblobtest.DefaultMinPartSize, "minimum multipart part size (all parts but the last)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !tokenRE.MatchString(*token) {
		return errors.New("-token must look like vercel_blob_rw_<storeId>_<secret> (letters and digits)")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	s := vercelblobtest.New(*token)
	s.SetMinPartSize(*minPart)
	s.SetURL("http://" + ln.Addr().String())
	fmt.Printf("VERCEL_BLOB_API_URL=%s\n", s.APIURL)
	fmt.Printf("store %s; content served under %s/content/\n", s.StoreID(), s.URL)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	return srv.Serve(ln)
}
