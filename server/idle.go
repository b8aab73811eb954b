package server

import (
	"math"
	"sync"
	"sync/atomic"
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
	sweepEvery = 10 * time.Millisecond // sweeps are at least this far apart
)

// never is a sweep's next moment when nothing is to be watched.
const never = math.MaxInt64

// idler holds the parked connections of the Process and the two
// goroutines that serve them: loop (epoll) and sweep (parking and
// expiring).
type idler struct {
	epfd int
	wake [2]int // a pipe whose write end, closed, stops loop
	done chan struct{}
	wg   sync.WaitGroup

	// next is when the sweeper sweeps next (fifopoll's clock; never: it
	// sleeps until kicked; 0: it is sweeping). A connection that goes
	// idle, or parks, needing a sweep before next kicks it; one that
	// does so while it sweeps kicks it too, since the sweep may have
	// passed it.
	next atomic.Int64
	kick chan struct{}

	// mu guards parked.
	mu     sync.Mutex
	parked map[int32]*conn // by descriptor
}

func newIdler() (*idler, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &idler{epfd: epfd, done: make(chan struct{}), kick: make(chan struct{}, 1), parked: map[int32]*conn{}}
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
	fd := int32(c.fd)
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
	p.needSweep(c.expires)
	return true
}

// needSweep makes sure the sweeper sweeps by at (fifopoll's clock).
func (p *idler) needSweep(at int64) {
	if next := p.next.Load(); next == 0 || next > at {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
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
// ran out. It sleeps until the next of those moments, and with nothing
// to watch until kicked: an idle edge does not wake up (it swept 100
// times a second, 0.5% of a core with no connection at all and 3% with
// 5,000 parked ones).
func (p *idler) sweep(proc *Process) {
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		p.next.Store(0)
		now := fifopoll.Now()
		next := int64(never)
		for _, pt := range proc.openPorts() {
			next = min(next, pt.pokeIdle(now))
		}
		next = min(next, p.expire(now))
		if next != never {
			next = max(next, now+int64(sweepEvery))
		}
		p.next.Store(next)
		for waiting := true; waiting; {
			var fire <-chan time.Time
			if next != never {
				timer.Reset(time.Duration(next - fifopoll.Now()))
				fire = timer.C
			}
			select {
			case <-p.done:
				return
			case <-fire:
				waiting = false
			case <-p.kick:
				// Somebody needs a sweep before next: one within
				// sweepEvery finds them.
				timer.Stop()
				if soon := fifopoll.Now() + int64(sweepEvery); soon < next {
					next = soon
					p.next.Store(next)
				}
			}
		}
	}
}

// expire closes the parked connections whose keepalive_timeout ran out
// by now, and tells when the next one does (never: none is parked).
func (p *idler) expire(now int64) int64 {
	next := int64(never)
	var expired []int32
	p.mu.Lock()
	for fd, c := range p.parked {
		if c.expires <= now {
			expired = append(expired, fd)
		} else {
			next = min(next, c.expires)
		}
	}
	p.mu.Unlock()
	for _, fd := range expired {
		if c := p.take(fd); c != nil {
			c.closeConn()
		}
	}
	return next
}

// pokeIdle ends the wait of the port's connections idle past idleGrace
// in their goroutine by now, and tells when the next of the others is
// (never: none waits).
func (pt *port) pokeIdle(now int64) int64 {
	next := int64(never)
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for c := range pt.conns {
		if since := c.idleSince.Load(); since != 0 {
			if at := since + int64(idleGrace); at <= now {
				c.poke()
			} else {
				next = min(next, at)
			}
		}
	}
	return next
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
