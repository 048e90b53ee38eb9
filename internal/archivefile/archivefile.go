// Package archivefile holds the day archive format: one gzipped JSON document
// per UTC day, in exactly the layout the original Python service wrote, so
// that existing archives and existing readers keep working.
//
//	{"day": "2025-01-15", "data": [{"sensor": "s1", "measurements": [
//	  {"time": "2025-01-15T00:00:00Z", "measurement": 5.2, "qc_flags": 0, "imputation_method": null}]}]}
//
// Writers emit a canonical form (sensors ascending by byte order, readings
// ascending by time, one copy of each reading), so the same set of readings
// always gives the same bytes and the same sha256. Readers accept the
// original service's looser output as well.
package archivefile

// FormatVersion is recorded in every manifest; bump it when the canonical
// encoding changes, because checksums of equal reading sets change with it.
// 2: -0 is written -0.0; numeric, integer and real values exactly; the
// "extra" member; fields of other tools kept. An archive of the original
// types without -0 is byte-identical to version 1.
const FormatVersion = 2

// ContentType is set on uploaded objects. The objects are gzip files, not
// gzip-encoded JSON: a Content-Encoding header would make some stores (GCS)
// decompress on read and the checksum would no longer match.
const ContentType = "application/gzip"

// CacheControl is set on uploaded objects. An archive is replaced when late
// readings are merged into its day, and a public store's CDN may go on
// serving the old copy of a URL for the max-age (Vercel Blob's default is a
// month): five minutes bounds how long someone fetching the public URL can
// see an archive without its late readings. The archiver's own reads never
// use a cached copy (the Vercel Blob driver bypasses the CDN).
const CacheControl = "max-age=300"
