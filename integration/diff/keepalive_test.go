package diff

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"edge/integration/harness"
)

const keepaliveConf = `error_log %[2]s/error.log error;
events {}
http {
    access_log off;
    keepalive_requests 3;
    server {
        listen 127.0.0.1:%[1]d;
        location /off/ { keepalive_timeout 0; return 200 "off"; }
        location /header/ { keepalive_timeout 30s 20; return 200 "header"; }
        location /two/ { keepalive_requests 2; return 200 "two"; }
        location / { return 200 "default"; }
    }
}
`

// TestKeepalive compares, request by request on one connection, whether
// nginx and edge keep it open and what Keep-Alive header they send.
func TestKeepalive(t *testing.T) {
	nginx := harness.Require(t, "nginx", "nginx")
	dir := t.TempDir()
	conf := func(port int) string { return fmt.Sprintf(keepaliveConf, port, dir) }
	nport, eport := startServer(t, nginx, "nginx", dir, conf), startServer(t, edgeBin, "edge", dir, conf)
	// Each sequence runs on a fresh connection: one client, one connection.
	run := func(port int, paths ...string) string {
		tr := &http.Transport{MaxConnsPerHost: 1}
		defer tr.CloseIdleConnections()
		var out []string
		for _, p := range paths {
			resp, err := (&http.Client{Transport: tr}).Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, p))
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			out = append(out, fmt.Sprintf("%s: %d close=%v keep-alive=%q", p, resp.StatusCode, resp.Close, resp.Header.Get("Keep-Alive")))
		}
		return strings.Join(out, "\n")
	}
	for _, seq := range [][]string{
		{"/", "/", "/", "/"}, {"/off/"}, {"/header/", "/header/"}, {"/two/", "/two/"}, {"/", "/two/"}, {"/", "/", "/two/"},
	} {
		if n, e := run(nport, seq...), run(eport, seq...); n != e {
			t.Errorf("%v:\nnginx:\n%s\nedge:\n%s", seq, n, e)
		}
	}
}
