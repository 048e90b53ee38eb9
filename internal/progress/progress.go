// Package progress draws a one-line live progress display for long archive
// and restore runs on an interactive terminal.
//
// It is for people watching a terminal only: logs, cron mail and CI output
// get nothing from it, which is why a disabled Display writes no byte at all.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// redrawInterval caps the redraw rate: fast enough to look live, slow enough
// that a run over thousands of small days does not spend its time painting.
const redrawInterval = 200 * time.Millisecond

// clearLine returns the cursor to column 0 and erases the old line, so a
// shorter line leaves no tail of the previous one.
const clearLine = "\r\x1b[2K"

// Enabled reports whether a progress display belongs on f: only when f is a
// terminal, the user did not pass --no-progress (disabled), the terminal can
// handle escape sequences (TERM is not "dumb") and the process is not running
// under CI, whose log viewers show every redraw as a line of its own.
func Enabled(f *os.File, disabled bool) bool {
	if disabled || f == nil {
		return false
	}
	if os.Getenv("TERM") == "dumb" {
		return false
	}
	if _, ci := os.LookupEnv("CI"); ci {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// Display is a live progress line. All methods are safe for concurrent use,
// and a nil *Display does nothing.
type Display struct {
	w       io.Writer
	enabled bool
	now     func() time.Time

	mu       sync.Mutex
	total    int
	unit     string
	done     int
	readings int64
	bytes    int64
	start    time.Time
	lastLine string
	running  bool
	stop     chan struct{}
	stopped  chan struct{}
}

// New returns a Display writing to w. When enabled is false the Display
// never writes to w.
func New(w io.Writer, enabled bool) *Display {
	return &Display{w: w, enabled: enabled, now: time.Now}
}

// Start begins a run over total units (e.g. 40 "days") and starts redrawing.
// total <= 0 means the total is unknown: no ETA is shown. Starting again
// resets the counters.
func (d *Display) Start(total int, unit string) {
	if d == nil || !d.enabled {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.total, d.unit = total, unit
	d.done, d.readings, d.bytes = 0, 0, 0
	d.start = d.now()
	d.lastLine = ""
	if d.running {
		return
	}
	d.running = true
	d.stop = make(chan struct{})
	d.stopped = make(chan struct{})
	go d.loop(d.stop, d.stopped)
}

// Add records progress: done more units finished, with their readings and
// bytes. It never writes itself; the redraw loop picks the numbers up.
func (d *Display) Add(done int, readings, bytes int64) {
	if d == nil || !d.enabled {
		return
	}
	d.mu.Lock()
	d.done += done
	d.readings += readings
	d.bytes += bytes
	d.mu.Unlock()
}

// Finish draws the final state, ends the line and stops the redraw loop.
// It returns only after the loop has exited, and is safe to call twice.
func (d *Display) Finish() {
	if d == nil || !d.enabled {
		return
	}
	d.mu.Lock()
	if !d.running {
		d.mu.Unlock()
		return
	}
	d.running = false
	stop, stopped := d.stop, d.stopped
	d.mu.Unlock()

	close(stop)
	<-stopped

	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastLine = ""
	d.drawLocked()
	_, _ = io.WriteString(d.w, "\n")
}

func (d *Display) loop(stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	t := time.NewTicker(redrawInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			d.mu.Lock()
			d.drawLocked()
			d.mu.Unlock()
		}
	}
}

// drawLocked skips identical lines so an idle terminal is not rewritten five
// times a second. Write errors are ignored: a broken progress line must not
// fail the run it describes.
func (d *Display) drawLocked() {
	line := d.renderLocked()
	if line == d.lastLine {
		return
	}
	d.lastLine = line
	_, _ = io.WriteString(d.w, clearLine+line)
}

func (d *Display) renderLocked() string {
	elapsed := d.now().Sub(d.start)
	var b strings.Builder
	if d.total > 0 {
		fmt.Fprintf(&b, "%s %d/%d", d.unit, d.done, d.total)
	} else {
		fmt.Fprintf(&b, "%s %d", d.unit, d.done)
	}
	fmt.Fprintf(&b, "  readings %s  bytes %s", Count(d.readings), Bytes(d.bytes))
	if elapsed >= time.Second {
		fmt.Fprintf(&b, "  %s/s", Bytes(int64(float64(d.bytes)/elapsed.Seconds())))
	}
	switch {
	case d.total <= 0:
	case d.done >= d.total:
		fmt.Fprintf(&b, "  done in %s", Duration(elapsed))
	case d.done > 0:
		remaining := time.Duration(float64(elapsed) * float64(d.total-d.done) / float64(d.done))
		fmt.Fprintf(&b, "  ETA %s", Duration(remaining))
	default:
		b.WriteString("  ETA --")
	}
	return b.String()
}
