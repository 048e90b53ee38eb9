package archivestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReadStallTimeout is how long one call that reads an object from
// storage (opening it, or one Read) may go on before the read is abandoned.
//
// Some stores' clients never give up on their own: the GCS client reopens a
// body that keeps breaking off for as long as it likes (a truncating proxy
// made it loop forever), and the S3 client has no request timeout at all. A
// run stuck in such a read would hold its days' locks, so every later run
// would skip those days, and the job would never end.
const DefaultReadStallTimeout = 2 * time.Minute

// guardedReader is an object reader whose context is cancelled when a call
// stalls for longer than its timeout. Only time spent inside a call counts:
// a reader that the merge leaves idle while it consumes database rows is not
// stalled.
type guardedReader struct {
	rd      io.ReadCloser
	cancel  context.CancelFunc
	stall   time.Duration
	since   atomic.Int64 // start of the call in progress, unix nanoseconds; 0 when none
	stalled atomic.Bool
	stop    chan struct{}
	once    sync.Once
}

// OpenRaw opens key for reading under the stall guard: the object's bytes
// as stored, not decoded. Every read of an archive object goes through it.
func (s *Store) OpenRaw(ctx context.Context, key string) (io.ReadCloser, error) {
	stall := s.ReadStallTimeout
	if stall <= 0 {
		stall = DefaultReadStallTimeout
	}
	gctx, cancel := context.WithCancel(ctx)
	g := &guardedReader{cancel: cancel, stall: stall, stop: make(chan struct{})}
	g.since.Store(time.Now().UnixNano())
	go g.watch()
	rd, err := s.Bucket.NewReader(gctx, key, nil)
	g.since.Store(0)
	if err != nil {
		err = g.explain(err)
		g.Close()
		return nil, err
	}
	g.rd = rd
	return g, nil
}

func (g *guardedReader) watch() {
	t := time.NewTicker(max(g.stall/8, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			if s := g.since.Load(); s != 0 && time.Since(time.Unix(0, s)) > g.stall {
				g.stalled.Store(true)
				g.cancel()
				return
			}
		}
	}
}

func (g *guardedReader) Read(p []byte) (int, error) {
	g.since.Store(time.Now().UnixNano())
	n, err := g.rd.Read(p)
	g.since.Store(0)
	if err != nil && !errors.Is(err, io.EOF) {
		err = g.explain(err)
	}
	return n, err
}

func (g *guardedReader) explain(err error) error {
	if g.stalled.Load() {
		return fmt.Errorf("storage stalled: a read made no progress for %v: %w", g.stall, err)
	}
	return err
}

func (g *guardedReader) Close() error {
	g.once.Do(func() { close(g.stop) })
	g.cancel()
	if g.rd != nil {
		return g.rd.Close()
	}
	return nil
}
