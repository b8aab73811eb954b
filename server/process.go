package server

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"edge/internal/errlog"
	"edge/parser"
)

// Process is what outlives a Runtime: the listening sockets, the client
// connections, the idle set and the Runtime in force. A reload builds a
// new Runtime and hands it to Activate; every request takes the Runtime
// in force when it starts and keeps it to its end, so a reload never
// changes the configuration under a running request. A retired Runtime
// closes its log files when its last request ends.
type Process struct {
	cur   atomic.Pointer[Runtime]
	conns atomic.Uint64 // connections accepted, for "*N"
	idle  *idler

	// draining is set by Quit: answers end their connection, idle ones
	// close.
	draining atomic.Bool

	// mu serializes Activate, Quit and Stop, and guards ports; open is
	// a copy of ports for the sweeper, replaced on each change.
	mu      sync.Mutex
	ports   map[string]*port // by listenKey
	removed map[*port]bool   // closed by a reload, with connections still open
	open    atomic.Pointer[[]*port]
	stopped bool
	accepts sync.WaitGroup // the accept loops
	live    sync.WaitGroup // the connections
}

// port is one listening socket and the connections it accepted.
type port struct {
	key  string
	text string // as nginx names the address, for messages
	ln   net.Listener

	// mu guards conns; closed changes under it too.
	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed atomic.Bool
}

// listenKey names a listen address across Runtimes.
func listenKey(a *ListenAddr) string { return a.Network + " " + a.Address }

// NewProcess makes a Process with no Runtime yet.
func NewProcess() (*Process, error) {
	idle, err := newIdler()
	if err != nil {
		return nil, errors.New("epoll_create1() failed" + parser.Errno(err))
	}
	p := &Process{idle: idle, ports: map[string]*port{}, removed: map[*port]bool{}}
	idle.start(p)
	return p, nil
}

// Runtime is the Runtime in force (nil before the first Activate).
func (p *Process) Runtime() *Runtime { return p.cur.Load() }

// Activate puts rt in force: it opens the addresses rt adds, keeps the
// sockets of those it shares with the Runtime in force (no connection
// is refused meanwhile), swaps rt in, then closes the addresses rt no
// longer has and retires the old Runtime. If an address cannot be
// opened, what this call opened is closed again and nothing changes.
func (p *Process) Activate(rt *Runtime) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.draining.Load() {
		// No new socket once a shutdown began: its wait for the
		// connections must see no new one.
		return errors.New("shutting down")
	}
	var opened []*port
	for _, key := range rt.order {
		a := rt.listeners[key].addr
		if pt := p.ports[key]; pt != nil {
			setKeepAlive(pt.ln, a.KeepAlive)
			continue
		}
		ln, err := openListener(a)
		if err != nil {
			for _, pt := range opened {
				pt.ln.Close()
			}
			return errors.New("bind() to " + a.Text + " failed" + parser.Errno(err))
		}
		opened = append(opened, &port{key: key, text: a.Text, ln: ln, conns: map[*conn]struct{}{}})
	}
	for _, pt := range opened {
		p.ports[pt.key] = pt
	}
	rt.adoptGroups()
	// The health checks of the configuration in force end before the
	// new one's begin: a late verdict of an old check could otherwise
	// mark down a peer no check will bring back.
	if cur := p.cur.Load(); cur != nil {
		cur.stopChecks()
		cur.checking.Wait()
	}
	rt.startChecks()
	old := p.cur.Swap(rt)
	for _, pt := range opened {
		p.accepts.Add(1)
		go p.accept(pt)
	}
	for key, pt := range p.ports {
		if rt.listeners[key] == nil {
			delete(p.ports, key)
			p.closePort(pt)
			p.removed[pt] = true
		}
	}
	for pt := range p.removed {
		pt.mu.Lock()
		if len(pt.conns) == 0 {
			delete(p.removed, pt)
		}
		pt.mu.Unlock()
	}
	p.snapshot()
	if old != nil {
		old.retire()
	}
	return nil
}

// snapshot publishes the open ports for the sweeper.
func (p *Process) snapshot() {
	list := make([]*port, 0, len(p.ports))
	for _, pt := range p.ports {
		list = append(list, pt)
	}
	p.open.Store(&list)
}

// openPorts are the ports open at the last change.
func (p *Process) openPorts() []*port {
	if l := p.open.Load(); l != nil {
		return *l
	}
	return nil
}

// closePort stops accepting on pt and ends its idle connections; those
// in a request finish it first (they find no listener for their address
// when the next one starts).
func (p *Process) closePort(pt *port) {
	pt.ln.Close()
	pt.mu.Lock()
	pt.closed.Store(true)
	pt.mu.Unlock()
	pt.closeIdle()
	p.idle.closeParked(func(c *conn) bool { return c.port == pt })
}

// accept takes the port's connections until it is closed. A failed
// accept (out of descriptors) is logged as nginx logs it and retried
// after a pause, as nginx disables accepting for a while.
func (p *Process) accept(pt *port) {
	defer p.accepts.Done()
	for {
		nc, err := pt.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			for _, lg := range p.cur.Load().mainLog {
				lg.Log(errlog.Crit, "accept() failed%s", parser.Errno(err))
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		p.live.Add(1)
		go p.serveConn(pt, nc)
	}
}

// acquire is the Runtime in force, held until release: a Runtime
// retired meanwhile is not taken.
func (p *Process) acquire() *Runtime {
	for {
		rt := p.cur.Load()
		rt.active.Add(1)
		if p.cur.Load() == rt {
			return rt
		}
		rt.release()
	}
}

func (rt *Runtime) release() {
	if rt.active.Add(-1) == 0 && rt.retired.Load() {
		rt.closeOnce.Do(rt.closeFiles)
	}
}

// retire closes the Runtime's files once its last request has ended.
func (rt *Runtime) retire() {
	rt.stopChecks()
	rt.retired.Store(true)
	if rt.active.Load() == 0 {
		rt.closeOnce.Do(rt.closeFiles)
	}
}

// track records a connection, so that closing the port can close it; it
// reports false once the port is closed.
func (pt *port) track(c *conn) bool {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.closed.Load() {
		return false
	}
	pt.conns[c] = struct{}{}
	return true
}

func (pt *port) forget(c *conn) {
	pt.mu.Lock()
	delete(pt.conns, c)
	pt.mu.Unlock()
}

// closeIdle wakes the port's connections waiting for a next request in
// their goroutine; they see the port (or the process) closing and end.
func (pt *port) closeIdle() {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for c := range pt.conns {
		c.poke()
	}
}

// closeAll closes every connection of the port at once.
func (pt *port) closeAll() {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	pt.closed.Store(true)
	for c := range pt.conns {
		c.nc.Close()
		if c.fw != nil {
			c.fw.Poke() // a closed socket leaves fifopoll without an event
		}
	}
}

// Quit is nginx's graceful shutdown (SIGQUIT): stop accepting, close
// the idle keep-alive connections, let the requests running finish, for
// at most timeout (0: no limit); then Stop.
func (p *Process) Quit(timeout time.Duration) {
	p.mu.Lock()
	p.draining.Store(true)
	for _, pt := range p.ports {
		pt.ln.Close()
		pt.mu.Lock()
		pt.closed.Store(true)
		pt.mu.Unlock()
		pt.closeIdle()
	}
	p.mu.Unlock()
	p.accepts.Wait()
	p.idle.closeParked(func(*conn) bool { return true })
	done := make(chan struct{})
	go func() {
		p.live.Wait()
		close(done)
	}()
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-done:
	case <-expired:
	}
	p.Stop()
}

// Stop is nginx's fast shutdown (SIGTERM, SIGINT): every socket and
// connection closes now. The log files stay open for the last lines;
// CloseLogs closes them.
func (p *Process) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	p.draining.Store(true)
	for _, pt := range p.ports {
		pt.ln.Close()
		pt.closeAll()
	}
	for pt := range p.removed {
		pt.closeAll()
	}
	p.ports, p.removed = map[string]*port{}, map[*port]bool{}
	p.snapshot()
	p.accepts.Wait()
	p.idle.stop()
	p.live.Wait()
}

// CloseLogs closes the log files of the Runtime in force, once stopped.
func (p *Process) CloseLogs() {
	if rt := p.cur.Load(); rt != nil {
		rt.retire()
	}
}

// reopen reopens the log files of the Runtime in force (SIGUSR1), so
// that logrotate can move them away; Reloader.Reopen calls it between
// reloads.
func (p *Process) reopen() error {
	if rt := p.cur.Load(); rt != nil {
		return rt.reopenFiles()
	}
	return nil
}

// openListener opens a listening socket. Its connections have no TCP
// keep-alive probes unless so_keepalive asks (nginx leaves the system's
// default, off; Go's listener would probe every 15 s).
func openListener(a *ListenAddr) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	lc.SetMultipathTCP(false) // plain TCP, as nginx (Go's default is MPTCP)
	network := a.network()
	if network == "tcp6" && a.DualStack {
		lc.Control = dualStack
	}
	ln, err := lc.Listen(context.Background(), network, a.Address)
	if err != nil {
		return nil, err
	}
	setKeepAlive(ln, a.KeepAlive)
	return ln, nil
}

// dualStack clears IPV6_V6ONLY before the bind (ipv6only=off): a
// socket bound to [::] takes IPv4 connections too.
func dualStack(_, _ string, rc syscall.RawConn) error {
	var err error
	rc.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0)
	})
	return err
}

// network is the address's for net.Listen, which for "tcp" and a
// wildcard address opens one IPv6 socket that takes IPv4 too: then
// 0.0.0.0:80 took IPv6 connections, and the [::]:80 that nginx
// configurations list beside it failed to bind. As in nginx, an IPv4
// address is IPv4 only, an IPv6 one IPv6 only (IPV6_V6ONLY, which
// openListener clears for ipv6only=off).
func (a *ListenAddr) network() string {
	if a.Network != "tcp" {
		return a.Network
	}
	ap, err := netip.ParseAddrPort(a.Address)
	switch {
	case err != nil:
		return a.Network
	case ap.Addr().Is4() || ap.Addr().Is4In6():
		return "tcp4"
	}
	return "tcp6"
}

// setKeepAlive sets so_keepalive on a listening socket, whose accepted
// connections inherit it, as nginx's ngx_configure_listening_sockets;
// without it, off (a reload that drops it turns it off, where nginx
// leaves the socket as it was). Errors are ignored, as nginx ignores
// them after an alert: the values were checked when read.
func setKeepAlive(ln net.Listener, k SoKeepalive) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		on := 0
		if k.On {
			on = 1
		}
		syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, on)
		if !k.On {
			return
		}
		if k.Idle > 0 {
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, int(k.Idle/time.Second))
		}
		if k.Interval > 0 {
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, int(k.Interval/time.Second))
		}
		if k.Count > 0 {
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, k.Count)
		}
	})
}
