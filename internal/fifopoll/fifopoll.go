// Package fifopoll owns the order in which goroutines waiting for a
// socket to become readable are woken: the order in which the kernel
// saw the sockets become readable, as nginx's event loop handles its
// events.
//
// Go's poller hands each batch of ready goroutines to the scheduler in
// reverse (runtime/netpoll_epoll.go builds its list by pushing onto a
// stack), so under load the socket that has waited longest in a batch
// is served last. A server on one core sees batches of tens of events;
// the reversal spreads the requests' latencies (the proxy's p99 was
// 1.65× nginx's at 0.88× its throughput; a runtime patched to keep the
// order brought it down by a third). Here one goroutine reads an epoll
// set of its own, nested in Go's (so that it parks like any goroutine),
// and wakes the waiters in the kernel's order.
//
// The nesting costs a goroutine switch and a system call per batch: on
// a process that is not saturated, batches are of one or two events,
// their order does not matter, and that cost would be a tenth of a
// proxied request's. So the set serves waits only while its batches
// are large (on average at least onAtLeast events over a window); below,
// Begin sends callers to Go's poller, and the set looks again, for one
// window, every probeEvery. EDGE_FIFOPOLL=always keeps it on, =never
// leaves every wait to Go's poller (to compare, or to test either way).
//
// A Waiter is a socket's place in the set, edge-triggered: its user
// calls Clear, then looks at the socket (a read, a peek, or a write
// whose answer it awaits), and Waits only if it found nothing: an event
// after the Clear is a token the Wait takes, one before it was seen by
// the look. The socket stays in Go's poller too, which still serves its
// writes, deadlines and every other read.
package fifopoll

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

var (
	// ErrTimeout is Wait's when its deadline passed first.
	ErrTimeout = errors.New("i/o timeout")
	// ErrPoked is Wait's when Poke ended the wait.
	ErrPoked = errors.New("wait ended by Poke")
)

// Waiter is one socket's wake-ups.
type Waiter struct {
	fd  int32
	gen int32
	// ch holds one token: an event (or a poke, or the deadline) since
	// the last Wait took it.
	ch chan struct{}

	// mu guards the rest: the deadline of the Wait in progress (0: none)
	// and the timer's, which is armed lazily: a later deadline leaves it
	// where it is, and when it fires it moves itself to the deadline of
	// the moment; it arms again only when a Wait's deadline is earlier
	// than the one it is armed for, or it is not armed.
	mu       sync.Mutex
	timer    *time.Timer
	deadline int64
	armed    int64
	expired  int64 // the deadline that passed, for the Wait whose it was
	poked    bool
}

type set struct {
	epfd int
	// mu guards waiters, indexed by descriptor; an event names the
	// descriptor and the generation it was added with, so that one for
	// a closed socket does not wake the Waiter of a new one.
	mu      sync.RWMutex
	waiters []*Waiter
	gen     int32
	err     error
	file    *os.File // the set's descriptor: kept, or its finalizer closes it

	// on says waits go through the set; waiting counts the callers
	// between Begin and End, whom the loop serves even when off.
	on      atomic.Bool
	waiting atomic.Int64
	always  bool // EDGE_FIFOPOLL=always: never off
}

const (
	onAtLeast  = 2 // events per batch, on average over a window
	window     = 100 * time.Millisecond
	probeEvery = time.Second
)

var (
	once   sync.Once
	theSet set
	epoch  = time.Now()
)

// Now is the clock of deadlines: monotonic nanoseconds.
func Now() int64 { return int64(time.Since(epoch)) }

// After is the deadline d from now.
func After(d time.Duration) int64 { return Now() + int64(d) }

// Begin says whether the caller's next wait goes through the set: if
// so, it calls Clear, looks at its socket, Waits if it found nothing,
// and then End. If not, it waits in Go's poller.
func Begin() bool {
	s := &theSet
	// The count first: the loop, once off, reads it after on, so that it
	// serves every caller that saw on.
	s.waiting.Add(1)
	if s.on.Load() {
		return true
	}
	s.waiting.Add(-1)
	return false
}

// End ends what Begin began.
func End() { theSet.waiting.Add(-1) }

// Register adds a socket (non-blocking, in Go's poller) to the set. The
// socket leaves the set when it is closed; Forget drops the Waiter.
func Register(fd int) (*Waiter, error) {
	once.Do(theSet.start)
	s := &theSet
	if s.err != nil {
		return nil, s.err
	}
	w := &Waiter{fd: int32(fd), ch: make(chan struct{}, 1)}
	s.mu.Lock()
	s.gen++
	w.gen = s.gen
	for len(s.waiters) <= fd {
		s.waiters = append(s.waiters, nil)
	}
	s.waiters[fd] = w
	s.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET, Fd: w.fd, Pad: w.gen}
	if err := syscall.EpollCtl(s.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		w.Forget()
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return w, nil
}

// Join registers the socket behind rc and returns its Waiter (nil if it
// could not join: the caller waits in Go's poller) and its descriptor
// (-1 if rc has none).
func Join(rc syscall.RawConn) (*Waiter, int) {
	fd := -1
	rc.Control(func(f uintptr) { fd = int(f) })
	if fd < 0 {
		return nil, fd
	}
	w, err := Register(fd)
	if err != nil {
		return nil, fd
	}
	return w, fd
}

// EPOLLET as the unsigned flag it is (syscall declares it negative).
const epollET = 1 << 31

// Forget drops the Waiter, before or after its socket closes.
func (w *Waiter) Forget() {
	s := &theSet
	s.mu.Lock()
	if int(w.fd) < len(s.waiters) && s.waiters[w.fd] == w {
		s.waiters[w.fd] = nil
	}
	s.mu.Unlock()
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.deadline, w.armed = 0, 0
	w.mu.Unlock()
}

// Wait blocks until the socket had an event since the last Clear or
// Wait, until deadline (Now's clock; 0: none), or until Poke.
func (w *Waiter) Wait(deadline int64) error {
	w.mu.Lock()
	if w.poked {
		w.poked = false
		w.Clear()
		w.mu.Unlock()
		return ErrPoked
	}
	w.deadline = deadline
	if deadline != 0 && (w.armed == 0 || w.armed > deadline) {
		w.armed = deadline
		if w.timer == nil {
			// Made for the first deadline: a socket whose waits have none
			// (an idle client's, which the sweeper pokes) costs no timer.
			w.timer = time.AfterFunc(time.Duration(deadline-Now()), w.fire)
		} else {
			w.timer.Reset(time.Duration(deadline - Now()))
		}
	}
	w.mu.Unlock()

	<-w.ch

	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = 0
	switch {
	case w.poked:
		w.poked = false
		return ErrPoked
	case deadline != 0 && w.expired == deadline:
		return ErrTimeout
	}
	return nil
}

// Poke ends the Wait in progress, or the next one, with ErrPoked.
func (w *Waiter) Poke() {
	w.mu.Lock()
	w.poked = true
	w.signal() // under mu: a Wait that sees poked finds its token
	w.mu.Unlock()
}

// Unpoke takes back a Poke that came after the wait it was for had
// ended.
func (w *Waiter) Unpoke() {
	w.mu.Lock()
	w.poked = false
	w.Clear()
	w.mu.Unlock()
}

// Clear forgets the events so far (not a Poke): the caller looks at the
// socket next, and Waits if it finds nothing.
func (w *Waiter) Clear() {
	select {
	case <-w.ch:
	default:
	}
}

func (w *Waiter) signal() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// fire is the timer's: the Wait in progress has timed out, or its
// deadline is later and the timer moves there.
func (w *Waiter) fire() {
	w.mu.Lock()
	w.armed = 0
	d := w.deadline
	if d == 0 {
		w.mu.Unlock()
		return
	}
	if now := Now(); now < d {
		w.armed = d
		w.timer.Reset(time.Duration(d - now))
		w.mu.Unlock()
		return
	}
	w.expired = d
	w.signal()
	w.mu.Unlock()
}

func (s *set) start() {
	switch os.Getenv("EDGE_FIFOPOLL") {
	case "never":
		s.err = errors.New("EDGE_FIFOPOLL=never")
		return
	case "always":
		s.always = true
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		s.err = os.NewSyscallError("epoll_create1", err)
		return
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		s.err = os.NewSyscallError("fcntl", err)
		return
	}
	s.epfd = epfd
	// Non-blocking, the set's descriptor joins Go's poller: the loop
	// parks until the set has events.
	s.file = os.NewFile(uintptr(epfd), "fifopoll")
	rc, err := s.file.SyscallConn()
	if err != nil {
		s.err = err
		return
	}
	go s.loop(rc)
}

// loop wakes the waiters of each batch of events in the kernel's order,
// while batches are large enough. It runs for the life of the process.
func (s *set) loop(rc syscall.RawConn) {
	events := make([]syscall.EpollEvent, 256)
	var batches, total int
	var start int64
	serve := func(fd uintptr) bool {
		for {
			if !s.on.Load() && s.waiting.Load() == 0 {
				return true // off, and nobody waits: events stay queued
			}
			r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, fd,
				uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
			n := int(r)
			if e == syscall.EINTR {
				continue
			}
			if e != 0 || n == 0 {
				return false // nothing yet: wait for Go's poller
			}
			s.wake(events[:n])
			batches++
			total += n
			if now := Now(); now-start >= int64(window) {
				if total < onAtLeast*batches && s.on.Load() && !s.always {
					s.on.Store(false)
					return true
				}
				batches, total, start = 0, 0, now
			}
			if n < len(events) {
				return false
			}
		}
	}
	for {
		batches, total, start = 0, 0, Now()
		s.on.Store(true)
		for {
			err := rc.Read(serve)
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return // never, unless the set was closed
			}
			if s.waiting.Load() == 0 {
				break
			}
			// Off, but some who began before wait still: serve them, and
			// look again after a window if no event comes.
			s.file.SetReadDeadline(time.Now().Add(window))
		}
		s.file.SetReadDeadline(time.Time{})
		time.Sleep(probeEvery)
	}
}

// wake signals the waiters of events. The first is signalled last: the
// scheduler runs the goroutine woken last before the others (its
// runnext slot), and those in the order they were woken, so the first
// event's runs first, then the second's, and so on.
func (s *set) wake(events []syscall.EpollEvent) {
	s.mu.RLock()
	for i := range events {
		ev := &events[(i+1)%len(events)]
		if int(ev.Fd) < len(s.waiters) {
			if w := s.waiters[ev.Fd]; w != nil && w.gen == ev.Pad {
				w.signal()
			}
		}
	}
	s.mu.RUnlock()
}
