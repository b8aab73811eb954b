package server

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The answer side of edge's HTTP/1.x layer (nginx's ngx_http_header_filter
// and write filter): headers kept in the order nginx keeps them, the head
// serialized as ngx_http_header_filter does, the body buffered with it.

// field is one response header line.
type field struct{ name, value string }

// fields is a response's headers: nginx's headers_out list, in the order
// they were added, names spelled as given. The header filter writes the
// ones nginx keeps outside its list first, in its fixed order.
type fields []field

// sameName compares header names without case, cheaply when they differ
// in length or are spelled alike.
func sameName(a, b string) bool {
	return len(a) == len(b) && (a == b || strings.EqualFold(a, b))
}

// Get is the value of the first header named name (any case).
func (h *fields) Get(name string) string {
	for _, f := range *h {
		if sameName(f.name, name) {
			return f.value
		}
	}
	return ""
}

// Set replaces every header named name by one with value.
func (h *fields) Set(name, value string) {
	for i := range *h {
		if sameName((*h)[i].name, name) {
			(*h)[i].value = value
			h.del(name, i+1)
			return
		}
	}
	*h = append(*h, field{name, value})
}

// Add adds a header, keeping the others of that name.
func (h *fields) Add(name, value string) { *h = append(*h, field{name, value}) }

// Del removes every header named name.
func (h *fields) Del(name string) { h.del(name, 0) }

func (h *fields) del(name string, from int) {
	out := (*h)[:from]
	for _, f := range (*h)[from:] {
		if !sameName(f.name, name) {
			out = append(out, f)
		}
	}
	clear((*h)[len(out):])
	*h = out
}

// outside are the headers ngx_http_header_filter writes from their own
// fields, before its list, in this order (Connection and Keep-Alive are
// the response's, not fields). Location is among them only when the
// filter makes it absolute; otherwise it keeps its place in the list.
var outside = [...]string{"Server", "Date", "Content-Type", "Content-Length", "Last-Modified", "Location"}

func (w *response) isOutside(f field) bool {
	// A backend's Last-Modified, and the Server and Date that
	// proxy_pass_header lets through, keep their place.
	if w.upstream && (sameName(f.name, "Last-Modified") || w.passed(f.name)) {
		return false
	}
	// A backend's Location is made absolute only when proxy_redirect
	// rewrote it (ngx_http_upstream_rewrite_location).
	if w.upstream && sameName(f.name, "Location") && !w.locationRewritten {
		return false
	}
	for _, o := range outside {
		if sameName(o, f.name) {
			return o != "Location" || w.absoluteLocation(f.value)
		}
	}
	return false
}

// absoluteLocation says the header filter makes a Location absolute.
func (w *response) absoluteLocation(v string) bool {
	return strings.HasPrefix(v, "/") && w.c.rq.loc.AbsoluteRedirect.Value
}

// statusLines are ngx_http_status_lines: nginx's reason phrases, which
// are not always RFC 9110's ("302 Moved Temporarily"). A code without
// one is sent as "HTTP/1.1 NNN ".
var statusLines = map[int]string{
	200: "200 OK", 201: "201 Created", 202: "202 Accepted", 204: "204 No Content", 206: "206 Partial Content",
	301: "301 Moved Permanently", 302: "302 Moved Temporarily", 303: "303 See Other", 304: "304 Not Modified",
	307: "307 Temporary Redirect", 308: "308 Permanent Redirect",
	400: "400 Bad Request", 401: "401 Unauthorized", 402: "402 Payment Required", 403: "403 Forbidden",
	404: "404 Not Found", 405: "405 Not Allowed", 406: "406 Not Acceptable", 408: "408 Request Time-out",
	409: "409 Conflict", 410: "410 Gone", 411: "411 Length Required", 412: "412 Precondition Failed",
	413: "413 Request Entity Too Large", 414: "414 Request-URI Too Large", 415: "415 Unsupported Media Type",
	416: "416 Requested Range Not Satisfiable", 421: "421 Misdirected Request", 429: "429 Too Many Requests",
	500: "500 Internal Server Error", 501: "501 Not Implemented", 502: "502 Bad Gateway",
	503: "503 Service Temporarily Unavailable", 504: "504 Gateway Time-out",
	505: "505 HTTP Version Not Supported", 507: "507 Insufficient Storage",
}

// httpDate is nginx's cached Date value, remade once a second.
type httpDate struct {
	sec  int64
	text string
}

var cachedDate atomic.Pointer[httpDate]

func dateHeader(now time.Time) string {
	sec := now.Unix()
	if d := cachedDate.Load(); d != nil && d.sec == sec {
		return d.text
	}
	d := &httpDate{sec: sec, text: now.UTC().Format(http.TimeFormat)}
	cachedDate.Store(d)
	return d.text
}

// response is an answer being made on a connection: its headers, then its
// body, buffered in the connection's output buffer.
type response struct {
	c      *conn
	hdr    fields
	status int
	// sent says the head is in the output buffer (or gone).
	sent bool
	// body is what the body sent so far ($body_bytes_sent).
	body int64
	// noBody drops the body: a HEAD request, or HTTP/0.9's head.
	noBody bool
	// close ends the connection after this answer (nginx's
	// r->keepalive = 0); keepAlive is the Keep-Alive header to send.
	close     bool
	keepAlive string
	// chunked says the body goes in chunks: it has no length.
	chunked bool
	// vary sends "Vary: Accept-Encoding" (with gzip_vary): the answer
	// depends on it; gz compresses the body.
	vary bool
	gz   *gzip.Writer
	// precompressed says the file is gzip_static's ".gz".
	precompressed bool
	// upstream says the answer is a backend's, passedServer and
	// passedDate that its Server and Date are passed on (instead of
	// edge's); statusLine is its status line ("200 Fine"), sent for its
	// status.
	upstream                 bool
	passedServer, passedDate bool
	locationRewritten        bool
	statusLine               string
	// upgrade says the answer is a 101 that hands the connection over.
	upgrade bool
}

// passed says a backend's header of that name takes the place of
// edge's own.
func (w *response) passed(name string) bool {
	return w.passedServer && sameName(name, "Server") || w.passedDate && sameName(name, "Date")
}

// Header is the answer's headers, to change before WriteHeader.
func (w *response) Header() *fields { return &w.hdr }

// WriteHeader puts the head in the output buffer as
// ngx_http_header_filter writes it.
func (w *response) WriteHeader(code int) {
	if w.sent {
		return
	}
	w.sent, w.status = true, code
	c := w.c
	if ct := w.hdr.Get("Content-Type"); ct != "" {
		if cs := w.charsetOf(code, ct); cs != "" {
			w.hdr.Set("Content-Type", ct+"; charset="+cs)
		}
	}
	if w.gzipFilter(code) && !w.noBody {
		defer w.startGzip()
	}
	if c.rq.in.http09 {
		return // HTTP/0.9 has no head
	}
	c.outBuffer()
	b := c.out
	b = append(b, "HTTP/1.1 "...)
	if w.statusLine != "" && w.statusLine[:3] == strconv.Itoa(code) {
		b = append(b, w.statusLine...)
	} else if line, ok := statusLines[code]; ok {
		b = append(b, line...)
	} else {
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, ' ')
	}
	b = append(b, "\r\n"...)
	// ngx_http_chunked_header_filter: a body without a length goes in
	// chunks to HTTP/1.1, and ends the connection for HTTP/1.0.
	if !w.noBody && code >= 200 && code != 204 && code != 304 && w.hdr.Get("Content-Length") == "" {
		if c.rq.in.minor >= 1 && c.rq.loc.ChunkedTransferEncoding.Value {
			w.chunked = true
		} else {
			w.close = true
		}
	}
	for _, name := range outside {
		found := false
		for _, f := range w.hdr {
			if !sameName(f.name, name) || !w.isOutside(f) {
				continue
			}
			v := f.value
			if name == "Location" {
				v = absoluteRedirect(&c.rq, v)
			}
			b, found = appendField(b, name, v), true
		}
		if !found && name == "Date" && !w.passedDate {
			b = appendField(b, "Date", dateHeader(time.Now()))
		}
	}
	if w.chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	switch {
	case w.upgrade:
		b = append(b, "Connection: upgrade\r\n"...)
	case w.close || !c.rq.in.keepAlive:
		b = append(b, "Connection: close\r\n"...)
	default:
		b = append(b, "Connection: keep-alive\r\n"...)
		if w.keepAlive != "" {
			b = appendField(b, "Keep-Alive", w.keepAlive)
		}
	}
	if w.vary && c.rq.loc.Gzip.Vary.Value {
		b = append(b, "Vary: Accept-Encoding\r\n"...)
	}
	for _, f := range w.hdr {
		if !w.isOutside(f) {
			b = appendField(b, f.name, f.value)
		}
	}
	c.out = append(b, "\r\n"...)
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// Write sends body bytes (none for HEAD), after the head.
func (w *response) Write(p []byte) (int, error) {
	if !w.sent {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody || len(p) == 0 {
		return len(p), nil
	}
	if w.gz != nil {
		return w.gz.Write(p)
	}
	return w.writeBody(p)
}

// writeBody sends body bytes as they go on the wire: in a chunk, when
// the answer is chunked.
func (w *response) writeBody(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if w.chunked {
		w.c.outBuffer()
		w.c.out = strconv.AppendInt(w.c.out, int64(len(p)), 16)
		w.c.out = append(w.c.out, "\r\n"...)
		defer w.c.writeString("\r\n")
	}
	n, err := w.c.write(p)
	w.body += int64(n)
	return n, err
}

// WriteString is Write for a string.
func (w *response) WriteString(s string) (int, error) {
	if !w.sent {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody || len(s) == 0 {
		return len(s), nil
	}
	if w.chunked || w.gz != nil {
		return w.Write([]byte(s))
	}
	n, err := w.c.writeString(s)
	w.body += int64(n)
	return n, err
}
