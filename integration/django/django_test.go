// Package django runs the deployment edge exists for: a Django project
// (Debian's python3-django) under Debian's gunicorn, on a unix socket and
// on TCP, with edge in front serving the collectstatic output itself. The
// configurations are the ones docs/django.md shows, taken from it.
package django

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"edge/integration/harness"
)

var edgeBin string

func TestMain(m *testing.M) {
	code := harness.RunWithEdge(m, &edgeBin, nil)
	if shared != nil {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// project is a Django project made once for the package's tests: its
// directory, with the database migrated, an admin user, and the static
// files collected into dir/static.
type project struct {
	dir, python, gunicorn string
}

var (
	projectOnce sync.Once
	shared      *project
	projectErr  string
)

const adminPassword = "edge-s3cret-pass"

func setup(t *testing.T) *project {
	t.Helper()
	admin := harness.Require(t, "django-admin", "python3-django")
	gunicorn := harness.Require(t, "gunicorn", "gunicorn")
	projectOnce.Do(func() {
		dir, err := os.MkdirTemp("", "edge-django")
		if err != nil {
			projectErr = err.Error()
			return
		}
		// Debian's django-admin runs Debian's python3, which has Django.
		python := "/usr/bin/python3"
		if _, err := os.Stat(python); err != nil {
			python = "python3"
		}
		p := &project{dir: dir, python: python, gunicorn: gunicorn}
		if out, err := exec.Command(admin, "startproject", "mysite", dir).CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			projectErr = fmt.Sprintf("django-admin startproject: %v\n%s", err, out)
			return
		}
		settings := filepath.Join(dir, "mysite", "settings.py")
		f, _ := os.OpenFile(settings, os.O_APPEND|os.O_WRONLY, 0)
		fmt.Fprintf(f, "\nDEBUG = False\nALLOWED_HOSTS = [\"example.com\", \"127.0.0.1\"]\nSTATIC_ROOT = %q\n", filepath.Join(dir, "static"))
		f.Close()
		for _, s := range [][]string{
			{"migrate", "--noinput"},
			{"createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com"},
			{"collectstatic", "--noinput"},
		} {
			cmd := exec.Command(python, append([]string{"manage.py"}, s...)...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "DJANGO_SUPERUSER_PASSWORD="+adminPassword)
			if out, err := cmd.CombinedOutput(); err != nil {
				os.RemoveAll(dir)
				projectErr = fmt.Sprintf("manage.py %v: %v\n%s", s, err, out)
				return
			}
		}
		shared = p
	})
	if shared == nil {
		t.Fatalf("making the Django project: %s", projectErr)
	}
	return shared
}

// gunicornProc is a running Gunicorn and its access log.
type gunicornProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

// startGunicorn runs the project under Gunicorn on bind ("unix:/path" or
// "127.0.0.1:port") until the test ends.
func (p *project) startGunicorn(t *testing.T, bind, accessLog string) *gunicornProc {
	t.Helper()
	cmd := exec.Command(p.gunicorn, "--bind", bind, "--workers", "2", "--access-logfile", accessLog,
		"--chdir", p.dir, "mysite.wsgi")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gunicornProc{cmd: cmd, exited: make(chan struct{}), log: accessLog}
	go func() { cmd.Wait(); close(g.exited) }()
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("gunicorn's stderr:\n%s", stderr.String())
		}
	})
	network, addr := "tcp", bind
	if path, ok := strings.CutPrefix(bind, "unix:"); ok {
		network, addr = "unix", path
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial(network, addr); err == nil {
			c.Close()
			return g
		}
		select {
		case <-g.exited:
			t.Fatalf("gunicorn exited: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gunicorn does not accept on %s: %s", bind, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends Gunicorn (SIGTERM: its graceful stop) and waits for it.
func (g *gunicornProc) stop() {
	select {
	case <-g.exited:
		return
	default:
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(30 * time.Second):
		g.cmd.Process.Kill()
		<-g.exited
	}
}

// docConfigs are the nginx blocks of docs/django.md, in order.
func docConfigs(t *testing.T) []string {
	data, err := os.ReadFile(filepath.Join(harness.Root(), "docs", "django.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```nginx\n(.*?)```").FindAllStringSubmatch(string(data), -1) {
		out = append(out, m[1])
	}
	if len(out) != 3 {
		t.Fatalf("docs/django.md has %d nginx blocks, the test knows 3", len(out))
	}
	return out
}

// startEdge runs edge on a configuration of docs/django.md, its
// placeholders replaced by the test's places; it returns edge's port.
func startEdge(t *testing.T, p *project, conf, socket string, gport int) int {
	t.Helper()
	// The mime.types an nginx installation has beside its configuration
	// (the nginx the differential tests compare with).
	harness.Require(t, "nginx", "nginx")
	const mimeTypes = "/etc/nginx/mime.types"
	dir := t.TempDir()
	port := harness.FreePort(t)
	r := strings.NewReplacer(
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port),
		"/srv/mysite/static/", filepath.Join(p.dir, "static")+"/",
		"unix:/run/gunicorn/mysite.sock", "unix:"+socket,
		"127.0.0.1:8000", fmt.Sprintf("127.0.0.1:%d", gport),
		"include mime.types;", "include "+mimeTypes+";",
	)
	file := filepath.Join(dir, "edge.conf")
	os.WriteFile(file, []byte("error_log "+dir+"/error.log info;\n"+r.Replace(conf)), 0o644)
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", port), "-p", dir+"/", "-c", file)
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("edge's error log:\n%s", data)
		}
	})
	return port
}

// client talks to edge as a browser at example.com would: cookies kept,
// redirects not followed.
type client struct {
	t    *testing.T
	base string
	host string
	c    *http.Client
}

func newClient(t *testing.T, port int, host string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), host: host,
		c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	req.Host = c.host
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

var csrfField = regexp.MustCompile(`name="csrfmiddlewaretoken" value="([^"]+)"`)

// checkSite goes through the admin as a user does: the login page with
// its CSRF cookie and token, a static file edge serves, the login POST,
// the admin's front page in the session.
func checkSite(t *testing.T, p *project, c *client, g *gunicornProc) {
	t.Helper()
	resp, page := c.do("GET", "/admin/login/?next=/admin/", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "Django administration") {
		t.Fatalf("login page: %d\n%s", resp.StatusCode, page)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("login page's type: %q", ct)
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the login page:\n%s", page)
	}
	css := "/static/admin/css/base.css"
	want, err := os.ReadFile(filepath.Join(p.dir, "static", "admin", "css", "base.css"))
	if err != nil {
		t.Fatal(err)
	}
	resp, got := c.do("GET", css, nil)
	if resp.StatusCode != 200 || got != string(want) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("%s: %d %q, %d bytes (want %d)", css, resp.StatusCode, resp.Header.Get("Content-Type"), len(got), len(want))
	}
	// A POST without the token is refused by Django: the cookie and the
	// form field really travel.
	resp, _ = c.do("POST", "/admin/login/?next=/admin/", url.Values{"username": {"admin"}, "password": {adminPassword}})
	if resp.StatusCode != 403 {
		t.Errorf("login without a CSRF token: %d, want 403", resp.StatusCode)
	}
	resp, page = c.do("POST", "/admin/login/?next=/admin/", url.Values{"csrfmiddlewaretoken": {m[1]},
		"username": {"admin"}, "password": {adminPassword}, "next": {"/admin/"}})
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/admin/" {
		t.Fatalf("login: %d Location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	resp, page = c.do("GET", "/admin/", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "Site administration") {
		t.Fatalf("admin page after login: %d\n%s", resp.StatusCode, page)
	}
	log, _ := os.ReadFile(g.log)
	if !strings.Contains(string(log), "/admin/login/") {
		t.Errorf("gunicorn's access log has not the login:\n%s", log)
	}
	if strings.Contains(string(log), "/static/") {
		t.Errorf("a static file reached gunicorn:\n%s", log)
	}
}

func TestUnixSocket(t *testing.T) {
	p := setup(t)
	dir := t.TempDir()
	socket := filepath.Join(dir, "mysite.sock")
	g := p.startGunicorn(t, "unix:"+socket, filepath.Join(dir, "access.log"))
	port := startEdge(t, p, docConfigs(t)[0], socket, 0)
	c := newClient(t, port, "example.com")
	checkSite(t, p, c, g)

	// Gunicorn's graceful restart (SIGHUP: new workers, the same
	// socket) under load: not one request fails.
	var failed, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lc := newClient(t, port, "example.com")
			for n := 0; n < 500; n++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", lc.base+"/admin/login/", nil)
				req.Host = "example.com"
				resp, err := lc.c.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	g.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	if failed.Load() > 0 || done.Load() < 10 {
		t.Errorf("graceful gunicorn restart: %d of %d requests failed", failed.Load(), done.Load())
	}

	// A full stop: requests meanwhile get edge's 502, with the cause in
	// the log; the first request once Gunicorn is back is answered.
	g.stop()
	resp, page := c.do("GET", "/admin/login/", nil)
	if resp.StatusCode != 502 || !strings.Contains(page, "502 Bad Gateway") {
		t.Errorf("gunicorn stopped: %d\n%s", resp.StatusCode, page)
	}
	p.startGunicorn(t, "unix:"+socket, filepath.Join(dir, "access2.log"))
	if resp, _ := newClient(t, port, "example.com").do("GET", "/admin/login/", nil); resp.StatusCode != 200 {
		t.Errorf("first request after gunicorn came back: %d", resp.StatusCode)
	}
}

func TestTCP(t *testing.T) {
	p := setup(t)
	dir := t.TempDir()
	gport := harness.FreePort(t)
	g := p.startGunicorn(t, fmt.Sprintf("127.0.0.1:%d", gport), filepath.Join(dir, "access.log"))
	port := startEdge(t, p, docConfigs(t)[1], "", gport)
	checkSite(t, p, newClient(t, port, "example.com"), g)
}

// The smallest configuration, unchanged but for its ports: Django sees
// Host 127.0.0.1:port, which its ALLOWED_HOSTS takes.
func TestMinimal(t *testing.T) {
	p := setup(t)
	dir := t.TempDir()
	gport := harness.FreePort(t)
	p.startGunicorn(t, fmt.Sprintf("127.0.0.1:%d", gport), filepath.Join(dir, "access.log"))
	port := startEdge(t, p, docConfigs(t)[2], "", gport)
	resp, page := newClient(t, port, "anything.example").do("GET", "/admin/login/", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "Django administration") {
		t.Fatalf("%d\n%s", resp.StatusCode, page)
	}
}
