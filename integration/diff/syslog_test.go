package diff

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"edge/integration/harness"
)

const syslogConf = `error_log syslog:server=127.0.0.1:%[2]d,facility=local3,tag=errs info;
events {}
http {
    log_format short '$request $status';
    access_log syslog:server=127.0.0.1:%[2]d short;
    server {
        listen 127.0.0.1:%[1]d;
        root %[3]s;
        location /sev/ { access_log syslog:server=127.0.0.1:%[2]d,severity=notice,nohostname,tag=web short; return 200; }
    }
}
`

// TestSyslog: the datagrams nginx and edge send to a syslog server, for
// access and error logs: priority, header, tag and line, times masked.
func TestSyslog(t *testing.T) {
	nginx := harness.Require(t, "nginx", "nginx")
	dir := t.TempDir()
	listen := func() (net.PacketConn, int) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		return pc, pc.LocalAddr().(*net.UDPAddr).Port
	}
	npc, nsys := listen()
	epc, esys := listen()
	nport := startServer(t, nginx, "nginx", dir, func(port int) string { return fmt.Sprintf(syslogConf, port, nsys, dir) })
	eport := startServer(t, edgeBin, "edge", dir, func(port int) string { return fmt.Sprintf(syslogConf, port, esys, dir) })
	for _, port := range []int{nport, eport} {
		for _, p := range []string{"/missing", "/sev/x"} {
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", port, p), nil)
			req.Close = true
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	mask := regexp.MustCompile(`\w{3} [ \d]\d \d\d:\d\d:\d\d|\d{4}/\d\d/\d\d \d\d:\d\d:\d\d|\d+#\d+: \*\d+|:\d{4,5}\b`)
	startup := regexp.MustCompile(`\d+#\d+: [^*]`)
	read := func(pc net.PacketConn) string {
		var out []string
		buf := make([]byte, 4096)
		for {
			pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				break
			}
			if startup.Match(buf[:n]) {
				continue // nginx's start-up notices, which edge does not write
			}
			line := mask.ReplaceAllString(string(buf[:n]), "X")
			if strings.Contains(line, "closed keepalive") || strings.Contains(line, "waiting for request") {
				continue // nginx's and edge's connection ends come at other times
			}
			out = append(out, line)
		}
		sort.Strings(out)
		return strings.Join(out, "\n")
	}
	n, e := read(npc), read(epc)
	if n != e || n == "" {
		t.Errorf("syslog datagrams differ:\nnginx:\n%s\nedge:\n%s", n, e)
	}
}
