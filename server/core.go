package server

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"os/user"
	"runtime"
	"strconv"
	"strings"

	"edge/internal/conf"
	"edge/parser"
)

// level is the model of an http, server, location, if or limit_except
// block: nginx gives every level a location configuration, so settings
// written higher up can be inherited.
type level struct {
	main *MainConf
	http *HTTPConf
	srv  *ServerConf   // nil at http level
	loc  *LocationConf // this block's location-level settings
	// in is the location this block sits in; nil at server and http level.
	in *LocationConf
}

func lv(s *conf.Scope) *level                           { return s.Conf.(*level) }
func locOf(s *conf.Scope) *LocationConf                 { return lv(s).loc }
func defaultTypeOf(s *conf.Scope) *conf.Setting[string] { return &locOf(s).DefaultType }

const httpAny = conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc

// CoreCommands are the directives of nginx's core, events and http core
// modules that edge implements.
var CoreCommands = []conf.Command{
	{Name: "worker_processes", Once: true, Type: conf.Main | conf.Take1, Module: "ngx_core_module", Set: setWorkerProcesses},
	{Name: "events", Once: true, Type: conf.Main | conf.Block | conf.NoArgs, Module: "ngx_events_module", Open: openEvents},
	{Name: "worker_connections", Once: true, Type: conf.Events | conf.Take1, Module: "ngx_event_core_module", Status: conf.Tuning, Set: setWorkerConnections},
	{Name: "http", Once: true, Type: conf.Main | conf.Block | conf.NoArgs, Module: "ngx_http_module", Open: openHTTP},
	{Name: "server", Type: conf.HTTPMain | conf.Block | conf.NoArgs, Module: "ngx_http_core_module", Open: openServer},
	{Name: "listen", Type: conf.HTTPSrv | conf.OneMore, Module: "ngx_http_core_module", Set: setListen},
	{Name: "server_name", Type: conf.HTTPSrv | conf.OneMore, Module: "ngx_http_core_module", Set: setServerName},
	{Name: "location", Type: conf.HTTPSrv | conf.HTTPLoc | conf.Block | conf.Take12, Module: "ngx_http_core_module", Open: openLocation},
	{Name: "default_type", Once: true, Type: httpAny | conf.HTTPLif | conf.Take1, Module: "ngx_http_core_module", Set: conf.StrSlot(defaultTypeOf)},
	{Name: "return", Type: conf.HTTPSrv | conf.HTTPSif | conf.HTTPLoc | conf.HTTPLif | conf.Take12, Module: "ngx_http_rewrite_module", Set: setReturn},
	// Pending blocks still need their context so that their contents are
	// checked where nginx checks them.
	{Name: "if", Type: conf.HTTPSrv | conf.HTTPLoc | conf.Block | conf.OneMore, Module: "ngx_http_rewrite_module", Status: conf.Pending, Planned: "#4", Open: openIf},
	{Name: "limit_except", Once: true, Type: conf.HTTPLoc | conf.Block | conf.OneMore, Module: "ngx_http_core_module", Status: conf.Pending, Planned: "#4", Open: openLimitExcept},
	{Name: "keepalive_timeout", Once: true, Type: httpAny | conf.Take12, Module: "ngx_http_core_module", Status: conf.Pending, Planned: "#4", Set: setKeepaliveTimeout},
	{Name: "user", Once: true, Type: conf.Main | conf.Take12, Module: "ngx_core_module", Status: conf.Pending, Planned: "#5", Set: setUser},
	{Name: "upstream", Type: conf.HTTPMain | conf.Block | conf.Take1, Module: "ngx_http_upstream_module", Status: conf.Pending, Planned: "#6", Open: openUpstream},
}

func setWorkerProcesses(s *conf.Scope, d *parser.Directive) error {
	m := mainOf(s)
	v := d.Args[0].Value
	n := 0
	if v != "auto" {
		x, err := conf.ParseNumber(v)
		if err != nil {
			return conf.Tail("invalid value")
		}
		n = int(x)
	}
	return m.WorkerProcesses.Put(n, d)
}

// Procs is the number of OS threads worker_processes asks for.
func (m *MainConf) Procs() int {
	if m.WorkerProcesses.Value == 0 {
		return runtime.NumCPU()
	}
	return m.WorkerProcesses.Value
}

func setWorkerConnections(s *conf.Scope, d *parser.Directive) error {
	if _, err := conf.ParseNumber(d.Args[0].Value); err != nil {
		return parser.Errorf(d.End, `invalid number "%s"`, d.Args[0].Value)
	}
	return nil
}

func openEvents(s *conf.Scope, d *parser.Directive) (*conf.Scope, error) {
	m := mainOf(s)
	m.Events = &EventsConf{Pos: d.End}
	return s.Child(conf.Events, d, m.Events), nil
}

func openHTTP(s *conf.Scope, d *parser.Directive) (*conf.Scope, error) {
	m := mainOf(s)
	m.HTTP = &HTTPConf{Pos: d.End, Loc: newLocationConf(matchNone)}
	return s.Child(conf.HTTPMain, d, &level{main: m, http: m.HTTP, loc: m.HTTP.Loc}), nil
}

func openServer(s *conf.Scope, d *parser.Directive) (*conf.Scope, error) {
	l := lv(s)
	srv := &ServerConf{Pos: d.End, Loc: newLocationConf(matchNone)}
	l.http.Servers = append(l.http.Servers, srv)
	return s.Child(conf.HTTPSrv, d, &level{main: l.main, http: l.http, srv: srv, loc: srv.Loc}), nil
}

// setListen follows ngx_http_core_listen and ngx_parse_url.
func setListen(s *conf.Scope, d *parser.Directive) error {
	srv := lv(s).srv
	v := d.Args[0].Value
	ls := Listen{Text: v, Pos: d.End}
	if path, ok := strings.CutPrefix(v, "unix:"); ok {
		if path == "" {
			return parser.Errorf(d.End, `no path in the unix domain socket in "%s" of the "listen" directive`, v)
		}
		ls.Unix = path
	} else {
		ap, err := parseListenAddr(v)
		if err != "" {
			return parser.Errorf(d.End, `%s in "%s" of the "listen" directive`, err, v)
		}
		ls.Addr = ap
	}
	for _, a := range d.Args[1:] {
		p := a.Value
		switch {
		case p == "default_server" || p == "default":
			ls.DefaultServer = true
		case p == "bind" || p == "deferred" || p == "reuseport" || p == "proxy_protocol" ||
			p == "ssl" || p == "http2" || p == "quic" ||
			strings.HasPrefix(p, "backlog=") || strings.HasPrefix(p, "rcvbuf=") ||
			strings.HasPrefix(p, "sndbuf=") || strings.HasPrefix(p, "ipv6only=") ||
			strings.HasPrefix(p, "so_keepalive=") || strings.HasPrefix(p, "fastopen=") ||
			strings.HasPrefix(p, "setfib=") || strings.HasPrefix(p, "accept_filter="):
			// Parameters nginx accepts; the ones with behaviour (ssl, http2,
			// proxy_protocol) are refused when serving, see Pending.
		default:
			return parser.Errorf(d.End, `invalid parameter "%s"`, p)
		}
	}
	srv.Listens = append(srv.Listens, ls)
	return nil
}

// parseListenAddr reads "port", "addr", "addr:port", "*:port", "[v6]:port"
// and returns the error text nginx's ngx_parse_url gives.
func parseListenAddr(v string) (netip.AddrPort, string) {
	host, port := v, "80"
	allDigits := func(x string) bool {
		if x == "" {
			return false
		}
		for i := 0; i < len(x); i++ {
			if x[i] < '0' || x[i] > '9' {
				return false
			}
		}
		return true
	}
	switch {
	case strings.HasPrefix(v, "["):
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return netip.AddrPort{}, "invalid host"
		}
		host = v[1:end]
		rest := v[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return netip.AddrPort{}, "invalid host"
			}
			port = rest[1:]
			if !allDigits(port) {
				return netip.AddrPort{}, "invalid port"
			}
		}
	case allDigits(v):
		host, port = "*", v
	default:
		if i := strings.LastIndexByte(v, ':'); i >= 0 {
			host, port = v[:i], v[i+1:]
			if !allDigits(port) {
				return netip.AddrPort{}, "invalid port"
			}
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return netip.AddrPort{}, "invalid port"
	}
	if host == "*" || host == "" {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(n)), ""
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		ips, lerr := net.LookupIP(host)
		if lerr != nil || len(ips) == 0 {
			return netip.AddrPort{}, "host not found"
		}
		addr, _ = netip.AddrFromSlice(ips[0])
		addr = addr.Unmap()
	}
	return netip.AddrPortFrom(addr, uint16(n)), ""
}

func setServerName(s *conf.Scope, d *parser.Directive) error {
	srv := lv(s).srv
	for _, a := range d.Args {
		name := a.Value
		if strings.HasPrefix(name, "~") {
			if len(name) == 1 {
				return parser.Errorf(d.End, `empty regex in server name "%s"`, name)
			}
			re, err := compileRegex(name[1:], false)
			if err != nil {
				return parser.Errorf(d.End, `%s in "%s"`, err, name[1:])
			}
			srv.Names = append(srv.Names, ServerName{Name: name[1:], Regex: re})
			continue
		}
		// The one check ngx_http_core_server_name makes; other odd names
		// are exact names to nginx.
		if strings.HasPrefix(name, "*") && (len(name) < 3 || name[1] != '.') {
			return parser.Errorf(d.End, `server name "%s" is invalid`, name)
		}
		srv.Names = append(srv.Names, ServerName{Name: strings.ToLower(name)})
	}
	return nil
}

// openLocation follows ngx_http_core_location.
func openLocation(s *conf.Scope, d *parser.Directive) (*conf.Scope, error) {
	l := lv(s)
	loc := newLocationConf(MatchPrefix)
	loc.Pos = d.End
	var name string
	if len(d.Args) == 2 {
		mod := d.Args[0].Value
		name = d.Args[1].Value
		switch mod {
		case "=":
			loc.Match = MatchExact
		case "^~":
			loc.Match = MatchNoRegex
		case "~":
			loc.Match = MatchRegex
		case "~*":
			loc.Match = MatchRegexI
		default:
			return nil, parser.Errorf(d.End, `invalid location modifier "%s"`, mod)
		}
	} else {
		name = d.Args[0].Value
		switch {
		case strings.HasPrefix(name, "="):
			loc.Match, name = MatchExact, name[1:]
		case strings.HasPrefix(name, "~*"):
			loc.Match, name = MatchRegexI, name[2:]
		case strings.HasPrefix(name, "~"):
			loc.Match, name = MatchRegex, name[1:]
		case strings.HasPrefix(name, "^~"):
			loc.Match, name = MatchNoRegex, name[2:]
		case strings.HasPrefix(name, "@"):
			loc.Match = MatchNamed
		}
	}
	loc.Path = name
	if loc.Match == MatchRegex || loc.Match == MatchRegexI {
		re, err := compileRegex(name, loc.Match == MatchRegexI)
		if err != nil {
			return nil, parser.Errorf(d.End, `%s in "%s"`, err, name)
		}
		loc.Regex = re
	}
	if p := l.in; p != nil {
		switch {
		case p.Match == MatchExact:
			return nil, parser.Errorf(d.End, `location "%s" cannot be inside the exact location "%s"`, name, p.Path)
		case p.Match == MatchNamed:
			return nil, parser.Errorf(d.End, `location "%s" cannot be inside the named location "%s"`, name, p.Path)
		case loc.Match == MatchNamed:
			return nil, parser.Errorf(d.End, `named location "%s" can be on the server level only`, name)
		case loc.Regex == nil && p.Regex == nil && !strings.HasPrefix(name, p.Path):
			return nil, parser.Errorf(d.End, `location "%s" is outside location "%s"`, name, p.Path)
		}
		p.Locations = append(p.Locations, loc)
	} else {
		l.srv.Locations = append(l.srv.Locations, loc)
	}
	return s.Child(conf.HTTPLoc, d, &level{main: l.main, http: l.http, srv: l.srv, loc: loc, in: loc}), nil
}

func setReturn(s *conf.Scope, d *parser.Directive) error {
	loc := locOf(s)
	if loc.Return.IsSet {
		// nginx allows several returns (the first wins); edge keeps the first.
		return nil
	}
	v := d.Args[0].Value
	r := Return{}
	code, err := strconv.Atoi(v)
	switch {
	case err == nil && len(d.Args) <= 2:
		if code < 0 || code > 999 {
			return parser.Errorf(d.End, `invalid return code "%s"`, v)
		}
		r.Code = code
		if len(d.Args) == 2 {
			r.Text, r.HasText = d.Args[1].Value, true
		}
	case len(d.Args) == 1 && (strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "$scheme")):
		r.Code, r.Text, r.HasText = 302, v, true
	default:
		return parser.Errorf(d.End, `invalid return code "%s"`, v)
	}
	return loc.Return.Put(r, d)
}

func openIf(s *conf.Scope, d *parser.Directive) (*conf.Scope, error) {
	l := lv(s)
	ctx := conf.HTTPLif
	if s.Context == conf.HTTPSrv {
		ctx = conf.HTTPSif
	}
	return s.Child(ctx, d, &level{main: l.main, http: l.http, srv: l.srv, loc: newLocationConf(matchNone), in: l.in}), nil
}

func openLimitExcept(s *conf.Scope, d *parser.Directive) (*conf.Scope, error) {
	l := lv(s)
	return s.Child(conf.HTTPLmt, d, &level{main: l.main, http: l.http, srv: l.srv, loc: newLocationConf(matchNone), in: l.in}), nil
}

// openUpstream makes the checks of ngx_http_upstream on a block whose
// model arrives with issue #6: a unique name and at least one server.
func openUpstream(s *conf.Scope, d *parser.Directive) (*conf.Scope, error) {
	l := lv(s)
	name := d.Args[0].Value
	if l.http.upstreams[name] {
		return nil, parser.Errorf(d.End, `duplicate upstream "%s"`, name)
	}
	if l.http.upstreams == nil {
		l.http.upstreams = map[string]bool{}
	}
	l.http.upstreams[name] = true
	child := s.Child(conf.HTTPUps, d, l)
	child.Done = func() error {
		for _, c := range d.Block {
			if c.Name == "server" {
				return nil
			}
		}
		return errors.New("no servers are inside upstream")
	}
	return child, nil
}

// setUser follows ngx_set_user: the user and group must exist when edge
// runs as root (otherwise nginx ignores the directive, and so does edge).
func setUser(s *conf.Scope, d *parser.Directive) error {
	m := mainOf(s)
	name := d.Args[0].Value
	group := name
	if len(d.Args) == 2 {
		group = d.Args[1].Value
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup(name); err != nil {
			return parser.Errorf(d.End, `getpwnam("%s") failed`, name)
		}
		if _, err := user.LookupGroup(group); err != nil {
			return parser.Errorf(d.End, `getgrnam("%s") failed`, group)
		}
	}
	m.Group = group
	return m.User.Put(name, d)
}

// setKeepaliveTimeout checks "timeout [header_timeout]" as
// ngx_http_core_keepalive does.
func setKeepaliveTimeout(s *conf.Scope, d *parser.Directive) error {
	if _, err := conf.ParseTime(d.Args[0].Value, false); err != nil {
		return conf.Tail("invalid value")
	}
	if len(d.Args) == 2 {
		if _, err := conf.ParseTime(d.Args[1].Value, true); err != nil {
			return conf.Tail("invalid value")
		}
	}
	return nil
}
