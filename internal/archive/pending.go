package archive

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shizuku-labs/archiver/internal/postgres"
)

// DefaultLockTimeout is the lock timeout when Options.LockTimeout is 0.
const DefaultLockTimeout = 5 * time.Second

func (r *Runner) lockTimeout() time.Duration {
	if r.Opts.LockTimeout > 0 {
		return r.Opts.LockTimeout
	}
	return DefaultLockTimeout
}

// pendingReason says why a day that stopped with err is pending rather than
// failed, or "" when it failed. A day that could not get a lock in time
// (the application held one: an UPDATE or SELECT ... FOR UPDATE of its
// rows, a migration's ALTER TABLE) is not broken: the next run, a day
// later, finds the locks gone. Failing it instead would alert, and for a
// table the application locks every night it would fail forever.
func pendingReason(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return ""
	}
	if errors.Is(err, errLagged) {
		return reasonLag
	}
	if errors.Is(err, errBudget) {
		return reasonBudget
	}
	if postgres.IsLockTimeout(err) {
		return "lock timeout (the application held a lock on the day's rows or table for longer than database.lock_timeout)"
	}
	return ""
}

// pendingCounts tallies the reasons of pending days, for the summary.
func pendingCounts(days []DayResult) map[string]int {
	out := map[string]int{}
	for _, d := range days {
		if d.Status == StatusPending {
			out[shortReason(d.Reason)]++
		}
	}
	return out
}

// shortReason is the first words of a reason, before any explanation in
// parentheses.
func shortReason(reason string) string {
	for i := range len(reason) {
		if reason[i] == '(' && i > 0 {
			return reason[:i-1]
		}
	}
	return reason
}

// PendingSummary is the pending days of s as "N (2 lock timeout, 1 run-time
// budget)", or "" when none.
func PendingSummary(s Summary) string {
	if s.Pending == 0 {
		return ""
	}
	counts := pendingCounts(s.Days)
	text := fmt.Sprint(s.Pending)
	sep := " ("
	for _, reason := range []string{"lock timeout", "run-time budget", "replica lag"} {
		if n := counts[reason]; n > 0 {
			text += fmt.Sprintf("%s%d %s", sep, n, reason)
			sep = ", "
		}
	}
	if sep == ", " {
		text += ")"
	}
	return text
}
