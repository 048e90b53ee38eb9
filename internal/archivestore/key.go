package archivestore

import (
	"strings"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// KeyPrefix is what every archive key under prefix starts with ("" or
// "<prefix>/", slashes around prefix trimmed): the prefix to list them by.
func KeyPrefix(prefix string) string {
	if p := strings.Trim(prefix, "/"); p != "" {
		return p + "/"
	}
	return ""
}

// Key returns the object key of the day's archive:
// "<prefix>/YYYY/MM/archive-YYYY-MM-DD.json.gz". Slashes around prefix are
// trimmed; an empty prefix gives a key without a leading slash.
func Key(prefix string, d measure.Day) string {
	b := append(make([]byte, 0, len(prefix)+40), KeyPrefix(prefix)...)
	ds := d.Append(make([]byte, 0, 10))
	if len(ds) != 10 {
		// Out-of-range years have no fixed-width key; still give something
		// unique rather than panicking.
		b = append(b, ds...)
		b = append(b, '/')
	} else {
		b = append(b, ds[0:4]...)
		b = append(b, '/')
		b = append(b, ds[5:7]...)
		b = append(b, '/')
	}
	b = append(b, "archive-"...)
	b = append(b, ds...)
	b = append(b, ".json.gz"...)
	return string(b)
}

// ParseKey is the inverse of Key: it reports the day only for a key of
// exactly Key's shape under prefix (same year/month directories as the
// day in the file name), so a listing can be mapped to days without
// picking up stray objects.
func ParseKey(prefix, key string) (measure.Day, bool) {
	p := strings.Trim(prefix, "/")
	rest := key
	if p != "" {
		if !strings.HasPrefix(rest, p) || len(rest) <= len(p) || rest[len(p)] != '/' {
			return measure.Day{}, false
		}
		rest = rest[len(p)+1:]
	}
	// "YYYY/MM/archive-YYYY-MM-DD.json.gz"
	const shape = "YYYY/MM/archive-YYYY-MM-DD.json.gz"
	if len(rest) != len(shape) || !strings.HasPrefix(rest[8:], "archive-") || !strings.HasSuffix(rest, ".json.gz") {
		return measure.Day{}, false
	}
	d, err := measure.ParseDay(rest[16:26])
	if err != nil {
		return measure.Day{}, false
	}
	if Key(p, d) != key {
		return measure.Day{}, false
	}
	return d, true
}
