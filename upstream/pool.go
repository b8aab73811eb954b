package upstream

import (
	"net"
	"sync"
	"syscall"
	"time"

	"edge/internal/fifopoll"
)

// Pool is an upstream's cache of idle keep-alive connections, as
// nginx's keepalive module keeps it: at most Max connections over all
// the upstream's peers, the least recently used closed first; a
// connection is found by the peer the balancer picked. An idle
// connection that the peer closed, or that sat longer than Timeout, or
// served Requests requests, or lived longer than Lifetime, is not
// reused. Expired connections are noticed when the pool is used: at most
// Max of them stay open meanwhile.
type Pool struct {
	Max      int           // keepalive
	Timeout  time.Duration // keepalive_timeout (nginx: 60s)
	Requests int           // keepalive_requests (nginx: 1000)
	Lifetime time.Duration // keepalive_time (nginx: 1h)

	mu sync.Mutex
	// idle are the kept connections, the most recently used last (a
	// slice: Max is small, and a list element per Put was the proxy's
	// largest allocation).
	idle []*Conn
}

// Get takes an idle connection to peer that is still usable, or nil.
func (p *Pool) Get(peer string) *Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := fifopoll.Now()
	// The oldest expire first: they are at the front.
	for len(p.idle) > 0 && p.Timeout > 0 && now-p.idle[0].since > int64(p.Timeout) {
		p.idle[0].Close()
		p.remove(0)
	}
	for i := len(p.idle) - 1; i >= 0; i-- {
		c := p.idle[i]
		if c.Peer != peer {
			continue
		}
		p.remove(i)
		// A look costs a system call per request: a connection idle for
		// less than a second is taken as it is, and a backend that
		// closed it meanwhile costs a retry (the proxy's, as nginx's),
		// not a failure.
		if now-c.since >= int64(time.Second) && closedByPeer(c.Conn) {
			c.Close()
			continue
		}
		c.Reused = true
		return c
	}
	return nil
}

func (p *Pool) remove(i int) {
	copy(p.idle[i:], p.idle[i+1:])
	p.idle[len(p.idle)-1] = nil
	p.idle = p.idle[:len(p.idle)-1]
}

// Put keeps a connection whose answer was read whole (one more request
// served), unless it has served its requests or its time; the least
// recently used goes when the pool is full.
func (p *Pool) Put(c *Conn) {
	c.Requests++
	if p.Max <= 0 || (p.Requests > 0 && c.Requests >= p.Requests) || (p.Lifetime > 0 && time.Since(c.Born) > p.Lifetime) {
		c.Close()
		return
	}
	c.since = fifopoll.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idle = append(p.idle, c)
	for len(p.idle) > p.Max {
		p.idle[0].Close()
		p.remove(0)
	}
}

// Len is the number of idle connections kept.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// Close closes the idle connections: the pool is no longer used.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		c.Close()
	}
	p.idle = nil
}

// closedByPeer reports whether an idle connection has anything to read
// (an end of file, or bytes it should not have sent): either way it is
// not reusable. A look, not a read: MSG_PEEK without waiting.
func closedByPeer(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	readable := false
	rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		readable = err != syscall.EAGAIN
		return true
	})
	return readable
}
