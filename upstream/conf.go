package upstream

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"edge/internal/conf"
	"edge/parser"
)

// Conf is an upstream {} block: its servers and how a request picks one.
type Conf struct {
	Name    string
	Pos     parser.Pos // the upstream directive
	Servers []*Server
	// Method is the balancing directive: "" (round-robin), "hash",
	// "ip_hash", "least_conn" or "random".
	Method string
	// Key is hash's key as written (the server compiles it); Consistent
	// is its "consistent".
	Key        string
	Consistent bool
	// Two is random's "two", picking by TwoMethod ("least_conn").
	Two       bool
	TwoMethod string
	// Keepalive is the number of idle connections kept (0: none);
	// KeepaliveTimeout, KeepaliveRequests and KeepaliveTime bound each
	// (0: nginx's defaults, 60s, 1000 and 1h).
	Keepalive         int
	KeepaliveTimeout  time.Duration
	KeepaliveRequests int
	KeepaliveTime     time.Duration
	// Resolver resolves the block's host names (nginx 1.27.3's
	// resolver in upstream); nil: the http level's, else the system's.
	Resolver        *Resolver
	ResolverTimeout time.Duration
	// params are the server parameters the method takes.
	params param
}

// param is a server parameter, as a bit of the set a balancing method
// supports (nginx's NGX_HTTP_UPSTREAM_* flags).
type param int

const (
	paramWeight param = 1 << iota
	paramMaxConns
	paramMaxFails
	paramFailTimeout
	paramDown
	paramBackup

	allParams = paramWeight | paramMaxConns | paramMaxFails | paramFailTimeout | paramDown | paramBackup
)

// NewConf is an upstream block as it opens: round-robin, which takes
// every parameter.
func NewConf(name string, pos parser.Pos) *Conf {
	return &Conf{Name: name, Pos: pos, params: allParams}
}

// methodParams are the server parameters each balancing method takes:
// none but least_conn has backups.
var methodParams = map[string]param{
	"hash":       allParams &^ paramBackup,
	"ip_hash":    allParams &^ paramBackup,
	"random":     allParams &^ paramBackup,
	"least_conn": allParams,
}

// SetMethod records the balancing directive ("hash", "ip_hash",
// "least_conn", "random"), and with it the parameters its servers may
// have.
func (c *Conf) SetMethod(method string) {
	c.Method, c.params = method, methodParams[method]
}

// Server is a server line.
type Server struct {
	// Addr is the address as written; Network and Address are what to
	// connect to ("unix" and a path, or "tcp" and host:port, the host
	// still a name when it was one).
	Addr             string
	Network, Address string
	Weight           int
	MaxFails         int
	FailTimeout      time.Duration
	MaxConns         int
	Backup, Down     bool
	// Pos is where the server is written (a server line, or the
	// proxy_pass of an implicit upstream).
	Pos parser.Pos
}

// Host is the server's host name, or "" for an address or a socket.
func (s *Server) Host() string {
	if s.Network != "tcp" {
		return ""
	}
	host, _, _ := net.SplitHostPort(s.Address)
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	return host
}

// ParseServer reads a server line's arguments as ngx_http_upstream_server
// does; the error is nginx's message.
func (c *Conf) ParseServer(args []string) (*Server, error) {
	s := &Server{Addr: args[0], Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}
	for _, a := range args[1:] {
		var p param
		ok := false
		switch {
		case strings.HasPrefix(a, "weight="):
			p = paramWeight
			s.Weight, ok = atoi(a[7:])
			ok = ok && s.Weight > 0
		case strings.HasPrefix(a, "max_conns="):
			p = paramMaxConns
			s.MaxConns, ok = atoi(a[10:])
		case strings.HasPrefix(a, "max_fails="):
			p = paramMaxFails
			s.MaxFails, ok = atoi(a[10:])
		case strings.HasPrefix(a, "fail_timeout="):
			p = paramFailTimeout
			t, err := conf.ParseTime(a[13:], true)
			s.FailTimeout, ok = t, err == nil
		case a == "backup":
			p, s.Backup, ok = paramBackup, true, true
		case a == "down":
			p, s.Down, ok = paramDown, true, true
		case a == "resolve":
			// nginx 1.27.3's: re-resolve the name. edge resolves at each
			// connection (through the resolver's cache) in any case.
			ok = true
		}
		if p != 0 && c.params&p == 0 {
			return nil, errors.New(`balancing method does not support parameter "` + a + `"`)
		}
		if !ok {
			return nil, errors.New(`invalid parameter "` + a + `"`)
		}
	}
	if err := s.parseAddr(); err != nil {
		return nil, err
	}
	return s, nil
}

// parseAddr is ngx_parse_url for a server: a unix: path, or host[:port]
// with port 80 by default; names are resolved later (edge does not stop
// for a name that does not resolve yet).
func (s *Server) parseAddr() error {
	a := s.Addr
	if len(a) >= 5 && strings.EqualFold(a[:5], "unix:") {
		if len(a) == 5 {
			return errors.New(`no path in the unix domain socket in upstream "` + a + `"`)
		}
		s.Network, s.Address = "unix", a[5:]
		return nil
	}
	if strings.IndexByte(a, '/') >= 0 {
		return errors.New(`invalid host in upstream "` + a + `"`)
	}
	host, port := a, "80"
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return errors.New(`invalid host in upstream "` + a + `"`)
		}
		host = a[1:end]
		switch rest := a[end+1:]; {
		case rest == "":
		case strings.HasPrefix(rest, ":"):
			port = rest[1:]
		default:
			return errors.New(`invalid host in upstream "` + a + `"`)
		}
	} else if i := strings.IndexByte(a, ':'); i >= 0 {
		host, port = a[:i], a[i+1:]
	}
	if n, ok := atoi(port); !ok || n < 1 || n > 65535 {
		return errors.New(`invalid port in upstream "` + a + `"`)
	}
	if host == "" {
		return errors.New(`no host in upstream "` + a + `"`)
	}
	s.Network, s.Address = "tcp", net.JoinHostPort(host, port)
	return nil
}

// atoi is ngx_atoi: digits only.
func atoi(s string) (int, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// NewPool is the block's keep-alive cache, nil without keepalive.
func (c *Conf) NewPool() *Pool {
	if c.Keepalive == 0 {
		return nil
	}
	p := &Pool{Max: c.Keepalive, Timeout: 60 * time.Second, Requests: 1000, Lifetime: time.Hour}
	if c.KeepaliveTimeout > 0 {
		p.Timeout = c.KeepaliveTimeout
	}
	if c.KeepaliveRequests > 0 {
		p.Requests = c.KeepaliveRequests
	}
	if c.KeepaliveTime > 0 {
		p.Lifetime = c.KeepaliveTime
	}
	return p
}

// Peers makes the peers of the block's servers, primaries and backups
// (names are resolved when edge serves; each server is one peer here).
func (c *Conf) Peers() *Peers {
	var primary, backup []*Peer
	for _, s := range c.Servers {
		name := s.Address
		if s.Network == "unix" {
			name = "unix:" + s.Address
		}
		p := &Peer{Server: s.Addr, Name: name, Weight: s.Weight, MaxFails: s.MaxFails,
			FailTimeout: s.FailTimeout, MaxConns: s.MaxConns, Down: s.Down}
		if s.Backup {
			backup = append(backup, p)
		} else {
			primary = append(primary, p)
		}
	}
	return NewPeers(primary, backup)
}
