package restore

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/archivestore"
	"github.com/shizuku-labs/archiver/internal/logging"
	"github.com/shizuku-labs/archiver/internal/manifest"
	"github.com/shizuku-labs/archiver/internal/measure"
)

// prefetched is a day read ahead of its transaction: its archive located,
// read to the end, verified as far as the decoder goes, and encoded and
// sorted into the one window of binary COPY rows it fits in. A day's COPY
// cannot start before its window is sorted, so without the read-ahead
// PostgreSQL waits for the decoder at the start of every day (some 40 ms
// of a 250 ms COPY of 144,000 readings); with it, the next day is decoded
// while the current one is copied, on the other core.
//
// Nothing of the database is touched: the day is locked, checked (rows of
// the day in the target, the manifest still the latest, the column types
// unchanged) and its archive compared with the manifest in its
// transaction as before, and anything unexpected discards the read-ahead
// for the ordinary path, which reads the archive again after the lock.
type prefetched struct {
	m   *manifest.Entry // found by locate before the archive was read
	err error           // locate's: the day fails with it

	ar       *archivefile.Reader
	closeObj func()
	src      *copySource
	rows     *binRows // nil: nothing read ahead
}

// usable reports whether the read-ahead can be copied into a target whose
// columns now have types oids.
func (p *prefetched) usable(oids []uint32) bool {
	if p == nil || p.rows == nil || len(oids) != len(p.rows.oids) {
		return false
	}
	for i := range oids {
		if oids[i] != p.rows.oids[i] {
			return false
		}
	}
	return true
}

// discard gives the read-ahead up (its window kept for another day); the
// manifest found stays. It may be called more than once.
func (p *prefetched) discard() {
	if p == nil || p.rows == nil {
		return
	}
	p.rows.release()
	p.closeObj()
	p.ar, p.closeObj, p.src, p.rows = nil, nil, nil, nil
}

// prefetcher reads the days ahead, in order, one day ahead of the workers:
// the windows in use are one per worker and one more. The workers' first
// days are theirs to read, all at once, rather than one after another by
// the prefetcher while the workers wait.
type prefetcher struct {
	first  int                // the first day read ahead
	slots  []chan *prefetched // day i's read-ahead
	room   chan struct{}      // a token per day read ahead and not yet taken
	cancel context.CancelFunc
	done   chan struct{}
}

// startPrefetch starts reading the days ahead, or returns nil when there
// is nothing to gain or the target cannot be described (the days then
// report the problem themselves).
func (r *Restorer) startPrefetch(ctx context.Context, log *slog.Logger, days []measure.Day, opts Options) *prefetcher {
	// Only a day copied straight in, in time order, waits for its window:
	// into a keyed table rows go in as they come (see loadDirect).
	if opts.DryRun || !r.Target.Layout().Original() || r.key != "" {
		return nil
	}
	conn, err := r.Pool.Acquire(ctx)
	if err != nil {
		return nil
	}
	oids, err := describe(ctx, conn.Conn().PgConn(), pgx.Identifier(r.Target.Name), r.Target.Columns())
	conn.Release()
	if err != nil {
		return nil
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &prefetcher{first: max(1, r.Concurrency), slots: make([]chan *prefetched, len(days)), room: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	for i := range p.slots {
		p.slots[i] = make(chan *prefetched, 1)
	}
	go func() {
		defer close(p.done)
		m := pgtype.NewMap() // the producer's own: a Map is not safe for concurrent use
		for i := p.first; i < len(days); i++ {
			select {
			case p.room <- struct{}{}:
			case <-pctx.Done():
				return
			}
			p.slots[i] <- r.prefetch(pctx, log, days[i], m, oids)
		}
	}()
	return p
}

// get returns day i's read-ahead, waiting for it; nil if the run ends
// first.
func (p *prefetcher) get(ctx context.Context, i int) *prefetched {
	if p == nil || i < p.first {
		return nil
	}
	select {
	case pf := <-p.slots[i]:
		<-p.room
		return pf
	case <-p.done: // stopped early
	case <-ctx.Done():
	}
	select {
	case pf := <-p.slots[i]:
		<-p.room
		return pf
	default:
		return nil
	}
}

// stop ends the read-ahead and discards what was not taken.
func (p *prefetcher) stop() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
	for _, s := range p.slots {
		select {
		case pf := <-s:
			pf.discard()
		default:
		}
	}
}

// prefetch locates day d and reads it ahead if it fits one window.
func (r *Restorer) prefetch(ctx context.Context, log *slog.Logger, d measure.Day, tm *pgtype.Map, oids []uint32) *prefetched {
	key := archivestore.Key(r.Prefix, d)
	log = log.With(logging.Context("day", d.String()), logging.Context("key", key))
	pf := &prefetched{}
	if pf.m, pf.err = r.locate(ctx, log, d, key); pf.err != nil {
		return pf
	}
	// A day that cannot fit one window (see minRowBytes) is
	// read after its lock as before: the rest of its object would wait
	// unread on a storage connection that may not wait that long.
	if pf.m != nil && pf.m.Readings != nil && *pf.m.Readings*minRowBytes > sortWindow {
		return pf
	}
	// A day the target holds rows of goes through a staging table, which
	// takes the rows as they come. The day's transaction asks again.
	var empty bool
	if err := r.Pool.QueryRow(ctx, dayEmptySQL(r.Target), d.Start(), d.End()).Scan(&empty); err != nil || !empty {
		return pf
	}
	ar, closeObj, err := r.open(ctx, d, key, pf.m)
	if err != nil {
		return pf // opened again, and reported, in the day's transaction
	}
	src := newCopySource(ar)
	src.strict, src.keyed = true, r.key != ""
	rows := newBinRows(src, tm, oids, r.key == "")
	if !rows.prefill() {
		rows.release()
		closeObj()
		return pf
	}
	pf.ar, pf.closeObj, pf.src, pf.rows = ar, closeObj, src, rows
	return pf
}

// minRowBytes is the least a reading takes as a binary COPY row of the
// original schema: the field count, five lengths, a time and a sensor id
// of one byte (the values NULL).
const minRowBytes = 2 + 5*4 + 8 + 1
