// Package envfile reads an environment file the way systemd's
// EnvironmentFile= does, so that one file serves a systemd unit, a cron line
// and a shell the same way: the archiver reads it itself (--env-file,
// ARCHIVER_ENV_FILE) instead of a shell sourcing it.
//
// Sourcing with sh is what loses data: an unquoted `&` (in the S3 URLs the
// README recommends) ends the assignment and runs the rest in the
// background, `$x` is expanded, ` #` starts a comment, a space splits the
// value. systemd takes all of those literally. The rules, from systemd's
// env-file.c (and systemd.exec(5)):
//
//   - one KEY=VALUE per line; blank lines and lines starting with # or ;
//     are ignored (a comment is a whole line, never the end of one);
//   - whitespace around the key and before the value is dropped, trailing
//     whitespace of an unquoted value too;
//   - an unquoted value is literal (quotes inside it too: O'Brien), except
//     that a backslash takes the next character literally and a backslash
//     at the end of a line continues the value on the next line;
//   - '…' holds everything literally up to the next single quote;
//   - "…" holds everything literally except \" \\ \` \$ (the character
//     itself) and a backslash at the end of a line (continuation); any
//     other backslash is kept;
//   - quoted and unquoted parts next to each other are joined;
//   - $ has no meaning: no variable is expanded.
//
// Where systemd would skip a line with a warning (no "=", an invalid name,
// a control character), Parse fails instead, naming the line: a skipped
// DATABASE_URL is a run against the wrong database.
package envfile

import (
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// Var is one assignment of the file.
type Var struct {
	Key, Value string
	Line       int // where the assignment starts, 1-based
}

// Read parses the file at path.
func Read(path string) ([]Var, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read environment file: %w", err)
	}
	vars, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("environment file %s: %w", path, err)
	}
	return vars, nil
}

type state int

const (
	preKey state = iota
	key
	preValue
	value
	valueEscape
	singleQuote
	doubleQuote
	doubleQuoteEscape
	comment
	commentEscape
)

// Parse reads the text of an environment file.
func Parse(text string) ([]Var, error) {
	var (
		out      []Var
		st       = preKey
		k, v     strings.Builder
		line     = 1
		start    = 1
		keyEnd   int // length of k without trailing whitespace
		valueEnd = -1
		hasEqual bool
	)
	// push records the assignment read so far; valueEnd cuts an unquoted
	// value's trailing whitespace.
	push := func() error {
		name := k.String()[:keyEnd]
		val := v.String()
		if valueEnd >= 0 {
			val = val[:valueEnd]
		}
		k.Reset()
		v.Reset()
		keyEnd, valueEnd, hasEqual = 0, -1, false
		if rest, ok := strings.CutPrefix(name, "export "); ok && validName(strings.TrimSpace(rest)) {
			return fmt.Errorf("line %d: drop the \"export\": this file is read as systemd reads an EnvironmentFile, not run by a shell", start)
		}
		if !validName(name) {
			return fmt.Errorf("line %d: %q is not a variable name (letters, digits and _, not starting with a digit)", start, name)
		}
		if !utf8.ValidString(val) {
			return fmt.Errorf("line %d: the value of %s is not valid UTF-8", start, name)
		}
		for _, r := range val {
			if r < 0x20 && r != '\t' && r != '\n' || r == 0x7f {
				return fmt.Errorf("line %d: the value of %s holds control character %U", start, name, r)
			}
		}
		out = append(out, Var{Key: name, Value: val, Line: start})
		return nil
	}
	// markSpace, called before c is added, remembers where trailing
	// whitespace of an unquoted value starts; any other character, or an
	// escaped one, cancels it.
	markSpace := func(c byte) {
		if c == ' ' || c == '\t' {
			if valueEnd < 0 {
				valueEnd = v.Len()
			}
		} else {
			valueEnd = -1
		}
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		nl := c == '\n' || c == '\r'
		switch st {
		case preKey:
			switch {
			case nl:
			case c == '#' || c == ';':
				st = comment
			case c == ' ' || c == '\t':
			default:
				st, start = key, line
				k.WriteByte(c)
				keyEnd = k.Len()
			}
		case key:
			switch {
			case nl:
				return nil, fmt.Errorf("line %d: %q has no \"=\": expected KEY=value", start, strings.TrimSpace(k.String()))
			case c == '=':
				st, hasEqual = preValue, true
			default:
				k.WriteByte(c)
				if c != ' ' && c != '\t' {
					keyEnd = k.Len()
				}
			}
		case preValue:
			switch {
			case nl:
				if err := push(); err != nil {
					return nil, err
				}
				st = preKey
			case c == '\'':
				st = singleQuote
			case c == '"':
				st = doubleQuote
			case c == '\\':
				st = valueEscape
			case c == ' ' || c == '\t':
			default:
				st = value
				v.WriteByte(c)
				valueEnd = -1
			}
		case value:
			switch {
			case nl:
				if err := push(); err != nil {
					return nil, err
				}
				st = preKey
			case c == '\\':
				st = valueEscape
				valueEnd = -1
			default:
				markSpace(c)
				v.WriteByte(c)
			}
		case valueEscape:
			st = value
			if !nl {
				v.WriteByte(c)
				valueEnd = -1
			} else if c == '\r' && i+1 < len(text) && text[i+1] == '\n' {
				i++
			}
		case singleQuote:
			if c == '\'' {
				st = preValue
			} else {
				v.WriteByte(c)
			}
			valueEnd = -1
		case doubleQuote:
			switch c {
			case '"':
				st = preValue
			case '\\':
				st = doubleQuoteEscape
			default:
				v.WriteByte(c)
			}
			valueEnd = -1
		case doubleQuoteEscape:
			st = doubleQuote
			switch {
			case strings.IndexByte("\"\\`$", c) >= 0:
				v.WriteByte(c)
			case nl:
				if c == '\r' && i+1 < len(text) && text[i+1] == '\n' {
					i++
				}
			default:
				v.WriteByte('\\')
				v.WriteByte(c)
			}
		case comment:
			if c == '\\' {
				st = commentEscape
			} else if nl {
				st = preKey
			}
		case commentEscape:
			st = comment
		}
		if c == '\n' {
			line++
		}
	}
	switch st {
	case key:
		return nil, fmt.Errorf("line %d: %q has no \"=\": expected KEY=value", start, strings.TrimSpace(k.String()))
	case singleQuote, doubleQuote, doubleQuoteEscape:
		return nil, fmt.Errorf("line %d: the value of %s has an unterminated quote", start, k.String()[:keyEnd])
	case preValue, value, valueEscape:
		if hasEqual {
			if err := push(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func validName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
