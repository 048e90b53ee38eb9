package measure

import (
	"cmp"
	"strconv"
	"strings"
)

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
