package server

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"edge/internal/conf"
	"edge/internal/errlog"
	"edge/parser"
	"edge/upstream"
)

// The upstream {} block's directives, read into an upstream.Conf as
// nginx's upstream modules read them (ngx_http_upstream_server and the
// balancers' handlers), and the groups of peers a Runtime proxies to:
// the upstream blocks, and the implicit one-server upstream of a
// proxy_pass naming an address. A group's peer state (failures,
// connections, the keep-alive cache) passes from a Runtime to the next
// while the group's servers stay the same.

// UpstreamCommands are the directives of the upstream block and its
// balancers, and the resolver.
var UpstreamCommands = []conf.Command{
	{Name: "resolver", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.OneMore, Module: "ngx_http_core_module", Set: setResolver},
	{Name: "resolver_timeout", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc | conf.Take1, Module: "ngx_http_core_module", Set: conf.MsecSlot(func(s *conf.Scope) *conf.Setting[time.Duration] { return &locOf(s).ResolverTimeout })},
	{Name: "resolver", Type: conf.HTTPUps | conf.OneMore, Module: "ngx_http_upstream_module", Since: "1.27.3", Set: setResolver},
	{Name: "resolver_timeout", Type: conf.HTTPUps | conf.Take1, Module: "ngx_http_upstream_module", Since: "1.27.3", Set: setUpstreamResolverTimeout},
	{Name: "server", Type: conf.HTTPUps | conf.OneMore, Module: "ngx_http_upstream_module", Set: setUpstreamServer},
	{Name: "hash", Type: conf.HTTPUps | conf.Take12, Module: "ngx_http_upstream_hash_module", Set: setUpstreamHash},
	{Name: "ip_hash", Type: conf.HTTPUps | conf.NoArgs, Module: "ngx_http_upstream_ip_hash_module", Set: setUpstreamMethod},
	{Name: "keepalive", Once: true, Type: conf.HTTPUps | conf.Take1, Module: "ngx_http_upstream_keepalive_module", Set: setUpstreamKeepalive},
	{Name: "keepalive_time", Once: true, Type: conf.HTTPUps | conf.Take1, Module: "ngx_http_upstream_keepalive_module", Set: setUpstreamKeepaliveTime},
	{Name: "keepalive_timeout", Once: true, Type: conf.HTTPUps | conf.Take1, Module: "ngx_http_upstream_keepalive_module", Set: setUpstreamKeepaliveTime},
	{Name: "keepalive_requests", Once: true, Type: conf.HTTPUps | conf.Take1, Module: "ngx_http_upstream_keepalive_module", Set: setUpstreamKeepaliveRequests},
	{Name: "least_conn", Type: conf.HTTPUps | conf.NoArgs, Module: "ngx_http_upstream_least_conn_module", Set: setUpstreamMethod},
	{Name: "random", Type: conf.HTTPUps | conf.NoArgs | conf.Take12, Module: "ngx_http_upstream_random_module", Set: setUpstreamRandom},
}

// upsOf is the upstream block being read.
func upsOf(s *conf.Scope) *upstream.Conf { return lv(s).ups }

func setUpstreamServer(s *conf.Scope, d *parser.Directive) error {
	args := make([]string, len(d.Args))
	for i, a := range d.Args {
		args[i] = a.Value
	}
	u := upsOf(s)
	srv, err := u.ParseServer(args)
	if err != nil {
		return parser.Errorf(d.End, "%s", err.Error())
	}
	srv.Pos = d.End
	u.Servers = append(u.Servers, srv)
	return nil
}

func setUpstreamHash(s *conf.Scope, d *parser.Directive) error {
	u := upsOf(s)
	if len(d.Args) == 2 {
		if d.Args[1].Value != "consistent" {
			return parser.Errorf(d.End, `invalid parameter "%s"`, d.Args[1].Value)
		}
		u.Consistent = true
	}
	// The key's variables must exist, which nginx checks at the end.
	if _, err := lv(s).http.compileTemplate(d.Args[0].Value, d.End); err != nil {
		return err
	}
	u.Key = d.Args[0].Value
	u.SetMethod("hash")
	return nil
}

// setUpstreamMethod is ip_hash and least_conn.
func setUpstreamMethod(s *conf.Scope, d *parser.Directive) error {
	upsOf(s).SetMethod(d.Name)
	return nil
}

func setUpstreamRandom(s *conf.Scope, d *parser.Directive) error {
	u := upsOf(s)
	for i, a := range d.Args {
		switch {
		case i == 0 && a.Value == "two":
			u.Two = true
		case i == 1 && a.Value == "least_conn":
			u.TwoMethod = a.Value
		default:
			return parser.Errorf(d.End, `invalid parameter "%s"`, a.Value)
		}
	}
	u.SetMethod("random")
	return nil
}

// setResolver is the resolver directive, in http, server, location or
// upstream.
func setResolver(s *conf.Scope, d *parser.Directive) error {
	args := make([]string, len(d.Args))
	for i, a := range d.Args {
		args[i] = a.Value
	}
	r, err := upstream.ParseResolver(args)
	if err != nil {
		return parser.Errorf(d.End, "%s", err.Error())
	}
	if u := lv(s).ups; u != nil && s.Context&conf.HTTPUps != 0 {
		if u.Resolver != nil {
			return conf.ErrDuplicate
		}
		u.Resolver = r
		return nil
	}
	return locOf(s).Resolver.Put(r, d)
}

func setUpstreamResolverTimeout(s *conf.Scope, d *parser.Directive) error {
	v, err := conf.ParseTime(d.Args[0].Value, false)
	if err != nil {
		return conf.Tail("invalid value")
	}
	upsOf(s).ResolverTimeout = v
	return nil
}

func setUpstreamKeepaliveTime(s *conf.Scope, d *parser.Directive) error {
	v, err := conf.ParseTime(d.Args[0].Value, false)
	if err != nil {
		return conf.Tail("invalid value")
	}
	if d.Name == "keepalive_time" {
		upsOf(s).KeepaliveTime = v
	} else {
		upsOf(s).KeepaliveTimeout = v
	}
	return nil
}

func setUpstreamKeepaliveRequests(s *conf.Scope, d *parser.Directive) error {
	n, err := conf.ParseNumber(d.Args[0].Value)
	if err != nil {
		return conf.Tail("invalid number")
	}
	upsOf(s).KeepaliveRequests = int(n)
	return nil
}

func setUpstreamKeepalive(s *conf.Scope, d *parser.Directive) error {
	n, err := strconv.Atoi(d.Args[0].Value)
	if err != nil || n <= 0 || d.Args[0].Value[0] < '0' || d.Args[0].Value[0] > '9' {
		return parser.Errorf(d.End, `invalid value "%s" in "%s" directive`, d.Args[0].Value, d.Name)
	}
	upsOf(s).Keepalive = n
	return nil
}

// checkUpstreams is what ngx_http_upstream_init_round_robin checks once
// the http block is read: an upstream needs a server that is not a
// backup.
func (h *HTTPConf) checkUpstreams() error {
	for _, u := range h.Upstreams {
		primary := false
		for _, srv := range u.Servers {
			primary = primary || !srv.Backup
		}
		if !primary {
			return &parser.Error{Pos: u.Pos, Msg: `no servers in upstream "` + u.Name + `"`}
		}
	}
	return nil
}

// group is an upstream a Runtime proxies to.
type group struct {
	name string
	conf *upstream.Conf
	// resolver looks the group's host names up (nil: the system).
	resolver *upstream.Resolver
	// key is hash's key compiled; ring its consistent points.
	key   *template
	ring  *upstream.Ring
	state *groupState
}

// groupState is what outlives a Runtime: the peers with their passive
// health, and the idle connections.
type groupState struct {
	sig   string // the servers and method it was made for
	peers *upstream.Peers
	pool  *upstream.Pool
	// owner is the last Runtime that took it; the pool closes when
	// that one ends.
	owner atomic.Pointer[Runtime]
}

// signature says which upstream blocks are the same for their state.
func signature(u *upstream.Conf) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%d|%v|%d|%d|%d", u.Name, u.Method, u.Keepalive, u.Two,
		u.KeepaliveTimeout, u.KeepaliveRequests, u.KeepaliveTime)
	for _, s := range u.Servers {
		fmt.Fprintf(&b, "|%s %s %d %d %v %d %v %v", s.Network, s.Address, s.Weight, s.MaxFails, s.FailTimeout, s.MaxConns, s.Backup, s.Down)
	}
	return b.String()
}

// compileGroups makes the groups of h's upstream blocks and of its
// proxy_pass addresses, taking over prev's state where it fits.
func (rt *Runtime) compileGroups(h *HTTPConf, prev *Runtime) error {
	rt.groups = map[string]*group{}
	add := func(u *upstream.Conf) (*group, error) {
		g := &group{name: u.Name, conf: u, resolver: h.Loc.Resolver.Value}
		if u.Resolver != nil {
			g.resolver = u.Resolver
			if u.ResolverTimeout > 0 {
				u.Resolver.Timeout = u.ResolverTimeout
			}
		}
		if u.Method == "hash" {
			t, err := h.compileTemplate(u.Key, u.Pos)
			if err != nil {
				return nil, err
			}
			g.key = t
		}
		sig := signature(u)
		if prev != nil {
			if old := prev.groups[strings.ToLower(u.Name)]; old != nil && old.state.sig == sig {
				g.state = old.state
			}
		}
		if g.state == nil {
			g.state = &groupState{sig: sig, peers: u.Peers(), pool: u.NewPool()}
		}
		if u.Consistent {
			g.ring = upstream.NewRing(g.state.peers)
		}
		rt.groups[strings.ToLower(u.Name)] = g
		return g, nil
	}
	for _, u := range h.Upstreams {
		if _, err := add(u); err != nil {
			return err
		}
	}
	for _, pp := range h.proxyPasses {
		if pp.Vars != nil {
			continue
		}
		if g := rt.groups[strings.ToLower(pp.Host)]; g != nil && g.conf.Pos != (parser.Pos{}) {
			pp.group = g
			continue
		}
		// An address: nginx's implicit upstream of one server (a name
		// is resolved at each connection, see docs/differences.md).
		addr := pp.Host
		if pp.Port != "" {
			addr += ":" + pp.Port
		} else if !strings.HasPrefix(pp.Host, "unix:") {
			addr += ":" + pp.defaultPort()
		}
		if g := rt.groups[strings.ToLower(addr)]; g != nil {
			pp.group = g
			continue
		}
		u := upstream.NewConf(addr, parser.Pos{})
		srv, err := u.ParseServer([]string{addr})
		if err != nil {
			return parser.Errorf(pp.Pos, "%s", err.Error())
		}
		srv.Pos = pp.Pos
		u.Servers = []*upstream.Server{srv}
		g, err := add(u)
		if err != nil {
			return err
		}
		pp.group = g
	}
	return nil
}

// adoptGroups makes rt the owner of its groups' state, once it is in
// force.
func (rt *Runtime) adoptGroups() {
	for _, g := range rt.groups {
		g.state.owner.Store(rt)
	}
}

// closeGroups closes the idle connections of the groups no later
// Runtime took over.
func (rt *Runtime) closeGroups() {
	for _, g := range rt.groups {
		if g.state.pool != nil && g.state.owner.Load() == rt {
			g.state.pool.Close()
		}
	}
}

// warnUnresolved logs, once a configuration is in force, each server
// whose host name does not resolve: nginx refuses to start on it; edge
// starts, answers 502 for it, and resolves again at each connection.
func (rt *Runtime) warnUnresolved(ctx context.Context) {
	defer rt.checking.Done()
	seen := map[string]bool{}
	for _, g := range rt.groups {
		for _, srv := range g.conf.Servers {
			host := srv.Host()
			if host == "" || seen[host+srv.Pos.String()] {
				continue
			}
			seen[host+srv.Pos.String()] = true
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := upstream.Resolvable(lctx, host, g.resolver)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				for _, l := range rt.mainLog {
					l.Log(errlog.Warn, `host not found in upstream "%s" in %s (%v); requests to it answer 502 until it resolves`, srv.Addr, srv.Pos, err)
				}
			}
		}
	}
}
