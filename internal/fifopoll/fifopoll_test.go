package fifopoll

import (
	"errors"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// pair is a connected non-blocking socket pair: a is waited on, b written.
func pair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
	return fds[0], fds[1]
}

// begin is Begin for a test: it waits for the set to be on (a probe
// comes within probeEvery), and Ends when the test does.
func begin(t *testing.T) {
	t.Helper()
	waitOn(t)
	t.Cleanup(End)
}

// waitOn waits for Begin to say the set is on; the caller Ends.
func waitOn(t *testing.T) {
	t.Helper()
	once.Do(theSet.start)
	limit := time.Now().Add(probeEvery + 2*time.Second)
	for !Begin() {
		if time.Now().After(limit) {
			t.Fatal("the set stays off")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func register(t *testing.T, fd int) *Waiter {
	t.Helper()
	w, err := Register(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Forget)
	return w
}

func TestWaitWakesOnBytes(t *testing.T) {
	begin(t)
	a, b := pair(t)
	w := register(t, a)
	done := make(chan error, 1)
	go func() { done <- w.Wait(After(10 * time.Second)) }()
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v before any byte", err)
	case <-time.After(50 * time.Millisecond):
	}
	syscall.Write(b, []byte("x"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after a byte came")
	}
}

// Bytes that come before the Wait (after the registration) are an
// event too: edge-triggered, nothing may be lost between a read that
// found nothing and the wait.
func TestWaitSeesEarlierEvent(t *testing.T) {
	begin(t)
	a, b := pair(t)
	w := register(t, a)
	syscall.Write(b, []byte("x"))
	time.Sleep(20 * time.Millisecond) // the loop has seen it
	if err := w.Wait(After(time.Second)); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

func TestWaitTimesOut(t *testing.T) {
	begin(t)
	a, _ := pair(t)
	w := register(t, a)
	start := time.Now()
	err := w.Wait(After(100 * time.Millisecond))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Wait: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Fatalf("timed out after %v, want 100ms", d)
	}
	// The timer armed for an earlier deadline moves to a later one.
	start = time.Now()
	if err := w.Wait(After(50 * time.Millisecond)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("second Wait: %v", err)
	}
	start = time.Now()
	w.mu.Lock()
	w.armed = Now() + int64(20*time.Millisecond) // as if armed by an earlier Wait
	w.timer.Reset(20 * time.Millisecond)
	w.mu.Unlock()
	if err := w.Wait(After(150 * time.Millisecond)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("third Wait: %v", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("timed out after %v: the earlier timer ended a later deadline", d)
	}
}

func TestPoke(t *testing.T) {
	begin(t)
	a, b := pair(t)
	w := register(t, a)
	done := make(chan error, 1)
	go func() { done <- w.Wait(0) }()
	time.Sleep(20 * time.Millisecond)
	w.Poke()
	if err := <-done; !errors.Is(err, ErrPoked) {
		t.Fatalf("Wait: %v, want ErrPoked", err)
	}
	// A Poke before the Wait ends it at once; Unpoke takes one back.
	w.Poke()
	if err := w.Wait(0); !errors.Is(err, ErrPoked) {
		t.Fatalf("Wait after Poke: %v", err)
	}
	w.Poke()
	w.Unpoke()
	syscall.Write(b, []byte("x"))
	if err := w.Wait(After(time.Second)); err != nil {
		t.Fatalf("Wait after Unpoke: %v", err)
	}
}

// A descriptor closed and reused by a new socket: the old Waiter hears
// nothing of the new socket, the new one does.
func TestReusedDescriptor(t *testing.T) {
	begin(t)
	a, b := pair(t)
	old := register(t, a)
	syscall.Close(a)
	syscall.Close(b)
	a2, b2 := pair(t)
	if a2 != a {
		t.Skipf("descriptor %d not reused (got %d)", a, a2)
	}
	w := register(t, a2)
	syscall.Write(b2, []byte("x"))
	if err := w.Wait(After(time.Second)); err != nil {
		t.Fatalf("new Waiter: %v", err)
	}
	if err := old.Wait(After(50 * time.Millisecond)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("old Waiter: %v, want ErrTimeout", err)
	}
}

// The point of the package: sockets that became readable in one order
// are served in that order. Go's poller would wake the last first and
// the first last; without the first event signalled last, the last one
// would run first (the scheduler's runnext slot).
func TestWakeOrder(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector randomizes the scheduler's order")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const n = 12
	var ws [n]*Waiter
	var bs [n]int
	for i := range ws {
		a, b := pair(t)
		ws[i], bs[i] = register(t, a), b
	}
	order := make(chan int, n)
	ready := make(chan struct{}, n)
	for i := range ws {
		go func() {
			ready <- struct{}{}
			if err := ws[i].Wait(After(10 * time.Second)); err != nil {
				t.Error(err)
			}
			order <- i
		}()
	}
	for range n {
		<-ready
	}
	begin(t)
	time.Sleep(50 * time.Millisecond) // every goroutine waits
	for _, b := range bs {
		syscall.Write(b, []byte("x"))
	}
	var got []int
	for range n {
		got = append(got, <-order)
	}
	for k, i := range got {
		if i != k {
			t.Fatalf("woken in order %v, want 0..%d", got, n-1)
		}
	}
}

// An event whose bytes were read before the look is not taken for a new
// one: Clear, then the look, then the Wait, which ends only for bytes
// that come after.
func TestClearForgetsEarlierEvents(t *testing.T) {
	begin(t)
	a, b := pair(t)
	w := register(t, a)
	syscall.Write(b, []byte("x"))
	time.Sleep(20 * time.Millisecond) // the loop has seen it
	var buf [8]byte
	syscall.Read(a, buf[:])
	w.Clear()
	if _, err := syscall.Read(a, buf[:]); err != syscall.EAGAIN {
		t.Fatalf("read: %v, want EAGAIN", err)
	}
	if err := w.Wait(After(50 * time.Millisecond)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Wait after Clear: %v, want ErrTimeout", err)
	}
	// A Poke ended the Wait it came before: it leaves nothing behind.
	w.Poke()
	if err := w.Wait(0); !errors.Is(err, ErrPoked) {
		t.Fatalf("Wait after Poke: %v", err)
	}
	if err := w.Wait(After(50 * time.Millisecond)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Wait after the poked one: %v, want ErrTimeout", err)
	}
}

// Batches of one event (a server far from saturated) switch the set off:
// Begin sends callers to Go's poller; a probe turns it on again.
func TestOffWhileBatchesAreSmall(t *testing.T) {
	a, b := pair(t)
	w := register(t, a)
	waitOn(t)
	End()
	off := false
	var buf [8]byte
	limit := time.Now().Add(3 * window)
	for !off && time.Now().Before(limit) {
		if !Begin() {
			off = true
			break
		}
		w.Clear()
		syscall.Write(b, []byte("x"))
		if err := w.Wait(After(time.Second)); err != nil {
			t.Fatal(err)
		}
		syscall.Read(a, buf[:])
		End()
		time.Sleep(2 * time.Millisecond)
	}
	if !off {
		t.Fatalf("still on after %v of one-event batches", 3*window)
	}
	waitOn(t) // a probe turns it on again
	End()
}

// A caller that began while the set was on is served after it goes off.
func TestServedWhileOff(t *testing.T) {
	a, b := pair(t)
	w := register(t, a)
	c, d := pair(t)
	other := register(t, c)
	begin(t) // w's, across the switch
	var buf [8]byte
	limit := time.Now().Add(3 * window)
	for Begin() {
		if time.Now().After(limit) {
			End()
			t.Fatalf("still on after %v of one-event batches", 3*window)
		}
		other.Clear()
		syscall.Write(d, []byte("x"))
		if err := other.Wait(After(time.Second)); err != nil {
			t.Fatal(err)
		}
		syscall.Read(c, buf[:])
		End()
		time.Sleep(2 * time.Millisecond)
	}
	w.Clear()
	syscall.Write(b, []byte("x"))
	if err := w.Wait(After(2 * time.Second)); err != nil {
		t.Fatalf("Wait while off: %v", err)
	}
}
