// Package pyjson spells JSON scalars exactly as Python's json module writes
// them (json.dumps with its defaults): strings ASCII-only with \uXXXX
// escapes, floats as repr() with bare NaN, Infinity and -Infinity; and
// recognises such scalars. The original service wrote its archives with
// that module, so this is the archive format's spelling of a value, and the
// spelling of the values a reading carries as text (an exact number, the
// "extra" object): both the archive (internal/archivefile) and the domain
// model (internal/measure) use this one copy.
package pyjson

import (
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/shizuku-labs/archiver/internal/floattext"
)

// AppendFloat appends f exactly as Python's json.dumps writes a float:
// repr() digits (shortest round-trip), fixed notation with a ".0" when the
// decimal exponent is in [-4, 16), exponent notation ("1e-05", "1e+16")
// otherwise, and the bare NaN/Infinity/-Infinity tokens. -0 is written as
// -0.0, as Python writes it: the sign is part of the value PostgreSQL holds.
func AppendFloat(dst []byte, f float64) []byte {
	if d, ok := floattext.Python.AppendSpecial(dst, f); ok {
		return d
	}
	if d, ok := appendFewDecimals(dst, f); ok {
		return d
	}
	return appendRepr(dst, f)
}

// appendRepr appends a finite, non-zero f in the layout of Python's repr.
func appendRepr(dst []byte, f float64) []byte { return appendReprBits(dst, f, 64) }

// appendReprBits is appendRepr with the shortest digits that round-trip
// at the given float size (32 for a float4 value).
func appendReprBits(dst []byte, f float64, bits int) []byte {
	var tmp [32]byte
	return floattext.Python.Append(dst, strconv.AppendFloat(tmp[:0], f, 'e', -1, bits))
}

// appendFewDecimals is AppendFloat's fast path for the values
// measurements usually hold: at most six decimals and magnitude in
// [1e-4, 1e9). For such an f, m = round(f·10⁶) gives m/10⁶ == f exactly in
// float64 arithmetic (checked, not assumed); m/10⁶ has at most 15
// significant digits, and any two distinct decimals of at most 15
// significant digits are distinct float64 values, so with its trailing
// zeros trimmed it is the shortest decimal that round-trips, which is what
// repr and strconv's shortest formatting produce; in [1e-4, 1e16) Python
// lays it out in fixed notation. ok is false when f is not such a value.
func appendFewDecimals(dst []byte, f float64) ([]byte, bool) {
	a := math.Abs(f)
	if a < 1e-4 || a >= 1e9 {
		return dst, false
	}
	m := math.Round(a * 1e6)
	if m/1e6 != a {
		return dst, false
	}
	n := uint64(m)
	ip, fp := n/1000000, n%1000000
	if f < 0 {
		dst = append(dst, '-')
	}
	dst = strconv.AppendUint(dst, ip, 10)
	dst = append(dst, '.')
	if fp == 0 {
		return append(dst, '0'), true
	}
	var frac [6]byte
	for i := 5; i >= 0; i-- {
		frac[i] = byte('0' + fp%10)
		fp /= 10
	}
	k := 6
	for frac[k-1] == '0' {
		k--
	}
	return append(dst, frac[:k]...), true
}

// ItemSep and KeySep are json.dumps' default separators: between the
// members of an object or the items of an array, and between a key and its
// value.
const (
	ItemSep = ", "
	KeySep  = ": "
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as Python's json.dumps does with its default
// ensure_ascii=True: printable ASCII as is, the short escapes for \" \\ \b
// \f \n \r \t, everything else as lowercase \uXXXX (surrogate pairs above
// U+FFFF). The output is pure ASCII, so it does not depend on how any
// consumer treats UTF-8. s must be valid UTF-8 (callers check).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				dst = append(dst, '\\', '"')
			case '\\':
				dst = append(dst, '\\', '\\')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = appendU(dst, rune(c))
			}
			i++
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r >= 0x10000 {
				r1, r2 := utf16.EncodeRune(r)
				dst = appendU(appendU(dst, r1), r2)
			} else {
				dst = appendU(dst, r)
			}
			i += size
		}
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendU(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// AppendFloat4 writes f, a float4 value, as the shortest text that reads
// back as the same float4, laid out as Python's repr lays out floats.
func AppendFloat4(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f), math.IsInf(f, 0):
		return AppendFloat(dst, f)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	return appendReprBits(dst, float64(float32(f)), 32)
}
