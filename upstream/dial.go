package upstream

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"edge/parser"
)

// Connecting to a peer, and saying why it failed: nginx's words (which
// log tools match), and for a unix socket the cause a user needs — the
// classic Gunicorn 502 is a socket missing, stale, or behind a directory
// the server's user cannot enter.

// ConnectError is a failed connection to a peer.
type ConnectError struct {
	Peer    string // "127.0.0.1:8000" or "unix:/run/app.sock"
	Err     error
	Timeout bool
	// Host is set when the peer's host name did not resolve; Reason
	// then says why in the words of nginx's resolver.
	Host, Reason string
	// Cause explains a unix socket's failure; empty otherwise.
	Cause string
}

// Error is nginx's message, without its "while connecting to upstream"
// context: `connect() failed (111: Connection refused)`, `connect() to
// unix:/x failed (2: No such file or directory)`, `upstream timed out
// (110: Connection timed out)`.
func (e *ConnectError) Error() string {
	if e.Host != "" {
		return e.Host + " could not be resolved (" + e.Reason + ")"
	}
	if e.Timeout {
		return "upstream timed out (110: Connection timed out)"
	}
	if strings.HasPrefix(e.Peer, "unix:") {
		return "connect() to " + e.Peer + " failed" + parser.Errno(e.Err)
	}
	return "connect() failed" + parser.Errno(e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// DialOptions are how Dial connects: the zero value uses the system's
// resolver and any local address.
type DialOptions struct {
	// Resolver looks host names up (nil: the system).
	Resolver *Resolver
	// Local is the address connected from (proxy_bind), Transparent
	// allows one that is not the machine's (IP_TRANSPARENT).
	Local       netip.AddrPort
	Transparent bool
	// KeepAlive turns TCP keep-alive probes on, with the system's
	// timings (proxy_socket_keepalive); off, the socket has none, as
	// nginx leaves it (Go's dialer would probe every 15 s).
	KeepAlive bool
}

// Dial connects to a peer named as Peer.Name is, within timeout
// (proxy_connect_timeout).
func Dial(ctx context.Context, name string, timeout time.Duration, o DialOptions) (net.Conn, error) {
	network, addr := "tcp", name
	if path, ok := strings.CutPrefix(name, "unix:"); ok {
		network, addr = "unix", path
	}
	d := net.Dialer{Timeout: timeout, KeepAlive: -1}
	if o.KeepAlive {
		d.KeepAliveConfig = net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1}
	}
	if o.Local.IsValid() && network == "tcp" {
		d.LocalAddr = net.TCPAddrFromAddrPort(o.Local)
		if o.Transparent {
			d.Control = func(_, _ string, rc syscall.RawConn) error {
				var serr error
				rc.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_TRANSPARENT, 1)
				})
				return serr
			}
		}
	}
	r := o.Resolver
	var c net.Conn
	var err error
	host, port, _ := net.SplitHostPort(addr)
	if _, perr := netip.ParseAddr(host); r != nil && network == "tcp" && perr != nil {
		c, err = r.dialVia(ctx, &d, host, port)
	} else {
		c, err = d.DialContext(ctx, network, addr)
	}
	if err == nil {
		return c, nil
	}
	e := &ConnectError{Peer: name, Err: err}
	var errno syscall.Errno
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		e.Host, e.Reason = dnsErr.Name, resolveReason(dnsErr)
		return nil, e
	case errors.As(err, &errno):
		e.Err = errno
	case isTimeout(err):
		e.Timeout = true
	}
	if network == "unix" && !e.Timeout {
		e.Cause = explainSocket(addr, errno, os.Geteuid(), groups())
	}
	return nil, e
}

// resolveReason words a failed lookup as nginx's resolver does
// (ngx_resolver_strerror).
func resolveReason(e *net.DNSError) string {
	switch {
	case e.IsNotFound:
		return "3: Host not found"
	case e.IsTimeout:
		return "110: Operation timed out"
	}
	return "2: Server failure"
}

// Resolvable looks a host name up the way Dial will (through r, or the
// system when r is nil): nil, or why it does not resolve (nginx's
// resolver's words).
func Resolvable(ctx context.Context, host string, r *Resolver) error {
	var err error
	if r != nil {
		_, err = r.Lookup(ctx, host)
	} else {
		_, err = net.DefaultResolver.LookupHost(ctx, host)
	}
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			return &ConnectError{Peer: host, Err: err, Host: host, Reason: resolveReason(dnsErr)}
		}
		return err
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// groups are the process's group ids, primary first.
func groups() []int {
	gs, _ := os.Getgroups()
	return append([]int{os.Getegid()}, gs...)
}

// explainSocket says why connecting to the socket at path failed with
// errno, for a process of uid and gids.
func explainSocket(path string, errno syscall.Errno, uid int, gids []int) string {
	switch errno {
	case syscall.ENOENT:
		for _, d := range dirsOf(path) {
			if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
				return "the directory " + d + " does not exist"
			}
		}
		return "no socket at " + path + ": is the application server running, and bound to this path?"
	case syscall.ECONNREFUSED:
		if fi, err := os.Stat(path); err == nil && fi.Mode()&fs.ModeSocket == 0 {
			return path + " is not a socket"
		}
		return "the socket " + path + " exists but no process accepts on it (left behind by a server that stopped?)"
	case syscall.EACCES, syscall.EPERM:
		return explainAccess(path, uid, gids)
	}
	return ""
}

// explainAccess names what keeps uid out of the socket: the first
// directory on the way it may not enter, or the socket it may not write.
func explainAccess(path string, uid int, gids []int) string {
	for _, d := range dirsOf(path) {
		fi, err := os.Stat(d)
		if err != nil {
			continue
		}
		if !allowed(fi, uid, gids, 1) {
			return fmt.Sprintf("the directory %s (%s %s) cannot be entered by %s", d, fi.Mode(), owner(fi), who(uid))
		}
	}
	if fi, err := os.Stat(path); err == nil && !allowed(fi, uid, gids, 2) {
		return fmt.Sprintf("the socket %s (%s %s) is not writable by %s", path, fi.Mode(), owner(fi), who(uid))
	}
	return ""
}

// dirsOf are the directories on the way to path, from the root down.
func dirsOf(path string) []string {
	var dirs []string
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		dirs = append([]string{d}, dirs...)
		if d == "/" || d == "." {
			return dirs
		}
	}
}

// allowed is the kernel's permission check for one bit (1 execute,
// 2 write) of fi's mode.
func allowed(fi fs.FileInfo, uid int, gids []int, bit fs.FileMode) bool {
	if uid == 0 {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	mode := fi.Mode().Perm()
	switch {
	case int(st.Uid) == uid:
		return mode&(bit<<6) != 0
	case contains(gids, int(st.Gid)):
		return mode&(bit<<3) != 0
	}
	return mode&bit != 0
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// owner is "user:group" of fi, by name where the system knows it.
func owner(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "?"
	}
	u, g := strconv.Itoa(int(st.Uid)), strconv.Itoa(int(st.Gid))
	if x, err := user.LookupId(u); err == nil {
		u = x.Username
	}
	if x, err := user.LookupGroupId(g); err == nil {
		g = x.Name
	}
	return u + ":" + g
}

// who names a user for a message.
func who(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return "user " + u.Username
	}
	return "uid " + strconv.Itoa(uid)
}
