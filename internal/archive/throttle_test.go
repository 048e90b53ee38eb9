package archive

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock whose Sleep advances its time instead of waiting,
// and records every sleep.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
		c.sleeps = append(c.sleeps, d)
	}
	return ctx.Err()
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestRateLimiterPacesSmoothly: 100k rows at 1000 rows/s in statements of
// the limiter's batch size take 100 s of (fake) time, less at most the
// bucket's half second, and no one-second window holds more than about a
// second's worth, however the work arrives.
func TestRateLimiterPacesSmoothly(t *testing.T) {
	c := newFakeClock()
	l := newRateLimiter(c, 1000)
	if b := l.batch(5000); b != 500 {
		t.Fatalf("batch(5000) = %d, want half a second's worth, 500", b)
	}
	start := c.Now()
	type event struct {
		at time.Time
		n  int64
	}
	var events []event
	const total = 100_000
	for done := int64(0); done < total; {
		n := int64(l.batch(5000))
		events = append(events, event{c.Now(), n}) // the statement runs now
		done += n
		if err := l.took(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := c.Now().Sub(start)
	if elapsed < 99*time.Second || elapsed > 101*time.Second {
		t.Errorf("%d rows at 1000/s took %v, want about 100s", total, elapsed)
	}
	for i := range events {
		var inWindow int64
		for j := i; j < len(events) && events[j].at.Sub(events[i].at) < time.Second; j++ {
			inWindow += events[j].n
		}
		if inWindow > 1000 {
			t.Fatalf("%d rows in the second from %v: bursty", inWindow, events[i].at.Sub(start))
		}
	}
}

// TestRateLimiterCreditIsCapped: a long pause (an upload) does not bank
// credit for a burst afterwards: at most half a second's worth goes
// without a wait.
func TestRateLimiterCreditIsCapped(t *testing.T) {
	c := newFakeClock()
	l := newRateLimiter(c, 1000)
	c.advance(time.Hour)
	var free int64
	for {
		before := len(c.sleeps)
		if err := l.took(context.Background(), 100); err != nil {
			t.Fatal(err)
		}
		if len(c.sleeps) > before {
			break
		}
		free += 100
	}
	if free > 500 {
		t.Errorf("%d rows went without a wait after an hour's pause, want at most 500", free)
	}
}

// TestRateLimiterSharedByWorkers: concurrent days share one rate.
func TestRateLimiterSharedByWorkers(t *testing.T) {
	c := newFakeClock()
	l := newRateLimiter(c, 2000)
	start := c.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if err := l.took(context.Background(), 200); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	// 4 x 50 x 200 = 40000 rows at 2000/s: 20 s, less the half second of
	// credit; the fake sleeps add up rather than overlap, so more is fine
	// as long as the average never beats the rate.
	if el := c.Now().Sub(start); el < 19*time.Second {
		t.Errorf("40000 rows at 2000/s from four workers took %v, want at least 19.5s", el)
	}
}

// TestBudget: the run-time budget is spent once the clock passes it, and
// then every day is left pending.
func TestBudget(t *testing.T) {
	c := newFakeClock()
	r := &Runner{Clock: c, Opts: Options{MaxRuntime: time.Minute}}
	r.started = c.Now()
	if reason := r.beforeDay(context.Background(), discardLog()); reason != "" {
		t.Fatalf("day refused at the start: %s", reason)
	}
	c.advance(time.Minute)
	if reason := r.beforeDay(context.Background(), discardLog()); reason != reasonBudget {
		t.Fatalf("after the budget: %q, want %q", reason, reasonBudget)
	}
	r.Opts.MaxRuntime = 0
	if reason := r.beforeDay(context.Background(), discardLog()); reason != "" {
		t.Fatalf("no budget: %q", reason)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
