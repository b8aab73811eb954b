package server

import (
	"net"
	"os"
	"syscall"
	"testing"
)

// Listening sockets as nginx opens them: an IPv4 address on an IPv4
// socket (Go's "tcp" opens a dual-stack IPv6 one for 0.0.0.0, and the
// [::]:80 beside 0.0.0.0:80 in nginx configurations failed to bind), an
// IPv6 address IPv6 only unless ipv6only=off, plain TCP (not Go's MPTCP).
// The tests bind loopback addresses only: the kernel makes a socket
// bound to ::1 IPv6-only whatever it was told, so ipv6only=off is
// checked on a socket before its bind.
func TestListenerSockets(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:80": "tcp4", "127.0.0.1:80": "tcp4", "[::]:80": "tcp6", "[::1]:80": "tcp6",
	} {
		if got := (&ListenAddr{Network: "tcp", Address: addr}).network(); got != want {
			t.Errorf("%s: network %s, want %s", addr, got, want)
		}
	}
	for _, c := range []struct {
		address          string
		domain, protocol int
	}{
		{"127.0.0.1:0", syscall.AF_INET, syscall.IPPROTO_TCP},
		{"[::1]:0", syscall.AF_INET6, syscall.IPPROTO_TCP},
	} {
		ln, err := openListener(&ListenAddr{Network: "tcp", Address: c.address})
		if err != nil {
			t.Skipf("%s: %v", c.address, err) // no IPv6 here
		}
		rc, _ := ln.(*net.TCPListener).SyscallConn()
		var domain, protocol int
		rc.Control(func(fd uintptr) {
			domain, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_DOMAIN)
			protocol, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PROTOCOL)
		})
		ln.Close()
		if domain != c.domain || protocol != c.protocol {
			t.Errorf("listen %s: domain %d, protocol %d; want %d, %d", c.address, domain, protocol, c.domain, c.protocol)
		}
	}
	var ls Listen
	if msg := listenParam(&ls, "ipv6only=off"); msg != "" || !ls.DualStack {
		t.Fatalf("ipv6only=off: %q, dual stack %v", msg, ls.DualStack)
	}
	fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Skip(err)
	}
	f := os.NewFile(uintptr(fd), "socket")
	defer f.Close()
	syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1)
	rc, _ := f.SyscallConn()
	if err := dualStack("tcp6", "[::]:80", rc); err != nil {
		t.Fatal(err)
	}
	if v, _ := syscall.GetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY); v != 0 {
		t.Errorf("ipv6only=off: IPV6_V6ONLY %d before the bind, want 0", v)
	}
}
