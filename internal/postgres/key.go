package postgres

import (
	"context"
	"fmt"
)

// ReadingKey returns the name of the primary key, unique constraint or
// unique index of the clean table whose columns are exactly the sensor and
// time columns, or "" if there is none. Such a key makes (sensor, time) a
// reading's identity: the table cannot hold two readings of one sensor at
// one time, so the table's reading is the current version of the archived
// one with the same key. A partial or expression index, or a key on other
// columns (a surrogate id, or sensor, time and more), does not: the table
// may then hold several readings with one (sensor, time).
func (t CleanTable) ReadingKey(ctx context.Context, q Querier) (string, error) {
	var name *string
	err := q.QueryRow(ctx, `SELECT min(c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
		AND i.indnkeyatts = 2 AND i.indimmediate
		AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
			WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey[0:1]))
			= (SELECT array_agg(x ORDER BY x) FROM unnest(ARRAY[$2::text, $3::text]) x)`,
		ident(t.Name), t.Sensor, t.Time).Scan(&name)
	if err != nil {
		return "", fmt.Errorf("look up the keys of %s: %w", t, err)
	}
	if name == nil {
		return "", nil
	}
	return *name, nil
}
