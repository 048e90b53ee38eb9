package pyjson

// Kind is the kind of a scalar token.
type Kind uint8

// Scalar kinds.
const (
	Number Kind = iota
	Null
	True
	False
	NaN    // Python's NaN
	Inf    // Python's Infinity
	NegInf // Python's -Infinity
)

// Classify recognises JSON numbers and literals, plus the NaN,
// Infinity and -Infinity tokens Python's json module writes.
func Classify(b []byte) (Kind, bool) {
	switch string(b) {
	case "null":
		return Null, true
	case "true":
		return True, true
	case "false":
		return False, true
	case "NaN":
		return NaN, true
	case "Infinity":
		return Inf, true
	case "-Infinity":
		return NegInf, true
	}
	return Number, ValidNumber(b)
}

// ValidNumber checks the JSON number grammar; strconv alone would also take
// hex floats, underscores and "inf".
func ValidNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return false
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == len(b)
}

// IsInteger reports whether a valid JSON number has no fraction or exponent.
func IsInteger(b []byte) bool {
	for _, c := range b {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}
