package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"edge/internal/chunked"
	"edge/internal/errlog"
	"edge/internal/fifopoll"
	"edge/parser"
)

// edge's HTTP/1.x connections (nginx's ngx_http_request.c): read a
// request head, answer it, keep the connection for the next one. net/http
// answers malformed requests with its own bytes and costs a header map,
// a buffered reader and writer and a goroutine stack per idle
// connection; docs/performance.md has the measurements behind owning it.
// An idle connection holds no buffer: they come from pools when bytes
// arrive.

// Buffer sizes. A head must fit in large_client_header_buffers
// (number × size); most fit in the first read buffer.
const (
	readBufSize  = 4 << 10
	outBufSize   = 16 << 10
	smallFile    = outBufSize - 1<<10 // read into the output buffer, not sendfile'd
	discardChunk = 16 << 10
)

var (
	readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}
	outBufs  = sync.Pool{New: func() any { b := make([]byte, 0, outBufSize); return &b }}
)

// conn is one client connection: nginx's ngx_connection_t and
// ngx_http_connection_t.
type conn struct {
	nc   net.Conn
	rc   syscall.RawConn
	proc *Process
	port *port
	// l is the address's listener in the Runtime of the request being
	// served (or of the last one).
	l     *listener
	id    uint64 // nginx's "*N" in error log lines
	start time.Time
	// requests counts the connection's requests so far.
	requests int64
	// remote is the client's address; clientIP and clientPort are
	// $remote_addr and $remote_port, serverIP and serverPort
	// $server_addr and $server_port ("unix:" and "unix:/path" on a unix
	// socket, as nginx names them).
	remote               string
	clientIP, clientPort string
	serverIP, serverPort string
	unix                 bool // a unix-socket listener: no client address

	// buf[r:n] are bytes read and not used yet; buf is nil while idle.
	buf    []byte
	bufp   *[]byte
	r, n   int
	out    []byte // the answer being written; nil while idle
	outp   *[]byte
	closed bool // a write failed: stop

	// body is what is left of the request body: bytes, or chunked.
	bodyLeft    int64
	bodyChunked bool
	chunk       chunked.Decoder

	// readDeadline and writeDeadline are the deadlines set, on
	// fifopoll's clock (0: to be set).
	readDeadline, writeDeadline int64

	// idleSince is when the connection began waiting in its goroutine
	// (fifopoll's clock; 0 while busy). idleMu guards its clearing and
	// poked (the sweeper ended that wait to park it), so that no poke
	// comes after the wait ended.
	idleSince atomic.Int64
	idleMu    sync.Mutex
	poked     bool
	// expires is when a parked connection's keepalive_timeout ends
	// (fifopoll's clock).
	expires int64
	// peek is peekReadable as a func value; peeked its state.
	peek   func(fd uintptr) bool
	peeked bool
	// ended is how the client's side ended, as awaitBytes read it: fill
	// reports it.
	ended error
	// fw is the connection's place in fifopoll, where it waits for its
	// next request; nil when it could not join (it waits in Go's
	// poller). fd is its descriptor.
	fw *fifopoll.Waiter
	fd int

	rq request
	// prx is the memory of the connection's proxied requests.
	prx *proxyRun
}

// serveConn answers the requests of one connection until it closes.
func (p *Process) serveConn(pt *port, nc net.Conn) {
	l := p.cur.Load().listeners[pt.key]
	c := &conn{nc: nc, proc: p, port: pt, l: l, id: p.conns.Add(1), start: time.Now()}
	if sc, ok := nc.(syscall.Conn); ok {
		c.rc, _ = sc.SyscallConn()
	}
	c.fd = -1
	if c.rc != nil {
		c.fw, c.fd = fifopoll.Join(c.rc)
	}
	if _, ok := nc.(*net.UnixConn); ok {
		c.unix, c.remote, c.clientIP = true, "unix:", "unix:"
		c.serverIP = "unix:" + nc.LocalAddr().String()
	} else {
		c.remote = nc.RemoteAddr().String()
		c.clientIP, c.clientPort, _ = net.SplitHostPort(c.remote)
		c.serverIP, c.serverPort, _ = net.SplitHostPort(nc.LocalAddr().String())
	}
	if l == nil || !pt.track(c) {
		nc.Close()
		p.live.Done()
		return
	}
	c.setReadDeadline(l.headerTimeout)
	c.run()
}

// resume serves a parked connection whose next request is arriving.
func (c *conn) resume() {
	c.readDeadline = 0 // the sweeper moved it
	c.setReadDeadline(c.l.headerTimeout)
	c.run()
}

// run serves requests until the connection closes or parks.
func (c *conn) run() {
	defer func() {
		if err := recover(); err != nil {
			for _, lg := range c.proc.cur.Load().mainLog {
				lg.Log(errlog.Alert, "*%d panic while serving %s: %v\n%s", c.id, c.remote, err, debug.Stack())
			}
			c.closeConn()
		}
	}()
	for c.serveRequest() {
		if c.proc.draining.Load() {
			break // shutting down: no next request
		}
		if c.r < c.n {
			continue // a pipelined request
		}
		switch c.waitIdle() {
		case idleParked:
			return
		case idleClosed:
			c.closeConn()
			return
		}
	}
	c.closeConn()
}

func (c *conn) closeConn() {
	c.releaseBuffers()
	if c.fw != nil {
		c.fw.Forget()
	}
	c.nc.Close()
	c.port.forget(c)
	c.proc.live.Done()
}

// releaseBuffers gives the buffers back to their pools: an idle
// connection holds none.
func (c *conn) releaseBuffers() {
	if c.bufp != nil && c.r == c.n {
		readBufs.Put(c.bufp)
		c.buf, c.bufp, c.r, c.n = nil, nil, 0, 0
	}
	if c.outp != nil {
		*c.outp = c.out[:0]
		outBufs.Put(c.outp)
		c.out, c.outp = nil, nil
	}
}

const (
	idleReady  = iota // bytes arrived
	idleParked        // handed to the idler
	idleClosed        // closed or timed out
)

// waitIdle waits, holding no buffer, for the next request's first bytes
// for keepalive_timeout (nginx's ngx_http_set_keepalive); past idleGrace
// the connection parks (idle.go). A connection closed or timed out ends
// without a word, as in nginx.
func (c *conn) waitIdle() int {
	c.releaseBuffers()
	timeout := c.rq.loc.Keepalive.Value.Timeout
	now := fifopoll.Now() // its reads of the clock are the cheap one
	c.setReadDeadline(timeout)
	c.idleSince.Store(now)
	c.proc.idle.needSweep(now + int64(idleGrace+sweepEvery))
	if c.ending() {
		// After idleSince, so that a shutdown either sees the
		// connection idle (and pokes it) or is seen here.
		c.idleSince.Store(0)
		return idleClosed
	}
	err := c.awaitBytes(timeout)
	c.idleMu.Lock()
	poked := c.poked
	c.idleSince.Store(0)
	c.poked = false
	c.idleMu.Unlock()
	if poked {
		if c.fw != nil {
			c.fw.Unpoke() // if it came as the wait ended for bytes
		}
		c.readDeadline = 0 // in the past: set it again
		if c.ending() {
			return idleClosed
		}
		if err != nil {
			c.expires = now + int64(timeout)
			c.rq = request{} // a parked connection keeps no request
			if c.proc.idle.park(c) {
				return idleParked
			}
			return idleClosed
		}
		c.setReadDeadline(c.l.headerTimeout)
	}
	if err != nil {
		return idleClosed
	}
	return idleReady
}

// awaitBytes waits for the next request's first bytes, or the client's
// close, for timeout; a poke ends it with an error. Through fifopoll it
// reads them too, without a look first: the socket is edge-triggered,
// so bytes that came since the last read left an event, and an event
// whose bytes were read already finds nothing and is waited past. What
// the read found (bytes, or the end and its error, kept for fill to
// report) is the connection's.
func (c *conn) awaitBytes(timeout time.Duration) error {
	if c.fw == nil || !fifopoll.Begin() {
		if c.peek == nil {
			c.peek = c.peekReadable // made once: a closure per wait allocates
		}
		c.peeked = false
		return c.rc.Read(c.peek)
	}
	defer fifopoll.End()
	// The sweeper pokes a connection idle past idleGrace (it parks, and
	// the idler ends it at keepalive_timeout): only a shorter timeout
	// needs a deadline here.
	var deadline int64
	if timeout < idleGrace+2*sweepEvery {
		deadline = fifopoll.After(timeout)
	}
	for {
		if err := c.fw.Wait(deadline); err != nil {
			return err
		}
		if c.bufp == nil {
			c.bufp = readBufs.Get().(*[]byte)
			c.buf, c.r, c.n = *c.bufp, 0, 0
		}
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(c.fd), uintptr(unsafe.Pointer(&c.buf[c.n])), uintptr(len(c.buf)-c.n))
		switch {
		case e == syscall.EAGAIN || e == syscall.EINTR:
			c.releaseBuffers()
			continue
		case e != 0:
			c.ended = e
		case r == 0:
			c.ended = io.EOF
		default:
			c.n += int(r)
		}
		return nil
	}
}

// peekReadable is waitIdle's look at the socket in Go's poller: the
// first call peeks without waiting, a later one means the poller saw it
// readable.
func (c *conn) peekReadable(fd uintptr) bool {
	if c.peeked {
		return true // the poller says readable: read for real
	}
	c.peeked = true
	var one [1]byte
	_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&one[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return e != syscall.EAGAIN
}

// ending reports that the connection takes no more requests: the process
// is shutting down or its address was closed by a reload.
func (c *conn) ending() bool {
	return c.proc.draining.Load() || c.port.closed.Load()
}

func (c *conn) setReadDeadline(d time.Duration) {
	moveDeadline(&c.readDeadline, d, c.nc.SetReadDeadline)
}

func (c *conn) setWriteDeadline(d time.Duration) {
	moveDeadline(&c.writeDeadline, d, c.nc.SetWriteDeadline)
}

// moveDeadline sets a deadline d from now, unless the one set (*at) is
// at most a second older: a new deadline for every request would cost a
// timer update each. The comparison is on fifopoll's clock, which costs
// less to read than the wall clock a deadline is given in.
func moveDeadline(at *int64, d time.Duration, set func(time.Time) error) {
	t := fifopoll.Now() + int64(d)
	if late := t - *at; *at != 0 && late >= 0 && late < int64(time.Second) {
		return
	}
	*at = t
	set(time.Now().Add(d))
}

// fill reads more bytes into the read buffer, growing it up to limit
// (the head's buffers); it fails on EOF, a timeout or a full buffer.
func (c *conn) fill(limit int) error {
	if err := c.ended; err != nil {
		c.ended = nil
		return err
	}
	if c.bufp == nil {
		c.bufp = readBufs.Get().(*[]byte)
		c.buf = *c.bufp
	}
	if c.r > 0 && c.r == c.n {
		c.r, c.n = 0, 0
	}
	if c.n == len(c.buf) {
		if c.r > 0 {
			c.n = copy(c.buf, c.buf[c.r:c.n])
			c.r = 0
		} else {
			if len(c.buf) >= limit {
				return errHeadTooLarge
			}
			// A head larger than the pooled buffer: nginx's large
			// header buffers, taken for this request only.
			nb := make([]byte, min(limit, 2*len(c.buf)))
			copy(nb, c.buf[:c.n])
			if c.r == 0 && c.n > 0 {
				readBufs.Put(c.bufp)
			}
			c.buf, c.bufp = nb, &nb
		}
	}
	m, err := c.nc.Read(c.buf[c.n:])
	c.n += m
	if m > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

var errHeadTooLarge = errors.New("head too large")

// write adds p to the answer, sending the buffer when it is full.
func (c *conn) write(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.out)+len(p) <= cap(c.out) {
		c.out = append(c.out, p...)
		return len(p), nil
	}
	c.setWriteDeadline(c.rq.loc.SendTimeout.Value)
	bufs := net.Buffers{c.out, p}
	_, err := bufs.WriteTo(c.nc)
	c.out = c.out[:0]
	if err != nil {
		c.closed = true
		return 0, err
	}
	return len(p), nil
}

func (c *conn) writeString(s string) (int, error) {
	if len(c.out)+len(s) <= cap(c.out) {
		c.out = append(c.out, s...)
		return len(s), nil
	}
	return c.write([]byte(s))
}

// flush sends what the answer buffered.
func (c *conn) flush() error {
	if c.closed {
		return net.ErrClosed
	}
	if len(c.out) == 0 {
		return nil
	}
	c.setWriteDeadline(c.rq.loc.SendTimeout.Value)
	_, err := c.nc.Write(c.out)
	c.out = c.out[:0]
	if err != nil {
		c.closed = true
	}
	return err
}

// sendFile sends size bytes of f after the buffered head: the first ones
// in the head's write (a head alone in a packet costs a round of
// acknowledgements), the rest with sendfile(2).
func (c *conn) sendFile(f *file, size int64) (int64, error) {
	off := int64(min(cap(c.out)-len(c.out), int(min(size, 1<<20))))
	if off > 0 {
		n, err := f.ReadAt(c.out[len(c.out):len(c.out)+int(off)], 0)
		if err != nil && n < int(off) {
			c.closed = true
			return 0, err
		}
		c.out = c.out[:len(c.out)+n]
	}
	if err := c.flush(); err != nil {
		return 0, err
	}
	sent := off
	var serr error
	var err error
	for first := true; sent < size && err == nil && serr == nil; first = false {
		if !first {
			// A turn for the other connections between chunks, as
			// nginx's event loop takes one sendfile_max_chunk at a time:
			// without it the fastest connections starve the others.
			runtime.Gosched()
		}
		end := min(size, sent+sendChunk)
		c.setWriteDeadline(c.rq.loc.SendTimeout.Value)
		err = c.rc.Write(func(fd uintptr) bool {
			return c.sendfile(fd, f, &off, &sent, end, &serr)
		})
	}
	if err == nil {
		err = serr
	}
	if err != nil {
		c.closed = true
	}
	return sent, err
}

// sendChunk is how much one connection sends before the others' turn.
const sendChunk = 128 << 10

// sendfile sends f from *off until *sent reaches end; false asks to wait
// until the socket takes more.
func (c *conn) sendfile(fd uintptr, f *file, off, sent *int64, end int64, serr *error) bool {
	for *sent < end {
		n, err := syscall.Sendfile(int(fd), f.fd, off, int(end-*sent))
		*sent += int64(max(n, 0))
		switch {
		case err == syscall.EAGAIN:
			return false
		case err == syscall.EINTR:
		case err != nil:
			*serr = err
			return true
		case n == 0:
			*serr = io.ErrUnexpectedEOF // the file shrank
			return true
		}
	}
	return true
}

// readFileInto reads size bytes of f straight into the output buffer,
// after the head, when they fit: one write for head and body.
func (c *conn) readFileInto(f *file, size int64) bool {
	if int64(cap(c.out)-len(c.out)) < size {
		return false
	}
	start := len(c.out)
	buf := c.out[start : start+int(size)]
	n, err := f.ReadAt(buf, 0)
	if err != nil && n < int(size) {
		return false
	}
	c.out = c.out[:start+int(size)]
	return true
}

// linger reads and drops what the client still sends for a while after
// an answer that closes the connection, so that closing does not reset
// the connection before the client has read the answer (nginx's
// lingering_close, lingering_time 30s, lingering_timeout 5s).
func (c *conn) linger() {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return
	}
	tc.CloseWrite()
	end := time.Now().Add(30 * time.Second)
	var scratch [512]byte
	for time.Now().Before(end) {
		at := time.Now().Add(5 * time.Second)
		if at.After(end) {
			at = end
		}
		c.nc.SetReadDeadline(at)
		if _, err := c.nc.Read(scratch[:]); err != nil {
			return
		}
	}
}

// serveRequest reads one request and answers it; it reports whether the
// connection goes on to another.
func (c *conn) serveRequest() bool {
	rt := c.proc.acquire()
	defer rt.release()
	l := c.l
	if l.rt != rt {
		if l = rt.listeners[c.port.key]; l == nil {
			return false // the address is gone from the configuration
		}
		c.l = l
	}
	o := &l.head
	end, partial := 0, false
	for {
		if c.n > c.r {
			var herr *headError
			if end, herr = scanHead(c.buf[c.r:c.n], o); herr != nil {
				c.rq.reset(c)
				c.rq.in.requestLine = firstLine(c.buf[c.r:c.n], o.largeSize)
				if host, ok := headerBefore(c.buf[c.r:c.n], "Host"); ok && !herr.inLine {
					c.rq.in.headers = append(c.rq.in.headers, field{"Host", host})
					c.rq.in.hostHeader = true
				}
				c.r = c.n
				c.refuse(herr)
				return false
			}
			if end > 0 {
				break
			}
			if !partial {
				// A head on its way: client_header_timeout from now.
				partial = true
				c.setReadDeadline(l.headerTimeout)
			}
		}
		if err := c.fill(o.firstSize + o.largeSize*o.largeNum); err != nil {
			c.readFailed(err, partial)
			return false
		}
	}
	head := string(c.buf[c.r : c.r+end]) // every string of the request is a part of it
	c.r += end
	c.requests++
	rq := &c.rq
	rq.reset(c)
	herr := parseHead(head, &rq.in, o)
	for _, line := range rq.in.ignored {
		c.logInfo(`client sent invalid header line: "`+line+`" while reading client request headers`, true)
	}
	if herr != nil {
		c.refuse(herr)
		return false
	}
	c.bodyLeft, c.bodyChunked, c.chunk = max(rq.in.contentLength, 0), rq.in.chunked, chunked.Decoder{}
	l.handle(rq)
	return c.finish()
}

// finish ends an answer: the chunked body's end, what is left of the
// request body read and dropped, the buffer sent. It reports whether
// the connection stays open for another request.
func (c *conn) finish() bool {
	w := &c.rq.rw
	if !w.sent {
		w.WriteHeader(w.status)
	}
	w.endGzip()
	if w.chunked {
		c.writeString("0\r\n\r\n")
	}
	keep := c.rq.in.keepAlive && !w.close && !c.closed
	if keep && (c.bodyLeft > 0 || c.bodyChunked) {
		keep = c.discardBody()
	}
	if err := c.flush(); err != nil || !keep {
		if err == nil && !c.closed {
			c.linger()
		}
		return false
	}
	return true
}

// readFailed ends a connection whose head did not come: closed, timed
// out or reset. nginx answers nothing; it logs at info, and a head cut
// short in the access log too (408 for a timeout, else 400).
func (c *conn) readFailed(err error, partial bool) {
	timeout := errors.Is(err, os.ErrDeadlineExceeded)
	if !partial {
		switch {
		case c.requests > 0 && timeout:
			// keepalive_timeout: closed without a word
		case c.requests > 0 && errors.Is(err, io.EOF):
			// nginx's keep-alive handler logs this one without a suffix.
			client := c.clientIP
			for _, l := range c.l.addr.Default.Loc.loggers {
				if l.Enabled(errlog.Info) {
					l.Log(errlog.Info, "*%d client %s closed keepalive connection", c.id, client)
				}
			}
		case timeout:
			c.logInfo("client timed out (110: Connection timed out) while waiting for request", false)
		case errors.Is(err, io.EOF):
			c.logInfo("client closed connection while waiting for request", false)
		default:
			c.logInfo("recv() failed"+parser.Errno(err)+" while waiting for request", false)
		}
		return
	}
	rq := &c.rq
	rq.reset(c)
	b := c.buf[c.r:c.n]
	for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	where := " while reading client request line"
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b, where = b[:i], " while reading client request headers"
	}
	rq.in.requestLine = string(b)
	rq.statusCode = http.StatusBadRequest
	switch {
	case timeout:
		rq.statusCode = http.StatusRequestTimeout
		c.logInfo("client timed out (110: Connection timed out)"+where, true)
	case errors.Is(err, io.EOF):
		c.logInfo("client prematurely closed connection"+where, true)
	default:
		c.logInfo("recv() failed"+parser.Errno(err)+where, true)
	}
	rq.logRequest()
}

// refuse answers a head nginx refuses, with the default server's error
// page, and closes: nginx's ngx_http_finalize_request on a parse error.
func (c *conn) refuse(herr *headError) {
	rq := &c.rq
	if rq.c == nil {
		rq.reset(c)
	}
	srv := c.l.addr.Default
	rq.srv, rq.loc = srv, srv.Loc
	c.logInfo(herr.msg+herr.while(), true)
	rq.rw.close = true
	rq.rw.noBody = rq.in.method == http.MethodHead
	if herr.status == 494 {
		// Sent as 400 with its own page (ngx_http_special_response_handler).
		rq.errStatus = http.StatusBadRequest
	}
	errorPage(&rq.rw, rq, herr.status)
	rq.logRequest()
	c.finish()
}

// sendContinue is ngx_http_test_expect, run where nginx reads or drops
// the body: a client that waits for leave to send it gets
// "100 Continue", once; an error answer does not send it.
func (rq *request) sendContinue() {
	if rq.in.expect100 && !rq.expectTested {
		rq.c.outBuffer()
		rq.c.out = append(rq.c.out, "HTTP/1.1 100 Continue\r\n\r\n"...)
	}
	rq.expectTested = true
}

// outBuffer makes sure the connection has an output buffer.
func (c *conn) outBuffer() {
	if c.outp == nil {
		c.outp = outBufs.Get().(*[]byte)
		c.out = (*c.outp)[:0]
	}
}

// discardBody reads and drops what is left of the request body, as
// ngx_http_discard_request_body does for a request whose handler does
// not read it; it reports whether the connection can go on.
func (c *conn) discardBody() bool {
	c.setReadDeadline(c.rq.loc.ClientBodyTimeout.Value)
	for c.bodyLeft > 0 || c.bodyChunked {
		if c.r == c.n {
			if err := c.fill(readBufSize); err != nil {
				return false
			}
		}
		if c.bodyChunked {
			n, done, ok := c.chunk.Skip(c.buf[c.r:c.n])
			if !ok {
				return false
			}
			c.r += n
			if done {
				c.bodyChunked = false
			}
			continue
		}
		n := int(min(int64(c.n-c.r), c.bodyLeft))
		c.r += n
		c.bodyLeft -= int64(n)
	}
	return true
}

// logInfo writes a connection's error at info level to the default
// server's error logs, with nginx's suffix: what nginx logs for what
// clients do wrong before a request is under way. Without a request
// yet, nginx names the listen address as the server.
func (c *conn) logInfo(msg string, request bool) {
	srv := c.l.addr.Default
	if !request {
		client := c.clientIP
		for _, l := range srv.Loc.loggers {
			if l.Enabled(errlog.Info) {
				l.Log(errlog.Info, "*%d %s, client: %s, server: %s", c.id, msg, client, c.l.addr.Text)
			}
		}
		return
	}
	rq := &c.rq
	if rq.srv == nil {
		rq.srv, rq.loc = srv, srv.Loc
	}
	rq.log(errlog.Info, "%s", msg)
}

// headerBefore finds a header among the whole lines of a head refused
// before it was parsed: nginx had read them, and its log names the host.
func headerBefore(b []byte, name string) (string, bool) {
	lines := strings.Split(string(b), "\n")
	for _, l := range lines[1 : len(lines)-1] {
		k, v, ok := strings.Cut(strings.TrimSuffix(l, "\r"), ":")
		if ok && strings.EqualFold(k, name) {
			return strings.Trim(v, " "), true
		}
	}
	return "", false
}

// firstLine is the request line of a head refused before it was parsed,
// as nginx's log shows it: up to its end, or size bytes.
func firstLine(b []byte, size int) string {
	for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	return string(b[:min(len(b), size)])
}
