package archivefile

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/shizuku-labs/archiver/internal/measure"
	"github.com/shizuku-labs/archiver/internal/pyjson"
)

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
			switch k, _ := pyjson.Classify(raw); k {
			case pyjson.Null:
				m.Kind = measure.MemberNull
			case pyjson.True, pyjson.False:
				m.Kind = measure.MemberBool
			default:
				m.Kind = measure.MemberNumber
			}
			m.Text = m.Raw
		}
		ms = append(ms, m)
	}
}
