package measure

import (
	"database/sql"
	"testing"
	"time"
)

func fl(f float64) sql.NullFloat64 { return sql.NullFloat64{Float64: f, Valid: true} }
func qc(v int64) sql.NullInt64     { return sql.NullInt64{Int64: v, Valid: true} }
func imp(s string) sql.NullString  { return sql.NullString{String: s, Valid: true} }

func timeSec(n int) time.Duration { return time.Duration(n) * time.Second }

func timeZone(hours int) *time.Location { return time.FixedZone("X", hours*3600) }

// sameReadings compares with Compare, so NaN == NaN.
func sameReadings(t testing.TB, got, want []Reading) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d readings, want %d", len(got), len(want))
	}
	for i := range got {
		if Compare(&got[i], &want[i]) != 0 {
			t.Fatalf("reading %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
