package server

import (
	"errors"
	"fmt"
	"strings"

	"edge/parser"
)

// template is a value with variables, compiled once: nginx's complex
// value (ngx_http_script_compile). Its parts are literals, variables and
// regex captures ($1…$9).
type template struct {
	raw   string
	parts []part
}

type part struct {
	lit     string
	v       *varRef // a variable, or nil
	capture int     // 1…9 for $1…$9, else 0
}

// compileTemplate parses text as ngx_http_script_compile does; the
// variables it names are resolved when the http block ends (vars.go).
// pos is where the text is written, for later messages about them.
func (h *HTTPConf) compileTemplate(text string, pos parser.Pos) (*template, error) {
	t := &template{raw: text}
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(text); {
		if text[i] != '$' {
			lit.WriteByte(text[i])
			i++
			continue
		}
		i++
		if i == len(text) {
			return nil, errInvalidVariable
		}
		if c := text[i]; c >= '1' && c <= '9' {
			flush()
			t.parts = append(t.parts, part{capture: int(c - '0')})
			i++
			continue
		}
		bracket := text[i] == '{'
		if bracket {
			i++
			if i == len(text) {
				return nil, errInvalidVariable
			}
		}
		start := i
		for i < len(text) && isVarChar(text[i]) {
			i++
		}
		name := text[start:i]
		if bracket {
			if i == len(text) || text[i] != '}' {
				return nil, fmt.Errorf(`the closing bracket in "%s" variable is missing`, text[start:])
			}
			i++
		}
		if name == "" {
			return nil, errInvalidVariable
		}
		flush()
		t.parts = append(t.parts, part{v: h.vars.ref(name, pos)})
	}
	flush()
	return t, nil
}

var errInvalidVariable = errors.New("invalid variable name")

func isVarChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// static reports whether the template has no variables or captures.
func (t *template) static() bool {
	return len(t.parts) == 0 || len(t.parts) == 1 && t.parts[0].v == nil && t.parts[0].capture == 0
}

// eval appends the template's value for rq to buf.
func (t *template) eval(rq *request, buf []byte) []byte {
	for _, p := range t.parts {
		switch {
		case p.v != nil:
			buf = append(buf, rq.value(p.v)...)
		case p.capture > 0:
			buf = append(buf, rq.capture(p.capture)...)
		default:
			buf = append(buf, p.lit...)
		}
	}
	return buf
}

// String evaluates the template for rq.
func (t *template) String(rq *request) string {
	if t.static() {
		if len(t.parts) == 0 {
			return ""
		}
		return t.parts[0].lit
	}
	return string(t.eval(rq, nil))
}
