package upstream

import (
	"net"
	"testing"
	"time"

	"edge/internal/fifopoll"
)

// server accepts connections and keeps them, closing them when told.
type server struct {
	ln    net.Listener
	conns chan net.Conn
}

func newServer(t *testing.T) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, conns: make(chan net.Conn, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns <- c
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *server) dial(t *testing.T) (*Conn, net.Conn) {
	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return NewConn(c, s.ln.Addr().String()), <-s.conns
}

// A connection put back is found again by its peer, not by another.
func TestPoolReuse(t *testing.T) {
	a, b := newServer(t), newServer(t)
	p := &Pool{Max: 4, Timeout: time.Minute, Requests: 1000}
	ca, _ := a.dial(t)
	p.Put(ca)
	if got := p.Get(b.ln.Addr().String()); got != nil {
		t.Errorf("a connection to %s handed out for %s", ca.Peer, b.ln.Addr())
	}
	if got := p.Get(ca.Peer); got != ca {
		t.Errorf("got %v, want the connection put back", got)
	}
	if p.Len() != 0 {
		t.Errorf("%d idle after taking the only one", p.Len())
	}
}

// The least recently used goes when the pool is full; a connection idle
// past the timeout, and one that served its requests, are not reused.
func TestPoolLimits(t *testing.T) {
	s := newServer(t)
	p := &Pool{Max: 2, Timeout: 200 * time.Millisecond, Requests: 3}
	c1, _ := s.dial(t)
	c2, _ := s.dial(t)
	c3, _ := s.dial(t)
	p.Put(c1)
	p.Put(c2)
	p.Put(c3)
	if p.Len() != 2 {
		t.Fatalf("%d idle, want 2", p.Len())
	}
	if got := p.Get(s.ln.Addr().String()); got != c3 {
		t.Errorf("first reuse: want the most recent")
	}
	if got := p.Get(s.ln.Addr().String()); got != c2 {
		t.Errorf("second reuse: want c2 (c1 was evicted)")
	}
	if _, err := c1.Conn.Write([]byte("x")); err == nil {
		t.Errorf("the evicted connection is still open")
	}

	old, _ := s.dial(t)
	p.Put(old)
	time.Sleep(300 * time.Millisecond)
	if got := p.Get(s.ln.Addr().String()); got != nil {
		t.Errorf("a connection idle past keepalive_timeout was reused")
	}

	worn, _ := s.dial(t)
	worn.Requests = 2 // the third is the one put back
	p.Put(worn)
	if p.Len() != 0 {
		t.Errorf("a connection that served keepalive_requests was kept")
	}
}

// A connection idle for a second or more is looked at before it is
// reused: one the peer closed is dropped. One idle for less is handed
// out as it is (the proxy retries it on a new connection).
func TestPoolLooks(t *testing.T) {
	s := newServer(t)
	p := &Pool{Max: 4, Timeout: time.Minute, Requests: 1000}
	closed, peer := s.dial(t)
	p.Put(closed)
	peer.Close()
	time.Sleep(50 * time.Millisecond)
	closed.since = fifopoll.Now() - int64(time.Second)
	if got := p.Get(s.ln.Addr().String()); got != nil {
		t.Errorf("a connection the peer closed was reused")
	}
	recent, peer := s.dial(t)
	p.Put(recent)
	peer.Close()
	time.Sleep(50 * time.Millisecond)
	if got := p.Get(s.ln.Addr().String()); got != recent {
		t.Errorf("a connection idle for less than a second was looked at")
	}
	open, _ := s.dial(t)
	p.Put(open)
	open.since = fifopoll.Now() - int64(time.Second)
	if got := p.Get(s.ln.Addr().String()); got != open {
		t.Errorf("an open connection was not reused after a look")
	}
}
