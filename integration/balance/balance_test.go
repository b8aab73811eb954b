// Package balance checks edge's balancers against nginx's: the same
// upstream, the same requests, the same sequence of servers answering,
// with weights, down and backup servers, failing servers, keys and
// client addresses.
package balance

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edge/integration/harness"
	"edge/parser"
	"edge/upstream"
)

// server is a line of the upstream block: its parameters, and whether
// anything listens on it.
type server struct {
	params string // "weight=5 backup"…
	dead   bool
}

type scenario struct {
	name    string
	method  string // the upstream's balancing directive, "" for round-robin
	servers []server
	n       int                // requests
	client  func(i int) string // the client's source address, for ip_hash
	pick    func(t *upstream.Try, i int, r *upstream.Ring) *upstream.Peer
}

var scenarios = []scenario{
	{name: "weights", servers: []server{{"weight=5", false}, {"", false}, {"", false}}, n: 21},
	{name: "down and backup", servers: []server{{"weight=2", false}, {"down", false}, {"", false}, {"backup", false}, {"backup", false}}, n: 12},
	{name: "primaries failing, backups", servers: []server{{"max_fails=1 fail_timeout=30s", true}, {"weight=2", true}, {"backup weight=2", false}, {"backup", false}}, n: 12},
	{name: "a failing server", servers: []server{{"max_fails=2 fail_timeout=30s", true}, {"weight=2", false}, {"", false}}, n: 20},
	{name: "max_fails=0 failing", servers: []server{{"max_fails=0", true}, {"weight=3", false}, {"", false}}, n: 12},
	{name: "all failing", servers: []server{{"", true}, {"", true}}, n: 6},
	{name: "hash", method: "hash $arg_k;", servers: []server{{"", false}, {"weight=2", false}, {"", false}, {"", false}}, n: 60,
		pick: func(t *upstream.Try, i int, _ *upstream.Ring) *upstream.Peer { return t.Hash(fmt.Sprint(i)) }},
	{name: "hash, a server failing", method: "hash $arg_k;", servers: []server{{"", false}, {"", true}, {"", false}}, n: 40,
		pick: func(t *upstream.Try, i int, _ *upstream.Ring) *upstream.Peer { return t.Hash(fmt.Sprint(i)) }},
	{name: "hash consistent", method: "hash $arg_k consistent;", servers: []server{{"", false}, {"", false}, {"weight=2", false}, {"", false}}, n: 60,
		pick: func(t *upstream.Try, i int, r *upstream.Ring) *upstream.Peer { return t.Consistent(r, fmt.Sprint(i)) }},
	{name: "hash consistent, a server failing", method: "hash $arg_k consistent;", servers: []server{{"", false}, {"", true}, {"", false}}, n: 40,
		pick: func(t *upstream.Try, i int, r *upstream.Ring) *upstream.Peer { return t.Consistent(r, fmt.Sprint(i)) }},
	{name: "ip_hash", method: "ip_hash;", servers: []server{{"", false}, {"weight=3", false}, {"", false}}, n: 30,
		client: func(i int) string { return fmt.Sprintf("127.0.%d.1", i) },
		pick: func(t *upstream.Try, i int, _ *upstream.Ring) *upstream.Peer {
			return t.IPHash(netip.MustParseAddr(fmt.Sprintf("127.0.%d.1", i)))
		}},
	{name: "least_conn", method: "least_conn;", servers: []server{{"", false}, {"weight=2", false}, {"", false}, {"backup", false}}, n: 12,
		pick: func(t *upstream.Try, _ int, _ *upstream.Ring) *upstream.Peer { return t.LeastConn() }},
}

// TestAgainstNginx runs each scenario through nginx (which proxies to
// servers that answer with their port) and through edge's balancer, and
// compares who answered each request.
func TestAgainstNginx(t *testing.T) {
	nginx := harness.Require(t, "nginx", "nginx")
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			dir := t.TempDir()
			ports := freePorts(t, len(sc.servers)+1)
			front := ports[len(sc.servers)]
			var lines, backends strings.Builder
			u := upstream.NewConf("u", parser.Pos{})
			if m, _, _ := strings.Cut(sc.method, " "); m != "" {
				u.SetMethod(strings.TrimSuffix(m, ";"))
			}
			dead := map[string]bool{}
			for i, s := range sc.servers {
				port := ports[i]
				addr := fmt.Sprintf("127.0.0.1:%d", port)
				fmt.Fprintf(&lines, "        server %s %s;\n", addr, s.params)
				if s.dead {
					dead[addr] = true
				} else {
					fmt.Fprintf(&backends, "    server { listen %s; return 200 \"%s\"; }\n", addr, addr)
				}
				srv, err := u.ParseServer(append([]string{addr}, strings.Fields(s.params)...))
				if err != nil {
					t.Fatal(err)
				}
				u.Servers = append(u.Servers, srv)
			}
			conf := fmt.Sprintf(`error_log %s/error.log notice;
events {}
http {
    access_log off;
    upstream u {
        %s
%s    }
%s    server {
        listen 127.0.0.1:%d;
        location / { proxy_pass http://u; }
    }
}
`, dir, sc.method, lines.String(), backends.String(), front)
			os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644)
			harness.Start(t, nginx, fmt.Sprintf("127.0.0.1:%d", front), "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"),
				"-g", "daemon off; master_process off; pid "+dir+"/nginx.pid;")

			peers := u.Peers()
			ring := upstream.NewRing(peers)
			for i := 0; i < sc.n; i++ {
				got := ask(t, front, i, sc.client)
				want := simulate(peers, ring, sc, i, dead)
				if got != want {
					t.Errorf("request %d: nginx answered by %s, edge's balancer picks %s", i, got, want)
				}
			}
		})
	}
}

// freePorts are n distinct loopback ports, free a moment ago: held open
// together, so that none is handed out twice.
func freePorts(t *testing.T, n int) []int {
	var ports []int
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// simulate is the request through edge's balancer: a dead server
// fails and the next is tried while tries remain, as
// proxy_next_upstream error does.
func simulate(peers *upstream.Peers, ring *upstream.Ring, sc scenario, i int, dead map[string]bool) string {
	t := peers.NewTry()
	for {
		var p *upstream.Peer
		if sc.pick != nil {
			p = sc.pick(t, i, ring)
		} else {
			p = t.RoundRobin()
		}
		if p == nil {
			return "502"
		}
		if !dead[p.Name] {
			t.Free(false)
			return p.Name
		}
		t.Free(true)
		if t.Tries == 0 {
			return "502"
		}
	}
}

// ask sends request i to nginx and returns who answered (or the status).
func ask(t *testing.T, port, i int, client func(int) string) string {
	d := net.Dialer{Timeout: 5 * time.Second}
	if client != nil {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(client(i))}
	}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /?k=%d HTTP/1.0\r\n\r\n", i)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	data, _ := io.ReadAll(c)
	head, body, _ := strings.Cut(string(data), "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 200") {
		return strings.Fields(head + " x x")[1]
	}
	return body
}
