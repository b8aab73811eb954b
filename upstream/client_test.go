package upstream

import (
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// answer serves raw to one connection and gives the client's side.
func answer(t *testing.T, raw string) *Conn {
	t.Helper()
	a, b := net.Pipe()
	go func() {
		b.Write([]byte(raw))
		b.Close()
	}()
	t.Cleanup(func() { a.Close() })
	return NewConn(a, "pipe")
}

func TestReadHead(t *testing.T) {
	cases := []struct {
		name, raw string
		err       error
		want      Head
	}{
		{"plain", "HTTP/1.1 200 OK\r\nX-Mixed: A b \r\nContent-Length: 3\r\n\r\nabc", nil,
			Head{Minor: 1, Status: 200, StatusLine: "200 OK", ContentLength: 3}},
		{"no reason, bare LF", "HTTP/1.0 404\nServer: x\n\n", nil,
			Head{Minor: 0, Status: 404, StatusLine: "404", ContentLength: -1, Close: true}},
		{"chunked, close", "HTTP/1.1 201 Made\r\nTransfer-Encoding: Chunked\r\nConnection: Close\r\n\r\n", nil,
			Head{Minor: 1, Status: 201, StatusLine: "201 Made", ContentLength: -1, Chunked: true, Close: true}},
		{"no status line", "hello", nil, Head{HTTP09: true, Close: true, ContentLength: -1}},
		{"bad status", "HTTP/1.1 2000 OK\r\n\r\n", nil, Head{HTTP09: true, Close: true, ContentLength: -1}},
		{"space in name", "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", ErrInvalidHeader, Head{}},
		{"both lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", ErrBothLengths, Head{}},
		{"closed early", "HTTP/1.1 200 OK\r\nX: y\r\n", ErrClosed, Head{}},
		{"too big", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("y", 100) + "\r\n\r\n", ErrTooBig, Head{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h Head
			err := answer(t, c.raw).ReadHead(&h, time.Second, 100)
			if !errors.Is(err, c.err) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if err != nil {
				return
			}
			h.Fields = nil
			if !reflect.DeepEqual(h, c.want) {
				t.Errorf("%+v\nwant %+v", h, c.want)
			}
		})
	}
}

func TestHeadFields(t *testing.T) {
	var h Head
	c := answer(t, "HTTP/1.1 200 OK\r\nx-lower:  a b  \r\nHTTP/1.1 200 OK\r\nNoColon\r\nOdd.Name@: v\r\n\r\n")
	if err := c.ReadHead(&h, time.Second, 4096); err != nil {
		t.Fatal(err)
	}
	want := []Field{{"x-lower", "a b"}, {"NoColon", ""}, {"Odd.Name@", "v"}}
	if len(h.Fields) != len(want) {
		t.Fatalf("%q", h.Fields)
	}
	for i := range want {
		if h.Fields[i] != want[i] {
			t.Errorf("field %d: %q, want %q", i, h.Fields[i], want[i])
		}
	}
}

func TestBody(t *testing.T) {
	cases := []struct {
		name, raw, body string
		err             error
		done            bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", "hello", nil, true},
		{"chunks", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0c\r\n, big world!\r\n0\r\n\r\n", "hello, big world!", nil, true},
		{"to close", "HTTP/1.0 200 OK\r\n\r\nall of it", "all of it", nil, true},
		{"short", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", "half", ErrClosed, false},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "", ErrInvalidChunked, false},
		{"chunks cut", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "hel", ErrClosed, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h Head
			conn := answer(t, c.raw)
			if err := conn.ReadHead(&h, time.Second, 4096); err != nil {
				t.Fatal(err)
			}
			b := conn.Body(&h, false, time.Second)
			var got []byte
			p := make([]byte, 3) // smaller than the pieces
			var err error
			for {
				var n int
				n, err = b.Read(p)
				got = append(got, p[:n]...)
				if err != nil {
					break
				}
			}
			if err == io.EOF {
				err = nil
			}
			if string(got) != c.body || !errors.Is(err, c.err) || b.Done() != c.done {
				t.Errorf("body %q err %v done %v; want %q %v %v", got, err, b.Done(), c.body, c.err, c.done)
			}
		})
	}
}

// SendAndWait returns once the answer can be read, and at once too for
// a kept connection the peer closed meanwhile (the write draws a reset):
// it never waits for an event that came before it.
func TestSendAndWait(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peers := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peers <- c
		}
	}()
	dial := func() (*Conn, net.Conn) {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return NewConn(nc, "x"), <-peers
	}
	// An answer.
	c, peer := dial()
	go func() {
		peer.Read(make([]byte, 64))
		peer.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	}()
	sent, werr, rerr := c.SendAndWait([]byte("GET / HTTP/1.1\r\n\r\n"), 5*time.Second)
	var h Head
	if !sent || werr != nil || rerr != nil || c.ReadHead(&h, time.Second, 4096) != nil || h.Status != 200 {
		t.Errorf("answer: sent %v, %v, %v, status %d", sent, werr, rerr, h.Status)
	}
	// A peer that closed while the connection sat idle.
	c, peer = dial()
	peer.Close()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	c.SendAndWait([]byte("GET / HTTP/1.1\r\n\r\n"), 5*time.Second)
	if err := c.ReadHead(&h, time.Second, 4096); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("closed peer: %v after %v", err, time.Since(start))
	}
}
