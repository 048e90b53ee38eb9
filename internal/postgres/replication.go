package postgres

import (
	"context"
	"fmt"
	"time"
)

// WALSample is the primary's WAL position at a moment of its clock.
type WALSample struct {
	At  time.Time
	LSN int64 // bytes since 0/0
}

// SampleWAL reads the primary's current WAL position and clock.
func SampleWAL(ctx context.Context, q Querier) (WALSample, error) {
	var s WALSample
	if err := q.QueryRow(ctx, `SELECT clock_timestamp(), (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8`).Scan(&s.At, &s.LSN); err != nil {
		return s, fmt.Errorf("read the WAL position: %w", err)
	}
	return s, nil
}

// Replica is one consumer of the primary's WAL whose lag counts.
type Replica struct {
	Name string // application_name of a connected standby, or slot name
	Slot bool   // a replication slot with nobody connected
	// LSN is how far it has got: a standby's replay position (its flush
	// position when it replays nothing, as a logical consumer; the
	// position it wrote when it reports no flush either, as pg_receivewal
	// without a slot), a slot's confirmed (logical) or restart position;
	// -1 when not known yet.
	LSN int64
	// ReplayLag is pg_stat_replication.replay_lag, which goes stale (or
	// NULL) when replay is paused or stuck: a lower bound only.
	ReplayLag time.Duration
}

// Replicas lists the WAL consumers that the archiver waits for: connected
// physical standbys (not pg_receivewal or pg_basebackup, which never
// replay), physical replication slots nobody is connected to (a standby
// that went away but will come back for the WAL), and whatever is named in
// names (application_name or slot name: a logical subscriber, a
// pg_receivewal).
func Replicas(ctx context.Context, q Querier, names []string) ([]Replica, error) {
	if names == nil {
		names = []string{}
	}
	rows, err := q.Query(ctx, `
		SELECT r.application_name, false,
		       COALESCE((COALESCE(r.replay_lsn, r.flush_lsn, r.write_lsn) - '0/0'::pg_lsn)::int8, -1),
		       COALESCE(extract(epoch FROM r.replay_lag)::float8, 0)
		FROM pg_stat_replication r
		LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid
		WHERE (s.slot_type IS DISTINCT FROM 'logical' AND r.application_name NOT IN ('pg_receivewal', 'pg_basebackup'))
		   OR r.application_name = ANY($1) OR s.slot_name = ANY($1)
		UNION ALL
		SELECT s.slot_name, true,
		       COALESCE((COALESCE(s.confirmed_flush_lsn, s.restart_lsn) - '0/0'::pg_lsn)::int8, -1), 0
		FROM pg_replication_slots s
		WHERE NOT s.active AND (s.slot_type = 'physical' OR s.slot_name = ANY($1))
		  AND s.restart_lsn IS NOT NULL`, names)
	if err != nil {
		return nil, fmt.Errorf("read replication state (pg_stat_replication, pg_replication_slots): %w", err)
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		var r Replica
		var lag float64
		if err := rows.Scan(&r.Name, &r.Slot, &r.LSN, &lag); err != nil {
			return nil, fmt.Errorf("read replication state: %w", err)
		}
		r.ReplayLag = time.Duration(lag * float64(time.Second))
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read replication state: %w", err)
	}
	return out, nil
}

// UnknownReplicas returns the names that are neither the application_name
// of a client streaming from the primary nor a replication slot: a typo in
// archive.replicas, or a consumer that is away and keeps no slot.
func UnknownReplicas(ctx context.Context, q Querier, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, `
		SELECT n FROM unnest($1::text[]) n
		WHERE n NOT IN (SELECT application_name FROM pg_stat_replication)
		  AND n NOT IN (SELECT slot_name FROM pg_replication_slots)
		ORDER BY array_position($1::text[], n)`, names)
	if err != nil {
		return nil, fmt.Errorf("read replication state (pg_stat_replication, pg_replication_slots): %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("read replication state: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read replication state: %w", err)
	}
	return out, nil
}

// CanReadReplication reports whether the session's role sees the
// positions in pg_stat_replication: a superuser or a member of
// pg_read_all_stats (which pg_monitor includes). Anyone else reads NULL
// positions, and a lag limit would never see a standby fall behind.
func CanReadReplication(ctx context.Context, q Querier) (string, bool, error) {
	var role string
	var ok bool
	err := q.QueryRow(ctx, `SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) OR pg_has_role('pg_read_all_stats', 'USAGE')`).Scan(&role, &ok)
	if err != nil {
		return "", false, fmt.Errorf("check the role's access to pg_stat_replication: %w", err)
	}
	return role, ok, nil
}
