package server

import (
	"bytes"
	"strings"
)

// Reading a request head as nginx's ngx_http_parse.c does: the request
// line, then header lines, with nginx's answers to what is malformed.

// requestHead is a request as the client sent it.
type requestHead struct {
	// requestLine is the request line as sent ($request).
	requestLine string
	method      string
	requestURI  string // as sent: $request_uri
	proto       string // "HTTP/1.1"; empty for HTTP/0.9
	http09      bool
	major       int
	minor       int
	// path is the URI's path, decoded and normalized; args its query.
	path, args string
	headers    []field  // as received, invalid lines left out
	ignored    []string // the invalid lines left out
	// host is the host of an absolute URI, else the Host header;
	// uriHost the first, hostHeader says the second came.
	host, uriHost string
	hostHeader    bool
	contentLength int64 // -1: none
	chunked       bool
	connection    int // the Connection header: connClose, connKeepAlive or 0
	keepAlive     bool
	expect100     bool
}

const (
	connClose = 1 + iota
	connKeepAlive
)

// header is the first header named name (any case).
func (h *requestHead) header(name string) string {
	for _, f := range h.headers {
		if sameName(f.name, name) {
			return f.value
		}
	}
	return ""
}

// joined is every header named name, joined with sep (nginx's
// multi-header variables: Cookie with "; ", X-Forwarded-For with ", ").
func (h *requestHead) joined(name, sep string) string {
	out := ""
	for _, f := range h.headers {
		if sameName(f.name, name) {
			if out != "" {
				out += sep
			}
			out += f.value
		}
	}
	return out
}

// headError is a head nginx refuses: the status it answers (0: close
// without an answer) and the error log message, at info level as in
// nginx (a client's mistake is no server error).
type headError struct {
	status int
	msg    string
	// inLine says it was found in the request line, not the headers.
	inLine bool
}

// while is what nginx says it was doing when it found e.
func (e *headError) while() string {
	if e.inLine {
		return " while reading client request line"
	}
	return " while reading client request headers"
}

// headOptions are the server settings the head is read with: those of
// the address's default server, as nginx reads the head before it knows
// the virtual server.
type headOptions struct {
	underscores   bool // underscores_in_headers
	ignoreInvalid bool // ignore_invalid_headers
	mergeSlashes  bool
	firstSize     int // client_header_buffer_size
	largeSize     int // large_client_header_buffers size
	largeNum      int
}

// scanHead finds the end of the head at the start of b: after the request
// line for HTTP/0.9, else after the empty line. It reports 0 when more
// bytes are needed, or the error when the head cannot fit nginx's
// buffers (see headBuffers).
func scanHead(b []byte, o *headOptions) (end int, herr *headError) {
	s := 0
	for s < len(b) && (b[s] == '\r' || b[s] == '\n') {
		s++ // nginx skips empty lines before a request line
	}
	hb := headBuffers{o: o, room: o.firstSize}
	p := s
	for first := true; ; first = false {
		nl := bytes.IndexByte(b[p:], '\n')
		n := nl + 1 // the line with its end
		if nl < 0 {
			n = len(b) - p
		}
		if excerpt, ok := hb.place(n, nl < 0); !ok {
			if first {
				return 0, &headError{status: 414, msg: "client sent too long URI", inLine: true}
			}
			line := b[p:min(len(b), p+excerpt)]
			return 0, &headError{status: 494, msg: `client sent too long header line: "` + string(line[:min(len(line), 1748)]) + `..."`}
		}
		if nl < 0 {
			return 0, nil
		}
		if first && isHTTP09(b[s:p+nl]) || !first && (nl == 0 || nl == 1 && b[p] == '\r') {
			return p + n, nil
		}
		p += n
	}
}

// headBuffers follows where nginx would keep a head's lines: the first
// buffer of client_header_buffer_size, then up to large_client_header_
// buffers number more of their size; a line never spans two buffers, so
// a line that does not fit what is left moves to a new buffer, and
// fails if it is longer than one or none is left
// (ngx_http_alloc_large_header_buffer).
type headBuffers struct {
	o     *headOptions
	room  int // what is left in the current buffer
	large int // large buffers taken
}

// place puts a line of n bytes (partial: still coming); ok false says
// nginx refuses it, and excerpt is how much of it nginx's buffer held.
func (hb *headBuffers) place(n int, partial bool) (excerpt int, ok bool) {
	if n < hb.room || n == hb.room && !partial {
		hb.room -= n
		return 0, true
	}
	if n > hb.o.largeSize || n == hb.o.largeSize && partial {
		return hb.o.largeSize, false
	}
	if hb.large == hb.o.largeNum {
		return hb.room, false
	}
	if partial {
		return 0, true // it may fit the next buffer once it is whole
	}
	hb.large++
	hb.room = hb.o.largeSize - n
	return 0, true
}

// isHTTP09 says a request line has no version: "GET /".
func isHTTP09(line []byte) bool {
	line = bytes.TrimRight(line, "\r ")
	sp := bytes.IndexByte(line, ' ')
	return sp > 0 && bytes.IndexByte(bytes.TrimLeft(line[sp:], " "), ' ') < 0
}

// parseHead parses a complete head (as scanHead found it) into h.
func parseHead(s string, h *requestHead, o *headOptions) *headError {
	for len(s) > 0 && (s[0] == '\r' || s[0] == '\n') {
		s = s[1:]
	}
	nl := strings.IndexByte(s, '\n')
	line, rest := s[:nl], s[nl+1:]
	line = strings.TrimSuffix(line, "\r")
	h.requestLine = strings.TrimRight(line, " ")
	if err := parseRequestLine(line, h, o); err != nil {
		e := *err
		e.inLine = true
		return &e
	}
	if h.http09 {
		return nil
	}
	for rest != "" {
		nl := strings.IndexByte(rest, '\n')
		line, rest = rest[:nl], rest[nl+1:]
		if line == "" || line == "\r" {
			break
		}
		if err := parseHeaderLine(line, h, o); err != nil {
			return err
		}
	}
	return checkHeaders(h)
}

var invalidRequest = &headError{status: 400, msg: "client sent invalid request"}

// parseRequestLine is ngx_http_parse_request_line: a method of A-Z, "_"
// and "-"; spaces; a URI, from "/" or absolute; spaces and HTTP/x.y, or
// nothing for HTTP/0.9.
func parseRequestLine(line string, h *requestHead, o *headOptions) *headError {
	i := 0
	for i < len(line) && (line[i] >= 'A' && line[i] <= 'Z' || line[i] == '_' || line[i] == '-') {
		i++
	}
	if i == 0 || i == len(line) || line[i] != ' ' {
		return &headError{status: 400, msg: "client sent invalid method"}
	}
	h.method = line[:i]
	for i < len(line) && line[i] == ' ' {
		i++
	}
	start := i
	for i < len(line) && line[i] != ' ' {
		if c := line[i]; c < 0x20 || c == 0x7f {
			return invalidRequest
		}
		i++
	}
	uri := line[start:i]
	version := strings.TrimRight(line[i:], " ")
	if version != "" {
		version = strings.TrimLeft(version, " ")
	}
	if uri == "" {
		return invalidRequest
	}
	h.requestURI = uri
	if version == "" {
		h.http09, h.major, h.minor = true, 0, 9
		if h.method != "GET" {
			return &headError{status: 400, msg: "client sent invalid method in HTTP/0.9 request"}
		}
	} else {
		major, minor, herr := parseVersion(version)
		if herr != nil {
			return herr
		}
		h.proto, h.major, h.minor = version, major, minor
		h.keepAlive = minor >= 1
	}
	path := uri
	if uri[0] != '/' {
		var herr *headError
		if path, herr = absoluteURI(uri, h); herr != nil {
			return herr
		}
	}
	raw, args, _ := strings.Cut(path, "?")
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw = raw[:i]
	}
	h.args = args
	decoded, ok := decodePath(raw)
	if !ok {
		return invalidRequest
	}
	if h.path, ok = normalizeURI(decoded, o.mergeSlashes); !ok {
		return invalidRequest
	}
	return nil
}

// absoluteURI reads "scheme://host[:port][/path]"; the host, valid, wins
// over the Host header.
func absoluteURI(uri string, h *requestHead) (path string, herr *headError) {
	scheme, after, ok := strings.Cut(uri, "://")
	if !ok || !validScheme(scheme) {
		return "", invalidRequest
	}
	host := after
	path = "/"
	if i := strings.IndexAny(after, "/?"); i >= 0 {
		host, path = after[:i], after[i:]
		if path[0] == '?' {
			path = "/" + path
		}
	}
	name, port := host, ""
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "", invalidRequest
		}
		name, port = host[:end+1], host[end+1:]
	} else if c := strings.IndexByte(host, ':'); c >= 0 {
		name, port = host[:c], host[c:]
	}
	for i := 0; i < len(name) && name[0] != '['; i++ {
		if c := name[i] | 0x20; (c < 'a' || c > 'z') && (name[i] < '0' || name[i] > '9') && name[i] != '.' && name[i] != '-' {
			return "", invalidRequest
		}
	}
	if port != "" {
		if port[0] != ':' {
			return "", invalidRequest
		}
		for i := 1; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return "", invalidRequest
			}
		}
	}
	if _, valid := validateHost(host); !valid || host == "" {
		return "", &headError{status: 400, msg: "client sent invalid host in request line"}
	}
	h.uriHost = host
	return path, nil
}

func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if (c < 'a' || c > 'z') && (i == 0 || (s[i] < '0' || s[i] > '9') && s[i] != '+' && s[i] != '-' && s[i] != '.') {
			return false
		}
	}
	return s != ""
}

// parseVersion reads "HTTP/major.minor" as nginx does: a major above 1
// is 505 as soon as it is seen; a minor up to 999.
func parseVersion(v string) (major, minor int, herr *headError) {
	if !strings.HasPrefix(v, "HTTP/") || len(v) < 6 || v[5] < '1' || v[5] > '9' {
		return 0, 0, invalidRequest
	}
	i := 5
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		major = major*10 + int(v[i]-'0')
		if major > 1 {
			return 0, 0, &headError{status: 505, msg: "client sent invalid version"}
		}
	}
	if i == len(v) || v[i] != '.' || i+1 == len(v) {
		return 0, 0, invalidRequest
	}
	for i++; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' || minor > 99 {
			return 0, 0, invalidRequest
		}
		minor = minor*10 + int(v[i]-'0')
	}
	return major, minor, nil
}

// decodePath undoes %XX escapes, as ngx_http_parse_complex_uri does; a
// malformed escape or a NUL is a bad request.
func decodePath(p string) (string, bool) {
	i := strings.IndexByte(p, '%')
	if i < 0 {
		return p, true
	}
	b := make([]byte, 0, len(p))
	b = append(b, p[:i]...)
	for ; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(p) || unhex(p[i+1]) < 0 || unhex(p[i+2]) < 0 {
			return "", false
		}
		c = byte(unhex(p[i+1])<<4 | unhex(p[i+2]))
		if c == 0 {
			return "", false
		}
		b = append(b, c)
		i += 2
	}
	return string(b), true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// uniqueHeaders are the headers nginx refuses twice
// (ngx_http_process_unique_header_line).
var uniqueHeaders = []string{"Content-Length", "Transfer-Encoding", "If-Modified-Since", "If-Unmodified-Since",
	"If-Match", "If-None-Match", "Content-Range", "If-Range", "Expect", "Authorization"}

// parseHeaderLine is ngx_http_parse_header_line plus the headers_in
// handlers that refuse a request. line still has its CR, if any.
func parseHeaderLine(line string, h *requestHead, o *headOptions) *headError {
	if strings.HasSuffix(line, "\r") {
		line = strings.TrimRight(line, "\r")
	}
	// The name: a space, a control character or a leading ":" refuse
	// the request; another odd byte makes the line invalid.
	valid := true
	i := 0
	for ; i < len(line) && line[i] != ':'; i++ {
		switch c := line[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
		case c == '_':
			valid = valid && o.underscores
		case c <= 0x20 || c == 0x7f:
			return badHeader(line, i)
		default:
			valid = false
		}
	}
	if i == 0 {
		if line == "" {
			// Only CRs: nginx stops at the second one.
			return badHeader("\r", 0)
		}
		return badHeader(line, 0)
	}
	name := line[:i]
	value := ""
	if i < len(line) {
		value = strings.TrimRight(strings.TrimLeft(line[i+1:], " "), " ")
		for j := i + 1; j < len(line); j++ {
			if line[j] == 0 || line[j] == '\r' {
				return badHeader(line, j)
			}
		}
	}
	if !valid {
		if o.ignoreInvalid {
			h.ignored = append(h.ignored, line)
			return nil
		}
	}
	for _, u := range uniqueHeaders {
		if sameName(name, u) {
			for _, f := range h.headers {
				if sameName(f.name, u) {
					return &headError{status: 400, msg: `client sent duplicate header line: "` + name + ": " + value + `", previous value: "` + f.name + ": " + f.value + `"`}
				}
			}
		}
	}
	switch {
	case sameName(name, "Host"):
		for _, f := range h.headers {
			if sameName(f.name, "Host") {
				return &headError{status: 400, msg: `client sent duplicate host header: "` + name + ": " + value + `", previous value: "` + f.name + ": " + f.value + `"`}
			}
		}
		if _, ok := validateHost(value); !ok || value == "" {
			h.headers = append(h.headers, field{name, value})
			h.hostHeader = true
			return &headError{status: 400, msg: "client sent invalid host header"}
		}
		h.hostHeader = true
	case sameName(name, "Connection"):
		// A substring search, "close" first (ngx_http_process_connection).
		switch lower := strings.ToLower(value); {
		case strings.Contains(lower, "close"):
			h.connection = connClose
		case strings.Contains(lower, "keep-alive"):
			h.connection = connKeepAlive
		}
	}
	h.headers = append(h.headers, field{name, value})
	return nil
}

// badHeader is the 400 for a header line nginx cannot read at byte i,
// logged as nginx logs it: the line up to there and that byte in hex.
func badHeader(line string, i int) *headError {
	const hex = "0123456789abcdef"
	c := line[i]
	return &headError{status: 400, msg: `client sent invalid header line: "` + line[:i] + `\x` + string(hex[c>>4]) + string(hex[c&15]) + `..."`}
}

// checkHeaders is ngx_http_process_request_header, and
// ngx_http_handler's keep-alive decision.
func checkHeaders(h *requestHead) *headError {
	host := h.uriHost
	if host == "" {
		host = h.header("Host")
	}
	h.host = host
	if !h.hostHeader && h.minor >= 1 {
		return &headError{status: 400, msg: `client sent HTTP/1.1 request without "Host" header`}
	}
	if v := h.header("Content-Length"); v != "" || h.hasHeader("Content-Length") {
		n, ok := parseLength(v)
		if !ok {
			return &headError{status: 400, msg: `client sent invalid "Content-Length" header`}
		}
		h.contentLength = n
	}
	if h.hasHeader("Transfer-Encoding") {
		te := h.header("Transfer-Encoding")
		switch {
		case h.minor < 1:
			return &headError{status: 400, msg: `client sent HTTP/1.0 request with "Transfer-Encoding" header`}
		case !strings.EqualFold(te, "chunked"):
			return &headError{status: 501, msg: `client sent unknown "Transfer-Encoding": "` + te + `"`}
		case h.contentLength >= 0:
			return &headError{status: 400, msg: `client sent "Content-Length" and "Transfer-Encoding" headers at the same time`}
		}
		h.chunked = true
	}
	switch h.method {
	case "CONNECT", "TRACE":
		return &headError{status: 405, msg: "client sent " + h.method + " method"}
	}
	switch h.connection {
	case connClose:
		h.keepAlive = false
	case connKeepAlive:
		h.keepAlive = true
	}
	h.expect100 = h.minor >= 1 && strings.EqualFold(h.header("Expect"), "100-continue")
	return nil
}

// hasHeader says a header named name came (maybe empty).
func (h *requestHead) hasHeader(name string) bool {
	for _, f := range h.headers {
		if sameName(f.name, name) {
			return true
		}
	}
	return false
}

// parseLength is ngx_atoof on a Content-Length value.
func parseLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}
