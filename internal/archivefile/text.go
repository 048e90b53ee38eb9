package archivefile

import (
	"time"

	"github.com/shizuku-labs/archiver/internal/measure"
)

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
