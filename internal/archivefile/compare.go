package archivefile

import (
	"database/sql"
	"math"
	"strings"
)

// Compare is the canonical total order of readings: Sensor (byte order),
// Time, Value (NULL first, then -Inf < finite < +Inf < NaN; -0 equals 0),
// QCFlags (NULL first), Imputation (NULL first, byte order).
//
// Compare(a, b) == 0 exactly when a and b are the same reading, so sorting
// by Compare and dropping equal neighbours yields each reading once. The
// encoder writes -0 as 0 for the same reason: equal readings must encode to
// equal bytes.
func Compare(a, b *Reading) int {
	if c := strings.Compare(a.Sensor, b.Sensor); c != 0 {
		return c
	}
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := compareValue(a.Value, b.Value); c != 0 {
		return c
	}
	if c := compareNullInt(a.QCFlags, b.QCFlags); c != 0 {
		return c
	}
	return compareNullString(a.Imputation, b.Imputation)
}

func valueRank(v sql.NullFloat64) int {
	switch {
	case !v.Valid:
		return 0
	case math.IsNaN(v.Float64):
		return 4
	case math.IsInf(v.Float64, -1):
		return 1
	case math.IsInf(v.Float64, 1):
		return 3
	}
	return 2
}

func compareValue(a, b sql.NullFloat64) int {
	ra, rb := valueRank(a), valueRank(b)
	if ra != rb {
		return cmpInt(ra, rb)
	}
	if ra != 2 {
		return 0
	}
	switch {
	case a.Float64 < b.Float64:
		return -1
	case a.Float64 > b.Float64:
		return 1
	}
	return 0
}

func compareNullInt(a, b sql.NullInt64) int {
	if a.Valid != b.Valid {
		if !a.Valid {
			return -1
		}
		return 1
	}
	if !a.Valid {
		return 0
	}
	return cmpInt64(a.Int64, b.Int64)
}

func compareNullString(a, b sql.NullString) int {
	if a.Valid != b.Valid {
		if !a.Valid {
			return -1
		}
		return 1
	}
	if !a.Valid {
		return 0
	}
	return strings.Compare(a.String, b.String)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
