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

// ParseSize reads a size as ngx_parse_size does: a number of bytes with an
// optional k, m or g (either case).
func ParseSize(s string) (int64, error) {
	return parseScaled(s, "kKmMgG")
}

// ParseOffset reads a file offset (ngx_parse_offset): the same units.
func ParseOffset(s string) (int64, error) { return ParseSize(s) }

func parseScaled(s, units string) (int64, error) {
	if s == "" {
		return 0, errInvalid
	}
	scale := int64(1)
	switch last := s[len(s)-1]; {
	case strings.IndexByte(units, last) >= 0:
		switch last | 0x20 {
		case 'k':
			scale = 1 << 10
		case 'm':
			scale = 1 << 20
		case 'g':
			scale = 1 << 30
		}
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

// ParseTime reads a time as nginx 1.22's ngx_parse_time does: numbers
// with units in decreasing order, each at most once, with or without
// spaces ("1h30m", "1h 30m"); a bare number is seconds and must come last.
// With seconds set (nginx's sec slots) "ms" is refused; without it (msec
// slots) years and months are.
func ParseTime(s string, seconds bool) (time.Duration, error) {
	const bare = 9
	step := 0
	if !seconds {
		step = 2 // ngx_parse_time starts msec parsing at st_month
	}
	var total time.Duration
	valid := false
	for i := 0; i < len(s); {
		if s[i] == ' ' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		n, err := parseInt(s[i:j])
		if err != nil {
			return 0, errInvalid
		}
		rank, unit := bare, time.Second
		if j < len(s) && s[j] != ' ' {
			switch {
			case strings.HasPrefix(s[j:], "ms"):
				rank, unit = 8, time.Millisecond
				j++
			default:
				switch s[j] {
				case 'y':
					rank, unit = 1, 365*24*time.Hour
				case 'M':
					rank, unit = 2, 30*24*time.Hour
				case 'w':
					rank, unit = 3, 7*24*time.Hour
				case 'd':
					rank, unit = 4, 24*time.Hour
				case 'h':
					rank, unit = 5, time.Hour
				case 'm':
					rank, unit = 6, time.Minute
				case 's':
					rank, unit = 7, time.Second
				default:
					return 0, errInvalid
				}
			}
			j++
		}
		if rank == 8 && seconds || rank != bare && step >= rank || step == bare {
			return 0, errInvalid
		}
		step = rank
		if n > math.MaxInt32 {
			return 0, errInvalid
		}
		total += time.Duration(n) * unit
		valid = true
		i = j
	}
	if !valid {
		return 0, errInvalid
	}
	return total, nil
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
