package diff

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"edge/integration/harness"
	"edge/server"
)

// The HTTP/1.x layer against nginx, byte for byte: raw requests, well
// and badly formed, each on a fresh connection; the whole answer
// (status line, headers in order, body, whether the connection closes)
// and the error log's info lines must be the same.

const http1Conf = `error_log %[2]s/%[3]s.error.log info;
events {}
http {
    access_log %[2]s/%[3]s.access.log;
    large_client_header_buffers 4 1k;
    server {
        listen 127.0.0.1:%[1]d;
        server_name localhost;
        root %[2]s/html;
        location /r { return 200 "r"; }
        location /host { return 200 "$host|$http_host|$request|$uri|$args|$http_x_foo"; }
        location /moved { return 302 /a.txt; }
        location /odd { return 299 "odd"; }
        location /abs-off { absolute_redirect off; return 301 /a.txt; }
        location /name-in { server_name_in_redirect on; return 302 /a.txt; }
        location /no-port { port_in_redirect off; rewrite ^ /a.txt redirect; }
        location /noetag/ { alias %[2]s/html/; etag off; }
        location /ims-before/ { alias %[2]s/html/; if_modified_since before; }
        location /ims-off/ { alias %[2]s/html/; if_modified_since off; }
        location /no-ranges/ { alias %[2]s/html/; max_ranges 0; }
        location /one-range/ { alias %[2]s/html/; max_ranges 1; }
        location /no-chunks/ { alias %[2]s/html/dir/; autoindex on; chunked_transfer_encoding off; }
        location /quiet/ { alias %[2]s/html/; log_not_found off; index none.html; }
        location /added/ { alias %[2]s/html/; add_header X-Added 1; expires 1h; }
        location /refresh { msie_refresh on; return 302 "/a b\"<'%%.txt"; }
        location /safari { keepalive_disable safari; return 200 "s"; }
        location /cs/ { alias %[2]s/html/; charset $arg_cs; }
        location /csr { charset utf-8; return 301 /a.txt; }
        location /cs-ep { charset utf-8; error_page 404 =302 http://localhost/x; }
        location /cs-range/ { alias %[2]s/html/; charset koi8-r; }
        location /short { keepalive_timeout 200ms; return 200 "short"; }
        location /dir/ { autoindex on; }
    }
    server {
        listen 127.0.0.1:%[1]d;
        server_name other;
        location / { return 200 "other"; }
    }
}
`

// http1Cases are raw requests; "$HOST" is replaced by the server's
// address. Each ends the connection (Connection: close, an error, or
// HTTP/1.0) unless it says otherwise.
var http1Cases = []exchange{
	{"plain", "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"head", "HEAD /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"http10", "GET /a.txt HTTP/1.0\r\n\r\n"},
	{"http10 keep-alive pipelined", "GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /r HTTP/1.0\r\n\r\n"},
	{"idle timeout of the location", "GET /short HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"idle connection kept", "GET /r HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"pipelined", "GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\nGET /r HTTP/1.1\r\nHost: localhost\r\n\r\nGET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"leading CRLF", "\r\n\r\nGET /r HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"bare LF", "GET /r HTTP/1.1\nHost: localhost\nConnection: close\n\n"},
	{"spaces", "GET   /r   HTTP/1.1  \r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"connection close wins", "GET /r HTTP/1.1\r\nHost: localhost\r\nConnection: Keep-Alive, CLOSE\r\n\r\n"},
	{"lower-case method", "get /r HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"digit in method", "G3T /r HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"unknown method", "G_E-T /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"tab after method", "GET\t/r HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"control in URI", "GET /r\x01 HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"DEL in URI", "GET /r\x7f HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"high bytes in URI", "GET /r\xff HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"http 2.0", "GET /r HTTP/2.0\r\nHost: localhost\r\n\r\n"},
	{"http 10.1", "GET /r HTTP/10.1\r\nHost: localhost\r\n\r\n"},
	{"http 0.9 version", "GET /r HTTP/0.9\r\nHost: localhost\r\n\r\n"},
	{"minor 999", "GET /r HTTP/1.999\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"minor 1000", "GET /r HTTP/1.1000\r\nHost: localhost\r\n\r\n"},
	{"no minor", "GET /r HTTP/1\r\nHost: localhost\r\n\r\n"},
	{"lower-case version", "GET /r http/1.1\r\nHost: localhost\r\n\r\n"},
	{"junk after version", "GET /r HTTP/1.1 x\r\nHost: localhost\r\n\r\n"},
	{"http 0.9", "GET /a.txt\r\n"},
	{"http 0.9 not found", "GET /nope\r\n"},
	{"http 0.9 post", "POST /r\r\n"},
	{"no host", "GET /r HTTP/1.1\r\n\r\n"},
	{"no host head", "HEAD /r HTTP/1.1\r\n\r\n"},
	{"duplicate host", "GET /r HTTP/1.1\r\nHost: localhost\r\nhost: other\r\n\r\n"},
	{"empty host", "GET /r HTTP/1.1\r\nHost: \r\n\r\n"},
	{"slash in host", "GET /r HTTP/1.1\r\nHost: a/b\r\n\r\n"},
	{"dots in host", "GET /r HTTP/1.1\r\nHost: a..b\r\n\r\n"},
	{"host variables", "GET /host?a=1 HTTP/1.1\r\nHost: LocalHost.:8080\r\nConnection: close\r\n\r\n"},
	{"other server", "GET /host HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"},
	{"absolute URI", "GET http://localhost/host?x HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"},
	{"absolute URI no path", "GET http://localhost HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"},
	{"absolute URI bad host", "GET http://a_b/ HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"absolute URI invalid host", "GET http://foo..bar/ HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"absolute URI without host header", "GET http://localhost/r HTTP/1.1\r\n\r\n"},
	{"relative URI", "GET r HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"dot segments", "GET /x/../host/./a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"above root", "GET /../a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"encoded above root", "GET /%2e%2e/a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"encoded dots", "GET /x/%2e%2e/a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"encoded slashes above root", "GET /x%2F..%2F..%2Fa.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"encoded slashes inside", "GET /x%2F..%2Fa.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"backslash dots", "GET /x\\..\\a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"encoded NUL", "GET /a%00.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"bad escape", "GET /a%zz HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"merged slashes", "GET //host//a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"underscore header ignored", "GET /host HTTP/1.1\r\nHost: localhost\r\nX_Foo: 1\r\nX@y: 2\r\nConnection: close\r\n\r\n"},
	{"header without colon", "GET /r HTTP/1.1\r\nHost: localhost\r\nNoColon\r\nConnection: close\r\n\r\n"},
	{"folded header", "GET /r HTTP/1.1\r\nHost: localhost\r\nX-Foo: a\r\n folded\r\n\r\n"},
	{"CR-only header line", "GET /r HTTP/1.0\r\n\r\r\n\r\n"},
	{"CR-only line after LF request line", "A / HTTP/1.0\n\r\r\n\n"},
	{"header ending in CRs", "GET /host HTTP/1.0\r\nX-Foo: a\r\r\r\n\r\n"},
	{"header name ending in CRs", "GET /r HTTP/1.0\r\nX\r\r\n\r\n"},
	{"empty header name", "GET /r HTTP/1.1\r\nHost: localhost\r\n: v\r\n\r\n"},
	{"space in header name", "GET /r HTTP/1.1\r\nHost: localhost\r\nX Foo: v\r\n\r\n"},
	{"NUL in header value", "GET /r HTTP/1.1\r\nHost: localhost\r\nX-Foo: a\x00b\r\n\r\n"},
	{"header value spaces", "GET /host HTTP/1.1\r\nHost: localhost\r\nX-Foo:  \t a b  \r\nConnection: close\r\n\r\n"},
	{"bad content length", "GET /r HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n"},
	{"duplicate content length", "GET /r HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nx"},
	{"duplicate authorization", "GET /r HTTP/1.1\r\nHost: localhost\r\nAuthorization: x\r\nauthorization: y\r\n\r\n"},
	{"length and chunked", "POST /r HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"},
	{"unknown transfer coding", "POST /r HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
	{"chunked in 1.0", "POST /r HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"},
	{"trace", "TRACE /r HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"connect", "CONNECT localhost:443 HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"chunked body then pipelined", "POST /r HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nTrailer: t\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"body then pipelined", "POST /r HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhelloGET /r HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"expect continue", "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"},
	{"expect continue return", "POST /r HTTP/1.1\r\nHost: localhost\r\nExpect: 100-Continue\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
	{"expect continue not found", "GET /nope HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"},
	{"expect continue http10", "GET /a.txt HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"},
	{"chrome not found", "GET /nope HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\nConnection: close\r\n\r\n"},
	{"firefox not found", "GET /nope HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\nConnection: close\r\n\r\n"},
	{"absolute_redirect off", "GET /abs-off HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"server_name_in_redirect", "GET /name-in HTTP/1.1\r\nHost: LOCALHOST.\r\nConnection: close\r\n\r\n"},
	{"port_in_redirect off", "GET /no-port HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"directory redirect", "GET /dir HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"directory redirect without host", "GET /dir HTTP/1.0\r\n\r\n"},
	{"etag off", "GET /noetag/a.txt HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: \"5e0be100-d\"\r\nConnection: close\r\n\r\n"},
	{"etag off if-match", "GET /noetag/a.txt HTTP/1.1\r\nHost: localhost\r\nIf-Match: \"5e0be100-d\"\r\nConnection: close\r\n\r\n"},
	{"etag off if-match any", "GET /noetag/a.txt HTTP/1.1\r\nHost: localhost\r\nIf-Match: *\r\nConnection: close\r\n\r\n"},
	{"etag", "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: \"5e0be100-d\"\r\nConnection: close\r\n\r\n"},
	{"if-modified-since exact", "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: Thu, 02 Jan 2020 00:00:00 GMT\r\nConnection: close\r\n\r\n"},
	{"if-modified-since same", "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: Wed, 01 Jan 2020 00:00:00 GMT\r\nConnection: close\r\n\r\n"},
	{"if-modified-since before", "GET /ims-before/a.txt HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: Thu, 02 Jan 2020 00:00:00 GMT\r\nConnection: close\r\n\r\n"},
	{"if-modified-since before older", "GET /ims-before/a.txt HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: Tue, 31 Dec 2019 00:00:00 GMT\r\nConnection: close\r\n\r\n"},
	{"if-modified-since off", "GET /ims-off/a.txt HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: Wed, 01 Jan 2020 00:00:00 GMT\r\nConnection: close\r\n\r\n"},
	{"max_ranges 0", "GET /no-ranges/a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-1\r\nConnection: close\r\n\r\n"},
	{"max_ranges 1 one", "GET /one-range/a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-1\r\nConnection: close\r\n\r\n"},
	{"max_ranges 1 two", "GET /one-range/a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-1,3-4\r\nConnection: close\r\n\r\n"},
	{"range http10", "GET /a.txt HTTP/1.0\r\nRange: bytes=0-1\r\n\r\n"},
	{"chunked off", "GET /no-chunks/ HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"log_not_found off", "GET /quiet/nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"log_not_found off index", "GET /quiet/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"header order", "GET /added/a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"msie_refresh", "GET /refresh HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1)\r\nConnection: close\r\n\r\n"},
	{"msie_refresh not msie", "GET /refresh HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Firefox\r\nConnection: close\r\n\r\n"},
	{"msie6 post", "POST /r HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)\r\nContent-Length: 0\r\n\r\n"},
	{"msie6 get", "GET /r HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)\r\n\r\n"},
	{"safari", "GET /safari HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15\r\n\r\n"},
	{"charset variable", "GET /cs/a.txt?cs=windows-1251 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"charset variable empty", "GET /cs/a.txt?cs= HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"charset not on redirects", "GET /csr HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"charset not on error_page redirects", "GET /cs-ep/nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"charset in multipart ranges", "GET /cs-range/a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-1,3-4\r\nConnection: close\r\n\r\n"},
	{"redirect", "GET /moved HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"status without reason", "GET /odd HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"autoindex chunked", "GET /dir/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"autoindex http10", "GET /dir/ HTTP/1.0\r\n\r\n"},
	{"autoindex head", "HEAD /dir/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"long URI", "GET /" + strings.Repeat("u", 1100) + " HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	{"URI at the limit", "GET /" + strings.Repeat("u", 1024-16) + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"long header", "GET /r HTTP/1.1\r\nHost: localhost\r\nX-Long: " + strings.Repeat("h", 1100) + "\r\n\r\n"},
	{"many headers", "GET /r HTTP/1.1\r\nHost: localhost\r\n" + strings.Repeat("X-Many: "+strings.Repeat("m", 900)+"\r\n", 6) + "\r\n"},
	{"some headers", "GET /r HTTP/1.1\r\nHost: localhost\r\n" + strings.Repeat("X-Some: "+strings.Repeat("m", 900)+"\r\n", 3) + "Connection: close\r\n\r\n"},
}

// TestHTTP1 sends each raw request to nginx and edge and compares the
// answers, then the error logs.
func TestHTTP1(t *testing.T) {
	nginx := harness.Require(t, "nginx", "nginx")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "html", "dir"), 0o755)
	os.MkdirAll(filepath.Join(dir, "html", "x"), 0o755)
	os.WriteFile(filepath.Join(dir, "html", "a.txt"), []byte("hello, world\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "html", "dir", "f.txt"), []byte("f\n"), 0o644)
	mtime := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range []string{"a.txt", "dir/f.txt", "dir"} {
		os.Chtimes(filepath.Join(dir, "html", f), mtime, mtime)
	}
	conf := func(name string) func(int) string {
		return func(port int) string { return fmt.Sprintf(http1Conf, port, dir, name) }
	}
	nport, eport := startServer(t, nginx, "nginx", dir, conf("nginx")), startServer(t, edgeBin, "edge", dir, conf("edge"))
	compareExchanges(t, nport, eport, http1Cases, nil)
	time.Sleep(100 * time.Millisecond)
	// nginx cuts lines at 2048 bytes, the pid and connection number in
	// them included: compare what both servers write whole.
	nlog := cutLines(errorLines(t, filepath.Join(dir, "nginx.error.log"), nport), 1900)
	elog := cutLines(errorLines(t, filepath.Join(dir, "edge.error.log"), eport), 1900)
	if n, e := strings.Join(sortedLines(nlog), "\n"), strings.Join(sortedLines(elog), "\n"); n != e {
		t.Errorf("error logs differ:\nnginx only:\n%s\nedge only:\n%s", strings.Join(missing(nlog, elog), "\n"), strings.Join(missing(elog, nlog), "\n"))
	}
}

func cutLines(lines []string, n int) []string {
	for i, l := range lines {
		lines[i] = l[:min(len(l), n)]
	}
	return lines
}

// missing are the lines of a not in b.
func missing(a, b []string) []string {
	in := map[string]int{}
	for _, l := range b {
		in[l]++
	}
	var out []string
	for _, l := range a {
		if in[l] > 0 {
			in[l]--
			continue
		}
		out = append(out, l)
	}
	return out
}

// sortedLines sorts log lines: the cases run two at a time on each
// server, so lines of different connections may interleave.
func sortedLines(lines []string) []string {
	out := append([]string(nil), lines...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

var contentLength = regexp.MustCompile(`(?m)^Content-Length: (\d+)\r$`)

// unbrand replaces the server's name and version by "SERVER" in the
// Server headers and the pages of each answer in s, and corrects their
// Content-Length: the one difference nginx and edge mean to have. The
// port becomes "PORT".
func unbrand(s, name string, port int) string {
	s, end, _ := strings.Cut(s, "\n[")
	var b strings.Builder
	for strings.HasPrefix(s, "HTTP/1.1 ") {
		i := strings.Index(s, "\r\n\r\n")
		if i < 0 {
			break
		}
		head, rest := s[:i+4], s[i+4:]
		s = rest
		if m := contentLength.FindStringSubmatch(head); m != nil {
			n := min(atoi(m[1]), len(rest))
			body := strings.ReplaceAll(rest[:n], name, "SERVER")
			length := atoi(m[1]) - n + len(body)
			if n == 0 && head[9] >= '3' {
				// HEAD: an error page not sent names the server once.
				length -= len(name) - len("SERVER")
			}
			head = contentLength.ReplaceAllString(head, fmt.Sprintf("Content-Length: %d\r", length))
			s = rest[n:]
			head += body
		}
		b.WriteString(strings.ReplaceAll(head, name, "SERVER"))
	}
	b.WriteString(strings.ReplaceAll(s, name, "SERVER"))
	return strings.ReplaceAll(b.String(), fmt.Sprintf(":%d", port), ":PORT") + "\n[" + end
}

// exchange is a raw request sent to both servers.
type exchange struct{ name, req string }

// compareExchanges sends each request to nginx and to edge at once, on
// new connections, and compares the answers once unbranded and masked.
func compareExchanges(t *testing.T, nport, eport int, cases []exchange, mask func(string) string) {
	t.Helper()
	for _, c := range cases {
		var n, e string
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			n = unbrand(rawExchange(t, nport, c.req), "nginx/"+server.NginxVersion, nport)
		}()
		go func() { defer wg.Done(); e = unbrand(rawExchange(t, eport, c.req), "edge/"+server.Version, eport) }()
		wg.Wait()
		if mask != nil {
			n, e = mask(n), mask(e)
		}
		if n != e {
			t.Errorf("%s:\nnginx:\n%s\nedge:\n%s", c.name, n, e)
		}
	}
}

var dateHeader = regexp.MustCompile(`(?m)^Date: .*\r$`)

// rawExchange sends req on a new connection and reads until the server
// closes it (or stays quiet for a while: a connection kept open), and
// gives what came back with the Date values masked, and how it ended.
func rawExchange(t *testing.T, port int, req string) string {
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	buf := make([]byte, 64<<10)
	end := "closed"
	for {
		c.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				end = "kept open"
			}
			break
		}
	}
	return dateHeader.ReplaceAllString(out.String(), "Date: DATE\r") + "\n[" + end + "]"
}
