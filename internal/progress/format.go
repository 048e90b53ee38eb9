package progress

import (
	"fmt"
	"strconv"
	"time"
)

// Count shortens a count to three significant digits with an SI suffix:
// 999, 1.23k, 12.3k, 123k, 1.73M, 2.50G.
func Count(n int64) string { return signed(n, count) }

// signed is f of n's magnitude, with a minus sign for a negative n. The
// magnitude is unsigned so that math.MinInt64 has one.
func signed(n int64, f func(uint64) string) string {
	if n < 0 {
		return "-" + f(uint64(-(n+1))+1)
	}
	return f(uint64(n))
}

func count(n uint64) string {
	if n < 1000 {
		return strconv.FormatUint(n, 10)
	}
	const suffixes = "kMGTPE"
	v, i := scaled(float64(n), 1000, 999.5, len(suffixes))
	return threeDigits(v) + suffixes[i:i+1]
}

// scaled divides v (at least limit) by base while it is still at least
// limit, the least value that would print as base, up to units times; it
// returns the result and the index of its unit.
func scaled(v, base, limit float64, units int) (float64, int) {
	i := -1
	for v >= limit && i < units-1 {
		v /= base
		i++
	}
	return v, i
}

// threeDigits prints v (1 <= v < 1000) with three significant digits.
func threeDigits(v float64) string {
	switch {
	case v < 9.995:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 99.95:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

// Bytes formats a byte count in binary units with one decimal: 512 B,
// 1.5 KiB, 164.2 MiB. Binary units because that is what ls -h, du -h and
// object-store consoles show for the same files.
func Bytes(n int64) string { return signed(n, byteSize) }

func byteSize(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	const units = "KMGTPE"
	v, i := scaled(float64(n), 1024, 1023.95, len(units))
	return fmt.Sprintf("%.1f %ciB", v, units[i])
}

// Duration formats d coarsely for a human: 0s, 45s, 1m12s, 2h03m. Below an
// hour seconds matter; above it they are noise in an estimate.
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	h := d / time.Hour
	m := (d % time.Hour) / time.Minute
	s := (d % time.Minute) / time.Second
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	default:
		return fmt.Sprintf("%ds", s)
	}
}
