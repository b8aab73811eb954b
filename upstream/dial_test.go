package upstream

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dialErr connects to name and returns the failure.
func dialErr(t *testing.T, ctx context.Context, name string) *ConnectError {
	t.Helper()
	c, err := Dial(ctx, name, time.Second, DialOptions{})
	if err == nil {
		c.Close()
		t.Fatalf("%s: connected", name)
	}
	e, ok := err.(*ConnectError)
	if !ok {
		t.Fatalf("%s: %T %v", name, err, err)
	}
	return e
}

// nginx's words for a failed connection, and for a unix socket the cause.
func TestConnectErrors(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if e := dialErr(t, context.Background(), addr); e.Error() != "connect() failed (111: Connection refused)" || e.Cause != "" {
		t.Errorf("tcp refused: %q %q", e.Error(), e.Cause)
	}
	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if e := dialErr(t, past, addr); e.Error() != "upstream timed out (110: Connection timed out)" {
		t.Errorf("timeout: %q", e.Error())
	}

	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	ul, _ := net.Listen("unix", stale)
	ul.(*net.UnixListener).SetUnlinkOnClose(false)
	ul.Close()
	regular := filepath.Join(dir, "file.sock")
	os.WriteFile(regular, nil, 0o644)
	for _, c := range []struct{ path, msg, cause string }{
		{dir + "/run/app/app.sock", "(2: No such file or directory)", "the directory " + dir + "/run does not exist"},
		{dir + "/app.sock", "(2: No such file or directory)", "no socket at " + dir + "/app.sock: is the application server running"},
		{stale, "(111: Connection refused)", "the socket " + stale + " exists but no process accepts on it"},
		{regular, "(111: Connection refused)", regular + " is not a socket"},
	} {
		e := dialErr(t, context.Background(), "unix:"+c.path)
		if want := "connect() to unix:" + c.path + " failed " + c.msg; e.Error() != want {
			t.Errorf("%s: %q, want %q", c.path, e.Error(), want)
		}
		if !strings.HasPrefix(e.Cause, c.cause) {
			t.Errorf("%s: cause %q, want %q…", c.path, e.Cause, c.cause)
		}
	}
}

// Permission denied names what keeps the user out: a directory it may
// not enter, or the socket it may not write.
func TestExplainAccess(t *testing.T) {
	dir := t.TempDir()
	closed := filepath.Join(dir, "home")
	os.Mkdir(closed, 0o700)
	open := filepath.Join(dir, "run")
	os.Mkdir(open, 0o755)
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	sock := filepath.Join(open, "app.sock")
	os.WriteFile(sock, nil, 0o755)
	const nobody = 65534
	me := os.Geteuid()
	if got := explainAccess(filepath.Join(closed, "app.sock"), nobody, []int{nobody}); !strings.Contains(got, "the directory "+closed+" (drwx------") || !strings.Contains(got, "cannot be entered by") {
		t.Errorf("closed directory: %q", got)
	}
	if got := explainAccess(sock, nobody, []int{nobody}); !strings.Contains(got, "the socket "+sock+" (-rwxr-xr-x") || !strings.Contains(got, "is not writable by") {
		t.Errorf("socket not writable: %q", got)
	}
	if me == 0 {
		if got := explainAccess(filepath.Join(closed, "app.sock"), 0, []int{0}); got != "" {
			t.Errorf("root is let in everywhere: %q", got)
		}
	}
}

// TCP keep-alive probes as nginx sets them: none unless asked
// (proxy_socket_keepalive on), and then with the system's timings.
func TestDialKeepAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sysIdle := -1
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_keepalive_time"); err == nil {
		sysIdle, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	for _, on := range []bool{false, true} {
		c, err := Dial(context.Background(), ln.Addr().String(), time.Second, DialOptions{KeepAlive: on})
		if err != nil {
			t.Fatal(err)
		}
		rc, _ := c.(*net.TCPConn).SyscallConn()
		var keep, idle int
		rc.Control(func(fd uintptr) {
			keep, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
			idle, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		})
		c.Close()
		if (keep != 0) != on {
			t.Errorf("KeepAlive %v: SO_KEEPALIVE %d", on, keep)
		}
		if on && sysIdle > 0 && idle != sysIdle {
			t.Errorf("KeepAlive on: TCP_KEEPIDLE %d, want the system's %d", idle, sysIdle)
		}
	}
}
