package server

import (
	"strings"

	"edge/internal/conf"
	"edge/parser"
)

// varMap is a map block: the variable it defines takes the value of the
// first entry its source matches, in nginx's order (ngx_http_map_find):
// the exact key (without case), the longest leading and then trailing
// wildcard (with hostnames), then the regexes in order, else default.
type varMap struct {
	source *template
	exact  map[string]*template
	// With hostnames: ".example.com" (and "example.com" for
	// ".example.com"), and "www.example.".
	lead, bare, trail map[string]*template
	regexes           []mapRegex
	def               *template
	hostnames         bool
	volatile          bool // evaluated at every use, not once a request
}

type mapRegex struct {
	re    *Regex
	value *template
}

// setMap is ngx_http_map_block and ngx_http_map.
func setMap(s *conf.Scope, d *parser.Directive) error {
	h := lv(s).http
	name, ok := strings.CutPrefix(d.Args[1].Value, "$")
	if !ok || name == "" {
		return parser.Errorf(d.End, `invalid variable name "%s"`, d.Args[1].Value)
	}
	source, err := h.compileTemplate(d.Args[0].Value, d.End)
	if err != nil {
		return err
	}
	if err := changeable(name); err != nil {
		return err
	}
	m := &varMap{source: source, exact: map[string]*template{}, lead: map[string]*template{},
		bare: map[string]*template{}, trail: map[string]*template{}}
	err = conf.EachEntry(d, func(e *parser.Directive) error {
		if len(e.Args) == 0 && (e.Name == "hostnames" || e.Name == "volatile") {
			m.hostnames = m.hostnames || e.Name == "hostnames"
			m.volatile = m.volatile || e.Name == "volatile"
			return nil
		}
		if len(e.Args) != 1 {
			return parser.Errorf(e.End, "invalid number of the map parameters")
		}
		value, err := h.compileTemplate(e.Args[0].Value, e.End)
		if err != nil {
			return err
		}
		return m.add(h, e, value)
	})
	if err != nil {
		return err
	}
	v := h.vars.define(name, d.End)
	v.mapped = m
	return nil
}

func (m *varMap) add(h *HTTPConf, e *parser.Directive, value *template) error {
	key := e.Name
	if key == "default" && !e.NameQuoted {
		if m.def != nil {
			return parser.Errorf(e.End, "duplicate default map parameter")
		}
		m.def = value
		return nil
	}
	if strings.HasPrefix(key, "~") {
		caseless := strings.HasPrefix(key, "~*")
		expr := strings.TrimPrefix(key[1:], "*")
		re, err := h.regex(expr, caseless)
		if err != nil {
			return parser.Errorf(e.End, `%v in "%s"`, err, expr)
		}
		m.regexes = append(m.regexes, mapRegex{re, value})
		return nil
	}
	key = strings.ToLower(strings.TrimPrefix(key, "\\"))
	put := func(t map[string]*template, k string) error {
		if _, dup := t[k]; dup {
			// nginx lower-cases the key in place before it complains.
			return parser.Errorf(e.End, `conflicting parameter "%s"`, key)
		}
		t[k] = value
		return nil
	}
	if m.hostnames {
		switch {
		case strings.HasPrefix(key, "*."):
			return put(m.lead, key[1:])
		case strings.HasPrefix(key, "."):
			if err := put(m.bare, key[1:]); err != nil {
				return err
			}
			return put(m.lead, key)
		case strings.HasSuffix(key, ".*"):
			return put(m.trail, key[:len(key)-1])
		case strings.Contains(key, "*"):
			return parser.Errorf(e.End, `invalid hostname or wildcard "%s"`, key)
		}
	}
	return put(m.exact, key)
}

// eval finds the source's value in the map.
func (m *varMap) eval(rq *request) string {
	src := strings.ToLower(m.source.String(rq))
	if m.hostnames {
		src = strings.TrimSuffix(src, ".")
	}
	if v, ok := m.exact[src]; ok {
		return v.String(rq)
	}
	if m.hostnames {
		if v, ok := m.bare[src]; ok {
			return v.String(rq)
		}
		for i := 0; i < len(src); i++ {
			if src[i] == '.' {
				if v, ok := m.lead[src[i:]]; ok {
					return v.String(rq)
				}
			}
		}
		for i := len(src) - 1; i >= 0; i-- {
			if src[i] == '.' {
				if v, ok := m.trail[src[:i+1]]; ok {
					return v.String(rq)
				}
			}
		}
	}
	raw := m.source.String(rq)
	for _, r := range m.regexes {
		if idx := r.re.match(raw); idx != nil {
			rq.match = &regexMatch{re: r.re, subject: raw, idx: idx}
			return r.value.String(rq)
		}
	}
	if m.def != nil {
		return m.def.String(rq)
	}
	return ""
}
