package server

import (
	"errors"
	"fmt"
	"strings"

	"edge/internal/conf"
	"edge/internal/errlog"
	"edge/parser"
)

// The rewrite module's codes, run in order in the server rewrite phase
// (server level) and the rewrite phase (the location): set stores a
// variable, rewrite changes the URI or redirects, if runs its block when
// its condition holds, break stops, return ends the request.

// rewriteCode is one directive of the rewrite phase; one field is set.
type rewriteCode struct {
	ret  *Return
	set  *setCode
	rw   *rewriteRule
	cond *ifCode
	brk  bool
}

type setCode struct {
	v     *varRef
	value *template
}

// rewriteRule is a rewrite directive.
type rewriteRule struct {
	re   *Regex
	repl *template
	// addArgs appends the request's arguments (the replacement does not
	// end with "?").
	addArgs bool
	// redirect answers status with Location; else the URI changes and,
	// unless brk, locations are searched again (last, or no flag once
	// the level's directives are done).
	redirect bool
	status   int
	stop     bool // last, break, redirect, permanent: stop the level's codes
	brk      bool // break: keep the location
}

// ifCode is an if block: its condition and the block's own level, whose
// Rewrite are the codes it runs and, in a location, whose settings apply
// when the condition holds.
type ifCode struct {
	cond  condition
	loc   *LocationConf
	inLoc bool // an if in a location (not in a server)
}

// condition is an if condition.
type condition struct {
	v       *varRef   // the variable tested, or nil for a file test
	op      string    // "", "=", "!=", "~", "~*", "!~", "!~*", "-f", "!-f"…
	operand *template // the value compared, or the file's path
	re      *Regex
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

// setRewrite is ngx_http_rewrite: "rewrite regex replacement [flag]".
func setRewrite(s *conf.Scope, d *parser.Directive) error {
	h := lv(s).http
	repl := d.Args[1].Value
	if repl == "" {
		return errors.New("empty replacement")
	}
	re, err := h.regex(d.Args[0].Value, false)
	if err != nil {
		return parser.Errorf(d.End, `%v in "%s"`, err, d.Args[0].Value)
	}
	rule := &rewriteRule{re: re, addArgs: true}
	if strings.HasSuffix(repl, "?") {
		// The last "?" drops the request's arguments.
		repl, rule.addArgs = repl[:len(repl)-1], false
	}
	if strings.HasPrefix(repl, "http://") || strings.HasPrefix(repl, "https://") || strings.HasPrefix(repl, "$scheme") {
		rule.redirect, rule.status, rule.stop = true, 302, true
	}
	if len(d.Args) == 3 {
		switch d.Args[2].Value {
		case "last":
			rule.stop = true
		case "break":
			rule.stop, rule.brk = true, true
		case "redirect":
			rule.redirect, rule.status, rule.stop = true, 302, true
		case "permanent":
			rule.redirect, rule.status, rule.stop = true, 301, true
		default:
			return parser.Errorf(d.End, `invalid parameter "%s"`, d.Args[2].Value)
		}
	}
	if rule.repl, err = h.compileTemplate(repl, d.End); err != nil {
		return err
	}
	loc := locOf(s)
	loc.Rewrite = append(loc.Rewrite, rewriteCode{rw: rule})
	return nil
}

func setBreak(s *conf.Scope, _ *parser.Directive) error {
	loc := locOf(s)
	loc.Rewrite = append(loc.Rewrite, rewriteCode{brk: true})
	return nil
}

// openIf is ngx_http_rewrite_if: the condition, then a block whose
// directives run when it holds.
func openIf(s *conf.Scope, d *parser.Directive) (*conf.Scope, error) {
	l := lv(s)
	cond, err := parseCondition(l.http, d)
	if err != nil {
		return nil, err
	}
	ctx := conf.HTTPLif
	if s.Context == conf.HTTPSrv {
		ctx = conf.HTTPSif
	}
	ifLoc := newLocationConf(matchNone)
	parent := locOf(s)
	parent.Rewrite = append(parent.Rewrite, rewriteCode{cond: &ifCode{cond: cond, loc: ifLoc, inLoc: ctx == conf.HTTPLif}})
	if ctx == conf.HTTPLif {
		parent.ifs = append(parent.ifs, ifLoc)
	}
	return s.Child(ctx, d, &level{main: l.main, http: l.http, srv: l.srv, loc: ifLoc, in: l.in}), nil
}

// parseCondition is ngx_http_rewrite_if_condition, with its messages.
func parseCondition(h *HTTPConf, d *parser.Directive) (condition, error) {
	args := make([]string, len(d.Args))
	for i, a := range d.Args {
		args[i] = a.Value
	}
	invalid := func(v string) error { return fmt.Errorf(`invalid condition "%s"`, v) }
	if !strings.HasPrefix(args[0], "(") {
		return condition{}, invalid(args[0])
	}
	cur, last := 0, len(args)-1
	if args[0] == "(" {
		cur = 1
	} else {
		args[0] = args[0][1:]
	}
	if !strings.HasSuffix(args[last], ")") {
		return condition{}, invalid(args[last])
	}
	if args[last] == ")" {
		last--
	} else {
		args[last] = args[last][:len(args[last])-1]
	}
	if cur > last {
		return condition{}, invalid("")
	}
	p := args[cur]
	switch {
	case len(p) > 1 && p[0] == '$':
		if cur != last && cur+2 != last {
			return condition{}, invalid(p)
		}
		c := condition{v: h.vars.ref(p[1:], d.End)}
		if cur == last {
			return c, nil
		}
		c.op = args[cur+1]
		switch c.op {
		case "=", "!=":
			var err error
			c.operand, err = h.compileTemplate(args[last], d.End)
			return c, err
		case "~", "~*", "!~", "!~*":
			re, err := h.regex(args[last], strings.HasSuffix(c.op, "*"))
			if err != nil {
				return c, fmt.Errorf(`%v in "%s"`, err, args[last])
			}
			c.re = re
			return c, nil
		}
		return c, fmt.Errorf(`unexpected "%s" in condition`, c.op)
	case len(p) == 2 && p[0] == '-' || len(p) == 3 && strings.HasPrefix(p, "!-"):
		if cur+1 != last || !strings.ContainsAny(p[len(p)-1:], "fdex") {
			return condition{}, invalid(p)
		}
		c := condition{op: p}
		var err error
		c.operand, err = h.compileTemplate(args[last], d.End)
		return c, err
	}
	return condition{}, invalid(p)
}

// holds evaluates the condition; a regex that matches sets the captures.
func (c *condition) holds(rq *request) bool {
	if c.v == nil {
		return rq.fileTest(c.op, c.operand.String(rq))
	}
	v := rq.value(c.v)
	switch c.op {
	case "":
		return v != "" && v != "0"
	case "=":
		return v == c.operand.String(rq)
	case "!=":
		return v != c.operand.String(rq)
	}
	idx := c.re.match(v)
	rq.logMatch(c.re, v, idx != nil)
	// A test that fails leaves no captures (ngx_http_script_regex_start_code).
	rq.match = nil
	if idx != nil {
		rq.match = &regexMatch{re: c.re, subject: v, idx: idx}
	}
	return (idx != nil) == !strings.HasPrefix(c.op, "!")
}

// fileTest is -f, -d, -e, -x and their negations.
func (rq *request) fileTest(op, path string) bool {
	neg := strings.HasPrefix(op, "!")
	fi, failed, err := rq.statFailed(rq.loc, path)
	if err != nil {
		rq.logStatFailed(failed, path, err)
	}
	var ok bool
	switch op[len(op)-1] {
	case 'f':
		ok = err == nil && fi.isRegular()
	case 'd':
		ok = err == nil && fi.isDir()
	case 'e':
		ok = err == nil
	case 'x':
		ok = err == nil && fi.st.Mode&0o111 != 0
	}
	return ok != neg
}

// outcome is what the rewrite directives of a level decided.
type outcome struct {
	ret      *Return      // a return ended the request
	redirect *rewriteRule // a rewrite redirects, to location
	location string
	// changed says the URI changed; brk that the location stays.
	changed, brk bool
}

// runRewrite runs codes for rq, like ngx_http_rewrite_handler running
// the level's script.
func runRewrite(codes []rewriteCode, rq *request) outcome {
	var o outcome
	rq.rewriteLog = rq.loc.RewriteLog.Value // the level's, if blocks too
	rq.runCodes(codes, &o)
	return o
}

// logMatch is rewrite_log's line for a regex tried, at notice.
func (rq *request) logMatch(re *Regex, subject string, matched bool) {
	if !rq.rewriteLog {
		return
	}
	if matched {
		rq.log(errlog.Notice, `"%s" matches "%s"`, re.Source, subject)
	} else {
		rq.log(errlog.Notice, `"%s" does not match "%s"`, re.Source, subject)
	}
}

// runCodes runs codes and reports whether they stopped the level.
func (rq *request) runCodes(codes []rewriteCode, o *outcome) bool {
	for _, c := range codes {
		switch {
		case c.ret != nil:
			o.ret = c.ret
			return true
		case c.brk:
			o.brk = true
			return true
		case c.set != nil:
			value := c.set.value.String(rq)
			if c.set.v.name == "args" {
				rq.args, rq.uriChanged = value, true
				continue
			}
			rq.set(c.set.v, value)
		case c.cond != nil:
			if !c.cond.cond.holds(rq) {
				continue
			}
			if c.cond.inLoc {
				rq.loc = c.cond.loc
			}
			if rq.runCodes(c.cond.loc.Rewrite, o) {
				return true
			}
		case c.rw != nil:
			if rq.rewrite(c.rw, o) {
				return true
			}
		}
	}
	return false
}

// rewrite applies one rewrite directive; it reports whether it stops the
// level.
func (rq *request) rewrite(rule *rewriteRule, o *outcome) bool {
	idx := rule.re.match(rq.uri)
	rq.logMatch(rule.re, rq.uri, idx != nil)
	if idx == nil {
		rq.match = nil // a regex that fails clears the captures, as in nginx
		return false
	}
	rq.match = &regexMatch{re: rule.re, subject: rq.uri, idx: idx}
	repl := rule.repl.String(rq)
	if rule.redirect {
		if rule.addArgs && rq.args != "" {
			repl += ifElse(strings.Contains(repl, "?"), "&", "?") + rq.args
		}
		o.redirect, o.location = rule, repl
		if rq.rewriteLog {
			rq.log(errlog.Notice, `rewritten redirect: "%s"`, repl)
		}
		return true
	}
	uri, args, hasArgs := strings.Cut(repl, "?")
	if hasArgs {
		if rule.addArgs && rq.args != "" {
			args += "&" + rq.args
		}
		rq.args = args
	} else if !rule.addArgs {
		rq.args = ""
	}
	if rq.rewriteLog {
		rq.log(errlog.Notice, `rewritten data: "%s", args: "%s"`, uri, rq.args)
	}
	rq.uri, rq.uriChanged = uri, true
	o.changed = true
	if rule.brk {
		o.brk, rq.locationLost = true, true
	}
	return rule.stop
}
