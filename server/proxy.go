package server

import (
	"net/netip"
	"strings"
	"time"

	"edge/internal/conf"
	"edge/parser"
	"edge/upstream"
)

// The proxy module's directives (ngx_http_proxy_module.c): proxy_pass
// read as ngx_http_proxy_pass reads it, the settings of a proxying
// level and their merge. The handler is in proxy_request.go.

// ProxyCommands are the proxy module's directives edge implements; the
// others are in NginxCommands.
var ProxyCommands = []conf.Command{
	{Name: "proxy_cookie_flags", Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take1234, Module: "ngx_http_proxy_module", Set: setProxyCookieFlags},
	{Name: "proxy_bind", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take12, Module: "ngx_http_proxy_module", Set: setProxyBind},
	{Name: "proxy_ignore_client_abort", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Flag, Module: "ngx_http_proxy_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &proxyOf(s).IgnoreClientAbort })},
	{Name: "proxy_set_body", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take1, Module: "ngx_http_proxy_module", Set: setProxySetBody},
	{Name: "proxy_ignore_headers", Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.OneMore, Module: "ngx_http_proxy_module", Set: setProxyIgnoreHeaders},
	{Name: "proxy_request_buffering", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Flag, Module: "ngx_http_proxy_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &proxyOf(s).RequestBuffering })},
	{Name: "proxy_cookie_path", Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take12, Module: "ngx_http_proxy_module", Set: setProxyCookie},
	{Name: "proxy_cookie_domain", Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take12, Module: "ngx_http_proxy_module", Set: setProxyCookie},
	{Name: "proxy_pass", Once: true, Type: conf.HTTPLoc | conf.HTTPLif | conf.HTTPLmt | conf.Take1, Module: "ngx_http_proxy_module", Set: setProxyPass},
	{Name: "proxy_redirect", Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take12, Module: "ngx_http_proxy_module", Set: setProxyRedirect},
	{Name: "proxy_buffering", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Flag, Module: "ngx_http_proxy_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &proxyOf(s).Buffering })},
	{Name: "proxy_socket_keepalive", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Flag, Module: "ngx_http_proxy_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &proxyOf(s).SocketKeepalive })},
	{Name: "proxy_connect_timeout", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take1, Module: "ngx_http_proxy_module", Set: conf.MsecSlot(func(s *conf.Scope) *conf.Setting[time.Duration] { return &proxyOf(s).ConnectTimeout })},
	{Name: "proxy_send_timeout", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take1, Module: "ngx_http_proxy_module", Set: conf.MsecSlot(func(s *conf.Scope) *conf.Setting[time.Duration] { return &proxyOf(s).SendTimeout })},
	{Name: "proxy_intercept_errors", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Flag, Module: "ngx_http_proxy_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &proxyOf(s).InterceptErrors })},
	{Name: "proxy_set_header", Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take2, Module: "ngx_http_proxy_module", Set: setProxySetHeader},
	{Name: "proxy_method", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take1, Module: "ngx_http_proxy_module", Set: setProxyMethod},
	{Name: "proxy_pass_request_headers", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Flag, Module: "ngx_http_proxy_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &proxyOf(s).PassRequestHeaders })},
	{Name: "proxy_pass_request_body", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Flag, Module: "ngx_http_proxy_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &proxyOf(s).PassRequestBody })},
	{Name: "proxy_buffer_size", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take1, Module: "ngx_http_proxy_module", Set: conf.SizeSlot(func(s *conf.Scope) *conf.Setting[int64] { return &proxyOf(s).BufferSize })},
	{Name: "proxy_read_timeout", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take1, Module: "ngx_http_proxy_module", Set: conf.MsecSlot(func(s *conf.Scope) *conf.Setting[time.Duration] { return &proxyOf(s).ReadTimeout })},
	{Name: "proxy_next_upstream", Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.OneMore, Module: "ngx_http_proxy_module", Set: setProxyNextUpstream},
	{Name: "proxy_next_upstream_tries", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take1, Module: "ngx_http_proxy_module", Set: conf.NumSlot(func(s *conf.Scope) *conf.Setting[int64] { return &proxyOf(s).NextUpstreamTries })},
	{Name: "proxy_next_upstream_timeout", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take1, Module: "ngx_http_proxy_module", Set: conf.MsecSlot(func(s *conf.Scope) *conf.Setting[time.Duration] { return &proxyOf(s).NextUpstreamTimeout })},
	{Name: "proxy_pass_header", Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take1, Module: "ngx_http_proxy_module", Set: setProxyPassHeader},
	{Name: "proxy_hide_header", Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take1, Module: "ngx_http_proxy_module", Set: setProxyHideHeader},
	{Name: "proxy_http_version", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take1, Module: "ngx_http_proxy_module", Set: conf.EnumSlot(func(s *conf.Scope) *conf.Setting[string] { return &proxyOf(s).HTTPVersion }, "1.0", "1.1")},
}

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
	// redirect is "proxy_redirect default" for it; group the upstream
	// it proxies to, once compiled; hostHeader and port are
	// $proxy_host and $proxy_port.
	redirect         proxyRedirect
	group            *group
	hostHeader, port string
	// location is the location's name, which a URI part replaces.
	location string
}

// defaultPort is the scheme's port.
func (p *ProxyPass) defaultPort() string {
	if p.Scheme == "https" {
		return "443"
	}
	return "80"
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
	if err := p.parseURL(); err != nil {
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
	p.location = l.loc.Path
	p.setHost()
	r, err := l.http.defaultRedirect(l.loc.Path, p)
	if err != nil {
		return err
	}
	p.redirect = r
	l.loc.proxyPass = p
	return nil
}

// setHost makes $proxy_host and $proxy_port as ngx_http_proxy_pass
// does: the port is left out of the host when it is the scheme's.
func (p *ProxyPass) setHost() {
	switch {
	case strings.HasPrefix(p.Host, "unix:"):
		p.hostHeader, p.port = "localhost", ""
	case p.Port == "" || p.Port == p.defaultPort():
		p.hostHeader, p.port = p.Host, p.defaultPort()
	default:
		p.hostHeader, p.port = p.Host+":"+p.Port, p.Port
	}
}

// parseURL reads the scheme, host and URI part of p.URL.
func (p *ProxyPass) parseURL() error {
	url := p.URL
	switch {
	case len(url) >= 7 && strings.EqualFold(url[:7], "http://"):
		p.Scheme = "http"
		return p.parseHost(url[7:])
	case len(url) >= 8 && strings.EqualFold(url[:8], "https://"):
		p.Scheme = "https"
		return p.parseHost(url[8:])
	}
	return &parser.Error{Msg: "invalid URL prefix"}
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

// rewritePattern compiles the first value of proxy_redirect and the
// proxy_cookie_* directives: "~re" ("~*re" caseless) or a string with
// variables.
func (h *HTTPConf) rewritePattern(d *parser.Directive, v string, alwaysCaseless bool) (proxyRedirect, error) {
	var r proxyRedirect
	if strings.HasPrefix(v, "~") {
		expr, caseless := v[1:], alwaysCaseless
		if strings.HasPrefix(expr, "*") {
			expr, caseless = expr[1:], true
		}
		re, err := h.regex(expr, caseless)
		if err != nil {
			return r, parser.Errorf(d.End, `%v in "%s"`, err, expr)
		}
		r.re = re
		return r, nil
	}
	t, err := h.compileTemplate(v, d.End)
	r.from = t
	return r, err
}

// rewriteRule is a pattern and its replacement.
func (h *HTTPConf) rewriteRule(d *parser.Directive, alwaysCaseless bool) (proxyRedirect, error) {
	r, err := h.rewritePattern(d, d.Args[0].Value, alwaysCaseless)
	if err != nil {
		return r, err
	}
	r.to, err = h.compileTemplate(d.Args[1].Value, d.End)
	return r, err
}

// setProxyRedirect is ngx_http_proxy_redirect: "off", "default" after
// the level's proxy_pass (without variables), or a replacement of a
// string or regex.
func setProxyRedirect(s *conf.Scope, d *parser.Directive) error {
	l := lv(s)
	p := &l.loc.Proxy
	v := d.Args[0].Value
	if len(d.Args) == 1 {
		switch {
		case v == "off":
			p.RedirectOff = true
			p.Redirects = nil
			return nil
		case v != "default":
			return parser.Errorf(d.End, `invalid parameter "%s"`, v)
		case l.loc.proxyPass == nil:
			return parser.Errorf(d.End, `"proxy_redirect default" should be placed after the "proxy_pass" directive`)
		case l.loc.proxyPass.Vars != nil:
			return parser.Errorf(d.End, `"proxy_redirect default" cannot be used with "proxy_pass" directive with variables`)
		}
		if !p.RedirectOff {
			p.Redirects = append(p.Redirects, l.loc.proxyPass.redirect)
		}
		return nil
	}
	r, err := l.http.rewriteRule(d, false)
	if err != nil {
		return err
	}
	if !p.RedirectOff {
		p.Redirects = append(p.Redirects, r)
	}
	return nil
}

// defaultRedirect is "proxy_redirect default" for a proxy_pass in the
// location named path: its URL, to the location's name when it has a
// URI part; else its URL and "/", to "/".
func (h *HTTPConf) defaultRedirect(path string, pp *ProxyPass) (proxyRedirect, error) {
	from, to := pp.URL+"/", "/"
	if pp.URI != "" {
		from, to = pp.URL, path
	}
	var r proxyRedirect
	var err error
	if r.from, err = h.compileTemplate(from, pp.Pos); err != nil {
		return r, err
	}
	r.to, err = h.compileTemplate(to, pp.Pos)
	return r, err
}

// setProxyCookie checks proxy_cookie_domain and proxy_cookie_path: "off",
// or a value (a regex or a string) and its replacement.
func setProxyCookie(s *conf.Scope, d *parser.Directive) error {
	l := lv(s)
	rules := &l.loc.Proxy.CookiePaths
	if d.Name == "proxy_cookie_domain" {
		rules = &l.loc.Proxy.CookieDomains
	}
	v := d.Args[0].Value
	if len(d.Args) == 1 {
		if v != "off" {
			return parser.Errorf(d.End, `invalid parameter "%s"`, v)
		}
		*rules = cookieRules{set: true}
		return nil
	}
	// proxy_cookie_domain's regexes are always caseless.
	r, err := l.http.rewriteRule(d, d.Name == "proxy_cookie_domain")
	if err != nil {
		return err
	}
	rules.set = true
	rules.list = append(rules.list, r)
	return nil
}

// cookieRules are a level's proxy_cookie_domain or proxy_cookie_path
// rules; set says the level has the directive ("off" leaves none), else
// it inherits.
type cookieRules struct {
	list []proxyRedirect
	set  bool
}

// setProxyCookieFlags checks proxy_cookie_flags's cookie (a regex or a
// string); nginx 1.22 checks its flags only when it applies them.
func setProxyCookieFlags(s *conf.Scope, d *parser.Directive) error {
	p := proxyOf(s)
	if len(d.Args) == 1 && d.Args[0].Value == "off" {
		p.CookieFlags = cookieFlagRules{set: true}
		return nil
	}
	if len(d.Args) == 1 {
		return parser.Errorf(d.End, `invalid parameter "%s"`, d.Args[0].Value)
	}
	h := lv(s).http
	r, err := h.rewritePattern(d, d.Args[0].Value, false)
	if err != nil {
		return err
	}
	rule := cookieFlagRule{cookie: r}
	for _, a := range d.Args[1:] {
		t, err := h.compileTemplate(a.Value, d.End)
		if err != nil {
			return err
		}
		rule.flags = append(rule.flags, t)
	}
	p.CookieFlags.set = true
	p.CookieFlags.list = append(p.CookieFlags.list, rule)
	return nil
}

// cookieFlagRules are proxy_cookie_flags's rules (set: written at this
// level, "off" leaving none).
type cookieFlagRules struct {
	list []cookieFlagRule
	set  bool
}

// cookieFlagRule is a cookie (a name, or a regex in cookie.re) and its
// flags, with variables: nginx 1.22 reads them when it applies them.
type cookieFlagRule struct {
	cookie proxyRedirect
	flags  []*template
}

// setProxyBind checks proxy_bind as ngx_http_upstream_bind_set_slot
// does: "off", or an address (or variables) and "transparent".
func setProxyBind(s *conf.Scope, d *parser.Directive) error {
	v := d.Args[0].Value
	var b proxyBind
	if len(d.Args) == 1 && v == "off" {
		return proxyOf(s).Bind.Put(b, d)
	}
	if !strings.Contains(v, "$") {
		if _, err := netip.ParseAddr(v); err != nil {
			if _, err := netip.ParseAddrPort(v); err != nil {
				return parser.Errorf(d.End, `invalid address "%s"`, v)
			}
		}
	}
	t, err := lv(s).http.compileTemplate(v, d.End)
	if err != nil {
		return err
	}
	b.addr = t
	if len(d.Args) == 2 {
		if d.Args[1].Value != "transparent" {
			return parser.Errorf(d.End, `invalid parameter "%s"`, d.Args[1].Value)
		}
		b.transparent = true
	}
	return proxyOf(s).Bind.Put(b, d)
}

// proxyBind is proxy_bind: the local address (nil: "off"), and
// "transparent".
type proxyBind struct {
	addr        *template
	transparent bool
}

// ProxyConf is a level's proxy settings (nginx's
// ngx_http_proxy_loc_conf_t and the upstream conf in it).
type ProxyConf struct {
	// SetHeaders are this level's proxy_set_header directives (nil:
	// inherited, as a whole); headers them merged with nginx's
	// defaults, hidden the header names a client's header of the same
	// name is not passed under.
	SetHeaders []proxyHeader
	headers    []proxyHeader
	skip       map[string]bool
	// HideHeaders and PassHeaders are proxy_hide_header and
	// proxy_pass_header (nil: inherited); hide is nginx's defaults
	// with them applied, by lower-case name.
	HideHeaders, PassHeaders []string
	hide                     map[string]bool
	HTTPVersion              conf.Setting[string]
	ConnectTimeout           conf.Setting[time.Duration]
	SocketKeepalive          conf.Setting[bool]
	SendTimeout              conf.Setting[time.Duration]
	ReadTimeout              conf.Setting[time.Duration]
	PassRequestHeaders       conf.Setting[bool]
	PassRequestBody          conf.Setting[bool]
	Buffering                conf.Setting[bool]
	RequestBuffering         conf.Setting[bool]
	InterceptErrors          conf.Setting[bool]
	BufferSize               conf.Setting[int64]
	IgnoreClientAbort        conf.Setting[bool]
	NextUpstream             conf.Setting[nextUpstream]
	NextUpstreamTries        conf.Setting[int64]
	NextUpstreamTimeout      conf.Setting[time.Duration]
	Method                   conf.Setting[*template]
	SetBody                  conf.Setting[*template]
	// Redirects are proxy_redirect's rules (nil: inherited, else the
	// default of the level's proxy_pass); RedirectOff is "off".
	Redirects   []proxyRedirect
	RedirectOff bool
	// CookieDomains and CookiePaths rewrite the Domain and Path of the
	// answer's Set-Cookie headers.
	CookieDomains, CookiePaths cookieRules
	CookieFlags                cookieFlagRules
	// IgnoreHeaders is proxy_ignore_headers: the answer headers not
	// acted on.
	IgnoreHeaders ignoredHeaders
	ignoreSet     bool
	// Bind is proxy_bind.
	Bind conf.Setting[proxyBind]
	// SSL are the proxy_ssl_* settings.
	SSL ProxySSL
	// HealthCheck is the location's health_check (not inherited).
	HealthCheck *healthCheck
	// pass is the proxy_pass the level proxies with: its own, or for an
	// if or limit_except level without one, its location's.
	pass *ProxyPass
}

// proxyHeader is a proxy_set_header: a name and a value (nil: the
// header is not sent, nor a client's header of that name).
type proxyHeader struct {
	name  string
	value *template
}

// nextUpstream is proxy_next_upstream's bitmask.
type nextUpstream uint16

const (
	nextError nextUpstream = 1 << iota
	nextTimeout
	nextInvalidHeader
	nextNonIdempotent
	next500
	next502
	next503
	next504
	next403
	next404
	next429
	nextUpdating
	nextOff
)

var nextUpstreamNames = map[string]nextUpstream{"error": nextError, "timeout": nextTimeout,
	"invalid_header": nextInvalidHeader, "non_idempotent": nextNonIdempotent, "http_500": next500,
	"http_502": next502, "http_503": next503, "http_504": next504, "http_403": next403,
	"http_404": next404, "http_429": next429, "updating": nextUpdating, "off": nextOff}

// ignoredHeaders is proxy_ignore_headers's set. Of its headers edge
// acts on X-Accel-Redirect and X-Accel-Buffering; the others concern a
// cache (Expires, Cache-Control, Set-Cookie, Vary, X-Accel-Expires) or
// rate and charset (X-Accel-Limit-Rate, X-Accel-Charset), which edge
// does not act on anyway.
type ignoredHeaders uint16

const (
	ignoreAccelRedirect ignoredHeaders = 1 << iota
	ignoreAccelBuffering
	ignoreOther
)

func setProxyIgnoreHeaders(s *conf.Scope, d *parser.Directive) error {
	p := proxyOf(s)
	p.ignoreSet = true // a second directive adds to the first, as nginx's bitmask slot
	for _, a := range d.Args {
		switch strings.ToLower(a.Value) {
		case "x-accel-redirect":
			p.IgnoreHeaders |= ignoreAccelRedirect
		case "x-accel-buffering":
			p.IgnoreHeaders |= ignoreAccelBuffering
		case "x-accel-expires", "x-accel-limit-rate", "x-accel-charset", "expires", "cache-control", "set-cookie", "vary":
			p.IgnoreHeaders |= ignoreOther
		default:
			return parser.Errorf(d.End, `invalid value "%s"`, a.Value)
		}
	}
	return nil
}

// proxyRedirect is one proxy_redirect rule: an answer's Location or
// Refresh that starts with from (or matches re) gets to instead.
type proxyRedirect struct {
	from *template
	re   *Regex
	to   *template
}

// proxyDefaultHeaders are ngx_http_proxy_headers, after those the
// configuration sets: the Host, Connection and body headers nginx
// makes, and the client headers it does not pass on.
var proxyDefaultHeaders = []struct{ name, value string }{
	{"Host", "$proxy_host"},
	{"Connection", "close"},
	{"Content-Length", "$proxy_internal_body_length"},
	{"Transfer-Encoding", "$proxy_internal_chunked"},
	{"TE", ""},
	{"Keep-Alive", ""},
	{"Expect", ""},
	{"Upgrade", ""},
}

// proxyHiddenHeaders are ngx_http_proxy_hide_headers: answer headers
// nginx does not pass to the client.
var proxyHiddenHeaders = []string{"Date", "Server", "X-Pad", "X-Accel-Expires", "X-Accel-Redirect",
	"X-Accel-Limit-Rate", "X-Accel-Buffering", "X-Accel-Charset"}

func proxyOf(s *conf.Scope) *ProxyConf { return &locOf(s).Proxy }

func setProxySetHeader(s *conf.Scope, d *parser.Directive) error {
	p := proxyOf(s)
	h := proxyHeader{name: d.Args[0].Value}
	if v := d.Args[1].Value; v != "" {
		t, err := lv(s).http.compileTemplate(v, d.End)
		if err != nil {
			return err
		}
		h.value = t
	}
	if p.SetHeaders == nil {
		p.SetHeaders = []proxyHeader{}
	}
	p.SetHeaders = append(p.SetHeaders, h)
	return nil
}

func setProxyHideHeader(s *conf.Scope, d *parser.Directive) error {
	p := proxyOf(s)
	p.HideHeaders = append(nonNil(p.HideHeaders), d.Args[0].Value)
	return nil
}

func setProxyPassHeader(s *conf.Scope, d *parser.Directive) error {
	p := proxyOf(s)
	p.PassHeaders = append(nonNil(p.PassHeaders), d.Args[0].Value)
	return nil
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func setProxyNextUpstream(s *conf.Scope, d *parser.Directive) error {
	p := proxyOf(s)
	if p.NextUpstream.IsSet {
		return conf.ErrDuplicate
	}
	var mask nextUpstream
	for _, a := range d.Args {
		bit, ok := nextUpstreamNames[strings.ToLower(a.Value)]
		if !ok {
			return parser.Errorf(d.End, `invalid value "%s"`, a.Value)
		}
		mask |= bit
	}
	// ngx_http_proxy_merge_loc_conf: off wins.
	if mask&nextOff != 0 {
		mask = nextOff
	}
	return p.NextUpstream.Put(mask, d)
}

func setProxySetBody(s *conf.Scope, d *parser.Directive) error {
	t, err := lv(s).http.compileTemplate(d.Args[0].Value, d.End)
	if err != nil {
		return err
	}
	return proxyOf(s).SetBody.Put(t, d)
}

func setProxyMethod(s *conf.Scope, d *parser.Directive) error {
	t, err := lv(s).http.compileTemplate(d.Args[0].Value, d.End)
	if err != nil {
		return err
	}
	return proxyOf(s).Method.Put(t, d)
}

// merge is ngx_http_proxy_merge_loc_conf for the settings edge keeps;
// own is the level's proxy_pass, inner says the level is an if or
// limit_except block, which proxies with its location's.
func (p *ProxyConf) merge(parent *ProxyConf, own *ProxyPass, inner bool) {
	p.pass = own
	if own == nil && inner {
		p.pass = parent.pass
	}
	if p.SetHeaders == nil {
		p.SetHeaders = parent.SetHeaders
	}
	if p.HideHeaders == nil && p.PassHeaders == nil {
		p.HideHeaders, p.PassHeaders = parent.HideHeaders, parent.PassHeaders
	} else {
		if p.HideHeaders == nil {
			p.HideHeaders = parent.HideHeaders
		}
		if p.PassHeaders == nil {
			p.PassHeaders = parent.PassHeaders
		}
	}
	p.HTTPVersion.Merge(parent.HTTPVersion, "1.0")
	p.ConnectTimeout.Merge(parent.ConnectTimeout, 60*time.Second)
	p.SocketKeepalive.Merge(parent.SocketKeepalive, false)
	p.SendTimeout.Merge(parent.SendTimeout, 60*time.Second)
	p.ReadTimeout.Merge(parent.ReadTimeout, 60*time.Second)
	p.PassRequestHeaders.Merge(parent.PassRequestHeaders, true)
	p.PassRequestBody.Merge(parent.PassRequestBody, true)
	p.Buffering.Merge(parent.Buffering, true)
	p.RequestBuffering.Merge(parent.RequestBuffering, true)
	p.InterceptErrors.Merge(parent.InterceptErrors, false)
	p.BufferSize.Merge(parent.BufferSize, 4<<10)
	p.IgnoreClientAbort.Merge(parent.IgnoreClientAbort, false)
	p.NextUpstream.Merge(parent.NextUpstream, nextError|nextTimeout)
	p.NextUpstreamTries.Merge(parent.NextUpstreamTries, 0)
	p.NextUpstreamTimeout.Merge(parent.NextUpstreamTimeout, 0)
	p.Method.Merge(parent.Method, nil)
	p.SetBody.Merge(parent.SetBody, nil)
	p.SSL.merge(&parent.SSL)
	p.Bind.Merge(parent.Bind, proxyBind{})
	if !p.ignoreSet {
		p.IgnoreHeaders, p.ignoreSet = parent.IgnoreHeaders, parent.ignoreSet
	}
	if !p.CookieDomains.set {
		p.CookieDomains = parent.CookieDomains
	}
	if !p.CookiePaths.set {
		p.CookiePaths = parent.CookiePaths
	}
	if !p.CookieFlags.set {
		p.CookieFlags = parent.CookieFlags
	}
	// ngx_http_proxy_merge_loc_conf: "off" is inherited; rules are
	// inherited as a whole; a level that has neither but a proxy_pass
	// gets its default rule (a variable or unix: one has none).
	p.RedirectOff = p.RedirectOff || parent.RedirectOff && p.Redirects == nil
	if p.RedirectOff {
		p.Redirects = nil
	} else if p.Redirects == nil {
		p.Redirects = parent.Redirects
		if p.Redirects == nil && own != nil && own.Vars == nil {
			p.Redirects = []proxyRedirect{own.redirect}
		}
	}
}

// finishProxy makes each proxying level's headers, once merged: the
// proxy_set_header list with nginx's defaults after it, the names of
// the client's headers not passed, and the answer's headers hidden.
func (h *HTTPConf) finishProxy() error {
	if len(h.proxyPasses) == 0 {
		return nil
	}
	defaults := make([]proxyHeader, len(proxyDefaultHeaders))
	for i, d := range proxyDefaultHeaders {
		defaults[i].name = d.name
		if d.value != "" {
			t, err := h.compileTemplate(d.value, h.Pos)
			if err != nil {
				return err
			}
			defaults[i].value = t
		}
	}
	for _, srv := range h.Servers {
		err := srv.eachLevel(func(l *LocationConf) error {
			pass := l.Proxy.pass
			if pass == nil {
				return nil
			}
			l.Proxy.compileHeaders(defaults)
			if pass.Scheme == "https" || pass.Vars != nil {
				return l.Proxy.SSL.compile()
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// compileHeaders is ngx_http_proxy_init_headers and
// ngx_http_upstream_hide_headers_hash.
func (p *ProxyConf) compileHeaders(defaults []proxyHeader) {
	p.headers = append([]proxyHeader{}, p.SetHeaders...)
	p.skip = map[string]bool{}
	for _, hd := range p.SetHeaders {
		p.skip[strings.ToLower(hd.name)] = true
	}
	for _, d := range defaults {
		if !p.skip[strings.ToLower(d.name)] {
			p.headers = append(p.headers, d)
			p.skip[strings.ToLower(d.name)] = true
		}
	}
	p.hide = map[string]bool{}
	for _, name := range proxyHiddenHeaders {
		p.hide[strings.ToLower(name)] = true
	}
	for _, name := range p.HideHeaders {
		p.hide[strings.ToLower(name)] = true
	}
	for _, name := range p.PassHeaders {
		delete(p.hide, strings.ToLower(name))
	}
}
