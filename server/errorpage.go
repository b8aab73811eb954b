package server

import (
	"net/http"
	"strings"

	"edge/internal/conf"
	"edge/parser"
)

// ErrorPageCommands are error_page, recursive_error_pages and internal.
var ErrorPageCommands = []conf.Command{
	{Name: "error_page", Type: httpAny | conf.HTTPLif | conf.TwoMore, Module: "ngx_http_core_module", Set: setErrorPage},
	{Name: "recursive_error_pages", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_core_module",
		Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).RecursiveErrorPages })},
	{Name: "internal", Once: true, Type: conf.HTTPLoc | conf.NoArgs, Module: "ngx_http_core_module", Set: setInternal},
}

// errorPage is one code of an error_page directive.
type errorPageRule struct {
	code int
	// overwrite is the status of the answer: -1 keeps the error's, 0
	// takes the page's own ("="), else that status ("=200").
	overwrite int
	uri       *template
	args      string // the static URI's arguments
	hasArgs   bool
}

// setErrorPage is ngx_http_core_error_page.
func setErrorPage(s *conf.Scope, d *parser.Directive) error {
	h := lv(s).http
	args := d.Args
	overwrite, n := -1, 1
	if v := args[len(args)-2].Value; strings.HasPrefix(v, "=") {
		if len(args) == 2 {
			return parser.Errorf(d.End, `invalid value "%s"`, v)
		}
		overwrite = 0
		if len(v) > 1 {
			o, err := conf.ParseNumber(v[1:])
			if err != nil {
				return parser.Errorf(d.End, `invalid value "%s"`, v)
			}
			overwrite = int(o)
		}
		n = 2
	}
	uri := args[len(args)-1].Value
	t, err := h.compileTemplate(uri, d.End)
	if err != nil {
		return err
	}
	rule := errorPageRule{overwrite: overwrite, uri: t}
	if t.static() && strings.HasPrefix(uri, "/") {
		if u, a, ok := strings.Cut(uri, "?"); ok {
			rule.uri = &template{raw: u, parts: []part{{lit: u}}}
			rule.args, rule.hasArgs = a, true
		}
	}
	loc := locOf(s)
	for _, a := range args[:len(args)-n] {
		code, err := conf.ParseNumber(a.Value)
		if err != nil || code == 499 {
			return parser.Errorf(d.End, `invalid value "%s"`, a.Value)
		}
		if code < 300 || code > 599 {
			return parser.Errorf(d.End, `value "%s" must be between 300 and 599`, a.Value)
		}
		r := rule
		r.code = int(code)
		if overwrite == -1 && (code == 497 || code == 495 || code == 496 || code == 494) {
			r.overwrite = http.StatusBadRequest
		}
		loc.ErrorPages = append(loc.ErrorPages, r)
	}
	return nil
}

func setInternal(s *conf.Scope, _ *parser.Directive) error {
	locOf(s).Internal = true
	return nil
}

// fail finishes rq with an error status, as ngx_http_special_response_
// handler does: the location's error_page for it, if any (once, unless
// recursive_error_pages), else nginx's page. It reports an internal
// redirect for the caller to follow.
func fail(w *response, rq *request, code int) (redirect bool) {
	loc := rq.loc
	if !rq.errorPaged && rq.redirects <= 10 {
		for i := range loc.ErrorPages {
			ep := &loc.ErrorPages[i]
			if ep.code != code {
				continue
			}
			if !loc.RecursiveErrorPages.Value {
				rq.errorPaged = true
			}
			rq.errStatus = code
			if ep.overwrite >= 0 {
				rq.errStatus = ep.overwrite
			}
			rq.internal = true
			if rq.prx != nil {
				rq.prx.redirected = true
			}
			uri := ep.uri.String(rq)
			switch {
			case strings.HasPrefix(uri, "/"):
				if ep.hasArgs {
					rq.uri, rq.args = uri, ep.args
				} else {
					// ngx_http_split_args: no "?" means no arguments.
					rq.uri, rq.args, _ = strings.Cut(uri, "?")
				}
				rq.restart = true
				if rq.method != http.MethodHead {
					rq.method = http.MethodGet
				}
				return true
			case strings.HasPrefix(uri, "@"):
				rq.named = uri
				return true
			}
			status := ep.overwrite
			switch status {
			case 301, 302, 303, 307, 308:
			default:
				status = http.StatusFound
			}
			w.Header().Set("Location", uri)
			errorPage(w, rq, status)
			return false
		}
	}
	errorPage(w, rq, code)
	return false
}
