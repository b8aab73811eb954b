package conf

import (
	"time"

	"edge/parser"
)

// Setting is a value that inherits from the enclosing block: a setting
// that was never set is not the same as one set to its zero value.
type Setting[T any] struct {
	Value T
	IsSet bool
	// Pos is where it was set, for errors found later.
	Pos parser.Pos
}

// Put sets the value once; a second time is nginx's "is duplicate".
func (s *Setting[T]) Put(v T, d *parser.Directive) error {
	if s.IsSet {
		return ErrDuplicate
	}
	*s = Setting[T]{Value: v, IsSet: true, Pos: d.End}
	return nil
}

// Merge takes the parent's value, or def when neither level set it, like
// nginx's ngx_conf_merge_*_value.
func (s *Setting[T]) Merge(parent Setting[T], def T) {
	if s.IsSet {
		return
	}
	if parent.IsSet {
		*s = parent
		return
	}
	s.Value = def
}

// Field finds a setting in the model of the scope a directive is in.
type Field[T any] func(s *Scope) *Setting[T]

// FlagSlot is ngx_conf_set_flag_slot.
func FlagSlot(f Field[bool]) func(*Scope, *parser.Directive) error {
	return func(s *Scope, d *parser.Directive) error {
		if f(s).IsSet {
			return ErrDuplicate
		}
		v, err := ParseFlag(d, d.Args[0].Value)
		if err != nil {
			return err
		}
		return f(s).Put(v, d)
	}
}

// SizeSlot is ngx_conf_set_size_slot.
func SizeSlot(f Field[int64]) func(*Scope, *parser.Directive) error {
	return func(s *Scope, d *parser.Directive) error {
		if f(s).IsSet {
			return ErrDuplicate
		}
		v, err := ParseSize(d.Args[0].Value)
		if err != nil {
			return Tail("invalid value")
		}
		return f(s).Put(v, d)
	}
}

// MsecSlot is ngx_conf_set_msec_slot; SecSlot is ngx_conf_set_sec_slot.
func MsecSlot(f Field[time.Duration]) func(*Scope, *parser.Directive) error {
	return timeSlot(f, false)
}

// SecSlot is ngx_conf_set_sec_slot: milliseconds are refused.
func SecSlot(f Field[time.Duration]) func(*Scope, *parser.Directive) error {
	return timeSlot(f, true)
}

func timeSlot(f Field[time.Duration], seconds bool) func(*Scope, *parser.Directive) error {
	return func(s *Scope, d *parser.Directive) error {
		if f(s).IsSet {
			return ErrDuplicate
		}
		v, err := ParseTime(d.Args[0].Value, seconds)
		if err != nil {
			return Tail("invalid value")
		}
		return f(s).Put(v, d)
	}
}

// NumSlot is ngx_conf_set_num_slot.
func NumSlot(f Field[int64]) func(*Scope, *parser.Directive) error {
	return func(s *Scope, d *parser.Directive) error {
		if f(s).IsSet {
			return ErrDuplicate
		}
		v, err := ParseNumber(d.Args[0].Value)
		if err != nil {
			return Tail("invalid number")
		}
		return f(s).Put(v, d)
	}
}

// StrSlot is ngx_conf_set_str_slot.
func StrSlot(f Field[string]) func(*Scope, *parser.Directive) error {
	return func(s *Scope, d *parser.Directive) error {
		return f(s).Put(d.Args[0].Value, d)
	}
}

// Tune checks a tuning directive's argument with parse (one of the Parse
// functions of this package, or nil for any text) and drops it; a second
// one in the same block is a duplicate, as for nginx's slots.
func Tune(kind TuneKind) func(*Scope, *parser.Directive) error {
	return func(s *Scope, d *parser.Directive) error {
		if kind != TuneList {
			if s.seen[d.Name] {
				return ErrDuplicate
			}
			if s.seen == nil {
				s.seen = map[string]bool{}
			}
			s.seen[d.Name] = true
		}
		var err error
		switch kind {
		case TuneFlag:
			_, err = ParseFlag(d, d.Args[0].Value)
			return err
		case TuneSize:
			_, err = ParseSize(d.Args[0].Value)
		case TuneMsec:
			_, err = ParseTime(d.Args[0].Value, false)
		case TuneSec:
			_, err = ParseTime(d.Args[0].Value, true)
		case TuneNum:
			if _, err = ParseNumber(d.Args[0].Value); err != nil {
				return Tail("invalid number")
			}
		case TuneBufs:
			err = parseBufs(d)
		}
		if err != nil {
			return Tail("invalid value")
		}
		return nil
	}
}

// TuneKind is how a tuning directive's argument is checked.
type TuneKind uint8

const (
	TuneAny  TuneKind = iota // any text, once per block
	TuneList                 // any text, may repeat
	TuneFlag
	TuneSize
	TuneMsec
	TuneSec
	TuneNum
	TuneBufs // "number size", ngx_conf_set_bufs_slot
)

func parseBufs(d *parser.Directive) error {
	if len(d.Args) != 2 {
		return errInvalid
	}
	if n, err := ParseNumber(d.Args[0].Value); err != nil || n == 0 {
		return errInvalid
	}
	if n, err := ParseSize(d.Args[1].Value); err != nil || n == 0 {
		return errInvalid
	}
	return nil
}
