package archivefile

import (
	"bytes"
	"strconv"
	"time"
)

// Literal pieces of a reading object exactly as the Writer lays it out.
const (
	litTime        = `{"time": "`
	litMeasurement = `, "measurement": `
	litQC          = `, "qc_flags": `
	litImputation  = `, "imputation_method": `
	litNull        = `null`
)

// fastPath switches readCanonical on; tests switch it off to check that
// both paths read the same.
var fastPath = true

// canonicalMax is more than any canonical reading object needs (a
// 64-byte method name, the longest number, the longest time), so a window
// with this much left holds the whole object or it is not canonical.
const canonicalMax = 512

// readCanonical parses the reading object at the scanner's position if it
// is laid out exactly as the Writer writes it (keys in the Writer's order,
// single spaces, no escapes in strings), which is every reading of every
// archive this program wrote. It reads the bytes in place, with the same
// value parsers as the general path. Anything else, including anything
// invalid, makes it return false without consuming input, and the general
// path parses the object and reports its errors: the fast path changes the
// speed of reading, never what is read or what is refused.
func (r *Reader) readCanonical() (sec int64, ok bool) {
	if !fastPath {
		return 0, false
	}
	// Only the bytes already in the window are looked at: the general path
	// decides when to read more, so that both paths stop at the same byte
	// when the input fails or exceeds a limit. Near the end of the window
	// (one reading in a few hundred) the general path parses the reading.
	s := &r.s
	p := s.pos
	for p < s.end && isSpace(s.buf[p]) {
		p++
	}
	if s.end-p < canonicalMax && s.err == nil {
		return 0, false
	}
	b := s.buf[p:s.end]

	if !bytes.HasPrefix(b, []byte(litTime)) {
		return 0, false
	}
	i := len(litTime)
	j := bytes.IndexByte(b[i:], '"')
	if j < 0 {
		return 0, false
	}
	sec, nsec, ok := parseTime(b[i : i+j])
	if !ok {
		return 0, false
	}
	i += j + 1

	if !bytes.HasPrefix(b[i:], []byte(litMeasurement)) {
		return 0, false
	}
	i += len(litMeasurement)
	tok, i, ok := canonicalScalar(b, i)
	if !ok {
		return 0, false
	}
	cur := &r.cur
	*cur = Reading{Sensor: r.sensor}
	if string(tok) != litNull {
		v, text, ok := ParseNumber(tok)
		if !ok {
			return 0, false
		}
		cur.Value, cur.ValueText = v, text
	}

	if !bytes.HasPrefix(b[i:], []byte(litQC)) {
		return 0, false
	}
	i += len(litQC)
	if tok, i, ok = canonicalScalar(b, i); !ok {
		return 0, false
	}
	switch kind, ok := classifyScalar(tok); {
	case !ok:
		return 0, false
	case kind == scNull:
	case kind == scNumber && isInteger(tok):
		v, err := strconv.ParseInt(string(tok), 10, 64)
		if err != nil {
			return 0, false
		}
		cur.QCFlags.Int64, cur.QCFlags.Valid = v, true
	default:
		return 0, false
	}

	if !bytes.HasPrefix(b[i:], []byte(litImputation)) {
		return 0, false
	}
	i += len(litImputation)
	switch {
	case bytes.HasPrefix(b[i:], []byte(litNull)):
		i += len(litNull)
	case i < len(b) && b[i] == '"':
		i++
		k := i
		for k < len(b) {
			c := b[k]
			if c == '"' {
				break
			}
			if c < 0x20 || c == '\\' || c >= 0x80 {
				return 0, false // escapes, control or non-ASCII bytes: the general path
			}
			k++
		}
		if k >= len(b) {
			return 0, false
		}
		cur.Imputation.String, cur.Imputation.Valid = r.internString(b[i:k]), true
		i = k + 1
	default:
		return 0, false
	}
	if i >= len(b) || b[i] != '}' {
		return 0, false
	}
	cur.Time = time.Unix(sec, int64(nsec)).UTC()
	s.pos = p + i + 1
	return sec, true
}

// canonicalScalar returns the bare token at b[i:] and the index of the
// delimiter after it, which must be a comma; ok is false otherwise.
func canonicalScalar(b []byte, i int) (tok []byte, next int, ok bool) {
	k := i
	for k < len(b) && !isDelim(b[k]) {
		k++
	}
	if k >= len(b) || b[k] != ',' || k == i || k-i > maxScalar {
		return nil, 0, false
	}
	return b[i:k], k, true
}
