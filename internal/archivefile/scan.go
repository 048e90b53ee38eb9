package archivefile

import (
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/shizuku-labs/archiver/internal/pyjson"
)

// scanner is a minimal pull tokenizer over a decompressed JSON stream. It
// keeps one growable window of input so that a token is always contiguous
// in memory and can be parsed in place, which is what lets the reader avoid
// per-reading allocations; memory stays bounded by the longest token, not
// the document.
type scanner struct {
	r        io.Reader
	buf      []byte
	pos, end int
	off      int64 // stream offset of buf[0]
	total    int64 // decompressed bytes read so far
	max      int64 // 0 = unlimited
	err      error // why no more input: io.EOF or a failure
	scratch  []byte
	stack    []byte

	// capturing collects the bytes consumed from capStart on into capBuf
	// (see captureValue), across window moves.
	capturing bool
	capStart  int
	capBuf    []byte
}

// maxScalar caps numbers and bare literals: nothing legitimate is longer,
// and without a cap a run of digits could grow the window unboundedly.
const maxScalar = 1024

// offset is the stream position of the next unread byte, for messages.
func (s *scanner) offset() int64 { return s.off + int64(s.pos) }

// more reads more input while keeping buf[pos:end]. It reports false once
// nothing more can be read; s.err then says why.
func (s *scanner) more() bool {
	if s.err != nil {
		return false
	}
	if s.pos > 0 {
		if s.capturing {
			s.capBuf = append(s.capBuf, s.buf[s.capStart:s.pos]...)
			s.capStart = 0
		}
		n := copy(s.buf, s.buf[s.pos:s.end])
		s.off += int64(s.pos)
		s.end = n
		s.pos = 0
	}
	if s.end == len(s.buf) {
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for {
		n, err := s.r.Read(s.buf[s.end:])
		if n > 0 {
			s.end += n
			s.total += int64(n)
			if s.max > 0 && s.total > s.max {
				s.err = fmt.Errorf("decompressed size exceeds the limit of %d bytes: %w", s.max, ErrLimit)
				return false
			}
			if err != nil {
				// Hand out the data first; the error surfaces on the next call.
				s.err = err
			}
			return true
		}
		if err != nil {
			s.err = err
			return false
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// peek skips whitespace and returns the next byte without consuming it.
func (s *scanner) peek() (byte, bool) {
	for {
		for s.pos < s.end {
			c := s.buf[s.pos]
			if !isSpace(c) {
				return c, true
			}
			s.pos++
		}
		if !s.more() {
			return 0, false
		}
	}
}

func (s *scanner) nextByte() (byte, bool) {
	if s.pos == s.end && !s.more() {
		return 0, false
	}
	c := s.buf[s.pos]
	s.pos++
	return c, true
}

// errSyntax marks malformed JSON; the reader adds the location.
type errSyntax struct{ msg string }

func (e *errSyntax) Error() string { return e.msg }

func syntaxf(format string, args ...any) error {
	return &errSyntax{msg: fmt.Sprintf(format, args...)}
}

// errEOF is returned for input that ends (or fails) mid-document; the
// reader turns it into the underlying cause.
var errEOF = &errSyntax{msg: "unexpected end of JSON input"}

// readString reads the string starting at buf[pos] == '"' and returns its
// decoded bytes. The result aliases internal buffers and is valid only until
// the next scanner call. Strings must be valid UTF-8 without lone
// surrogates, because they may be re-encoded and written to PostgreSQL.
func (s *scanner) readString() ([]byte, error) {
	i := s.pos + 1
	ascii := true
	for {
		for i < s.end {
			c := s.buf[i]
			switch {
			case c == '"':
				str := s.buf[s.pos+1 : i]
				s.pos = i + 1
				if !ascii && !utf8.Valid(str) {
					return nil, syntaxf("string is not valid UTF-8")
				}
				return str, nil
			case c == '\\':
				return s.readStringSlow(i)
			case c < 0x20:
				return nil, syntaxf("control character 0x%02x in string", c)
			case c >= utf8.RuneSelf:
				ascii = false
			}
			i++
		}
		k := i - s.pos
		if !s.more() {
			return nil, errEOF
		}
		i = s.pos + k
	}
}

// readStringSlow decodes a string containing escapes into scratch; i is the
// index of the first backslash.
func (s *scanner) readStringSlow(i int) ([]byte, error) {
	out := append(s.scratch[:0], s.buf[s.pos+1:i]...)
	s.pos = i
	for {
		c, ok := s.nextByte()
		if !ok {
			return nil, errEOF
		}
		switch {
		case c == '"':
			s.scratch = out
			if !utf8.Valid(out) {
				return nil, syntaxf("string is not valid UTF-8")
			}
			return out, nil
		case c < 0x20:
			return nil, syntaxf("control character 0x%02x in string", c)
		case c != '\\':
			out = append(out, c)
			continue
		}
		e, ok := s.nextByte()
		if !ok {
			return nil, errEOF
		}
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, err := s.hex4()
			if err != nil {
				return nil, err
			}
			if utf16.IsSurrogate(r) {
				if r >= 0xdc00 {
					return nil, syntaxf("lone low surrogate \\u%04x in string", r)
				}
				b1, ok1 := s.nextByte()
				b2, ok2 := s.nextByte()
				if !ok1 || !ok2 {
					return nil, errEOF
				}
				if b1 != '\\' || b2 != 'u' {
					return nil, syntaxf("lone high surrogate \\u%04x in string", r)
				}
				r2, err := s.hex4()
				if err != nil {
					return nil, err
				}
				d := utf16.DecodeRune(r, r2)
				if d == utf8.RuneError {
					return nil, syntaxf("invalid surrogate pair \\u%04x\\u%04x in string", r, r2)
				}
				r = d
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, syntaxf("invalid escape \\%c in string", e)
		}
	}
}

func (s *scanner) hex4() (rune, error) {
	var r rune
	for k := 0; k < 4; k++ {
		c, ok := s.nextByte()
		if !ok {
			return 0, errEOF
		}
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, syntaxf("invalid \\u escape in string")
		}
		r = r<<4 | rune(v)
	}
	return r, nil
}

// skipString consumes a string at buf[pos] == '"' without keeping it, so an
// unknown key's huge value does not grow the window.
func (s *scanner) skipString() error {
	s.pos++
	for {
		c, ok := s.nextByte()
		if !ok {
			return errEOF
		}
		switch {
		case c == '"':
			return nil
		case c < 0x20:
			return syntaxf("control character 0x%02x in string", c)
		case c == '\\':
			e, ok := s.nextByte()
			if !ok {
				return errEOF
			}
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, err := s.hex4(); err != nil {
					return err
				}
			default:
				return syntaxf("invalid escape \\%c in string", e)
			}
		}
	}
}

func isDelim(c byte) bool {
	switch c {
	case ',', ']', '}', ':', '[', '{', '"', ' ', '\n', '\r', '\t':
		return true
	}
	return false
}

// readScalar returns the bare token (number or literal) at pos. The result
// aliases the window and is valid until the next scanner call.
func (s *scanner) readScalar() ([]byte, error) {
	i := s.pos
	for {
		for i < s.end {
			if isDelim(s.buf[i]) {
				tok := s.buf[s.pos:i]
				s.pos = i
				return tok, nil
			}
			i++
			if i-s.pos > maxScalar {
				return nil, syntaxf("number or literal longer than %d bytes", maxScalar)
			}
		}
		k := i - s.pos
		if !s.more() {
			if s.err != io.EOF {
				return nil, errEOF
			}
			// A token at the very end: let the caller's next step report
			// the missing closing bracket.
			tok := s.buf[s.pos:s.end]
			s.pos = s.end
			return tok, nil
		}
		i = s.pos + k
	}
}

// skipValue consumes one JSON value of any shape, checking its syntax, for
// keys the format does not define. It is iterative so that deep nesting
// cannot exhaust the goroutine stack.
func (s *scanner) skipValue() error {
	stack := s.stack[:0]
	defer func() { s.stack = stack[:0] }()
	for {
		// A value is expected here.
		c, ok := s.peek()
		if !ok {
			return errEOF
		}
		switch c {
		case '{', '[':
			s.pos++
			d, ok := s.peek()
			if !ok {
				return errEOF
			}
			if (c == '{' && d == '}') || (c == '[' && d == ']') {
				s.pos++
				break
			}
			stack = append(stack, c)
			if c == '{' {
				if err := s.skipKey(); err != nil {
					return err
				}
			}
			continue
		case '"':
			if err := s.skipString(); err != nil {
				return err
			}
		default:
			tok, err := s.readScalar()
			if err != nil {
				return err
			}
			if _, ok := pyjson.Classify(tok); !ok {
				return syntaxf("invalid value %q", tok)
			}
		}
		// A value is complete: close containers or move to the next element.
		for {
			if len(stack) == 0 {
				return nil
			}
			d, ok := s.peek()
			if !ok {
				return errEOF
			}
			top := stack[len(stack)-1]
			if d == ',' {
				s.pos++
				if top == '{' {
					if err := s.skipKey(); err != nil {
						return err
					}
				}
				break
			}
			if (top == '{' && d == '}') || (top == '[' && d == ']') {
				s.pos++
				stack = stack[:len(stack)-1]
				continue
			}
			return syntaxf("expected ',' or closing bracket, found %q", d)
		}
	}
}

// captureValue consumes one JSON value, like skipValue, and returns its
// text exactly as in the input (without surrounding whitespace). The
// result aliases a buffer that the next captureValue reuses.
func (s *scanner) captureValue() ([]byte, error) {
	if _, ok := s.peek(); !ok {
		return nil, errEOF
	}
	s.capturing, s.capStart, s.capBuf = true, s.pos, s.capBuf[:0]
	err := s.skipValue()
	s.capturing = false
	if err != nil {
		return nil, err
	}
	s.capBuf = append(s.capBuf, s.buf[s.capStart:s.pos]...)
	return s.capBuf, nil
}

// skipKey consumes `"key":` inside an object being skipped.
func (s *scanner) skipKey() error {
	c, ok := s.peek()
	if !ok {
		return errEOF
	}
	if c != '"' {
		return syntaxf("expected object key string, found %q", c)
	}
	if err := s.skipString(); err != nil {
		return err
	}
	return s.expect(':')
}

func (s *scanner) expect(want byte) error {
	c, ok := s.peek()
	if !ok {
		return errEOF
	}
	if c != want {
		return syntaxf("expected %q, found %q", want, c)
	}
	s.pos++
	return nil
}
