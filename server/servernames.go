package server

import "strings"

// serverNames are the names of the servers on one address, compiled for
// lookup in nginx's order (ngx_http_find_virtual_server): exact names, then
// the longest leading wildcard, then the longest trailing wildcard, then
// regexes in order, else the default server. Names compare lower-cased;
// a name given twice belongs to the first server, as in nginx.
type serverNames struct {
	exact map[string]*ServerConf
	// lead maps ".example.com" (from "*.example.com" or ".example.com");
	// bare maps "example.com" for ".example.com", which matches it too.
	lead, bare map[string]*ServerConf
	// trail maps "www.example." (from "www.example.*").
	trail map[string]*ServerConf
	regex []regexName
	def   *ServerConf
}

type regexName struct {
	re  *Regex
	srv *ServerConf
}

func compileServerNames(a *ListenAddr) *serverNames {
	sn := &serverNames{
		exact: map[string]*ServerConf{}, lead: map[string]*ServerConf{},
		bare: map[string]*ServerConf{}, trail: map[string]*ServerConf{}, def: a.Default,
	}
	add := func(m map[string]*ServerConf, k string, s *ServerConf) {
		if _, ok := m[k]; !ok {
			m[k] = s
		}
	}
	for _, s := range a.Servers {
		for _, n := range s.Names {
			switch name := n.Name; {
			case n.Regex != nil:
				sn.regex = append(sn.regex, regexName{n.Regex, s})
			case strings.HasPrefix(name, "*."):
				add(sn.lead, name[1:], s)
			case strings.HasPrefix(name, "."):
				add(sn.lead, name, s)
				add(sn.bare, name[1:], s)
			case strings.HasSuffix(name, ".*"):
				add(sn.trail, name[:len(name)-1], s)
			default:
				add(sn.exact, name, s)
			}
		}
	}
	return sn
}

// find returns the server for a lower-cased host, and the regex that
// matched it, if one did (its captures are variables). It allocates
// nothing.
func (sn *serverNames) find(host string) (*ServerConf, *Regex) {
	if s, ok := sn.exact[host]; ok {
		return s, nil
	}
	if s, ok := sn.bare[host]; ok {
		return s, nil
	}
	// Leading wildcards, the longest (leftmost dot) first.
	for i := 0; i < len(host); i++ {
		if host[i] == '.' {
			if s, ok := sn.lead[host[i:]]; ok {
				return s, nil
			}
		}
	}
	// Trailing wildcards, the longest (rightmost dot) first.
	for i := len(host) - 1; i >= 0; i-- {
		if host[i] == '.' {
			if s, ok := sn.trail[host[:i+1]]; ok {
				return s, nil
			}
		}
	}
	for _, r := range sn.regex {
		if r.re.MatchString(host) {
			return r.srv, r.re
		}
	}
	return sn.def, nil
}
