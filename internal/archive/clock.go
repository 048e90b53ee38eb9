package archive

import (
	"context"
	"fmt"
	"time"
)

// DefaultMaxClockSkew is how far the database's clock and this host's may
// disagree before a run refuses to start.
//
// Cutoffs come from the database's clock, the one the readings were stamped
// with. A run computes "older than now - retention" from it and deletes what
// lies before: a clock running ahead by a day would purge a day of raw
// readings early, and one set years ahead would archive everything. A cutoff
// computed from a single clock can never look wrong by itself (it is always
// before that clock's now), so the guard compares two independent clocks,
// and refuses when they disagree by more than a normal NTP-synchronised pair
// ever does. Whichever of the two is wrong, nothing is changed.
const DefaultMaxClockSkew = 10 * time.Minute

// checkClocks refuses to run when the database's clock (dbNow) and the
// host's (hostNow, read around the same moment) are further apart than max.
func checkClocks(dbNow, hostNow time.Time, max time.Duration) error {
	if max <= 0 {
		max = DefaultMaxClockSkew
	}
	skew := dbNow.Sub(hostNow)
	if skew < 0 {
		skew = -skew
	}
	if skew <= max {
		return nil
	}
	ahead := "ahead of"
	if dbNow.Before(hostNow) {
		ahead = "behind"
	}
	return fmt.Errorf("clock skew: the database's clock (%s) is %s %s this host's (%s), more than the %s allowed; "+
		"cutoffs are computed from the database's clock, and a clock running ahead would purge and archive too early: "+
		"refusing to run; fix the clock that is wrong (NTP) and run again",
		dbNow.UTC().Format(time.RFC3339), skew.Round(time.Second), ahead, hostNow.UTC().Format(time.RFC3339), max)
}

// Clock is the time source of the throttles (the rate limiter, the
// run-time budget, the pauses for replica lag), injected so that tests can
// drive them without waiting. A nil Clock in a Runner is the real one.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, and returns ctx's error then.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Runner) clock() Clock {
	if r.Clock != nil {
		return r.Clock
	}
	return realClock{}
}
