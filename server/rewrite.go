package server

import (
	"errors"
	"strings"

	"edge/internal/conf"
	"edge/parser"
)

// The rewrite module's codes, run in order in the server rewrite phase
// (server level) and the rewrite phase (the location): set stores a
// variable, return ends the request. rewrite, if and break are pending.

// rewriteCode is one directive of the rewrite phase.
type rewriteCode struct {
	ret *Return
	set *setCode
}

type setCode struct {
	v     *varRef
	value *template
}

// Return is the return directive.
type Return struct {
	Code int
	// Text is the body, or the URL for redirects; nil without one.
	Text *template
}

// setReturn is ngx_http_rewrite_return.
func setReturn(s *conf.Scope, d *parser.Directive) error {
	v := d.Args[0].Value
	r := &Return{}
	text := ""
	code, err := conf.ParseNumber(v)
	switch {
	case err == nil:
		if code > 999 {
			return parser.Errorf(d.End, `invalid return code "%s"`, v)
		}
		r.Code = int(code)
		if len(d.Args) == 1 {
			break
		}
		text = d.Args[1].Value
	case len(d.Args) == 1 && (strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "$scheme")):
		r.Code, text = 302, v
	default:
		return parser.Errorf(d.End, `invalid return code "%s"`, v)
	}
	if len(d.Args) == 2 || r.Code == 302 && err != nil {
		if r.Text, err = lv(s).http.compileTemplate(text, d.End); err != nil {
			return err
		}
	}
	loc := locOf(s)
	loc.Rewrite = append(loc.Rewrite, rewriteCode{ret: r})
	return nil
}

// setSet is ngx_http_rewrite_set: "set $variable value".
func setSet(s *conf.Scope, d *parser.Directive) error {
	h := lv(s).http
	name, ok := strings.CutPrefix(d.Args[0].Value, "$")
	if !ok || name == "" {
		return parser.Errorf(d.End, `invalid variable name "%s"`, d.Args[0].Value)
	}
	if err := changeable(name); err != nil {
		return err
	}
	value, err := h.compileTemplate(d.Args[1].Value, d.End)
	if err != nil {
		return err
	}
	loc := locOf(s)
	loc.Rewrite = append(loc.Rewrite, rewriteCode{set: &setCode{v: h.vars.define(name, d.End), value: value}})
	return nil
}

// changeable is ngx_http_add_variable's check: a configuration may define
// a variable of its own, or change $args, but not redefine the others of
// nginx.
func changeable(name string) error {
	n := strings.ToLower(name)
	if n != "args" && (builtinVars[n] != nil || knownVars[n]) {
		return errors.New(`the duplicate "` + n + `" variable`)
	}
	return nil
}

// runRewrite runs codes for rq; it returns the return that ended the
// request, or nil.
func runRewrite(codes []rewriteCode, rq *request) *Return {
	for _, c := range codes {
		switch {
		case c.ret != nil:
			return c.ret
		case c.set != nil:
			rq.set(c.set.v, c.set.value.String(rq))
		}
	}
	return nil
}
