package server

import (
	"strings"
	"testing"
)

// FuzzHead: no head makes the reader panic or read past what it found.
func FuzzHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /\r\n",
		"\r\n\nPOST http://h:80/a?b HTTP/1.0\nContent-Length: 3\n\nabc",
		"GET /%2e%2e/ HTTP/1.1\r\nHost: [::1]:8\r\nX_Y: 1\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: a..b\r\nNoColon\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o := headOptions{firstSize: 64, largeSize: 128, largeNum: 2, mergeSlashes: true, ignoreInvalid: true}
		end, herr := scanHead(b, &o)
		if herr != nil || end == 0 {
			return
		}
		if end > len(b) {
			t.Fatalf("head ends at %d of %d bytes", end, len(b))
		}
		h := requestHead{contentLength: -1}
		if parseHead(string(b[:end]), &h, &o) == nil && !strings.HasPrefix(h.path, "/") {
			t.Fatalf("accepted a path %q", h.path)
		}
	})
}

// TestChunkedSkip: a chunked body is found to end where it ends, however
// it is cut into reads.
func TestChunkedSkip(t *testing.T) {
	body := "5;ext=1\r\nhello\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: t\r\n\r\n"
	next := "GET / HTTP/1.1\r\n"
	in := body + next
	for size := 1; size <= len(in); size++ {
		var s chunkState
		used := 0
		for p := 0; p < len(in); p += size {
			n, done, ok := s.skip([]byte(in[p:min(p+size, len(in))]))
			if !ok {
				t.Fatalf("reads of %d: malformed at %d", size, p+n)
			}
			used += n
			if done {
				break
			}
		}
		if used != len(body) {
			t.Errorf("reads of %d: body ends at %d, want %d", size, used, len(body))
		}
	}
	for _, bad := range []string{"5\r\nhelloX", "g\r\n", "5\r\nhello\r\r"} {
		var s chunkState
		if _, _, ok := s.skip([]byte(bad)); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}
