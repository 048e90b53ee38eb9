// Command vercelblob-testserver runs the in-memory Vercel Blob fake of
// package vercelblobtest, for trying the archiver or the @vercel/blob SDK
// without a Vercel account:
//
//	vercelblob-testserver -addr 127.0.0.1:8787 -token vercel_blob_rw_teststore_secret -access public
//
// Like a Vercel Blob store it has one access, -access public or private
// (default private), and refuses writes that ask for the other. It prints
// the VERCEL_BLOB_API_URL to export and the store's VERCEL_BLOB_BASE_URL.
// -stale-reads makes a public store answer plain GETs of overwritten blobs
// with the copy first served, as Vercel's CDN may; -request-log prints one
// line per request to stderr. Data lives in memory only.
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
	access := fs.String("access", vercelblobtest.AccessPrivate, "the store's access: public or private")
	stale := fs.Bool("stale-reads", false, "public store: serve plain GETs from a modelled CDN that keeps the first copy served for its max-age")
	reqLog := fs.Bool("request-log", false, "print one line per request to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !tokenRE.MatchString(*token) {
		return errors.New("-token must look like vercel_blob_rw_<storeId>_<secret> (letters and digits)")
	}
	if *access != vercelblobtest.AccessPublic && *access != vercelblobtest.AccessPrivate {
		return fmt.Errorf("-access %q: want public or private", *access)
	}
	opts := []vercelblobtest.Option{vercelblobtest.WithAccess(*access)}
	if *stale {
		opts = append(opts, vercelblobtest.WithStaleReads())
	}
	if *reqLog {
		opts = append(opts, vercelblobtest.WithRequestLog(os.Stderr))
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	s := vercelblobtest.New(*token, opts...)
	s.SetMinPartSize(*minPart)
	s.SetURL("http://" + ln.Addr().String())
	fmt.Printf("VERCEL_BLOB_API_URL=%s\n", s.APIURL)
	fmt.Printf("VERCEL_BLOB_BASE_URL=%s\n", s.ContentBase())
	fmt.Printf("store %s, %s access\n", s.StoreID(), s.Access())
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	return srv.Serve(ln)
}
