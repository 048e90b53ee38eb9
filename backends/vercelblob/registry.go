package vercelblob

import (
	"context"
	"fmt"
	"strings"

	"gocloud.dev/blob"

	"github.com/shizuku-labs/archiver/backends"
)

// describeToArchiver adds the scheme to the archiver's table of backends;
// buckets are opened through gocloud's default URL mux, where init
// registered the URL opener.
func describeToArchiver() {
	backends.Register(backends.Backend{
		Scheme:      Scheme,
		Description: "Vercel Blob store, public or private (the store's access is found at start)",
		Example:     "vercelblob://",
		Credentials: []string{EnvToken, EnvTokenFallback, EnvAPIURL, EnvBaseURL},
		Implicit:    []string{EnvToken, EnvTokenFallback},
		Check:       check,
		ObjectURL:   objectURL,
		Identity:    Identity,
	})
}

// check finds the store's access before the archiver changes anything, so
// that a contradicting ?access= stops the run at start and not every day.
func check(ctx context.Context, b *blob.Bucket, write bool) (string, error) {
	access, source, err := StoreAccess(ctx, b, write)
	if err != nil {
		return "", err
	}
	var drv *bucket
	b.As(&drv)
	if access == "" {
		return fmt.Sprintf("Vercel Blob store %q: access not known yet: the store is empty, and this run writes nothing to find out (the first write will)", strings.ToLower(drv.storeID)), nil
	}
	return fmt.Sprintf("Vercel Blob store %q: %s access (from %s)", strings.ToLower(drv.storeID), access, source), nil
}

// objectURL is the blob URL of key once the store's content base is known
// (from VERCEL_BLOB_BASE_URL or any API answer, such as the put of key).
// A bucket opened with gocloud's ?prefix= is not seen through: "" then.
func objectURL(b *blob.Bucket, key string) string {
	var drv *bucket
	if !b.As(&drv) {
		return ""
	}
	p := escapeKey(key)
	if validPathname(p) != nil {
		return ""
	}
	u, _, ok := drv.contentURL(p)
	if !ok {
		return ""
	}
	return u
}
