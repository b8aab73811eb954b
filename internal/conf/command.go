// Package conf is the directive-table engine: it walks a parsed tree and,
// for every directive, finds its Command, checks it the way nginx's
// ngx_conf_handler does (known name, allowed context, terminator, argument
// count), refuses what edge does not support, and calls the Command's Set
// function to fill the typed model. It owns the value parsers (sizes,
// times, flags) and nginx's wording of their errors. It does not know any
// directive: the tables live with the modules that implement them.
package conf

import "edge/parser"

// Type says where a directive may appear and how many arguments it takes,
// bit for bit like the type field of nginx's ngx_command_t.
type Type uint64

// Contexts. A location nested in a location is still Loc.
const (
	Main       Type = 1 << iota // top level (NGX_MAIN_CONF)
	Events                      // events {}
	HTTPMain                    // http {}
	HTTPSrv                     // server {} in http
	HTTPLoc                     // location {}
	HTTPUps                     // upstream {}
	HTTPSif                     // if {} in server
	HTTPLif                     // if {} in location
	HTTPLmt                     // limit_except {}
	StreamMain                  // stream {}
	StreamSrv                   // server {} in stream
	StreamUps                   // upstream {} in stream
	MailMain                    // mail {}
	MailSrv                     // server {} in mail
	contextEnd
)

// Argument rules (NGX_CONF_NOARGS … NGX_CONF_2MORE).
const (
	NoArgs Type = contextEnd << iota
	Take1
	Take2
	Take3
	Take4
	Take5
	Take6
	Take7
	Block   // the directive opens a block
	Flag    // one argument, "on" or "off"
	Any     // any number of arguments
	OneMore // at least one
	TwoMore // at least two
	// Entries marks a block whose children are data (map, types, geo…):
	// the walker hands them to Set instead of looking them up.
	Entries

	Take12   = Take1 | Take2
	Take13   = Take1 | Take3
	Take23   = Take2 | Take3
	Take123  = Take1 | Take2 | Take3
	Take1234 = Take1 | Take2 | Take3 | Take4
)

// Status says what edge does with a directive.
type Status uint8

const (
	// Implemented: Set fills the model and edge acts on it.
	Implemented Status = iota
	// Tuning: a performance knob with no visible effect in edge. Its
	// arguments are checked as nginx checks them, then it is dropped.
	Tuning
	// Pending: parsed and checked like nginx, so `edge -t` accepts it,
	// but its behaviour has not landed yet (Command.Planned says where).
	// Serving a configuration that uses it is refused.
	Pending
	// Unsupported: refused with `"x" directive is not supported`.
	Unsupported
)

func (s Status) String() string {
	return [...]string{"implemented", "tuning", "pending", "unsupported"}[s]
}

// Command declares one directive, like nginx's ngx_command_t.
type Command struct {
	Name   string
	Type   Type
	Status Status
	// Module is the nginx module the directive belongs to
	// ("ngx_http_proxy_module"); `edge -V` derives its module list from it.
	Module string
	// Planned names the issue that brings a Pending directive.
	Planned string
	// Once says the directive may appear once per block; a second one is
	// nginx's `"x" directive is duplicate`. (nginx's setters make this
	// check; declaring it here keeps it out of every Set function.)
	Once bool
	// Since is the nginx release that added the directive, when it is
	// later than 1.22, the reference binary (which does not know it).
	Since string
	// Set applies a directive ended by ";" or, for Entries commands, the
	// whole block of entries. A nil Set accepts the directive as it is
	// (unsupported and pending directives without a model yet).
	Set func(s *Scope, d *parser.Directive) error
	// Open starts the block of a Block command: it returns the scope its
	// children are walked in.
	Open func(s *Scope, d *parser.Directive) (*Scope, error)
}

// Scope is a block being walked: its context and the typed model its
// directives fill.
type Scope struct {
	Context Type
	// Conf is the block's model; its type belongs to the module that
	// opened the block.
	Conf   any
	Parent *Scope
	// Dir opened the block; nil at the top level.
	Dir *parser.Directive
	// Done, when set, runs after the block's last directive, like the
	// checks nginx makes when a block is parsed; errors point at its "}".
	Done func() error

	seen map[string]bool // the Once directives met in this block
}

// Child returns a scope for a block opened by d.
func (s *Scope) Child(ctx Type, d *parser.Directive, model any) *Scope {
	return &Scope{Context: ctx, Conf: model, Parent: s, Dir: d}
}

// argNumber is nginx's argument_number table: the bit that allows n
// arguments after the name.
var argNumber = [...]Type{NoArgs, Take1, Take2, Take3, Take4, Take5, Take6, Take7}

// arityOK is the argument check of ngx_conf_handler.
func (c *Command) arityOK(n int) bool {
	switch {
	case c.Type&Any != 0:
		return true
	case c.Type&Flag != 0:
		return n == 1
	case c.Type&OneMore != 0:
		return n >= 1
	case c.Type&TwoMore != 0:
		return n >= 2
	case n < len(argNumber):
		return c.Type&argNumber[n] != 0
	}
	return false
}
