package server

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"edge/internal/conf"
	"edge/parser"
	"edge/upstream"
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
	// ups is the upstream block being read.
	ups *upstream.Conf
}

func lv(s *conf.Scope) *level                           { return s.Conf.(*level) }
func locOf(s *conf.Scope) *LocationConf                 { return lv(s).loc }
func defaultTypeOf(s *conf.Scope) *conf.Setting[string] { return &locOf(s).DefaultType }

const httpAny = conf.HTTPMain | conf.HTTPSrv | conf.HTTPLoc

// CoreCommands are the directives of nginx's core, events and http core
// modules that edge implements.
var CoreCommands = []conf.Command{
	{Name: "client_body_buffer_size", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_core_module", Set: conf.SizeSlot(func(s *conf.Scope) *conf.Setting[int64] { return &locOf(s).ClientBodyBufferSize })},
	{Name: "worker_processes", Once: true, Type: conf.Main | conf.Take1, Module: "ngx_core_module", Set: setWorkerProcesses},
	{Name: "events", Once: true, Type: conf.Main | conf.Block | conf.NoArgs, Module: "ngx_events_module", Open: openEvents},
	{Name: "worker_connections", Once: true, Type: conf.Events | conf.Take1, Module: "ngx_event_core_module", Status: conf.Tuning, Set: setWorkerConnections},
	{Name: "http", Once: true, Type: conf.Main | conf.Block | conf.NoArgs, Module: "ngx_http_module", Open: openHTTP},
	{Name: "server", Type: conf.HTTPMain | conf.Block | conf.NoArgs, Module: "ngx_http_core_module", Open: openServer},
	{Name: "listen", Type: conf.HTTPSrv | conf.OneMore, Module: "ngx_http_core_module", Set: setListen},
	{Name: "server_name", Type: conf.HTTPSrv | conf.OneMore, Module: "ngx_http_core_module", Set: setServerName},
	{Name: "location", Type: conf.HTTPSrv | conf.HTTPLoc | conf.Block | conf.Take12, Module: "ngx_http_core_module", Open: openLocation},
	{Name: "default_type", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_core_module", Set: conf.StrSlot(defaultTypeOf)},
	{Name: "types", Type: httpAny | conf.Block | conf.NoArgs | conf.Entries, Module: "ngx_http_core_module", Set: setTypes},
	{Name: "return", Type: conf.HTTPSrv | conf.HTTPSif | conf.HTTPLoc | conf.HTTPLif | conf.Take12, Module: "ngx_http_rewrite_module", Set: setReturn},
	{Name: "set", Type: conf.HTTPSrv | conf.HTTPSif | conf.HTTPLoc | conf.HTTPLif | conf.Take2, Module: "ngx_http_rewrite_module", Set: setSet},
	{Name: "map", Type: conf.HTTPMain | conf.Block | conf.Entries | conf.Take2, Module: "ngx_http_map_module", Set: setMap},
	// Pending blocks still need their context so that their contents are
	// checked where nginx checks them.
	{Name: "if", Type: conf.HTTPSrv | conf.HTTPLoc | conf.Block | conf.OneMore, Module: "ngx_http_rewrite_module", Open: openIf},
	{Name: "rewrite_log", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPSif | conf.HTTPLoc | conf.HTTPLif | conf.Flag, Module: "ngx_http_rewrite_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).RewriteLog })},
	{Name: "uninitialized_variable_warn", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.HTTPSif | conf.HTTPLoc | conf.HTTPLif | conf.Flag, Module: "ngx_http_rewrite_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).UninitializedVariableWarn })},
	{Name: "rewrite", Type: conf.HTTPSrv | conf.HTTPSif | conf.HTTPLoc | conf.HTTPLif | conf.Take23, Module: "ngx_http_rewrite_module", Set: setRewrite},
	{Name: "break", Type: conf.HTTPSrv | conf.HTTPSif | conf.HTTPLoc | conf.HTTPLif | conf.NoArgs, Module: "ngx_http_rewrite_module", Set: setBreak},
	{Name: "limit_except", Once: true, Type: conf.HTTPLoc | conf.Block | conf.OneMore, Module: "ngx_http_core_module", Open: openLimitExcept},
	{Name: "keepalive_timeout", Once: true, Type: httpAny | conf.Take12, Module: "ngx_http_core_module", Set: setKeepaliveTimeout},
	{Name: "keepalive_requests", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_core_module", Set: setKeepaliveRequests},
	{Name: "keepalive_time", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_core_module", Set: setKeepaliveTime},
	{Name: "server_tokens", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_core_module", Set: conf.EnumSlot(func(s *conf.Scope) *conf.Setting[string] { return &locOf(s).ServerTokens }, "off", "on", "build")},
	{Name: "client_max_body_size", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_core_module", Set: conf.OffsetSlot(func(s *conf.Scope) *conf.Setting[int64] { return &locOf(s).ClientMaxBodySize })},
	{Name: "client_header_timeout", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.Take1, Module: "ngx_http_core_module", Set: conf.MsecSlot(func(s *conf.Scope) *conf.Setting[time.Duration] { return &locOf(s).ClientHeaderTimeout })},
	{Name: "client_header_buffer_size", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.Take1, Module: "ngx_http_core_module", Set: conf.SizeSlot(func(s *conf.Scope) *conf.Setting[int64] { return &locOf(s).ClientHeaderBufferSize })},
	{Name: "large_client_header_buffers", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.Take2, Module: "ngx_http_core_module", Set: conf.BufsSlot(func(s *conf.Scope) *conf.Setting[conf.Bufs] { return &locOf(s).LargeClientHeaderBuffers })},
	{Name: "ignore_invalid_headers", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.Flag, Module: "ngx_http_core_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).IgnoreInvalidHeaders })},
	{Name: "merge_slashes", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.Flag, Module: "ngx_http_core_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).MergeSlashes })},
	{Name: "underscores_in_headers", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.Flag, Module: "ngx_http_core_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).UnderscoresInHeaders })},
	{Name: "client_body_timeout", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_core_module", Set: conf.MsecSlot(func(s *conf.Scope) *conf.Setting[time.Duration] { return &locOf(s).ClientBodyTimeout })},
	{Name: "send_timeout", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_core_module", Set: conf.MsecSlot(func(s *conf.Scope) *conf.Setting[time.Duration] { return &locOf(s).SendTimeout })},
	{Name: "absolute_redirect", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_core_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).AbsoluteRedirect })},
	{Name: "server_name_in_redirect", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_core_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).ServerNameInRedirect })},
	{Name: "port_in_redirect", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_core_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).PortInRedirect })},
	{Name: "log_not_found", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_core_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).LogNotFound })},
	{Name: "etag", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_core_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).ETag })},
	{Name: "if_modified_since", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_core_module", Set: conf.EnumSlot(func(s *conf.Scope) *conf.Setting[string] { return &locOf(s).IfModifiedSince }, "off", "exact", "before")},
	{Name: "max_ranges", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_core_module", Set: setMaxRanges},
	{Name: "chunked_transfer_encoding", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_core_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).ChunkedTransferEncoding })},
	{Name: "disable_symlinks", Type: httpAny | conf.Take12, Module: "ngx_http_core_module", Set: setDisableSymlinks},
	{Name: "keepalive_disable", Type: httpAny | conf.Take12, Module: "ngx_http_core_module", Set: setKeepaliveDisable},
	{Name: "msie_refresh", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_core_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).MsieRefresh })},
	{Name: "satisfy", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_core_module", Set: setSatisfy},
	{Name: "auth_delay", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_core_module", Set: conf.MsecSlot(func(s *conf.Scope) *conf.Setting[time.Duration] { return &locOf(s).AuthDelay })},
	{Name: "msie_padding", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_core_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).MsiePadding })},
	{Name: "root", Type: httpAny | conf.HTTPLif | conf.Take1, Module: "ngx_http_core_module", Set: setRoot},
	{Name: "alias", Type: conf.HTTPLoc | conf.Take1, Module: "ngx_http_core_module", Set: setRoot},
	{Name: "daemon", Once: true, Type: conf.Main | conf.Flag, Module: "ngx_core_module", Set: setDaemon},
	{Name: "pid", Once: true, Type: conf.Main | conf.Take1, Module: "ngx_core_module", Set: setPid},
	{Name: "worker_shutdown_timeout", Once: true, Type: conf.Main | conf.Take1, Module: "ngx_core_module", Set: conf.MsecSlot(func(s *conf.Scope) *conf.Setting[time.Duration] { return &mainOf(s).ShutdownTimeout })},
	{Name: "watch_config", Once: true, Type: conf.Main | conf.Flag, Module: "ngx_core_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &mainOf(s).WatchConfig })},
	{Name: "user", Once: true, Type: conf.Main | conf.Take12, Module: "ngx_core_module", Set: setUser},
	{Name: "upstream", Type: conf.HTTPMain | conf.Block | conf.Take1, Module: "ngx_http_upstream_module", Open: openUpstream},
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
	h := &HTTPConf{Pos: d.End, Loc: newLocationConf(matchNone)}
	m.HTTP = h
	child := s.Child(conf.HTTPMain, d, &level{main: m, http: h, loc: h.Loc})
	child.Done = func() error { return h.finish(m.ConfPrefix) }
	return child, nil
}

// finish is what ngx_http_block does once http {} is read, in its order:
// merge every server and location with the levels above (a server without
// listen gets nginx's default address), load the certificates
// (ngx_http_ssl_merge_srv_conf), then find duplicate locations
// (ngx_http_init_locations).
func (h *HTTPConf) finish(confPrefix string) error {
	if !h.Loc.accessLogSet {
		combined, err := h.format("combined", parser.Pos{})
		if err != nil {
			return err
		}
		h.Loc.accessLogs, h.Loc.accessLogSet = []accessLog{{path: "/dev/stdout", format: combined}}, true
	}
	if h.Loc.Types == nil {
		h.Loc.Types = defaultTypes
	}
	if h.Loc.root == nil {
		h.Loc.root = &template{raw: "html", parts: []part{{lit: "html"}}}
	}
	if h.Loc.Index == nil {
		h.Loc.Index = []*template{{raw: "index.html", parts: []part{{lit: "index.html"}}}}
	}
	for _, srv := range h.Servers {
		mergeLocation(srv.Loc, h.Loc)
		for _, loc := range srv.Locations {
			mergeLocation(loc, srv.Loc)
		}
		if len(srv.Listens) == 0 {
			// nginx listens on *:80 as root and *:8000 otherwise.
			port := uint16(8000)
			if os.Geteuid() == 0 {
				port = 80
			}
			ls := Listen{Addr: netip.AddrPortFrom(netip.IPv4Unspecified(), port), Text: "*:" + strconv.Itoa(int(port)), Pos: srv.Pos}
			if err := h.addListen(srv, ls); err != nil {
				return err
			}
		}
	}
	if err := h.checkUpstreams(); err != nil {
		return err
	}
	if err := h.finishProxy(); err != nil {
		return err
	}
	for _, srv := range h.Servers {
		srv.SSL.merge(&h.SSL)
		if err := srv.SSL.check(confPrefix); err != nil {
			return err
		}
	}
	for _, srv := range h.Servers {
		if err := duplicateLocations(srv.Locations); err != nil {
			return err
		}
	}
	if err := h.vars.finish(h.captures); err != nil {
		return &parser.Error{Msg: err.Error()}
	}
	return nil
}

func mergeLocation(loc, parent *LocationConf) {
	loc.DefaultType.Merge(parent.DefaultType, "text/plain")
	loc.Charset.Merge(parent.Charset, charsetValue{name: "off"})
	loc.CharsetTypes.Merge(parent.CharsetTypes, defaultCharsetTypes)
	if loc.Types == nil {
		loc.Types = parent.Types
	}
	if loc.root == nil {
		loc.root, loc.Alias, loc.aliasOf = parent.root, parent.Alias, parent.aliasOf
	}
	if loc.Index == nil {
		loc.Index = parent.Index
	}
	if loc.ErrorPages == nil {
		loc.ErrorPages = parent.ErrorPages
	}
	if loc.Access == nil {
		loc.Access = parent.Access
	}
	if loc.AddHeaders == nil {
		loc.AddHeaders = parent.AddHeaders
	}
	if loc.ErrorLogs == nil {
		loc.ErrorLogs = parent.ErrorLogs
	}
	loc.Expires.Merge(parent.Expires, Expires{})
	loc.RecursiveErrorPages.Merge(parent.RecursiveErrorPages, false)
	loc.ServerTokens.Merge(parent.ServerTokens, "on")
	loc.ClientMaxBodySize.Merge(parent.ClientMaxBodySize, 1<<20)
	loc.ClientBodyBufferSize.Merge(parent.ClientBodyBufferSize, 16<<10)
	loc.Resolver.Merge(parent.Resolver, nil)
	loc.ResolverTimeout.Merge(parent.ResolverTimeout, 30*time.Second)
	if r := loc.Resolver.Value; r != nil && loc.Resolver.IsSet {
		r.Timeout = loc.ResolverTimeout.Value
	}
	loc.Autoindex.merge(&parent.Autoindex)
	loc.Gzip.merge(&parent.Gzip)
	loc.Proxy.merge(&parent.Proxy, loc.proxyPass, loc.Match == matchNone)
	loc.AuthBasic.merge(&parent.AuthBasic)
	mergeAccessLogs(loc, parent)
	loc.Keepalive.Merge(parent.Keepalive, Keepalive{Timeout: 75 * time.Second, Header: -1})
	if h := loc.Keepalive.Value.Header; h >= 0 {
		loc.keepAliveHeader = "timeout=" + strconv.FormatInt(int64(h/time.Second), 10)
	}
	loc.KeepaliveRequests.Merge(parent.KeepaliveRequests, 1000)
	loc.KeepaliveTime.Merge(parent.KeepaliveTime, time.Hour)
	loc.ClientHeaderTimeout.Merge(parent.ClientHeaderTimeout, 60*time.Second)
	loc.ClientHeaderBufferSize.Merge(parent.ClientHeaderBufferSize, 1<<10)
	loc.LargeClientHeaderBuffers.Merge(parent.LargeClientHeaderBuffers, conf.Bufs{Num: 4, Size: 8 << 10})
	loc.IgnoreInvalidHeaders.Merge(parent.IgnoreInvalidHeaders, true)
	loc.MergeSlashes.Merge(parent.MergeSlashes, true)
	loc.UnderscoresInHeaders.Merge(parent.UnderscoresInHeaders, false)
	loc.ClientBodyTimeout.Merge(parent.ClientBodyTimeout, 60*time.Second)
	loc.SendTimeout.Merge(parent.SendTimeout, 60*time.Second)
	loc.MsiePadding.Merge(parent.MsiePadding, true)
	loc.RewriteLog.Merge(parent.RewriteLog, false)
	loc.UninitializedVariableWarn.Merge(parent.UninitializedVariableWarn, true)
	loc.SatisfyAny.Merge(parent.SatisfyAny, false)
	loc.AuthDelay.Merge(parent.AuthDelay, 0)
	loc.MsieRefresh.Merge(parent.MsieRefresh, false)
	loc.KeepaliveDisable.Merge(parent.KeepaliveDisable, keepaliveDisableMSIE6)
	loc.DisableSymlinks.Merge(parent.DisableSymlinks, Symlinks{})
	loc.LogNotFound.Merge(parent.LogNotFound, true)
	loc.ETag.Merge(parent.ETag, true)
	loc.IfModifiedSince.Merge(parent.IfModifiedSince, "exact")
	loc.MaxRanges.Merge(parent.MaxRanges, -1)
	loc.ChunkedTransferEncoding.Merge(parent.ChunkedTransferEncoding, true)
	loc.AbsoluteRedirect.Merge(parent.AbsoluteRedirect, true)
	loc.ServerNameInRedirect.Merge(parent.ServerNameInRedirect, false)
	loc.PortInRedirect.Merge(parent.PortInRedirect, true)
	loc.serverHeader, loc.errorTail = serverTokens(loc.ServerTokens.Value)
	for _, in := range loc.levels() {
		mergeLocation(in, loc)
	}
}

// eachLevel calls fn on every level of the server: its own, its
// locations and, depth first, the levels inside them.
func (srv *ServerConf) eachLevel(fn func(*LocationConf) error) error {
	var visit func(l *LocationConf) error
	visit = func(l *LocationConf) error {
		if err := fn(l); err != nil {
			return err
		}
		for _, in := range l.levels() {
			if err := visit(in); err != nil {
				return err
			}
		}
		return nil
	}
	for _, l := range append([]*LocationConf{srv.Loc}, srv.Locations...) {
		if err := visit(l); err != nil {
			return err
		}
	}
	return nil
}

// levels are the levels written inside a location: its nested locations,
// its if blocks and its limit_except.
func (l *LocationConf) levels() []*LocationConf {
	out := append(append([]*LocationConf{}, l.Locations...), l.ifs...)
	if l.limitExcept != nil {
		out = append(out, l.limitExcept)
	}
	return out
}

// duplicateLocations is the check of ngx_http_join_exact_locations: two
// exact locations, or two prefix ones (with or without ^~), with the same
// URI at one level.
func duplicateLocations(locs []*LocationConf) error {
	seen := map[string]bool{}
	for _, l := range locs {
		key := ""
		switch l.Match {
		case MatchExact:
			key = "=" + l.Path
		case MatchPrefix, MatchNoRegex:
			key = "/" + l.Path
		}
		if key != "" {
			if seen[key] {
				return parser.Errorf(l.Pos, `duplicate location "%s"`, l.Path)
			}
			seen[key] = true
		}
		if err := duplicateLocations(l.Locations); err != nil {
			return err
		}
	}
	return nil
}

func openServer(s *conf.Scope, d *parser.Directive) (*conf.Scope, error) {
	l := lv(s)
	srv := &ServerConf{Pos: d.End, Loc: newLocationConf(matchNone)}
	l.http.Servers = append(l.http.Servers, srv)
	return s.Child(conf.HTTPSrv, d, &level{main: l.main, http: l.http, srv: srv, loc: srv.Loc}), nil
}

// setListen follows ngx_http_core_listen and ngx_parse_url, and adds each
// address at once, as ngx_http_add_listen does, with its checks.
func setListen(s *conf.Scope, d *parser.Directive) error {
	l := lv(s)
	v := d.Args[0].Value
	ls := Listen{Text: v, Pos: d.End}
	addrs := []netip.AddrPort{{}}
	if path, ok := strings.CutPrefix(v, "unix:"); ok {
		if path == "" {
			return parser.Errorf(d.End, `no path in the unix domain socket in "%s" of the "listen" directive`, v)
		}
		ls.Unix = path
	} else {
		var err string
		if addrs, err = parseListenAddr(v); err != "" {
			return parser.Errorf(d.End, `%s in "%s" of the "listen" directive`, err, v)
		}
	}
	for _, a := range d.Args[1:] {
		if err := listenParam(&ls, a.Value); err != "" {
			return parser.Errorf(d.End, "%s", err)
		}
	}
	for _, a := range addrs {
		ls.Addr = a
		if err := l.http.addListen(l.srv, ls); err != nil {
			return err
		}
	}
	return nil
}

// listenParam checks one parameter of listen as nginx 1.22 on Linux does
// and returns nginx's message for a bad one. TLS, HTTP/2, QUIC and the
// PROXY protocol are accepted here and refused when serving until they
// land.
func listenParam(ls *Listen, p string) string {
	key, val, _ := strings.Cut(p, "=")
	switch key {
	case "default_server", "default":
		if p == key {
			ls.DefaultServer = true
			return ""
		}
	case "ssl", "http2", "quic", "proxy_protocol":
		if p == key {
			return ""
		}
	case "bind", "deferred", "reuseport":
		if p == key {
			ls.Options = true
			return ""
		}
	case "accept_filter":
		// FreeBSD's; nginx on Linux says so and goes on.
		return ""
	case "backlog":
		if n, err := conf.ParseNumber(val); err != nil || n == 0 {
			return `invalid backlog "` + p + `"`
		}
	case "rcvbuf", "sndbuf":
		if _, err := conf.ParseSize(val); err != nil {
			return `invalid ` + key + ` "` + p + `"`
		}
	case "fastopen":
		if _, err := conf.ParseNumber(val); err != nil {
			return `invalid fastopen "` + p + `"`
		}
	case "ipv6only":
		if !strings.HasPrefix(val, "o") {
			return `invalid parameter "` + p + `"`
		}
		if val != "on" && val != "off" {
			return `invalid ipv6only flags "` + val + `"`
		}
		ls.DualStack = val == "off"
	case "so_keepalive":
		switch val {
		case "on":
			ls.KeepAlive = SoKeepalive{On: true}
		case "off":
			ls.KeepAlive = SoKeepalive{}
		default:
			k, ok := keepaliveSpec(val)
			if !ok {
				return `invalid so_keepalive value: "` + val + `"`
			}
			ls.KeepAlive = k
		}
	default:
		// setfib= is FreeBSD's: nginx on Linux does not know it either.
		return `invalid parameter "` + p + `"`
	}
	ls.Options = true
	return ""
}

// keepaliveSpec reads so_keepalive's "idle:interval:count", each part
// optional but not all.
func keepaliveSpec(v string) (SoKeepalive, bool) {
	k := SoKeepalive{On: true}
	any := false
	for i, part := range strings.SplitN(v, ":", 3) {
		if part == "" {
			continue
		}
		if i < 2 {
			d, err := conf.ParseTime(part, true)
			if err != nil {
				return k, false
			}
			if i == 0 {
				k.Idle = d
			} else {
				k.Interval = d
			}
			any = any || d != 0
			continue
		}
		n, err := conf.ParseNumber(part)
		if err != nil {
			return k, false
		}
		k.Count = int(n)
		any = any || n != 0
	}
	return k, any
}

// addListen is ngx_http_add_addresses: a server listens on an address
// once, socket options are set once per address, and an address has one
// default server.
func (h *HTTPConf) addListen(srv *ServerConf, ls Listen) error {
	network, address, text := "tcp", ls.Addr.String(), ls.Addr.String()
	if ls.Unix != "" {
		network, address, text = "unix", ls.Unix, "unix:"+ls.Unix
	}
	var a *ListenAddr
	for _, x := range h.Addrs {
		if x.Network == network && x.Address == address {
			a = x
		}
	}
	if a == nil {
		a = &ListenAddr{Network: network, Address: address, Text: text}
		h.Addrs = append(h.Addrs, a)
	}
	for _, s := range a.Servers {
		if s == srv {
			return parser.Errorf(ls.Pos, "a duplicate listen %s", text)
		}
	}
	a.Servers = append(a.Servers, srv)
	if ls.Options {
		if a.optionsSet {
			return parser.Errorf(ls.Pos, "duplicate listen options for %s", text)
		}
		a.optionsSet = true
		a.KeepAlive = ls.KeepAlive
		a.DualStack = ls.DualStack
	}
	switch {
	case ls.DefaultServer && a.defaultSet:
		return parser.Errorf(ls.Pos, "a duplicate default server for %s", text)
	case ls.DefaultServer:
		a.Default, a.defaultSet = srv, true
	case a.Default == nil:
		a.Default = srv
	}
	srv.Listens = append(srv.Listens, ls)
	return nil
}

// parseListenAddr reads "port", "addr", "addr:port", "*:port", "[v6]:port"
// or a host name (every address it resolves to), and returns the error
// text nginx's ngx_parse_url gives.
func parseListenAddr(v string) ([]netip.AddrPort, string) {
	digits := func(x string) bool {
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
	port := func(x string) (uint16, bool) {
		n, err := strconv.Atoi(x)
		return uint16(n), digits(x) && err == nil && n >= 1 && n <= 65535
	}
	if strings.HasPrefix(v, "[") {
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return nil, "invalid host"
		}
		addr, err := netip.ParseAddr(v[1:end])
		if err != nil || !addr.Is6() {
			return nil, "invalid host"
		}
		p := uint16(80)
		if rest := v[end+1:]; rest != "" {
			if rest[0] != ':' {
				return nil, "invalid host"
			}
			var ok bool
			if p, ok = port(rest[1:]); !ok {
				return nil, "invalid port"
			}
		}
		return []netip.AddrPort{netip.AddrPortFrom(addr, p)}, ""
	}
	host, p := v, uint16(80)
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		var ok bool
		if p, ok = port(v[i+1:]); !ok {
			return nil, "invalid port"
		}
		host = v[:i]
		if host == "" {
			return nil, "no host"
		}
	} else if digits(v) {
		var ok bool
		if p, ok = port(v); !ok {
			return nil, "invalid port"
		}
		host = "*"
	}
	if host == "*" {
		return []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), p)}, ""
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(addr, p)}, ""
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return nil, "host not found"
	}
	var out []netip.AddrPort
	for _, ip := range ips {
		addr, _ := netip.AddrFromSlice(ip)
		out = append(out, netip.AddrPortFrom(addr.Unmap(), p))
	}
	return out, ""
}

func setServerName(s *conf.Scope, d *parser.Directive) error {
	srv := lv(s).srv
	for _, a := range d.Args {
		name := a.Value
		if strings.HasPrefix(name, "~") {
			if len(name) == 1 {
				return parser.Errorf(d.End, `empty regex in server name "%s"`, name)
			}
			// nginx makes a server name regex caseless when it has a
			// capital letter (ngx_http_core_server_name).
			re, err := lv(s).http.regex(name[1:], strings.ToLower(name) != name)
			if err != nil {
				return parser.Errorf(d.End, `%s in "%s"`, err, name[1:])
			}
			srv.Names = append(srv.Names, ServerName{Name: name[1:], Regex: re})
			continue
		}
		// The one check ngx_http_core_server_name makes; other odd names
		// are exact names to nginx.
		if strings.HasPrefix(name, "*") && (len(name) < 3 || name[1] != '.') || name == "." {
			return parser.Errorf(d.End, `server name "%s" is invalid`, name)
		}
		if strings.EqualFold(name, "$hostname") {
			name, _ = os.Hostname()
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
		re, err := l.http.regex(name, loc.Match == MatchRegexI)
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

// setRoot is ngx_http_core_root, for root and alias: one of them per
// block, alias not in a named location, and neither built from
// $document_root or $realpath_root, which they define.
func setRoot(s *conf.Scope, d *parser.Directive) error {
	loc := locOf(s)
	alias := d.Name == "alias"
	if loc.Root.IsSet {
		if loc.Alias == alias {
			return conf.ErrDuplicate
		}
		earlier := "root"
		if loc.Alias {
			earlier = "alias"
		}
		return parser.Errorf(d.End, `"%s" directive is duplicate, "%s" directive was specified earlier`, d.Name, earlier)
	}
	if alias && loc.Match == MatchNamed {
		return parser.Errorf(d.End, `the "alias" directive cannot be used inside the named location`)
	}
	v := d.Args[0].Value
	for _, name := range []string{"document_root", "realpath_root"} {
		if strings.Contains(v, "$"+name) || strings.Contains(v, "${"+name+"}") {
			return parser.Errorf(d.End, `the $%s variable cannot be used in the "%s" directive`, name, d.Name)
		}
	}
	loc.Alias = alias
	if !alias && len(v) > 1 && strings.HasSuffix(v, "/") {
		v = v[:len(v)-1]
	}
	t, err := lv(s).http.compileTemplate(v, d.End)
	if err != nil {
		return err
	}
	loc.root = t
	if alias {
		loc.aliasOf = loc
	}
	return loc.Root.Put(v, d)
}

// limitMethods are the methods limit_except may name
// (ngx_methods_names).
var limitMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "MKCOL", "COPY", "MOVE",
	"OPTIONS", "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH"}

// openLimitExcept follows ngx_http_core_limit_except: the block is a
// level of its own, inheriting from the location, that requests take
// when their method is not one of those named (GET names HEAD too).
func openLimitExcept(s *conf.Scope, d *parser.Directive) (*conf.Scope, error) {
	l := lv(s)
	allowed := map[string]bool{}
	for _, a := range d.Args {
		i := slices.IndexFunc(limitMethods, func(m string) bool { return strings.EqualFold(m, a.Value) })
		if i < 0 {
			return nil, parser.Errorf(d.End, `invalid method "%s"`, a.Value)
		}
		allowed[limitMethods[i]] = true
	}
	if allowed["GET"] {
		allowed["HEAD"] = true
	}
	lmt := newLocationConf(matchNone)
	l.loc.limitExcept, l.loc.limitAllowed = lmt, allowed
	return s.Child(conf.HTTPLmt, d, &level{main: l.main, http: l.http, srv: l.srv, loc: lmt, in: l.in}), nil
}

// openUpstream makes the checks of ngx_http_upstream on a block whose
// model arrives with issue #6: a unique name and at least one server.
func openUpstream(s *conf.Scope, d *parser.Directive) (*conf.Scope, error) {
	l := lv(s)
	name := d.Args[0].Value
	// ngx_http_upstream_add compares names without case.
	if l.http.upstreams[strings.ToLower(name)] {
		return nil, parser.Errorf(d.End, `duplicate upstream "%s"`, name)
	}
	if l.http.upstreams == nil {
		l.http.upstreams = map[string]bool{}
	}
	l.http.upstreams[strings.ToLower(name)] = true
	if err := l.http.checkProxyPorts(name); err != nil {
		return nil, err
	}
	ul := *l
	ul.ups = upstream.NewConf(name, d.End)
	l.http.Upstreams = append(l.http.Upstreams, ul.ups)
	child := s.Child(conf.HTTPUps, d, &ul)
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
	t, err := conf.ParseTime(d.Args[0].Value, false)
	if err != nil {
		return conf.Tail("invalid value")
	}
	k := Keepalive{Timeout: t, Header: -1}
	if len(d.Args) == 2 {
		if k.Header, err = conf.ParseTime(d.Args[1].Value, true); err != nil {
			return conf.Tail("invalid value")
		}
	}
	return locOf(s).Keepalive.Put(k, d)
}

// setSatisfy is ngx_conf_set_enum_slot for all|any.
func setSatisfy(s *conf.Scope, d *parser.Directive) error {
	switch strings.ToLower(d.Args[0].Value) {
	case "all":
		return locOf(s).SatisfyAny.Put(false, d)
	case "any":
		return locOf(s).SatisfyAny.Put(true, d)
	}
	return parser.Errorf(d.End, `invalid value "%s"`, d.Args[0].Value)
}

// keepalive_disable's browsers.
const (
	keepaliveDisableMSIE6 = 1 << iota
	keepaliveDisableSafari
)

// setKeepaliveDisable is ngx_conf_set_bitmask_slot ("none" is no bit).
func setKeepaliveDisable(s *conf.Scope, d *parser.Directive) error {
	kd := &locOf(s).KeepaliveDisable
	if kd.IsSet {
		return conf.Tail("is duplicate")
	}
	mask := 0
	for _, a := range d.Args {
		switch strings.ToLower(a.Value) {
		case "none":
		case "msie6":
			mask |= keepaliveDisableMSIE6
		case "safari":
			mask |= keepaliveDisableSafari
		default:
			return parser.Errorf(d.End, `invalid value "%s"`, a.Value)
		}
	}
	return kd.Put(mask, d)
}

// setMaxRanges is ngx_conf_set_num_slot; unset is no limit (-1).
func setMaxRanges(s *conf.Scope, d *parser.Directive) error {
	n, err := conf.ParseNumber(d.Args[0].Value)
	if err != nil {
		return conf.Tail("invalid number")
	}
	return locOf(s).MaxRanges.Put(n, d)
}

// setKeepaliveRequests is ngx_conf_set_num_slot.
func setKeepaliveRequests(s *conf.Scope, d *parser.Directive) error {
	n, err := conf.ParseNumber(d.Args[0].Value)
	if err != nil {
		return conf.Tail("invalid number")
	}
	return locOf(s).KeepaliveRequests.Put(n, d)
}

// setKeepaliveTime is ngx_conf_set_msec_slot.
func setKeepaliveTime(s *conf.Scope, d *parser.Directive) error {
	t, err := conf.ParseTime(d.Args[0].Value, false)
	if err != nil {
		return conf.Tail("invalid value")
	}
	return locOf(s).KeepaliveTime.Put(t, d)
}

// setDaemon is the daemon flag: edge's default is off (the foreground).
func setDaemon(s *conf.Scope, d *parser.Directive) error {
	on, err := conf.ParseFlag(d, d.Args[0].Value)
	if err != nil {
		return err
	}
	return mainOf(s).Daemon.Put(on, d)
}

// setPid is the pid file, relative to the prefix as nginx's.
func setPid(s *conf.Scope, d *parser.Directive) error {
	m := mainOf(s)
	p := d.Args[0].Value
	if !filepath.IsAbs(p) {
		p = m.Prefix + p
	}
	return m.PidFile.Put(p, d)
}
