package measure

import (
	"cmp"
	"math"
	"strconv"
	"strings"
)

// Compare is the canonical total order of readings under the original
// format's Schema (a double precision value): see Schema.Compare.
func Compare(a, b *Reading) int { return Schema{}.Compare(a, b) }

// Compare is the canonical total order of readings: Sensor (byte order),
// Time, Value (NULL first, then -Inf < finite < +Inf < NaN; -0 equals 0;
// finite values compared in the value column's type), QCFlags (NULL
// first), Imputation (NULL first, byte order), Extra (byte order of its
// JSON text; the table's values are encoded in one canonical form, so
// equal values are equal text), then the sign of a zero value (-0 first),
// then Other (byte order).
//
// A real or double precision column stores -0 and 0 as two values, so
// two rows that differ only there are two readings. The sign comes last,
// after Extra, rather than with the value, so that every archive written
// in the order without it (where such rows were one reading) is still in
// this order. A numeric column has no -0: there they are one value.
//
// Compare(a, b) == 0 exactly when a and b are the same reading, so sorting
// by Compare and dropping equal neighbours yields each reading once.
func (s Schema) Compare(a, b *Reading) int {
	if c := s.compareCore(a, b); c != 0 {
		return c
	}
	if len(a.Other)|len(b.Other) == 0 {
		return 0
	}
	return strings.Compare(a.Other, b.Other)
}

// compareCore is Compare without Other: two readings that differ only in
// members another tool added are the same measurement (Merge).
func (s Schema) compareCore(a, b *Reading) int {
	if c := strings.Compare(a.Sensor, b.Sensor); c != 0 {
		return c
	}
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	var c int
	if s.Value == ValueFloat8 || len(a.ValueText)|len(b.ValueText) == 0 && s.Value != ValueFloat4 {
		// The original format's case, on the hot path of every merge.
		c = compareFloat(a, b)
	} else {
		c = s.compareValue(a, b)
	}
	if c != 0 {
		return c
	}
	if c := compareNull(a.QCFlags.Valid, b.QCFlags.Valid, a.QCFlags.Int64, b.QCFlags.Int64); c != 0 {
		return c
	}
	if c := compareNull(a.Imputation.Valid, b.Imputation.Valid, a.Imputation.String, b.Imputation.String); c != 0 {
		return c
	}
	if len(a.Extra)|len(b.Extra) != 0 {
		if c := strings.Compare(a.Extra, b.Extra); c != 0 {
			return c
		}
	}
	return s.compareZeroSign(a, b)
}

// compareZeroSign orders a -0 value before a 0 value in a floating-point
// column (as the column's type: a float8 value an older archive holds for
// a real column is rounded to float4 first). It is reached only by
// readings equal in every other field.
func (s Schema) compareZeroSign(a, b *Reading) int {
	if !a.Value.Valid || !b.Value.Valid || s.Value == ValueDecimal {
		return 0
	}
	x, y := a.Value.Float64, b.Value.Float64
	if s.Value == ValueFloat4 {
		x, y = float64(float32(x)), float64(float32(y))
	}
	if x != 0 || y != 0 {
		return 0
	}
	switch nx, ny := math.Signbit(x), math.Signbit(y); {
	case nx == ny:
		return 0
	case nx:
		return -1
	}
	return 1
}

// compareFloat orders values as float64: NULL, -Inf, finite, +Inf, NaN.
func compareFloat(a, b *Reading) int {
	x, y := a.Value, b.Value
	if x.Valid && y.Valid && x.Float64 == y.Float64 {
		return 0 // the common case; ±Inf equal too, NaN never is
	}
	ra, rb := valueRank(a), valueRank(b)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	if ra != 2 {
		return 0
	}
	if x.Float64 < y.Float64 {
		return -1
	}
	return 1
}

func valueRank(r *Reading) int {
	v := r.Value
	switch {
	case !v.Valid:
		return 0
	case r.ValueText != "":
		return 2 // an exact number, whatever its float64 neighbour
	case math.IsNaN(v.Float64):
		return 4
	case math.IsInf(v.Float64, -1):
		return 1
	case math.IsInf(v.Float64, 1):
		return 3
	}
	return 2
}

func (s Schema) compareValue(a, b *Reading) int {
	ra, rb := valueRank(a), valueRank(b)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	if ra != 2 {
		return 0
	}
	x, y := a.Value.Float64, b.Value.Float64
	switch s.Value {
	case ValueFloat4:
		x, y = float64(float32(x)), float64(float32(y))
	case ValueDecimal:
		if a.ValueText != "" || b.ValueText != "" {
			return compareDecimal(numberText(a), numberText(b))
		}
	}
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// numberText is a finite value as decimal text.
func numberText(r *Reading) string {
	if r.ValueText != "" {
		return r.ValueText
	}
	return strconv.FormatFloat(r.Value.Float64, 'e', -1, 64)
}

// compareNull orders two nullable values, NULL first, the values by cmp.
func compareNull[T cmp.Ordered](aValid, bValid bool, a, b T) int {
	if aValid != bValid {
		if !aValid {
			return -1
		}
		return 1
	}
	if !aValid {
		return 0
	}
	return cmp.Compare(a, b)
}
