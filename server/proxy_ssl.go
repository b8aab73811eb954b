package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"edge/internal/conf"
	"edge/internal/errlog"
	"edge/parser"
)

// TLS to https:// backends (the proxy module's ngx_http_proxy_set_ssl and
// the upstream's SSL handshake): by default, as nginx, without checking
// the backend's certificate and without SNI; proxy_ssl_verify checks it
// against proxy_ssl_trusted_certificate and proxy_ssl_name.

// ProxySSLCommands are the proxy_ssl_* directives edge implements.
var ProxySSLCommands = []conf.Command{
	{Name: "proxy_ssl_server_name", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_proxy_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &proxyOf(s).SSL.ServerName })},
	{Name: "proxy_ssl_name", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_proxy_module", Set: setProxySSLName},
	{Name: "proxy_ssl_verify", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_proxy_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &proxyOf(s).SSL.Verify })},
	{Name: "proxy_ssl_verify_depth", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_proxy_module", Set: conf.NumSlot(func(s *conf.Scope) *conf.Setting[int64] { return &proxyOf(s).SSL.VerifyDepth })},
	{Name: "proxy_ssl_trusted_certificate", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_proxy_module", Set: setProxySSLFile(func(c *ProxySSL) *conf.Setting[string] { return &c.Trusted })},
	{Name: "proxy_ssl_certificate", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_proxy_module", Set: setProxySSLFile(func(c *ProxySSL) *conf.Setting[string] { return &c.Certificate })},
	{Name: "proxy_ssl_certificate_key", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_proxy_module", Set: setProxySSLFile(func(c *ProxySSL) *conf.Setting[string] { return &c.Key })},
	{Name: "proxy_ssl_protocols", Type: httpAny | conf.OneMore, Module: "ngx_http_proxy_module", Set: setProxySSLProtocols},
	{Name: "proxy_ssl_ciphers", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_proxy_module", Status: conf.Tuning},
	{Name: "proxy_ssl_session_reuse", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_proxy_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &proxyOf(s).SSL.SessionReuse })},
}

// ProxySSL is a level's proxy_ssl_* settings; config is them compiled,
// for a level that proxies to https.
type ProxySSL struct {
	ServerName, Verify, SessionReuse conf.Setting[bool]
	Name                             conf.Setting[*template]
	VerifyDepth                      conf.Setting[int64]
	Trusted, Certificate, Key        conf.Setting[string]
	// Protocols are the TLS versions allowed: the lowest and highest.
	Protocols conf.Setting[[2]uint16]

	roots    *x509.CertPool
	certs    []tls.Certificate
	sessions tls.ClientSessionCache
}

func setProxySSLName(s *conf.Scope, d *parser.Directive) error {
	t, err := lv(s).http.compileTemplate(d.Args[0].Value, d.End)
	if err != nil {
		return err
	}
	return proxyOf(s).SSL.Name.Put(t, d)
}

// setProxySSLFile keeps a file's full name; it is read (and watched)
// where a level proxies to https.
func setProxySSLFile(f func(*ProxySSL) *conf.Setting[string]) func(*conf.Scope, *parser.Directive) error {
	return func(s *conf.Scope, d *parser.Directive) error {
		m := mainOf(s)
		v := fullName(m.ConfPrefix, d.Args[0].Value)
		m.Watched = append(m.Watched, v)
		return f(&proxyOf(s).SSL).Put(v, d)
	}
}

var tlsVersions = map[string]uint16{"SSLv2": 0, "SSLv3": 0, "TLSv1": tls.VersionTLS10,
	"TLSv1.1": tls.VersionTLS11, "TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13}

// setProxySSLProtocols is a bitmask of versions; Go speaks TLS 1.0 to
// 1.3, so the lowest and highest named bound it (SSLv2/v3 are ignored).
func setProxySSLProtocols(s *conf.Scope, d *parser.Directive) error {
	var lo, hi uint16
	for _, a := range d.Args {
		v, ok := tlsVersions[a.Value]
		if !ok {
			return parser.Errorf(d.End, `invalid value "%s"`, a.Value)
		}
		if v == 0 {
			continue
		}
		if lo == 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	return proxyOf(s).SSL.Protocols.Put([2]uint16{lo, hi}, d)
}

func (c *ProxySSL) merge(parent *ProxySSL) {
	c.ServerName.Merge(parent.ServerName, false)
	c.Verify.Merge(parent.Verify, false)
	c.SessionReuse.Merge(parent.SessionReuse, true)
	c.Name.Merge(parent.Name, nil)
	c.VerifyDepth.Merge(parent.VerifyDepth, 1)
	c.Trusted.Merge(parent.Trusted, "")
	c.Certificate.Merge(parent.Certificate, "")
	c.Key.Merge(parent.Key, "")
	c.Protocols.Merge(parent.Protocols, [2]uint16{tls.VersionTLS12, tls.VersionTLS13})
}

// compile reads the files a level proxying to https needs, with nginx's
// messages (ngx_http_proxy_set_ssl).
func (c *ProxySSL) compile() error {
	fail := func(format string, args ...any) error { return &parser.Error{Msg: fmt.Sprintf(format, args...)} }
	if c.Certificate.Value != "" {
		if c.Key.Value == "" {
			return fail(`no "proxy_ssl_certificate_key" is defined for certificate "%s"`, c.Certificate.Value)
		}
		cert, err := tls.LoadX509KeyPair(c.Certificate.Value, c.Key.Value)
		if err != nil {
			return fail(`cannot load certificate "%s": %v`, c.Certificate.Value, err)
		}
		c.certs = []tls.Certificate{cert}
	}
	if c.Verify.Value {
		if c.Trusted.Value == "" {
			return fail(`no proxy_ssl_trusted_certificate for proxy_ssl_verify`)
		}
		data, err := os.ReadFile(c.Trusted.Value)
		if err != nil {
			return fail(`SSL_CTX_load_verify_locations("%s") failed%s`, c.Trusted.Value, parser.Errno(err))
		}
		c.roots = x509.NewCertPool()
		if !c.roots.AppendCertsFromPEM(data) {
			return fail(`SSL_CTX_load_verify_locations("%s") failed`, c.Trusted.Value)
		}
	}
	if c.SessionReuse.Value {
		c.sessions = tls.NewLRUClientSessionCache(64)
	}
	return nil
}

// handshake starts TLS with an https backend within
// proxy_connect_timeout, as nginx's ngx_http_upstream_ssl_init_connection
// does: SNI with proxy_ssl_server_name (a name, not an address), the
// certificate checked with proxy_ssl_verify.
func (rq *request) handshake(nc net.Conn, pr *proxyRun) (net.Conn, error) {
	p := pr.p
	c := &p.SSL
	name := pr.hostHeader
	if c.Name.Value != nil {
		name = c.Name.Value.String(rq)
	}
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	} else if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.Contains(name[:i], ":") {
		name = name[:i]
	}
	cfg := &tls.Config{InsecureSkipVerify: true, Certificates: c.certs, ClientSessionCache: c.sessions,
		MinVersion: c.Protocols.Value[0], MaxVersion: c.Protocols.Value[1]}
	if c.ServerName.Value && net.ParseIP(strings.Trim(name, "[]")) == nil {
		cfg.ServerName = name
	}
	if c.Verify.Value {
		roots := c.roots
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			inter := x509.NewCertPool()
			for _, crt := range cs.PeerCertificates[1:] {
				inter.AddCert(crt)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name})
			return err
		}
	}
	tc := tls.Client(nc, cfg)
	tc.SetDeadline(time.Now().Add(p.ConnectTimeout.Value))
	if err := tc.Handshake(); err != nil {
		nc.Close()
		rq.logHandshake(err, name)
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}

// logHandshake says why a handshake failed, in nginx's words where it
// has them.
func (rq *request) logHandshake(err error, name string) {
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &hostErr):
		rq.log(errlog.Error, `upstream SSL certificate does not match "%s" while SSL handshaking to upstream`, name)
	case errors.As(err, &authErr):
		what := "20:unable to get local issuer certificate"
		if c := authErr.Cert; c != nil && string(c.RawIssuer) == string(c.RawSubject) {
			what = "18:self-signed certificate"
		}
		rq.log(errlog.Error, "upstream SSL certificate verify error: (%s) while SSL handshaking to upstream", what)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		rq.log(errlog.Error, "upstream SSL certificate verify error: (10:certificate has expired) while SSL handshaking to upstream")
	default:
		rq.log(errlog.Crit, "SSL_do_handshake() failed (%v) while SSL handshaking to upstream", err)
	}
}
