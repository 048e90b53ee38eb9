package archive

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// rateLimiter paces the rows a run removes (raw rows purged plus clean rows
// archived and deleted, Options.MaxRowsPerSecond) so that WAL, replication
// and I/O see a steady stream rather than bursts. It is a token bucket
// filled at rate rows a second and holding at most half a second's worth,
// and work goes in chunks of at most half a second's worth: no more than
// about a second's worth of rows ever goes in one burst, even after a
// pause (an upload, a wait for a lock) has left the bucket full. Rows are
// accounted after each statement, by what it removed; a statement that
// overdraws the bucket is followed by a wait that pays it back. The
// average over the run is at most rate.
type rateLimiter struct {
	clock Clock
	rate  float64 // rows a second
	cap   float64 // most tokens the bucket holds
	chunk int     // rows per statement

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newRateLimiter(c Clock, rowsPerSecond int) *rateLimiter {
	half := max(1, rowsPerSecond/2)
	return &rateLimiter{clock: c, rate: float64(rowsPerSecond), cap: float64(half), chunk: half, last: c.Now()}
}

// took accounts for n rows removed and waits, if the bucket is overdrawn,
// until it is paid back. Concurrent callers queue: each overdraws the
// bucket further and waits for its own share.
func (l *rateLimiter) took(ctx context.Context, n int64) error {
	if l == nil || n <= 0 {
		return ctx.Err()
	}
	l.mu.Lock()
	now := l.clock.Now()
	l.tokens = min(l.cap, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n)
	wait := time.Duration(0)
	if l.tokens < 0 {
		wait = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	l.mu.Unlock()
	return l.clock.Sleep(ctx, wait)
}

// batch is the number of rows one statement may remove: at most the
// limiter's chunk when there is one.
func (l *rateLimiter) batch(n int) int {
	if l == nil {
		return n
	}
	return max(1, min(n, l.chunk))
}

// deleteRows deletes the day's rows in its transaction: in one statement
// when no rate is set, else in batches paced by the limiter. The batches
// are all in the day's transaction, so the day still commits (rows gone,
// manifest recorded) or rolls back as one; only the statements are cut
// small, so that the WAL they write streams out at the rate. The
// transaction lasts longer for it: the rate is the cost of that.
func (r *Runner) deleteRows(ctx context.Context, tx pgx.Tx, d measure.Day) (int64, error) {
	if r.limiter == nil && r.lag == nil {
		return r.Clean.DeleteDay(ctx, tx, d)
	}
	// With a replica lag limit, batches are where a day can stop when the
	// lag crosses it.
	limit := r.limiter.batch(lagBatch)
	from := d.Start()
	var total int64
	for batches := 1; ; batches++ {
		n, last, err := r.Clean.DeleteDayBatch(ctx, tx, d, from, limit)
		if err != nil {
			return total, err
		}
		total += n
		if err := r.limiter.took(ctx, n); err != nil {
			return total, err
		}
		if err := r.checkLag(); err != nil {
			return total, err
		}
		if n < int64(limit) || last.IsZero() {
			r.Log.Debug("deleted the day's rows in paced batches, in its transaction", "day", d.String(), "rows", total, "batches", batches)
			return total, nil
		}
		from = last
	}
}

// lagBatch is the batch of a day's DELETE with a replica lag limit and no
// rate.
const lagBatch = 100_000

// paceRows accounts for n rows removed at once (a truncated partition) in
// chunks, so that the run's average stays at the rate.
func (r *Runner) paceRows(ctx context.Context, n int64) error {
	if r.limiter == nil {
		return nil
	}
	for n > 0 {
		c := min(n, int64(r.limiter.chunk))
		if err := r.limiter.took(ctx, c); err != nil {
			return err
		}
		n -= c
	}
	return nil
}
