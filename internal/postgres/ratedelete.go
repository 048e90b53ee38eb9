package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// DeleteDayBatch deletes, in q's transaction, up to limit rows of day d
// whose time is at or after from, oldest first, and returns how many it
// deleted and the time of the last row it chose (the from of the next
// batch; zero when none was left). Called until it deletes fewer than
// limit, it deletes what DeleteDay deletes, in pieces that a rate limit
// can pace. Each batch starts its index scan at from, so that the rows
// already deleted by this transaction (still in the index) are not walked
// again by every later batch.
func (t CleanTable) DeleteDayBatch(ctx context.Context, q Querier, d measure.Day, from time.Time, limit int) (int64, time.Time, error) {
	tbl, ts := ident(t.Name), t.timeCol()
	// ctid = ANY(ARRAY(...)) is a TID scan. A ctid is unique only within
	// one partition, so the day's predicate is repeated: a ctid that also
	// matches a row of another partition of the same day deletes a row
	// that is the day's too, and counted once, as DeleteDay would.
	sql := `WITH b AS MATERIALIZED (SELECT ctid, ` + ts + ` AS t FROM ` + tbl + ` WHERE ` + ts + ` >= $1 AND ` + ts + ` < $2 AND ` + ts + ` >= $3 ORDER BY ` + ts + ` LIMIT $4),
		del AS (DELETE FROM ` + tbl + ` WHERE ctid = ANY(ARRAY(SELECT ctid FROM b)) AND ` + ts + ` >= $1 AND ` + ts + ` < $2 RETURNING 1)
		SELECT (SELECT count(*) FROM del), (SELECT max(t) FROM b)`
	var n int64
	var last *time.Time
	if err := q.QueryRow(ctx, sql, d.Start(), d.End(), from, limit).Scan(&n, &last); err != nil {
		return 0, time.Time{}, fmt.Errorf("delete archived rows of %s on %s: %w", t, d, err)
	}
	if last == nil {
		return n, time.Time{}, nil
	}
	return n, *last, nil
}
