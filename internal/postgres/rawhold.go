package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// finite is the predicate that keeps ±infinity out of "newest reading":
// a row stamped 'infinity' was never cleaned at that time, and counting it
// would release every raw row.
func finite(col string) string {
	return col + ` > '-infinity' AND ` + col + ` < 'infinity'`
}

// NewestReading returns the time of the newest clean reading with a finite
// time, or nil if the table has none. It is one probe of the time index.
func (t CleanTable) NewestReading(ctx context.Context, q Querier) (*time.Time, error) {
	var newest *time.Time
	err := q.QueryRow(ctx, `SELECT max(`+t.timeCol()+`) FROM `+ident(t.Name)+` WHERE `+finite(t.timeCol())).Scan(&newest)
	if err != nil {
		return nil, fmt.Errorf("find the newest reading of %s: %w", t, err)
	}
	if newest != nil {
		u := newest.UTC()
		newest = &u
	}
	return newest, nil
}

// HasSensorTimeIndex reports whether the table has a valid btree index
// whose first two columns are (sensor, time): it answers "newest reading
// of this sensor" with one probe, which is what makes a per-sensor hold of
// the raw purge cheap.
func (t CleanTable) HasSensorTimeIndex(ctx context.Context, q Querier) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
		JOIN pg_attribute s ON s.attrelid = i.indrelid AND s.attname = $2 AND NOT s.attisdropped
		JOIN pg_attribute ts ON ts.attrelid = i.indrelid AND ts.attname = $3 AND NOT ts.attisdropped
		WHERE i.indrelid = to_regclass($1) AND i.indisvalid AND i.indpred IS NULL
		  AND i.indkey[0] = s.attnum AND i.indkey[1] = ts.attnum)`,
		ident(t.Name), t.Sensor, t.Time).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look for an index on (%s, %s) of %s: %w", t.Sensor, t.Time, t, err)
	}
	return ok, nil
}

// SameSensorType reports whether the raw table has column col, and
// whether it has the type of the clean table's sensor column (so that
// comparing them uses the clean table's index, and cannot fail).
func (t RawTable) SameSensorType(ctx context.Context, q Querier, col string, clean CleanTable) (has, same bool, err error) {
	var rawType, cleanType *string
	err = q.QueryRow(ctx, `SELECT
		(SELECT atttypid::regtype::text FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped),
		(SELECT atttypid::regtype::text FROM pg_attribute WHERE attrelid = to_regclass($3) AND attname = $4 AND attnum > 0 AND NOT attisdropped)`,
		ident(t.Name), col, ident(clean.Name), clean.Sensor).Scan(&rawType, &cleanType)
	if err != nil {
		return false, false, fmt.Errorf("check columns of %s: %w", t, err)
	}
	return rawType != nil, rawType != nil && cleanType != nil && *rawType == *cleanType, nil
}

// Hold keeps raw rows that the cleaning pipeline has not reached yet out of
// the purge (raw.require_clean): a raw row is purged only if it is no newer
// than the newest clean reading, that of its own sensor when PerSensor is
// set and the sensor has one, else the table's (Watermark).
type Hold struct {
	Watermark time.Time // the clean table's newest finite reading
	PerSensor bool
	Sensor    string // raw table's sensor column (PerSensor)
	Clean     CleanTable
}

// predicate is the hold's condition on the raw row alias a; the
// table-wide watermark is the parameter wm ("$3").
func (h *Hold) predicate(a, rawTime, wm string) string {
	col := a + `.` + rawTime
	if !h.PerSensor {
		return col + ` <= ` + wm
	}
	ct := `c.` + h.Clean.timeCol()
	return col + ` <= COALESCE((SELECT max(` + ct + `) FROM ` + ident(h.Clean.Name) + ` c WHERE c.` +
		pgx.Identifier{h.Clean.Sensor}.Sanitize() + ` = ` + a + `.` + pgx.Identifier{h.Sensor}.Sanitize() +
		` AND ` + finite(ct) + `), ` + wm + `)`
}

// PurgeRawHeld is PurgeRaw with hold applied (nil: no hold).
func (t RawTable) PurgeRawHeld(ctx context.Context, q Querier, cutoff time.Time, hold *Hold, batch int, afterBatch func(int64) error) (int64, error) {
	if hold == nil {
		return t.PurgeRaw(ctx, q, cutoff, batch, afterBatch)
	}
	tbl, col := ident(t.Name), pgx.Identifier{t.TimeColumn}.Sanitize()
	// As in PurgeRaw, the predicates are repeated outside the subquery
	// because a ctid is unique only within one partition: the hold's too,
	// or a held row of another partition could share a purged row's ctid.
	sql := `DELETE FROM ` + tbl + ` o WHERE o.ctid = ANY(ARRAY(SELECT r.ctid FROM ` + tbl + ` r WHERE r.` + col + ` < $1 AND ` +
		hold.predicate("r", col, "$3") + ` LIMIT $2)) AND o.` + col + ` < $1 AND ` + hold.predicate("o", col, "$3")
	return t.purgeBatches(ctx, q, sql, cutoff, batch, afterBatch, cutoff, batch, hold.Watermark)
}

// CountRawHeld counts the raw rows older than cutoff that hold lets the
// purge delete (nil: all of them), for a dry run.
func (t RawTable) CountRawHeld(ctx context.Context, q Querier, cutoff time.Time, hold *Hold) (int64, error) {
	if hold == nil {
		return t.CountRawBefore(ctx, q, cutoff)
	}
	col := pgx.Identifier{t.TimeColumn}.Sanitize()
	var n int64
	err := q.QueryRow(ctx, `SELECT count(*) FROM `+ident(t.Name)+` r WHERE r.`+col+` < $1 AND `+hold.predicate("r", col, "$2"),
		cutoff, hold.Watermark).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count raw rows of %s: %w", t, err)
	}
	return n, nil
}

// OldestBefore returns the oldest raw reading older than cutoff, or nil:
// after a held purge, the oldest row the hold kept.
func (t RawTable) OldestBefore(ctx context.Context, q Querier, cutoff time.Time) (*time.Time, error) {
	col := pgx.Identifier{t.TimeColumn}.Sanitize()
	var oldest *time.Time
	if err := q.QueryRow(ctx, `SELECT min(`+col+`) FROM `+ident(t.Name)+` WHERE `+col+` < $1 AND `+col+` > '-infinity'`, cutoff).Scan(&oldest); err != nil {
		return nil, fmt.Errorf("find the oldest raw row of %s: %w", t, err)
	}
	if oldest != nil {
		u := oldest.UTC()
		oldest = &u
	}
	return oldest, nil
}
