package diff

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"edge/integration/harness"
	"edge/server"
)

const staticConf = `error_log %[3]s error;
events {}
http {
    types {
        text/html html;
        text/css css;
        text/plain txt;
        application/octet-stream bin;
    }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:%[1]d;
        root %[2]s;
        add_header X-Server "s";
        location /inherit/ { alias %[2]s/; }
        location /h/ { add_header X-A "a"; add_header X-B "$uri" always; add_header X-Empty ""; expires 1h; alias %[2]s/; }
        location /h2/ { add_header X-Only-Here 1; expires epoch; alias %[2]s/; }
        location /hmax/ { expires max; alias %[2]s/; }
        location /hneg/ { expires -1; alias %[2]s/; }
        location /hoff/ { expires off; alias %[2]s/; }
        location /hmod/ { expires modified 1h; alias %[2]s/; }
        location /hzero/ { expires 0; return 200 "zero"; }
        location /hvar/ { expires $arg_e; alias %[2]s/; }
        location /hvarmod/ { expires modified $arg_e; alias %[2]s/; }
        location /hosts/ { root %[2]s/sites/$host; }
        location /nest/ {
            location ~ \.php$ { return 200 "inner php"; }
            location ^~ /nest/b/ { return 200 "inner b"; }
        }
        location ~ \.php$ { return 200 "outer php"; }
        location /tfargs/ { try_files /nonexist /redirected; }
        location /epargs2/ { error_page 404 /redirected; }
        location /iftf/ { try_files /nonexist /redirected; set $t 1; if ($t) { } }
        location ~ ^/cap/(.*)$ { rewrite ^/nomatch /x; return 200 "cap [$1]"; }
        location /status/ { add_header X-S $status always; return 200 "s=$status"; }
        location = /ret200 { return 200; }
        location /alias/ { alias %[2]s/sub/; }
        location ~ ^/re-alias/(.+)$ { alias %[2]s/sub/$1; }
        location /idx/ { index missing.html other.html; }
        location /charset/ { charset utf-8; alias %[2]s/; }
        location /spa/ { try_files $uri $uri/ /spa/index.html; }
        location /t/ { try_files $uri =404; }
        location /named/ { try_files $uri @fallback; }
        location @fallback { return 200 "fallback $uri $args"; }
        location /dirtest/ { try_files $uri/ =403; }
        location /tried/ { try_files /nothing $uri /redirected?from=tried; }
        location = /redirected { return 200 "redirected $args"; }
        error_page 404 /404.html;
        location = /404.html { internal; }
        location /ep/ { error_page 403 =200 /ep-ok.html; try_files $uri =403; }
        location /epnamed/ { error_page 404 = @ep; }
        location @ep { return 200 "named error page $uri $request_method"; }
        location /epurl/ { error_page 404 http://example.com/notfound; }
        location /eprecursive/ { error_page 404 /nothing-here.html; }
        location /epret/ { error_page 418 =201 /404.html?from=418; return 418; }
        location /epargs/ { error_page 404 /redirected?via=error; }
        location /deny-all/ { deny all; alias %[2]s/; }
        location /allow-local/ { allow 127.0.0.1; deny all; alias %[2]s/; }
        location /deny-net/ { deny 127.0.0.0/8; allow all; alias %[2]s/; }
        location /deny-return/ { deny all; return 200 "return runs before access"; }
        location /allow-v6/ { allow ::1; deny all; alias %[2]s/; }
        location /deny-ep/ { deny all; error_page 403 /ep-ok.html; }
        location /deny-bits/ { deny 127.1.2.3/8; alias %[2]s/; }
        location /tok-off/ {
            server_tokens off; alias %[2]s/;
            location /tok-off/on/ { server_tokens on; }
        }
        location /small/ { client_max_body_size 10; alias %[2]s/; }
        location /small-ep/ { client_max_body_size 10; error_page 413 /ep-ok.html; }
        location /small-rw/ { client_max_body_size 1k; rewrite ^ /small/a.css last; }
        location /small-off/ { client_max_body_size 0; alias %[2]s/; }
        location /ai/ { autoindex on; alias %[2]s/ai/; }
        location /ai-json/ { autoindex on; autoindex_format json; alias %[2]s/ai/; }
        location /ai-jsonp/ { autoindex on; autoindex_format jsonp; alias %[2]s/ai/; }
        location /ai-xml/ { autoindex on; autoindex_format XML; alias %[2]s/ai/; }
        location /ai-human/ { autoindex on; autoindex_exact_size off; autoindex_localtime on; alias %[2]s/ai/; }
        location /ai-utf/ { autoindex on; charset utf-8; alias %[2]s/ai/; }
        location /ai-utf-json/ { autoindex on; charset utf-8; autoindex_format json; alias %[2]s/ai/; }
        location /lmt/ { alias %[2]s/; limit_except GET { deny all; } }
        location /lmt-post/ { alias %[2]s/; limit_except post PUT { allow 127.0.0.2; deny all; } }
        location /lmt-inherit/ { deny all; alias %[2]s/; limit_except GET { } }
        location /lmt-allow/ { deny all; alias %[2]s/; limit_except GET { allow all; } }
        location /lmt-ep/ { alias %[2]s/; error_page 403 /ep-ok.html; limit_except GET { deny all; } }
        location /lmt-head/ { alias %[2]s/; error_page 403 /ep-ok.html; limit_except POST { deny all; } }
        location /lmt-ret/ { limit_except GET { deny all; } return 200 "rewrite runs first"; }
        location /auth/ { auth_basic "Restricted Area"; auth_basic_user_file htpasswd; alias %[2]s/; }
        location /auth-off/ { auth_basic off; auth_basic_user_file htpasswd; alias %[2]s/; }
        location /auth-var/ { auth_basic "realm $uri"; auth_basic_user_file $arg_f; alias %[2]s/; }
        location /auth-deny/ { deny all; auth_basic "x"; auth_basic_user_file htpasswd; alias %[2]s/; }
        location /auth-ep/ { auth_basic "x"; auth_basic_user_file htpasswd; error_page 401 /ep-ok.html; alias %[2]s/; }
        location /auth-lmt/ { alias %[2]s/; limit_except GET { auth_basic "writers"; auth_basic_user_file htpasswd; } }
        location /ru/ { return 200 "user=[$remote_user]"; }
        location /any-deny/ { satisfy any; deny all; auth_basic "x"; auth_basic_user_file htpasswd; alias %[2]s/; }
        location /any-allow/ { satisfy any; allow all; auth_basic "x"; auth_basic_user_file htpasswd; alias %[2]s/; }
        location /any-noauth/ { satisfy any; deny all; alias %[2]s/; }
        location /any-missing/ { satisfy any; deny all; auth_basic "x"; auth_basic_user_file missing; alias %[2]s/; }
        location /delay/ { auth_delay 100ms; auth_basic "x"; auth_basic_user_file htpasswd; alias %[2]s/; }
        location /tok-build/ { server_tokens BUILD; alias %[2]s/; }
    }
}
`

// TestStatic sends the same requests for files to nginx and edge, serving
// one tree with one configuration, and compares the answers.
func TestStatic(t *testing.T) {
	nginx := harness.Require(t, "nginx", "nginx")
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	files := map[string]string{
		"index.html":           "<h1>home</h1>\n",
		"1k.html":              strings.Repeat("x", 1024),
		"a.css":                "body{}",
		"dir/index.html":       "dir index",
		"sub/file.txt":         "0123456789abcdefghij",
		"idx/other.html":       "other index",
		"space name.html":      "spaced",
		"big.bin":              strings.Repeat("0123456789", 10000),
		"spa/index.html":       "spa shell",
		"spa/app.js":           "js",
		"t/here.txt":           "here",
		"dirtest/d/index.html": "d index",
		"404.html":             "custom not found",
		"sites/a.test/x.txt":   "site a",
		"secret.txt":           "secret",
		".txt":                 "dot file",
		"ep-ok.html":           "error page with 200",
	}
	for name, body := range files {
		p := filepath.Join(www, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	os.MkdirAll(filepath.Join(www, "empty"), 0o755)
	// A directory to list: kinds, sizes, long and escaped names.
	ai := filepath.Join(www, "ai")
	for name, size := range map[string]int{
		"a.txt": 5, ".hidden": 1, "x&<y>\"'(z)!*#%+;=?.txt": 3, strings.Repeat("n", 49) + ".txt": 1,
		strings.Repeat("é", 55): 2, "héllo.txt": 1, "k.bin": 20000, "m.bin": 1536 * 1024, "9999.bin": 9999,
		"b dir/index.htm": 1, strings.Repeat("d", 50) + "/f": 1, strings.Repeat("e", 49) + "/f": 1,
	} {
		p := filepath.Join(ai, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, bytes.Repeat([]byte("x"), size), 0o644)
	}
	os.Symlink("b dir", filepath.Join(ai, "link"))
	os.Symlink("nowhere", filepath.Join(ai, "dangling"))
	old := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	filepath.Walk(www, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, old, old) })

	// Password hashes as users make them, one user a scheme.
	htpasswd, openssl := harness.Require(t, "htpasswd", "apache2-utils"), harness.Require(t, "openssl", "openssl")
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return strings.TrimSpace(string(out))
	}
	ssha := sha1.Sum([]byte("ssha-pw" + "salt"))
	users := strings.Join([]string{
		"# users", "", "alice:{PLAIN}wonder", run(htpasswd, "-nbm", "bob", "apr1-pw"), run(htpasswd, "-nbs", "carol", "sha-pw"),
		run(htpasswd, "-nbB", "-C", "4", "dave", "bcrypt-pw"), "erin:" + run(openssl, "passwd", "-1", "md5-pw"),
		"frank:" + run(openssl, "passwd", "-5", "sha256-pw") + ":extra:fields", "grace:" + run(openssl, "passwd", "-6", "sha512-pw"),
		"henry:garbage", "ivan:{SSHA}" + base64.StdEncoding.EncodeToString(append(ssha[:], "salt"...)),
	}, "\n") + "\n"
	os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(users), 0o644)

	conf := func(name string) func(int) string {
		return func(port int) string {
			return fmt.Sprintf(staticConf, port, www, filepath.Join(dir, name+".error.log"))
		}
	}
	nport, eport := startServer(t, nginx, "nginx", dir, conf("nginx")), startServer(t, edgeBin, "edge", dir, conf("edge"))

	etag := fmt.Sprintf(`"%x-%x"`, old.Unix(), len(files["sub/file.txt"]))
	lastMod := old.Format(http.TimeFormat)
	boundary := regexp.MustCompile(`\b\d{10,20}\b`)
	get := func(port int, method, path string, header ...string) string {
		req, _ := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
		req.URL.Opaque = path // sent as written: "..", "//", "%2e"
		for i := 0; i+1 < len(header); i += 2 {
			if header[i] == "body" {
				req.Body, req.ContentLength = io.NopCloser(strings.NewReader(header[i+1])), int64(len(header[i+1]))
				continue
			}
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		lengthOK := resp.Header.Get("Content-Length") == "" || resp.Header.Get("Content-Length") == fmt.Sprint(len(body))
		body = []byte(brand(string(body)))
		var b strings.Builder
		fmt.Fprintf(&b, "%d", resp.StatusCode)
		for _, h := range []string{"Content-Type", "ETag", "Last-Modified", "Accept-Ranges", "Content-Range", "Location",
			"Cache-Control", "Expires", "Server", "WWW-Authenticate", "X-Server", "X-A", "X-B", "X-Empty", "X-Only-Here", "X-S"} {
			if v := strings.Join(resp.Header.Values(h), ", "); v != "" {
				if h == "Expires" && !strings.Contains(v, "1970") && !strings.Contains(v, "2037") {
					// Computed from now: whether it is in the future is
					// what can be compared.
					t, _ := http.ParseTime(v)
					v = fmt.Sprint("future: ", t.After(time.Now()))
				}
				if h == "Server" {
					v = brand(v)
				}
				fmt.Fprintf(&b, " %s=%q", h, strings.ReplaceAll(v, fmt.Sprintf(":%d/", port), ":PORT/"))
			}
		}
		if !lengthOK && method != "HEAD" {
			fmt.Fprintf(&b, " Content-Length=%s but %d bytes", resp.Header.Get("Content-Length"), len(body))
		}
		if method == "HEAD" {
			fmt.Fprintf(&b, " Content-Length=%s", resp.Header.Get("Content-Length"))
		}
		fmt.Fprintf(&b, " body=%q", boundary.ReplaceAllString(string(body), "BOUNDARY"))
		return boundary.ReplaceAllString(b.String(), "BOUNDARY")
	}
	for _, c := range []struct {
		method, path string
		header       []string
	}{
		{"GET", "/", nil}, {"GET", "/1k.html", nil}, {"GET", "/a.css", nil}, {"GET", "/dir", nil},
		{"GET", "/dir?x=1", nil}, {"GET", "/dir/", nil}, {"GET", "/empty/", nil}, {"GET", "/missing", nil},
		{"GET", "/missing/", nil}, {"GET", "/alias/file.txt", nil}, {"GET", "/re-alias/file.txt", nil},
		{"GET", "/idx/", nil}, {"GET", "/charset/a.css", nil}, {"GET", "/charset/1k.html", nil},
		{"GET", "/space%20name.html", nil}, {"GET", "/sub//file.txt", nil}, {"GET", "/sub/./file.txt", nil},
		{"GET", "/sub/../1k.html", nil}, {"GET", "/../1k.html", nil}, {"GET", "/%2e%2e/1k.html", nil},
		{"GET", "/sub/%2e%2e/1k.html", nil}, {"GET", "/big.bin", nil},
		{"GET", "/spa/app.js", nil}, {"GET", "/spa/route/x", nil}, {"GET", "/spa/", nil}, {"GET", "/spa", nil},
		{"GET", "/t/here.txt", nil}, {"GET", "/t/missing", nil}, {"GET", "/named/missing?a=1", nil},
		{"GET", "/dirtest/d", nil}, {"GET", "/dirtest/d/", nil}, {"GET", "/dirtest/nope", nil},
		{"GET", "/tried/x?y=1", nil}, {"HEAD", "/spa/route", nil},
		{"GET", "/missing-file", nil}, {"GET", "/404.html", nil}, {"GET", "/ep/x", nil}, {"POST", "/epnamed/x", nil},
		{"GET", "/epurl/x", nil}, {"GET", "/eprecursive/x", nil}, {"GET", "/epret/", nil}, {"GET", "/epargs/x?q=1", nil},
		{"HEAD", "/missing-file", nil},
		{"GET", "/deny-all/1k.html", nil}, {"GET", "/allow-local/a.css", nil}, {"GET", "/deny-net/a.css", nil},
		{"GET", "/deny-return/", nil}, {"GET", "/allow-v6/a.css", nil}, {"GET", "/deny-ep/x", nil},
		{"GET", "/deny-bits/a.css", nil},
		{"GET", "/tok-off/a.css", nil}, {"GET", "/tok-off/missing", nil}, {"GET", "/tok-off/on/missing", nil},
		{"GET", "/ai/", nil}, {"GET", "/ai-json/", nil}, {"GET", "/ai-jsonp/?callback=cb.x_1", nil},
		{"GET", "/ai-jsonp/?callback=", nil}, {"GET", "/ai-jsonp/", nil}, {"GET", "/ai-jsonp/?callback=a-b", nil},
		{"GET", "/ai-jsonp/?CALLBACK=" + strings.Repeat("c", 129), nil},
		{"GET", "/ai-xml/", nil}, {"GET", "/ai-human/", nil}, {"GET", "/ai-utf/", nil}, {"GET", "/ai-utf-json/", nil},
		{"HEAD", "/ai/", nil}, {"POST", "/ai/", nil}, {"GET", "/ai/nodir/", nil}, {"GET", "/ai/a.txt/", nil},
		{"GET", "/ai/b%20dir/", nil}, {"GET", "/ai/" + strings.Repeat("d", 50) + "/", nil},
		{"GET", "/lmt/a.css", nil}, {"HEAD", "/lmt/a.css", nil}, {"POST", "/lmt/a.css", nil}, {"OPTIONS", "/lmt/a.css", nil},
		{"FOO", "/lmt/a.css", nil}, {"DELETE", "/lmt/", nil}, {"GET", "/lmt-post/a.css", nil}, {"POST", "/lmt-post/a.css", nil},
		{"PUT", "/lmt-post/a.css", nil}, {"HEAD", "/lmt-head/a.css", nil}, {"GET", "/lmt-head/a.css", nil}, {"GET", "/lmt-inherit/a.css", nil},
		{"POST", "/lmt-inherit/a.css", nil}, {"GET", "/lmt-allow/a.css", nil}, {"POST", "/lmt-allow/a.css", nil},
		{"PATCH", "/lmt-ep/a.css", nil}, {"GET", "/lmt-ep/a.css", nil}, {"POST", "/lmt-ret/", nil},
		{"GET", "/auth/a.css", nil}, {"GET", "/auth/a.css", basic("alice:wonder")}, {"GET", "/auth/a.css", basic("alice:wrong")},
		{"GET", "/auth/a.css", basic("bob:apr1-pw")}, {"GET", "/auth/a.css", basic("bob:x")}, {"GET", "/auth/a.css", basic("carol:sha-pw")},
		{"GET", "/auth/a.css", basic("dave:bcrypt-pw")}, {"GET", "/auth/a.css", basic("dave:bcrypt")}, {"GET", "/auth/a.css", basic("erin:md5-pw")},
		{"GET", "/auth/a.css", basic("frank:sha256-pw")}, {"GET", "/auth/a.css", basic("grace:sha512-pw")},
		{"GET", "/auth/a.css", basic("grace:sha512")}, {"GET", "/auth/a.css", basic("henry:garbage")},
		{"GET", "/auth/a.css", basic("ivan:ssha-pw")}, {"GET", "/auth/a.css", basic("nobody:x")}, {"GET", "/auth/a.css", basic(":x")},
		{"GET", "/auth/a.css", basic("alice")}, {"GET", "/auth/a.css", basic("# users:x")}, {"GET", "/auth/a.css", basic("alice:wonder:more")},
		{"GET", "/auth/a.css", []string{"Authorization", "basic    YWxpY2U6d29uZGVy"}}, {"GET", "/auth/a.css", []string{"Authorization", "Basic YWxpY2U6d29uZGVy=="}},
		{"GET", "/auth/a.css", []string{"Authorization", "Basic !!"}}, {"GET", "/auth/a.css", []string{"Authorization", "Bearer x"}},
		{"GET", "/auth/a.css", []string{"Authorization", "Basic "}},
		{"GET", "/auth-off/a.css", nil}, {"GET", "/auth-var/a.css?f=htpasswd", basic("alice:wonder")},
		{"GET", "/auth-var/a.css?f=htpasswd", nil}, {"GET", "/auth-var/a.css?f=missing", basic("alice:wonder")},
		{"GET", "/auth-deny/a.css", nil}, {"GET", "/auth-ep/a.css", nil}, {"GET", "/auth-lmt/a.css", nil},
		{"POST", "/auth-lmt/a.css", nil}, {"POST", "/auth-lmt/a.css", basic("alice:wonder")},
		{"GET", "/any-deny/a.css", nil}, {"GET", "/any-deny/a.css", basic("alice:wonder")}, {"GET", "/any-deny/a.css", basic("alice:x")},
		{"GET", "/any-allow/a.css", nil}, {"GET", "/any-noauth/a.css", nil}, {"GET", "/any-missing/a.css", basic("alice:wonder")},
		{"GET", "/delay/a.css", nil}, {"GET", "/delay/a.css", basic("alice:wonder")},
		{"GET", "/ru/", basic("alice:wonder")}, {"GET", "/ru/", basic(":x")}, {"GET", "/ru/", nil}, {"GET", "/ru/", basic("a\nb:c")},
		{"GET", "/tok-build/missing", nil}, {"GET", "/tok-off/sub", nil},
		{"POST", "/small/a.css", []string{"body", "0123456789"}}, {"POST", "/small/a.css", []string{"body", "0123456789a"}},
		{"GET", "/small/missing", []string{"body", strings.Repeat("x", 20)}},
		{"POST", "/small-ep/a.css", []string{"body", strings.Repeat("x", 20)}},
		{"POST", "/small-rw/", []string{"body", strings.Repeat("x", 20)}},
		{"POST", "/small-off/a.css", []string{"body", strings.Repeat("x", 2<<20)}},
		{"POST", "/a.css", []string{"body", strings.Repeat("x", 1<<20)}},
		{"POST", "/a.css", []string{"body", strings.Repeat("x", 1<<20+1)}},
		{"GET", "/inherit/a.css", nil}, {"GET", "/h/a.css", nil}, {"GET", "/h/missing", nil}, {"GET", "/h2/a.css", nil},
		{"GET", "/hmax/a.css", nil}, {"GET", "/hneg/a.css", nil}, {"GET", "/hoff/a.css", nil}, {"GET", "/hmod/a.css", nil},
		{"GET", "/hzero/", nil}, {"GET", "/hvar/a.css?e=1h", nil}, {"GET", "/hvar/a.css?e=max", nil},
		{"GET", "/hvar/a.css?e=epoch", nil}, {"GET", "/hvar/a.css?e=off", nil}, {"GET", "/hvar/a.css?e=-1h", nil},
		{"GET", "/hvar/a.css?e=bogus", nil}, {"GET", "/hvar/a.css", nil}, {"GET", "/hvarmod/a.css?e=max", nil},
		{"GET", "/hvarmod/a.css?e=%401h", nil}, {"GET", "/hvarmod/a.css?e=2h", nil}, {"GET", "/h/a.css", []string{"If-None-Match", etag}}, {"GET", "/h/dir", nil},
		{"GET", "/nest/x.php", nil}, {"GET", "/nest/b/x.php", nil}, {"GET", "/tfargs/?x=1", nil}, {"GET", "/epargs2/x?x=1", nil},
		{"GET", "/iftf/", nil}, {"GET", "/cap/abc", nil}, {"GET", "/status/", nil}, {"GET", "/ret200", nil}, {"GET", "/.txt", nil},
		{"GET", "/sub/file.txt", []string{"If-Match", `"other"`}}, {"GET", "/sub/file.txt", []string{"If-Match", etag}},
		{"GET", "/sub/file.txt", []string{"If-Unmodified-Since", old.Add(-time.Hour).Format(http.TimeFormat)}},
		{"GET", "/sub/file.txt", []string{"Range", "bytes="}},
		{"HEAD", "/1k.html", nil}, {"POST", "/1k.html", nil}, {"POST", "/missing", nil}, {"PUT", "/1k.html", nil},
		{"DELETE", "/dir/", nil},
		{"GET", "/sub/file.txt", []string{"Range", "bytes=0-9"}},
		{"GET", "/sub/file.txt", []string{"Range", "bytes=-5"}},
		{"GET", "/sub/file.txt", []string{"Range", "bytes=15-"}},
		{"GET", "/sub/file.txt", []string{"Range", "bytes=0-1,4-5"}},
		{"GET", "/sub/file.txt", []string{"Range", "bytes=0-100"}},
		{"GET", "/sub/file.txt", []string{"Range", "bytes=100-"}},
		{"GET", "/sub/file.txt", []string{"Range", "bytes=x"}},
		{"GET", "/sub/file.txt", []string{"Range", "bytes=0-15,5-19"}},
		{"HEAD", "/sub/file.txt", []string{"Range", "bytes=0-9"}},
		{"GET", "/sub/file.txt", []string{"If-None-Match", etag}},
		{"GET", "/sub/file.txt", []string{"If-None-Match", `"other", ` + etag}},
		{"GET", "/sub/file.txt", []string{"If-None-Match", `"other"`}},
		{"GET", "/sub/file.txt", []string{"If-Modified-Since", lastMod}},
		{"GET", "/sub/file.txt", []string{"If-Modified-Since", old.Add(time.Hour).Format(http.TimeFormat)}},
		{"GET", "/sub/file.txt", []string{"Range", "bytes=0-3", "If-Range", etag}},
		{"GET", "/sub/file.txt", []string{"Range", "bytes=0-3", "If-Range", `"stale"`}},
	} {
		n, e := get(nport, c.method, c.path, c.header...), get(eport, c.method, c.path, c.header...)
		if n != e {
			t.Errorf("%s %s %.40v:\nnginx: %s\nedge:  %s", c.method, c.path, c.header, n, e)
		}
	}
	// Hosts nginx refuses, and the host a root may be built from.
	for _, host := range []string{"a.test", "A.TEST.", "..", "a..b"} {
		hostReq := func(port int) string {
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/hosts/x.txt", port), nil)
			req.Host = host
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				return err.Error()
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				body = nil
			}
			return fmt.Sprintf("%d %q", resp.StatusCode, body)
		}
		if n, e := hostReq(nport), hostReq(eport); n != e {
			t.Errorf("Host %q:\nnginx: %s\nedge:  %s", host, n, e)
		}
	}
	// The error logs say the same, in the same order.
	time.Sleep(100 * time.Millisecond) // nginx writes its log as it goes; let it finish
	nlog, elog := errorLines(t, filepath.Join(dir, "nginx.error.log"), nport), errorLines(t, filepath.Join(dir, "edge.error.log"), eport)
	if strings.Join(nlog, "\n") != strings.Join(elog, "\n") {
		t.Errorf("error logs differ:\nnginx:\n%s\nedge:\n%s", strings.Join(nlog, "\n"), strings.Join(elog, "\n"))
	}
}

// basic is an Authorization header with credentials.
func basic(cred string) []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))}
}

// brand turns nginx's name into edge's, the one deliberate difference in
// what the servers say: "nginx/1.22.1" is "edge/0.1.0", a bare "nginx"
// (server_tokens off) is "edge".
func brand(s string) string {
	s = strings.ReplaceAll(s, "nginx/"+server.NginxVersion, "edge/"+server.Version)
	s = strings.ReplaceAll(s, "<center>nginx</center>", "<center>edge</center>")
	if s == "nginx" {
		s = "edge"
	}
	return s
}

// errorLines reads an error log without what differs by process: the
// time, the pid and connection number, the port.
func errorLines(t *testing.T, path string, port int) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head := regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: \*\d+ `)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if !head.MatchString(line) {
			continue // not a request's line (start-up notices)
		}
		line = head.ReplaceAllString(line, "$1 ")
		out = append(out, strings.ReplaceAll(line, fmt.Sprintf(":%d", port), ":PORT"))
	}
	return out
}
