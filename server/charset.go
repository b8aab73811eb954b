package server

import (
	"strings"

	"edge/internal/conf"
	"edge/parser"
)

// CharsetCommands are the directives of nginx's charset filter that edge
// implements: naming the charset of responses. Recoding between charsets
// (source_charset, override_charset, charset_map) is still pending.
var CharsetCommands = []conf.Command{
	{Name: "charset", Once: true, Type: httpAny | conf.HTTPLif | conf.Take1, Module: "ngx_http_charset_filter_module", Set: setCharset},
	{Name: "charset_types", Type: httpAny | conf.OneMore, Module: "ngx_http_charset_filter_module", Set: typesSlot(func(s *conf.Scope) *conf.Setting[typeSet] { return &locOf(s).CharsetTypes })},
}

// defaultCharsetTypes are charset_types' default.
var defaultCharsetTypes = typeSet{"text/html": true, "text/xml": true, "text/plain": true,
	"text/vnd.wap.wml": true, "application/javascript": true, "application/rss+xml": true}

// typeSet is a set of MIME types, as ngx_http_types_slot keeps them; "*"
// holds every type.
type typeSet map[string]bool

func (t typeSet) has(mime string) bool {
	if t["*"] {
		return true
	}
	if i := strings.IndexByte(mime, ';'); i >= 0 {
		mime = mime[:i]
	}
	return t[strings.ToLower(strings.TrimSpace(mime))]
}

// typesSlot is ngx_http_types_slot: text/html is always in, and a second
// directive in a block adds to the first.
func typesSlot(f conf.Field[typeSet]) func(*conf.Scope, *parser.Directive) error {
	return func(s *conf.Scope, d *parser.Directive) error {
		ct := f(s)
		if !ct.IsSet {
			if err := ct.Put(typeSet{"text/html": true}, d); err != nil {
				return err
			}
		}
		for _, a := range d.Args {
			ct.Value[strings.ToLower(a.Value)] = true
		}
		return nil
	}
}

// charsetValue is charset's value: a name, "off", or a variable ("$x"),
// whose value names the charset of each answer.
type charsetValue struct {
	name string
	v    *varRef
}

// setCharset is ngx_http_set_charset_slot.
func setCharset(s *conf.Scope, d *parser.Directive) error {
	v := d.Args[0].Value
	cv := charsetValue{name: v}
	if strings.HasPrefix(v, "$") {
		cv = charsetValue{v: lv(s).http.vars.ref(v[1:], d.End)}
	}
	return locOf(s).Charset.Put(cv, d)
}

// charsetOf is the charset filter's header part, without recoding: the
// charset an answer with status code and type ctype names, or "" — none
// for a type outside charset_types, one that names its charset already,
// or a redirect (nginx: "NN 4.x would use it for the next page").
func (w *response) charsetOf(code int, ctype string) string {
	loc := w.c.rq.loc
	cv := loc.Charset.Value
	if ctype == "" || code == 301 || code == 302 || cv.name == "off" ||
		strings.Contains(strings.ToLower(ctype), "charset=") || !loc.CharsetTypes.Value.has(ctype) {
		return ""
	}
	if cv.v != nil {
		return w.c.rq.value(cv.v)
	}
	return cv.name
}
