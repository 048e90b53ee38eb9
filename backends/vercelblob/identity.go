package vercelblob

import (
	"net/url"

	"github.com/shizuku-labs/archiver/backends"
)

// Identity is the canonical identity of the store a vercelblob:// URL
// names (see backends.Identity): the store of the token in the
// environment, since the URL's host is only a label, and the API endpoint
// when VERCEL_BLOB_API_URL moves it off the default. So vercelblob://,
// vercelblob://archives?access=private and the default with no bucket URL
// at all are one location, and two tokens of different stores are two.
// It never contains the token's secret.
func Identity(u *url.URL) (string, error) {
	opts, err := (&URLOpener{}).options(u)
	if err != nil {
		return "", err
	}
	o, err := resolve(&opts)
	if err != nil {
		return "", err
	}
	storeID, err := parseToken(o.Token)
	if err != nil {
		return "", err
	}
	ep := backends.Endpoint(o.APIURL)
	if ep == backends.Endpoint(DefaultAPIURL) {
		ep = ""
	}
	return backends.Location{Scheme: Scheme, Bucket: storeID, Endpoint: ep, CaseSensitive: true}.String(), nil
}
