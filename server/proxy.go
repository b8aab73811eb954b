package server

import (
	"net/netip"
	"strings"

	"edge/internal/conf"
	"edge/parser"
	"edge/upstream"
)

// proxy_pass, read as ngx_http_proxy_pass reads it. Proxying itself is
// still pending (issue #6): this makes `edge -t` judge proxy_pass as
// nginx does.

// ProxyPass is a proxy_pass: to an upstream block or to the address it
// names, with or without a URI part.
type ProxyPass struct {
	URL    string
	Scheme string // "http" or "https"
	// Host is the host part as written (an upstream's name, a host
	// name, an address, or "unix:/path"); Port is "" when not written.
	Host, Port string
	// URI is the URI part ("/x", "?a=b"), empty when there is none.
	URI string
	// Vars: the URL has variables and is made per request.
	Vars *template
	Pos  parser.Pos
}

const proxyURIPlaces = `"proxy_pass" cannot have URI part in location given by regular expression, ` +
	`or inside named location, or inside "if" statement, or inside "limit_except" block`

func setProxyPass(s *conf.Scope, d *parser.Directive) error {
	l := lv(s)
	url := d.Args[0].Value
	p := &ProxyPass{URL: url, Pos: d.End}
	if strings.Contains(url, "$") {
		t, err := l.http.compileTemplate(url, d.End)
		if err != nil {
			return err
		}
		p.Vars = t
		l.loc.proxyPass = p
		return nil
	}
	var rest string
	switch {
	case len(url) >= 7 && strings.EqualFold(url[:7], "http://"):
		p.Scheme, rest = "http", url[7:]
	case len(url) >= 8 && strings.EqualFold(url[:8], "https://"):
		p.Scheme, rest = "https", url[8:]
	default:
		return parser.Errorf(d.End, "invalid URL prefix")
	}
	if err := p.parseHost(rest); err != nil {
		return parser.Errorf(d.End, "%s", err.Error())
	}
	if p.URI != "" {
		m := l.loc.Match
		if m == MatchRegex || m == MatchRegexI || m == MatchNamed || s.Context&(conf.HTTPLif|conf.HTTPLmt) != 0 {
			return parser.Errorf(d.End, "%s", proxyURIPlaces)
		}
	}
	if err := l.http.useUpstream(p); err != nil {
		return err
	}
	l.loc.proxyPass = p
	return nil
}

// parseHost is ngx_parse_url with a URI part: "unix:/path[:uri]", or
// host[:port] followed by a "/" or "?" URI part.
func (p *ProxyPass) parseHost(rest string) error {
	if len(rest) >= 5 && strings.EqualFold(rest[:5], "unix:") {
		path, uri, _ := strings.Cut(rest[5:], ":")
		if path == "" {
			return upstreamError("no path in the unix domain socket", rest)
		}
		p.Host, p.URI = "unix:"+path, uri
		return nil
	}
	hostport := rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hostport, p.URI = rest[:i], rest[i:]
	}
	// The address checks of an upstream's server line.
	if _, err := upstream.NewConf("", parser.Pos{}).ParseServer([]string{hostport}); err != nil {
		return err
	}
	p.Host = hostport
	if strings.HasPrefix(hostport, "[") {
		if end := strings.IndexByte(hostport, ']'); end >= 0 && strings.HasPrefix(hostport[end+1:], ":") {
			p.Host, p.Port = hostport[:end+1], hostport[end+2:]
		}
	} else if host, port, ok := strings.Cut(hostport, ":"); ok {
		p.Host, p.Port = host, port
	}
	return nil
}

func upstreamError(msg, url string) error {
	return &parser.Error{Msg: msg + ` in upstream "` + url + `"`}
}

// useUpstream is ngx_http_upstream_add for a proxy_pass: a host named
// like an upstream block is that block, which takes no port.
func (h *HTTPConf) useUpstream(p *ProxyPass) error {
	h.proxyPasses = append(h.proxyPasses, p)
	for _, u := range h.Upstreams {
		if err := p.portFor(u.Name); err != nil {
			return err
		}
	}
	return nil
}

// portFor refuses a port on a proxy_pass naming the upstream block
// name; the error names the proxy_pass.
func (p *ProxyPass) portFor(name string) error {
	if strings.EqualFold(name, p.Host) && p.Port != "" {
		return parser.Errorf(p.Pos, `upstream "%s" may not have port %s`, p.Host, p.Port)
	}
	return nil
}

// checkProxyPorts is the same check when an upstream block comes after
// the proxy_pass that names it.
func (h *HTTPConf) checkProxyPorts(name string) error {
	for _, p := range h.proxyPasses {
		if err := p.portFor(name); err != nil {
			return err
		}
	}
	return nil
}

// proxyRegexOrTemplate compiles the first value of proxy_redirect and
// the proxy_cookie_* directives: "~re" ("~*re" caseless) or a string
// with variables.
func proxyRegexOrTemplate(h *HTTPConf, d *parser.Directive, v string, alwaysCaseless bool) error {
	if strings.HasPrefix(v, "~") {
		expr, caseless := v[1:], alwaysCaseless
		if strings.HasPrefix(expr, "*") {
			expr, caseless = expr[1:], true
		}
		if _, err := h.regex(expr, caseless); err != nil {
			return parser.Errorf(d.End, `%v in "%s"`, err, expr)
		}
		return nil
	}
	_, err := h.compileTemplate(v, d.End)
	return err
}

// setProxyRedirect checks proxy_redirect as ngx_http_proxy_redirect does:
// "off", "default" after the level's proxy_pass (without variables), or
// a replacement.
func setProxyRedirect(s *conf.Scope, d *parser.Directive) error {
	l := lv(s)
	v := d.Args[0].Value
	if len(d.Args) == 1 {
		switch {
		case v == "off":
			return nil
		case v != "default":
			return parser.Errorf(d.End, `invalid parameter "%s"`, v)
		case l.loc.proxyPass == nil:
			return parser.Errorf(d.End, `"proxy_redirect default" should be placed after the "proxy_pass" directive`)
		case l.loc.proxyPass.Vars != nil:
			return parser.Errorf(d.End, `"proxy_redirect default" cannot be used with "proxy_pass" directive with variables`)
		}
		return nil
	}
	if err := proxyRegexOrTemplate(l.http, d, v, false); err != nil {
		return err
	}
	_, err := l.http.compileTemplate(d.Args[1].Value, d.End)
	return err
}

// setProxyCookie checks proxy_cookie_domain and proxy_cookie_path: "off",
// or a value (a regex or a string) and its replacement.
func setProxyCookie(s *conf.Scope, d *parser.Directive) error {
	l := lv(s)
	v := d.Args[0].Value
	if len(d.Args) == 1 {
		if v != "off" {
			return parser.Errorf(d.End, `invalid parameter "%s"`, v)
		}
		return nil
	}
	if err := proxyRegexOrTemplate(l.http, d, v, d.Name == "proxy_cookie_domain"); err != nil {
		return err
	}
	_, err := l.http.compileTemplate(d.Args[1].Value, d.End)
	return err
}

// setProxyCookieFlags checks proxy_cookie_flags's cookie (a regex or a
// string); nginx 1.22 checks its flags only when it applies them.
func setProxyCookieFlags(s *conf.Scope, d *parser.Directive) error {
	if len(d.Args) == 1 && d.Args[0].Value == "off" {
		return nil
	}
	if len(d.Args) == 1 {
		return parser.Errorf(d.End, `invalid parameter "%s"`, d.Args[0].Value)
	}
	return proxyRegexOrTemplate(lv(s).http, d, d.Args[0].Value, false)
}

// setProxyBind checks proxy_bind as ngx_http_upstream_bind_set_slot
// does: "off", or an address (or variables) and "transparent".
func setProxyBind(s *conf.Scope, d *parser.Directive) error {
	v := d.Args[0].Value
	if len(d.Args) == 1 && v == "off" {
		return nil
	}
	if strings.Contains(v, "$") {
		if _, err := lv(s).http.compileTemplate(v, d.End); err != nil {
			return err
		}
	} else if _, err := netip.ParseAddr(v); err != nil {
		if _, err := netip.ParseAddrPort(v); err != nil {
			return parser.Errorf(d.End, `invalid address "%s"`, v)
		}
	}
	if len(d.Args) == 2 && d.Args[1].Value != "transparent" {
		return parser.Errorf(d.End, `invalid parameter "%s"`, d.Args[1].Value)
	}
	return nil
}
