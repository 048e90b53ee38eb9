package archivefile

// appendClock appends "HH:MM:SS[.fffffffff]" for a second-of-day and
// nanosecond, trimming trailing fractional zeros like time.RFC3339Nano.
func appendClock(dst []byte, sod int64, nsec int) []byte {
	h := int(sod / 3600)
	m := int(sod / 60 % 60)
	s := int(sod % 60)
	dst = append(dst, byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+m/10), byte('0'+m%10), ':',
		byte('0'+s/10), byte('0'+s%10))
	if nsec == 0 {
		return dst
	}
	var frac [10]byte
	frac[0] = '.'
	for i := 9; i >= 1; i-- {
		frac[i] = byte('0' + nsec%10)
		nsec /= 10
	}
	n := 10
	for frac[n-1] == '0' {
		n--
	}
	return append(dst, frac[:n]...)
}
