package server

import (
	"net/netip"
	"time"

	"edge/internal/conf"
	"edge/internal/errlog"
	"edge/parser"
	"edge/upstream"
)

// MainConf is the whole configuration: the main context and its blocks.
type MainConf struct {
	// WorkerProcesses is the number of OS threads Go may use; 0 is "auto".
	WorkerProcesses conf.Setting[int]
	Events          *EventsConf
	HTTP            *HTTPConf
	// User and Group are the user directive's, resolved.
	User  conf.Setting[string]
	Group string
	// Prefix is nginx's prefix (-p): relative log paths resolve against it.
	Prefix string
	// ConfPrefix is the main file's directory: relative certificate paths
	// resolve against it, as includes do.
	ConfPrefix string
	// LogFiles are the log files the configuration names, opened (and
	// created) on load as nginx does.
	LogFiles []string
	// PidFile is the pid directive's file (none without it).
	PidFile conf.Setting[string]
	// Daemon: detach from the terminal.
	Daemon conf.Setting[bool]
	// ShutdownTimeout bounds a graceful shutdown (0: none).
	ShutdownTimeout conf.Setting[time.Duration]
	// WatchConfig: reload when the configuration's files change.
	WatchConfig conf.Setting[bool]
	// Watched are the files other than the configuration's own that a
	// change to should reload it: certificates and keys, user files.
	Watched []string
	// ErrorLogs are the main level's error_log directives.
	ErrorLogs   []logTarget
	threadPools []string             // thread_pool names, unique as in nginx
	priority    int64                // worker_priority, for its duplicate check
	zones       map[string]bool      // shared memory zones, and whether sized
	logBuffers  map[string]logBuffer // buffered access logs by path
	// Pending lists the directives whose behaviour has not landed yet.
	Pending []conf.Use
}

// EventsConf is events {}. Its directives are all tuning in edge.
type EventsConf struct {
	Pos parser.Pos
}

// HTTPConf is http {}.
type HTTPConf struct {
	Pos     parser.Pos
	Servers []*ServerConf
	// Loc holds the location-level settings written at http level, which
	// servers and locations inherit.
	Loc *LocationConf
	// SSL holds the ssl settings written at http level.
	SSL SSLConf
	// logFormats are the log_format definitions ("combined" once used).
	logFormats map[string]*logFormat
	// Addrs are the listen addresses in the order they first appear, each
	// with the servers on it.
	Addrs     []*ListenAddr
	upstreams map[string]bool // upstream names, unique as in nginx
	// Upstreams are the upstream blocks, in order; proxyPasses the
	// proxy_pass directives read so far, whose upstream names a later
	// block must agree with.
	Upstreams   []*upstream.Conf
	proxyPasses []*ProxyPass
	// vars are the variables the configuration names; captures are the
	// named groups of its regexes, which are variables too.
	vars     varTable
	captures map[string]bool
}

// ListenAddr is one address servers listen on, as nginx's
// ngx_http_conf_addr_t: the servers that share it and its default.
type ListenAddr struct {
	Network, Address string // for net.Listen
	Text             string // as nginx names it: "0.0.0.0:80", "unix:/x"
	Servers          []*ServerConf
	// Default answers requests no server_name matches: the server marked
	// default_server, else the first.
	Default    *ServerConf
	defaultSet bool // a listen on it said default_server
	optionsSet bool // a listen on it set socket options
	// KeepAlive is its so_keepalive; DualStack its ipv6only=off (an
	// IPv6 address takes IPv4 connections too only with it).
	KeepAlive SoKeepalive
	DualStack bool
}

// SoKeepalive is listen's so_keepalive: TCP keep-alive probes for the
// connections accepted, which take the listening socket's settings.
type SoKeepalive struct {
	On             bool
	Idle, Interval time.Duration // 0: the system's
	Count          int           // 0: the system's
}

// ServerConf is server {} in http.
type ServerConf struct {
	Pos       parser.Pos
	Listens   []Listen
	Names     []ServerName
	Loc       *LocationConf // server-level location settings
	Locations []*LocationConf
	SSL       SSLConf
	tree      *locationTree            // Locations compiled
	named     map[string]*LocationConf // the @name locations
}

// Listen is one listen directive.
type Listen struct {
	// Addr is the address and port; for a unix socket it is invalid and
	// Unix holds the path.
	Addr          netip.AddrPort
	Unix          string
	DefaultServer bool
	// Text is the address as written, for messages.
	Text string
	Pos  parser.Pos
	// Options says socket options (backlog=, rcvbuf=, reuseport…) were
	// given; nginx allows them on one listen of an address only.
	Options bool
	// KeepAlive is so_keepalive=, DualStack ipv6only=off: the ones
	// acted on.
	KeepAlive SoKeepalive
	DualStack bool
}

// ServerName is one name of server_name.
type ServerName struct {
	Name string // lower-cased; for regexes the expression
	// Regex is set for names written "~…".
	Regex *Regex
}

// LocationMatch is how a location matches the URI.
type LocationMatch uint8

const (
	MatchPrefix  LocationMatch = iota // location /uri
	MatchExact                        // location = /uri
	MatchNoRegex                      // location ^~ /uri
	MatchRegex                        // location ~ re
	MatchRegexI                       // location ~* re
	MatchNamed                        // location @name
	matchNone                         // the server and http levels
)

// LocationConf holds the location-level settings of nginx's
// ngx_http_core_loc_conf_t, at any level where they may be written.
type LocationConf struct {
	// proxyPass is the location's proxy_pass (not inherited).
	proxyPass *ProxyPass
	Match     LocationMatch
	Path      string // the URI, regex source or @name
	Regex     *Regex
	Pos       parser.Pos
	Locations []*LocationConf // nested locations
	tree      *locationTree   // Locations compiled

	DefaultType conf.Setting[string]
	// Types is nil where no types block was written: it inherits.
	Types        mimeTypes
	Charset      conf.Setting[charsetValue]
	CharsetTypes conf.Setting[typeSet]
	// Rewrite are the rewrite module's directives of this level, in order.
	Rewrite []rewriteCode
	ifs     []*LocationConf // the levels of the if blocks in this location
	// Root is root or alias (Alias set), as written; root is it compiled
	// (inherited where not written), aliasOf the location that wrote the
	// alias, whose URI the alias replaces.
	Root    conf.Setting[string]
	Alias   bool
	root    *template
	aliasOf *LocationConf
	// Index are the index files, in order (inherited where not written).
	Index []*template
	// TryFiles is this location's try_files (not inherited, as in nginx).
	TryFiles *tryFiles
	// ErrorPages are the error_page rules (inherited where none is
	// written); Internal locations answer only internal redirects.
	ErrorPages          []errorPageRule
	RecursiveErrorPages conf.Setting[bool]
	Internal            bool
	// Access are the allow and deny rules in order (inherited where none
	// is written).
	Access []accessRule
	// AddHeaders are the add_header directives (inherited where none is
	// written); Expires is expires.
	AddHeaders []addHeader
	Expires    conf.Setting[Expires]
	// ErrorLogs are this level's error_log directives (inherited where
	// none is written); loggers are them opened.
	ErrorLogs []logTarget
	loggers   []*errlog.Logger
	// ServerTokens is server_tokens; serverHeader and errorTail are what
	// it puts in the Server header and the built-in error pages.
	ServerTokens conf.Setting[string]
	serverHeader string
	errorTail    string
	Autoindex    Autoindex
	Gzip         GzipConf
	Proxy        ProxyConf
	AuthBasic    AuthBasic
	// Keepalive is keepalive_timeout, KeepaliveRequests and KeepaliveTime
	// the limits of a connection's requests and lifetime.
	Keepalive         conf.Setting[Keepalive]
	keepAliveHeader   string // the Keep-Alive header's value, "" for none
	KeepaliveRequests conf.Setting[int64]
	KeepaliveTime     conf.Setting[time.Duration]
	// accessLogs are the access_log directives of the level (inherited
	// where none is written); accessLogOff is "access_log off".
	accessLogs   []accessLog
	accessLogSet bool
	accessLogOff bool
	// limitExcept is the level of limit_except, which requests take when
	// their method is not in limitAllowed.
	limitExcept  *LocationConf
	limitAllowed map[string]bool
	// The head is read with the default server's ClientHeaderTimeout,
	// ClientHeaderBufferSize, LargeClientHeaderBuffers, IgnoreInvalidHeaders, MergeSlashes and
	// UnderscoresInHeaders (server-level settings in nginx).
	ClientHeaderTimeout      conf.Setting[time.Duration]
	ClientHeaderBufferSize   conf.Setting[int64]
	LargeClientHeaderBuffers conf.Setting[conf.Bufs]
	IgnoreInvalidHeaders     conf.Setting[bool]
	MergeSlashes             conf.Setting[bool]
	UnderscoresInHeaders     conf.Setting[bool]
	// ClientBodyTimeout and SendTimeout bound the wait between two
	// reads of the body and two writes of the answer.
	ClientBodyTimeout conf.Setting[time.Duration]
	SendTimeout       conf.Setting[time.Duration]
	// AbsoluteRedirect, ServerNameInRedirect and PortInRedirect say how
	// a Location starting with "/" is made absolute.
	AbsoluteRedirect     conf.Setting[bool]
	ServerNameInRedirect conf.Setting[bool]
	PortInRedirect       conf.Setting[bool]
	// LogNotFound logs files not found; ETag sends the static ETag;
	// IfModifiedSince is "off", "exact" or "before"; MaxRanges limits
	// the ranges of a request (-1: no limit, 0: no ranges);
	// ChunkedTransferEncoding allows chunked answers.
	LogNotFound             conf.Setting[bool]
	ETag                    conf.Setting[bool]
	IfModifiedSince         conf.Setting[string]
	MaxRanges               conf.Setting[int64]
	ChunkedTransferEncoding conf.Setting[bool]
	// DisableSymlinks is disable_symlinks.
	DisableSymlinks conf.Setting[Symlinks]
	// KeepaliveDisable are keepalive_disable's browsers; MsieRefresh
	// answers MSIE's redirects with a refresh page.
	KeepaliveDisable conf.Setting[int]
	MsieRefresh      conf.Setting[bool]
	// SatisfyAny is "satisfy any"; AuthDelay is auth_delay.
	SatisfyAny conf.Setting[bool]
	AuthDelay  conf.Setting[time.Duration]
	// RewriteLog logs the rewrite module's matches at notice;
	// UninitializedVariableWarn warns of a set variable read unset.
	RewriteLog                conf.Setting[bool]
	UninitializedVariableWarn conf.Setting[bool]
	// MsiePadding pads error pages for MSIE and Chrome (msie_padding).
	MsiePadding conf.Setting[bool]
	// ClientMaxBodySize is client_max_body_size (0: no limit);
	// ClientBodyBufferSize how much of a body the proxy keeps in memory
	// before the rest goes to a temporary file.
	ClientMaxBodySize    conf.Setting[int64]
	ClientBodyBufferSize conf.Setting[int64]
	// Resolver is the resolver directive (nil: none) and
	// ResolverTimeout resolver_timeout.
	Resolver        conf.Setting[*upstream.Resolver]
	ResolverTimeout conf.Setting[time.Duration]
}

// newLocationConf returns a location with nothing set.
func newLocationConf(m LocationMatch) *LocationConf {
	return &LocationConf{Match: m}
}

// Keepalive is keepalive_timeout: how long an idle connection waits, and
// the Keep-Alive header's timeout (-1: no header).
type Keepalive struct {
	Timeout, Header time.Duration
}
