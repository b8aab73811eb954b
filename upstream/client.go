package upstream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"edge/internal/chunked"
	"edge/internal/fifopoll"
	"edge/parser"
)

// The backend side of a proxied request: reading a backend's answer as
// nginx's proxy module reads it (ngx_http_parse_status_line,
// ngx_http_parse_header_line with the upstream's leniency, the chunked
// and length-delimited bodies). Header names and values are kept as the
// backend sent them: nginx passes them on in their case and order.

// Field is a header line as the backend sent it.
type Field struct{ Name, Value string }

// Head is an answer's status line and headers.
type Head struct {
	// HTTP09 says the backend sent no valid status line: nginx passes
	// what it sent as an HTTP/0.9 answer, without a head.
	HTTP09 bool
	Minor  int // HTTP/1.Minor
	Status int
	// StatusLine is the status line after "HTTP/1.x ", as sent.
	StatusLine string
	Fields     []Field
	// ContentLength is -1 when the backend sent none.
	ContentLength int64
	Chunked       bool
	// Close says the connection ends with this answer: HTTP/1.0, or
	// "Connection: close".
	Close bool
}

// Get is the first field named name, in any case.
func (h *Head) Get(name string) string {
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// The ways a backend's answer fails, in nginx's words (the server adds
// "while reading response header from upstream" or "while reading
// upstream").
var (
	ErrClosed         = errors.New("upstream prematurely closed connection")
	ErrTooBig         = errors.New("upstream sent too big header")
	ErrInvalidHeader  = errors.New("upstream sent invalid header")
	ErrInvalidChunked = errors.New("upstream sent invalid chunked response")
	ErrBothLengths    = errors.New(`upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time`)
)

// HeaderError is an invalid header line: nginx quotes it up to the
// character it stopped at.
type HeaderError struct {
	Line string // the line up to that character
	Char byte
}

func (e *HeaderError) Error() string {
	return fmt.Sprintf(`upstream sent invalid header: "%s\x%02x..."`, e.Line, e.Char)
}

func (e *HeaderError) Is(target error) bool { return target == ErrInvalidHeader }

// ReadError is a read from the backend that failed: it timed out, or
// the system said why.
type ReadError struct {
	Err     error
	Timeout bool
}

func (e *ReadError) Error() string {
	if e.Timeout {
		return "upstream timed out (110: Connection timed out)"
	}
	return "recv() failed" + parser.Errno(e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// readError words a failed read; io.EOF is the backend closing.
func readError(err error) error {
	switch {
	case errors.Is(err, io.EOF):
		return ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &ReadError{Err: err, Timeout: true}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return &ReadError{Err: errno}
	}
	return &ReadError{Err: err}
}

// Conn is a connection to a peer and what was read from it and not
// used yet.
type Conn struct {
	net.Conn
	Peer     string
	Requests int       // answers read whole on it, this one excluded
	Born     time.Time // when it was connected
	// Reused says it came from the keep-alive pool: a backend may have
	// closed it just as the request went out.
	Reused bool
	since  int64 // in the pool since (fifopoll's clock)
	// partial is what SendAndWait wrote of a request it did not finish.
	partial int
	// stopped is Interrupt's: reads fail from then on.
	stopped atomic.Bool
	// Received counts the bytes read for the answer being read;
	// HeadLen is its head's.
	Received int64
	HeadLen  int

	buf  []byte
	r, n int
	body Body

	// fw, with the descriptor fd, is the connection's place in fifopoll
	// (WakeInOrder): its reads wait there, in raw system calls.
	fw *fifopoll.Waiter
	fd int
}

// NewConn wraps a fresh connection to peer.
func NewConn(nc net.Conn, peer string) *Conn {
	return &Conn{Conn: nc, Peer: peer, Born: time.Now()}
}

// WakeInOrder makes the connection's waits for the backend's bytes go
// through fifopoll, which wakes waiters in the order their bytes came
// (Go's poller reverses each batch); a connection that is not a plain
// socket keeps Go's. Only for connections their owner closes with Close:
// a wait ends at a timeout, Interrupt or the backend's bytes, not at a
// close from elsewhere.
func (c *Conn) WakeInOrder() {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	c.fw, c.fd = fifopoll.Join(rc)
}

// Close closes the connection, leaving fifopoll.
func (c *Conn) Close() error {
	if c.fw != nil {
		c.fw.Forget()
	}
	return c.Conn.Close()
}

// readSome reads into p within timeout (none: 0), through fifopoll when
// the connection is there: a raw read, and a wait when it finds nothing.
func (c *Conn) readSome(p []byte, timeout time.Duration) (int, error) {
	if c.fw == nil || !fifopoll.Begin() {
		if timeout > 0 {
			c.SetReadDeadline(time.Now().Add(timeout))
		}
		if c.stopped.Load() {
			return 0, os.ErrDeadlineExceeded // Interrupt's deadline may have been moved
		}
		return c.Conn.Read(p)
	}
	defer fifopoll.End()
	var deadline int64
	for {
		if c.stopped.Load() {
			return 0, os.ErrDeadlineExceeded
		}
		c.fw.Clear()
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(c.fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		switch {
		case e == 0 && r == 0 && len(p) > 0:
			return 0, io.EOF
		case e == 0:
			return int(r), nil
		case e == syscall.EINTR:
			continue
		case e != syscall.EAGAIN:
			return 0, e
		}
		if deadline == 0 && timeout > 0 {
			deadline = fifopoll.After(timeout)
		}
		if err := c.fw.Wait(deadline); err != nil {
			return 0, os.ErrDeadlineExceeded // the timeout, or Interrupt's poke
		}
	}
}

// read reads more into the buffer, within timeout.
func (c *Conn) read(timeout time.Duration) error {
	m, err := c.readSome(c.buf[c.n:], timeout)
	c.n += m
	c.Received += int64(m)
	if m > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return readError(err)
}

// SendAndWait writes the request and waits, within timeout, until the
// answer's first bytes can be read: one system call less than a write
// followed by a read that finds nothing yet. It reports whether it
// wrote all of p (a full socket buffer, or a connection that is not a
// plain socket, leaves it to the caller), a write's error, and the
// wait's. Reads after it find the answer (or, rarely, nothing yet, and
// wait again).
func (c *Conn) SendAndWait(p []byte, timeout time.Duration) (sent bool, werr, rerr error) {
	c.partial = 0
	if c.fw != nil && fifopoll.Begin() {
		defer fifopoll.End()
		return c.sendAndWaitInOrder(p, timeout)
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return false, nil, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, nil, nil
	}
	if timeout > 0 {
		c.SetReadDeadline(time.Now().Add(timeout))
	}
	// Go's poller forgets what it saw before the raw read begins; the
	// write comes after, and whatever the backend does next (answers, or
	// resets a kept connection it had closed) is a new event, so no
	// wake-up is lost.
	n, tried := 0, false
	rerr = rc.Read(func(fd uintptr) bool {
		if tried {
			return true // readable: the answer, or the peer's close
		}
		tried = true
		n, werr = writeRaw(fd, p)
		return werr != nil || n < len(p) // all sent: wait for the answer
	})
	if werr != nil {
		return false, werr, nil
	}
	if n < len(p) {
		// Not all written: the caller writes the rest and reads as usual.
		c.partial = n
		return false, nil, nil
	}
	if rerr != nil {
		return true, nil, readError(rerr)
	}
	return true, nil, nil
}

// sendAndWaitInOrder is SendAndWait through fifopoll: the socket is in
// its edge-triggered set, so the answer arriving after the write is an
// event even if nothing waits yet, and the wait ends only for it (or for
// the backend's close).
func (c *Conn) sendAndWaitInOrder(p []byte, timeout time.Duration) (sent bool, werr, rerr error) {
	c.fw.Clear() // what came before the request is not its answer
	n, werr := writeRaw(uintptr(c.fd), p)
	if werr != nil {
		return false, werr, nil
	}
	if n < len(p) {
		c.partial = n
		return false, nil, nil
	}
	var deadline int64
	if timeout > 0 {
		deadline = fifopoll.After(timeout)
	}
	if err := c.fw.Wait(deadline); err != nil {
		return true, nil, readError(os.ErrDeadlineExceeded)
	}
	return true, nil, nil
}

// writeRaw writes p to a non-blocking socket until it is all written or
// the socket is full (EAGAIN, not an error).
func writeRaw(fd uintptr, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n))
		switch e {
		case 0:
			n += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return n, nil
		default:
			return n, e
		}
	}
	return n, nil
}

// Partial is how much of the request SendAndWait wrote when it did not
// write it all.
func (c *Conn) Partial() int { return c.partial }

// ReadHead reads an answer's head, each read within timeout
// (proxy_read_timeout), the head within size bytes (proxy_buffer_size).
// h's memory is reused.
func (c *Conn) ReadHead(h *Head, timeout time.Duration, size int) error {
	if cap(c.buf) < size {
		c.buf = make([]byte, size)
	}
	c.buf, c.r, c.n = c.buf[:size], 0, 0
	c.Received, c.HeadLen = 0, 0
	*h = Head{ContentLength: -1, Fields: h.Fields[:0]}
	for {
		if c.n > 0 {
			// Not "HTTP/": nginx takes the bytes for an HTTP/0.9 answer.
			if n := min(c.n, 5); string(c.buf[:n]) != "HTTP/"[:n] {
				h.HTTP09, h.Close = true, true
				return nil
			}
			if end := headEnd(c.buf[:c.n]); end > 0 {
				c.r, c.HeadLen = end, end
				return parseHead(string(c.buf[:end]), h)
			}
		}
		if c.n == len(c.buf) {
			return ErrTooBig
		}
		if err := c.read(timeout); err != nil {
			return err
		}
	}
}

// headEnd is where the head in b ends, after its empty line; 0 while it
// has not come whole.
func headEnd(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 3
		}
	}
	return 0
}

// parseHead parses a whole head; its strings are parts of head.
func parseHead(head string, h *Head) error {
	line, rest := cutLine(head)
	if !parseStatusLine(line, h) {
		h.HTTP09, h.Close = true, true
		return nil
	}
	for {
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break
		}
		f, err := parseField(line)
		if err != nil {
			return err
		}
		if f.Name == "" {
			continue // IIS's repeated status line
		}
		h.Fields = append(h.Fields, f)
		switch {
		case strings.EqualFold(f.Name, "Content-Length"):
			h.ContentLength = parseLength(f.Value)
		case strings.EqualFold(f.Name, "Transfer-Encoding"):
			h.Chunked = containsFold(f.Value, "chunked")
		case strings.EqualFold(f.Name, "Connection"):
			h.Close = h.Close || containsFold(f.Value, "close")
		}
	}
	if h.Chunked && h.Get("Content-Length") != "" {
		return ErrBothLengths
	}
	if h.Minor < 1 {
		h.Close = true
	}
	return nil
}

// cutLine cuts a line ending in LF (CR LF) off s.
func cutLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, ""
	}
	line, rest = s[:i], s[i+1:]
	return strings.TrimSuffix(line, "\r"), rest
}

// parseStatusLine is ngx_http_parse_status_line: "HTTP/d.d ddd text".
func parseStatusLine(line string, h *Head) bool {
	if !strings.HasPrefix(line, "HTTP/") {
		return false
	}
	s := line[5:]
	major, s, ok := digits(s, '.')
	if !ok || major == 0 || major > 99 {
		return false
	}
	minor, s, ok := digits(s, ' ')
	if !ok || minor > 99 {
		return false
	}
	s = strings.TrimLeft(s, " ")
	if len(s) < 3 {
		return false
	}
	code := 0
	for _, ch := range []byte(s[:3]) {
		if ch < '0' || ch > '9' {
			return false
		}
		code = code*10 + int(ch-'0')
	}
	if len(s) > 3 && s[3] != ' ' && s[3] != '.' {
		return false
	}
	h.Minor, h.Status, h.StatusLine = minor, code, s
	if major > 1 {
		h.Minor = 1
	}
	return true
}

// digits reads a number up to the byte end.
func digits(s string, end byte) (int, string, bool) {
	n, i := 0, 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int(s[i]-'0')
		if n > 999 {
			return 0, "", false
		}
	}
	if i == 0 || i == len(s) || s[i] != end {
		return 0, "", false
	}
	return n, s[i+1:], true
}

// parseField is ngx_http_parse_header_line as an upstream's answer gets
// it: a name of any but control characters and spaces (underscores and
// odd characters pass), a colon, a value without its surrounding
// spaces; a line without a colon is a name with an empty value.
func parseField(line string) (Field, error) {
	i := 0
	for ; i < len(line) && line[i] != ':'; i++ {
		switch ch := line[i]; {
		case ch == '/' && i == 4 && line[:4] == "HTTP":
			return Field{}, nil
		case ch <= ' ' || ch == 0x7f:
			return Field{}, &HeaderError{Line: line[:i], Char: ch}
		}
	}
	if i == len(line) {
		return Field{Name: line}, nil
	}
	for j := i; j < len(line); j++ {
		if line[j] == 0 || line[j] == '\r' {
			return Field{}, &HeaderError{Line: line[:j], Char: line[j]}
		}
	}
	return Field{Name: line[:i], Value: strings.Trim(line[i+1:], " ")}, nil
}

// parseLength is ngx_atoof: digits, else -1.
func parseLength(v string) int64 {
	if v == "" {
		return -1
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' || n > (1<<62)/10 {
			return -1
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), sub)
}

// Body reads an answer's body after its head: by its length, in chunks,
// or up to the connection's end.
type Body struct {
	c       *Conn
	timeout time.Duration
	mode    int
	left    int64 // bytes left of a length-delimited body
	dec     chunked.Decoder
	done    bool
}

const (
	byLength = iota
	byChunks
	toClose
)

// Body is h's body on c, each read within timeout; none for an answer
// that has none (to HEAD, 1xx, 204, 304).
func (c *Conn) Body(h *Head, noBody bool, timeout time.Duration) *Body {
	b := &c.body
	*b = Body{c: c, timeout: timeout}
	switch {
	case noBody || h.Status == 204 || h.Status == 304 || h.Status < 200 && !h.HTTP09:
		b.done = true
	case h.Chunked:
		b.mode = byChunks
	case h.ContentLength >= 0:
		b.left = h.ContentLength
		b.done = b.left == 0
	default:
		b.mode = toClose
	}
	return b
}

// Buffered takes the bytes read after the head and not used: an
// upgraded connection's first bytes.
func (c *Conn) Buffered() []byte {
	b := c.buf[c.r:c.n]
	c.r = c.n
	return b
}

// Interrupt makes a Read waiting for the backend return at once (with
// a timeout): the client went away. Safe from another goroutine.
func (b *Body) Interrupt() {
	// The flag first: a read that moves its deadline after this one is
	// set sees it.
	b.c.stopped.Store(true)
	b.c.SetReadDeadline(time.Now())
	if b.c.fw != nil {
		b.c.fw.Poke()
	}
}

// Done says the body was read whole.
func (b *Body) Done() bool { return b.done }

// Buffered is how many bytes of the body the connection holds already.
func (b *Body) Buffered() int { return b.c.n - b.c.r }

// Read reads body bytes: io.EOF at its end, ErrClosed when the backend
// closed before it, a *ReadError when a read fails.
func (b *Body) Read(p []byte) (int, error) { return b.read(p, true) }

// ReadBuffered is Read of what the connection holds already: it never
// waits for the backend, and reads nothing when there is nothing.
func (b *Body) ReadBuffered(p []byte) (int, error) { return b.read(p, false) }

func (b *Body) read(p []byte, wait bool) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	c := b.c
	if !wait && c.r == c.n {
		return 0, nil
	}
	switch b.mode {
	case byLength:
		p = p[:min(int64(len(p)), b.left)]
		n, err := b.raw(p)
		b.left -= int64(n)
		if b.left == 0 {
			b.done = true
		}
		if err == io.EOF {
			err = ErrClosed
		}
		return n, err
	case toClose:
		n, err := b.raw(p)
		if err == io.EOF {
			b.done = true
		}
		return n, err
	}
	for {
		for c.r < c.n {
			// A piece of data no longer than p: the rest waits.
			used, piece, done, ok := b.dec.Next(c.buf[c.r:min(c.n, c.r+len(p))])
			if !ok {
				return 0, ErrInvalidChunked
			}
			c.r += used
			if done {
				b.done = true
			}
			if len(piece) > 0 || done {
				n := copy(p, piece)
				if done && n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
		}
		c.r, c.n = 0, 0
		if !wait {
			return 0, nil
		}
		if err := c.read(b.timeout); err != nil {
			return 0, err
		}
	}
}

// raw reads bytes as they come: those buffered first.
func (b *Body) raw(p []byte) (int, error) {
	c := b.c
	if c.r < c.n {
		n := copy(p, c.buf[c.r:c.n])
		c.r += n
		return n, nil
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.readSome(p, b.timeout)
	c.Received += int64(n)
	if n > 0 {
		return n, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return 0, io.EOF
	}
	return 0, readError(err)
}
