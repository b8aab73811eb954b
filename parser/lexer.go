package parser

import (
	"bytes"
	"io"

	"github.com/alecthomas/participle/v2/lexer"
)

// Token types of the nginx configuration language. nginx has no more: a
// directive is a list of words ended by ";" or "{", and "}" closes a block.
const (
	tokWord   lexer.TokenType = -(iota + 2) // an unquoted word
	tokString                               // a '…' or "…" string, quotes removed
	tokSemi                                 // ;
	tokOpen                                 // {
	tokClose                                // }
	// tokBad carries a tokenizer error in its Value. The lexer never returns
	// a Go error: participle reads every token before parsing, and a lexer
	// error would lose the directives read before it, which nginx has
	// already processed (and may report an earlier error in).
	tokBad
)

// definition plugs the hand-written tokenizer into participle.
type definition struct{}

// Symbols builds its map on each call: the grammar is built during package
// initialisation, before a package-level map would be.
func (definition) Symbols() map[string]lexer.TokenType {
	return map[string]lexer.TokenType{
		"EOF":    lexer.EOF,
		"Word":   tokWord,
		"String": tokString,
		"Semi":   tokSemi,
		"Open":   tokOpen,
		"Close":  tokClose,
		"Bad":    tokBad,
	}
}

func (definition) Lex(filename string, r io.Reader) (lexer.Lexer, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return newLexer(filename, data), nil
}

func (definition) LexBytes(filename string, data []byte) (lexer.Lexer, error) {
	return newLexer(filename, data), nil
}

// tokenizer is a port of nginx's ngx_conf_read_token (nginx 1.22): the same
// states, the same escapes, the same errors, the same line numbers.
type tokenizer struct {
	file string
	data []byte
	pos  int // next byte
	line int
	col  int // column of the next byte, 1-based, in bytes

	pending bool // words read since the last ";", "{" or "}"
	depth   int  // open blocks
	done    bool
	// err is the tokenizer error, also returned as a tokBad token. The
	// tokenizer finds every syntax error nginx reports (ngx_conf_read_token
	// and the block checks of ngx_conf_parse), so the grammar only ever
	// stops at a tokBad.
	err     *lexer.Token
	emitted int // tokens returned, EOF or error included
	// param is set for -g directives, whose end nginx words differently.
	param bool
}

// confBuffer is nginx's NGX_CONF_BUFFER: a word, quoted string or comment
// must fit in it.
const confBuffer = 4096

func newLexer(file string, data []byte) *tokenizer {
	return &tokenizer{file: file, data: data, line: 1, col: 1, param: file == CommandLine}
}

// tooLong reports whether a token that started at start fills nginx's
// buffer before it ends: nginx would need to read past it.
func (t *tokenizer) tooLong(start int) bool {
	return t.pos-start >= confBuffer && t.pos < len(t.data)
}

// eof is the error for a file that ends in the middle of a directive.
func (t *tokenizer) eof() lexer.Token {
	if t.param {
		return t.bad(`unexpected end of parameter, expecting ";"`)
	}
	return t.bad(`unexpected end of file, expecting ";" or "}"`)
}

func (t *tokenizer) position(offset, line, col int) lexer.Position {
	return lexer.Position{Filename: t.file, Offset: offset, Line: line, Column: col}
}

// Next returns the next token. After an error token or EOF it keeps
// returning EOF.
func (t *tokenizer) Next() (lexer.Token, error) {
	if t.done {
		return lexer.EOFToken(t.position(len(t.data), t.line, t.col)), nil
	}
	tok := t.scan()
	switch tok.Type {
	case tokWord, tokString:
		t.pending = true
	case tokSemi, tokOpen:
		if !t.pending {
			tok = t.badAt(tok, `unexpected "`+tok.Value+`"`)
			break
		}
		t.pending = false
		if tok.Type == tokOpen {
			t.depth++
		}
	case tokClose:
		if t.pending || t.depth == 0 {
			tok = t.badAt(tok, `unexpected "}"`)
			break
		}
		t.depth--
	case lexer.EOF:
		if t.depth > 0 {
			tok = t.badAt(tok, `unexpected end of file, expecting "}"`)
		}
	}
	t.emitted++
	if tok.Type == tokBad || tok.Type == lexer.EOF {
		t.done = true
		if tok.Type == tokBad {
			t.err = &tok
		}
	}
	return tok, nil
}

func (t *tokenizer) badAt(at lexer.Token, msg string) lexer.Token {
	return lexer.Token{Type: tokBad, Value: msg, Pos: at.Pos}
}

func (t *tokenizer) advance() byte {
	ch := t.data[t.pos]
	t.pos++
	if ch == '\n' {
		t.line++
		t.col = 1
	} else {
		t.col++
	}
	return ch
}

func isSpace(ch byte) bool { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' }

func (t *tokenizer) scan() lexer.Token {
	// Skip blanks and comments up to the start of a token.
	for {
		if t.pos >= len(t.data) {
			if t.pending {
				return t.eof()
			}
			return lexer.EOFToken(t.position(t.pos, t.line, t.col))
		}
		ch := t.data[t.pos]
		if isSpace(ch) {
			t.advance()
			continue
		}
		if ch == '#' {
			start, line := t.pos, t.line
			for t.pos < len(t.data) && t.data[t.pos] != '\n' {
				if t.tooLong(start) {
					return t.tooLongError(start, line)
				}
				t.advance()
			}
			continue
		}
		break
	}

	start, line, col := t.pos, t.line, t.col
	ch := t.advance()
	switch ch {
	case ';':
		return lexer.Token{Type: tokSemi, Value: ";", Pos: t.position(start, line, col)}
	case '{':
		return lexer.Token{Type: tokOpen, Value: "{", Pos: t.position(start, line, col)}
	case '}':
		return lexer.Token{Type: tokClose, Value: "}", Pos: t.position(start, line, col)}
	case '"', '\'':
		return t.quoted(ch, start, line, col)
	}
	t.pos, t.line, t.col = start, line, col
	return t.word(start, line, col)
}

// word reads an unquoted word. It ends at a blank, ";" or "{"; "{" right
// after "$" belongs to the word ("${var}"), as in nginx.
func (t *tokenizer) word(start, line, col int) lexer.Token {
	variable := false
	for t.pos < len(t.data) {
		if t.tooLong(start) {
			return t.tooLongError(start, line)
		}
		ch := t.data[t.pos]
		if ch == '{' && variable {
			// nginx keeps its flag here, so "${{" goes on too.
			t.advance()
			continue
		}
		variable = false
		if ch == '\\' {
			t.advance()
			if t.pos < len(t.data) {
				t.advance()
			}
			continue
		}
		if ch == '$' {
			variable = true
			t.advance()
			continue
		}
		if isSpace(ch) || ch == ';' || ch == '{' {
			break
		}
		t.advance()
	}
	if t.pos >= len(t.data) {
		// nginx only completes a word when it sees its terminator: a word
		// cut by the end of the file is an error, not an argument.
		return t.eof()
	}
	return lexer.Token{Type: tokWord, Value: unescape(t.data[start:t.pos]), Pos: t.position(start, line, col)}
}

// quoted reads a '…' or "…" string; after the closing quote nginx wants a
// blank, ";", "{" or ")".
func (t *tokenizer) quoted(q byte, start, line, col int) lexer.Token {
	body := t.pos
	for {
		if t.pos >= len(t.data) {
			return t.eof()
		}
		if t.tooLong(body) {
			return lexer.Token{Type: tokBad, Pos: t.position(start, line, col),
				Value: `too long parameter, probably missing terminating "` + string(q) + `" character`}
		}
		ch := t.advance()
		if ch == '\\' {
			if t.pos < len(t.data) {
				t.advance()
			}
			continue
		}
		if ch == q {
			break
		}
	}
	tok := lexer.Token{Type: tokString, Value: unescape(t.data[body : t.pos-1]), Pos: t.position(start, line, col)}
	if t.pos < len(t.data) {
		ch := t.data[t.pos]
		// ")" may follow a quote directly: if ($a ~ "x") {…}
		if !isSpace(ch) && ch != ';' && ch != '{' && ch != ')' {
			t.advance()
			return t.bad(`unexpected "` + string(ch) + `"`)
		}
	}
	return tok
}

// tooLongError is nginx's message for a word or comment that does not fit
// its buffer, at the line where it started.
func (t *tokenizer) tooLongError(start, line int) lexer.Token {
	return lexer.Token{Type: tokBad, Pos: t.position(start, line, 1),
		Value: `too long parameter "` + string(t.data[start:start+10]) + `..." started`}
}

func (t *tokenizer) bad(msg string) lexer.Token {
	return lexer.Token{Type: tokBad, Value: msg, Pos: t.position(t.pos, t.line, t.col)}
}

// unescape applies nginx's escapes: \" \' \\ become the character, \t \r \n
// the control character; any other backslash is kept.
func unescape(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' && i+1 < len(raw) {
			switch raw[i+1] {
			case '"', '\'', '\\':
				i++
			case 't':
				out = append(out, '\t')
				i++
				continue
			case 'r':
				out = append(out, '\r')
				i++
				continue
			case 'n':
				out = append(out, '\n')
				i++
				continue
			}
		}
		out = append(out, raw[i])
	}
	return string(out)
}
