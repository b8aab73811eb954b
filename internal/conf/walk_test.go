package conf

import (
	"errors"
	"strings"
	"testing"

	"edge/parser"
)

// model is a toy configuration for the engine's tests.
type model struct {
	flag  Setting[bool]
	size  Setting[int64]
	names []string
}

func toyTable() *Table {
	m := func(s *Scope) *model { return s.Conf.(*model) }
	return NewTable([]Command{
		{Name: "block", Type: Main | Block | NoArgs, Open: func(s *Scope, d *parser.Directive) (*Scope, error) {
			child := &model{}
			c := s.Child(HTTPMain, d, child)
			c.Done = func() error {
				if len(child.names) == 0 {
					return errors.New("no names inside block")
				}
				return nil
			}
			return c, nil
		}},
		{Name: "flag", Type: Main | HTTPMain | Flag, Once: true, Set: FlagSlot(func(s *Scope) *Setting[bool] { return &m(s).flag })},
		{Name: "size", Type: HTTPMain | Take1, Once: true, Set: SizeSlot(func(s *Scope) *Setting[int64] { return &m(s).size })},
		{Name: "name", Type: HTTPMain | Take12, Set: func(s *Scope, d *parser.Directive) error {
			if d.Args[0].Value == "bad" {
				return Tail("has a bad name")
			}
			m(s).names = append(m(s).names, d.Args[0].Value)
			return nil
		}},
		{Name: "later", Type: HTTPMain | Any, Status: Pending, Planned: "#9"},
		{Name: "never", Type: HTTPMain | Any, Status: Unsupported},
		{Name: "tune", Type: HTTPMain | Take1, Status: Tuning, Set: Check(KindMsec)},
		{Name: "entries", Type: HTTPMain | Block | Entries | Take1, Set: CheckEntries},
		// The same name in another context, as server in http and upstream.
		{Name: "name", Type: Main | TwoMore},
	})
}

func TestWalk(t *testing.T) {
	for _, c := range []struct{ conf, want string }{
		{"block { name a; flag on; size 1k; tune 1s; later x; entries e { a b; c; } }", ""},
		{"nope;", `unknown directive "nope" in t.conf:1`},
		{"size 1;", `"size" directive is not allowed here in t.conf:1`},
		{"name a b;", ""}, // the main-context "name"
		{"name a;", `invalid number of arguments in "name" directive in t.conf:1`},
		{"block;", `directive "block" has no opening "{" in t.conf:1`},
		{"block { name a {} }", `directive "name" is not terminated by ";" in t.conf:1`},
		{"block { name a b c; }", `invalid number of arguments in "name" directive in t.conf:1`},
		{"flag;", `invalid number of arguments in "flag" directive in t.conf:1`},
		{"flag yes;", `invalid value "yes" in "flag" directive, it must be "on" or "off" in t.conf:1`},
		{"flag ON; flag\noff;", `"flag" directive is duplicate in t.conf:2`},
		{"flag on; block { name a; flag on; }", ""}, // once per block
		{"block { name a; size 1x; }", `"size" directive invalid value in t.conf:1`},
		{"block { name bad; }", `"name" directive has a bad name in t.conf:1`},
		{"block { name a; never; }", `"never" directive is not supported in t.conf:1`},
		{"block { name a; tune 1x; }", `"tune" directive invalid value in t.conf:1`},
		{"block { name a; entries e { a { } } }", `unexpected "{" in t.conf:1`},
		{"block {\n}\n", `no names inside block in t.conf:2`},
		// Directives before a syntax error are checked first, as nginx
		// processes them before reading on.
		{"nope;\n}", `unknown directive "nope" in t.conf:1`},
		{"flag on;\n}", `unexpected "}" in t.conf:2`},
	} {
		tree, perr := parser.ParseBytes("t.conf", []byte(c.conf), ".", nil)
		_, err := toyTable().Walk(tree.Directives, &Scope{Context: Main, Conf: &model{}}, perr)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%q: %q, want %q", c.conf, got, c.want)
		}
	}
}

func TestWalkPending(t *testing.T) {
	tree, _ := parser.ParseBytes("t.conf", []byte("block { name a; later 1; later 2; }"), ".", nil)
	pending, err := toyTable().Walk(tree.Directives, &Scope{Context: Main, Conf: &model{}}, nil)
	if err != nil || len(pending) != 2 || pending[1].Dir.Args[0].Value != "2" || pending[0].Cmd.Planned != "#9" {
		t.Errorf("pending = %v, %v", pending, err)
	}
}

func TestNewTableShadows(t *testing.T) {
	tbl := NewTable(
		[]Command{{Name: "root", Type: HTTPLoc | Take1, Module: "mine"}},
		[]Command{{Name: "root", Type: HTTPMain | HTTPLoc | Take1, Module: "nginx"}, {Name: "other", Type: HTTPLoc}},
	)
	var names []string
	for _, c := range tbl.Commands() {
		names = append(names, c.Name+"/"+c.Module)
	}
	if got := strings.Join(names, " "); got != "root/mine other/" {
		t.Errorf("commands = %s; the second root overlaps the first's context and must go", got)
	}
}
