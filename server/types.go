package server

import (
	"strings"

	"edge/internal/conf"
	"edge/parser"
)

// mimeTypes maps lower-cased file extensions to content types: the types
// {} blocks (and mime.types, which is one).
type mimeTypes map[string]string

// defaultTypes are nginx's types when no level has a types block
// (ngx_http_core_default_types).
var defaultTypes = mimeTypes{"html": "text/html", "gif": "image/gif", "jpg": "image/jpeg"}

// setTypes is ngx_http_core_types and ngx_http_core_type: every entry is
// a content type and its extensions; a later entry for an extension wins
// (nginx warns about it); several types blocks in one place add up.
func setTypes(s *conf.Scope, d *parser.Directive) error {
	loc := locOf(s)
	if loc.Types == nil {
		loc.Types = mimeTypes{}
	}
	return conf.EachEntry(d, func(e *parser.Directive) error {
		for _, a := range e.Args {
			loc.Types[strings.ToLower(a.Value)] = e.Name
		}
		return nil
	})
}

// contentType is ngx_http_set_content_type: the type of the URI's
// extension (after the last dot of its last segment), else default_type.
func (l *LocationConf) contentType(uri string) string {
	// ngx_http_set_exten: a dot that starts its segment is no extension.
	if i := strings.LastIndexAny(uri, "./"); i > 0 && uri[i] == '.' && uri[i-1] != '/' {
		if t, ok := l.Types[strings.ToLower(uri[i+1:])]; ok {
			return t
		}
	}
	return l.DefaultType.Value
}
