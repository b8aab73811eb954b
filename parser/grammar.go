package parser

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The grammar is nginx's: a file is a list of directives; a directive is
// words ended by ";" or by a block.
type fileNode struct {
	Directives []*directiveNode `parser:"@@*"`
}

type directiveNode struct {
	Name  lexer.Token      `parser:"@(Word | String)"`
	Args  []*argNode       `parser:"@@*"`
	Semi  *lexer.Token     `parser:"( @Semi"`
	Open  *lexer.Token     `parser:"| @Open"`
	Body  []*directiveNode `parser:"@@*"`
	Close *lexer.Token     `parser:"@Close )"`
}

// argNode exists because participle keeps only the last token captured
// into a []lexer.Token field.
type argNode struct {
	Tok lexer.Token `parser:"@(Word | String)"`
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
	root, err := grammar.ParseFromLexer(mustUpgrade(lex))
	var dirs []*Directive
	if root != nil {
		dirs = convert(root.Directives, path)
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
	return &Error{Pos: tokPos(path, *lex.err), Msg: lex.err.Value}
}

func convert(nodes []*directiveNode, path string) []*Directive {
	out := make([]*Directive, 0, len(nodes))
	for _, n := range nodes {
		d := &Directive{
			Name:       n.Name.Value,
			NameQuoted: n.Name.Type == tokString,
			Start:      tokPos(path, n.Name),
		}
		if len(n.Args) > 0 {
			d.Args = make([]Arg, len(n.Args))
			for i, a := range n.Args {
				d.Args[i] = Arg{Value: a.Tok.Value, Quoted: a.Tok.Type == tokString, Pos: tokPos(path, a.Tok)}
			}
		}
		switch {
		case n.Semi != nil:
			d.End = tokPos(path, *n.Semi)
		case n.Open != nil:
			d.End = tokPos(path, *n.Open)
			d.Block = convert(n.Body, path)
			if n.Close != nil {
				d.Close = tokPos(path, *n.Close)
			}
		default:
			// A directive cut short by a syntax error: nginx never saw it.
			continue
		}
		out = append(out, d)
	}
	return out
}

func tokPos(path string, t lexer.Token) Pos {
	return Pos{File: path, Line: t.Pos.Line, Col: t.Pos.Column}
}
