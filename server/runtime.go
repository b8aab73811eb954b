package server

import (
	"context"
	"edge/internal/errlog"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"edge/parser"
)

// Runtime is a compiled configuration, ready to answer requests. It opens
// no sockets; Serve does.
//
// This is the first cut of the serving core (issue #3): it answers
// `return` and nginx's 404 page. The location tree, static files and the
// rest arrive with issue #4, and a configuration that uses a directive
// still pending is refused by Compile rather than served wrongly.
type Runtime struct {
	listeners map[string]*listener // by listenKey
	order     []string
	files     map[string]*logFile // the log files, by path
	buffered  map[*logFile]*bufferedLog
	syslogs   []*syslogPeer
	mainLog   []*errlog.Logger  // the main level's error logs
	groups    map[string]*group // the upstreams, by lower-case name
	prev      *Runtime          // while compiling a reload: the Runtime in force

	// checks are the health checks; stopCheck stops them, checking
	// counts those running.
	checks    []runningCheck
	stopCheck context.CancelFunc
	checking  sync.WaitGroup

	// active counts the requests running on this Runtime; once it is
	// retired (another is in force) and they have ended, its files close.
	active    atomic.Int64
	retired   atomic.Bool
	closeOnce sync.Once
}

// listener is a listen address compiled: its servers' names, how heads
// are read on it, and its open connections.
type listener struct {
	rt     *Runtime
	addr   *ListenAddr
	names  *serverNames
	slots  int    // configuration variables a request holds
	prefix string // nginx's prefix (-p), with its slash
	// head and headerTimeout are the default server's settings.
	head          headOptions
	headerTimeout time.Duration
}

func newListener(rt *Runtime, a *ListenAddr, h *HTTPConf, prefix string) *listener {
	d := a.Default.Loc
	bufs := d.LargeClientHeaderBuffers.Value
	return &listener{rt: rt, addr: a, names: compileServerNames(a), slots: h.vars.defined, prefix: prefix,
		head: headOptions{underscores: d.UnderscoresInHeaders.Value, ignoreInvalid: d.IgnoreInvalidHeaders.Value,
			mergeSlashes: d.MergeSlashes.Value, firstSize: int(d.ClientHeaderBufferSize.Value), largeSize: int(bufs.Size), largeNum: bufs.Num},
		headerTimeout: d.ClientHeaderTimeout.Value}
}

// Compile checks that everything in m can be served and builds a Runtime.
func Compile(m *MainConf) (*Runtime, error) { return compile(m, nil) }

// compile is Compile for a reload: the log files prev has open are
// shared rather than opened again (edge may no longer have the rights
// to, once it runs as the user directive's user).
func compile(m *MainConf, prev *Runtime) (*Runtime, error) {
	if len(m.Pending) > 0 {
		u := m.Pending[0]
		return nil, parser.Errorf(u.Dir.End, `"%s" directive is not served yet (planned in issue %s); "edge -t" accepts it`, u.Dir.Name, u.Cmd.Planned)
	}
	if m.HTTP != nil {
		if err := m.HTTP.vars.servable(); err != nil {
			return nil, err
		}
	}
	rt, err := build(m, prev)
	if err != nil {
		return nil, err
	}
	rt.prev = prev
	defer func() { rt.prev = nil }()
	if err := rt.openErrorLogs(m); err != nil {
		rt.closeFiles()
		return nil, err
	}
	if err := rt.openAccessLogs(m); err != nil {
		rt.closeFiles()
		return nil, err
	}
	return rt, nil
}

// Check runs the checks of Compile that nginx makes too (what `edge -t`
// reports), accepting directives that are not served yet, and then tries
// each listen address as nginx's -t does.
func Check(m *MainConf) error {
	if _, err := build(m, nil); err != nil {
		return err
	}
	if m.HTTP == nil {
		return nil
	}
	for _, a := range m.HTTP.Addrs {
		if err := probeListen(a); err != nil {
			return err
		}
	}
	return nil
}

// probeListen binds an address and lets it go. An address in use is
// fine: the running server may hold it, and nginx's -t ignores that too
// (ngx_open_listening_sockets); a permission or address error is not. A
// unix socket the probe created is removed again, as nginx does.
func probeListen(a *ListenAddr) error {
	ln, err := openListener(a)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil
	}
	if err != nil {
		return &parser.Error{Msg: "bind() to " + a.Text + " failed" + parser.Errno(err), Err: err}
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(true)
	}
	return ln.Close()
}

// openLogFiles opens (creating) every log file, as nginx's ngx_init_cycle
// does even for -t, so a missing directory fails now and not at the first
// request. The files are closed again: the logging module owns them.
func openLogFiles(m *MainConf, prev *Runtime) error {
	for _, p := range m.LogFiles {
		if prev != nil && prev.files[p] != nil {
			continue
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return &parser.Error{Msg: `open() "` + p + `" failed` + parser.Errno(err), Err: err}
		}
		f.Close()
	}
	return nil
}

func build(m *MainConf, prev *Runtime) (*Runtime, error) {
	rt := &Runtime{listeners: map[string]*listener{}}
	if m.HTTP != nil {
		for _, a := range m.HTTP.Addrs {
			rt.listeners[listenKey(a)] = newListener(rt, a, m.HTTP, m.Prefix)
			rt.order = append(rt.order, listenKey(a))
		}
		for _, srv := range m.HTTP.Servers {
			srv.tree = compileLocations(srv.Locations)
			srv.named = map[string]*LocationConf{}
			for _, l := range srv.Locations {
				if l.Match == MatchNamed {
					srv.named[l.Path] = l
				}
			}
		}
		if err := rt.compileGroups(m.HTTP, prev); err != nil {
			return nil, err
		}
		if err := rt.compileHealthChecks(m.HTTP); err != nil {
			return nil, err
		}
	}
	if err := openLogFiles(m, prev); err != nil {
		return nil, err
	}
	if err := checkZones(m); err != nil {
		return nil, err
	}
	return rt, nil
}

// handle picks the server by Host and runs its rewrite directives
// (nginx's server rewrite phase), then finds the location and runs its
// own; a changed URI searches the locations again, ten times at most
// (nginx's internal redirection limit).
func (l *listener) handle(rq *request) {
	in := &rq.in
	rq.uri, rq.args, rq.method, rq.prefix = in.path, in.args, in.method, l.prefix
	rq.rw.noBody = in.method == http.MethodHead
	host, _ := validateHost(in.host) // checked with the head
	srv, re := l.names.find(host)
	rq.srv, rq.loc, rq.hostName = srv, srv.Loc, host
	w := &rq.rw
	defer rq.logRequest()
	if re != nil {
		rq.match = &regexMatch{re: re, subject: host, idx: re.match(host)}
	}
	if o := runRewrite(srv.Loc.Rewrite, rq); o.ret != nil || o.redirect != nil {
		if !finish(w, rq, o) {
			return
		}
	} else if o.changed {
		rq.internal = true
	}
	serve(w, rq, srv)
}

// serve finds the location and runs its phases: rewrite, try_files,
// content; a redirect (a changed URI, an index file, try_files, an
// error_page) goes round again, ten times at most (nginx's limit).
func serve(w *response, rq *request, srv *ServerConf) {
	for ; ; rq.redirects++ {
		if rq.redirects > 0 {
			rq.internal = true
		}
		if rq.redirects > 10 {
			rq.log(errlog.Error, `rewrite or internal redirection cycle while processing "%s"`, rq.uri)
			errorPage(w, rq, http.StatusInternalServerError)
			return
		}
		if rq.restart {
			rq.restart, rq.uriChanged = false, true
			if o := runRewrite(srv.Loc.Rewrite, rq); o.ret != nil || o.redirect != nil {
				if finish(w, rq, o) {
					continue
				}
				return
			}
		}
		var loc *LocationConf
		named := rq.named != ""
		if named {
			if loc = srv.named[rq.named]; loc == nil {
				rq.log(errlog.Error, `could not find named location "%s"`, rq.named)
				errorPage(w, rq, http.StatusInternalServerError)
				return
			}
			rq.named = ""
		} else {
			if loc, _ = srv.tree.find(rq.uri); loc == nil {
				loc = srv.Loc
			}
			if loc.Regex != nil {
				rq.match = &regexMatch{re: loc.Regex, subject: rq.uri, idx: loc.Regex.match(rq.uri)}
			}
		}
		rq.loc = loc
		if loc.Internal && !rq.internal {
			if fail(w, rq, http.StatusNotFound) {
				continue
			}
			return
		}
		if loc.limitExcept != nil && !loc.limitAllowed[rq.method] {
			rq.loc = loc.limitExcept
		}
		if !named && rq.tooLarge(rq.loc) {
			rq.log(errlog.Error, "client intended to send too large body: %d bytes", rq.in.contentLength)
			if fail(w, rq, http.StatusRequestEntityTooLarge) {
				continue
			}
			return
		}
		o := runRewrite(rq.loc.Rewrite, rq)
		if o.changed {
			rq.internal = true // nginx counts a rewritten request internal
		}
		if o.changed && !o.brk && o.ret == nil && o.redirect == nil {
			continue
		}
		if o.ret != nil || o.redirect != nil {
			if finish(w, rq, o) {
				continue
			}
			return
		}
		// The access phase, after rewrite: a return above runs even where
		// deny would refuse, as in nginx.
		if code := rq.accessPhase(w); code != 0 {
			if fail(w, rq, code) {
				continue
			}
			return
		}
		// try_files of the level in effect: an if block that matched
		// has none of its own.
		if tf := rq.loc.TryFiles; tf != nil {
			switch tf.try(rq, rq.loc) {
			case tryCode:
				if fail(w, rq, tf.code) {
					continue
				}
				return
			case tryNamed, tryRedirect:
				continue
			}
		}
		switch code := content(w, rq); {
		case code == internalRedirect:
			continue
		case code > 0:
			if fail(w, rq, code) {
				continue
			}
		}
		return
	}
}

// finish answers what the rewrite phase decided; it reports an internal
// redirect (an error_page) for the caller to follow.
func finish(w *response, rq *request, o outcome) bool {
	if o.redirect != nil {
		w.Header().Set("Location", o.location)
		errorPage(w, rq, o.redirect.status)
		return false
	}
	return respond(w, rq, rq.loc, o.ret)
}

// respond answers with a return; an error code without text finishes the
// request as nginx's ngx_http_script_return_code does, where error_page
// applies.
func respond(w *response, rq *request, loc *LocationConf, ret *Return) bool {
	code := ret.Code
	rq.statusCode = code
	if code == 444 {
		// Closed without an answer: nothing is sent, not even what the
		// buffer holds.
		rq.c.closed = true
		return false
	}
	text := ""
	switch {
	case ret.Text != nil:
		text = ret.Text.String(rq)
	case code >= http.StatusBadRequest:
		return fail(w, rq, code)
	case code >= 300:
		errorPage(w, rq, code)
		return false
	}
	if code >= 301 && code <= 308 && code != 304 && code != 305 && code != 306 {
		w.Header().Set("Location", text)
		errorPage(w, rq, code)
		return false
	}
	rq.sendContinue()
	// A text, or an empty answer for "return 200;", as
	// ngx_http_send_response sends it.
	w.Header().Set("Content-Type", loc.contentType(rq.uri))
	w.Header().Set("Content-Length", strconv.Itoa(len(text)))
	headersFilter(w, rq, rq.status(code))
	w.WriteHeader(rq.status(code))
	w.WriteString(text)
	return false
}

// validateHost is ngx_http_validate_host: the Host without its port and
// one trailing dot, lower-cased; ok is false for a host nginx answers 400
// (".." in it, a "/", a control character, nothing left).
func validateHost(h string) (host string, ok bool) {
	if h == "" {
		return "", true // no Host (HTTP/1.0): the default server answers
	}
	dot, end, literal, rest := -2, len(h), false, false
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c == '.':
			if dot == i-1 {
				return "", false
			}
			dot = i
		case c == ':':
			if !rest && !literal {
				end, rest = i, true
			}
		case c == '[':
			if i == 0 {
				literal = true
			}
		case c == ']':
			if literal && !rest {
				end, rest, literal = i+1, true, false
			}
		case c == '/' || c == '\\' || c <= 0x20 || c == 0x7f:
			return "", false
		}
	}
	if dot == end-1 {
		end--
	}
	if end <= 0 {
		return "", false
	}
	return strings.ToLower(h[:end]), true
}

// absoluteRedirect makes a Location that starts with "/" absolute, as
// nginx's header filter does for every answer: with absolute_redirect,
// the server's name (server_name_in_redirect) or the request's host (or,
// without one, the address it came to), and the port unless it is 80 or
// port_in_redirect is off.
func absoluteRedirect(rq *request, loc string) string {
	l := rq.loc
	if !strings.HasPrefix(loc, "/") || !l.AbsoluteRedirect.Value {
		return loc
	}
	host := rq.hostName
	if l.ServerNameInRedirect.Value {
		host = rq.srv.firstName()
	}
	lhost, port := "", ""
	if !rq.c.unix {
		lhost, port = rq.c.serverIP, rq.c.serverPort
	}
	if !l.PortInRedirect.Value {
		port = ""
	}
	if host == "" {
		host = lhost
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	if port != "" && port != "80" {
		host += ":" + port
	}
	return "http://" + host + loc
}

// errorPage writes nginx's built-in page for code, or only the status
// line and headers for a code nginx has no page for.
func errorPage(w *response, rq *request, code int) {
	loc := rq.loc
	title, ok := statusTitles[code]
	if !ok {
		w.Header().Set("Content-Length", "0")
		headersFilter(w, rq, code)
		w.WriteHeader(code)
		return
	}
	rq.expectTested = true
	if (code == 301 || code == 302) && loc.MsieRefresh.Value && uaMSIE(rq.in.header("User-Agent")) {
		sendRefresh(w, rq)
		return
	}
	// An error page is not the file: nginx's special responses drop its
	// validators (ngx_http_clean_header).
	w.Header().Del("ETag")
	w.Header().Del("Last-Modified")
	w.Header().Del("Accept-Ranges")
	switch code {
	case 400, 413, 414, 494, 495, 496, 497, 500, 501:
		// ngx_http_special_response_handler ends keep-alive after these.
		w.close = true
	}
	text := strconv.Itoa(code) + " " + title
	body := "<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" + text +
		"</h1></center>\r\n" + loc.errorTail + "</body>\r\n</html>\r\n"
	if code == 494 {
		// A head too large goes out as a 400 with a page of its own.
		code = http.StatusBadRequest
		body = "<html>\r\n<head><title>400 " + title + "</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n" +
			"<center>" + title + "</center>\r\n" + loc.errorTail + "</body>\r\n</html>\r\n"
	}
	if code >= 400 && loc.MsiePadding.Value && rq.in.minor+rq.in.major*1000 >= 1000 && friendlyErrorPages(rq.in.header("User-Agent")) {
		body += msiePadding
	}
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	headersFilter(w, rq, code)
	w.WriteHeader(code)
	w.WriteString(body)
}

// sendRefresh is ngx_http_send_refresh: for MSIE, a redirect is a 200
// page that refreshes to the Location.
func sendRefresh(w *response, rq *request) {
	h := w.Header()
	body := `<html><head><meta http-equiv="Refresh" content="0; URL=` + escapeRefresh(h.Get("Location")) +
		"\"></head><body></body></html>\r\n"
	for _, n := range []string{"Location", "Accept-Ranges", "Last-Modified", "ETag"} {
		h.Del(n)
	}
	rq.errStatus = http.StatusOK
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	headersFilter(w, rq, http.StatusOK)
	w.WriteHeader(http.StatusOK)
	w.WriteString(body)
}

// escapeRefresh is ngx_escape_uri with NGX_ESCAPE_REFRESH: controls,
// bytes past ASCII, and the characters of refreshEscaped.
func escapeRefresh(s string) string {
	return percentEscape(s, " \"'<>\\^`{|~")
}

// msiePadding is what nginx adds to an error page for browsers that
// would show their own page instead of a short one (msie_padding).
var msiePadding = strings.Repeat("<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n", 6)

// friendlyErrorPages is ngx_http_process_user_agent's msie or chrome: a
// User-Agent with "MSIE " (not Opera), or "Chrome/" without "Gecko/".
func friendlyErrorPages(ua string) bool {
	return uaMSIE(ua) || !strings.Contains(ua, "Opera") && !strings.Contains(ua, "Gecko/") && strings.Contains(ua, "Chrome/")
}

// uaMSIE is ngx_http_process_user_agent's msie.
func uaMSIE(ua string) bool {
	i := strings.Index(ua, "MSIE ")
	return i >= 0 && i+7 < len(ua) && !strings.Contains(ua, "Opera")
}

// uaSafari is ngx_http_process_user_agent's safari: neither MSIE,
// Opera, Gecko nor Chrome, and "Safari/" on "Mac OS X".
func uaSafari(ua string) bool {
	return !uaMSIE(ua) && !strings.Contains(ua, "Opera") && !strings.Contains(ua, "Gecko/") &&
		!strings.Contains(ua, "Chrome/") && strings.Contains(ua, "Safari/") && strings.Contains(ua, "Mac OS X")
}

// statusTitles are the titles of nginx's built-in pages
// (ngx_http_special_response.c), which are not always RFC's reason
// phrases ("405 Not Allowed", "504 Gateway Time-out").
var statusTitles = map[int]string{
	301: "Moved Permanently", 302: "Found", 303: "See Other", 307: "Temporary Redirect",
	308: "Permanent Redirect", 400: "Bad Request", 401: "Authorization Required", 402: "Payment Required",
	403: "Forbidden", 404: "Not Found", 405: "Not Allowed", 406: "Not Acceptable",
	408: "Request Time-out", 494: "Request Header Or Cookie Too Large", 409: "Conflict", 410: "Gone", 411: "Length Required",
	412: "Precondition Failed", 413: "Request Entity Too Large", 414: "Request-URI Too Large",
	415: "Unsupported Media Type", 416: "Requested Range Not Satisfiable", 421: "Misdirected Request",
	429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
	503: "Service Temporarily Unavailable", 504: "Gateway Time-out", 505: "HTTP Version Not Supported",
	507: "Insufficient Storage",
}

// tooLarge is the check of ngx_http_core_find_config_phase: a declared
// body over the location's client_max_body_size, unless the body is gone
// already. A chunked body is not checked here: nginx counts it as it
// reads it, which only the proxy does.
func (rq *request) tooLarge(loc *LocationConf) bool {
	max := loc.ClientMaxBodySize.Value
	if rq.discarded || max == 0 || rq.in.contentLength <= max {
		return false
	}
	rq.discarded = true
	return true
}
