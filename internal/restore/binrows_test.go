package restore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/shizuku-labs/archiver/internal/archivefile"
	"github.com/shizuku-labs/archiver/internal/failpoint"
	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pgtest"
)

// TestBinRowsEncodesAsPgx: the rows binRows encodes itself are byte for
// byte what pgx's encoders (pgx.CopyFrom) write for every column type of
// the original schema's family, NULLs included, and a qc_flags value out
// of a smallint's range is refused as pgx refuses it.
func TestBinRowsEncodesAsPgx(t *testing.T) {
	d := measure.MustParseDay("2025-01-15")
	var buf bytes.Buffer
	aw, err := archivefile.NewWriter(&buf, d, 1)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	if err := genReadings(d, n, aw.Write); err != nil {
		t.Fatal(err)
	}
	big := measure.Reading{Sensor: "zz", Time: d.Start(), QCFlags: sql.NullInt64{Int64: math.MaxInt32 + 1, Valid: true}}
	if err := aw.Write(&big); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	m := pgtype.NewMap()
	for _, oids := range [][]uint32{
		{pgtype.TextOID, pgtype.TimestamptzOID, pgtype.Float8OID, pgtype.Int4OID, pgtype.TextOID},
		{pgtype.VarcharOID, pgtype.TimestampOID, pgtype.Float8OID, pgtype.Int8OID, pgtype.VarcharOID},
		{pgtype.TextOID, pgtype.TimestamptzOID, pgtype.Float4OID, pgtype.Int2OID, pgtype.TextOID}, // float4: pgx's encoder
	} {
		t.Run(fmt.Sprint(oids), func(t *testing.T) {
			ar, err := archivefile.NewReader(bytes.NewReader(buf.Bytes()), archivefile.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			src := newCopySource(ar)
			b := newBinRows(src, m, oids, true)
			nulls := 0
			for i := 0; src.Next(); i++ {
				got, gerr := b.appendRow(nil)
				want := []byte{0, 5}
				var werr error
				for k, v := range src.row {
					if want, werr = encodeField(m, want, oids[k], v); werr != nil {
						break
					}
				}
				if (gerr != nil) != (werr != nil) {
					t.Fatalf("reading %d: binRows error %v, pgx error %v", i, gerr, werr)
				}
				if gerr == nil && !bytes.Equal(got, want) {
					t.Fatalf("reading %d (%+v %+v %+v %+v %+v): binRows wrote\n%x\npgx writes\n%x", i, src.sensor, src.ts, src.value, src.qc, src.imp, got, want)
				}
				if !src.value.valid || !src.qc.valid || !src.imp.valid {
					nulls++
				}
			}
			if src.n != n+1 || nulls == 0 {
				t.Fatalf("checked %d readings (%d with NULLs), want %d with some", src.n, nulls, n+1)
			}
		})
	}
}

// TestRestoreInsertsInTimeOrder: readings go into a table without a key
// in time order (the archive lists them sensor by sensor), every one
// exactly once, also when one process restores several days one after
// another through its kept buffers.
func TestRestoreInsertsInTimeOrder(t *testing.T) {
	e := newEnv(t)
	days := []measure.Day{measure.MustParseDay("2024-06-01"), measure.MustParseDay("2024-06-02"), measure.MustParseDay("2024-06-03")}
	sizes := []int{5000, 300, 2000}
	for i, d := range days {
		writeDay(t, e, d, sizes[i])
	}
	r := e.restorer()
	r.Concurrency = 1
	s, err := r.Run(context.Background(), Options{Days: days})
	if err != nil {
		t.Fatal(err)
	}
	if s.Inserted != 7300 {
		t.Errorf("inserted %d readings, want 7300", s.Inserted)
	}
	for i, d := range days {
		q := fmt.Sprintf(`SELECT count(*) FROM shizuku.clean_measurements WHERE ts >= '%s' AND ts < '%s'`, d.Start().Format("2006-01-02"), d.End().Format("2006-01-02"))
		if got := e.count(t, q); got != int64(sizes[i]) {
			t.Errorf("%s: %d rows, want %d", d, got, sizes[i])
		}
	}
	if n := e.count(t, `SELECT count(*) FROM (SELECT DISTINCT sensor_id, ts, value_mm, qc_flags, imputation_method FROM shizuku.clean_measurements) x`); n != 7300 {
		t.Errorf("%d distinct readings, want 7300", n)
	}
	if n := e.count(t, `SELECT count(*) FROM (SELECT ts, lag(ts) OVER (ORDER BY ctid) AS prev FROM shizuku.clean_measurements) x WHERE ts < prev`); n != 0 {
		t.Errorf("%d rows follow a later reading in the table's physical order, want 0 (time order)", n)
	}
}

// TestSortByTimeSortsAsSlicesSort: the radix sort of a window's order is
// slices.Sort's order (time, then row) for windows of one time, of times
// in file order, reversed, random with many ties, and spanning the full
// 44 bits of time.
func TestSortByTimeSortsAsSlicesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := map[string]func(i int) uint64{
		"one time":   func(int) uint64 { return 5 },
		"ascending":  func(i int) uint64 { return uint64(i) * 600_000_000 },
		"descending": func(i int) uint64 { return uint64(1_000_000-i) * 3 },
		"ties":       func(int) uint64 { return rng.Uint64N(144) * 600_000_000 },
		"random":     func(int) uint64 { return rng.Uint64N(86_400_000_000) },
		"full span":  func(int) uint64 { return rng.Uint64N(1 << (64 - rowBits)) },
	}
	var spare []uint64
	for name, at := range cases {
		for _, n := range []int{0, 1, 2, 1000, 144_000} {
			keys := make([]uint64, n)
			for i := range keys {
				keys[i] = at(i)<<rowBits | uint64(i)
			}
			want := slices.Clone(keys)
			slices.Sort(want)
			var got []uint64
			got, spare = sortByTime(keys, spare)
			if !slices.Equal(got, want) {
				t.Fatalf("%s, %d keys: not in slices.Sort's order", name, n)
			}
		}
	}
}

// TestMidCopyFailpointIsInsideTheCopy: restore.mid-copy is passed once per
// COPY, with its first rows on their way, and never while a day is read
// ahead (before its lock, outside any transaction), so that a crash test
// killing the restore there kills it inside a day's COPY: failing at its
// second passage, a restore of two days, the second read ahead, has
// restored the first day and nothing of the second. (Failpoints are read
// from the environment once per process, so the test runs itself in a
// child process with them set.)
func TestMidCopyFailpointIsInsideTheCopy(t *testing.T) {
	const child = "RESTORE_TEST_MID_COPY_CHILD"
	if os.Getenv(child) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMidCopyFailpointIsInsideTheCopy$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), child+"=1", pgtest.EnvURL+"="+pgtest.URL(t), failpoint.EnvVar+"=restore.mid-copy=error@2")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestMidCopyFailpointIsInsideTheCopy")) {
			t.Fatalf("child test: %v\n%s", err, out)
		}
		return
	}
	e := newEnv(t)
	d0, d1 := measure.MustParseDay("2024-06-01"), measure.MustParseDay("2024-06-02")
	writeDay(t, e, d0, 500)
	writeDay(t, e, d1, 700)
	r := e.restorer()
	r.Concurrency = 1 // the first day is the worker's to read; the second is read ahead
	s, err := r.Run(context.Background(), Options{Days: []measure.Day{d0, d1}})
	if !errors.Is(err, ErrDaysFailed) || len(s.Days) != 2 {
		t.Fatalf("err %v, days %+v", err, s.Days)
	}
	if s.Days[0].Status != StatusRestored || s.Days[0].Inserted != 500 {
		t.Errorf("%s: %s, %d inserted (%v), want restored, 500: the failpoint was passed before its COPY", d0, s.Days[0].Status, s.Days[0].Inserted, s.Days[0].Err)
	}
	if s.Days[1].Status != StatusFailed || !strings.Contains(fmt.Sprint(s.Days[1].Err), "failpoint restore.mid-copy") {
		t.Errorf("%s: %s (%v), want failed at restore.mid-copy", d1, s.Days[1].Status, s.Days[1].Err)
	}
	if n := e.count(t, `SELECT count(*) FROM shizuku.clean_measurements`); n != 500 {
		t.Errorf("the table holds %d readings, want the first day's 500", n)
	}
}
