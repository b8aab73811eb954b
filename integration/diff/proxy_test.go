package diff

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"edge/integration/harness"
)

// Proxying against nginx: one echo backend answers both servers, and
// its answers carry the request it received, so comparing what the
// clients get compares what the backend saw too (request line, headers
// in order and case, body), and how each server passes an answer on
// (status line, headers, body, errors and their pages, the error log).

// echoBackend is a raw HTTP/1.x backend. It answers by what the path
// contains (see answer), with the request it read as the body.
type echoBackend struct {
	ln   net.Listener
	port int
	wg   sync.WaitGroup
}

func startEcho(t *testing.T) *echoBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &echoBackend{ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	b.wg.Add(1)
	go b.serve()
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

func (b *echoBackend) serve() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			for b.exchange(c, br) {
			}
		}()
	}
}

// exchange reads one request and answers it; it reports whether the
// connection goes on.
func (b *echoBackend) exchange(c net.Conn, br *bufio.Reader) bool {
	var req bytes.Buffer
	length, chunked := 0, false
	for {
		line, err := br.ReadString('\n')
		req.WriteString(line)
		if err != nil {
			return false
		}
		if line == "\r\n" || line == "\n" {
			break
		}
		name, value, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "content-length":
			length, _ = strconv.Atoi(value)
		case "transfer-encoding":
			chunked = strings.Contains(strings.ToLower(value), "chunked")
		}
	}
	switch {
	case chunked:
		for {
			line, err := br.ReadString('\n')
			req.WriteString(line)
			if err != nil {
				return false
			}
			n, _ := strconv.ParseInt(strings.TrimSpace(line), 16, 64)
			if n == 0 {
				tail, _ := br.ReadString('\n')
				req.WriteString(tail)
				break
			}
			chunk := make([]byte, n+2)
			io.ReadFull(br, chunk)
			req.Write(chunk)
		}
	case length > 0:
		body := make([]byte, length)
		io.ReadFull(br, body)
		req.Write(body)
	}
	text := req.String()
	first, _, _ := strings.Cut(text, "\r\n")
	keep := strings.Contains(text, "HTTP/1.1\r\n") && !strings.Contains(strings.ToLower(text), "connection: close")
	conn := "close"
	if keep {
		conn = "keep-alive"
	}
	head := func(status string, fields ...string) string {
		return "HTTP/1.1 " + status + "\r\n" + strings.Join(fields, "\r\n") + "\r\nConnection: " + conn + "\r\n\r\n"
	}
	std := []string{"Server: backend/1", "Date: Thu, 01 Jan 2015 00:00:00 GMT", "x-lower-case: kept as sent",
		"X-Pad: avoid browser bug", "X-Accel-Buffering: no", "X-Backend: yes", "Content-Type: text/plain"}
	withLength := func(body string) []string {
		return append(append([]string{}, std...), "Content-Length: "+strconv.Itoa(len(body)))
	}
	switch {
	case strings.Contains(first, "/ws"):
		// An upgrade: the request comes back, then every byte is echoed
		// in capitals until the client closes.
		c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\nX-Seen: " +
			strconv.Itoa(len(text)) + "\r\n\r\n"))
		buf := make([]byte, 4096)
		for {
			n, err := br.Read(buf)
			if n > 0 {
				c.Write(bytes.ToUpper(buf[:n]))
			}
			if err != nil {
				return false
			}
		}
	case strings.Contains(first, "/cookies"):
		c.Write([]byte(head("200 OK", append(withLength(text),
			"Set-Cookie: a=1; Domain=backend.example; Path=/app/x",
			"Set-Cookie: b=2;path=/re/y;domain=.Backend.Example; HttpOnly",
			"Set-Cookie: c=3; Path=/other; Secure",
			"Set-Cookie: d=4")...) + text))
	case strings.Contains(first, "/sse"):
		// Server-sent events: the first event, then (after the client
		// had it) the second, then the end.
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Accel-Buffering: no\r\n\r\ndata: one\n\n"))
		time.Sleep(300 * time.Millisecond)
		c.Write([]byte("data: two\n\n"))
		return false
	case strings.Contains(first, "/accel-named"):
		c.Write([]byte(head("200 OK", "X-Accel-Redirect: @accel", "Content-Length: 4") + "body"))
	case strings.Contains(first, "/accel-unsafe"):
		c.Write([]byte(head("200 OK", "X-Accel-Redirect: /files/../proxy_test.conf", "Content-Length: 4") + "body"))
	case strings.Contains(first, "/accel"):
		c.Write([]byte(head("200 OK", "X-Accel-Redirect: /files/a.txt?x=1", "Content-Type: application/x-custom",
			"Content-Disposition: attachment; filename=a.txt", "Set-Cookie: s=1", "X-Dropped: yes", "Content-Length: 4") + "body"))
	case strings.Contains(first, "/status-299"):
		c.Write([]byte(head("299 Fine By Me", withLength(text)...) + text))
	case strings.Contains(first, "/status-404"):
		c.Write([]byte(head("404 Not Here", append(withLength(text), "Last-Modified: Thu, 01 Jan 2015 00:00:00 GMT")...) + text))
	case strings.Contains(first, "/lm-200"):
		c.Write([]byte(head("200 OK", append(withLength(text), "Last-Modified: Thu, 01 Jan 2015 00:00:00 GMT", "ETag: \"x\"")...) + text))
	case strings.Contains(first, "/status-204"):
		c.Write([]byte(head("204 No Content", withLength("")...)))
	case strings.Contains(first, "/status-503"):
		c.Write([]byte(head("503 Busy", withLength(text)...) + text))
	case strings.Contains(first, "/chunked"):
		c.Write([]byte(head("200 OK", append(std, "Transfer-Encoding: chunked")...) +
			fmt.Sprintf("%x\r\n%s\r\n5\r\n tail\r\n0\r\n\r\n", len(text), text)))
	case strings.Contains(first, "/to-close"):
		c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + text))
		return false
	case strings.Contains(first, "/relative-redirect"):
		c.Write([]byte(head("302 Found", append(withLength(text), "Location: /admin/")...) + text))
	case strings.Contains(first, "/redirect"):
		to := fmt.Sprintf("http://127.0.0.1:%d/elsewhere/x", b.port)
		c.Write([]byte(head("302 Found", append(withLength(text), "Location: "+to, "Refresh: 5; url="+to)...) + text))
	case strings.Contains(first, "/hang"):
		time.Sleep(1500 * time.Millisecond)
		return false
	case strings.Contains(first, "/bad-header"):
		c.Write([]byte("HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok"))
	case strings.Contains(first, "/no-answer"):
		return false
	case strings.Contains(first, "/truncated"):
		c.Write([]byte(head("200 OK", "Content-Length: 100") + "short"))
		return false
	case strings.Contains(first, "/http09"):
		c.Write([]byte("no head at all\n"))
		return false
	default:
		c.Write([]byte(head("200 OK", withLength(text)...) + text))
	}
	return keep
}

const proxyConf = `error_log %[2]s/%[3]s.error.log info;
events {}
http {
    log_format up '$request|$status|$upstream_addr|$upstream_status|$proxy_host|$upstream_response_length|$upstream_bytes_received|$upstream_bytes_sent|$upstream_http_x_backend|$upstream_cookie_b';
    access_log %[2]s/%[3]s.access.log up;
    upstream backend { server 127.0.0.1:%[4]d; }
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    upstream pair { server 127.0.0.1:%[5]d; server 127.0.0.1:%[4]d; }
    upstream deadfirst { server 127.0.0.1:%[5]d max_fails=0; server 127.0.0.1:%[4]d max_fails=0; }
    upstream twice { server 127.0.0.1:%[4]d max_fails=0; server 127.0.0.1:%[4]d max_fails=0; server 127.0.0.1:%[4]d max_fails=0; }
    server {
        listen 127.0.0.1:%[1]d;
        server_name localhost;
        proxy_read_timeout 500ms;
        location / { proxy_pass http://127.0.0.1:%[4]d; }
        location /slow/ { proxy_pass http://127.0.0.1:%[4]d; proxy_read_timeout 200ms; }
        location /uri/ { proxy_pass http://127.0.0.1:%[4]d/other/; }
        location = /exact { proxy_pass http://127.0.0.1:%[4]d/x; }
        location /headers/ {
            proxy_pass http://127.0.0.1:%[4]d;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header Host $host;
            proxy_set_header Accept-Encoding "";
            proxy_set_header X-Empty $arg_nothing;
            proxy_set_header X-Port $proxy_port;
        }
        location /v11/ { proxy_pass http://127.0.0.1:%[4]d; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /rw/ { rewrite ^/rw/(.*)$ /rewritten/$1 break; proxy_pass http://127.0.0.1:%[4]d/ignored/; }
        location /rwlast/ { rewrite ^/rwlast/(.*)$ /uri/$1 last; }
        location ~ ^/re/ { proxy_pass http://127.0.0.1:%[4]d; }
        location /var/ { set $b 127.0.0.1:%[4]d; proxy_pass http://$b; }
        location /varuri/ { set $b 127.0.0.1:%[4]d; proxy_pass http://$b/fixed$is_args$args; }
        location /varups/ { set $u backend; proxy_pass http://$u; }
        location /hide/ { proxy_pass http://127.0.0.1:%[4]d; proxy_hide_header X-Backend; proxy_pass_header Server; proxy_pass_header X-Accel-Buffering; }
        location /noredirect/ { proxy_pass http://127.0.0.1:%[4]d; proxy_redirect off; }
        location /explicit/ { proxy_pass http://127.0.0.1:%[4]d; proxy_redirect http://127.0.0.1:%[4]d/elsewhere/ /there/; proxy_redirect /admin/ /adm/; }
        location /uriredirect/ { proxy_pass http://127.0.0.1:%[4]d/elsewhere/; }
        location /intercept/ { proxy_pass http://127.0.0.1:%[4]d; proxy_intercept_errors on; error_page 404 = /errpage; }
        location /notintercepted/ { proxy_pass http://127.0.0.1:%[4]d; error_page 404 = /errpage; }
        location = /errpage { return 200 "intercepted\n"; }
        location /bare/ { proxy_pass http://127.0.0.1:%[4]d; proxy_pass_request_body off; proxy_pass_request_headers off; }
        location /down/ { proxy_pass http://127.0.0.1:%[5]d; }
        location /down-page/ { proxy_pass http://127.0.0.1:%[5]d; error_page 502 = /errpage; }
        location /ups/ { proxy_pass http://backend; }
        location /pair/ { proxy_pass http://pair; }
        location /next/ { proxy_pass http://pair; proxy_next_upstream error http_503; }
        location /method/ { proxy_pass http://127.0.0.1:%[4]d; proxy_method PUT; }
        location /iflevel/ { proxy_pass http://127.0.0.1:%[4]d; if ($arg_x) { set $y 1; } }
        location /small/ { proxy_pass http://127.0.0.1:%[4]d; proxy_buffer_size 1k; }
        location /ep/ { error_page 404 = @named; }
        location @named { proxy_pass http://127.0.0.1:%[4]d; }
        location @accel { return 200 "named\n"; }
        location /unix/ { proxy_pass http://unix:%[2]s/none.sock:/x/; }
        location /files/ { internal; alias %[2]s/files/; }
        location /next-post/ { proxy_pass http://deadfirst; }
        location /twice/ { proxy_pass http://twice; proxy_next_upstream http_503; }
        location /twice-ni/ { proxy_pass http://twice; proxy_next_upstream http_503 non_idempotent; }
        location /tries/ { proxy_pass http://twice; proxy_next_upstream http_503; proxy_next_upstream_tries 2; }
        location /no-next/ { proxy_pass http://deadfirst; proxy_next_upstream off; }
        location /tls/ { proxy_pass https://127.0.0.1:TLSPORT; }
        location /tls-sni/ { proxy_pass https://127.0.0.1:TLSPORT; proxy_ssl_server_name on; proxy_ssl_name backend.test; }
        location /tls-verify/ {
            proxy_pass https://127.0.0.1:TLSPORT;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate %[2]s/backend.pem;
            proxy_ssl_name backend.test;
        }
        location /tls-wrong-name/ {
            proxy_pass https://127.0.0.1:TLSPORT;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate %[2]s/backend.pem;
            proxy_ssl_name other.test;
        }
        location /setbody/ { proxy_pass http://127.0.0.1:%[4]d; proxy_set_body "name=$arg_n&x=1"; }
        location /noaccel/ { proxy_pass http://127.0.0.1:%[4]d; proxy_ignore_headers X-Accel-Redirect X-Accel-Buffering; }
        location /stream/ { proxy_pass http://127.0.0.1:%[4]d; proxy_request_buffering off; }
        location /stream11/ { proxy_pass http://127.0.0.1:%[4]d; proxy_request_buffering off; proxy_http_version 1.1; client_max_body_size 20; }
        location /jar/ {
            proxy_pass http://127.0.0.1:%[4]d;
            proxy_cookie_domain backend.example www.example.com;
            proxy_cookie_path /app/ /;
            proxy_cookie_path ~^/re/(.*)$ /regex/$1;
        }
        location /jar/off/ { proxy_pass http://127.0.0.1:%[4]d; proxy_cookie_path off; }
        location /flags/ {
            proxy_pass http://127.0.0.1:%[4]d;
            proxy_cookie_flags a secure httponly samesite=lax;
            proxy_cookie_flags ~^[bc]$ nosecure nohttponly samesite;
        }
        location /flags-odd/ { proxy_pass http://127.0.0.1:%[4]d; proxy_cookie_flags d bogus; }
        location /limited/ { proxy_pass http://127.0.0.1:%[4]d; client_max_body_size 10; }
        location /ws {
            proxy_pass http://127.0.0.1:%[4]d;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }
    }
}
`

// proxyCases are raw requests; each ends its connection.
var proxyCases = []exchange{
	{"plain", "GET /plain?a=1&b=%20 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: t/1\r\nConnection: close\r\n\r\n"},
	{"http10", "GET /plain HTTP/1.0\r\nHost: localhost\r\n\r\n"},
	{"head", "HEAD /plain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"hop by hop", "GET /plain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nKeep-Alive: 300\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: x\r\nExpect: something\r\nX-Mixed-CASE: v\r\ncookie: a=1\r\nCookie: b=2\r\n\r\n"},
	{"escaped", "GET /a%20b/%41?x=%20 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"dots", "GET /a/./b/../c//d HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"uri part", "GET /uri/x%2Fy/sp%20ace?q=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"uri part plain", "GET /uri/deep/er HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"exact", "GET /exact?k HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"post", "POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nhello world"},
	{"post empty", "POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
	{"post to a temporary file", "POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20000\r\nConnection: close\r\n\r\n" + strings.Repeat("0123456789", 2000)},
	{"chunked over the limit", "POST /limited/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"},
	{"post chunked", "POST /post HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"},
	{"post expect", "POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nbody"},
	{"headers", "GET /headers/x HTTP/1.1\r\nHost: LocalHost:8080\r\nX-Forwarded-For: 10.0.0.1\r\nAccept-Encoding: gzip\r\nX-Real-IP: spoofed\r\nConnection: close\r\n\r\n"},
	{"http 1.1 upstream", "GET /v11/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"rewrite break", "GET /rw/a%20b?z=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"rewrite last", "GET /rwlast/a%20b?z=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"regex location", "GET /re/a%20b?z HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"variables", "GET /var/a%20b?z=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"variables with uri", "GET /varuri/a?z=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"variable upstream", "GET /varups/a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"status line", "GET /status-299 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"status 404 last-modified", "GET /status-404 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"last-modified", "GET /lm-200 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"status 204", "GET /status-204 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"chunked answer", "GET /chunked HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"chunked answer to 1.0", "GET /chunked HTTP/1.0\r\n\r\n"},
	{"answer to close", "GET /to-close HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"redirect default", "GET /redirect HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"relative redirect", "GET /relative-redirect HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"relative redirect rewritten", "GET /explicit/relative-redirect HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"redirect off", "GET /noredirect/redirect HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"redirect explicit", "GET /explicit/redirect HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"redirect uri part", "GET /uriredirect/redirect HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"read timeout", "GET /slow/hang HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"bad header", "GET /bad-header HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"no answer", "GET /no-answer HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"truncated", "GET /truncated HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"http 0.9 answer", "GET /http09 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"hidden and passed", "GET /hide/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"intercepted", "GET /intercept/status-404 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"not intercepted", "GET /notintercepted/status-404 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"bare", "GET /bare/x HTTP/1.1\r\nHost: localhost\r\nX-Gone: 1\r\nConnection: close\r\n\r\n"},
	{"refused", "GET /down/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"refused error page", "GET /down-page/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"upstream block", "GET /ups/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"next upstream on 503", "GET /next/status-503 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"method", "GET /method/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"if level", "GET /iflevel/x?x=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"too big header", "GET /small/x HTTP/1.1\r\nHost: localhost\r\nX-Long: " + strings.Repeat("y", 1100) + "\r\nConnection: close\r\n\r\n"},
	{"named location", "GET /ep/x?y HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"unix socket missing", "GET /unix/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"upgrade", "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly bytes"},
	{"streamed body", "POST /stream/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world"},
	{"streamed chunked body to 1.0", "POST /stream/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"},
	{"streamed chunked body to 1.1", "POST /stream11/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"},
	{"streamed chunked body too large", "POST /stream11/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"},
	{"proxy_set_body", "POST /setbody/x?n=edge HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nhello"},
	{"proxy_set_body get", "GET /setbody/x?n=edge HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"https backend", "GET /tls/x?y HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"https backend with SNI", "GET /tls-sni/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"https backend verified", "GET /tls-verify/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"https backend, wrong name", "GET /tls-wrong-name/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"next upstream: a POST not sent yet", "POST /next-post/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"},
	{"next upstream: GET on 503", "GET /twice/status-503 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"next upstream: POST sent, not again", "POST /twice/status-503 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"},
	{"next upstream: POST with non_idempotent", "POST /twice-ni/status-503 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"},
	{"next upstream: tries", "GET /tries/status-503 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"next upstream off", "GET /no-next/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"cookies", "GET /jar/cookies HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"cookie flags", "GET /flags/cookies HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"cookie flags unknown", "GET /flags-odd/cookies HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"cookies off", "GET /jar/off/cookies HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"cookies untouched", "GET /cookies HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"x-accel-redirect ignored", "GET /noaccel/accel HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"x-accel-buffering no", "GET /sse HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"x-accel-redirect", "GET /accel HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"x-accel-redirect head", "HEAD /accel HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"x-accel-redirect post", "POST /accel HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"},
	{"x-accel-redirect named", "GET /accel-named HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"x-accel-redirect unsafe", "GET /accel-unsafe HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"files are internal", "GET /files/a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
	{"keep-alive client", "GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\nGET /chunked HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
}

// tempFileRe is a temporary file's name: nginx's under its temp path,
// edge's under the system's.
var tempFileRe = regexp.MustCompile(`temporary file \S+`)

// startTLSBackend is an HTTPS backend whose certificate names
// backend.test (self-signed, written to dir/backend.pem); it answers with
// the name the client sent (SNI) and the request line.
func startTLSBackend(t *testing.T, dir string) int {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "backend.test"},
		DNSNames: []string{"backend.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "backend.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "sni=%q %s %s %s\n", r.TLS.ServerName, r.Method, r.RequestURI, r.Proto)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

var causeRe = regexp.MustCompile(`\) \([^()]*\)( while connecting to upstream)`)

func TestProxy(t *testing.T) {
	nginx := harness.Require(t, "nginx", "nginx")
	dir := t.TempDir()
	backend := startEcho(t)
	dead := harness.FreePort(t) // nothing listens there
	os.MkdirAll(filepath.Join(dir, "files"), 0o755)
	os.WriteFile(filepath.Join(dir, "files", "a.txt"), []byte("the protected file\n"), 0o644)
	mtime := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(dir, "files", "a.txt"), mtime, mtime)
	tlsPort := startTLSBackend(t, dir)
	conf := func(name string) func(int) string {
		return func(port int) string {
			return strings.ReplaceAll(fmt.Sprintf(proxyConf, port, dir, name, backend.port, dead), "TLSPORT", strconv.Itoa(tlsPort))
		}
	}
	nport, eport := startServer(t, nginx, "nginx", dir, conf("nginx")), startServer(t, edgeBin, "edge", dir, conf("edge"))
	compareExchanges(t, nport, eport, proxyCases, func(s string) string {
		return strings.ReplaceAll(s, strconv.Itoa(backend.port), "BACKEND")
	})
	time.Sleep(200 * time.Millisecond)
	mask := func(lines []string) []string {
		for i, l := range lines {
			l = tempFileRe.ReplaceAllString(l, "temporary file FILE")
			l = strings.ReplaceAll(l, strconv.Itoa(backend.port), "BACKEND")
			l = strings.ReplaceAll(l, strconv.Itoa(dead), "DEAD")
			lines[i] = strings.ReplaceAll(l, dir, "DIR")
		}
		return lines
	}
	nlog := mask(errorLines(t, filepath.Join(dir, "nginx.error.log"), nport))
	// edge says why a unix socket failed, after nginx's words.
	elog := mask(errorLines(t, filepath.Join(dir, "edge.error.log"), eport))
	for i, l := range elog {
		elog[i] = causeRe.ReplaceAllString(l, ")$1")
	}
	if n, e := strings.Join(sortedLines(nlog), "\n"), strings.Join(sortedLines(elog), "\n"); n != e {
		t.Errorf("error logs differ:\nnginx only:\n%s\nedge only:\n%s", strings.Join(missing(nlog, elog), "\n"), strings.Join(missing(elog, nlog), "\n"))
	}
	access := func(name string) []string {
		data, _ := os.ReadFile(filepath.Join(dir, name+".access.log"))
		return mask(strings.Split(strings.TrimSpace(string(data)), "\n"))
	}
	na, ea := access("nginx"), access("edge")
	if n, e := strings.Join(sortedLines(na), "\n"), strings.Join(sortedLines(ea), "\n"); n != e {
		t.Errorf("access logs differ:\nnginx only:\n%s\nedge only:\n%s", strings.Join(missing(na, ea), "\n"), strings.Join(missing(ea, na), "\n"))
	}
}
