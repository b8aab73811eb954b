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
	{Name: "charset", Once: true, Type: httpAny | conf.HTTPLif | conf.Take1, Module: "ngx_http_charset_filter_module", Set: conf.StrSlot(func(s *conf.Scope) *conf.Setting[string] { return &locOf(s).Charset })},
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

// withCharset adds "; charset=…" to a content type, as the charset
// filter's header part does for the types of charset_types.
func (l *LocationConf) withCharset(ctype string) string {
	cs := l.Charset.Value
	if cs == "" || strings.EqualFold(cs, "off") || !l.CharsetTypes.Value.has(ctype) {
		return ctype
	}
	return ctype + "; charset=" + cs
}
