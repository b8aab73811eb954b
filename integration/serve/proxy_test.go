package serve

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"edge/integration/harness"
)

// httpBackend serves h on a loopback port until the test ends; it
// returns the port.
func httpBackend(t *testing.T, h func(http.ResponseWriter, *http.Request)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(h)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// countingBackend is an HTTP/1.1 backend that counts the connections it
// accepted and can close the idle ones.
type countingBackend struct {
	srv   *http.Server
	port  int
	conns atomic.Int64
}

func startCounting(t *testing.T) *countingBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &countingBackend{port: ln.Addr().(*net.TCPAddr).Port}
	b.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s", r.Proto, r.Header.Get("Connection"))
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				b.conns.Add(1)
			}
		},
	}
	go b.srv.Serve(ln)
	t.Cleanup(func() { b.srv.Close() })
	return b
}

// Upstream keep-alive: with keepalive and HTTP/1.1, a hundred requests
// from several clients use a handful of backend connections; without,
// one each. A backend that closes its idle connections costs no failed
// request: edge retries on a new connection.
func TestUpstreamKeepalive(t *testing.T) {
	b := startCounting(t)
	port := harness.FreePort(t)
	conf := writeConf(t, fmt.Sprintf(`events {}
http {
    access_log off;
    upstream kept { server 127.0.0.1:%[2]d; keepalive 4; }
    server {
        listen 127.0.0.1:%[1]d;
        location /kept/ { proxy_pass http://kept; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /plain/ { proxy_pass http://127.0.0.1:%[2]d; }
    }
}
`, port, b.port))
	harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", port), "-c", conf, "-p", t.TempDir()+"/")

	run := func(path string, clients, each int) {
		t.Helper()
		var wg sync.WaitGroup
		var failed atomic.Int64
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &http.Client{Timeout: 5 * time.Second}
				for n := 0; n < each; n++ {
					resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
					if err != nil {
						failed.Add(1)
						continue
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failed.Add(1)
						t.Errorf("%s: %d %s", path, resp.StatusCode, body)
					}
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			t.Errorf("%s: %d requests failed", path, failed.Load())
		}
	}

	if code, body := get(t, port, "/kept/x"); code != 200 || body != "HTTP/1.1 " {
		t.Fatalf("kept: %d %q (want HTTP/1.1 with no Connection header)", code, body)
	}
	b.conns.Store(0)
	run("/kept/x", 4, 25)
	if n := b.conns.Load(); n > 4 {
		t.Errorf("100 requests with keepalive 4 opened %d backend connections", n)
	}

	b.srv.SetKeepAlivesEnabled(false) // closes the idle connections, and every later one after its answer
	time.Sleep(100 * time.Millisecond)
	b.srv.SetKeepAlivesEnabled(true)
	run("/kept/x", 2, 5)

	b.conns.Store(0)
	run("/plain/x", 2, 10)
	if n := b.conns.Load(); n != 20 {
		t.Errorf("20 requests without keepalive opened %d backend connections, want 20", n)
	}
	if code, body := get(t, port, "/plain/x"); code != 200 || body != "HTTP/1.0 close" {
		t.Errorf("plain: %d %q", code, body)
	}
}

// proxy_buffering on releases the backend as soon as it has answered,
// however slowly the client reads (the answer waits in edge, in memory
// and a temporary file); off, the backend waits for the client.
func TestBufferingReleasesBackend(t *testing.T) {
	const size = 16 << 20
	done := make(chan string, 4)
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte('a' + i%26)
	}
	bport := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		if strings.HasSuffix(r.URL.Path, "/accel") {
			w.Header().Set("X-Accel-Buffering", "no")
		}
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		done <- r.URL.Path
	})
	port := harness.FreePort(t)
	dir := t.TempDir()
	conf := writeConf(t, fmt.Sprintf(`error_log %[3]s/error.log warn;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:%[1]d;
        location /buf/ { proxy_pass http://127.0.0.1:%[2]d; }
        location /nobuf/ { proxy_pass http://127.0.0.1:%[2]d; proxy_buffering off; }
    }
}
`, port, bport, dir))
	harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", port), "-c", conf, "-p", dir+"/")

	// slowClient asks for path with a small receive buffer and reads
	// nothing until told; then it reads the whole answer.
	slowClient := func(path string) (read func() int) {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
			return nil
		}}
		c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path)
		return func() int {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			return int(n)
		}
	}

	read := slowClient("/buf/x")
	select {
	case p := <-done:
		if p != "/buf/x" {
			t.Fatalf("%s done", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("proxy_buffering on: the backend is still held by a client that does not read")
	}
	if n := read(); n != size {
		t.Errorf("buffered answer: %d bytes, want %d", n, size)
	}
	log, _ := os.ReadFile(dir + "/error.log")
	if !strings.Contains(string(log), "an upstream response is buffered to a temporary file") {
		t.Errorf("no temporary file warning in the error log:\n%s", log)
	}

	// Off, or a backend that says "X-Accel-Buffering: no": the backend
	// waits for the client.
	for _, path := range []string{"/nobuf/x", "/buf/accel"} {
		read = slowClient(path)
		select {
		case p := <-done:
			t.Fatalf("%s: %s done before the client read", path, p)
		case <-time.After(time.Second):
		}
		if n := read(); n != size {
			t.Errorf("%s: %d bytes, want %d", path, n, size)
		}
		<-done
	}
}

// health_check takes a peer whose check fails out of the balancing and
// brings it back once it passes; the changes are logged.
func TestHealthCheck(t *testing.T) {
	var sick atomic.Bool
	backend := func(name string, checked func() bool) int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" && !checked() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, name)
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return ln.Addr().(*net.TCPAddr).Port
	}
	a := backend("a", func() bool { return true })
	b := backend("b", func() bool { return !sick.Load() })
	port := harness.FreePort(t)
	dir := t.TempDir()
	conf := writeConf(t, fmt.Sprintf(`error_log %[4]s/error.log notice;
events {}
http {
    access_log off;
    upstream pair { server 127.0.0.1:%[2]d; server 127.0.0.1:%[3]d; }
    server {
        listen 127.0.0.1:%[1]d;
        location / { proxy_pass http://pair; health_check interval=100ms fails=2 passes=2 uri=/health; }
    }
}
`, port, a, b, dir))
	cmd := harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", port), "-c", conf, "-p", dir+"/")
	answers := func() map[string]int {
		seen := map[string]int{}
		for i := 0; i < 20; i++ {
			_, body := get(t, port, "/")
			seen[body]++
		}
		return seen
	}
	if seen := answers(); seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("both healthy: %v", seen)
	}
	sick.Store(true)
	waitLog := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			log, _ := os.ReadFile(dir + "/error.log")
			if strings.Contains(string(log), want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the error log:\n%s", want, log)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog(fmt.Sprintf(`peer is unhealthy (status code 503) while checking status code of upstream, health check "interval=100ms fails=2 passes=2 uri=/health" of peer 127.0.0.1:%d in upstream "pair"`, b))
	if seen := answers(); seen["b"] != 0 || seen["a"] != 20 {
		t.Errorf("b unhealthy: %v", seen)
	}
	sick.Store(false)
	waitLog(fmt.Sprintf(`peer is healthy while checking status code of upstream, health check "interval=100ms fails=2 passes=2 uri=/health" of peer 127.0.0.1:%d in upstream "pair"`, b))
	if seen := answers(); seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("b healthy again: %v", seen)
	}

	// A reload without the health check stops it: b, sick again, is
	// no longer taken out.
	text, _ := os.ReadFile(conf)
	os.WriteFile(conf, []byte(strings.Replace(string(text), " health_check interval=100ms fails=2 passes=2 uri=/health;", "", 1)), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog("reconfigured")
	sick.Store(true)
	time.Sleep(500 * time.Millisecond)
	if seen := answers(); seen["b"] == 0 {
		t.Errorf("health check still running after the reload: %v", seen)
	}
}

// A server whose name does not resolve does not stop edge: it starts,
// warns, and answers 502 for it, saying why in the error log.
func TestUnresolvedUpstream(t *testing.T) {
	port := harness.FreePort(t)
	dir := t.TempDir()
	conf := writeConf(t, fmt.Sprintf(`error_log %[2]s/error.log warn;
events {}
http {
    access_log off;
    upstream app { server app.invalid:8000; }
    server {
        listen 127.0.0.1:%[1]d;
        location / { proxy_pass http://app; }
        location /direct/ { proxy_pass http://direct.invalid:8000; }
    }
}
`, port, dir))
	harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", port), "-c", conf, "-p", dir+"/")
	for _, path := range []string{"/", "/direct/x"} {
		if code, body := get(t, port, path); code != 502 || !strings.Contains(body, "502 Bad Gateway") {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
	for _, want := range []string{
		`[warn] `, `host not found in upstream "app.invalid:8000" in ` + conf + `:5 (app.invalid could not be resolved (3: Host not found)); requests to it answer 502 until it resolves`,
		`host not found in upstream "direct.invalid:8000" in ` + conf + `:9`,
		`app.invalid could not be resolved (3: Host not found) while connecting to upstream`,
	} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			log, _ := os.ReadFile(dir + "/error.log")
			if i := strings.Index(string(log), want); i >= 0 {
				line := string(log)[strings.LastIndexByte(string(log[:i]), '\n')+1 : i]
				if strings.Contains(want, "while connecting") && !strings.Contains(line, "[error]") {
					t.Errorf("not at error level: %s", line)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("no %q in the error log:\n%s", want, log)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// proxy_request_buffering off: the backend has the request head before
// the client sends its body, and gets the body as it comes — in chunks
// over HTTP/1.1 when the client sent chunks.
func TestRequestStreaming(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	heads := make(chan string, 4)
	bodies := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				var head strings.Builder
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					head.WriteString(line)
					if line == "\r\n" {
						break
					}
				}
				heads <- head.String()
				req, _ := http.ReadRequest(bufio.NewReader(strings.NewReader(head.String())))
				var body []byte
				if req != nil {
					if req.ContentLength > 0 {
						body = make([]byte, req.ContentLength)
						io.ReadFull(br, body)
					} else if len(req.TransferEncoding) > 0 {
						var raw strings.Builder
						for !strings.HasSuffix(raw.String(), "0\r\n\r\n") {
							line, err := br.ReadString('\n')
							if err != nil {
								break
							}
							raw.WriteString(line)
						}
						body = []byte(raw.String())
					}
				}
				bodies <- string(body)
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			}()
		}
	}()
	port := harness.FreePort(t)
	conf := writeConf(t, fmt.Sprintf(`events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:%[1]d;
        location / { proxy_pass http://127.0.0.1:%[2]d; proxy_request_buffering off; proxy_http_version 1.1; }
    }
}
`, port, ln.Addr().(*net.TCPAddr).Port))
	harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", port), "-c", conf, "-p", t.TempDir()+"/")
	for _, c := range []struct{ name, head, body, want string }{
		{"length", "Content-Length: 11\r\n", "hello world", "hello world"},
		{"chunked", "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"},
	} {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /up HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", c.head)
		select {
		case h := <-heads:
			if c.name == "chunked" && !strings.Contains(h, "Transfer-Encoding: chunked\r\n") {
				t.Errorf("%s: head without chunked: %q", c.name, h)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the backend did not get the head before the body", c.name)
		}
		conn.Write([]byte(c.body))
		select {
		case b := <-bodies:
			if b != c.want {
				t.Errorf("%s: backend got %q, want %q", c.name, b, c.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no body", c.name)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", c.name, resp, err)
		}
		conn.Close()
	}
}

// fakeDNS answers A queries for name with the address in addr (AAAA
// with no answer, any other name with NXDOMAIN), on UDP.
func fakeDNS(t *testing.T, name string, addr *atomic.Value) int {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			if n < 12 {
				continue
			}
			// The question: labels up to a zero, then type and class.
			i, labels := 12, []string{}
			for i < n && q[i] != 0 {
				l := int(q[i])
				labels = append(labels, string(q[i+1:i+1+l]))
				i += 1 + l
			}
			end := i + 5
			if end > n {
				continue
			}
			qtype := int(q[i+1])<<8 | int(q[i+2])
			resp := append([]byte{}, q[:2]...)
			found := strings.EqualFold(strings.Join(labels, "."), name)
			rcode := byte(0)
			if !found {
				rcode = 3
			}
			ancount := byte(0)
			if found && qtype == 1 {
				ancount = 1
			}
			resp = append(resp, 0x81, 0x80|rcode, 0, 1, 0, ancount, 0, 0, 0, 0)
			resp = append(resp, q[12:end]...)
			if ancount == 1 {
				ip := netip.MustParseAddr(addr.Load().(string)).As4()
				resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4)
				resp = append(resp, ip[:]...)
			}
			pc.WriteTo(resp, from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// resolver: host names are looked up through the configured name
// server, and looked up again once valid= has passed: a name that moves
// is followed, for an upstream block's server and for a proxy_pass with
// variables.
func TestResolver(t *testing.T) {
	var addr atomic.Value
	addr.Store("127.0.0.1")
	dns := fakeDNS(t, "app.test", &addr)
	// Two backends on one port, on 127.0.0.1 and 127.0.0.2.
	ln1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bport := ln1.Addr().(*net.TCPAddr).Port
	ln2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.2:%d", bport))
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	for name, ln := range map[string]net.Listener{"one": ln1, "two": ln2} {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	port := harness.FreePort(t)
	conf := writeConf(t, fmt.Sprintf(`events {}
http {
    access_log off;
    resolver 127.0.0.1:%[2]d valid=1s;
    resolver_timeout 2s;
    upstream app { server app.test:%[3]d resolve; }
    server {
        listen 127.0.0.1:%[1]d;
        location / { proxy_pass http://app; }
        location /var/ { set $h app.test; proxy_pass http://$h:%[3]d; }
        location /unknown/ { set $h other.test; proxy_pass http://$h:%[3]d; }
    }
}
`, port, dns, bport))
	harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", port), "-c", conf, "-p", t.TempDir()+"/")
	for _, path := range []string{"/", "/var/x"} {
		if code, body := get(t, port, path); code != 200 || body != "one" {
			t.Fatalf("%s: %d %q", path, code, body)
		}
	}
	if code, _ := get(t, port, "/unknown/x"); code != 502 {
		t.Errorf("a name the resolver does not know: %d, want 502", code)
	}
	addr.Store("127.0.0.2")
	deadline := time.Now().Add(5 * time.Second)
	for _, path := range []string{"/", "/var/x"} {
		for {
			_, body := get(t, port, path)
			if body == "two" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the name's new address was not used: %q", path, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// An event stream reaches the client event by event: with
// proxy_buffering off, with "X-Accel-Buffering: no" from the backend,
// and — where nginx holds what came until a buffer fills — with
// proxy_buffering on too: edge's spool writes what came whenever the
// client can take it (docs/differences.md).
func TestEventStream(t *testing.T) {
	got := make(chan struct{}, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				accel := ""
				if req.URL.Path == "/accel" {
					accel = "X-Accel-Buffering: no\r\n"
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n%s\r\ndata: one\n\n", accel)
				select {
				case <-got:
				case <-time.After(2 * time.Second):
				}
				io.WriteString(c, "data: two\n\n")
			}()
		}
	}()
	port := harness.FreePort(t)
	conf := writeConf(t, fmt.Sprintf(`events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:%[1]d;
        location /off { proxy_pass http://127.0.0.1:%[2]d; proxy_buffering off; }
        location /accel { proxy_pass http://127.0.0.1:%[2]d; }
        location /on { proxy_pass http://127.0.0.1:%[2]d; }
    }
}
`, port, ln.Addr().(*net.TCPAddr).Port))
	harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", port), "-c", conf, "-p", t.TempDir()+"/")
	for _, c := range []struct {
		path      string
		streaming bool
	}{{"/off", true}, {"/accel", true}, {"/on", true}} {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", c.path)
		conn.SetReadDeadline(time.Now().Add(time.Second))
		var seen strings.Builder
		buf := make([]byte, 4096)
		for !strings.Contains(seen.String(), "data: one") {
			n, err := conn.Read(buf)
			seen.Write(buf[:n])
			if err != nil {
				break
			}
		}
		first := strings.Contains(seen.String(), "data: one")
		if first != c.streaming {
			t.Errorf("%s: first event before the second was sent: %v, want %v (%q)", c.path, first, c.streaming, seen.String())
		}
		got <- struct{}{}
		conn.Close()
		time.Sleep(50 * time.Millisecond)
		select {
		case <-got: // the backend timed out waiting: drain
		default:
		}
	}
}

// proxy_ignore_client_abort: a client that goes away mid-answer does
// not cut the backend short when it is on.
func TestIgnoreClientAbort(t *testing.T) {
	const size = 16 << 20
	finished := make(chan bool, 2)
	chunk := make([]byte, 64<<10)
	bport := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				finished <- false
				return
			}
		}
		finished <- true
	})
	port := harness.FreePort(t)
	conf := writeConf(t, fmt.Sprintf(`events {}
http {
    access_log off;
    proxy_buffering off;
    server {
        listen 127.0.0.1:%[1]d;
        location /ignore/ { proxy_pass http://127.0.0.1:%[2]d; proxy_ignore_client_abort on; }
        location /cut/ { proxy_pass http://127.0.0.1:%[2]d; }
    }
}
`, port, bport))
	harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", port), "-c", conf, "-p", t.TempDir()+"/")
	for _, c := range []struct {
		path string
		want bool
	}{{"/ignore/x", true}, {"/cut/x", false}} {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", c.path)
		io.ReadFull(conn, make([]byte, 1024))
		conn.(*net.TCPConn).SetLinger(0) // a reset: edge's writes fail at once
		conn.Close()
		select {
		case got := <-finished:
			if got != c.want {
				t.Errorf("%s: the backend finished its answer: %v, want %v", c.path, got, c.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the backend neither finished nor failed", c.path)
		}
	}
}

// A client that goes away after its answer's backend connection went
// back to the keep-alive pool does not touch that connection, which
// another request may be using (found by review: abort interrupted it).
func TestAbortLeavesPooledConnection(t *testing.T) {
	big := strings.Repeat("x", 8<<20)
	bport := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(500 * time.Millisecond)
			io.WriteString(w, "ok")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		io.WriteString(w, big)
	})
	port := harness.FreePort(t)
	conf := writeConf(t, fmt.Sprintf(`events {}
http {
    access_log off;
    upstream b { server 127.0.0.1:%[2]d; keepalive 1; }
    server {
        listen 127.0.0.1:%[1]d;
        location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
`, port, bport))
	harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", port), "-c", conf, "-p", t.TempDir()+"/")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for round := 0; round < 3; round++ {
		// A asks for the big answer, reads a little and stalls: edge
		// spools the rest and puts the backend connection back.
		a, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		a.(*net.TCPConn).SetReadBuffer(4096)
		fmt.Fprintf(a, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		io.CopyN(io.Discard, bufio.NewReader(a), 16<<10)
		time.Sleep(400 * time.Millisecond)
		// B takes the pooled connection and waits for its answer...
		res := make(chan string, 1)
		go func() {
			b, err := net.Dial("tcp", addr)
			if err != nil {
				res <- err.Error()
				return
			}
			defer b.Close()
			fmt.Fprintf(b, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
			b.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(b).ReadString('\n')
			res <- strings.TrimSpace(line)
		}()
		time.Sleep(150 * time.Millisecond)
		// ...when A resets its connection.
		a.(*net.TCPConn).SetLinger(0)
		a.Close()
		if got := <-res; got != "HTTP/1.1 200 OK" {
			t.Errorf("round %d: the other request got %q", round, got)
		}
	}
}

// max_conns counts a peer busy until its answer has gone: a stream holds
// it, and another request meanwhile gets 502 (as in nginx).
func TestMaxConnsCountsStreams(t *testing.T) {
	var inflight, peak atomic.Int64
	bport := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		for i := 0; i < 6; i++ {
			io.WriteString(w, "data\n")
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	port := harness.FreePort(t)
	conf := writeConf(t, fmt.Sprintf(`events {}
http {
    access_log off;
    upstream u { server 127.0.0.1:%[2]d max_conns=1; }
    server {
        listen 127.0.0.1:%[1]d;
        location / { proxy_pass http://u; proxy_buffering off; }
    }
}
`, port, bport))
	harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", port), "-c", conf, "-p", t.TempDir()+"/")
	codes := make([]int, 3)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
			codes[i], _ = get(t, port, "/s")
		}()
	}
	wg.Wait()
	if peak.Load() != 1 || codes[0] != 200 || codes[1] != 502 || codes[2] != 502 {
		t.Errorf("max_conns=1: %d at once at the backend, answers %v (want 1, [200 502 502])", peak.Load(), codes)
	}
}

// proxy_bind: the backend sees the connection come from that address;
// with variables, the address of each request (empty: any).
func TestProxyBind(t *testing.T) {
	bport := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		io.WriteString(w, host)
	})
	port := harness.FreePort(t)
	conf := writeConf(t, fmt.Sprintf(`events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:%[1]d;
        location /fixed/ { proxy_pass http://127.0.0.1:%[2]d; proxy_bind 127.0.0.3; }
        location /var/ { proxy_pass http://127.0.0.1:%[2]d; proxy_bind $arg_from; }
    }
}
`, port, bport))
	harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", port), "-c", conf, "-p", t.TempDir()+"/")
	for path, want := range map[string]string{"/fixed/": "127.0.0.3", "/var/?from=127.0.0.4": "127.0.0.4", "/var/": "127.0.0.1"} {
		if code, body := get(t, port, path); code != 200 || body != want {
			t.Errorf("%s: %d %q, want %q", path, code, body, want)
		}
	}
}

// proxy_socket_keepalive: TCP keep-alive probes on the connection to the
// backend only when on, as nginx (Go's dialer would probe every 15 s).
func TestProxySocketKeepalive(t *testing.T) {
	held := make(chan string)
	release := make(chan struct{})
	bport := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		held <- r.RemoteAddr
		<-release
		io.WriteString(w, "ok")
	})
	port := harness.FreePort(t)
	conf := writeConf(t, fmt.Sprintf(`events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:%[1]d;
        location /on/ { proxy_pass http://127.0.0.1:%[2]d; proxy_socket_keepalive on; }
        location /off/ { proxy_pass http://127.0.0.1:%[2]d; }
    }
}
`, port, bport))
	harness.Start(t, edgeBin, fmt.Sprintf("127.0.0.1:%d", port), "-c", conf, "-p", t.TempDir()+"/")
	for _, c := range []struct {
		path, want string
	}{{"/on/", "02"}, {"/off/", "00"}} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if code, body := get(t, port, c.path); code != 200 || body != "ok" {
				t.Errorf("%s: %d %q", c.path, code, body)
			}
		}()
		got, _ := tcpTimer(t, <-held, fmt.Sprintf("127.0.0.1:%d", bport))
		release <- struct{}{}
		<-done
		if got != c.want {
			t.Errorf("%s: timer %s on the backend connection, want %s", c.path, got, c.want)
		}
	}
}
