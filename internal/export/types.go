package export

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// ColumnType is what the database says of an exported column's type, so
// that its values are written in that type: in Parquet as a typed column
// (a numeric with declared precision as DECIMAL), in CSV in PostgreSQL's
// text form. Without it the archive alone decides: the measurement is a
// number, extra columns are their JSON text.
type ColumnType struct {
	Base             string // PostgreSQL base type name: numeric, int8, float4, text, bool, jsonb, timestamptz, ...
	Precision, Scale int    // a numeric's declared precision and scale; 0, 0 when not declared
}

var numericTypmod = regexp.MustCompile(`^numeric\((\d+)(?:,(-?\d+))?\)$`)

// ParseColumnType builds a ColumnType from the catalog's base type name and
// format_type text (e.g. "numeric", "numeric(12,3)").
func ParseColumnType(base, formatted string) ColumnType {
	t := ColumnType{Base: base}
	if m := numericTypmod.FindStringSubmatch(formatted); m != nil && base == "numeric" {
		t.Precision, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			t.Scale, _ = strconv.Atoi(m[2])
		}
	}
	return t
}

func (t ColumnType) isInt() bool {
	return t.Base == "int2" || t.Base == "int4" || t.Base == "int8" || t.Base == "oid"
}
func (t ColumnType) isFloat() bool { return t.Base == "float4" || t.Base == "float8" }

// decimal reports whether the column is a numeric Parquet can hold as a
// DECIMAL: declared precision up to 38, scale in [0, precision].
func (t ColumnType) decimal() bool {
	return t.Base == "numeric" && t.Precision > 0 && t.Precision <= 38 && t.Scale >= 0 && t.Scale <= t.Precision
}

// parquetNode is the Parquet column for a value of this type (nullable).
func (t ColumnType) parquetNode() parquet.Node {
	switch {
	case t.isInt():
		return parquet.Optional(parquet.Int(64))
	case t.Base == "float4":
		// The archive holds a real's shortest float4 text; FLOAT is
		// that value exactly, a DOUBLE of the text would not be.
		return parquet.Optional(parquet.Leaf(parquet.FloatType))
	case t.isFloat():
		return parquet.Optional(parquet.Leaf(parquet.DoubleType))
	case t.decimal():
		switch {
		case t.Precision <= 9:
			return parquet.Optional(parquet.Decimal(t.Scale, t.Precision, parquet.Int32Type))
		case t.Precision <= 18:
			return parquet.Optional(parquet.Decimal(t.Scale, t.Precision, parquet.Int64Type))
		}
		return parquet.Optional(parquet.Decimal(t.Scale, t.Precision, parquet.FixedLenByteArrayType(decimalBytes(t.Precision))))
	case t.Base == "bool":
		return parquet.Optional(parquet.Leaf(parquet.BooleanType))
	case t.Base == "json" || t.Base == "jsonb":
		return parquet.Optional(parquet.JSON())
	case t.Base == "timestamptz":
		return parquet.Optional(parquet.Timestamp(parquet.Microsecond))
	case t.Base == "timestamp":
		return parquet.Optional(parquet.TimestampAdjusted(parquet.Microsecond, false))
	case t.Base == "date":
		return parquet.Optional(parquet.Date())
	}
	// numeric without precision (its decimal text), text, enums, and
	// everything else in PostgreSQL's text form.
	return parquet.Optional(parquet.String())
}

// decimalBytes is the fixed length a DECIMAL of precision p needs in two's
// complement.
func decimalBytes(p int) int {
	return int(math.Ceil((float64(p)*math.Log2(10) + 1) / 8))
}

// parquetValue converts a value's text (a JSON number, or PostgreSQL's text
// form) into the column's Parquet value, or says why it cannot be exact.
func (t ColumnType) parquetValue(text string, str bool, col int) (parquet.Value, error) {
	fail := func(why string) (parquet.Value, error) {
		return parquet.Value{}, fmt.Errorf("value %s does not fit the Parquet column of type %s: %s", text, t.Base, why)
	}
	switch {
	case t.isInt():
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return fail("not an integer")
		}
		return parquet.Int64Value(n).Level(0, 1, col), nil
	case t.isFloat():
		f, ok := jsonFloat(text)
		if !ok {
			return fail("not a number")
		}
		if t.Base == "float4" {
			return parquet.FloatValue(float32(f)).Level(0, 1, col), nil
		}
		return parquet.DoubleValue(f).Level(0, 1, col), nil
	case t.decimal():
		u, err := scaled(text, t.Scale)
		if err != nil {
			return fail(err.Error())
		}
		if len(u.Abs(u).String()) > t.Precision && u.Sign() != 0 {
			return fail(fmt.Sprintf("more than %d digits", t.Precision))
		}
		u, _ = scaled(text, t.Scale)
		switch {
		case t.Precision <= 9:
			return parquet.Int32Value(int32(u.Int64())).Level(0, 1, col), nil
		case t.Precision <= 18:
			return parquet.Int64Value(u.Int64()).Level(0, 1, col), nil
		}
		return parquet.FixedLenByteArrayValue(twosComplement(u, decimalBytes(t.Precision))).Level(0, 1, col), nil
	case t.Base == "bool":
		switch text {
		case "true", "t":
			return parquet.BooleanValue(true).Level(0, 1, col), nil
		case "false", "f":
			return parquet.BooleanValue(false).Level(0, 1, col), nil
		}
		return fail("not a boolean")
	case t.Base == "timestamptz" || t.Base == "timestamp":
		ts, err := time.Parse(time.RFC3339Nano, text)
		if err != nil || ts.Nanosecond()%1000 != 0 {
			return fail("not a finite time in microseconds")
		}
		return parquet.Int64Value(ts.UnixMicro()).Level(0, 1, col), nil
	case t.Base == "date":
		d, err := measure.ParseDay(text)
		if err != nil {
			return fail("not a date")
		}
		return parquet.Int32Value(int32(d.Start().Unix()/86400)).Level(0, 1, col), nil
	}
	return parquet.ByteArrayValue([]byte(text)).Level(0, 1, col), nil
}

// jsonFloat parses a JSON number or the archive's NaN/Infinity tokens.
func jsonFloat(s string) (float64, bool) {
	switch s {
	case "NaN":
		return math.NaN(), true
	case "Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// scaled returns the decimal text times 10^scale as an integer, refusing
// digits the scale would drop.
func scaled(text string, scale int) (*big.Int, error) {
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return nil, fmt.Errorf("not a finite decimal")
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	if !r.IsInt() {
		return nil, fmt.Errorf("more than %d decimal places", scale)
	}
	return new(big.Int).Set(r.Num()), nil
}

// twosComplement is u as an n-byte big-endian two's complement integer.
func twosComplement(u *big.Int, n int) []byte {
	b := make([]byte, n)
	if u.Sign() >= 0 {
		u.FillBytes(b)
		return b
	}
	m := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
	m.Add(m, u)
	m.FillBytes(b)
	return b
}

// appendCSVTyped appends an extra member's value in the column type's
// PostgreSQL text form, as COPY ... CSV writes it.
func (t ColumnType) appendCSV(dst []byte, m *measure.Member) []byte {
	switch m.Kind {
	case measure.MemberBool:
		if m.Text == "true" {
			return append(dst, 't')
		}
		return append(dst, 'f')
	case measure.MemberString:
		if t.Base == "timestamptz" || t.Base == "timestamp" {
			if ts, err := time.Parse(time.RFC3339Nano, m.Text); err == nil {
				b := appendPGTimestamptz(nil, ts)
				if t.Base == "timestamp" {
					b = b[:len(b)-3] // no offset
				}
				return append(dst, b...)
			}
		}
		return appendCSVField(dst, m.Text)
	}
	return appendCSVField(dst, m.Text)
}

// valueText is the reading's measurement as exact text (a JSON number or a
// NaN/Infinity token), for typed columns.
func valueText(r *measure.Reading) string {
	if r.ValueText != "" {
		return r.ValueText
	}
	s, _ := measure.ValueString(r)
	return strings.TrimSpace(s)
}
