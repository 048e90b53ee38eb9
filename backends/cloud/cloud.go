// Package cloud registers gocloud.dev's own bucket drivers with the backends
// registry. Import it for its side effect.
package cloud

import (
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"

	"github.com/shizuku-labs/archiver/backends"
)

func init() {
	backends.Register(backends.Backend{
		Scheme:      fileblob.Scheme,
		Description: "a local or mounted directory",
		Example:     "file:///var/lib/archiver/archives",
		Opener:      &fileblob.URLOpener{Options: fileblob.Options{CreateDir: true}},
	})
	backends.Register(backends.Backend{
		Scheme:      memblob.Scheme,
		Description: "process memory; for tests and dry experiments only, lost on exit",
		Example:     "mem://",
		Opener:      &memblob.URLOpener{},
	})
}
