package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"edge/internal/errlog"
	"edge/parser"
	"edge/upstream"
)

// The proxy module's content handler (ngx_http_proxy_handler and the
// upstream machinery of ngx_http_upstream.c it drives): the request
// made as nginx makes it, a peer picked and connected, the answer's
// head read and passed on, its body copied. What the backend sees and
// what the client gets are compared with nginx's by integration/diff.

// proxyBufs are the buffers answers' bodies are copied through, whole
// when taken (the spool trims its chunks).
var proxyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func getProxyBuf() *[]byte { return proxyBufs.Get().(*[]byte) }

func putProxyBuf(b *[]byte) {
	*b = (*b)[:cap(*b)]
	proxyBufs.Put(b)
}

// proxyRun is a proxied request's upstream side: its variables
// ($upstream_*, $proxy_host…) and the "upstream:" of its log lines.
type proxyRun struct {
	p          *ProxyConf
	g          *group
	scheme     string // "http" or "https"
	hostHeader string // $proxy_host
	port       string // $proxy_port
	uri        string // the URI sent
	// bodyLength is $proxy_internal_body_length (-1: no body sent).
	bodyLength int64
	body       *requestBody // nil: none
	// buffering is proxy_buffering for this answer (X-Accel-Buffering
	// may change it).
	buffering bool
	// stream says the body goes to the backend as it comes
	// (proxy_request_buffering off); chunked, in chunks.
	stream, chunked bool
	// tries are the peers tried, in order; peer is the one in use.
	tries []upstreamTry
	peer  string
	// head is the request head sent; try the way through the peers;
	// ans the answer read.
	head []byte
	try  upstream.Try
	ans  upstreamAnswer
	// redirected says an error_page took the request elsewhere: the
	// proxy module's variables are gone (nginx clears module contexts),
	// the upstream's stay.
	redirected bool
}

// upstreamTry is one peer tried: $upstream_addr, $upstream_status, the
// times and the bytes.
type upstreamTry struct {
	addr                      string
	status                    int
	connect, header, response time.Duration // -1: not reached
	start                     time.Time
	// length is the answer's body passed on ($upstream_response_length);
	// received and sent the bytes read from and written to the peer.
	length, received, sent int64
}

// proxy answers rq from an upstream: a status for the core to finish
// (an error page), or 0 when it answered.
func (rq *request) proxy(w *response) int {
	p := &rq.loc.Proxy
	// A connection's proxied requests share one proxyRun's memory.
	pr := rq.c.prx
	if pr == nil {
		pr = &proxyRun{}
		rq.c.prx = pr
	}
	*pr = proxyRun{p: p, bodyLength: -1, tries: pr.tries[:0], head: pr.head[:0], try: pr.try,
		ans: upstreamAnswer{head: upstream.Head{Fields: pr.ans.head.Fields[:0]}}}
	rq.prx = pr
	pass := p.pass
	uriPart, hasURI := pass.URI, pass.URI != ""
	pr.g, pr.hostHeader, pr.port, pr.scheme = pass.group, pass.hostHeader, pass.port, pass.Scheme
	if pass.Vars != nil {
		if code := rq.proxyVars(pr, pass, &uriPart, &hasURI); code != 0 {
			return code
		}
	}
	pr.uri = rq.proxyURI(pass, uriPart, hasURI)
	if code := rq.readBody(pr); code != 0 || rq.c.closed {
		return code
	}
	defer pr.body.close()
	return rq.proxyTries(w, pr)
}

// proxyVars makes the target of a proxy_pass with variables: an
// upstream block by name, or an address.
func (rq *request) proxyVars(pr *proxyRun, pass *ProxyPass, uriPart *string, hasURI *bool) int {
	url := pass.Vars.String(rq)
	p := &ProxyPass{URL: url}
	if err := p.parseURL(); err != nil {
		if p.Scheme == "" {
			rq.log(errlog.Error, `invalid URL prefix in "%s"`, url)
		} else {
			rq.log(errlog.Error, "%s", err.Error())
		}
		return http.StatusInternalServerError
	}
	pr.scheme = p.Scheme
	p.setHost()
	pr.hostHeader, pr.port = p.hostHeader, p.port
	*uriPart, *hasURI = p.URI, p.URI != ""
	rt := rq.c.l.rt
	if g := rt.groups[strings.ToLower(p.Host)]; g != nil && g.conf.Pos.File != "" && p.Port == "" {
		pr.g = g
		return 0
	}
	// An address, or a name, which nginx resolves only with a
	// resolver.
	host := strings.Trim(p.Host, "[]")
	resolver := rq.loc.Resolver.Value
	if _, err := netip.ParseAddr(host); err != nil && !strings.HasPrefix(p.Host, "unix:") && resolver == nil {
		rq.log(errlog.Error, "no resolver defined to resolve %s", host)
		return http.StatusBadGateway
	}
	addr := p.Host
	if !strings.HasPrefix(addr, "unix:") {
		addr += ":" + ifElse(p.Port != "", p.Port, p.defaultPort())
	}
	u := upstream.NewConf(addr, pass.Pos)
	srv, err := u.ParseServer([]string{addr})
	if err != nil {
		rq.log(errlog.Error, "%s", err.Error())
		return http.StatusInternalServerError
	}
	u.Servers = []*upstream.Server{srv}
	pr.g = &group{name: addr, conf: u, resolver: resolver, state: &groupState{peers: u.Peers()}}
	return 0
}

// proxyURI is the URI sent, as ngx_http_proxy_create_request makes it:
// a URI part of a proxy_pass with variables as it is; the request's
// own URI when it did not change and no URI part replaces the
// location's name; else the (escaped) URI with the URI part in place of
// the location's name, unless a "rewrite … break" took the location's
// name away, and the arguments.
func (rq *request) proxyURI(pass *ProxyPass, uriPart string, hasURI bool) string {
	if pass.Vars != nil && hasURI {
		return uriPart
	}
	if !hasURI && !rq.uriChanged {
		return rq.in.requestURI
	}
	locLen := 0
	var b strings.Builder
	if !rq.locationLost {
		if hasURI {
			locLen = min(len(pass.location), len(rq.uri))
		}
		b.WriteString(uriPart)
	}
	rest := rq.uri[locLen:]
	if rq.internal || strings.IndexByte(rq.in.requestURI, '%') >= 0 {
		rest = escapeURI(rest)
	}
	b.WriteString(rest)
	if rq.args != "" {
		b.WriteByte('?')
		b.WriteString(rq.args)
	}
	return b.String()
}

// readBody reads the request body whole before the backend is chosen
// (proxy_request_buffering on; nginx's ngx_http_read_client_request_body),
// so that a slow client never holds a backend. A status refuses the
// request; a client gone or too slow closes the connection unanswered.
func (rq *request) readBody(pr *proxyRun) (code int) {
	c := rq.c
	if t := pr.p.SetBody.Value; t != nil {
		// proxy_set_body: its value is the body; the client's is
		// dropped once the answer is sent.
		v := t.String(rq)
		pr.body = &requestBody{rq: rq, mem: []byte(v), size: int64(len(v))}
		pr.bodyLength = pr.body.size
		return 0
	}
	if !pr.p.PassRequestBody.Value {
		return 0
	}
	if c.bodyLeft == 0 && !c.bodyChunked {
		if rq.in.contentLength == 0 {
			pr.bodyLength = 0
		}
		return 0
	}
	body := &requestBody{rq: rq, memory: int(rq.loc.ClientBodyBufferSize.Value)}
	defer func() {
		if code != 0 || rq.c.closed {
			body.close()
		}
	}()
	// proxy_request_buffering off: the body goes to the backend as it
	// comes, in chunks when it came in chunks (which HTTP/1.0 cannot
	// carry: then it is read whole all the same, as nginx does). What
	// came with the head is taken first; a body that came whole with it
	// goes as a buffered one does.
	stream := !pr.p.RequestBuffering.Value && !(c.bodyChunked && pr.p.HTTPVersion.Value == "1.0")
	if stream {
		// What came with the head stays in memory, whatever its size.
		body.memory = max(body.memory, len(c.buf))
	} else {
		rq.sendContinue()
		if err := c.flush(); err != nil {
			return rq.clientGone(err, "reading client request body")
		}
	}
	chunked := c.bodyChunked
	status, err := rq.bodyPieces(func(piece []byte, _ bool) error { return body.write(piece) }, &body.size, !stream, "reading client request body")
	switch {
	case err == errClientGone:
		return 0
	case err != nil:
		return http.StatusInternalServerError
	case status != 0:
		return status
	}
	pr.body, pr.bodyLength = body, body.size
	if stream && (c.bodyLeft > 0 || c.bodyChunked) {
		pr.stream, pr.chunked = true, chunked
		pr.bodyLength = -1
		if !chunked {
			pr.bodyLength = rq.in.contentLength
		}
	}
	return 0
}

// errClientGone is a client that closed or stopped sending its body:
// logged, and the connection closes without an answer.
var errClientGone = errors.New("client gone")

// bodyPieces passes the request body's data to emit as it is read
// (last with a chunked body's end): what the connection holds, then,
// when wait, reads within client_body_timeout. A chunked body is checked
// against client_max_body_size as each chunk is announced, against
// *size, the data so far. It returns the status the request ends with
// (400, 413, logged), errClientGone, or emit's error.
func (rq *request) bodyPieces(emit func(piece []byte, last bool) error, size *int64, wait bool, while string) (int, error) {
	c := rq.c
	limit := rq.loc.ClientMaxBodySize.Value
	c.setReadDeadline(rq.loc.ClientBodyTimeout.Value)
	for c.bodyLeft > 0 || c.bodyChunked {
		if c.r == c.n {
			if !wait {
				return 0, nil
			}
			if err := c.fill(readBufSize); err != nil {
				rq.clientGone(err, while)
				return 0, errClientGone
			}
			c.setReadDeadline(rq.loc.ClientBodyTimeout.Value)
		}
		if !c.bodyChunked {
			n := int(min(int64(c.n-c.r), c.bodyLeft))
			if err := emit(c.buf[c.r:c.r+n], false); err != nil {
				return 0, err
			}
			c.r += n
			c.bodyLeft -= int64(n)
			continue
		}
		n, piece, done, ok := c.chunk.Next(c.buf[c.r:c.n])
		if !ok {
			rq.log(errlog.Info, "client sent invalid chunked body")
			c.bodyChunked = false
			rq.rw.close = true
			return http.StatusBadRequest, nil
		}
		c.r += n
		// ngx_http_request_body_chunked_filter checks each chunk's size
		// against the limit as it is announced.
		if chunk := c.chunk.Announced(); chunk > 0 && limit > 0 && limit-*size < chunk {
			rq.log(errlog.Error, "client intended to send too large chunked body: %d+%d bytes", *size, chunk)
			c.bodyChunked = false
			rq.rw.close = true
			return http.StatusRequestEntityTooLarge, nil
		}
		if len(piece) > 0 || done {
			if err := emit(piece, done); err != nil {
				return 0, err
			}
		}
		if done {
			c.bodyChunked = false
		}
	}
	return 0, nil
}

// requestBody is a request body read whole: in memory up to
// client_body_buffer_size, the rest in a temporary file (nginx's
// ngx_http_write_request_body, with its warning).
type requestBody struct {
	rq     *request
	memory int
	mem    []byte
	file   *os.File
	size   int64
}

func (b *requestBody) write(p []byte) error {
	b.size += int64(len(p))
	if b.file == nil && len(b.mem)+len(p) <= b.memory {
		b.mem = append(b.mem, p...)
		return nil
	}
	if b.file == nil {
		f, err := os.CreateTemp("", "edge-body-")
		if err != nil {
			b.rq.log(errlog.Crit, "creating a temporary file for the request body failed%s", parser.Errno(err))
			return err
		}
		os.Remove(f.Name()) // it lives as long as it is open
		b.rq.log(errlog.Warn, "a client request body is buffered to a temporary file %s", f.Name())
		b.file = f
		if _, err := f.Write(b.mem); err != nil {
			return b.failed(err)
		}
		b.mem = nil
	}
	if _, err := b.file.Write(p); err != nil {
		return b.failed(err)
	}
	return nil
}

func (b *requestBody) failed(err error) error {
	b.rq.log(errlog.Crit, "writing the request body to a temporary file failed%s", parser.Errno(err))
	return err
}

// reader reads the body in the file from its start (each peer tried
// gets it whole); a limited *os.File, which sendfile(2) can send.
func (b *requestBody) reader() (io.Reader, error) {
	if _, err := b.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.LimitReader(b.file, b.size), nil
}

func (b *requestBody) close() {
	if b != nil && b.file != nil {
		b.file.Close()
		b.file = nil
	}
}

// clientGone ends a request whose client closed, reset or stopped
// sending: nginx logs it at info and closes without an answer (408 in
// the access log for a timeout, else 400; 499 once the backend was
// asked).
func (rq *request) clientGone(err error, while string) int {
	rq.c.closed = true
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		rq.log(errlog.Info, "client timed out (110: Connection timed out) while %s", while)
		rq.statusCode = http.StatusRequestTimeout
	case errors.Is(err, io.EOF):
		rq.log(errlog.Info, "client prematurely closed connection while %s", while)
		rq.statusCode = http.StatusBadRequest
	default:
		rq.log(errlog.Info, "recv() failed%s while %s", parser.Errno(err), while)
		rq.statusCode = http.StatusBadRequest
	}
	return 0
}

// proxyHead is the request head sent to the backend.
func (rq *request) proxyHead(pr *proxyRun) []byte {
	p := pr.p
	b := pr.head[:0]
	if p.Method.Value != nil {
		b = p.Method.Value.eval(rq, b)
	} else {
		b = append(b, rq.method...)
	}
	b = append(b, ' ')
	b = append(b, pr.uri...)
	b = append(b, " HTTP/"...)
	b = append(b, p.HTTPVersion.Value...)
	b = append(b, "\r\n"...)
	for _, h := range p.headers {
		if h.value == nil {
			continue
		}
		mark := len(b)
		b = append(b, h.name...)
		b = append(b, ": "...)
		vstart := len(b)
		b = h.value.eval(rq, b)
		if len(b) == vstart {
			b = b[:mark] // an empty value is not sent
			continue
		}
		b = append(b, "\r\n"...)
	}
	if p.PassRequestHeaders.Value {
		for _, f := range rq.in.headers {
			var lb [64]byte
			if p.skip[string(lower(lb[:0], f.name))] {
				continue
			}
			b = append(b, f.name...)
			b = append(b, ": "...)
			b = append(b, f.value...)
			b = append(b, "\r\n"...)
		}
	}
	pr.head = append(b, "\r\n"...)
	return pr.head
}

// lower appends s in lower case to b: a map key without an allocation
// (m[string(b)] makes none) for names that fit.
func lower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// proxyTries picks peers and asks them until one answers, as
// proxy_next_upstream allows; the answer is then passed on.
func (rq *request) proxyTries(w *response, pr *proxyRun) int {
	p := pr.p
	g := pr.g
	head := rq.proxyHead(pr)
	try := &pr.try
	g.state.peers.Start(try)
	if n := int(p.NextUpstreamTries.Value); n > 0 && try.Tries > n {
		try.Tries = n
	}
	var start time.Time // the first try's
	for {
		peer := rq.pick(g, try)
		if peer == nil {
			rq.log(errlog.Error, "no live upstreams while connecting to upstream")
			pr.tries = append(pr.tries, upstreamTry{addr: g.name, status: http.StatusBadGateway, connect: -1, header: -1, response: -1})
			return rq.proxyFail(http.StatusBadGateway)
		}
		t := upstreamTry{addr: peer.Name, start: time.Now(), connect: -1, header: -1, response: -1}
		if start.IsZero() {
			start = t.start
		}
		pr.peer = peer.Name
		uc, ft, err := rq.exchange(pr, g, peer.Name, head, &t)
		var bodyErr *clientBodyError
		if errors.As(err, &bodyErr) {
			// The client, not the peer, failed: no other peer is tried.
			pr.tries = append(pr.tries, t)
			try.Free(false)
			pr.peer = ""
			return bodyErr.status
		}
		// ngx_http_upstream_next: another peer, if the failure is one
		// proxy_next_upstream names, time is left, and the request may
		// be sent again.
		mask := p.NextUpstream.Value
		allowed := mask&ft.bit() != 0 &&
			(p.NextUpstreamTimeout.Value == 0 || time.Since(start) < p.NextUpstreamTimeout.Value) &&
			(idempotent(rq.method) || mask&nextNonIdempotent != 0 || t.connect < 0) &&
			!(pr.stream && t.connect >= 0) // a streamed body cannot be sent again
		// An answer is passed on, even one whose status
		// proxy_next_upstream names when no other peer may be tried
		// (ngx_http_upstream_test_next).
		if err == nil || uc != nil && !(allowed && try.Tries > 1) {
			pr.tries = append(pr.tries, t)
			// The peer is in use until the answer has gone (nginx frees
			// it as the request ends): max_conns and least_conn count
			// streams and upgraded connections.
			code := rq.proxyAnswer(w, pr, uc)
			try.Free(false)
			return code
		}
		status := http.StatusBadGateway
		if ft == failTimeout || ft == failConnectTimeout {
			status = http.StatusGatewayTimeout
		}
		if t.status == 0 {
			t.status = status
		}
		t.response = time.Since(t.start)
		pr.tries = append(pr.tries, t)
		if uc != nil {
			uc.conn.Close()
		}
		if try.Free(ft != failHTTP404 && ft != failHTTP403) {
			rq.log(errlog.Warn, "upstream server temporarily disabled while %s upstream", ft.while())
		}
		if !allowed || try.Tries == 0 {
			return rq.proxyFail(status)
		}
	}
}

func idempotent(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPatch, "LOCK":
		return false
	}
	return true
}

// proxyFail answers a request no peer answered: 502 or 504, which
// error_page may take.
func (rq *request) proxyFail(status int) int {
	rq.prx.peer = ""
	return status
}

// failure is why a peer failed (nginx's NGX_HTTP_UPSTREAM_FT_*).
type failure uint8

const (
	failNone failure = iota
	failError
	failTimeout
	failInvalidHeader
	failHTTP500
	failHTTP502
	failHTTP503
	failHTTP504
	failHTTP403
	failHTTP404
	failHTTP429
	// The connection failed, or timed out: errors and timeouts too.
	failConnect
	failConnectTimeout
)

// while is the log's context of a failure: what nginx was doing.
func (f failure) while() string {
	if f == failConnect {
		return "connecting to"
	}
	return "reading response header from"
}

func (f failure) bit() nextUpstream {
	return [...]nextUpstream{0, nextError, nextTimeout, nextInvalidHeader, next500, next502, next503, next504, next403, next404, next429, nextError, nextTimeout}[f]
}

func statusFailure(code int) failure {
	switch code {
	case 500:
		return failHTTP500
	case 502:
		return failHTTP502
	case 503:
		return failHTTP503
	case 504:
		return failHTTP504
	case 403:
		return failHTTP403
	case 404:
		return failHTTP404
	case 429:
		return failHTTP429
	}
	return failNone
}

// upstreamAnswer is a backend's answer whose head was read.
type upstreamAnswer struct {
	conn *upstream.Conn
	head upstream.Head
}

// exchange sends the request to peer and reads the answer's head. A
// failure is logged as nginx logs it; an answer whose status
// proxy_next_upstream names comes back with its failure, for the
// caller to pass on when it is the last.
func (rq *request) exchange(pr *proxyRun, g *group, peer string, head []byte, t *upstreamTry) (*upstreamAnswer, failure, error) {
	p := pr.p
	var uc *upstream.Conn
	pool := g.state.pool
	for {
		// A streamed body cannot be sent again: no kept connection,
		// which the backend may have closed meanwhile.
		if pool != nil && !pr.stream {
			uc = pool.Get(peer)
		}
		if uc == nil {
			nc, err := upstream.Dial(context.Background(), peer, p.ConnectTimeout.Value, rq.dialOptions(g, p))
			if err != nil {
				var ce *upstream.ConnectError
				if errors.As(err, &ce) && ce.Timeout {
					rq.log(errlog.Error, "%s while connecting to upstream", err.Error())
					return nil, failConnectTimeout, err
				}
				msg := err.Error()
				if ce != nil && ce.Cause != "" {
					msg += " (" + ce.Cause + ")"
				}
				rq.log(connectLevel(err), "%s while connecting to upstream", msg)
				return nil, failConnect, err
			}
			if pr.scheme == "https" {
				if nc, err = rq.handshake(nc, pr); err != nil {
					return nil, failConnect, err
				}
			}
			uc = upstream.NewConn(nc, peer)
			uc.WakeInOrder()
		}
		t.connect = time.Since(t.start)
		t.sent = int64(len(head))
		if pr.body != nil {
			t.sent += pr.body.size
		}
		err := rq.send(uc, pr, head)
		if err == nil && pr.stream {
			err = rq.streamBody(uc, pr)
		}
		var bodyErr *clientBodyError
		if errors.As(err, &bodyErr) {
			uc.Close()
			return nil, failNone, err
		}
		if err == nil {
			a := &pr.ans
			a.conn = uc
			err = uc.ReadHead(&a.head, p.ReadTimeout.Value, int(p.BufferSize.Value))
			t.received = uc.Received
			if err == nil {
				t.header = time.Since(t.start)
				t.status = a.head.Status
				if a.head.HTTP09 {
					t.status = http.StatusOK
				}
				if f := statusFailure(a.head.Status); f != failNone && p.NextUpstream.Value&f.bit() != 0 {
					return a, f, errors.New("status")
				}
				return a, failNone, nil
			}
		}
		uc.Close()
		if uc.Reused && !isTimeout(err) {
			// A kept connection the backend closed meanwhile: nginx
			// tries again on a new one without counting it.
			uc = nil
			continue
		}
		return nil, rq.logUpstreamError(err), err
	}
}

// dialOptions are how a peer of g is connected to: its resolver, and
// proxy_bind's address (with variables: per request; empty: none).
func (rq *request) dialOptions(g *group, p *ProxyConf) upstream.DialOptions {
	o := upstream.DialOptions{Resolver: g.resolver, KeepAlive: p.SocketKeepalive.Value}
	b := p.Bind.Value
	if b.addr == nil {
		return o
	}
	v := b.addr.String(rq)
	if ap, err := netip.ParseAddrPort(v); err == nil {
		o.Local = ap
	} else if a, err := netip.ParseAddr(v); err == nil {
		o.Local = netip.AddrPortFrom(a, 0)
	} else if v != "" {
		rq.log(errlog.Error, `invalid local address "%s"`, v)
	}
	o.Transparent = b.transparent
	return o
}

// connectLevel is ngx_event_connect_peer's: the errors a network gives
// at error, the others (a missing socket, a permission) at crit.
func connectLevel(err error) errlog.Level {
	var ce *upstream.ConnectError
	if errors.As(err, &ce) && ce.Host != "" {
		return errlog.Error // nginx's resolver logs at error
	}
	for _, e := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ENETDOWN,
		syscall.ENETUNREACH, syscall.EHOSTDOWN, syscall.EHOSTUNREACH} {
		if errors.Is(err, e) {
			return errlog.Error
		}
	}
	return errlog.Crit
}

func isTimeout(err error) bool {
	var re *upstream.ReadError
	return errors.As(err, &re) && re.Timeout || errors.Is(err, os.ErrDeadlineExceeded)
}

// logUpstreamError logs a failed send or head read in nginx's words and
// says what failure it is.
func (rq *request) logUpstreamError(err error) failure {
	var sendErr *sendError
	switch {
	case errors.As(err, &sendErr):
		if errors.Is(sendErr.err, os.ErrDeadlineExceeded) {
			rq.log(errlog.Error, "upstream timed out (110: Connection timed out) while sending request to upstream")
			return failTimeout
		}
		rq.log(errlog.Error, "writev() failed%s while sending request to upstream", parser.Errno(sendErr.err))
		return failError
	case isTimeout(err):
		rq.log(errlog.Error, "upstream timed out (110: Connection timed out) while reading response header from upstream")
		return failTimeout
	case errors.Is(err, upstream.ErrClosed):
		rq.log(errlog.Error, "upstream prematurely closed connection while reading response header from upstream")
		return failError
	case errors.Is(err, upstream.ErrTooBig), errors.Is(err, upstream.ErrInvalidHeader), errors.Is(err, upstream.ErrBothLengths):
		rq.log(errlog.Error, "%s while reading response header from upstream", err.Error())
		return failInvalidHeader
	}
	rq.log(errlog.Error, "%s while reading response header from upstream", err.Error())
	return failError
}

// sendError is a failed write of the request.
type sendError struct{ err error }

func (e *sendError) Error() string { return "send: " + e.err.Error() }

// send writes the head and the body within proxy_send_timeout (a body
// in a file goes by sendfile).
func (rq *request) send(uc *upstream.Conn, pr *proxyRun, head []byte) error {
	p, body := pr.p, pr.body
	if (body == nil || body.size == 0) && !pr.stream {
		// The common request, a head alone: written and its answer
		// awaited in one step (upstream.Conn.SendAndWait).
		sent, werr, rerr := uc.SendAndWait(head, p.ReadTimeout.Value)
		switch {
		case werr != nil:
			return &sendError{werr}
		case rerr != nil:
			return rerr // as ReadHead's: the answer did not come
		case sent:
			return nil
		}
		head = head[uc.Partial():]
	}
	uc.SetWriteDeadline(time.Now().Add(p.SendTimeout.Value))
	var err error
	switch {
	case body == nil || body.size == 0 || pr.stream:
		_, err = uc.Conn.Write(head) // a streamed body follows
	case body.file == nil:
		bufs := net.Buffers{head, body.mem}
		_, err = bufs.WriteTo(uc.Conn)
	default:
		var r io.Reader
		if r, err = body.reader(); err == nil {
			if _, err = uc.Conn.Write(head); err == nil {
				_, err = io.Copy(uc.Conn, r)
			}
		}
	}
	if err != nil {
		return &sendError{err}
	}
	return nil
}

// clientBodyError is a streamed body the client failed to send whole:
// the status the request ends with (0: closed without an answer).
type clientBodyError struct{ status int }

func (e *clientBodyError) Error() string { return "client body: " + strconv.Itoa(e.status) }

// streamBody sends the rest of the request body to the backend as the
// client sends it (proxy_request_buffering off), after what came with
// the head: each write within proxy_send_timeout, a chunked body in
// chunks.
func (rq *request) streamBody(uc *upstream.Conn, pr *proxyRun) error {
	c := rq.c
	p := pr.p
	rq.sendContinue()
	if err := c.flush(); err != nil {
		rq.clientGone(err, "sending request to upstream")
		return &clientBodyError{}
	}
	var frame []byte
	sent := pr.body.size
	emit := func(piece []byte, last bool) error {
		bufs := net.Buffers{piece}
		if pr.chunked {
			frame = frame[:0]
			if len(piece) > 0 {
				frame = strconv.AppendInt(frame, int64(len(piece)), 16)
				frame = append(frame, "\r\n"...)
			}
			bufs = net.Buffers{frame, piece, crlf}
			if last {
				bufs = append(bufs, lastChunk)
			}
			if len(piece) == 0 {
				bufs = net.Buffers{lastChunk}
			}
		}
		uc.SetWriteDeadline(time.Now().Add(p.SendTimeout.Value))
		if _, err := bufs.WriteTo(uc.Conn); err != nil {
			return &sendError{err}
		}
		sent += int64(len(piece))
		return nil
	}
	if len(pr.body.mem) > 0 {
		if err := emit(pr.body.mem, false); err != nil {
			return err
		}
	}
	status, err := rq.bodyPieces(emit, &sent, true, "sending request to upstream")
	switch {
	case err == errClientGone:
		return &clientBodyError{}
	case err != nil:
		return err
	case status != 0:
		return &clientBodyError{status}
	}
	return nil
}

var crlf, lastChunk = []byte("\r\n"), []byte("0\r\n\r\n")

// pick is the group's balancer.
func (rq *request) pick(g *group, try *upstream.Try) *upstream.Peer {
	u := g.conf
	switch u.Method {
	case "least_conn":
		return try.LeastConn()
	case "ip_hash":
		addr, _ := netip.ParseAddr(rq.c.clientIP)
		return try.IPHash(addr)
	case "hash":
		key := g.key.String(rq)
		if g.ring != nil {
			return try.Consistent(g.ring, key)
		}
		return try.Hash(key)
	case "random":
		return try.Random(u.Two)
	}
	return try.RoundRobin()
}

// redirect is the value of an answer's Location or Refresh (from
// prefix on) after proxy_redirect; ok says a rule rewrote it.
func (rq *request) redirect(pr *proxyRun, v string, prefix int) (string, bool) {
	for _, r := range pr.p.Redirects {
		rest := v[prefix:]
		if r.re != nil {
			idx := r.re.match(rest)
			if idx == nil {
				continue
			}
			saved := rq.match
			rq.match = &regexMatch{re: r.re, subject: rest, idx: idx}
			to := r.to.String(rq)
			rq.match = saved
			return v[:prefix] + to, true
		}
		from := r.from.String(rq)
		if strings.HasPrefix(rest, from) {
			return v[:prefix] + r.to.String(rq) + rest[len(from):], true
		}
	}
	return v, false
}

// proxyAnswer passes the backend's answer on: its status line, its
// headers but those nginx hides, its body.
func (rq *request) proxyAnswer(w *response, pr *proxyRun, a *upstreamAnswer) int {
	p := pr.p
	h := &a.head
	uc := a.conn
	t := &pr.tries[len(pr.tries)-1]
	if h.HTTP09 {
		return rq.proxy09(w, pr, a)
	}
	// proxy_intercept_errors: an error status the location has an
	// error_page for is answered by it.
	if p.InterceptErrors.Value && h.Status >= 300 && rq.hasErrorPage(h.Status) {
		uc.Close()
		t.response = time.Since(t.start)
		return h.Status
	}
	if v := h.Get("X-Accel-Redirect"); v != "" && p.IgnoreHeaders&ignoreAccelRedirect == 0 {
		return rq.accelRedirect(w, pr, a, v)
	}
	// X-Accel-Buffering: the backend says whether its answer may wait
	// in edge (server-sent events say "no").
	pr.buffering = p.Buffering.Value
	if v := h.Get("X-Accel-Buffering"); v != "" && p.IgnoreHeaders&ignoreAccelBuffering == 0 {
		switch {
		case strings.EqualFold(v, "yes"):
			pr.buffering = true
		case strings.EqualFold(v, "no"):
			pr.buffering = false
		}
	}
	rq.sendContinue()
	w.statusLine = h.StatusLine
	w.upstream = true
	upgrade := h.Status == http.StatusSwitchingProtocols && rq.in.header("Upgrade") != ""
	hdr := w.Header()
	var lb [64]byte
	for _, f := range h.Fields {
		lkey := lower(lb[:0], f.Name)
		if p.hide[string(lkey)] {
			continue
		}
		switch string(lkey) {
		case "connection", "keep-alive", "transfer-encoding":
			continue
		case "set-cookie":
			if p.CookieDomains.list != nil || p.CookiePaths.list != nil || p.CookieFlags.list != nil {
				hdr.Add(f.Name, rq.rewriteCookie(p, f.Value))
				continue
			}
		case "server":
			w.passedServer = true
		case "date":
			w.passedDate = true
		case "location", "refresh":
			if pr.p.Redirects == nil {
				break
			}
			refresh := string(lkey) == "refresh"
			prefix := 0
			if refresh {
				if prefix = strings.Index(strings.ToLower(f.Value), "url="); prefix < 0 {
					break
				}
				prefix += 4
			}
			v, ok := rq.redirect(pr, f.Value, prefix)
			w.locationRewritten = w.locationRewritten || ok && !refresh
			hdr.Add(f.Name, v)
			continue
		}
		hdr.Add(f.Name, f.Value)
	}
	status := h.Status
	rq.statusCode = status
	if upgrade {
		rq.upgrade(w, pr, uc)
		return 0
	}
	noBody := rq.method == http.MethodHead
	body := uc.Body(h, noBody, p.ReadTimeout.Value)
	headersFilter(w, rq, rq.status(status))
	w.WriteHeader(rq.status(status))
	pool := pr.g.state.pool
	rq.copyBody(w, pr, body, func(ok bool) {
		t.response = time.Since(t.start)
		t.received = uc.Received
		if !noBody {
			t.length = uc.Received - int64(uc.HeadLen) // the body as it came, chunked or not
		}
		if ok && body.Done() && !h.Close && body.Buffered() == 0 && pool != nil {
			pool.Put(uc)
		} else {
			uc.Close()
		}
	})
	return 0
}

// rewriteCookie applies proxy_cookie_domain and proxy_cookie_path to a
// Set-Cookie value (nginx's ngx_http_proxy_rewrite_cookie): the first
// rule that matches an attribute's value rewrites it; a cookie changed
// is written again with its attributes joined by "; ".
func (rq *request) rewriteCookie(p *ProxyConf, v string) string {
	attrs := strings.Split(v, ";")
	changed := false
	for i := 1; i < len(attrs); i++ {
		a := strings.TrimLeft(attrs[i], " \t")
		key, value, ok := strings.Cut(a, "=")
		if !ok {
			continue
		}
		var rules []proxyRedirect
		domain := false
		switch {
		case strings.EqualFold(key, "domain"):
			rules, domain = p.CookieDomains.list, true
		case strings.EqualFold(key, "path"):
			rules = p.CookiePaths.list
		default:
			continue
		}
		if nv, ok := rq.rewriteValue(rules, value, domain); ok {
			attrs[i], changed = key+"="+nv, true
		}
	}
	if p.CookieFlags.list != nil {
		if flagged, ok := rq.cookieFlags(p.CookieFlags.list, attrs); ok {
			attrs, changed = flagged, true
		}
	}
	if !changed {
		return v
	}
	for i := range attrs {
		attrs[i] = strings.TrimLeft(attrs[i], " \t")
	}
	return strings.Join(attrs, "; ")
}

// cookieFlags applies the first proxy_cookie_flags rule whose cookie
// matches the cookie's name (ngx_http_proxy_rewrite_cookie_flags):
// secure, httponly and samesite=… are added where missing (samesite
// replaced), their no… forms removed.
func (rq *request) cookieFlags(rules []cookieFlagRule, attrs []string) ([]string, bool) {
	name, _, _ := strings.Cut(strings.TrimSpace(attrs[0]), "=")
	for _, r := range rules {
		if r.cookie.re != nil {
			if r.cookie.re.match(name) == nil {
				continue
			}
		} else if r.cookie.from.String(rq) != name {
			continue
		}
		out := attrs
		for _, t := range r.flags {
			out = applyCookieFlag(out, strings.ToLower(t.String(rq)))
		}
		return out, true
	}
	return attrs, false
}

// applyCookieFlag adds or removes one attribute; another word changes
// nothing, as in nginx 1.22.
func applyCookieFlag(attrs []string, flag string) []string {
	find := func(key string) int {
		for i := 1; i < len(attrs); i++ {
			k, _, _ := strings.Cut(strings.TrimSpace(attrs[i]), "=")
			if strings.EqualFold(k, key) {
				return i
			}
		}
		return -1
	}
	remove := func(key string) {
		if i := find(key); i > 0 {
			attrs = append(attrs[:i:i], attrs[i+1:]...)
		}
	}
	switch flag {
	case "secure":
		if find("secure") < 0 {
			attrs = append(attrs, "Secure")
		}
	case "httponly":
		if find("httponly") < 0 {
			attrs = append(attrs, "HttpOnly")
		}
	case "samesite=strict", "samesite=lax", "samesite=none":
		value := map[string]string{"samesite=strict": "Strict", "samesite=lax": "Lax", "samesite=none": "None"}[flag]
		if i := find("samesite"); i > 0 {
			attrs[i] = "SameSite=" + value
		} else {
			attrs = append(attrs, "SameSite="+value)
		}
	case "nosecure":
		remove("secure")
	case "nohttponly":
		remove("httponly")
	case "nosamesite":
		remove("samesite")
	}
	return attrs
}

// rewriteValue is the first rule of rules that rewrites a cookie's
// domain or path: a regex replaces the whole value; a string, the prefix
// it matches (for a domain: the whole value, without case, a leading dot
// kept).
func (rq *request) rewriteValue(rules []proxyRedirect, v string, domain bool) (string, bool) {
	for _, r := range rules {
		if r.re != nil {
			idx := r.re.match(v)
			if idx == nil {
				continue
			}
			saved := rq.match
			rq.match = &regexMatch{re: r.re, subject: v, idx: idx}
			to := r.to.String(rq)
			rq.match = saved
			return to, true
		}
		from := r.from.String(rq)
		if domain {
			dot := ""
			rest := v
			if strings.HasPrefix(v, ".") {
				dot, rest = ".", v[1:]
			}
			from = strings.TrimPrefix(from, ".")
			if strings.EqualFold(rest, from) {
				return dot + r.to.String(rq), true
			}
			continue
		}
		if strings.HasPrefix(v, from) {
			return r.to.String(rq) + v[len(from):], true
		}
	}
	return v, false
}

// accelRedirectKept are the headers of an answer with X-Accel-Redirect
// that the redirected request keeps (the "redirect" column of nginx's
// ngx_http_upstream_headers_in).
var accelRedirectKept = []string{"Content-Type", "Set-Cookie", "Content-Disposition", "Cache-Control", "Expires", "Accept-Ranges"}

// accelRedirect is nginx's X-Accel-Redirect: the backend names a URI
// (or a named location) that answers instead, internally — a protected
// download the application allowed, served by edge. The answer's body
// is dropped.
func (rq *request) accelRedirect(w *response, pr *proxyRun, a *upstreamAnswer, to string) int {
	a.conn.Close()
	t := &pr.tries[len(pr.tries)-1]
	t.response = time.Since(t.start)
	hdr := w.Header()
	for _, f := range a.head.Fields {
		for _, k := range accelRedirectKept {
			if strings.EqualFold(f.Name, k) {
				hdr.Add(f.Name, f.Value)
			}
		}
	}
	if strings.HasPrefix(to, "@") {
		pr.redirected = true
		rq.named = to
		return internalRedirect
	}
	uri, args, _ := strings.Cut(to, "?")
	if unsafeURI(uri) {
		rq.log(errlog.Error, `unsafe URI "%s" was detected while reading response header from upstream`, uri)
		return http.StatusNotFound
	}
	pr.redirected = true
	if rq.method != http.MethodHead {
		rq.method = http.MethodGet
	}
	rq.uri, rq.args, rq.restart, rq.internal = uri, args, true, true
	return internalRedirect
}

// unsafeURI is ngx_http_parse_unsafe_uri's verdict: a path that climbs
// out with "..", or holds a NUL.
func unsafeURI(uri string) bool {
	if strings.IndexByte(uri, 0) >= 0 || uri == ".." || strings.HasPrefix(uri, "../") {
		return true
	}
	return strings.Contains(uri, "/../") || strings.HasSuffix(uri, "/..")
}

// copyBody sends the answer's body to the client: each read from the
// backend within proxy_read_timeout; with proxy_buffering off, each
// piece flushed at once; on, what has not come with the head goes
// through a spool, so that the backend is released as soon as it has
// answered. A backend that fails half-way ends the client's connection
// too, as nginx does. release gets the backend connection back, and
// whether its answer was read whole.
func (rq *request) copyBody(w *response, pr *proxyRun, body *upstream.Body, release func(ok bool)) error {
	c := rq.c
	bp := getProxyBuf()
	defer putProxyBuf(bp)
	buf := *bp
	for {
		// What the backend has sent goes on in one piece, as nginx's
		// buffers take it.
		n, err := body.Read(buf)
		for err == nil && n < len(buf) {
			m, merr := body.ReadBuffered(buf[n:])
			if m == 0 && merr == nil {
				break
			}
			n, err = n+m, merr
		}
		if err == nil && pr.buffering {
			return rq.spoolBody(w, pr, body, buf[:n], release)
		}
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				rq.log(errlog.Info, "client prematurely closed connection while sending to client")
				release(err == io.EOF || pr.p.IgnoreClientAbort.Value && drain(body))
				return werr
			}
			if !pr.buffering {
				c.flush()
			}
		}
		if err == io.EOF {
			release(true)
			return nil
		}
		if err != nil {
			release(false)
			rq.logBodyError(err)
			// What came is sent; the connection ends without the
			// body's end, so that the client sees it cut short.
			w.close = true
			c.flush()
			c.closed = true
			return err
		}
	}
}

// drain reads the rest of an answer nobody will get
// (proxy_ignore_client_abort): the backend finishes its work, and its
// connection may be kept. It reports whether the body came whole.
func drain(body *upstream.Body) bool {
	bp := getProxyBuf()
	defer putProxyBuf(bp)
	for {
		if _, err := body.Read(*bp); err != nil {
			return err == io.EOF
		}
	}
}

// logBodyError logs a backend that failed while its body was read.
func (rq *request) logBodyError(err error) {
	switch {
	case isTimeout(err):
		rq.log(errlog.Error, "upstream timed out (110: Connection timed out) while reading upstream")
	default:
		rq.log(errlog.Error, "%s while reading upstream", err.Error())
	}
}

// proxy09 passes an answer without a valid status line as nginx does:
// as it came, without a head, the connection closed after it.
func (rq *request) proxy09(w *response, pr *proxyRun, a *upstreamAnswer) int {
	rq.log(errlog.Error, "upstream sent no valid HTTP/1.0 header while reading response header from upstream")
	rq.statusCode = 9 // nginx's $status of an HTTP/0.9 answer: "009"
	pr.buffering = pr.p.Buffering.Value
	w.sent, w.status, w.close = true, http.StatusOK, true
	body := a.conn.Body(&a.head, false, pr.p.ReadTimeout.Value)
	rq.c.outBuffer()
	rq.copyBody(w, pr, body, func(bool) {
		t := &pr.tries[len(pr.tries)-1]
		t.received, t.length = a.conn.Received, a.conn.Received
		a.conn.Close()
	})
	return 0
}

// hasErrorPage says the location has an error_page for code.
func (rq *request) hasErrorPage(code int) bool {
	for _, ep := range rq.loc.ErrorPages {
		if ep.code == code {
			return true
		}
	}
	return false
}

// upstreamURL is the "upstream:" of log lines: the scheme, the peer and
// the URI sent ("http://unix:/x.sock:/uri" for a unix socket).
func (pr *proxyRun) upstreamURL() string {
	sep := ""
	if strings.HasPrefix(pr.peer, "unix:") {
		sep = ":"
	}
	return pr.scheme + "://" + pr.peer + sep + pr.uri
}

// proxyVars are the proxy and upstream variables.
var proxyVars = map[string]func(rq *request) string{
	"proxy_host": func(rq *request) string { return proxyField(rq, func(pr *proxyRun) string { return pr.hostHeader }) },
	"proxy_port": func(rq *request) string { return proxyField(rq, func(pr *proxyRun) string { return pr.port }) },
	"proxy_add_x_forwarded_for": func(rq *request) string {
		if xff := rq.in.joined("X-Forwarded-For", ", "); xff != "" {
			return xff + ", " + rq.c.clientIP
		}
		return rq.c.clientIP
	},
	"proxy_internal_body_length": func(rq *request) string {
		return proxyField(rq, func(pr *proxyRun) string {
			if pr.bodyLength < 0 {
				return ""
			}
			return strconv.FormatInt(pr.bodyLength, 10)
		})
	},
	"proxy_internal_chunked": func(rq *request) string {
		return proxyField(rq, func(pr *proxyRun) string { return ifElse(pr.chunked, "chunked", "") })
	},
	"upstream_addr": func(rq *request) string {
		return upstreamList(rq, func(t *upstreamTry) string { return t.addr })
	},
	"upstream_status": func(rq *request) string {
		return upstreamList(rq, func(t *upstreamTry) string {
			if t.status == 0 {
				return "-"
			}
			return strconv.Itoa(t.status)
		})
	},
	"upstream_response_length": func(rq *request) string {
		return upstreamList(rq, func(t *upstreamTry) string { return strconv.FormatInt(t.length, 10) })
	},
	"upstream_bytes_received": func(rq *request) string {
		return upstreamList(rq, func(t *upstreamTry) string { return strconv.FormatInt(t.received, 10) })
	},
	"upstream_bytes_sent": func(rq *request) string {
		return upstreamList(rq, func(t *upstreamTry) string { return strconv.FormatInt(t.sent, 10) })
	},
	"upstream_connect_time": func(rq *request) string {
		return upstreamTimes(rq, func(t *upstreamTry) time.Duration { return t.connect })
	},
	"upstream_header_time": func(rq *request) string {
		return upstreamTimes(rq, func(t *upstreamTry) time.Duration { return t.header })
	},
	"upstream_response_time": func(rq *request) string {
		return upstreamTimes(rq, func(t *upstreamTry) time.Duration { return t.response })
	},
}

// upstreamCookie is $upstream_cookie_NAME: the value of the cookie NAME
// that the answer's Set-Cookie headers set.
func (pr *proxyRun) upstreamCookie(name string) string {
	for _, f := range pr.ans.head.Fields {
		if !strings.EqualFold(f.Name, "Set-Cookie") {
			continue
		}
		k, v, _ := strings.Cut(f.Value, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			v, _, _ = strings.Cut(v, ";")
			return v
		}
	}
	return ""
}

// upstreamField is an upstream variable: it outlives an error_page's
// redirect, as nginx's r->upstream does.
func upstreamField(rq *request, f func(*proxyRun) string) string {
	if rq.prx == nil {
		return ""
	}
	return f(rq.prx)
}

func proxyField(rq *request, f func(*proxyRun) string) string {
	if rq.prx == nil || rq.prx.redirected {
		return ""
	}
	return f(rq.prx)
}

// upstreamList joins a value of every peer tried with ", ", as nginx's
// upstream variables do; "" before any.
func upstreamList(rq *request, f func(*upstreamTry) string) string {
	if rq.prx == nil || len(rq.prx.tries) == 0 {
		return ""
	}
	var b strings.Builder
	for i := range rq.prx.tries {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f(&rq.prx.tries[i]))
	}
	return b.String()
}

// upstreamTimes is a time of every peer tried, in seconds with
// milliseconds; "-" where it was not reached.
func upstreamTimes(rq *request, f func(*upstreamTry) time.Duration) string {
	return upstreamList(rq, func(t *upstreamTry) string {
		d := f(t)
		if d < 0 {
			return "-"
		}
		ms := d.Milliseconds()
		return strconv.FormatInt(ms/1000, 10) + "." + strconv.FormatInt(ms%1000+1000, 10)[1:]
	})
}
