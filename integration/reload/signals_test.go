package reload

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"edge/integration/harness"
)

// bigSize is the file a slow client downloads: more than the socket
// buffers hold, so the answer is still being sent when a signal comes.
const bigSize = 48 << 20

// startBig runs edge with watching off, a site answering its version at
// / and serving big.bin from the prefix under /files/.
func startBig(t *testing.T, main string) *instance {
	return startSite(t, "watch_config off;\n"+main, func(in *instance) string {
		f, _ := os.Create(filepath.Join(in.dir, "big.bin"))
		f.Truncate(bigSize)
		f.Close()
		return in.bigSite(1)
	})
}

func (in *instance) bigSite(v int) string {
	return fmt.Sprintf("server {\n    listen 127.0.0.1:%d;\n    location / { return 200 \"v%d\"; }\n    location /files/ { alias %s/; }\n}\n", in.port, v, in.dir)
}

// download is a slow client of big.bin: it reads the head and 1 MiB,
// then the rest at about 40 MiB/s; done receives the bytes of the body
// it got.
func (in *instance) download(t *testing.T) (started chan struct{}, done chan int64) {
	started, done = make(chan struct{}), make(chan int64, 1)
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", in.port))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		started := started // the goroutine's own, which it clears
		defer c.Close()
		fmt.Fprintf(c, "GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
		r := bufio.NewReader(c)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			close(started)
			done <- -1
			return
		}
		var n int64
		buf := make([]byte, 256<<10)
		for {
			m, err := resp.Body.Read(buf)
			n += int64(m)
			if n >= 1<<20 && started != nil {
				close(started)
				started = nil
			}
			if err != nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if started != nil {
			close(started)
		}
		done <- n
	}()
	return started, done
}

// signal sends a verb with edge -s, or a signal with kill.
func (in *instance) signal(t *testing.T, how string) {
	t.Helper()
	if sig, ok := map[string]syscall.Signal{"SIGHUP": syscall.SIGHUP, "SIGQUIT": syscall.SIGQUIT,
		"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT, "SIGUSR1": syscall.SIGUSR1}[how]; ok {
		syscall.Kill(in.pid, sig)
		return
	}
	res := harness.Run(t, 10*time.Second, edgeBin, "-p", in.dir+"/", "-c", filepath.Join(in.dir, "edge.conf"), "-s", how)
	if res.Code != 0 {
		t.Fatalf("-s %s: %d %s", how, res.Code, res.Stderr)
	}
}

// exited waits for the process to end, and reports how long it took.
func (in *instance) exited(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for syscall.Kill(in.pid, 0) == nil {
		if time.Since(start) > within {
			t.Fatalf("edge still runs %v after the signal", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// A long download keeps going, on the configuration it started with,
// across reloads by SIGHUP and -s reload; new requests get each new one.
func TestLongLivedAcrossReloads(t *testing.T) {
	in := startBig(t, "")
	started, done := in.download(t)
	<-started
	for v := 2; v <= 6; v++ {
		os.WriteFile(in.site(), []byte(in.bigSite(v)), 0o644)
		if v%2 == 0 {
			in.signal(t, "SIGHUP")
		} else {
			in.signal(t, "reload")
		}
		waitFor(t, fmt.Sprintf("version %d", v), func() bool { return in.version() == v })
	}
	if n := <-done; n != bigSize {
		t.Errorf("the download got %d bytes of %d", n, bigSize)
	}
}

// SIGQUIT and -s quit: no new connections, idle keep-alive connections
// closed, the running answer finished; then edge exits and removes its
// pid file.
func TestGracefulQuit(t *testing.T) {
	for _, how := range []string{"quit", "SIGQUIT"} {
		t.Run(how, func(t *testing.T) {
			in := startBig(t, "pid logs/edge.pid;")
			idle, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", in.port))
			if err != nil {
				t.Fatal(err)
			}
			defer idle.Close()
			fmt.Fprintf(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			r := bufio.NewReader(idle)
			if resp, err := http.ReadResponse(r, nil); err != nil || resp.StatusCode != 200 {
				t.Fatalf("idle connection's request: %v", err)
			} else {
				io.Copy(io.Discard, resp.Body)
			}
			started, done := in.download(t)
			<-started
			in.signal(t, how)
			// The idle connection is closed by edge.
			idle.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := r.ReadByte(); err != io.EOF {
				t.Errorf("idle keep-alive connection: %v, want EOF", err)
			}
			waitFor(t, "the listener to close", func() bool {
				c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", in.port))
				if err == nil {
					c.Close()
				}
				return err != nil
			})
			if n := <-done; n != bigSize {
				t.Errorf("the download got %d bytes of %d", n, bigSize)
			}
			in.exited(t, 5*time.Second)
			if _, err := os.Stat(filepath.Join(in.dir, "logs", "edge.pid")); !os.IsNotExist(err) {
				t.Errorf("pid file left: %v", err)
			}
			if log := in.errorLog(); !strings.Contains(log, "gracefully shutting down") || !strings.Contains(log, "exit") {
				t.Errorf("error log:\n%s", log)
			}
		})
	}
}

// -s stop, SIGTERM and SIGINT end edge at once, cutting what runs.
func TestFastStop(t *testing.T) {
	for _, how := range []string{"stop", "SIGTERM", "SIGINT"} {
		t.Run(how, func(t *testing.T) {
			in := startBig(t, "")
			started, done := in.download(t)
			<-started
			in.signal(t, how)
			in.exited(t, 3*time.Second)
			if n := <-done; n >= bigSize {
				t.Errorf("the download got all %d bytes: not cut", n)
			}
			if log := in.errorLog(); !strings.Contains(log, "received, exiting") {
				t.Errorf("error log:\n%s", log)
			}
		})
	}
}

// worker_shutdown_timeout bounds a graceful shutdown.
func TestShutdownTimeout(t *testing.T) {
	in := startBig(t, "worker_shutdown_timeout 300ms;")
	started, done := in.download(t)
	<-started
	in.signal(t, "SIGQUIT")
	if took := in.exited(t, 3*time.Second); took < 250*time.Millisecond {
		t.Errorf("exited after %v, before worker_shutdown_timeout", took)
	}
	if n := <-done; n >= bigSize {
		t.Errorf("the download got all %d bytes: not cut", n)
	}
}

// -s reopen and SIGUSR1 reopen the logs: what logrotate needs.
func TestReopen(t *testing.T) {
	in := startSite(t, "watch_config off;", func(in *instance) string {
		return fmt.Sprintf("server { listen 127.0.0.1:%d; access_log logs/access.log; location / { return 200 \"v1\"; } }\n", in.port)
	})
	logs := filepath.Join(in.dir, "logs")
	in.version()
	for i, how := range []string{"reopen", "SIGUSR1"} {
		// The log holds one line: rotate it.
		rotated := filepath.Join(logs, fmt.Sprintf("access.log.%d", i+1))
		os.Rename(filepath.Join(logs, "access.log"), rotated)
		in.signal(t, how)
		waitFor(t, "a new access.log", func() bool {
			_, err := os.Stat(filepath.Join(logs, "access.log"))
			return err == nil
		})
		in.version()
		if data, _ := os.ReadFile(rotated); strings.Count(string(data), "\n") != 1 {
			t.Errorf("%s: the rotated log has %q", how, data)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(logs, "access.log")); strings.Count(string(data), "\n") != 1 {
		t.Errorf("the new log has %q", data)
	}
	if log := in.errorLog(); !strings.Contains(log, "signal 10 (SIGUSR1) received, reopening logs") {
		t.Errorf("error log:\n%s", log)
	}
}

// The pid file appears only once every listener accepts: a script that
// waits for it can connect at once.
func TestPidReadiness(t *testing.T) {
	dir := t.TempDir()
	var ports []int
	var servers strings.Builder
	for i := 0; i < 3; i++ {
		p := harness.FreePort(t)
		ports = append(ports, p)
		fmt.Fprintf(&servers, "    server { listen 127.0.0.1:%d; return 204; }\n", p)
	}
	conf := filepath.Join(dir, "edge.conf")
	os.WriteFile(conf, []byte("pid edge.pid;\nevents {}\nhttp {\n    access_log off;\n"+servers.String()+"}\n"), 0o644)
	cmd := exec.Command(edgeBin, "-p", dir+"/", "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	waitFor(t, "the pid file", func() bool { _, err := os.Stat(filepath.Join(dir, "edge.pid")); return err == nil })
	for _, p := range ports {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Errorf("the pid file exists, but 127.0.0.1:%d refuses: %v", p, err)
			continue
		}
		c.Close()
	}
}

// A user file (auth_basic_user_file) outside the configuration's
// directories is watched too.
func TestWatchedUserFile(t *testing.T) {
	users := t.TempDir()
	htpasswd := filepath.Join(users, "htpasswd")
	os.WriteFile(htpasswd, []byte("a:{PLAIN}a\n"), 0o644)
	in := startSite(t, "", func(in *instance) string {
		return fmt.Sprintf("server { listen 127.0.0.1:%d; auth_basic x; auth_basic_user_file %s; return 200 v1; }\n", in.port, htpasswd)
	})
	os.WriteFile(htpasswd, []byte("a:{PLAIN}b\n"), 0o644)
	waitFor(t, "a reload for the user file", func() bool { return strings.Contains(in.errorLog(), "reconfigured in") })
}

// SIGTERM cuts a graceful shutdown short (one without
// worker_shutdown_timeout would otherwise wait for the download).
func TestStopDuringQuit(t *testing.T) {
	in := startBig(t, "")
	started, done := in.download(t)
	<-started
	in.signal(t, "SIGQUIT")
	waitFor(t, "the graceful shutdown", func() bool { return strings.Contains(in.errorLog(), "gracefully shutting down") })
	in.signal(t, "SIGTERM")
	in.exited(t, 3*time.Second)
	if n := <-done; n >= bigSize {
		t.Errorf("the download got all %d bytes: not cut", n)
	}
}

// A fast shutdown also ends the connections of an address a reload
// removed.
func TestStopAfterPortRemoved(t *testing.T) {
	in := startBig(t, "")
	port2 := harness.FreePort(t)
	extra := filepath.Join(in.dir, "conf.d", "extra.conf")
	os.WriteFile(extra, []byte(fmt.Sprintf("server { listen 127.0.0.1:%d; location /files/ { alias %s/; } }\n", port2, in.dir)), 0o644)
	in.signal(t, "SIGHUP")
	waitFor(t, "the second address", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port2))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	other := *in
	other.port = port2
	started, done := other.download(t)
	<-started
	os.Remove(extra)
	in.signal(t, "SIGHUP")
	waitFor(t, "the second address to close", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port2))
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	in.signal(t, "SIGTERM")
	in.exited(t, 3*time.Second)
	if n := <-done; n >= bigSize {
		t.Errorf("the download got all %d bytes: not cut", n)
	}
}
