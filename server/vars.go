package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"edge/internal/errlog"
	"edge/parser"
)

// The variables engine. A template names variables; when the http block
// ends, every name is resolved once: to a variable the configuration
// defines (set, map), to one edge computes from the request, or to one
// nginx has that edge does not compute yet (serving refuses those). A
// name nginx does not know is nginx's `unknown "x" variable`.

// varTable holds every variable name the configuration uses.
type varTable struct {
	refs    map[string]*varRef
	defined int // the number of configuration-defined variables (slots)
}

// varRef is one variable name, resolved by finish.
type varRef struct {
	name string
	// slot is the variable's place in a request's values when the
	// configuration defines it (set, map), else -1.
	slot int
	get  func(rq *request) string // computed from the request
	// pending names a variable nginx has and edge does not compute yet.
	pending bool
	// mapped is the map that computes a map variable.
	mapped *varMap
	pos    parser.Pos // where it is first named
}

// servable refuses the variables edge does not compute yet, at the first
// place that names one: serving them would answer wrongly.
func (t *varTable) servable() error {
	var first *varRef
	for _, r := range t.refs {
		if r.pending && (first == nil || r.pos.File == first.pos.File && r.pos.Line < first.pos.Line) {
			first = r
		}
	}
	if first == nil {
		return nil
	}
	planned := "#4"
	switch {
	case strings.HasPrefix(first.name, "ssl_") || first.name == "http2":
		planned = sslPlanned
	case strings.HasPrefix(first.name, "upstream_") || strings.HasPrefix(first.name, "proxy_"):
		planned = "#6"
	}
	return parser.Errorf(first.pos, `the "$%s" variable is not served yet (planned in issue %s); "edge -t" accepts it`, first.name, planned)
}

// ref returns the variable name, first used at pos.
func (t *varTable) ref(name string, pos parser.Pos) *varRef {
	key := strings.ToLower(name) // nginx's variable names are case-insensitive
	if t.refs == nil {
		t.refs = map[string]*varRef{}
	}
	r, ok := t.refs[key]
	if !ok {
		r = &varRef{name: key, slot: -1, pos: pos}
		t.refs[key] = r
	}
	return r
}

// define makes name a configuration variable (set, map) with a slot.
func (t *varTable) define(name string, pos parser.Pos) *varRef {
	r := t.ref(name, pos)
	if r.slot < 0 {
		r.slot = t.defined
		t.defined++
	}
	return r
}

// finish resolves every name; named captures of the configuration's
// regexes are variables too. It is ngx_http_variables_init_vars.
func (t *varTable) finish(captures map[string]bool) error {
	for _, r := range t.refs {
		switch {
		case builtinVars[r.name] != nil:
			// A builtin may have a slot too ("set $args"): a value set
			// wins over the computed one.
			r.get = builtinVars[r.name]
		case proxyVars[r.name] != nil:
			r.get = proxyVars[r.name]
		case r.slot >= 0:
		case captures[r.name]:
			name := r.name
			r.get = func(rq *request) string { return rq.namedCapture(name) }
		case prefixVar(r.name) != nil:
			r.get = prefixVar(r.name)
		case knownVars[r.name] || knownPrefix(r.name):
			r.pending = true
		default:
			return &unknownVariable{r.name}
		}
	}
	return nil
}

type unknownVariable struct{ name string }

func (e *unknownVariable) Error() string { return `unknown "` + e.name + `" variable` }

// request is one request being answered: what its variables are computed
// from, and its URI and arguments as rewrites change them.
type request struct {
	c         *conn
	in        requestHead
	srv       *ServerConf
	loc       *LocationConf // the location (or if block) whose settings apply
	uri, args string
	prefix    string // nginx's prefix, for relative roots
	hostName  string // the validated Host, lower-cased, without port
	// statusCode is the status being answered, once known ($status).
	statusCode int
	named      string // a named location to go to
	method     string // the request's method, GET after an error_page
	redirects  int    // internal redirects so far
	internal   bool   // redirected internally: internal locations answer
	// restart says an internal redirect starts over at the server's
	// rewrite directives (index, try_files, error_page, as nginx's
	// ngx_http_internal_redirect; not a rewrite or a named location).
	restart bool
	// errorPaged says an error_page redirected the request; errStatus is
	// the status its answer takes (0: its own).
	errorPaged bool
	// discarded says the body was discarded (by the 413 or the static
	// handler): client_max_body_size is checked no more.
	discarded bool
	// start is when the request began ($request_time); rw is its
	// answer.
	start     time.Time
	rw        response
	errStatus int
	// rootTested says the static module found the root (a log path with
	// variables need not test it).
	rootTested bool
	// rewriteLog is rewrite_log of the level whose rewrites run.
	rewriteLog bool
	// expectTested says "100 Continue" was answered, or must not be.
	expectTested bool
	vals         []string
	have         []bool
	match        *regexMatch // the last regex match: captures
	// uriChanged says the URI is no longer the request's (nginx's
	// valid_unparsed_uri = 0: a rewrite, an internal redirect, "set
	// $args"); locationLost that a "rewrite … break" changed it
	// (valid_location = 0: proxy_pass's URI part no longer applies).
	uriChanged, locationLost bool
	// prx is the upstream side of a proxied request.
	prx *proxyRun
}

// reset makes the connection's request ready for the next head, keeping
// its slices' memory.
func (rq *request) reset(c *conn) {
	in, hdr, vals, have := rq.in.headers[:0], rq.rw.hdr[:0], rq.vals, rq.have
	clear(in[:cap(in)])
	clear(hdr[:cap(hdr)])
	slots := c.l.slots
	if cap(vals) < slots {
		vals, have = make([]string, slots), make([]bool, slots)
	}
	vals, have = vals[:slots], have[:slots]
	clear(vals)
	clear(have)
	*rq = request{c: c, start: time.Now(), vals: vals, have: have,
		in: requestHead{headers: in, contentLength: -1}, rw: response{c: c, hdr: hdr}}
}

// status is the status of an answer that would be code: an error_page's
// status wins, as nginx's err_status does in ngx_http_send_header.
func (rq *request) status(code int) int {
	if rq.errStatus != 0 {
		return rq.errStatus
	}
	return code
}

func (rq *request) value(v *varRef) string {
	switch {
	case v.slot >= 0 && rq.have[v.slot]:
		return rq.vals[v.slot]
	case v.mapped != nil && v.mapped.volatile:
		return v.mapped.eval(rq)
	case v.mapped != nil:
		rq.set(v, v.mapped.eval(rq))
		return rq.vals[v.slot]
	case v.get != nil:
		return v.get(rq)
	}
	// A variable set in another location: nginx's "uninitialized".
	if rq.loc.UninitializedVariableWarn.Value {
		rq.log(errlog.Warn, `using uninitialized "%s" variable`, v.name)
	}
	return ""
}

func (rq *request) set(v *varRef, value string) {
	rq.vals[v.slot], rq.have[v.slot] = value, true
}

// regexMatch is a successful match and its submatch indexes.
type regexMatch struct {
	re      *Regex
	subject string
	idx     []int
}

func (rq *request) capture(n int) string {
	m := rq.match
	if m == nil || 2*n+1 >= len(m.idx) || m.idx[2*n] < 0 {
		return ""
	}
	return m.subject[m.idx[2*n]:m.idx[2*n+1]]
}

func (rq *request) namedCapture(name string) string {
	if rq.match == nil {
		return ""
	}
	for i, n := range rq.match.re.names() {
		if n == name {
			return rq.capture(i)
		}
	}
	return ""
}

// builtinVars are the variables of ngx_http_variables.c that edge
// computes.
var builtinVars = map[string]func(rq *request) string{
	"host":            func(rq *request) string { return rq.host() },
	"uri":             func(rq *request) string { return rq.uri },
	"document_uri":    func(rq *request) string { return rq.uri },
	"request_uri":     func(rq *request) string { return rq.in.requestURI },
	"args":            func(rq *request) string { return rq.args },
	"query_string":    func(rq *request) string { return rq.args },
	"is_args":         func(rq *request) string { return ifElse(rq.args != "", "?", "") },
	"request_method":  func(rq *request) string { return rq.method },
	"request_time":    func(rq *request) string { return rq.requestTime() },
	"body_bytes_sent": func(rq *request) string { return strconv.FormatInt(rq.rw.body, 10) },
	"remote_user": func(rq *request) string {
		u, _, _ := rq.basicCredentials()
		return u
	},
	"server_protocol": func(rq *request) string { return rq.in.proto },
	"request": func(rq *request) string {
		return rq.in.requestLine
	},
	"scheme":      func(*request) string { return "http" },
	"https":       func(*request) string { return "" },
	"remote_addr": func(rq *request) string { return rq.c.clientIP },
	// nginx 1.22 joins repeated X-Forwarded-For headers.
	"http_x_forwarded_for": func(rq *request) string { return rq.in.joined("X-Forwarded-For", ", ") },
	"remote_port":          func(rq *request) string { return rq.c.clientPort },
	"server_addr":          func(rq *request) string { return rq.c.serverIP },
	"server_port":          func(rq *request) string { return rq.c.serverPort },
	"server_name":          func(rq *request) string { return rq.srv.firstName() },
	"content_type":         func(rq *request) string { return rq.in.header("Content-Type") },
	"content_length":       func(rq *request) string { return rq.in.header("Content-Length") },
	"http_cookie":          func(rq *request) string { return rq.in.joined("Cookie", "; ") },
	"nginx_version":        func(*request) string { return "1.22.1" },
	"hostname":             func(*request) string { h, _ := os.Hostname(); return h },
	"pid":                  func(*request) string { return strconv.Itoa(os.Getpid()) },
	"msec": func(*request) string {
		now := time.Now()
		return strconv.FormatInt(now.Unix(), 10) + "." + strconv.Itoa(now.Nanosecond()/1e6 + 1000)[1:]
	},
	"time_iso8601": func(*request) string { return time.Now().Format("2006-01-02T15:04:05-07:00") },
	"time_local":   func(*request) string { return time.Now().Format("02/Jan/2006:15:04:05 -0700") },
	"request_id": func(*request) string {
		var b [16]byte
		rand.Read(b[:])
		return hex.EncodeToString(b[:])
	},
	// The status is "000" until an answer is on its way.
	"status": func(rq *request) string {
		if rq.statusCode == 0 {
			return "000"
		}
		return fmt.Sprintf("%03d", rq.status(rq.statusCode))
	},
	"document_root": func(rq *request) string { root, n := rq.mapPath(rq.loc); return root[:n] },
	"realpath_root": func(rq *request) string {
		root, n := rq.mapPath(rq.loc)
		real, err := filepath.EvalSymlinks(root[:n])
		if err != nil {
			return ""
		}
		return real
	},
	"request_filename": func(rq *request) string { path, _ := rq.mapPath(rq.loc); return path },
}

// prefixVar computes the variables named by a prefix: http_NAME (a
// request header), cookie_NAME and arg_NAME.
func prefixVar(name string) func(rq *request) string {
	switch {
	case strings.HasPrefix(name, "http_"):
		h := strings.ReplaceAll(name[5:], "_", "-")
		return func(rq *request) string { return rq.in.header(h) }
	case strings.HasPrefix(name, "cookie_"):
		c := name[7:]
		return func(rq *request) string { return rq.cookie(c) }
	case strings.HasPrefix(name, "arg_"):
		a := name[4:]
		return func(rq *request) string { return rq.arg(a) }
	case strings.HasPrefix(name, "upstream_http_"):
		h := strings.ReplaceAll(name[14:], "_", "-")
		return func(rq *request) string {
			return upstreamField(rq, func(pr *proxyRun) string { return pr.ans.head.Get(h) })
		}
	case strings.HasPrefix(name, "upstream_cookie_"):
		c := name[16:]
		return func(rq *request) string {
			return upstreamField(rq, func(pr *proxyRun) string { return pr.upstreamCookie(c) })
		}
	}
	return nil
}

func ifElse(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}

// host is $host: the Host header as validated (lower-cased, without its
// port), or the server's name.
func (rq *request) host() string {
	if rq.hostName == "" {
		return rq.srv.firstName()
	}
	return rq.hostName
}

// cookie finds a cookie by name, without case, as
// ngx_http_parse_multi_header_lines does.
func (rq *request) cookie(name string) string {
	for _, f := range rq.in.headers {
		if !sameName(f.name, "Cookie") {
			continue
		}
		for _, c := range strings.Split(f.value, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(c), "=")
			if strings.EqualFold(k, name) {
				return v
			}
		}
	}
	return ""
}

// arg finds a query argument by name, without case and without decoding,
// as ngx_http_arg does.
func (rq *request) arg(name string) string {
	for _, a := range strings.Split(rq.args, "&") {
		k, v, _ := strings.Cut(a, "=")
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (s *ServerConf) firstName() string {
	for _, n := range s.Names {
		if n.Regex == nil {
			return n.Name
		}
	}
	return ""
}

// knownVars are the other variables nginx 1.22 has in Debian's build:
// edge knows their names but does not compute them yet.
var knownVars = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(`binary_remote_addr proxy_protocol_addr proxy_protocol_port proxy_protocol_server_addr
		proxy_protocol_server_port bytes_sent
		pipe request_completion request_body request_body_file request_length
		sent_http_content_type sent_http_content_length sent_http_location
		sent_http_last_modified sent_http_connection sent_http_keep_alive sent_http_transfer_encoding
		sent_http_cache_control sent_http_link limit_rate connection connection_requests
		connection_time tcpinfo_rtt tcpinfo_rttvar tcpinfo_snd_cwnd tcpinfo_rcv_space
		msie modern_browser ancient_browser fastcgi_script_name fastcgi_path_info
		grpc_internal_trailers limit_conn_status limit_req_status proxy_add_via
		realip_remote_addr realip_remote_port date_local date_gmt ssl_protocol ssl_cipher ssl_ciphers
		ssl_curve ssl_curves ssl_session_id ssl_session_reused ssl_early_data ssl_server_name
		ssl_alpn_protocol ssl_client_cert ssl_client_raw_cert ssl_client_escaped_cert ssl_client_s_dn
		ssl_client_i_dn ssl_client_s_dn_legacy ssl_client_i_dn_legacy ssl_client_serial
		ssl_client_fingerprint ssl_client_verify ssl_client_v_start ssl_client_v_end
		ssl_client_v_remain connections_active connections_reading connections_writing
		connections_waiting
		upstream_cache_status upstream_cache_last_modified upstream_cache_etag http2 gzip_ratio
		uid_got uid_set uid_reset secure_link secure_link_expires invalid_referer slice_range`) {
		m[n] = true
	}
	return m
}()

// knownPrefix reports the prefix variables edge does not compute yet.
func knownPrefix(name string) bool {
	for _, p := range []string{"sent_http_", "sent_trailer_", "upstream_trailer_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
