package cloud

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"gocloud.dev/blob/azureblob"

	"github.com/shizuku-labs/archiver/backends"
)

// bucketOnly refuses a path after an object store's bucket: gocloud
// ignores it, so s3://bucket/archiver/ would write to the bucket's root
// while its user believes otherwise.
func bucketOnly(u *url.URL) error {
	if strings.Trim(u.Path, "/") != "" {
		return fmt.Errorf("%s URLs name a bucket, not a path in it: the path %q would be ignored; write %s://%s?prefix=%s/ to keep the archives under it",
			u.Scheme, u.Path, u.Scheme, u.Host, strings.Trim(u.Path, "/"))
	}
	if u.Host == "" {
		return fmt.Errorf("%s URL names no bucket: write %s://bucket-name", u.Scheme, u.Scheme)
	}
	return nil
}

// s3Identity: the bucket, and the endpoint when one is set (an
// S3-compatible store; AWS's own endpoints are the default).
func s3Identity(u *url.URL) (string, error) {
	if err := bucketOnly(u); err != nil {
		return "", err
	}
	q := u.Query()
	ep := q.Get("endpoint")
	if ep != "" {
		full := ep
		if !strings.Contains(full, "://") {
			full = "https://" + full
		}
		if eu, err := url.Parse(full); err != nil || eu.Host == "" {
			return "", fmt.Errorf("endpoint= is not a URL such as https://host:port (it is not shown, as it may hold credentials)")
		}
	}
	for _, env := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		if ep == "" {
			ep = os.Getenv(env)
		}
	}
	return backends.Location{Scheme: u.Scheme, Bucket: u.Host, Prefix: q.Get("prefix"), Endpoint: backends.Endpoint(ep)}.String(), nil
}

// gcsIdentity: the bucket, and the emulator when one is set.
func gcsIdentity(u *url.URL) (string, error) {
	if err := bucketOnly(u); err != nil {
		return "", err
	}
	return backends.Location{Scheme: u.Scheme, Bucket: u.Host, Prefix: u.Query().Get("prefix"), Endpoint: backends.Endpoint(os.Getenv("STORAGE_EMULATOR_HOST"))}.String(), nil
}

// azureIdentity: the container, and the account's service address (from
// the URL options or the environment, as gocloud's opener finds it).
func azureIdentity(u *url.URL) (string, error) {
	if err := bucketOnly(u); err != nil {
		return "", err
	}
	o := azureblob.NewDefaultServiceURLOptions()
	o.SASToken = "" // a credential, and not where the objects live
	q := u.Query()
	if v := q.Get("storage_account"); v != "" {
		o.AccountName = v
	}
	if v := q.Get("domain"); v != "" {
		o.StorageDomain = v
	}
	if v := q.Get("protocol"); v != "" {
		o.Protocol = v
	}
	if v := q.Get("localemu"); v != "" {
		o.IsLocalEmulator = v == "true" || v == "1"
	}
	if v := q.Get("cdn"); v != "" {
		o.IsCDN = v == "true" || v == "1"
	}
	ep := ""
	if o.AccountName != "" {
		if svc, err := azureblob.NewServiceURL(o); err == nil {
			ep = backends.Endpoint(string(svc))
		}
	}
	if ep == "" {
		return "", fmt.Errorf("no Azure storage account: set AZURE_STORAGE_ACCOUNT (or AZURE_STORAGE_CONNECTION_STRING, or storage_account= in the URL)")
	}
	return backends.Location{Scheme: u.Scheme, Bucket: u.Host, Prefix: q.Get("prefix"), Endpoint: ep}.String(), nil
}
