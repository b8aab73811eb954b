package conf

import (
	"errors"

	"edge/parser"
)

// Table finds commands by name. Several commands may share a name in
// different contexts ("server" in http and in upstream).
type Table struct {
	byName map[string][]*Command
	all    []*Command
}

// NewTable indexes commands in order. A command declared again for a
// context an earlier one already covers is dropped: the module that
// implements a directive is listed before nginx's full list of
// declarations, which then only fills the gaps.
func NewTable(cmds ...[]Command) *Table {
	t := &Table{byName: map[string][]*Command{}}
	for _, list := range cmds {
	next:
		for i := range list {
			c := &list[i]
			for _, prev := range t.byName[c.Name] {
				if prev.Type&c.Type&contextMask != 0 {
					continue next
				}
			}
			t.byName[c.Name] = append(t.byName[c.Name], c)
			t.all = append(t.all, c)
		}
	}
	return t
}

const contextMask = contextEnd - 1

// Commands returns every command in declaration order.
func (t *Table) Commands() []*Command { return t.all }

// Lookup returns the commands named name.
func (t *Table) Lookup(name string) []*Command { return t.byName[name] }

// Use is a directive together with the command that took it.
type Use struct {
	Dir *parser.Directive
	Cmd *Command
}

// Walk checks and applies a parsed tree in scope top, and returns the
// directives whose command is Pending. parseErr is the parser's error, if
// any: the directives before it are walked first, because nginx would have
// reported an error in them before reaching it.
func (t *Table) Walk(dirs []*parser.Directive, top *Scope, parseErr error) ([]Use, error) {
	w := walker{t: t}
	if err := w.walk(dirs, top); err != nil {
		return w.pending, err
	}
	return w.pending, parseErr
}

type walker struct {
	t       *Table
	pending []Use
}

func (w *walker) walk(dirs []*parser.Directive, s *Scope) error {
	for _, d := range dirs {
		if err := w.handle(d, s); err != nil {
			return err
		}
	}
	return nil
}

// handle is ngx_conf_handler: the checks run in its order.
func (w *walker) handle(d *parser.Directive, s *Scope) error {
	t := w.t
	cmds := t.byName[d.Name]
	if len(cmds) == 0 {
		return parser.Errorf(d.End, `unknown directive "%s"`, d.Name)
	}
	var c *Command
	for _, cand := range cmds {
		if cand.Type&s.Context != 0 {
			c = cand
			break
		}
	}
	if c == nil {
		return parser.Errorf(d.End, `"%s" directive is not allowed here`, d.Name)
	}
	if c.Type&Block == 0 && d.Block != nil {
		return parser.Errorf(d.End, `directive "%s" is not terminated by ";"`, d.Name)
	}
	if c.Type&Block != 0 && d.Block == nil {
		return parser.Errorf(d.End, `directive "%s" has no opening "{"`, d.Name)
	}
	if !c.arityOK(len(d.Args)) {
		return parser.Errorf(d.End, `invalid number of arguments in "%s" directive`, d.Name)
	}
	if c.Status == Unsupported {
		return parser.Errorf(d.End, `"%s" directive is not supported`, d.Name)
	}
	if c.Once {
		if s.seen[d.Name] {
			return wrap(c, d, ErrDuplicate)
		}
		if s.seen == nil {
			s.seen = map[string]bool{}
		}
		s.seen[d.Name] = true
	}
	if c.Status == Pending {
		w.pending = append(w.pending, Use{Dir: d, Cmd: c})
	}
	if c.Type&Block != 0 && c.Type&Entries == 0 {
		return w.block(c, d, s)
	}
	if c.Set == nil {
		return nil
	}
	return wrap(c, d, c.Set(s, d))
}

func (w *walker) block(c *Command, d *parser.Directive, s *Scope) error {
	child := s.Child(0, d, nil)
	if c.Open != nil {
		var err error
		if child, err = c.Open(s, d); err != nil {
			return wrap(c, d, err)
		}
	}
	if err := w.walk(d.Block, child); err != nil {
		return err
	}
	if child.Done != nil && d.Close.Line != 0 {
		if err := child.Done(); err != nil {
			var pe *parser.Error
			if errors.As(err, &pe) {
				return err
			}
			return &parser.Error{Pos: d.Close, Msg: err.Error(), Err: err}
		}
	}
	return nil
}

// tail is an error a setter returns as the end of a sentence about its
// directive: "is duplicate" becomes `"root" directive is duplicate`.
type tail string

func (t tail) Error() string { return string(t) }

// Tail returns the error `"NAME" directive MSG`; the walker adds the name
// and the position, as nginx's core does for its setters' messages.
func Tail(msg string) error { return tail(msg) }

// ErrDuplicate is nginx's "is duplicate".
var ErrDuplicate = Tail("is duplicate")

// wrap gives a setter's error the directive's position.
func wrap(c *Command, d *parser.Directive, err error) error {
	if err == nil {
		return nil
	}
	var pe *parser.Error
	if errors.As(err, &pe) {
		return err
	}
	var tl tail
	if errors.As(err, &tl) {
		return parser.Errorf(d.End, `"%s" directive %s`, c.Name, string(tl))
	}
	return &parser.Error{Pos: d.End, Msg: err.Error(), Err: err}
}

// EachEntry calls f for every entry of an Entries block; an entry that
// opens a block is nginx's `unexpected "{"`.
func EachEntry(d *parser.Directive, f func(e *parser.Directive) error) error {
	for _, e := range d.Block {
		if e.Block != nil {
			return parser.Errorf(e.End, `unexpected "{"`)
		}
		if f == nil {
			continue
		}
		if err := f(e); err != nil {
			var pe *parser.Error
			if errors.As(err, &pe) {
				return err
			}
			return &parser.Error{Pos: e.End, Msg: err.Error(), Err: err}
		}
	}
	return nil
}

// CheckEntries is the Set of an Entries command edge does not model yet:
// it checks the block's shape only.
func CheckEntries(_ *Scope, d *parser.Directive) error { return EachEntry(d, nil) }
