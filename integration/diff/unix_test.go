package diff

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edge/integration/harness"
)

const unixConf = `error_log %[1]s/%[2]s.error.log info;
pid %[1]s/%[2]s.pid;
events {}
http {
    access_log %[1]s/%[2]s.access.log;
    server {
        listen unix:%[1]s/%[2]s.sock;
        location / { return 200 "[$remote_addr|$remote_port|$server_addr|$server_port]"; }
        location /allow/ { allow unix:; deny all; alias %[1]s/none/; }
        location /deny/ { deny unix:; alias %[1]s/none/; }
        location /moved { return 301 /x; }
    }
}
`

// TestUnixSocket: a unix-socket listener, as the Gunicorn side of the
// design's deployment uses one: the address variables, allow/deny unix:,
// a redirect's host, and the logs' "client: unix:".
func TestUnixSocket(t *testing.T) {
	nginx := harness.Require(t, "nginx", "nginx")
	dir := t.TempDir()
	run := func(bin, name string) map[string]string {
		conf := filepath.Join(dir, name+".conf")
		os.WriteFile(conf, []byte(fmt.Sprintf(unixConf, dir, name)), 0o644)
		args := []string{"-p", dir + "/", "-c", conf}
		if name == "nginx" {
			args = append(args, "-g", "daemon off; master_process off;")
		}
		sock := filepath.Join(dir, name+".sock")
		harness.StartUnix(t, bin, sock, args...)
		client := &http.Client{
			Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		out := map[string]string{}
		for _, p := range []string{"/", "/allow/", "/deny/", "/moved"} {
			resp, err := client.Get("http://localhost" + p)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			out[p] = fmt.Sprintf("%d %q %s", resp.StatusCode, resp.Header.Get("Location"), strings.ReplaceAll(brand(string(body)), name+".sock", "X.sock"))
		}
		client.CloseIdleConnections()
		time.Sleep(100 * time.Millisecond)
		out["error.log"] = strings.ReplaceAll(strings.Join(errorLines(t, filepath.Join(dir, name+".error.log"), 0), "\n"), name+".sock", "X.sock")
		return out
	}
	n, e := run(nginx, "nginx"), run(edgeBin, "edge")
	for k := range n {
		if n[k] != e[k] {
			t.Errorf("%s:\nnginx: %s\nedge:  %s", k, n[k], e[k])
		}
	}
}
