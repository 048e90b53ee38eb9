package restore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// TestDrillHoldsTheDayLock: a drill takes the same day lock as archive and
// restore runs: while another run holds the day it waits, then fails the
// day; the other days are drilled and nothing is written anywhere.
func TestDrillHoldsTheDayLock(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	held, free := measure.MustParseDay("2024-03-01"), measure.MustParseDay("2024-03-02")
	e.putArchive(t, held, 500)
	e.putArchive(t, free, 300)
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	unlock, ok, err := clean.TryLockDay(ctx, conn, held)
	if err != nil || !ok {
		t.Fatalf("take lock: %v %v", ok, err)
	}
	defer unlock()
	r := e.restorer()
	r.LockWait = 300 * time.Millisecond
	res, err := r.Drill(ctx, []measure.Day{free, held})
	if err != nil || len(res) != 2 {
		t.Fatalf("drill: %v %+v", err, res)
	}
	if !errors.Is(res[0].Err, ErrLocked) || res[0].Compared != 0 {
		t.Errorf("drill of the held day: %+v", res[0])
	}
	if res[1].Err != nil || res[1].Readings != 300 || res[1].Restored != 300 || res[1].Compared != 300 {
		t.Errorf("drill of the free day: %+v", res[1])
	}
	if n := e.count(t, `SELECT count(*) FROM shizuku.clean_measurements`) + e.count(t, `SELECT count(*) FROM archiver.archive_runs`); n != 0 {
		t.Errorf("a drill wrote %d rows", n)
	}
}
