package server

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"edge/internal/errlog"
)

// Logs to syslog (error_log and access_log "syslog:…"), as nginx's
// ngx_syslog.c sends them: one RFC 3164 datagram a line,
// "<PRI>Mon dd hh:mm:ss hostname tag: line", over UDP or a unix socket.

var syslogFacilities = []string{"kern", "user", "mail", "daemon", "auth", "intern", "lpr", "news", "uucp",
	"clock", "authpriv", "ftp", "ntp", "audit", "alert", "cron", "local0",
	"local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// syslogPeer is one syslog: target (ngx_syslog_peer_t).
type syslogPeer struct {
	network, addr string // "udp" and host:port, or "unixgram" and a path
	facility      int
	severity      int // access logs' severity; error logs send their level
	tag           string
	nohostname    bool

	// mu guards conn, dialed at the first line and again after a failure.
	mu   sync.Mutex
	conn net.Conn
}

// parseSyslog is ngx_syslog_process_conf on what follows "syslog:"; the
// error is nginx's message.
func parseSyslog(spec string) (*syslogPeer, string) {
	p := &syslogPeer{facility: -1, severity: -1}
	for _, arg := range strings.Split(spec, ",") {
		switch {
		case strings.HasPrefix(arg, "server="):
			if p.addr != "" {
				return nil, `duplicate syslog "server"`
			}
			if msg := p.setServer(arg[7:]); msg != "" {
				return nil, msg
			}
		case strings.HasPrefix(arg, "facility="):
			if p.facility >= 0 {
				return nil, `duplicate syslog "facility"`
			}
			if p.facility = index(syslogFacilities, arg[9:]); p.facility < 0 {
				return nil, `unknown syslog facility "` + arg[9:] + `"`
			}
		case strings.HasPrefix(arg, "severity="):
			if p.severity >= 0 {
				return nil, `duplicate syslog "severity"`
			}
			l, ok := errlog.ParseLevel(arg[9:])
			if !ok || strings.HasPrefix(arg[9:], "debug_") {
				return nil, `unknown syslog severity "` + arg[9:] + `"`
			}
			p.severity = int(l)
		case strings.HasPrefix(arg, "tag="):
			if p.tag != "" {
				return nil, `duplicate syslog "tag"`
			}
			if len(arg)-4 > 32 {
				return nil, "syslog tag length exceeds 32"
			}
			for _, c := range strings.ToLower(arg[4:]) {
				if c < '0' || c > '9' && c < 'a' && c != '_' || c > 'z' {
					return nil, `syslog "tag" only allows alphanumeric characters and underscore`
				}
			}
			p.tag = arg[4:]
		case arg == "nohostname":
			p.nohostname = true
		default:
			return nil, `unknown syslog parameter "` + arg + `"`
		}
	}
	if p.addr == "" {
		return nil, "no syslog server specified"
	}
	if p.facility < 0 {
		p.facility = 23 // local7
	}
	if p.severity < 0 {
		p.severity = int(errlog.Info)
	}
	if p.tag == "" {
		// nginx's tag, so that syslog rules written for nginx keep
		// routing these lines (docs/differences.md).
		p.tag = "nginx"
	}
	return p, ""
}

// setServer is ngx_parse_url with syslog's default port 514.
func (p *syslogPeer) setServer(u string) string {
	if path, ok := strings.CutPrefix(u, "unix:"); ok {
		p.network, p.addr = "unixgram", path
		return ""
	}
	host, port := u, "514"
	if h, pt, err := net.SplitHostPort(u); err == nil {
		host, port = h, pt
	} else if strings.HasPrefix(u, "[") && strings.HasSuffix(u, "]") {
		host = u[1 : len(u)-1]
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return `invalid port in syslog server "` + u + `"`
	}
	addrs, err := net.LookupHost(host)
	if err != nil || len(addrs) == 0 {
		return `host not found in syslog server "` + u + `"`
	}
	p.network, p.addr = "udp", net.JoinHostPort(addrs[0], port)
	return ""
}

func index(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

var syslogHostname = func() string {
	h, _ := os.Hostname()
	return strings.ToLower(h)
}()

// send writes one line (without its newline) at severity.
func (p *syslogPeer) send(severity int, line []byte) {
	b := make([]byte, 0, len(line)+64)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(p.facility*8+severity), 10)
	b = append(b, '>')
	b = time.Now().AppendFormat(b, "Jan _2 15:04:05")
	b = append(b, ' ')
	if !p.nohostname {
		b = append(b, syslogHostname...)
		b = append(b, ' ')
	}
	b = append(b, p.tag...)
	b = append(b, ": "...)
	b = append(b, line...)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		c, err := net.Dial(p.network, p.addr)
		if err != nil {
			return // as nginx, a log line that cannot go is dropped
		}
		p.conn = c
	}
	if _, err := p.conn.Write(b); err != nil {
		p.conn.Close()
		p.conn = nil
	}
}

// sendError is an error log's writer: the whole error line, at its level.
func (p *syslogPeer) sendError(level errlog.Level, line string) {
	p.send(int(level), []byte(line))
}

// close closes the peer's socket.
func (p *syslogPeer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}
