// Package measuretest holds what tests of several packages need to make
// readings: random readings that cover the awkward values.
package measuretest

import (
	"database/sql"
	"math"
	"math/rand"
	"time"

	"github.com/shizuku-labs/archiver/internal/measure"
)

func nf(f float64) sql.NullFloat64 { return sql.NullFloat64{Float64: f, Valid: true} }
func ni(v int64) sql.NullInt64     { return sql.NullInt64{Int64: v, Valid: true} }
func ns(s string) sql.NullString   { return sql.NullString{String: s, Valid: true} }

var (
	sensorPool = []string{"sensor_1", "sensor_10", "sensor_2", "Sensor_2", "s", "a\"b\\c", "tab\there", "ü-sensor", "日本", "😀", ""}
	impPool    = []string{"ARIMA", "linear", "", "spline \"cubic\"", "é", "\x00nul"}
)

// RandomReadings returns n random readings of day in canonical order
// (fewer if duplicates were drawn), covering the awkward values.
func RandomReadings(rng *rand.Rand, day measure.Day, n int) []measure.Reading {
	rs := make([]measure.Reading, 0, n)
	start := day.Start()
	for len(rs) < n {
		var r measure.Reading
		r.Sensor = sensorPool[rng.Intn(len(sensorPool))]
		off := time.Duration(rng.Int63n(int64(24*time.Hour))) / time.Microsecond * time.Microsecond
		if rng.Intn(10) == 0 {
			off = time.Duration(rng.Int63n(int64(24 * time.Hour)))
		}
		if rng.Intn(5) == 0 {
			off = off / time.Minute * time.Minute // plenty of equal times
		}
		r.Time = start.Add(off)
		switch rng.Intn(12) {
		case 0:
		case 1:
			r.Value = nf(math.NaN())
		case 2:
			r.Value = nf(math.Inf(1))
		case 3:
			r.Value = nf(math.Inf(-1))
		case 4:
			r.Value = nf(math.Float64frombits(rng.Uint64()))
		case 5:
			r.Value = nf(float64(rng.Intn(100)))
		case 6:
			r.Value = nf(rng.NormFloat64() * math.Pow(10, float64(rng.Intn(40)-20)))
		default:
			r.Value = nf(math.Round(rng.Float64()*1000) / 10)
		}
		if rng.Intn(4) > 0 {
			r.QCFlags = ni(rng.Int63n(5) - 1)
			if rng.Intn(50) == 0 {
				r.QCFlags = ni(int64(rng.Uint64()))
			}
		}
		if rng.Intn(3) == 0 {
			r.Imputation = ns(impPool[rng.Intn(len(impPool))])
		}
		rs = append(rs, r)
	}
	return measure.SortReadings(rs)
}
