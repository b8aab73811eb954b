package diff

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"edge/integration/harness"
	"edge/server"
)

// gzip against nginx: the same heads (status, headers and their order:
// Content-Encoding, Vary, the weakened ETag, no Content-Length) and the
// same bodies once decompressed (Go's deflate and zlib's differ in their
// bytes, not in what they decompress to).

const gzipConf = `error_log %[2]s/%[3]s.error.log info;
events {}
http {
    access_log off;
    gzip on;
    gzip_vary on;
    server {
        listen 127.0.0.1:%[1]d;
        server_name localhost;
        root %[2]s/html;
        location /text/ { alias %[2]s/html/; gzip_types text/plain; gzip_comp_level 9; }
        location /min/ { alias %[2]s/html/; gzip_min_length 5000; }
        location /novary/ { alias %[2]s/html/; gzip_vary off; }
        location /http10/ { alias %[2]s/html/; gzip_http_version 1.0; }
        location /proxied/ { alias %[2]s/html/; gzip_proxied expired no-cache; }
        location /proxied-any/ { alias %[2]s/html/; gzip_proxied any; }
        location /expired/ { alias %[2]s/html/; gzip_proxied expired; expires -1h; }
        location /noetag/ { alias %[2]s/html/; gzip_proxied no_etag; }
        location /disable/ { alias %[2]s/html/; gzip_disable "curl" msie6; }
        location /static/ { alias %[2]s/html/; gzip_static on; }
        location /always/ { alias %[2]s/html/; gzip_static always; gzip off; }
        location /off/ { alias %[2]s/html/; gzip off; }
        location /dir/ { autoindex on; }
        location /ret { return 200 "returned text, long enough to be compressed by nginx's gzip"; }
        location /deny { deny all; }
    }
}
`

func TestGzip(t *testing.T) {
	nginx := harness.Require(t, "nginx", "nginx")
	dir := t.TempDir()
	html := filepath.Join(dir, "html")
	os.MkdirAll(filepath.Join(html, "dir"), 0o755)
	page := strings.Repeat("<p>compress me, compress me</p>\n", 100)
	files := map[string]string{"page.html": page, "small.html": "tiny\n", "a.txt": strings.Repeat("plain text\n", 50),
		"pre.html": page, "only.html": page, "dir/f.txt": "f\n"}
	for name, body := range files {
		os.WriteFile(filepath.Join(html, name), []byte(body), 0o644)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("the precompressed file\n"))
	zw.Close()
	os.WriteFile(filepath.Join(html, "pre.html.gz"), gz.Bytes(), 0o644)
	os.WriteFile(filepath.Join(html, "only.html.gz"), gz.Bytes(), 0o644)
	mtime := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	filepath.Walk(html, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, mtime, mtime) })
	conf := func(name string) func(int) string {
		return func(port int) string { return fmt.Sprintf(gzipConf, port, dir, name) }
	}
	nport, eport := startServer(t, nginx, "nginx", dir, conf("nginx")), startServer(t, edgeBin, "edge", dir, conf("edge"))
	const ae = "Accept-Encoding: gzip, deflate\r\n"
	cases := []struct{ name, path, version, headers string }{
		{"plain", "/page.html", "1.1", ae},
		{"no accept-encoding", "/page.html", "1.1", ""},
		{"gzip not first", "/page.html", "1.1", "Accept-Encoding: br, gzip\r\n"},
		{"gzip q=0", "/page.html", "1.1", "Accept-Encoding: gzip;q=0\r\n"},
		{"gzip q=0.5", "/page.html", "1.1", "Accept-Encoding: gzip; q=0.5\r\n"},
		{"x-gzip only", "/page.html", "1.1", "Accept-Encoding: x-gzip\r\n"},
		{"head", "/page.html", "1.1", ae},
		{"too short", "/small.html", "1.1", ae},
		{"type not listed", "/a.txt", "1.1", ae},
		{"type listed", "/text/a.txt", "1.1", ae},
		{"min length", "/min/page.html", "1.1", ae},
		{"no vary", "/novary/page.html", "1.1", ae},
		{"http 1.0", "/page.html", "1.0", ae},
		{"http 1.0 allowed", "/http10/page.html", "1.0", ae},
		{"via", "/page.html", "1.1", ae + "Via: 1.1 proxy\r\n"},
		{"via proxied any", "/proxied-any/page.html", "1.1", ae + "Via: 1.1 proxy\r\n"},
		{"via not expired", "/proxied/page.html", "1.1", ae + "Via: 1.1 proxy\r\n"},
		{"via expired", "/expired/page.html", "1.1", ae + "Via: 1.1 proxy\r\n"},
		{"via no_etag", "/noetag/page.html", "1.1", ae + "Via: 1.1 proxy\r\n"},
		{"disabled agent", "/disable/page.html", "1.1", ae + "User-Agent: curl/8\r\n"},
		{"msie6", "/disable/page.html", "1.1", ae + "User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)\r\n"},
		{"other agent", "/disable/page.html", "1.1", ae + "User-Agent: Firefox\r\n"},
		{"not found", "/nope", "1.1", ae},
		{"forbidden", "/deny", "1.1", ae},
		{"return", "/ret", "1.1", ae},
		{"autoindex", "/dir/", "1.1", ae},
		{"range ignored", "/page.html", "1.1", ae + "Range: bytes=0-10\r\n"},
		{"range without gzip", "/page.html", "1.1", "Range: bytes=0-10\r\n"},
		{"not modified", "/page.html", "1.1", ae + "If-None-Match: W/\"5e0be100-c80\"\r\n"},
		{"gzip_static", "/static/pre.html", "1.1", ae},
		{"gzip_static head", "/static/pre.html", "1.1", ae},
		{"gzip_static range", "/static/pre.html", "1.1", ae + "Range: bytes=0-3\r\n"},
		{"gzip_static without accept", "/static/pre.html", "1.1", ""},
		{"gzip_static no .gz", "/static/page.html", "1.1", ae},
		{"gzip_static always", "/always/only.html", "1.1", ""},
		{"gzip off", "/off/page.html", "1.1", ae},
	}
	for _, c := range cases {
		method := "GET"
		if strings.HasPrefix(c.name, "head") || strings.HasSuffix(c.name, " head") {
			method = "HEAD"
		}
		req := fmt.Sprintf("%s %s HTTP/%s\r\nHost: localhost\r\n%sConnection: close\r\n\r\n", method, c.path, c.version, c.headers)
		var n, e string
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			n = strings.ReplaceAll(decoded(t, unbrand(rawExchange(t, nport, req), "nginx/"+server.NginxVersion, nport)), "nginx/"+server.NginxVersion, "SERVER")
		}()
		go func() {
			defer wg.Done()
			e = strings.ReplaceAll(decoded(t, unbrand(rawExchange(t, eport, req), "edge/"+server.Version, eport)), "edge/"+server.Version, "SERVER")
		}()
		wg.Wait()
		if n != e {
			t.Errorf("%s:\nnginx:\n%s\nedge:\n%s", c.name, n, e)
		}
	}
}

// decoded turns one raw answer into its head and its body, de-chunked and
// decompressed.
func decoded(t *testing.T, raw string) string {
	head, body, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		return raw
	}
	if strings.Contains(head, "Transfer-Encoding: chunked") {
		var out strings.Builder
		for {
			line, rest, _ := strings.Cut(body, "\r\n")
			n, err := strconv.ParseInt(line, 16, 64)
			if err != nil || n == 0 || int(n) > len(rest) {
				body = "[chunks end: " + line + "]" + rest
				break
			}
			out.WriteString(rest[:n])
			body = strings.TrimPrefix(rest[n:], "\r\n")
		}
		body = out.String() + body
	}
	if strings.Contains(head, "Content-Encoding: gzip") && body != "" && !strings.HasPrefix(body, "\n[") {
		end := strings.Index(body, "[chunks end")
		if end < 0 {
			end = strings.LastIndex(body, "\n[")
		}
		zr, err := gzip.NewReader(strings.NewReader(body[:end]))
		if err != nil {
			return head + "\n[not gzip: " + err.Error() + "]"
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			return head + "\n[bad gzip: " + err.Error() + "]"
		}
		body = "[gunzipped]" + string(plain) + body[end:]
	}
	return head + "\r\n\r\n" + body
}
