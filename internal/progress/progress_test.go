package progress

import (
	"bytes"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer lets the test read what the redraw goroutine wrote without a
// data race.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeClock advances only when told to, so ETA and rate are exact.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestDisplay(enabled bool) (*Display, *syncBuffer, *fakeClock) {
	var out syncBuffer
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	d := New(&out, enabled)
	d.now = clock.now
	return d, &out, clock
}

func TestDisabledWritesNothing(t *testing.T) {
	d, out, clock := newTestDisplay(false)
	d.Start(40, "days")
	d.Add(3, 1000, 1<<20)
	clock.advance(time.Minute)
	time.Sleep(2 * redrawInterval)
	d.Finish()
	if out.writes != 0 || out.String() != "" {
		t.Errorf("disabled display wrote %d times: %q", out.writes, out.String())
	}
}

func TestEnabledShowsCountersAndETA(t *testing.T) {
	d, out, clock := newTestDisplay(true)
	d.Start(40, "days")
	d.Add(10, 1_500_000, 150<<20)
	d.Add(2, 230_000, 14<<20+209715)
	clock.advance(24 * time.Second)
	d.Finish()

	got := out.String()
	last := got[strings.LastIndex(got, "\r"):]
	for _, want := range []string{
		"\r\x1b[2K", // redraws in place
		"days 12/40",
		"readings 1.73M",
		"bytes 164.2 MiB",
		"6.8 MiB/s",
		"ETA 56s", // 24s for 12 days, 28 days to go
	} {
		if !strings.Contains(last, want) {
			t.Errorf("final line %q lacks %q", last, want)
		}
	}
	if !strings.HasSuffix(got, "\n") {
		t.Errorf("Finish did not end the line: %q", got)
	}
}

func TestCompletedRunShowsElapsed(t *testing.T) {
	d, out, clock := newTestDisplay(true)
	d.Start(3, "days")
	d.Add(3, 10, 10)
	clock.advance(72 * time.Second)
	d.Finish()
	if got := out.String(); !strings.Contains(got, "days 3/3") || !strings.Contains(got, "done in 1m12s") || strings.Contains(got, "ETA") {
		t.Errorf("output %q, want days 3/3 and done in 1m12s without ETA", got)
	}
}

func TestUnknownTotalAndNoProgressYet(t *testing.T) {
	d, _, _ := newTestDisplay(true)
	d.start = d.now()
	d.unit = "days"
	if got := d.renderLocked(); strings.Contains(got, "ETA") || !strings.HasPrefix(got, "days 0") {
		t.Errorf("unknown total renders %q, want a count and no ETA", got)
	}
	d.total = 5
	if got := d.renderLocked(); !strings.Contains(got, "ETA --") {
		t.Errorf("no progress yet renders %q, want ETA --", got)
	}
}

func TestIdenticalLineNotRedrawn(t *testing.T) {
	d, out, _ := newTestDisplay(true)
	d.unit = "days"
	d.drawLocked()
	d.drawLocked()
	if out.writes != 1 {
		t.Errorf("%d writes for an unchanged line, want 1", out.writes)
	}
}

func TestRedrawLoopRuns(t *testing.T) {
	d, out, _ := newTestDisplay(true)
	d.Start(10, "days")
	d.Add(1, 5, 5)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "days 1/10") {
		if time.Now().After(deadline) {
			d.Finish()
			t.Fatalf("no redraw before Finish; output %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.Finish()
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 5 {
		d, _, _ := newTestDisplay(true)
		d.Start(10, "days")
		d.Start(10, "days") // restarting must not start a second loop
		d.Add(1, 1, 1)
		d.Finish()
		d.Finish()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Finish, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConcurrentAdds(t *testing.T) {
	d, out, _ := newTestDisplay(true)
	d.Start(800, "days")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				d.Add(1, 10, 100)
			}
		}()
	}
	wg.Wait()
	d.Finish()
	if got := out.String(); !strings.Contains(got, "days 800/800") || !strings.Contains(got, "readings 8.00k") {
		t.Errorf("lost updates: %q", got)
	}
}

func TestNilDisplay(t *testing.T) {
	var d *Display
	d.Start(1, "days")
	d.Add(1, 1, 1)
	d.Finish()
}

func TestFinishWithoutStartWritesNothing(t *testing.T) {
	d, out, _ := newTestDisplay(true)
	d.Finish()
	if out.writes != 0 {
		t.Errorf("Finish without Start wrote %q", out.String())
	}
}

func TestEnabledRejectsNonTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Setenv("TERM", "xterm-256color")
	t.Setenv("CI", "") // restores CI after the test
	os.Unsetenv("CI")
	if Enabled(f, false) {
		t.Error("Enabled on a regular file")
	}
	if Enabled(nil, false) {
		t.Error("Enabled on nil")
	}
}
