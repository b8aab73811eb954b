package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	confd "edge/conf.d"
	"edge/internal/conf"
	"edge/server"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// edgeRun runs the command in-process and returns its exit code and output.
func edgeRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// Every testdata/check/NAME.conf is checked with `edge -t`; NAME.golden is
// what edge prints, with the testdata directory's absolute path made
// relative. The same files feed the differential test against nginx
// (integration/diff).
func TestCheckGolden(t *testing.T) {
	dir, _ := filepath.Abs("testdata/check")
	files, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".conf")
		t.Run(name, func(t *testing.T) {
			code, _, stderr := edgeRun(t, "-t", "-p", t.TempDir(), "-c", f)
			got := strings.ReplaceAll(stderr, dir+"/", "testdata/check/")
			golden := strings.TrimSuffix(f, ".conf") + ".golden"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./cmd/edge -update creates it)", err)
			}
			if got != string(want) {
				t.Errorf("edge -t printed:\n%s\nwant:\n%s", got, want)
			}
			if ok := strings.HasPrefix(name, "ok-"); ok != (code == 0) {
				t.Errorf("exit code %d; cases named ok-* must pass, the others fail", code)
			}
		})
	}
}

func TestTestOutput(t *testing.T) {
	f, _ := filepath.Abs("testdata/check/ok-minimal.conf")
	code, stdout, stderr := edgeRun(t, "-t", "-c", f)
	want := "edge: the configuration file " + f + " syntax is ok\n" +
		"edge: configuration file " + f + " test is successful\n"
	if code != 0 || stderr != want || stdout != "" {
		t.Errorf("-t: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, _, stderr := edgeRun(t, "-tq", "-c", f); code != 0 || stderr != "" {
		t.Errorf("-tq: code %d, stderr %q; -q must silence the success lines", code, stderr)
	}
}

func TestDump(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "nginx.conf")
	os.WriteFile(main, []byte("events {}\nhttp { include conf.d/*.conf; include conf.d/*.conf; }"), 0o644)
	os.Mkdir(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "conf.d", "a.conf"), []byte("server {}\n"), 0o644)
	code, stdout, _ := edgeRun(t, "-T", "-c", main)
	want := "# configuration file " + main + ":\nevents {}\nhttp { include conf.d/*.conf; include conf.d/*.conf; }\n\n" +
		"# configuration file " + dir + "/conf.d/a.conf:\nserver {}\n\n"
	if code != 0 || stdout != want {
		t.Errorf("-T: code %d, dump:\n%s\nwant (each file once):\n%s", code, stdout, want)
	}
	if code, stdout, _ := edgeRun(t, "-T", "-c", filepath.Join(dir, "missing.conf")); code != 1 || stdout != "" {
		t.Errorf("-T of a broken configuration: code %d, dump %q; want 1 and no dump", code, stdout)
	}
}

func TestVersion(t *testing.T) {
	code, _, stderr := edgeRun(t, "-v")
	if code != 0 || stderr != "nginx version: nginx/"+server.NginxVersion+" (edge/"+server.Version+")\n" {
		t.Errorf("-v: %d %q", code, stderr)
	}
	_, _, stderr = edgeRun(t, "-V")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "configure arguments: ") {
		t.Fatalf("-V last line %q", last)
	}
	// edge implements none of these yet: they must be declared absent,
	// and nothing optional may be claimed.
	for _, w := range []string{"--without-http_fastcgi_module", "--without-http_uwsgi_module", "--without-http_proxy_module", "--without-http_ssi_module"} {
		if !strings.Contains(last, w) {
			t.Errorf("-V lacks %s: %s", w, last)
		}
	}
	// gzip_static is the one optional module edge has whole so far.
	if strings.Contains(strings.ReplaceAll(last, "--with-http_gzip_static_module", ""), "--with-") || strings.Contains(stderr, "TLS SNI support enabled") {
		t.Errorf("-V claims a module or TLS edge does not have: %s", stderr)
	}
	if !strings.Contains(last, "--with-http_gzip_static_module") {
		t.Errorf("-V does not claim gzip_static: %s", last)
	}
}

// The configure line follows the table: a module whose directives are all
// implemented or tuning is built; one with any other directive is not.
func TestConfigureArgumentsFromTable(t *testing.T) {
	tbl := conf.NewTable([]conf.Command{
		{Name: "stub_status", Type: conf.HTTPLoc | conf.NoArgs, Module: "ngx_http_stub_status_module"},
		{Name: "gzip", Type: conf.HTTPLoc | conf.Flag, Module: "ngx_http_gzip_filter_module"},
		{Name: "gzip_types", Type: conf.HTTPLoc | conf.OneMore, Module: "ngx_http_gzip_filter_module", Status: conf.Pending},
		{Name: "fastcgi_pass", Type: conf.HTTPLoc | conf.Take1, Module: "ngx_http_fastcgi_module", Status: conf.Unsupported},
		{Name: "memcached_buffer_size", Type: conf.HTTPLoc | conf.Take1, Module: "ngx_http_memcached_module", Status: conf.Tuning},
	})
	got := configureArguments(tbl)
	for _, w := range []string{"--with-http_stub_status_module", "--without-http_gzip_module", "--without-http_fastcgi_module"} {
		if !strings.Contains(got, w) {
			t.Errorf("configure arguments lack %s: %s", w, got)
		}
	}
	if strings.Contains(got, "memcached") {
		t.Errorf("a module with only tuning directives is built: %s", got)
	}
}

func TestFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-x"}, `edge: invalid option: "x"` + "\n"},
		{[]string{"file"}, `edge: invalid option: "file"` + "\n"},
		{[]string{"-s", "restart"}, `edge: invalid option: "-s restart"` + "\n"},
		{[]string{"-c"}, `edge: option "-c" requires file name` + "\n"},
	} {
		if code, _, stderr := edgeRun(t, c.args...); code != 1 || stderr != c.want {
			t.Errorf("%v: code %d, %q; want 1, %q", c.args, code, stderr, c.want)
		}
	}
	o, err := parseArgs([]string{"-tqc/x.conf", "-p", "/pre", "-gdaemon off;"})
	if err != nil || !o.test || !o.quiet || o.confFile != "/x.conf" || o.prefix != "/pre" || o.global != "daemon off;" {
		t.Errorf("grouped flags: %+v %v", o, err)
	}
}

// -s finds the process through the configuration's pid file, with
// nginx's messages when it cannot (ngx_signal_process).
func TestSignalMessages(t *testing.T) {
	dir := t.TempDir()
	pid := filepath.Join(dir, "edge.pid")
	conf := filepath.Join(dir, "edge.conf")
	os.WriteFile(conf, []byte("events {}\npid edge.pid;\n"), 0o644)
	gone := exec.Command("true")
	gone.Run()
	for _, c := range []struct {
		pid  string // the file's text; "-" for no file
		want string
	}{
		{"-", `edge: [error] open() "` + pid + `" failed (2: No such file or directory)`},
		{"abc\n", `edge: [error] invalid PID number "abc" in "` + pid + `"`},
		{"", `edge: [error] invalid PID number "" in "` + pid + `"`},
		{fmt.Sprintf("%d\n", gone.Process.Pid), fmt.Sprintf("edge: [alert] kill(%d, 1) failed (3: No such process)", gone.Process.Pid)},
	} {
		os.Remove(pid)
		if c.pid != "-" {
			os.WriteFile(pid, []byte(c.pid), 0o644)
		}
		if code, _, stderr := edgeRun(t, "-p", dir+"/", "-c", conf, "-s", "reload"); code != 1 || stderr != c.want+"\n" {
			t.Errorf("pid file %q: code %d, %q; want 1, %q", c.pid, code, stderr, c.want)
		}
	}
	// A configuration that does not load signals nothing, as in nginx.
	os.WriteFile(conf, []byte("events {}\npid edge.pid\n"), 0o644)
	if code, _, stderr := edgeRun(t, "-p", dir+"/", "-c", conf, "-s", "stop"); code != 1 || !strings.Contains(stderr, "[emerg] unexpected end of file") {
		t.Errorf("broken configuration: code %d, %q", code, stderr)
	}
}

// -c is relative to the prefix, includes to the main file's directory, and
// -g directives are read first, as "command line".
func TestPrefixAndGlobal(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf"), 0o755)
	os.WriteFile(filepath.Join(dir, "conf", "nginx.conf"), []byte("events {}\ninclude extra.conf;\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "conf", "extra.conf"), []byte("worker_processes 2;\n"), 0o644)
	if code, _, stderr := edgeRun(t, "-t", "-p", dir, "-c", "conf/nginx.conf"); code != 0 {
		t.Fatalf("-p/-c: %s", stderr)
	}
	code, _, stderr := edgeRun(t, "-t", "-p", dir, "-c", "conf/nginx.conf", "-g", "worker_processes 1;")
	if code != 1 || !strings.Contains(stderr, `"worker_processes" directive is duplicate in `+filepath.Join(dir, "conf", "extra.conf")+":1") {
		t.Errorf("-g must come first: %s", stderr)
	}
	code, _, stderr = edgeRun(t, "-t", "-p", dir, "-c", "conf/nginx.conf", "-g", "worker_processes 1")
	if code != 1 || !strings.Contains(stderr, `unexpected end of parameter, expecting ";" in command line`) {
		t.Errorf("-g error: %s", stderr)
	}
	// Without -c and without a file under the prefix, -t has nothing to test.
	if code, _, stderr := edgeRun(t, "-t", "-p", dir); code != 1 || !strings.Contains(stderr, `open() "`+dir+`/edge.conf" failed (2: No such file or directory)`) {
		t.Errorf("-t without a file: %d %s", code, stderr)
	}
}

// The built-in configuration loads, compiles and serves (see
// integration/ for the running binary).
func TestBuiltinConfig(t *testing.T) {
	m, _, err := server.Load(newTable(), confd.DefaultName, confd.Default, t.TempDir(), ".", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Compile(m); err != nil {
		t.Fatal(err)
	}
	if a := m.HTTP.Addrs; len(a) != 1 || a[0].Address != "127.0.0.1:8080" {
		t.Errorf("built-in config listens on %v", a)
	}
}

// -e names a file (relative to the prefix) that gets the errors in
// nginx's error log format, besides stderr.
func TestErrorLogFlag(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "bad.conf")
	os.WriteFile(conf, []byte("events {}\nfoo;\n"), 0o644)
	code, _, stderr := edgeRun(t, "-t", "-p", dir, "-e", "error.log", "-c", conf)
	if code != 1 || !strings.Contains(stderr, `edge: [emerg] unknown directive "foo" in `+conf+":2") {
		t.Errorf("stderr: %s", stderr)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	if !regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[emerg\] \d+#\d+: unknown directive "foo" in ` + regexp.QuoteMeta(conf) + `:2\n$`).Match(data) {
		t.Errorf("error.log: %q", data)
	}
	code, _, stderr = edgeRun(t, "-t", "-p", dir, "-e", "/nonexistent-edge/error.log", "-c", conf)
	if code != 1 || !strings.HasPrefix(stderr, `edge: [alert] could not open error log file: open() "/nonexistent-edge/error.log" failed (2: No such file or directory)`) {
		t.Errorf("unopenable -e: %s", stderr)
	}
}
