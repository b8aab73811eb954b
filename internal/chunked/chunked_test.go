package chunked

import "testing"

// A chunked body is found to end where it ends, and its data is what was
// sent, however it is cut into reads.
func TestDecoder(t *testing.T) {
	body := "5;ext=1\r\nhello\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: t\r\n\r\n"
	next := "GET / HTTP/1.1\r\n"
	in := body + next
	for size := 1; size <= len(in); size++ {
		var d Decoder
		used, got := 0, ""
	reads:
		for p := 0; p < len(in); p += size {
			b := []byte(in[p:min(p+size, len(in))])
			for len(b) > 0 {
				n, piece, done, ok := d.Next(b)
				if !ok {
					t.Fatalf("reads of %d: malformed at %d", size, used+n)
				}
				used += n
				got += string(piece)
				b = b[n:]
				if done {
					break reads
				}
			}
		}
		if used != len(body) || got != "helloabcdefghijklmnopqrstuvwxyz" {
			t.Errorf("reads of %d: body ends at %d (want %d), data %q", size, used, len(body), got)
		}
	}
	for _, bad := range []string{"5\r\nhelloX", "g\r\n", "5\r\nhello\r\r", "fffffffffffff\r\n"} {
		var d Decoder
		if _, _, ok := d.Skip([]byte(bad)); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}
