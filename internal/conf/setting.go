package conf

import (
	"strings"
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
		v, err := ParseFlag(d, d.Args[0].Value)
		if err != nil {
			return err
		}
		return f(s).Put(v, d)
	}
}

// SizeSlot is ngx_conf_set_size_slot.
func SizeSlot(f Field[int64]) func(*Scope, *parser.Directive) error {
	return scaledSlot(f, ParseSize)
}

// OffsetSlot is ngx_conf_set_off_slot: a size that may also say "g".
func OffsetSlot(f Field[int64]) func(*Scope, *parser.Directive) error {
	return scaledSlot(f, ParseOffset)
}

func scaledSlot(f Field[int64], parse func(string) (int64, error)) func(*Scope, *parser.Directive) error {
	return func(s *Scope, d *parser.Directive) error {
		v, err := parse(d.Args[0].Value)
		if err != nil {
			return Tail("invalid value")
		}
		return f(s).Put(v, d)
	}
}

// MsecSlot is ngx_conf_set_msec_slot: a time; a bare number is seconds.
func MsecSlot(f Field[time.Duration]) func(*Scope, *parser.Directive) error {
	return func(s *Scope, d *parser.Directive) error {
		v, err := ParseTime(d.Args[0].Value, false)
		if err != nil {
			return Tail("invalid value")
		}
		return f(s).Put(v, d)
	}
}

// Bufs is the value of ngx_conf_set_bufs_slot: number buffers of size.
type Bufs struct {
	Num  int
	Size int64
}

// BufsSlot is ngx_conf_set_bufs_slot.
func BufsSlot(f Field[Bufs]) func(*Scope, *parser.Directive) error {
	return func(s *Scope, d *parser.Directive) error {
		if err := parseBufs(d); err != nil {
			return Tail("invalid value")
		}
		n, _ := ParseNumber(d.Args[0].Value)
		size, _ := ParseSize(d.Args[1].Value)
		return f(s).Put(Bufs{Num: int(n), Size: size}, d)
	}
}

// NumSlot is ngx_conf_set_num_slot.
func NumSlot(f Field[int64]) func(*Scope, *parser.Directive) error {
	return func(s *Scope, d *parser.Directive) error {
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

// Check is the Set of a directive whose value edge does not keep (tuning)
// or does not model yet (pending): it checks the arguments the way nginx's
// slot of that kind does, and drops them.
func Check(kind Kind) func(*Scope, *parser.Directive) error {
	return func(s *Scope, d *parser.Directive) error {
		var err error
		switch kind {
		case KindFlag:
			_, err = ParseFlag(d, d.Args[0].Value)
			return err
		case KindSize:
			_, err = ParseSize(d.Args[0].Value)
		case KindOffset:
			_, err = ParseOffset(d.Args[0].Value)
		case KindMsec:
			_, err = ParseTime(d.Args[0].Value, false)
		case KindSec:
			_, err = ParseTime(d.Args[0].Value, true)
		case KindNum:
			if _, err = ParseNumber(d.Args[0].Value); err != nil {
				return Tail("invalid number")
			}
		case KindBufs:
			err = parseBufs(d)
		}
		if err != nil {
			return Tail("invalid value")
		}
		return nil
	}
}

// Kind is how Check checks a directive's arguments.
type Kind uint8

const (
	KindFlag   Kind = iota // on|off (ngx_conf_set_flag_slot)
	KindSize               // ngx_conf_set_size_slot
	KindOffset             // ngx_conf_set_off_slot
	KindMsec               // ngx_conf_set_msec_slot
	KindSec                // ngx_conf_set_sec_slot
	KindNum                // ngx_conf_set_num_slot
	KindBufs               // "number size", ngx_conf_set_bufs_slot
)

// Enum is ngx_conf_set_enum_slot for a value edge does not keep: one of
// values, in any case.
func Enum(values ...string) func(*Scope, *parser.Directive) error {
	return func(s *Scope, d *parser.Directive) error {
		return oneOf(d, d.Args[0].Value, values)
	}
}

// EnumSlot is ngx_conf_set_enum_slot: the value is one of values, in any
// case, and kept as written in values.
func EnumSlot(f Field[string], values ...string) func(*Scope, *parser.Directive) error {
	return func(s *Scope, d *parser.Directive) error {
		v := d.Args[0].Value
		for _, x := range values {
			if strings.EqualFold(x, v) {
				return f(s).Put(x, d)
			}
		}
		return parser.Errorf(d.End, `invalid value "%s"`, v)
	}
}

// Bitmask is ngx_conf_set_bitmask_slot for a value edge does not keep:
// every argument is one of values.
func Bitmask(values ...string) func(*Scope, *parser.Directive) error {
	return func(s *Scope, d *parser.Directive) error {
		for _, a := range d.Args {
			if err := oneOf(d, a.Value, values); err != nil {
				return err
			}
		}
		return nil
	}
}

func oneOf(d *parser.Directive, v string, values []string) error {
	for _, x := range values {
		if strings.EqualFold(x, v) {
			return nil
		}
	}
	return parser.Errorf(d.End, `invalid value "%s"`, v)
}

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
