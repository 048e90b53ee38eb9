package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shizuku-labs/archiver/internal/postgres"
)

// reasonLag is why a day is left when a pause for replica lag outlasts it.
const reasonLag = "replica lag (archive.max_replica_lag)"

// errLagged rolls a day back when the replica lag crosses the limit while
// the day is in progress: its transaction must not stay open through the
// pause. The day is retried once the replicas have caught up.
var errLagged = errors.New("replica lag crossed archive.max_replica_lag during the day: rolled back, retried after the pause")

// maxSamples bounds the WAL samples kept for a replica that never catches
// up; the oldest are dropped, so its lag reads as at least their age.
const maxSamples = 100_000

// lagMonitor measures, on the primary, how far the replicas are behind.
// pg_stat_replication.replay_lag cannot be trusted for it: it is computed
// from replies that stop when replay is paused or stuck, and then reads
// stale (0.44 s with 19 MB of WAL behind) or NULL. So the monitor samples
// (clock, pg_current_wal_lsn()) every interval, and a replica's lag is the
// age of the oldest sample its position has not passed: the WAL written
// since then is what it still has to replay. The monitor's goroutine also
// decides when a pause starts and ends, so that each is logged once however
// many days wait.
type lagMonitor struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	limit    time.Duration
	interval time.Duration
	names    []string

	mu        sync.Mutex
	samples   []postgres.WALSample // oldest first
	lag       time.Duration
	who       string // the replica furthest behind
	paused    bool
	pauseFrom time.Time
	pausedFor time.Duration // total of ended pauses
	errLogged bool

	stop chan struct{}
	done chan struct{}
}

// startLagMonitor checks that the role can see the replicas' positions,
// takes the first sample and starts sampling.
func startLagMonitor(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, limit time.Duration, names []string) (*lagMonitor, error) {
	role, ok, err := postgres.CanReadReplication(ctx, pool)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("archive.max_replica_lag is set, but role %q cannot see the replicas' positions in pg_stat_replication "+
			"(they read NULL without pg_monitor or pg_read_all_stats), so the run would never see a replica fall behind: refusing to run; "+
			"GRANT pg_monitor TO %s, or unset archive.max_replica_lag (ARCHIVER_MAX_REPLICA_LAG, --max-replica-lag)", role, role)
	}
	m := &lagMonitor{
		pool: pool, log: log, limit: limit, names: names,
		// Lag is known to within one interval.
		interval: min(max(limit/10, 10*time.Millisecond), time.Second),
		stop:     make(chan struct{}), done: make(chan struct{}),
	}
	if err := m.poll(ctx); err != nil {
		return nil, err
	}
	unknown, err := postgres.UnknownReplicas(ctx, pool, names)
	if err != nil {
		return nil, err
	}
	if len(unknown) > 0 {
		// Not refused: a consumer without a slot may be away for now.
		log.Warn(fmt.Sprintf("archive.replicas names %s, which no client streaming from the primary (application_name) "+
			"and no replication slot is called: not waited for until one is; check the spelling against "+
			"pg_stat_replication.application_name and pg_replication_slots.slot_name", strings.Join(unknown, ", ")),
			"replicas", strings.Join(unknown, ","))
	}
	go m.run(ctx)
	return m, nil
}

func (m *lagMonitor) run(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.poll(ctx); err != nil && ctx.Err() == nil {
				m.mu.Lock()
				first := !m.errLogged
				m.errLogged = true
				m.mu.Unlock()
				if first {
					// The last measurement stands until one succeeds.
					m.log.Warn("cannot measure replica lag; keeping the last measurement", "err", err)
				}
			}
		}
	}
}

// Stop ends sampling and returns the total time paused.
func (m *lagMonitor) Stop() time.Duration {
	if m == nil {
		return 0
	}
	close(m.stop)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	total := m.pausedFor
	if m.paused {
		total += time.Since(m.pauseFrom)
	}
	return total
}

// poll takes a sample and recomputes the lag.
func (m *lagMonitor) poll(ctx context.Context) error {
	s, err := postgres.SampleWAL(ctx, m.pool)
	if err != nil {
		return err
	}
	reps, err := postgres.Replicas(ctx, m.pool, m.names)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.samples); n == 0 || m.samples[n-1].LSN < s.LSN {
		m.samples = append(m.samples, s) // no new WAL, no new sample: the older one says more
	}
	if len(m.samples) > maxSamples {
		m.samples = m.samples[len(m.samples)-maxSamples:]
	}
	lag, who := time.Duration(0), ""
	minLSN := s.LSN
	for _, r := range reps {
		// replay_lag is a lower bound only while there is WAL left to
		// replay: for a replica that has caught up it can read stale.
		l := r.ReplayLag
		if r.LSN >= s.LSN {
			l = 0
		}
		if r.LSN >= 0 {
			// The oldest sample beyond the replica's position.
			i := sort.Search(len(m.samples), func(i int) bool { return m.samples[i].LSN > r.LSN })
			if i < len(m.samples) {
				l = max(l, s.At.Sub(m.samples[i].At))
			}
			minLSN = min(minLSN, r.LSN)
		}
		if l > lag || who == "" {
			lag, who = l, r.Name
			if r.Slot {
				who = "replication slot " + r.Name + " (nobody connected)"
			}
		}
	}
	// Samples every replica has passed say nothing more; the newest is
	// kept as the start of what comes next.
	i := sort.Search(len(m.samples), func(i int) bool { return m.samples[i].LSN > minLSN })
	if i > 0 {
		m.samples = append(m.samples[:0], m.samples[i-1:]...)
	}
	m.lag, m.who = lag, who
	now := time.Now()
	switch {
	case lag > m.limit && !m.paused:
		m.paused, m.pauseFrom = true, now
		m.log.Warn(fmt.Sprintf("Pausing: replica %s is %s behind, more than archive.max_replica_lag %s; no day starts until it catches up",
			who, lag.Round(time.Millisecond), m.limit), "replica", who, "lag", lag.String())
	case lag <= m.limit && m.paused:
		m.paused = false
		d := now.Sub(m.pauseFrom)
		m.pausedFor += d
		m.log.Info(fmt.Sprintf("Resuming: replicas caught up (lag %s) after a pause of %s", lag.Round(time.Millisecond), d.Round(time.Millisecond)),
			"paused", d.String())
	}
	return nil
}

// over reports whether the lag is beyond the limit now.
func (m *lagMonitor) over() bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.paused
}

// wait holds the caller (with no transaction open and no lock held) until
// the replicas are within the limit. It returns the reason to leave the
// day for the next run instead ("" to go ahead): the run-time budget ran
// out during the pause, which counts against it.
func (r *Runner) waitForReplicas(ctx context.Context) string {
	m := r.lag
	for m.over() {
		if r.overBudget() {
			return reasonBudget
		}
		if err := r.clock().Sleep(ctx, m.interval); err != nil {
			return ""
		}
	}
	return ""
}

// checkLag is called inside a day, before work that writes WAL: crossing
// the limit rolls the day back (errLagged) rather than holding its
// transaction open through the pause.
func (r *Runner) checkLag() error {
	if r.lag.over() {
		return errLagged
	}
	return nil
}

// replicaNames splits the configured list of replicas to wait for.
func replicaNames(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}
