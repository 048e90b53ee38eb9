package measure

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/shizuku-labs/archiver/internal/pyjson"
)

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
// pyjson.AppendString does, numbers and JSON values as given (Text). Names
// must be distinct and every text valid UTF-8; a MemberJSON text must be
// one JSON value (RFC 8259, as encoding/json.Valid checks it: what a json
// or jsonb column holds).
//
// The text is the reading's identity as much as its values are (Compare
// orders by it), so the one canonical form is defined here, with the
// reading, and the archive writes it through unchanged.
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
			b = append(b, pyjson.ItemSep...)
		}
		if !utf8.ValidString(m.Name) || !utf8.ValidString(m.Text) {
			return "", fmt.Errorf("extra column %q: not valid UTF-8", m.Name)
		}
		b = pyjson.AppendString(b, m.Name)
		b = append(b, pyjson.KeySep...)
		switch m.Kind {
		case MemberNull:
			b = append(b, "null"...)
		case MemberString:
			b = pyjson.AppendString(b, m.Text)
		case MemberBool:
			if m.Text != "true" && m.Text != "false" {
				return "", fmt.Errorf("extra column %q: boolean %q", m.Name, m.Text)
			}
			b = append(b, m.Text...)
		case MemberNumber:
			if k, ok := pyjson.Classify([]byte(m.Text)); !ok || (k != pyjson.Number && k != pyjson.NaN && k != pyjson.Inf && k != pyjson.NegInf) {
				return "", fmt.Errorf("extra column %q: %q is not a JSON number", m.Name, m.Text)
			}
			b = append(b, m.Text...)
		case MemberJSON:
			if !json.Valid([]byte(m.Text)) {
				return "", fmt.Errorf("extra column %q: invalid JSON value %.40q", m.Name, m.Text)
			}
			b = append(b, m.Text...)
		}
	}
	return string(append(b, '}')), nil
}
