package schema

// Date and time parsing for the decoders: exact, allocation-free, and
// stricter than package time (RFC 3339 with a zone, years 1900-9999).

// daysFromCivil returns the days since 1970-01-01 of the proleptic
// Gregorian date y-m-d (y >= 0).
func daysFromCivil(y, m, d int) int {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// digits parses b[i:i+n] as decimal digits, or returns -1.
func digits(b []byte, i, n int) int {
	if i+n > len(b) {
		return -1
	}
	v := 0
	for _, c := range b[i : i+n] {
		if c < '0' || c > '9' {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	return v
}

// parseYMD parses YYYY-MM-DD at the start of b.
func parseYMD(b []byte) (days int, ok bool) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	y, m, dd := digits(b, 0, 4), digits(b, 5, 2), digits(b, 8, 2)
	if y < minYear || y > maxYear || m < 1 || m > 12 || dd < 1 || dd > daysIn(y, m) {
		return 0, false
	}
	return daysFromCivil(y, m, dd), true
}

// parseDate parses exactly YYYY-MM-DD.
func parseDate(b []byte) (days int, ok bool) {
	if len(b) != 10 {
		return 0, false
	}
	return parseYMD(b)
}

// parseRFC3339 parses YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM) and returns
// the Unix time and the zone offset in seconds, or a message saying what is
// wrong.
func parseRFC3339(b []byte) (sec int64, nsec int32, off int, msg string) {
	const want = "not an RFC 3339 time like 2006-01-02T15:04:05+02:00"
	days, ok := parseYMD(b)
	if !ok {
		return 0, 0, 0, want
	}
	if len(b) < 19 || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, 0, 0, want
	}
	hh, mm, ss := digits(b, 11, 2), digits(b, 14, 2), digits(b, 17, 2)
	if hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59 {
		return 0, 0, 0, want
	}
	i := 19
	if i < len(b) && b[i] == '.' {
		i++
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if n == 9 {
				return 0, 0, 0, "more than nanosecond precision"
			}
			nsec = nsec*10 + int32(b[i]-'0')
			n++
			i++
		}
		if n == 0 {
			return 0, 0, 0, want
		}
		for ; n < 9; n++ {
			nsec *= 10
		}
	}
	switch {
	case i == len(b):
		return 0, 0, 0, "no zone offset (want Z or ±HH:MM)"
	case b[i] == 'Z' && i+1 == len(b):
	case (b[i] == '+' || b[i] == '-') && i+6 == len(b) && b[i+3] == ':':
		oh, om := digits(b, i+1, 2), digits(b, i+4, 2)
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return 0, 0, 0, "zone offset out of range"
		}
		off = (oh*60 + om) * 60
		if b[i] == '-' {
			off = -off
		}
	default:
		return 0, 0, 0, want
	}
	sec = int64(days)*86400 + int64(hh*3600+mm*60+ss) - int64(off)
	return sec, nsec, off, ""
}
