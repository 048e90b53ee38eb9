package archivefile

import (
	"time"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// AppendJSONFloat appends f exactly as the archive writes a measurement
// (Python's json.dumps layout, bare NaN/Infinity/-Infinity), so that other
// JSON outputs of a reading (export --format jsonl) say what the archive says.
func AppendJSONFloat(dst []byte, f float64) []byte { return appendPyFloat(dst, f) }

// AppendJSONString appends s as the archive writes a string (ASCII only,
// \uXXXX escapes). s must be valid UTF-8.
func AppendJSONString(dst []byte, s string) []byte { return appendJSONString(dst, s) }

// AppendJSONTime appends t (in UTC) as the archive writes a reading's time,
// without quotes: "YYYY-MM-DDTHH:MM:SS[.fffffffff]Z", trailing fractional
// zeros trimmed.
func AppendJSONTime(dst []byte, t time.Time) []byte {
	d := measure.DayOf(t)
	dst = d.Append(dst)
	dst = append(dst, 'T')
	dst = appendClock(dst, t.Unix()-d.StartUnix(), t.Nanosecond())
	return append(dst, 'Z')
}
