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
