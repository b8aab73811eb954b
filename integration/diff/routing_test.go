package diff

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edge/integration/harness"
)

// routingConf labels every server and location with what it answers, so
// the body tells which one a request reached.
const routingConf = `events {}
http {
    server {
        listen 127.0.0.1:%[1]d default_server;
        server_name a.test;
        location = / { return 200 "A exact /"; }
        location = /index.html { return 200 "typed by extension"; }
        location = /a.PNG { return 200 "not in the default types"; }
        location / { return 200 "A prefix /"; }
        location /docs/ {
            return 200 "A prefix /docs/";
            location /docs/api/ { return 200 "A nested /docs/api/"; }
            location ~ \.txt$ { return 200 "A nested regex txt"; }
        }
        location ^~ /static/ { return 200 "A noregex /static/"; }
        location ~ \.(png|jpg)$ { return 200 "A regex img"; }
        location ~* \.PDF$ { return 200 "A regex pdf caseless"; }
        location /img/ {
            return 200 "A prefix /img/";
            location /img/deep/ { return 200 "A nested /img/deep/"; }
        }
        location =/codes/405 { return 405; }
        location =/codes/410 { return 410; }
        location =/codes/504 { return 504; }
        location =/codes/302 { return 302 /elsewhere; }
        location =/codes/url { return http://example.com/x; }
        location =/codes/html { default_type text/html; return 200 "<b>html</b>"; }
    }
    server { listen 127.0.0.1:%[1]d; server_name exact.test; return 200 "exact"; }
    server { listen 127.0.0.1:%[1]d; server_name *.wild.test; return 200 "leading wildcard"; }
    server { listen 127.0.0.1:%[1]d; server_name *.deep.wild.test; return 200 "longer leading wildcard"; }
    server { listen 127.0.0.1:%[1]d; server_name www.trail.*; return 200 "trailing wildcard"; }
    server { listen 127.0.0.1:%[1]d; server_name .dot.test; return 200 "dot wildcard"; }
    server { listen 127.0.0.1:%[1]d; server_name ~^re\d+\.test$; return 200 "regex"; }
    server { listen 127.0.0.1:%[1]d; server_name ~^x\.wild\.test$; return 200 "regex after wildcard"; }
    server { listen 127.0.0.1:%[1]d; server_name ~^WWW\.UPPER\.test$; return 200 "capital regex is caseless"; }
    server {
        listen 127.0.0.1:%[1]d;
        server_name types.test;
        charset utf-8;
        types {
            text/css css;
            application/json json JSONX;
        }
        default_type application/octet-stream;
        location / { return 200 "typed"; }
        location /none/ {
            types {}
            charset_types application/json;
            return 200 "only default_type";
        }
        location /all/ {
            charset_types *;
            return 200 "every type gets the charset";
        }
        location /off/ {
            charset off;
            return 200 "no charset";
        }
        location = /err { return 404; }
    }
    map $http_x_kind $kind {
        default        "unknown";
        apple          "fruit";
        ~^car(?<model>\d+)$ "car $model";
        ~*^BIKE        "bike";
    }
    map $host $zone {
        hostnames;
        default        "none";
        .example.test  "dot";
        *.sub.example.test "sub";
        www.example.*  "www";
        "exact.example.test" "exact";
    }
    server {
        listen 127.0.0.1:%[1]d;
        server_name vars.test *.example.test www.example.org ~^(?<user>[a-z]+)\.users\.test$;
        set $greeting "hello";
        location = /vars {
            return 200 "$request_method $uri args=$args a=$arg_a is=$is_args host=$host c=$cookie_sid h=$http_x_test ${greeting}x";
        }
        location = /set {
            set $greeting "$greeting, $host";
            set $args "changed=1";
            return 200 "$greeting $args";
        }
        location ~ ^/re/(\w+)/(?<id>\d+)$ { return 200 "captures $1 $2 $id"; }
        location = /map { return 200 "kind=$kind zone=$zone"; }
        location = /user { return 200 "user=$user"; }
        location = /redirect { return 302 /to/$arg_x; }
    }
    server {
        listen 127.0.0.1:%[1]d;
        server_name rerun.test;
        if ($uri = /epage) { return 200 "server if ran again"; }
        rewrite ^/x$ /int;
        location = /int { internal; return 200 "internal via rewrite"; }
        location / { error_page 404 /epage; return 404; }
    }
    server {
        listen 127.0.0.1:%[1]d;
        server_name rw.test;
        rewrite_log on;
        if ($http_x_block) { return 403; }
        rewrite ^/old/(.*)$ /new/$1 last;
        rewrite ^/perm$ /target permanent;
        rewrite ^/red$ http://example.com/x redirect;
        rewrite ^/drop-args$ /new/dropped?;
        rewrite ^/add-args$ /new/added?x=1;
        location /new/ { return 200 "new uri=$uri args=$args"; }
        location /loop { rewrite ^ /loop; }
        location /brk { rewrite ^/brk(.*)$ /new$1 break; return 200 "after break"; }
        location /cond {
            if ($arg_a = "1") { return 200 "a is one"; }
            if ($http_x_k ~* ^(v)(\d+)$) { return 200 "matched $1 $2"; }
            if ($arg_b) { set $x "b set"; }
            if (!-f /nonexistent-edge-file) { set $y "no file"; }
            if ($arg_c != "") { rewrite ^ /new/from-if last; }
            return 200 "fallthrough x=$x y=$y";
        }
        location /if-type {
            if ($arg_h) { charset utf-8; }
            return 200 "typed";
        }
    }
    server {
        listen 127.0.0.1:%[1]d;
        server_name first.test;
        return 301 https://example.com/;
        location / { return 200 "never: the server-level return comes first"; }
    }
}
`

// TestRouting sends the same requests to nginx and edge running the same
// configuration and compares what comes back: nginx's server name order,
// its location search, its built-in pages.
func TestRouting(t *testing.T) {
	nginx := harness.Require(t, "nginx", "nginx")
	dir := t.TempDir()
	conf := func(name string) func(int) string {
		return func(port int) string {
			return "error_log " + dir + "/" + name + "-error.log notice;\n" + fmt.Sprintf(routingConf, port)
		}
	}
	nport, eport := startServer(t, nginx, "nginx", dir, conf("nginx")), startServer(t, edgeBin, "edge", dir, conf("edge"))

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(port int, host, path string, header ...string) string {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
		req.Host = host
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		req.Header.Set("X-Test", "t1")
		req.Header.Set("Cookie", "a=1; SID=s2")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		text := brand(string(body))
		return fmt.Sprintf("%d %s %q location=%q length matches body: %v", resp.StatusCode, resp.Header.Get("Content-Type"),
			text, strings.ReplaceAll(resp.Header.Get("Location"), fmt.Sprintf(":%d/", port), ":PORT/"),
			resp.Header.Get("Content-Length") == fmt.Sprint(len(body)))
	}
	for _, c := range []struct{ host, path string }{
		{"a.test", "/"}, {"a.test", "/x"}, {"a.test", "/docs/"}, {"a.test", "/docs/api/v1"},
		{"a.test", "/docs/readme.txt"}, {"a.test", "/docs/api/readme.txt"}, {"a.test", "/docs/logo.png"},
		{"a.test", "/static/logo.png"}, {"a.test", "/logo.png"}, {"a.test", "/paper.pdf"},
		{"a.test", "/img/deep/a.png"}, {"a.test", "/img/a.jpg"}, {"a.test", "/img/"},
		{"a.test", "/codes/405"}, {"a.test", "/codes/410"}, {"a.test", "/codes/504"},
		{"a.test", "/index.html"}, {"a.test", "/a.PNG"}, {"a.test", "/codes/302"}, {"a.test", "/codes/url"}, {"a.test", "/codes/html"},
		{"exact.test", "/"}, {"EXACT.test", "/"}, {"exact.test.", "/"}, {"x.wild.test", "/"}, {"a.b.wild.test", "/"},
		{"x.deep.wild.test", "/"}, {"wild.test", "/"}, {"www.trail.org", "/"}, {"www.trail", "/"},
		{"dot.test", "/"}, {"a.dot.test", "/"}, {"re12.test", "/"}, {"www.upper.test", "/"},
		{"first.test", "/"}, {"unknown.test", "/"},
		{"types.test", "/a.css"}, {"types.test", "/a.json"}, {"types.test", "/a.JSONX"}, {"types.test", "/a.html"},
		{"types.test", "/a"}, {"types.test", "/none/a.css"}, {"types.test", "/all/a.bin"}, {"types.test", "/all/a.json"},
		{"types.test", "/off/a.css"}, {"types.test", "/err"}, {"types.test", "/dir.css/file"},
		{"vars.test", "/vars?a=1&b=2"}, {"vars.test", "/vars"}, {"VARS.test:99", "/vars?A=x"}, {"vars.test", "/set?x=1"},
		{"vars.test", "/re/abc/42"}, {"vars.test", "/map"}, {"www.example.test", "/map"}, {"a.sub.example.test", "/map"},
		{"example.test", "/map"}, {"exact.example.test", "/map"}, {"www.example.org", "/map"}, {"bob.users.test", "/user"},
		{"vars.test", "/redirect?x=here"},
		{"rw.test", "/old/a?q=1"}, {"rw.test", "/perm?x=1"}, {"rw.test", "/red?z=9"}, {"rw.test", "/drop-args?keep=no"},
		{"rw.test", "/add-args?orig=1"}, {"rw.test", "/add-args"}, {"rw.test", "/loop"}, {"rw.test", "/brk/x"},
		{"rw.test", "/cond?a=1"}, {"rw.test", "/cond?b=yes"}, {"rw.test", "/cond?b=0"}, {"rw.test", "/cond?c=1"},
		{"rw.test", "/cond"}, {"rw.test", "/if-type?h=1"}, {"rw.test", "/if-type"},
		{"rerun.test", "/missing"}, {"rerun.test", "/x"},
	} {
		if n, e := get(nport, c.host, c.path), get(eport, c.host, c.path); n != e {
			t.Errorf("Host %s, %s:\nnginx: %s\nedge:  %s", c.host, c.path, n, e)
		}
	}
	for _, kind := range []string{"apple", "APPLE", "car42", "car", "bike", "BIKE", "plane"} {
		if n, e := get(nport, "vars.test", "/map", "X-Kind", kind), get(eport, "vars.test", "/map", "X-Kind", kind); n != e {
			t.Errorf("X-Kind %s:\nnginx: %s\nedge:  %s", kind, n, e)
		}
	}
	for _, c := range []struct{ path, header, value string }{
		{"/cond", "X-K", "V12"}, {"/cond", "X-K", "w1"}, {"/anything", "X-Block", "1"},
	} {
		if n, e := get(nport, "rw.test", c.path, c.header, c.value), get(eport, "rw.test", c.path, c.header, c.value); n != e {
			t.Errorf("%s %s: %s:\nnginx: %s\nedge:  %s", c.path, c.header, c.value, n, e)
		}
	}
	// rewrite_log's notices and the warnings of uninitialized variables.
	time.Sleep(100 * time.Millisecond)
	nlog := errorLines(t, filepath.Join(dir, "nginx-error.log"), nport)
	elog := errorLines(t, filepath.Join(dir, "edge-error.log"), eport)
	if n, e := strings.Join(nlog, "\n"), strings.Join(elog, "\n"); n != e {
		t.Errorf("error logs differ:\nnginx only:\n%s\nedge only:\n%s", strings.Join(missing(nlog, elog), "\n"), strings.Join(missing(elog, nlog), "\n"))
	}
	if !strings.Contains(strings.Join(elog, "\n"), "rewritten data") || !strings.Contains(strings.Join(elog, "\n"), "using uninitialized") {
		t.Errorf("the log lacks rewrite_log's or the uninitialized variable's lines:\n%s", strings.Join(elog, "\n"))
	}
}
