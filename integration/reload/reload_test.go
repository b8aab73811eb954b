// Package reload runs the edge binary under load while its configuration
// changes through every trigger (file changes of every kind, SIGHUP,
// edge -s reload) and checks that no request fails; and each signal of
// process control, end to end.
package reload

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"edge/integration/harness"
)

// edgeBin is built with the race detector when the tests are; plainBin
// is the static release build.
var edgeBin, plainBin string

func TestMain(m *testing.M) { os.Exit(harness.RunWithEdge(m, &edgeBin, &plainBin)) }

// instance is a running edge whose site file the test rewrites.
type instance struct {
	t      testing.TB
	dir    string // the prefix: edge.conf, conf.d/, logs/
	port   int
	pid    int
	confv  int   // the version the files hold now
	minv   int64 // the version every request sent from now on must see
	emergs int   // [emerg] lines seen in the error log so far
}

// start runs edge on a configuration including conf.d/*.conf, whose
// site.conf answers "v1" (main holds extra main-context directives).
func start(t *testing.T, main string) *instance {
	return startSite(t, main, nil)
}

// startSite is start with another site file: site makes its text for
// the port.
func startSite(t testing.TB, main string, site func(in *instance) string) *instance {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	in := &instance{t: t, dir: dir, port: harness.FreePort(t), confv: 1, minv: 1}
	os.WriteFile(filepath.Join(dir, "edge.conf"), []byte(main+`
error_log logs/error.log notice;
events {}
http {
    access_log off;
    include conf.d/*.conf;
}
`), 0o644)
	text := in.text(1)
	if site != nil {
		text = site(in)
	}
	os.WriteFile(in.site(), []byte(text), 0o644)
	cmd := harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", in.port), "-p", dir+"/", "-c", filepath.Join(dir, "edge.conf"))
	in.pid = cmd.Process.Pid
	return in
}

func (in *instance) site() string { return filepath.Join(in.dir, "conf.d", "site.conf") }

// text is the site file of version v; a negative v is a broken one.
func (in *instance) text(v int) string {
	if v < 0 {
		return fmt.Sprintf("server { listen 127.0.0.1:%d; location / { return 200 \"broken\" } }\n", in.port)
	}
	return fmt.Sprintf("server {\n    listen 127.0.0.1:%d;\n    location / { return 200 \"v%d\"; }\n}\n", in.port, v)
}

// The ways a file really changes.
type style struct {
	name  string
	write func(in *instance, text string)
}

var styles = []style{
	{"write in place", func(in *instance, text string) {
		os.WriteFile(in.site(), []byte(text), 0o644)
	}},
	{"editor: temporary file renamed over", func(in *instance, text string) {
		tmp := filepath.Join(in.dir, "conf.d", ".site.conf.tmp")
		os.WriteFile(tmp, []byte(text), 0o644)
		os.Rename(tmp, in.site())
	}},
	{"vim: probe file, backup by rename, new file, backup removed", func(in *instance, text string) {
		probe := filepath.Join(in.dir, "conf.d", "4913")
		os.WriteFile(probe, nil, 0o644)
		os.Remove(probe)
		os.Rename(in.site(), in.site()+"~")
		os.WriteFile(in.site(), []byte(text), 0o644)
		os.Remove(in.site() + "~")
	}},
	{"delete then create", func(in *instance, text string) {
		os.Remove(in.site())
		time.Sleep(30 * time.Millisecond)
		os.WriteFile(in.site(), []byte(text), 0o644)
	}},
	{"burst of partial writes", func(in *instance, text string) {
		f, _ := os.Create(in.site())
		for i := 0; i < len(text); i += 8 {
			f.WriteString(text[i:min(i+8, len(text))])
			time.Sleep(time.Millisecond)
		}
		f.Close()
	}},
	{"Kubernetes ConfigMap: ..data symlink swap", func(in *instance, text string) {
		d := filepath.Join(in.dir, "conf.d")
		ver := fmt.Sprintf("..%d_%d", time.Now().UnixNano(), os.Getpid())
		os.Mkdir(filepath.Join(d, ver), 0o755)
		os.WriteFile(filepath.Join(d, ver, "site.conf"), []byte(text), 0o644)
		os.Symlink(ver, filepath.Join(d, "..data_tmp"))
		old, _ := os.Readlink(filepath.Join(d, "..data"))
		os.Rename(filepath.Join(d, "..data_tmp"), filepath.Join(d, "..data"))
		if old != "" {
			os.RemoveAll(filepath.Join(d, old))
		}
		if l, _ := os.Readlink(in.site()); l != "..data/site.conf" {
			// The first swap: the mounted file becomes the symlink.
			os.Symlink("..data/site.conf", in.site()+".lnk")
			os.Rename(in.site()+".lnk", in.site())
		}
	}},
}

// change writes version v (negative: broken) in a style, then triggers
// a reload: "file" (the watcher), "SIGHUP" or "-s reload"; it returns
// once edge answers v, or has logged the broken version's [emerg].
func (in *instance) change(v int, st style, trigger string, watched bool) {
	t := in.t
	t.Helper()
	old := in.confv
	st.write(in, in.text(v))
	if !watched {
		// Nothing may change before the signal.
		time.Sleep(150 * time.Millisecond)
		if got := in.version(); got != old {
			t.Fatalf("%s: version %d before any signal (watch_config off)", st.name, got)
		}
	}
	switch trigger {
	case "SIGHUP":
		syscall.Kill(in.pid, syscall.SIGHUP)
	case "-s reload":
		res := harness.Run(t, 10*time.Second, edgeBin, "-p", in.dir+"/", "-c", filepath.Join(in.dir, "edge.conf"), "-s", "reload")
		if v > 0 && res.Code != 0 {
			t.Fatalf("-s reload: %d %s", res.Code, res.Stderr)
		}
		if v < 0 {
			// The signaller reads the configuration too, and refuses
			// to signal on a broken one, as nginx's does: the running
			// edge hears of it by SIGHUP.
			syscall.Kill(in.pid, syscall.SIGHUP)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	if v > 0 {
		for in.version() != v {
			if time.Now().After(deadline) {
				t.Fatalf("%s (%s): version %d not in force after 10 s:\n%s", st.name, trigger, v, in.errorLog())
			}
			time.Sleep(10 * time.Millisecond)
		}
		in.confv = v
		atomic.StoreInt64(&in.minv, int64(v))
		return
	}
	for strings.Count(in.errorLog(), "[emerg]") <= in.emergs {
		if time.Now().After(deadline) {
			out, _ := exec.Command("sh", "-c", "ls -laR "+in.dir+"; cat "+in.dir+"/edge.conf "+in.site()).CombinedOutput()
			t.Fatalf("%s (%s): the broken version was not reported:\n%s\n%s", st.name, trigger, in.errorLog(), out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	in.emergs = strings.Count(in.errorLog(), "[emerg]")
	if got := in.version(); got != old {
		t.Fatalf("%s (%s): a broken version changed what is served: %d", st.name, trigger, got)
	}
}

func (in *instance) errorLog() string {
	data, _ := os.ReadFile(filepath.Join(in.dir, "logs", "error.log"))
	return string(data)
}

// version is what a new connection is answered.
func (in *instance) version() int {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", in.port))
	if err != nil {
		in.t.Fatalf("probe: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	v, _ := strconv.Atoi(strings.TrimPrefix(string(body), "v"))
	return v
}

// load runs clients keep-alive clients against in until stop, each
// checking every answer: a 200, from a version at least the one in
// force when the request was sent, never going back.
type load struct {
	wg       sync.WaitGroup
	stop     chan struct{}
	requests atomic.Int64
	mu       sync.Mutex
	failures []string
}

func startLoad(in *instance, clients int) *load {
	l := &load{stop: make(chan struct{})}
	for i := 0; i < clients; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			last := 0
			for n := 0; n < 20000; n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				floor := int(atomic.LoadInt64(&in.minv))
				resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", in.port))
				if err != nil {
					l.fail("request failed: %v", err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				v, _ := strconv.Atoi(strings.TrimPrefix(string(body), "v"))
				switch {
				case resp.StatusCode != 200:
					l.fail("status %d %q", resp.StatusCode, body)
				case v < floor || v < last:
					l.fail("answered by version %d after version %d was in force (last seen %d)", v, floor, last)
				}
				last = v
				l.requests.Add(1)
			}
		}()
	}
	return l
}

func (l *load) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
}

func (l *load) end(t *testing.T) {
	close(l.stop)
	l.wg.Wait()
	for i, f := range l.failures {
		if i == 10 {
			t.Errorf("… %d failures in all", len(l.failures))
			break
		}
		t.Error(f)
	}
}

// TestReloadUnderLoad: 50 changes, valid and broken in turn, through
// every trigger and every way of changing a file, while keep-alive
// clients send requests; not one fails, and none is answered by a
// configuration older than the one in force when it was sent.
func TestReloadUnderLoad(t *testing.T) {
	watched := start(t, "")
	signalled := start(t, "watch_config off;")
	lw, ls := startLoad(watched, 3), startLoad(signalled, 3)
	changes := 0
	v := 1
	step := func(in *instance, st style, trigger string, isWatched bool) {
		v++
		in.change(-v, st, trigger, isWatched) // broken first: nothing changes
		in.change(v, st, trigger, isWatched)
		changes += 2
	}
	// Every file style through the watcher, then through each signal on
	// the instance that does not watch.
	for round := 0; round < 3; round++ {
		for _, st := range styles {
			step(watched, st, "file", true)
		}
	}
	// Kubernetes swaps in a row: only the ..data link changes.
	k8s := styles[len(styles)-1]
	step(watched, k8s, "file", true)
	step(watched, k8s, "SIGHUP", true)
	for i, st := range styles {
		trigger := "SIGHUP"
		if i%2 == 1 {
			trigger = "-s reload"
		}
		step(signalled, st, trigger, false)
	}
	lw.end(t)
	ls.end(t)
	if changes < 50 {
		t.Errorf("%d changes", changes)
	}
	n := lw.requests.Load() + ls.requests.Load()
	t.Logf("%d changes, %d requests", changes, n)
	if n < 2000 {
		t.Errorf("only %d requests ran during the reloads", n)
	}
	// One reload per change that the watcher saw: a burst is one.
	log := watched.errorLog()
	// The watched instance had 3 rounds of styles and 2 swaps; the
	// SIGHUP may come after the watcher's own reload, an attempt more.
	if got, want := strings.Count(log, "reconfiguring:"), 2*(3*len(styles)+2)+2; got > want {
		t.Errorf("%d reload attempts for %d changes", got, want-2)
	}
	for _, want := range []string{"reconfigured in", "the configuration in force is unchanged", "signal 1 (SIGHUP) received, reconfiguring"} {
		if !strings.Contains(log, want) {
			t.Errorf("error log lacks %q:\n%s", want, log)
		}
	}
}

// TestListenersAndIncludes: a new file matching an include glob is
// picked up, its listener opens; removing it closes that listener,
// while a keep-alive connection to the address kept goes on.
func TestListenersAndIncludes(t *testing.T) {
	in := start(t, "")
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	kept := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	get := func(c *http.Client, port int) (string, error) {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	if b, err := get(kept, in.port); err != nil || b != "v1" {
		t.Fatalf("first: %q %v", b, err)
	}
	port2 := harness.FreePort(t)
	extra := filepath.Join(in.dir, "conf.d", "extra.conf")
	os.WriteFile(extra, []byte(fmt.Sprintf("server { listen 127.0.0.1:%d; return 200 extra; }\n", port2)), 0o644)
	plain := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	waitFor(t, "the new file's listener", func() bool { b, err := get(plain, port2); return err == nil && b == "extra" })
	os.Remove(extra)
	waitFor(t, "the removed file's listener to close", func() bool { _, err := get(plain, port2); return err != nil })
	if b, err := get(kept, in.port); err != nil || b != "v1" {
		t.Errorf("the kept connection: %q %v", b, err)
	}
	// The reload logs its end after it closed the listener.
	waitFor(t, "the second reload's end", func() bool { return strings.Count(in.errorLog(), "reconfigured in") >= 2 })
	if n := strings.Count(in.errorLog(), "reconfigured in"); n != 2 {
		t.Errorf("%d reloads, want 2:\n%s", n, in.errorLog())
	}
	// A port in use fails the reload, which leaves the configuration in
	// force; what it opened before failing is closed again.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port3 := harness.FreePort(t)
	os.WriteFile(extra, []byte(fmt.Sprintf("server { listen 127.0.0.1:%d; listen %s; return 200 extra; }\n", port3, busy.Addr())), 0o644)
	want := fmt.Sprintf("[emerg] %d#%d: bind() to %s failed (98: Address already in use)", in.pid, in.pid, busy.Addr())
	waitFor(t, "the bind error", func() bool { return strings.Contains(in.errorLog(), want) })
	if _, err := get(plain, port3); err == nil {
		t.Errorf("the failed reload left 127.0.0.1:%d open", port3)
	}
	if b, err := get(kept, in.port); err != nil || b != "v1" {
		t.Errorf("after a failed reload: %q %v", b, err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no %s after 10 s", what)
		}
	}
}

// Events are hints, the content decides: rewriting a file with the same
// bytes, touching it or changing its mode reloads nothing; nor do the
// lines edge writes to a log in a watched directory.
func TestSameContentNoReload(t *testing.T) {
	in := start(t, "")
	conf := filepath.Join(in.dir, "edge.conf")
	os.WriteFile(conf, bytes.Replace(readFile(t, conf), []byte("access_log off;"), []byte("access_log conf.d/access.log;"), 1), 0o644)
	waitFor(t, "reload", func() bool { return strings.Contains(in.errorLog(), "reconfigured in") })
	os.WriteFile(in.site(), readFile(t, in.site()), 0o644)
	now := time.Now()
	os.Chtimes(in.site(), now, now)
	os.Chmod(in.site(), 0o600)
	for i := 0; i < 20; i++ {
		in.version()
	}
	time.Sleep(300 * time.Millisecond)
	if n := strings.Count(in.errorLog(), "reconfiguring:"); n != 1 {
		t.Errorf("%d reload attempts, want 1:\n%s", n, in.errorLog())
	}
}

func readFile(t *testing.T, p string) []byte {
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// watch_config turns watching off and on again by reload.
func TestWatchToggle(t *testing.T) {
	in := start(t, "")
	conf := filepath.Join(in.dir, "edge.conf")
	main := readFile(t, conf)
	os.WriteFile(conf, append([]byte("watch_config off;\n"), main...), 0o644)
	waitFor(t, "the reload turning watching off", func() bool { return strings.Contains(in.errorLog(), "reconfigured in") })
	os.WriteFile(in.site(), []byte(in.text(2)), 0o644)
	time.Sleep(400 * time.Millisecond)
	if v := in.version(); v != 1 {
		t.Fatalf("watch_config off: version %d in force without a signal", v)
	}
	os.WriteFile(conf, main, 0o644)
	syscall.Kill(in.pid, syscall.SIGHUP)
	waitFor(t, "version 2 by SIGHUP", func() bool { return in.version() == 2 })
	os.WriteFile(in.site(), []byte(in.text(3)), 0o644)
	waitFor(t, "version 3 by watching again", func() bool { return in.version() == 3 })
}
