package cloud_test

import (
	"strings"
	"testing"

	"github.com/shizuku-labs/archiver/backends"
	_ "github.com/shizuku-labs/archiver/backends/vercelblob"
)

// TestIdentitySpellings: every spelling of one storage location has one
// identity, and different locations (paths, buckets, endpoints, prefixes,
// Vercel stores, Azure accounts) never share one. Identities hold no
// secret.
func TestIdentitySpellings(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	t.Setenv("AZURE_STORAGE_ACCOUNT", "acct1")
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
	t.Setenv("VERCEL_BLOB_RW_TOKEN", "vercel_blob_rw_storeA_SeCrEtPaRt123")
	t.Setenv("VERCEL_BLOB_API_URL", "")
	id := func(raw string) string {
		t.Helper()
		got, err := backends.Identity(raw)
		if err != nil {
			t.Fatalf("Identity(%s): %v", raw, err)
		}
		for _, secret := range []string{"SeCrEt", "hunter2", "SECRETKEY"} {
			if strings.Contains(got, secret) {
				t.Errorf("Identity(%s) = %s holds a secret", raw, got)
			}
		}
		return got
	}
	dir := t.TempDir()
	same := [][]string{
		{"file://" + dir, "file://" + dir + "/", "file://" + strings.Replace(dir, "/", "//", 2), "file:" + dir,
			"file://localhost" + dir, "file://" + dir + "?no_tmp_dir=1", "file://" + dir + "?create_dir=1&no_tmp_dir=true",
			"file://" + dir + "/./sub/..", "FILE://" + dir},
		{"file://" + dir + "/not/yet", "file://" + dir + "/not//yet/"},
		{"s3://archive", "s3://archive/", "s3://Archive?region=eu-central-1", "s3://archive?use_path_style=true&awssdk=v2"},
		{"s3://archive?endpoint=http://minio:9000", "s3://archive?endpoint=http://KEY:SECRETKEY@MinIO:9000/&region=us-east-1", "s3://archive?endpoint=minio:9000"},
		{"s3://archive?prefix=a/", "s3://archive/?region=x&prefix=a/"},
		{"gs://archive", "gs://archive/"},
		{"azblob://container", "azblob://container?storage_account=acct1", "azblob://container/"},
		{"vercelblob://", "vercelblob://archives", "vercelblob://?access=private", "vercelblob://x?access=public&retries=0"},
	}
	var ids []string
	for _, group := range same {
		want := id(group[0])
		for _, raw := range group[1:] {
			if got := id(raw); got != want {
				t.Errorf("Identity(%s) = %s, Identity(%s) = %s: one location, two identities", group[0], want, raw, got)
			}
		}
		ids = append(ids, want)
	}
	t.Setenv("VERCEL_BLOB_API_URL", "https://vercel.com/api/blob/")
	if got := id("vercelblob://"); got != ids[len(ids)-1] {
		t.Errorf("spelling out the default Vercel API URL changed the identity: %s, want %s", got, ids[len(ids)-1])
	}
	different := []string{
		"file://" + dir + "/other", "s3://archive2", "s3://archive?endpoint=minio:9001", "s3://archive?endpoint=https://r2.example.com",
		"s3://archive?prefix=b/", "s3://archive?prefix=a", "gs://archive2", "azblob://container?storage_account=acct2",
		"azblob://container?localemu=true&protocol=http&domain=127.0.0.1:10000",
	}
	t.Setenv("VERCEL_BLOB_API_URL", "http://127.0.0.1:3000/api/blob")
	ids = append(ids, id("vercelblob://"))
	t.Setenv("VERCEL_BLOB_API_URL", "")
	t.Setenv("VERCEL_BLOB_RW_TOKEN", "vercel_blob_rw_storeB_SeCrEtPaRt123")
	ids = append(ids, id("vercelblob://"))
	t.Setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:4443")
	ids = append(ids, id("gs://archive"))
	for _, raw := range different {
		ids = append(ids, id(raw))
	}
	seen := map[string]bool{}
	for _, i := range ids {
		if seen[i] {
			t.Errorf("two different locations share the identity %s (all: %q)", i, ids)
		}
		seen[i] = true
	}
}

// TestIdentityRefusesMisleadingURLs: a file URL with a host (file://tmp/x
// is /x to the parser) and an object-store URL with a path (ignored by
// gocloud: the archives would land at the bucket's root) are refused.
func TestIdentityRefusesMisleadingURLs(t *testing.T) {
	for raw, want := range map[string]string{
		"file://tmp/archives":    "file:///tmp/archives",
		"file://var/lib/x":       "file:///var/lib/x",
		"s3://bucket/archiver/":  "prefix=archiver/",
		"gs://bucket/a/b":        "prefix=a/b/",
		"file:relative/archives": "three slashes",
	} {
		_, err := backends.Identity(raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Identity(%s) = %v, want an error naming %q", raw, err, want)
		}
	}
}
