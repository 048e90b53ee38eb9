package progress

import (
	"math"
	"testing"
	"time"
)

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{7, "7"},
		{999, "999"},
		{1000, "1.00k"},
		{1234, "1.23k"},
		{9994, "9.99k"},
		{9995, "10.0k"},
		{12345, "12.3k"},
		{99949, "99.9k"},
		{99950, "100k"},
		{123456, "123k"},
		{999499, "999k"},
		{999500, "1.00M"},
		{1_730_000, "1.73M"},
		{2_500_000_000, "2.50G"},
		{-1234, "-1.23k"},
		{math.MaxInt64, "9.22E"},
		{math.MinInt64, "-9.22E"},
	} {
		if got := Count(tc.in); got != tc.want {
			t.Errorf("Count(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBytes(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{512, "512 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{1024*1024 - 1, "1.0 MiB"},
		{172_176_589, "164.2 MiB"},
		{5 << 30, "5.0 GiB"},
		{3 << 40, "3.0 TiB"},
		{-2048, "-2.0 KiB"},
		{math.MaxInt64, "8.0 EiB"},
		{math.MinInt64, "-8.0 EiB"},
	} {
		if got := Bytes(tc.in); got != tc.want {
			t.Errorf("Bytes(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{0, "0s"},
		{400 * time.Millisecond, "0s"},
		{600 * time.Millisecond, "1s"},
		{45 * time.Second, "45s"},
		{59*time.Second + 600*time.Millisecond, "1m00s"},
		{72 * time.Second, "1m12s"},
		{59*time.Minute + 59*time.Second, "59m59s"},
		{time.Hour, "1h00m"},
		{2*time.Hour + 3*time.Minute + 40*time.Second, "2h03m"},
		{50 * time.Hour, "50h00m"},
	} {
		if got := Duration(tc.in); got != tc.want {
			t.Errorf("Duration(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
