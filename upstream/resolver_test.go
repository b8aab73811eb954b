package upstream

import (
	"context"
	"net"
	"testing"
	"time"
)

// slowDNS answers every A query with 10.1.2.3 after delay (AAAA: no data).
func slowDNS(t *testing.T, delay time.Duration) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := append([]byte{}, buf[:n]...)
			go func() {
				time.Sleep(delay)
				end := 12
				for end < len(q) && q[end] != 0 {
					end += int(q[end]) + 1
				}
				end += 5 // the zero label, type, class
				if end > len(q) {
					return
				}
				qtype := int(q[end-4])<<8 | int(q[end-3])
				resp := append([]byte{q[0], q[1], 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, q[12:end]...)
				if qtype == 1 {
					resp[7] = 1
					resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3)
				}
				pc.WriteTo(resp, addr)
			}()
		}
	}()
	return pc.LocalAddr().String()
}

// A caller that gives up early (a health check's short deadline) gets
// its own error, and the answer that comes later is what the next
// caller gets: a caller's deadline is never cached as the name's fate.
func TestResolverCallerDeadlineNotCached(t *testing.T) {
	r := &Resolver{Servers: []string{slowDNS(t, 300*time.Millisecond)}, IPv4: true, Valid: 30 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	if _, err := r.Lookup(ctx, "app.internal"); err == nil {
		t.Errorf("a 100 ms caller got an answer that takes 300 ms")
	}
	cancel()
	addrs, err := r.Lookup(context.Background(), "app.internal")
	if err != nil || len(addrs) != 1 || addrs[0].String() != "10.1.2.3" {
		t.Errorf("the next caller: %v %v, want [10.1.2.3]", addrs, err)
	}
}
