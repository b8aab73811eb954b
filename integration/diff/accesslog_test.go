package diff

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"edge/integration/harness"
)

const accessLogConf = `error_log %[2]s/error.log error;
events {}
http {
    log_format main '$remote_addr "$request" $status $body_bytes_sent "$http_referer" "$http_x_test" $remote_user [$args] $uri';
    log_format js escape=json '{"r":"$request","s":$status,"ua":"$http_user_agent","x":"$http_x_test","u":"$remote_user","a":"$arg_a"}';
    log_format raw escape=none '$http_x_test|$args|$status';
    access_log %[2]s/combined.log;
    server {
        listen 127.0.0.1:%[1]d;
        root %[3]s;
        location /off/ { access_log off; return 200 "off"; }
        location /main/ {
            access_log %[2]s/main.log main;
            access_log %[2]s/js.log js;
            access_log %[2]s/raw.log raw if=$arg_log;
            return 200 "main $uri";
        }
        location /inherit/ { return 204; }
        location /buffered/ { access_log %[2]s/buffered.log main buffer=64k flush=1s; return 200 "b"; }
        location /gz/ { access_log %[2]s/gz.log main gzip=6 flush=1s; return 200 "z"; }
        location /byhost/ { access_log %[2]s/$arg_h.log main; return 200 "h"; }
        location /byhost-noroot/ { root %[2]s/none; access_log %[2]s/$arg_h.log main; return 200 "n"; }
        location /file/ { alias %[3]s/; error_page 404 /file/a.txt; }
        location /nested/ {
            access_log %[2]s/main.log main;
            location /nested/off/ { access_log off; alias %[3]s/; }
            location /nested/in/ { alias %[3]s/; }
        }
    }
}
`

// TestAccessLog sends the same requests to nginx and edge and compares
// the lines of every access log, times aside.
func TestAccessLog(t *testing.T) {
	nginx := harness.Require(t, "nginx", "nginx")
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	os.MkdirAll(www, 0o755)
	os.WriteFile(filepath.Join(www, "a.txt"), []byte("hello"), 0o644)
	start := func(name, bin string) (int, string) {
		logs := filepath.Join(dir, name)
		os.MkdirAll(logs, 0o755)
		return startServer(t, bin, name, dir, func(port int) string { return fmt.Sprintf(accessLogConf, port, logs, www) }), logs
	}
	nport, nlogs := start("nginx", nginx)
	eport, elogs := start("edge", edgeBin)
	for _, port := range []int{nport, eport} {
		for _, c := range []struct {
			method, path string
			header       []string
		}{
			{"GET", "/inherit/x", nil}, {"GET", "/file/a.txt", nil}, {"HEAD", "/file/a.txt", nil},
			{"GET", "/file/a.txt", []string{"Range", "bytes=1-2"}}, {"GET", "/file/missing", nil},
			{"GET", "/main/a?x=1&a=b", []string{"X-Test", "quote\" back\\slash \ttab é", "Referer", "http://r.test/"}},
			{"GET", "/main/u", basic("alice:pw")}, {"GET", "/main/?log=1", []string{"X-Test", "raw \"x\""}},
			{"GET", "/main/?log=0", nil}, {"GET", "/main/?log=", nil}, {"GET", "/off/", nil}, {"POST", "/main/p", nil},
			{"GET", "/nested/off/a.txt", nil}, {"GET", "/nested/in/a.txt", nil},
			{"GET", "/buffered/1", nil}, {"GET", "/buffered/2", nil}, {"GET", "/gz/1", nil}, {"GET", "/gz/2", nil},
			{"GET", "/byhost/?h=one", nil}, {"GET", "/byhost/?h=two", nil}, {"GET", "/byhost-noroot/?h=three", nil},
		} {
			req, _ := http.NewRequest(c.method, fmt.Sprintf("http://127.0.0.1:%d%s", port, c.path), nil)
			req.Close = true // one connection a request: no keep-alive races in the comparison
			for i := 0; i+1 < len(c.header); i += 2 {
				req.Header.Set(c.header[i], c.header[i+1])
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatalf("%s %s to port %d: %v", c.method, c.path, port, err)
			}
			resp.Body.Close()
		}
	}
	time.Sleep(100 * time.Millisecond)
	// Buffered logs hold their lines until flush= has passed.
	for _, logs := range []string{nlogs, elogs} {
		for _, name := range []string{"buffered.log", "gz.log"} {
			if data, _ := os.ReadFile(filepath.Join(logs, name)); len(data) != 0 {
				t.Errorf("%s/%s written before its flush time: %q", filepath.Base(logs), name, data)
			}
		}
	}
	time.Sleep(1500 * time.Millisecond)
	stamp := regexp.MustCompile(`\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]`)
	for _, name := range []string{"combined.log", "main.log", "js.log", "raw.log", "buffered.log", "gz.log", "one.log", "two.log"} {
		read := func(logs string, port int) string {
			data, err := os.ReadFile(filepath.Join(logs, name))
			if err != nil {
				t.Fatal(err)
			}
			if name == "gz.log" {
				zr, err := gzip.NewReader(bytes.NewReader(data))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if data, err = io.ReadAll(zr); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			return strings.ReplaceAll(stamp.ReplaceAllString(string(data), "[TIME]"), fmt.Sprint(port), "PORT")
		}
		if n, e := read(nlogs, nport), read(elogs, eport); n != e {
			t.Errorf("%s differs:\nnginx:\n%s\nedge:\n%s", name, n, e)
		} else if n == "" {
			t.Errorf("%s is empty", name)
		}
	}
	// No root, no log file: nginx's test of the root directory.
	for _, logs := range []string{nlogs, elogs} {
		if _, err := os.Stat(filepath.Join(logs, "three.log")); err == nil {
			t.Errorf("%s: three.log written though the root does not exist", filepath.Base(logs))
		}
	}
	nerr, _ := os.ReadFile(filepath.Join(nlogs, "error.log"))
	eerr, _ := os.ReadFile(filepath.Join(elogs, "error.log"))
	for _, text := range []string{string(nerr), string(eerr)} {
		if !strings.Contains(text, `testing "`+filepath.Join(filepath.Dir(nlogs), filepath.Base(nlogs))) && !strings.Contains(text, `/none" existence failed (2: No such file or directory)`) {
			t.Errorf("no root test failure logged:\n%s", text)
		}
	}
}
