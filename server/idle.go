package server

import (
	"sync"
	"syscall"
	"time"

	"edge/internal/fifopoll"
)

// Idle keep-alive connections without a goroutine. A connection waits
// for its next request in its own goroutine first, which costs nothing
// more on a busy connection; one that stays idle past idleGrace leaves
// its goroutine (and the stack a request grew, 8 KiB and more) and is
// watched by one epoll set, as nginx keeps an idle connection as a mere
// event. A request arriving starts a goroutine for it again. The grace
// is short because the goroutines still waiting are what idle
// connections cost at their peak: a client opening 9,000 connections a
// second holds 180 of them at once.

const (
	idleGrace  = 20 * time.Millisecond
	sweepEvery = 10 * time.Millisecond
)

// idler holds the parked connections of the Process and the two
// goroutines that serve them: loop (epoll) and sweep (parking and
// expiring).
type idler struct {
	epfd int
	wake [2]int // a pipe whose write end, closed, stops loop
	done chan struct{}
	wg   sync.WaitGroup

	// mu guards parked.
	mu     sync.Mutex
	parked map[int32]*conn // by descriptor
}

func newIdler() (*idler, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &idler{epfd: epfd, done: make(chan struct{}), parked: map[int32]*conn{}}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.wake[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFiles()
		return nil, err
	}
	return p, nil
}

func (p *idler) closeFiles() {
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
	syscall.Close(p.epfd)
}

// start runs the goroutines; stop ends them (the connections are the
// listeners' to close).
func (p *idler) start(proc *Process) {
	p.wg.Add(2)
	go p.loop()
	go p.sweep(proc)
}

// stop ends the goroutines and closes the parked connections.
func (p *idler) stop() {
	close(p.done)
	syscall.Close(p.wake[1])
	p.wg.Wait()
	p.closeParked(func(*conn) bool { return true })
	syscall.Close(p.wake[0])
	syscall.Close(p.epfd)
}

// closeParked closes the parked connections which.
func (p *idler) closeParked(which func(*conn) bool) {
	p.mu.Lock()
	var fds []int32
	for fd, c := range p.parked {
		if which(c) {
			fds = append(fds, fd)
		}
	}
	p.mu.Unlock()
	for _, fd := range fds {
		if c := p.take(fd); c != nil {
			c.closeConn()
		}
	}
}

// park hands an idle connection to the epoll set until its next bytes,
// or until expires; false leaves it to the caller to close (the set
// refused it, or its port or the process is closing). The insert and
// the registration are one step under mu, so that closeParked either
// finds the connection parked or parking sees the closing.
func (p *idler) park(c *conn) bool {
	var fd int32 = -1
	c.rc.Control(func(f uintptr) { fd = int32(f) })
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.ending() {
		return false
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: fd}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		return false
	}
	p.parked[fd] = c
	return true
}

// take removes a parked connection; the one that takes it owns it.
func (p *idler) take(fd int32) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.parked[fd]
	delete(p.parked, fd)
	if c != nil {
		syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	}
	return c
}

// loop gives a parked connection whose bytes arrived a goroutine again.
func (p *idler) loop() {
	defer p.wg.Done()
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(p.wake[0]) {
				return
			}
			if c := p.take(ev.Fd); c != nil {
				go c.resume()
			}
		}
	}
}

// sweep wakes the connections idle in their goroutine past idleGrace,
// so that they park, and closes the parked ones whose keepalive_timeout
// ran out.
func (p *idler) sweep(proc *Process) {
	defer p.wg.Done()
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case now := <-tick.C:
			for _, pt := range proc.openPorts() {
				pt.pokeIdle()
			}
			p.mu.Lock()
			var expired []int32
			for fd, c := range p.parked {
				if now.After(c.expires) {
					expired = append(expired, fd)
				}
			}
			p.mu.Unlock()
			for _, fd := range expired {
				if c := p.take(fd); c != nil {
					c.closeConn()
				}
			}
		}
	}
}

// pokeIdle ends the wait of the port's connections idle past idleGrace
// in their goroutine.
func (pt *port) pokeIdle() {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	limit := fifopoll.Now() - int64(idleGrace)
	for c := range pt.conns {
		if since := c.idleSince.Load(); since != 0 && since <= limit {
			c.poke()
		}
	}
}

// poke ends the wait of a connection idle in its goroutine, if it is:
// in fifopoll, or in Go's poller by a read deadline in the past.
func (c *conn) poke() {
	c.idleMu.Lock()
	if c.idleSince.Load() != 0 && !c.poked {
		c.poked = true
		if c.fw != nil {
			c.fw.Poke()
		}
		c.nc.SetReadDeadline(time.Unix(1, 0))
	}
	c.idleMu.Unlock()
}
