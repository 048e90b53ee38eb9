package archivefile

import (
	"bytes"
	"cmp"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
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
func SetValue(r *Reading, text string) error {
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

// ValueString is a reading's value as text PostgreSQL's input functions of
// every numeric type read back exactly (integers without a fraction, no
// exponent); ok is false for NULL.
func ValueString(r *Reading) (s string, ok bool) {
	if !r.Value.Valid {
		return "", false
	}
	if r.ValueText != "" {
		return r.ValueText, true
	}
	f := r.Value.Float64
	switch {
	case math.IsNaN(f):
		return "NaN", true
	case math.IsInf(f, 1):
		return "Infinity", true
	case math.IsInf(f, -1):
		return "-Infinity", true
	}
	return strconv.FormatFloat(f, 'f', -1, 64), true
}

// compareDecimal orders two valid JSON number tokens by their exact
// decimal value (-0 equals 0).
func compareDecimal(a, b string) int {
	na, nb := parseDecimal(a), parseDecimal(b)
	if na.neg != nb.neg {
		if na.neg {
			return -1
		}
		return 1
	}
	c := compareMagnitude(na, nb)
	if na.neg {
		return -c
	}
	return c
}

// decimal is a number as significant digits (no leading or trailing
// zeros) and the power of ten of the first one. Zero has no digits.
type decimal struct {
	neg    bool
	digits string
	exp    int64
}

func parseDecimal(s string) decimal {
	var d decimal
	if strings.HasPrefix(s, "-") {
		d.neg = true
		s = s[1:]
	}
	mant, e := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, _ = strconv.ParseInt(strings.TrimPrefix(s[i+1:], "+"), 10, 64)
	}
	ip, fp, _ := strings.Cut(mant, ".")
	all := ip + fp
	lead := 0
	for lead < len(all) && all[lead] == '0' {
		lead++
	}
	all = strings.TrimRight(all[lead:], "0")
	if all == "" {
		return decimal{} // zero, and -0 is 0
	}
	d.digits = all
	d.exp = int64(len(ip)) - int64(lead) - 1 + e
	return d
}

func compareMagnitude(a, b decimal) int {
	switch {
	case a.digits == "" && b.digits == "":
		return 0
	case a.digits == "":
		return -1
	case b.digits == "":
		return 1
	case a.exp != b.exp:
		return cmp.Compare(a.exp, b.exp)
	}
	return strings.Compare(a.digits, b.digits)
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

// MemberKind is the JSON kind of an "extra" value.
type MemberKind uint8

const (
	MemberNull MemberKind = iota
	MemberString
	MemberNumber // also NaN, Infinity, -Infinity
	MemberBool
	MemberJSON // an object or array
)

// Member is one named value of a reading's "extra" object.
type Member struct {
	Name string
	Kind MemberKind
	// Text is the decoded string for MemberString, and the JSON text for
	// every other kind ("null", a number, "true", an object).
	Text string
	// Raw is the value's JSON text exactly as in the archive (a string
	// with its quotes); a json column restores from it.
	Raw string
}

// EncodeExtra returns the canonical "extra" object for ms: members in
// byte order of their names, Python's separators, strings escaped as
// appendJSONString does, numbers and JSON values as given (Text). Names
// must be distinct and every text valid UTF-8; a MemberJSON text must be
// valid JSON (it is checked).
func EncodeExtra(ms []Member) (string, error) {
	if len(ms) == 0 {
		return "", nil
	}
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
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
		case MemberNull:
			b = append(b, layoutNull...)
		case MemberString:
			b = appendJSONString(b, m.Text)
		case MemberBool:
			if m.Text != "true" && m.Text != "false" {
				return "", fmt.Errorf("extra column %q: boolean %q", m.Name, m.Text)
			}
			b = append(b, m.Text...)
		case MemberNumber:
			if k, ok := classifyScalar([]byte(m.Text)); !ok || (k != scNumber && k != scNaN && k != scInf && k != scNegInf) {
				return "", fmt.Errorf("extra column %q: %q is not a JSON number", m.Name, m.Text)
			}
			b = append(b, m.Text...)
		case MemberJSON:
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
func ParseExtra(s string) ([]Member, error) {
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
func parseMembers(s *scanner, ms []Member) ([]Member, error) {
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
		m := Member{Name: string(k)}
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
			m.Kind = MemberString
			sub := scanner{r: bytes.NewReader(raw), buf: make([]byte, len(raw)+1)}
			sub.peek()
			str, err := sub.readString()
			if err != nil {
				return ms, err
			}
			m.Text = string(str)
		case '{', '[':
			m.Kind, m.Text = MemberJSON, m.Raw
		default:
			switch k, _ := classifyScalar(raw); k {
			case scNull:
				m.Kind = MemberNull
			case scTrue, scFalse:
				m.Kind = MemberBool
			default:
				m.Kind = MemberNumber
			}
			m.Text = m.Raw
		}
		ms = append(ms, m)
	}
}
