package archive

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// errBudget stops the raw purge between batches when the budget is spent.
var errBudget = errors.New(reasonBudget)

// reasonBudget is why days are left when the run-time budget is spent.
const reasonBudget = "run-time budget (archive.max_runtime) spent"

// overBudget reports whether the run has used up Options.MaxRuntime.
func (r *Runner) overBudget() bool {
	return r.Opts.MaxRuntime > 0 && r.clock().Now().Sub(r.started) >= r.Opts.MaxRuntime
}

// beforeDay runs the throttles that gate the start of a day and returns
// why the day must be left for the next run, or "" to go ahead.
func (r *Runner) beforeDay(ctx context.Context, log *slog.Logger) string {
	if ctx.Err() != nil {
		return ""
	}
	if r.overBudget() {
		r.budgetOnce.Do(func() {
			log.Info("run-time budget spent: no new day starts; the days left are pending for the next run",
				"max_runtime", r.Opts.MaxRuntime.String(), "elapsed", r.clock().Now().Sub(r.started).Round(time.Millisecond).String())
		})
		return reasonBudget
	}
	if !r.Opts.DryRun {
		if reason := r.waitForReplicas(ctx); reason != "" {
			return reason
		}
	}
	return ""
}

// lagRetries is how often a day rolled back for replica lag is tried again
// in the same run; after that it is pending for the next run.
const lagRetries = 3

// purges reports whether this worker runs the raw purge: unsharded, or
// shard 0 (one purge is enough, and parallel purges would only contend).
func (r *Runner) purges() bool { return r.Opts.ShardCount <= 1 || r.Opts.ShardIndex == 0 }

// shardDays keeps the days that are this worker's shard.
func (r *Runner) shardDays(days []measure.Day) []measure.Day {
	var out []measure.Day
	for _, d := range days {
		n := int64(r.Opts.ShardCount)
		if (dayNumber(d)%n+n)%n == int64(r.Opts.ShardIndex) { // days before 1970 too
			out = append(out, d)
		}
	}
	return out
}

// dayNumber is the day's number of days since 1970-01-01 UTC.
func dayNumber(d measure.Day) int64 { return d.Start().Unix() / 86400 }
