package measure

import (
	"fmt"
	"time"
)

// Day is a UTC calendar day. The zero Day is "no day": it is not a valid
// archive day, IsZero reports it, and it sorts before every real day.
//
// Days are comparable with ==, so they work as map keys.
type Day struct {
	n     int64 // days since 1970-01-01
	valid bool  // separates the zero Day from 1970-01-01
}

// SecondsPerDay is the length of every UTC day: Unix time has no leap
// seconds.
const SecondsPerDay = 86400

// MustParseDay is ParseDay for days written into the program (and its
// tests): it panics if s is not a day.
func MustParseDay(s string) Day {
	d, err := ParseDay(s)
	if err != nil {
		panic(err)
	}
	return d
}

// ParseDay parses a day written strictly as YYYY-MM-DD (four-digit year,
// zero-padded month and day), the only form the archive format and object
// keys use. Anything else is rejected rather than guessed at, because a
// day that parses loosely could name a different object.
func ParseDay(s string) (Day, error) {
	y, m, d, ok := parseYMD(s)
	if !ok {
		return Day{}, fmt.Errorf("measure: invalid day %q: want YYYY-MM-DD, e.g. 2025-01-15", s)
	}
	day, ok := DayFromDate(y, m, d)
	if !ok {
		return Day{}, fmt.Errorf("measure: invalid day %q: no such calendar date (want YYYY-MM-DD, e.g. 2025-01-15)", s)
	}
	return day, nil
}

// DayFromDate returns the day of a proleptic Gregorian date; ok is false
// when there is no such date (month outside 1..12, day outside the
// month). It is exact for every year and avoids time.Date, so that the
// archive reader can use it on every reading's time.
func DayFromDate(year, month, day int) (d Day, ok bool) {
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return Day{}, false
	}
	return Day{n: daysFromCivil(int64(year), month, day), valid: true}, true
}

// parseYMD reads exactly "DDDD-DD-DD" without judging the calendar.
func parseYMD(s string) (y, m, d int, ok bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	return y, m, d, ok1 && ok2 && ok3
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// DayOf returns the UTC day containing t, whatever t's location.
func DayOf(t time.Time) Day {
	return Day{n: floorDiv(t.Unix(), SecondsPerDay), valid: true}
}

// String returns YYYY-MM-DD. The zero Day prints as "0000-00-00", which
// ParseDay rejects, so a zero Day can never pass for a real one.
func (d Day) String() string {
	if !d.valid {
		return "0000-00-00"
	}
	return string(d.Append(make([]byte, 0, 10)))
}

// Date returns the day's year, month and day of the month.
func (d Day) Date() (year, month, day int) {
	y, m, dd := civilFromDays(d.n)
	return int(y), m, dd
}

// StartUnix is Start as Unix seconds, without building a time.Time: the
// archive reader and writer check every reading's time against it. For
// the zero Day it is 0.
func (d Day) StartUnix() int64 { return d.n * SecondsPerDay }

// Append appends the day as YYYY-MM-DD: String without the allocation,
// except that the zero Day appends 1970-01-01 (check IsZero first).
func (d Day) Append(b []byte) []byte {
	y, m, dd := civilFromDays(d.n)
	if y < 0 || y > 9999 {
		// Only reachable through DayOf on absurd times; keep it readable.
		return d.Start().AppendFormat(b, "2006-01-02")
	}
	b = append4(b, int(y))
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	return append2(b, dd)
}

// MarshalText makes Day usable directly in JSON manifests and configs.
func (d Day) MarshalText() ([]byte, error) {
	if !d.valid {
		return nil, fmt.Errorf("measure: cannot marshal the zero Day")
	}
	return d.Append(make([]byte, 0, 10)), nil
}

// UnmarshalText accepts exactly what ParseDay accepts.
func (d *Day) UnmarshalText(b []byte) error {
	v, err := ParseDay(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Start is the first instant of the day (inclusive), in UTC. For the zero
// Day it is the zero time.
func (d Day) Start() time.Time {
	if !d.valid {
		return time.Time{}
	}
	return time.Unix(d.n*SecondsPerDay, 0).UTC()
}

// End is the first instant of the next day (exclusive): the day is the
// half-open range [Start, End).
func (d Day) End() time.Time {
	if !d.valid {
		return time.Time{}
	}
	return time.Unix((d.n+1)*SecondsPerDay, 0).UTC()
}

// Contains reports whether t falls within [Start, End).
func (d Day) Contains(t time.Time) bool {
	if !d.valid {
		return false
	}
	s := t.Unix()
	return s >= d.n*SecondsPerDay && s < (d.n+1)*SecondsPerDay
}

// AddDays returns the day n days later (earlier if n < 0). The zero Day
// stays zero: there is no meaningful day relative to "no day".
func (d Day) AddDays(n int) Day {
	if !d.valid {
		return d
	}
	return Day{n: d.n + int64(n), valid: true}
}

// Before reports whether d is strictly earlier than o.
func (d Day) Before(o Day) bool { return d.Compare(o) < 0 }

// After reports whether d is strictly later than o.
func (d Day) After(o Day) bool { return d.Compare(o) > 0 }

// Equal reports whether d and o are the same day; same as ==.
func (d Day) Equal(o Day) bool { return d == o }

// Compare returns -1, 0 or +1; the zero Day sorts first.
func (d Day) Compare(o Day) int {
	switch {
	case d.valid != o.valid:
		if !d.valid {
			return -1
		}
		return 1
	case d.n < o.n:
		return -1
	case d.n > o.n:
		return 1
	}
	return 0
}

// IsZero reports whether d is the zero Day.
func (d Day) IsZero() bool { return !d.valid }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// daysFromCivil converts a proleptic Gregorian date to days since
// 1970-01-01 (Howard Hinnant's algorithm); it is exact for every year and
// avoids time.Date in the reader's per-reading path.
func daysFromCivil(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := int64((m + 9) % 12)
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func civilFromDays(z int64) (y int64, m, d int) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func append2(b []byte, v int) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10))
}

func append4(b []byte, v int) []byte {
	return append(b, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}
