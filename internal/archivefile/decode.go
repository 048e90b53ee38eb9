package archivefile

import (
	"github.com/shizuku-labs/archiver/internal/measure"
)

// parseTime reads the timestamps both services wrote, by hand because
// time.Parse is several times slower and this runs once per reading:
//
//	YYYY-MM-DD('T'|'t'|' ')HH:MM:SS[.f{1,9}][Z|z|±HH:MM]
//
// A missing offset is UTC: the original service wrote naive timestamps
// from a UTC database session as well as aware ones. memo, if not nil,
// remembers the last date read: the readings of an archive are all of one
// day, so its calendar arithmetic is done once.
func parseTime(b []byte, memo *dateMemo) (sec int64, nsec int, ok bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[13] != ':' || b[16] != ':' {
		return 0, 0, false
	}
	if c := b[10]; c != 'T' && c != 't' && c != ' ' {
		return 0, 0, false
	}
	h, ok4 := digitsB(b[11:13])
	mi, ok5 := digitsB(b[14:16])
	s, ok6 := digitsB(b[17:19])
	if !(ok4 && ok5 && ok6) || h > 23 || mi > 59 || s > 59 {
		return 0, 0, false
	}
	day, ok := memo.day(b[:10])
	if !ok {
		return 0, 0, false
	}
	i := 19
	if i < len(b) && b[i] == '.' {
		i++
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i-j < 9 {
				nsec = nsec*10 + int(b[i]-'0')
			}
			i++
		}
		nd := i - j
		if nd == 0 || nd > 9 {
			// More than nanoseconds would be silently truncated.
			return 0, 0, false
		}
		for ; nd < 9; nd++ {
			nsec *= 10
		}
	}
	off := 0
	if i < len(b) {
		switch b[i] {
		case 'Z', 'z':
			i++
		case '+', '-':
			if len(b) < i+6 || b[i+3] != ':' {
				return 0, 0, false
			}
			oh, okh := digitsB(b[i+1 : i+3])
			om, okm := digitsB(b[i+4 : i+6])
			if !okh || !okm || oh > 23 || om > 59 {
				return 0, 0, false
			}
			off = oh*3600 + om*60
			if b[i] == '-' {
				off = -off
			}
			i += 6
		default:
			return 0, 0, false
		}
	}
	if i != len(b) {
		return 0, 0, false
	}
	sec = day.StartUnix() + int64(h*3600+mi*60+s-off)
	return sec, nsec, true
}

// dateMemo is parseTime's memory of the last date it read.
type dateMemo struct {
	date [10]byte
	d    measure.Day
	ok   bool
}

// day reads "YYYY-MM-DD" (the separators already checked) as a day.
func (m *dateMemo) day(b []byte) (measure.Day, bool) {
	if m != nil && m.ok && string(b) == string(m.date[:]) {
		return m.d, true
	}
	y, ok1 := digitsB(b[0:4])
	mo, ok2 := digitsB(b[5:7])
	d, ok3 := digitsB(b[8:10])
	if !(ok1 && ok2 && ok3) {
		return measure.Day{}, false
	}
	day, ok := measure.DayFromDate(y, mo, d)
	if ok && m != nil {
		copy(m.date[:], b)
		m.d, m.ok = day, true
	}
	return day, ok
}

func digitsB(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
