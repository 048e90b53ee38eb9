package archivefile

import (
	"bytes"

	"github.com/shizuku-labs/archiver/internal/measure"
)

// fastPath switches readCanonical on; tests switch it off to check that
// both paths read the same.
var fastPath = true

// canonicalMax is more than the members readCanonical reads ever take in
// a canonical reading (a 64-byte method name, the longest number, the
// longest time), so a window with this much left holds them all or the
// reading is not canonical.
const canonicalMax = 512

// readCanonical reads the members every reading has ("time" through
// "imputation_method", including the opening brace) at the scanner's
// position if they are laid out exactly as the Writer writes them (the
// layout constants, no escapes in strings), which is every reading of
// every archive this program wrote. It parses the bytes in place with the
// general path's field parsers, and leaves what follows (the "extra"
// object, other tools' members, the closing brace) to the general path's
// member loop; done reports that the reading ended with them (its closing
// brace consumed). Anything else, including anything invalid, makes it return
// false without consuming input, and the general path parses the whole
// object and reports its errors: the fast path changes the speed of
// reading, never what is read or what is refused.
func (r *Reader) readCanonical() (sec int64, done, ok bool) {
	if !fastPath {
		return 0, false, false
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
		return 0, false, false
	}
	b := s.buf[p:s.end]

	if !bytes.HasPrefix(b, []byte(layoutTime)) {
		return 0, false, false
	}
	i := len(layoutTime)
	j := bytes.IndexByte(b[i:], '"')
	if j < 0 {
		return 0, false, false
	}
	t, sec, err := parseTimeField(b[i:i+j], &r.dates)
	if err != nil {
		return 0, false, false
	}
	i += j

	if !bytes.HasPrefix(b[i:], []byte(layoutValue)) {
		return 0, false, false
	}
	i += len(layoutValue)
	tok, i, ok := canonicalScalar(b, i)
	if !ok {
		return 0, false, false
	}
	v, text, err := parseValueField(tok)
	if err != nil {
		return 0, false, false
	}

	if !bytes.HasPrefix(b[i:], []byte(layoutQC)) {
		return 0, false, false
	}
	i += len(layoutQC)
	if tok, i, ok = canonicalScalar(b, i); !ok {
		return 0, false, false
	}
	qc, err := parseQCField(tok)
	if err != nil {
		return 0, false, false
	}

	if !bytes.HasPrefix(b[i:], []byte(layoutMethod)) {
		return 0, false, false
	}
	i += len(layoutMethod)
	cur := &r.cur
	*cur = measure.Reading{Sensor: r.sensor, Time: t, Value: v, ValueText: text, QCFlags: qc}
	switch {
	case bytes.HasPrefix(b[i:], []byte(layoutNull)):
		i += len(layoutNull)
		if i >= len(b) || !isDelim(b[i]) {
			return 0, false, false // "nullx": the general path reads the whole token and refuses it
		}
	case i < len(b) && b[i] == '"':
		i++
		k := i
		for k < len(b) {
			c := b[k]
			if c == '"' {
				break
			}
			if c < 0x20 || c == '\\' || c >= 0x80 {
				return 0, false, false // escapes, control or non-ASCII bytes: the general path
			}
			k++
		}
		if k >= len(b) {
			return 0, false, false
		}
		cur.Imputation.String, cur.Imputation.Valid = r.internString(b[i:k]), true
		i = k + 1
	default:
		return 0, false, false
	}
	if i < len(b) && b[i] == layoutReadEnd[0] {
		// The reading ends here, as most do: done, without the loop.
		s.pos = p + i + 1
		return sec, true, true
	}
	s.pos = p + i
	return sec, false, true
}

// canonicalScalar returns the bare token at b[i:] and the index of the
// delimiter after it, which must be the comma of the next member; ok is
// false otherwise.
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
