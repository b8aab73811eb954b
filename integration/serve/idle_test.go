package serve

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"edge/integration/harness"
)

// TestIdleParking: keep-alive connections idle past the grace period
// leave their goroutine for edge's epoll set (server/idle.go). Parked,
// they still answer their next request, still end at keepalive_timeout,
// and a client closing one is logged as nginx logs it.
func TestIdleParking(t *testing.T) {
	// fifopoll serves the waits of the grace period whatever the load
	// (internal/fifopoll): they are tested here.
	t.Setenv("EDGE_FIFOPOLL", "always")
	port := harness.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dir := t.TempDir()
	conf := writeConf(t, fmt.Sprintf(`events {}
error_log %[2]s/error.log info;
http {
    access_log off;
    server {
        listen %[1]s;
        location / { return 200 "ok"; }
        location /short { keepalive_timeout 300ms; return 200 "short"; }
    }
}
`, addr, dir))
	harness.Start(t, edgeBin, addr, "-c", conf, "-p", dir)
	get := func(c net.Conn, r *bufio.Reader, path string) string {
		t.Helper()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	// Many connections, each used, parked, used again.
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			for round := 0; round < 3; round++ {
				if b := get(c, r, "/"); b != "ok" {
					t.Errorf("round %d: %q", round, b)
				}
				time.Sleep(150 * time.Millisecond) // parked after 20-30 ms
			}
		}()
	}
	wg.Wait()
	// A parked connection ends at its location's keepalive_timeout.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	get(c, r, "/short")
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("after keepalive_timeout: %v, want the connection closed", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("closed after %v, want about 300ms", d)
	}
	// A client closing a parked connection: nginx's info line.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	get(c2, bufio.NewReader(c2), "/")
	time.Sleep(100 * time.Millisecond)
	c2.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		if strings.Contains(string(data), "client 127.0.0.1 closed keepalive connection") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"closed keepalive connection\" line in:\n%s", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Closed, or reset, within the grace period, while the connection
	// waits in its goroutine (fifopoll reads the end): the same lines.
	logged := func(line string, n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			data, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			if strings.Count(string(data), line) >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not %d %q lines in:\n%s", n, line, data)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	c3, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	get(c3, bufio.NewReader(c3), "/")
	c3.Close()
	logged("client 127.0.0.1 closed keepalive connection", 2)
	c4, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	get(c4, bufio.NewReader(c4), "/")
	c4.(*net.TCPConn).SetLinger(0)
	c4.Close()
	logged("recv() failed (104: Connection reset by peer) while waiting for request", 1)
}

// TestIdleSleeps: an edge with nothing to do does not wake up, with no
// connection and with parked ones (the sweeper sleeps until a
// connection needs it; it used to tick 100 times a second).
func TestIdleSleeps(t *testing.T) {
	port := harness.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dir := t.TempDir()
	conf := writeConf(t, fmt.Sprintf(`events {}
http {
    access_log off;
    server { listen %s; location / { return 200 "ok"; } }
}
`, addr))
	cmd := harness.Start(t, edgeBin, addr, "-c", conf, "-p", dir)
	// Wake-ups are context switches of the process's threads.
	switches := func() int {
		t.Helper()
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", cmd.Process.Pid))
		n := 0
		for _, task := range tasks {
			data, err := os.ReadFile(task)
			if err != nil {
				continue // a thread that ended
			}
			for _, line := range strings.Split(string(data), "\n") {
				var k int
				if _, err := fmt.Sscanf(line, "voluntary_ctxt_switches: %d", &k); err == nil {
					n += k
				} else if _, err := fmt.Sscanf(line, "nonvoluntary_ctxt_switches: %d", &k); err == nil {
					n += k
				}
			}
		}
		return n
	}
	quiet := func(what string) {
		t.Helper()
		time.Sleep(200 * time.Millisecond) // the connections park
		before := switches()
		time.Sleep(time.Second)
		if n := switches() - before; n > 30 {
			t.Errorf("%s: %d wake-ups in a second, want few", what, n)
		}
	}
	quiet("no connection")
	for i := 0; i < 20; i++ {
		defer keptConn(t, addr).Close()
	}
	quiet("20 parked connections")
}

// TestListenKeepalive: listen's so_keepalive sets TCP keep-alive probes
// on the accepted connections as nginx does (on: the system's timings;
// idle:interval:count), and without it they have none.
func TestListenKeepalive(t *testing.T) {
	ports := [3]int{harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)}
	dir := t.TempDir()
	text := func(opts [3]string) string {
		return fmt.Sprintf(`events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:%d %s;
        listen 127.0.0.1:%d %s;
        listen 127.0.0.1:%d %s;
        return 200 "ok";
    }
}
`, ports[0], opts[0], ports[1], opts[1], ports[2], opts[2])
	}
	conf := writeConf(t, text([3]string{"", "so_keepalive=on", "so_keepalive=30m::10"}))
	cmd := harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", ports[0]), "-c", conf, "-p", dir)
	timer := func(port int) (string, int64) {
		t.Helper()
		c := keptConn(t, fmt.Sprintf("127.0.0.1:%d", port))
		defer c.Close()
		// edge's side: from its listening address to the client.
		return tcpTimer(t, c.RemoteAddr().String(), c.LocalAddr().String())
	}
	if which, _ := timer(ports[0]); which != "00" {
		t.Errorf("no so_keepalive: timer %s, want 00 (no probes)", which)
	}
	// Clock ticks are 1/100 s.
	sys := int64(7200)
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_keepalive_time"); err == nil {
		fmt.Sscan(string(b), &sys)
	}
	if which, when := timer(ports[1]); which != "02" || when < (sys-60)*100 || when > sys*100 {
		t.Errorf("so_keepalive=on: timer %s in %d ticks, want 02 in the system's %d s", which, when, sys)
	}
	if which, when := timer(ports[2]); which != "02" || when < 25*60*100 || when > 30*60*100 {
		t.Errorf("so_keepalive=30m::10: timer %s in %d ticks, want 02 in 30 min", which, when)
	}
	// A reload sets it on the sockets already open, and takes it off.
	os.WriteFile(conf, []byte(text([3]string{"so_keepalive=on", "", "so_keepalive=30m::10"})), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if which, _ := timer(ports[0]); which == "02" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("so_keepalive=on added by a reload: no probes after 5 s")
		}
	}
	if which, _ := timer(ports[1]); which != "00" {
		t.Errorf("so_keepalive=on dropped by a reload: timer %s, want 00", which)
	}
}

// keptConn is a connection to addr that has had an answer to GET / and
// stays open.
func keptConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	resp.Body.Close()
	return c
}
