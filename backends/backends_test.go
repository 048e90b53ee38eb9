package backends_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"gocloud.dev/blob"

	"github.com/shizuku-labs/archiver/backends"
	_ "github.com/shizuku-labs/archiver/backends/cloud"
	"github.com/shizuku-labs/archiver/internal/secret"
)

// leakyOpener fails the way careless third-party openers do: by quoting the
// whole URL, and its password, in the error.
type leakyOpener struct{}

func (leakyOpener) OpenBucketURL(_ context.Context, u *url.URL) (*blob.Bucket, error) {
	pw, _ := u.User.Password()
	return nil, fmt.Errorf("cannot open %s: login with password %q refused; query was %s", u, pw, u.RawQuery)
}

func init() {
	backends.Register(backends.Backend{
		Scheme:      "leaky",
		Description: "test backend whose errors quote their URL",
		Example:     "leaky://bucket",
		Opener:      leakyOpener{},
	})
}

func TestUnknownSchemeListsKnownOnes(t *testing.T) {
	_, err := backends.Open(t.Context(), "ftp://archiver:hunter2@example.com/archives")
	if err == nil {
		t.Fatal("opening an ftp:// URL succeeded")
	}
	msg := err.Error()
	for _, want := range []string{`"ftp"`, "known schemes", "azblob", "file", "gs", "mem", "s3"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %s", msg, want)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error repeats the password: %q", msg)
	}
}

func TestMalformedURLs(t *testing.T) {
	for _, tc := range []struct {
		url, want string
	}{
		{"", "empty bucket URL"},
		{"   ", "empty bucket URL"},
		{"/var/lib/archives", "has no scheme"},
		{"my-bucket", "has no scheme"},
		{"s3://bucket/%zz", "malformed bucket URL"},
		{"://bucket", "malformed bucket URL"},
		{"s3://ak:hunter2@bucket/%zz", "malformed bucket URL"},
	} {
		_, err := backends.Open(t.Context(), tc.url)
		if err == nil {
			t.Errorf("Open(%q) succeeded", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %q, want it to say %q", tc.url, err, tc.want)
		}
		if !strings.Contains(err.Error(), "known schemes") {
			t.Errorf("Open(%q) = %q: should tell which schemes exist", tc.url, err)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) error repeats the password: %q", tc.url, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct {
		in       string
		keep     []string // must still be visible
		secrets  []string // must be gone
		sameAsIn bool
	}{
		{in: "s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/archives", keep: []string{"AKIAEXAMPLE", "bucket/archives"}, secrets: []string{"wJalrXUtnFEMI"}},
		{in: "s3://bucket?region=eu-central-1&endpoint=http://127.0.0.1:9000&use_path_style=true", sameAsIn: true},
		{in: "gs://bucket", sameAsIn: true},
		// A user name alone is often a token (https://TOKEN@host).
		{in: "https://ghp_T0K3Nabc@host/dir", keep: []string{"host/dir"}, secrets: []string{"T0K3N"}},
		// Nested URLs: s3's endpoint, in any encoding.
		{in: "s3://b?endpoint=http://AKID:NeStEdSeCrEt@minio:9000&region=x", keep: []string{"endpoint=", "minio", "region=x"}, secrets: []string{"NeStEdSeCrEt", "NeSt"}},
		{in: "s3://b?endpoint=http%3A%2F%2FAKID%3ANeStEdSeCrEt%40minio%3A9000", keep: []string{"minio"}, secrets: []string{"NeStEdSeCrEt", "NeSt"}},
		{in: "s3://b?endpoint=http://AKID:Ne@St#Ed@minio:9000", secrets: []string{"Ne@St", "St#Ed"}},
		{in: "s3://b?endpoint=http://AKID:NeSt%zzEd@minio:9000", secrets: []string{"NeSt", "zzEd"}},
		{in: "x://b?auth=A1xyz&pwd=P2xyz&session_id=S3xyz", secrets: []string{"A1xyz", "P2xyz", "S3xyz"}},
		{in: "gs://bucket?prefix=archiver/", sameAsIn: true},
		{in: "azblob://c?sas_token=sv%3D2022%26sig%3DabcSECRET", keep: []string{"sas_token"}, secrets: []string{"abcSECRET"}},
		{in: "s3://b?secret_key=SK1&access_key=AK1", keep: []string{"secret_key", "access_key"}, secrets: []string{"SK1", "AK1"}},
		{in: "x://b?password=P1&Token=T1&X-Amz-Signature=S1&sig=S2&credentials=C1", secrets: []string{"P1", "T1", "S1", "S2", "C1"}},
		{in: "x://b?api_key=K1&region=us-east-1", keep: []string{"region=us-east-1"}, secrets: []string{"K1"}},
	} {
		got := backends.Redact(tc.in)
		if tc.sameAsIn {
			if got != tc.in {
				t.Errorf("Redact(%q) = %q, want it unchanged", tc.in, got)
			}
			continue
		}
		for _, k := range tc.keep {
			if !strings.Contains(got, k) {
				t.Errorf("Redact(%q) = %q lost %q", tc.in, got, k)
			}
		}
		for _, s := range tc.secrets {
			if strings.Contains(got, s) {
				t.Errorf("Redact(%q) = %q still shows %q", tc.in, got, s)
			}
		}
	}
}

func TestRedactNeverEchoesUnparsableURLs(t *testing.T) {
	for _, in := range []string{
		"s3://ak:hunter2@bucket/%zz",
		"s3://bucket?x=1\x7fhunter2",
		"ht tp://user:hunter2@host",
	} {
		got := backends.Redact(in)
		if strings.Contains(got, "hunter2") || got == in {
			t.Errorf("Redact(%q) = %q echoes an unparsable URL", in, got)
		}
	}
}

func TestOpenErrorsDoNotContainSecrets(t *testing.T) {
	for _, tc := range []struct {
		url     string
		secrets []string
	}{
		{"leaky://archiver:hunter2@bucket/x", []string{"hunter2"}},
		{"leaky://bucket?token=TOKEN123&region=x", []string{"TOKEN123"}},
		// A real opener: s3blob rejects the parameter and quotes the URL.
		{"s3://bucket?secret_key=S3CR3T", []string{"S3CR3T"}},
		// Percent-encoded secrets, which an opener may quote as written.
		{"leaky://bucket?sas_token=sv%3D2022%26sig%3DSIG456", []string{"SIG456"}},
		{"leaky://archiver:p%40ss@bucket", []string{"p%40ss", "p@ss"}},
	} {
		_, err := backends.Open(t.Context(), tc.url)
		if err == nil {
			t.Errorf("Open(%q) succeeded", tc.url)
			continue
		}
		for _, s := range tc.secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("Open(%q) error shows %q: %v", tc.url, s, err)
			}
		}
	}
}

// The opener's error stays in the chain, redacted: errors.Is and errors.As
// reach it, its text never shows the secret.
func TestOpenKeepsErrorChain(t *testing.T) {
	_, err := backends.Open(t.Context(), "chain://bucket?region=x")
	if !errors.Is(err, errChain) {
		t.Fatalf("errors.Is lost the opener's error: %v", err)
	}
	var ce *chainError
	if !errors.As(err, &ce) {
		t.Fatalf("errors.As lost the opener's error: %v", err)
	}
	// An error that quotes a secret stays out of reach of errors.As: a
	// caller that printed what it found would print the secret (issue 10).
	_, err = backends.Open(t.Context(), "chain://bucket?token=hunter2")
	if !errors.Is(err, errChain) {
		t.Fatalf("errors.Is lost the opener's error: %v", err)
	}
	if errors.As(err, &ce) {
		t.Errorf("errors.As reached an error that shows the token: %v", ce)
	}
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "bucket refused") {
		t.Errorf("error text %q", err)
	}
}

var errChain = errors.New("bucket refused")

type chainError struct{ q string }

func (e *chainError) Error() string { return "query " + e.q + ": " + errChain.Error() }
func (e *chainError) Unwrap() error { return errChain }

type chainOpener struct{}

func (chainOpener) OpenBucketURL(_ context.Context, u *url.URL) (*blob.Bucket, error) {
	return nil, &chainError{q: u.RawQuery}
}

func init() {
	backends.Register(backends.Backend{Scheme: "chain", Description: "test backend with a typed error", Opener: chainOpener{}})
}

func TestRegisterPanicsOnDuplicateAndIncomplete(t *testing.T) {
	mustPanic := func(name string, b backends.Backend) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: Register did not panic", name)
			}
		}()
		backends.Register(b)
	}
	mustPanic("duplicate", backends.Backend{Scheme: "mem", Opener: leakyOpener{}})
	mustPanic("no opener", backends.Backend{Scheme: "nothing"})
	mustPanic("no scheme", backends.Backend{Opener: leakyOpener{}})
}

func TestLookupAndList(t *testing.T) {
	b, u, err := backends.Lookup("mem://")
	if err != nil || b.Scheme != "mem" || u.Scheme != "mem" {
		t.Fatalf("Lookup(mem://) = %v, %v, %v", b.Scheme, u, err)
	}
	list := backends.List()
	for i := 1; i < len(list); i++ {
		if list[i-1].Scheme >= list[i].Scheme {
			t.Fatalf("List not sorted by scheme: %s before %s", list[i-1].Scheme, list[i].Scheme)
		}
	}
	bucket, err := backends.Open(t.Context(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	if err := bucket.WriteAll(t.Context(), "k", []byte("v"), nil); err != nil {
		t.Fatal(err)
	}
}

// TestOpenErrorChainRedacted: a caller that prints any error of the chain
// Open returns (errors.Unwrap, as %w keeps it) sees no secret, nested
// URLs' included.
func TestOpenErrorChainRedacted(t *testing.T) {
	_, err := backends.Open(t.Context(), "leaky://user:hunter2pw@bucket?endpoint="+url.QueryEscape("http://AKID:NeStEdSeCrEt@h:1")+"&token=T0K3Nvalue")
	if err == nil {
		t.Fatal("the leaky opener succeeded")
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		for _, s := range []string{"hunter2pw", "NeStEdSeCrEt", "T0K3Nvalue", "NeStEd%40", "hunter2"} {
			if strings.Contains(e.Error(), s) {
				t.Errorf("an error of the chain shows %q: %v", s, e)
			}
		}
	}
}

// TestVercelTokenSecretIsItsTail: of a Vercel Blob token in a bucket URL
// only the random tail is secret. The whole token as a secret masked every
// "vercel" of the output ("bucket URL xxxxxxxxxx:?token=xxxxx: …
// credentials do not belong in a xxxxxxxxxx URL"), as its prefix and store
// id are the scheme's and the store's names.
func TestVercelTokenSecretIsItsTail(t *testing.T) {
	const tail = "S3cr3tPartXYZqwe"
	got := backends.Secrets("vercelblob://?token=vercel_blob_rw_Store9_" + tail)
	if !slices.Contains(got, tail) {
		t.Errorf("secrets %q lack the token's secret tail", got)
	}
	msg := "credentials do not belong in a vercelblob URL: set VERCEL_BLOB_RW_TOKEN (store Store9)"
	if out := secret.Scrub(msg, got); out != msg {
		t.Errorf("message garbled: %s", out)
	}
	if out := secret.Scrub("token "+tail, got); strings.Contains(out, tail[:secret.MinRun]) {
		t.Errorf("the secret tail survived: %s", out)
	}
}
