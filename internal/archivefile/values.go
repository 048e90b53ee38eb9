package archivefile

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// ParseNumber turns a JSON number token (or NaN, Infinity, -Infinity)
// into a reading's value: Value holds its float64, and text is the token
// itself when the float64 would not give it back exactly (see
// Reading.ValueText). ok is false for anything that is not a number.
func ParseNumber(tok []byte) (v sql.NullFloat64, text string, ok bool) {
	switch kind, valid := classifyScalar(tok); {
	case !valid:
		return v, "", false
	case kind == scNaN:
		return nullF(nan), "", true
	case kind == scInf:
		return nullF(posInf), "", true
	case kind == scNegInf:
		return nullF(negInf), "", true
	case kind != scNumber:
		return v, "", false
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		var ne *strconv.NumError
		if !errors.As(err, &ne) || ne.Err != strconv.ErrRange {
			return v, "", false
		}
		// Out of float64 range: f is ±Inf or ±0, the text is the value.
		return nullF(f), string(tok), true
	}
	if !plainFloat(tok) {
		var tmp [32]byte
		if !bytes.Equal(appendPyFloat(tmp[:0], f), tok) {
			text = string(tok)
		}
	}
	return nullF(f), text, true
}

// plainFloat reports, cheaply, whether tok is surely what appendPyFloat
// writes for its value, so that no text need be kept: fixed notation
// (-?D.F, no leading zeros, no trailing zero but a lone ".0"), at most 15
// significant digits (distinct such decimals are distinct float64s, so
// the shortest text of the value is these digits) and a decimal exponent
// in [-4, 15] (where Python uses fixed notation). Every value the writer's
// fast path writes is such a token; false means "check properly".
func plainFloat(tok []byte) bool {
	i := 0
	if i < len(tok) && tok[i] == '-' {
		i++
	}
	start := i
	for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
		i++
	}
	intDigits := i - start
	if intDigits == 0 || intDigits > 16 || (intDigits > 1 && tok[start] == '0') || i >= len(tok) || tok[i] != '.' {
		return false
	}
	i++
	fs := i
	for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
		i++
	}
	frac := tok[fs:i]
	if i != len(tok) || len(frac) == 0 || (len(frac) > 1 && frac[len(frac)-1] == '0') {
		return false
	}
	sig := intDigits + len(frac)
	if tok[start] == '0' {
		// 0.000ddd: leading zeros are not significant; below 1e-4 Python
		// writes an exponent.
		z := 0
		for z < len(frac) && frac[z] == '0' {
			z++
		}
		if z == len(frac) {
			return len(frac) == 1 // 0.0 (and -0.0)
		}
		if z > 3 {
			return false
		}
		sig = len(frac) - z
	} else if len(frac) == 1 && frac[0] == '0' {
		sig = intDigits // trailing zeros of the integer part may be significant or not: at most 16 digits either way
		if sig > 15 {
			return false
		}
	}
	return sig <= 15
}

// SetValue sets r's value from the text PostgreSQL gives for a numeric,
// integer or floating-point column ("NaN", "Infinity" and "-Infinity"
// included), keeping it exactly.
func SetValue(r *measure.Reading, text string) error {
	switch text {
	case "NaN":
		r.Value, r.ValueText = nullF(nan), ""
		return nil
	case "Infinity":
		r.Value, r.ValueText = nullF(posInf), ""
		return nil
	case "-Infinity":
		r.Value, r.ValueText = nullF(negInf), ""
		return nil
	}
	v, t, ok := ParseNumber([]byte(text))
	if !ok {
		return fmt.Errorf("value %q is not a number", text)
	}
	r.Value, r.ValueText = v, t
	return nil
}

// appendFloat4 writes f, a float4 value, as the shortest text that reads
// back as the same float4, laid out as Python's repr lays out floats.
func appendFloat4(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f), math.IsInf(f, 0):
		return appendPyFloat(dst, f)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	return appendReprBits(dst, float64(float32(f)), 32)
}

// EncodeExtra returns the canonical "extra" object for ms: members in
// byte order of their names, Python's separators, strings escaped as
// appendJSONString does, numbers and JSON values as given (Text). Names
// must be distinct and every text valid UTF-8; a MemberJSON text must be
// valid JSON (it is checked).
func EncodeExtra(ms []measure.Member) (string, error) {
	if len(ms) == 0 {
		return "", nil
	}
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b measure.Member) int { return strings.Compare(a.Name, b.Name) })
	b := []byte{'{'}
	for i, m := range ms {
		if i > 0 {
			if ms[i-1].Name == m.Name {
				return "", fmt.Errorf("extra column %q given twice", m.Name)
			}
			b = append(b, layoutSep...)
		}
		if !utf8.ValidString(m.Name) || !utf8.ValidString(m.Text) {
			return "", fmt.Errorf("extra column %q: not valid UTF-8", m.Name)
		}
		b = appendJSONString(b, m.Name)
		b = append(b, layoutKeySep...)
		switch m.Kind {
		case measure.MemberNull:
			b = append(b, layoutNull...)
		case measure.MemberString:
			b = appendJSONString(b, m.Text)
		case measure.MemberBool:
			if m.Text != "true" && m.Text != "false" {
				return "", fmt.Errorf("extra column %q: boolean %q", m.Name, m.Text)
			}
			b = append(b, m.Text...)
		case measure.MemberNumber:
			if k, ok := classifyScalar([]byte(m.Text)); !ok || (k != scNumber && k != scNaN && k != scInf && k != scNegInf) {
				return "", fmt.Errorf("extra column %q: %q is not a JSON number", m.Name, m.Text)
			}
			b = append(b, m.Text...)
		case measure.MemberJSON:
			if err := checkJSON(m.Text); err != nil {
				return "", fmt.Errorf("extra column %q: %w", m.Name, err)
			}
			b = append(b, m.Text...)
		}
	}
	return string(append(b, '}')), nil
}

// checkJSON checks that s is exactly one JSON value.
func checkJSON(s string) error {
	sc := scanner{r: strings.NewReader(s), buf: make([]byte, 256)}
	if err := sc.skipValue(); err != nil {
		return fmt.Errorf("invalid JSON value: %v", err)
	}
	if c, ok := sc.peek(); ok {
		return fmt.Errorf("invalid JSON value: unexpected %q after it", c)
	}
	return nil
}

// ParseExtra splits a reading's "extra" object into its members, in the
// object's order.
func ParseExtra(s string) ([]measure.Member, error) {
	if s == "" {
		return nil, nil
	}
	sc := scanner{r: strings.NewReader(s), buf: make([]byte, 256)}
	ms, err := parseMembers(&sc, nil)
	if err != nil {
		return nil, fmt.Errorf("archivefile: \"extra\" object: %w", err)
	}
	return ms, nil
}

// parseMembers reads a JSON object of named values at the scanner.
func parseMembers(s *scanner, ms []measure.Member) ([]measure.Member, error) {
	if err := s.expect('{'); err != nil {
		return ms, err
	}
	first := true
	for {
		c, ok := s.peek()
		if !ok {
			return ms, errEOF
		}
		if c == '}' {
			s.pos++
			return ms, nil
		}
		if !first {
			if c != ',' {
				return ms, syntaxf("expected ',' or '}' after object member, found %q", c)
			}
			s.pos++
			if c, ok = s.peek(); !ok {
				return ms, errEOF
			}
		}
		first = false
		if c != '"' {
			return ms, syntaxf("expected object key string, found %q", c)
		}
		k, err := s.readString()
		if err != nil {
			return ms, err
		}
		m := measure.Member{Name: string(k)}
		if err := s.expect(':'); err != nil {
			return ms, err
		}
		raw, err := s.captureValue()
		if err != nil {
			return ms, err
		}
		m.Raw = string(raw)
		switch raw[0] {
		case '"':
			m.Kind = measure.MemberString
			sub := scanner{r: bytes.NewReader(raw), buf: make([]byte, len(raw)+1)}
			sub.peek()
			str, err := sub.readString()
			if err != nil {
				return ms, err
			}
			m.Text = string(str)
		case '{', '[':
			m.Kind, m.Text = measure.MemberJSON, m.Raw
		default:
			switch k, _ := classifyScalar(raw); k {
			case scNull:
				m.Kind = measure.MemberNull
			case scTrue, scFalse:
				m.Kind = measure.MemberBool
			default:
				m.Kind = measure.MemberNumber
			}
			m.Text = m.Raw
		}
		ms = append(ms, m)
	}
}
