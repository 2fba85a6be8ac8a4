package http1

// This file implements HTTP dates (RFC 9110 §5.6.7) by hand rather than with
// time.Parse, because If-Modified-Since is parsed on the hot path and must
// not allocate, and only three exact layouts are valid.

import "time"

const imfLen = len("Sun, 06 Nov 1994 08:49:37 GMT")

func (d *DateCache) get(now time.Time) []byte {
	if sec := now.Unix(); sec != d.sec || d.buf[0] == 0 {
		d.sec = sec
		appendHTTPDate(d.buf[:0], now)
	}
	return d.buf[:]
}

func appendHTTPDate(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(dst, "Mon, 02 Jan 2006 15:04:05 GMT")
}

var (
	dayNames   = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	longDays   = [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	monthNames = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

func parseHTTPDate(b []byte) (time.Time, bool) {
	switch {
	case len(b) == imfLen && b[3] == ',':
		// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
		if !isName(b[:3], dayNames[:]) || b[4] != ' ' || b[7] != ' ' || b[11] != ' ' || b[16] != ' ' || string(b[25:]) != " GMT" {
			return time.Time{}, false
		}
		return build(b[5:7], b[8:11], b[12:16], nil, b[17:25])
	case len(b) == 24 && b[3] == ' ':
		// asctime: "Sun Nov  6 08:49:37 1994"
		if !isName(b[:3], dayNames[:]) || b[7] != ' ' || b[10] != ' ' || b[19] != ' ' {
			return time.Time{}, false
		}
		day := b[8:10]
		if day[0] == ' ' {
			day = day[1:]
		}
		return build(day, b[4:7], b[20:24], nil, b[11:19])
	default:
		// RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
		c := 0
		for c < len(b) && b[c] != ',' {
			c++
		}
		if c == len(b) || !isName(b[:c], longDays[:]) {
			return time.Time{}, false
		}
		r := b[c:]
		if len(r) != len(", 06-Nov-94 08:49:37 GMT") || r[1] != ' ' || r[4] != '-' || r[8] != '-' || r[11] != ' ' || string(r[20:]) != " GMT" {
			return time.Time{}, false
		}
		return build(r[2:4], r[5:8], nil, r[9:11], r[12:20])
	}
}

func isName(b []byte, names []string) bool {
	for _, n := range names {
		if string(b) == n {
			return true
		}
	}
	return false
}

// num parses 1*DIGIT; -1 when b is empty or holds a non-digit.
func num(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// build checks the fields and makes the time; yy (a two-digit year) is used
// when year is nil, read as the most recent year that is not more than 50
// years in the future (RFC 9110 §5.6.7).
func build(day, month, year, yy, clock []byte) (time.Time, bool) {
	d := num(day)
	m := -1
	for i, name := range monthNames {
		if string(month) == name {
			m = i + 1
		}
	}
	var y int
	if year != nil {
		y = num(year)
	} else if y = num(yy); y >= 0 {
		now := time.Now().UTC().Year()
		y += now - now%100
		if y > now+50 {
			y -= 100
		}
	}
	if clock[2] != ':' || clock[5] != ':' {
		return time.Time{}, false
	}
	hh, mm, ss := num(clock[0:2]), num(clock[3:5]), num(clock[6:8])
	if d < 1 || m < 0 || y < 0 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60 {
		return time.Time{}, false
	}
	if ss == 60 {
		ss = 59 // a leap second; time.Time has none
	}
	t := time.Date(y, time.Month(m), d, hh, mm, ss, 0, time.UTC)
	if t.Day() != d { // 31 Feb and the like
		return time.Time{}, false
	}
	return t, true
}
