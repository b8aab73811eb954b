package conf

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"edge/parser"
)

var errInvalid = errors.New("invalid value")

// ParseSize reads a size as ngx_parse_size does: a number of bytes with
// an optional k or m (either case).
func ParseSize(s string) (int64, error) { return parseScaled(s, false) }

// ParseOffset reads a file offset as ngx_parse_offset does: a size that
// may also end in g.
func ParseOffset(s string) (int64, error) { return parseScaled(s, true) }

func parseScaled(s string, giga bool) (int64, error) {
	if s == "" {
		return 0, errInvalid
	}
	scale := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		scale = 1 << 10
	case 'm', 'M':
		scale = 1 << 20
	case 'g', 'G':
		if giga {
			scale = 1 << 30
		}
	}
	if scale > 1 {
		s = s[:len(s)-1]
	}
	n, err := parseInt(s)
	if err != nil || n > math.MaxInt64/scale {
		return 0, errInvalid
	}
	return n * scale, nil
}

// parseInt is ngx_atoi: digits only, no sign.
func parseInt(s string) (int64, error) {
	if s == "" {
		return 0, errInvalid
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errInvalid
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errInvalid
	}
	return n, nil
}

// ParseNumber reads a non-negative integer like ngx_atoi.
func ParseNumber(s string) (int64, error) { return parseInt(s) }

// ParseTime is a port of nginx 1.22's ngx_parse_time: numbers with the
// units y M w d h m s ms in decreasing order, each at most once, with or
// without spaces ("1h30m", "1h 30m"); a bare number is seconds. With
// seconds set (nginx's sec slots) "ms" is refused; without it (msec slots)
// years and months are. Durations past Go's 292 years are capped.
func ParseTime(s string, seconds bool) (time.Duration, error) {
	const (
		stStart = iota
		stYear
		stMonth
		stWeek
		stDay
		stHour
		stMin
		stSec
		stMsec
		stLast
	)
	step := stStart
	if !seconds {
		step = stMonth
	}
	var value, total int64
	valid := false
	for p := 0; p < len(s); {
		c := s[p]
		if c >= '0' && c <= '9' {
			if value > (math.MaxInt64-int64(c-'0'))/10 {
				return 0, errInvalid
			}
			value = value*10 + int64(c-'0')
			valid = true
			p++
			continue
		}
		p++
		var scale int64
		next := 0
		switch c {
		case 'y':
			next, scale = stYear, 365*24*3600
		case 'M':
			next, scale = stMonth, 30*24*3600
		case 'w':
			next, scale = stWeek, 7*24*3600
		case 'd':
			next, scale = stDay, 24*3600
		case 'h':
			next, scale = stHour, 3600
		case 'm':
			if p < len(s) && s[p] == 's' {
				if seconds {
					return 0, errInvalid
				}
				p++
				next, scale = stMsec, 1
				break
			}
			next, scale = stMin, 60
		case 's':
			next, scale = stSec, 1
		case ' ':
			if step >= stSec {
				return 0, errInvalid
			}
			next, scale = stLast, 1
		default:
			return 0, errInvalid
		}
		if c != ' ' && step >= next {
			return 0, errInvalid
		}
		step = next
		if step != stMsec && !seconds {
			scale *= 1000
		}
		if value > math.MaxInt64/scale {
			return 0, errInvalid
		}
		value *= scale
		if total > math.MaxInt64-value {
			return 0, errInvalid
		}
		total += value
		value = 0
		for p < len(s) && s[p] == ' ' {
			p++
		}
	}
	if !valid {
		return 0, errInvalid
	}
	if !seconds {
		if value > math.MaxInt64/1000 {
			return 0, errInvalid
		}
		value *= 1000
	}
	if total > math.MaxInt64-value {
		return 0, errInvalid
	}
	total += value
	unit := time.Millisecond
	if seconds {
		unit = time.Second
	}
	if total > int64(math.MaxInt64/unit) {
		return math.MaxInt64, nil
	}
	return time.Duration(total) * unit, nil
}

// ParseFlag reads on or off, in any case, or returns nginx's message.
func ParseFlag(d *parser.Directive, v string) (bool, error) {
	switch {
	case strings.EqualFold(v, "on"):
		return true, nil
	case strings.EqualFold(v, "off"):
		return false, nil
	}
	return false, parser.Errorf(d.End, `invalid value "%s" in "%s" directive, it must be "on" or "off"`, v, d.Name)
}
