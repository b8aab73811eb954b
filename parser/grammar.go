package parser

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The grammar is nginx's: a file is a list of directives; a directive is
// words ended by ";" or by a block. The nodes capture only the shape:
// positions, quotes and values come from the tokenizer's own list, which
// holds the same tokens in the same order (a capture per argument costs
// participle a reflective node each).
type fileNode struct {
	Directives []*directiveNode `parser:"@@*"`
}

type directiveNode struct {
	Words count            `parser:"@(Word | String)+"`
	Semi  bool             `parser:"( @Semi"`
	Open  bool             `parser:"| @Open"`
	Body  []*directiveNode `parser:"@@*"`
	Close bool             `parser:"@Close )"`
}

// count captures how many words a directive has.
type count int

func (c *count) Capture(values []string) error {
	*c += count(len(values))
	return nil
}

var grammar = participle.MustBuild[fileNode](
	participle.Lexer(definition{}),
	participle.UseLookahead(1),
)

// parseFile parses one file's bytes. On a syntax error it returns the
// directives read before the error too: nginx has processed those already,
// so an error in them comes first.
func parseFile(path string, data []byte) ([]*Directive, *Error) {
	lex := newLexer(path, data)
	peek := mustUpgrade(lex)
	// Every token, before parsing moves the cursor: the converter reads
	// positions and values from them.
	tokens := peek.Range(0, lexer.RawCursor(lex.emitted))
	root, err := grammar.ParseFromLexer(peek)
	var dirs []*Directive
	if root != nil {
		c := converter{path: path, tokens: tokens}
		dirs = c.directives(root.Directives)
	}
	if err == nil {
		return dirs, nil
	}
	return dirs, syntaxError(path, lex, err)
}

func mustUpgrade(lex *tokenizer) *lexer.PeekingLexer {
	// Upgrade only fails when the lexer does, and ours never returns an error.
	p, err := lexer.Upgrade(lex)
	if err != nil {
		panic(err)
	}
	return p
}

// syntaxError gives nginx's message for a file the grammar stopped in. The
// tokenizer has found the error; participle only knows it could not go on.
func syntaxError(path string, lex *tokenizer, err error) *Error {
	if lex.err == nil {
		return &Error{Pos: Pos{File: path}, Msg: err.Error()}
	}
	t := lex.err.Pos
	return &Error{Pos: Pos{File: path, Line: t.Line, Col: t.Column}, Msg: lex.err.Value}
}

// converter rebuilds directives from the grammar's nodes and the tokens,
// which it consumes in order.
type converter struct {
	path   string
	tokens []lexer.Token
	next   int
}

func (c *converter) take() lexer.Token {
	t := c.tokens[c.next]
	c.next++
	return t
}

func (c *converter) pos(t lexer.Token) Pos {
	return Pos{File: c.path, Line: t.Pos.Line, Col: t.Pos.Column}
}

func (c *converter) directives(nodes []*directiveNode) []*Directive {
	out := make([]*Directive, 0, len(nodes))
	for _, n := range nodes {
		name := c.take()
		d := &Directive{Name: name.Value, NameQuoted: name.Type == tokString, Start: c.pos(name)}
		if n.Words > 1 {
			d.Args = make([]Arg, n.Words-1)
			for i := range d.Args {
				t := c.take()
				d.Args[i] = Arg{Value: t.Value, Quoted: t.Type == tokString, Pos: c.pos(t)}
			}
		}
		switch {
		case n.Semi:
			d.End = c.pos(c.take())
		case n.Open:
			d.End = c.pos(c.take())
			d.Block = c.directives(n.Body)
			if n.Close {
				d.Close = c.pos(c.take())
			}
		default:
			// A directive cut short by a syntax error: nginx never saw it.
			continue
		}
		out = append(out, d)
	}
	return out
}
