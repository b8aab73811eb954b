// Package chunked decodes HTTP/1.1 chunked bodies as they arrive, in
// pieces of any size: a client's request body (nginx's
// ngx_http_parse_chunked) and a backend's answer. It owns no buffer and
// does no I/O.
package chunked

// Decoder follows a chunked body through reads. Its zero value is at
// the start of a body.
type Decoder struct {
	state int
	size  int64 // bytes left of the current chunk's data
	// announced is the size of the chunk whose size line the last
	// call of Next ended (-1: it ended none).
	announced int64
}

const (
	sizeLine    = iota // reading the size line
	ext                // after the size, up to the line's end
	data               // size bytes of data
	dataEnd            // the CRLF after the data
	dataLF             // its LF
	trailer            // trailer lines, up to an empty one
	trailerLine        // inside one
)

// maxSize bounds a chunk's size, as nginx's NGX_MAX_OFF_T_VALUE / 16
// check does, well before it overflows.
const maxSize = 1 << 40

// Next consumes what it can of b, up to the end of the body or of the
// first piece of chunk data: n is what it used, data (a part of b) the
// data among it, done that the body ended, ok false that it is
// malformed. A caller loops until b is used or done.
func (d *Decoder) Next(b []byte) (n int, piece []byte, done, ok bool) {
	d.announced = -1
	for n < len(b) {
		ch := b[n]
		switch d.state {
		case sizeLine:
			switch {
			case unhex(ch) >= 0:
				if d.size > maxSize {
					return n, nil, false, false
				}
				d.size = d.size<<4 | int64(unhex(ch))
			case ch == ';' || ch == ' ' || ch == '\t':
				d.state = ext
			case ch == '\r':
			case ch == '\n':
				d.endSize()
			default:
				return n, nil, false, false
			}
			n++
		case ext:
			if ch == '\n' {
				d.endSize()
			}
			n++
		case data:
			if n > 0 {
				return n, nil, false, true // the data comes in its own call
			}
			m := int(min(int64(len(b)), d.size))
			d.size -= int64(m)
			if d.size == 0 {
				d.state = dataEnd
			}
			return m, b[:m], false, true
		case dataEnd, dataLF:
			switch {
			case ch == '\r' && d.state == dataEnd:
				d.state = dataLF
			case ch == '\n':
				d.state = sizeLine
			default:
				return n, nil, false, false
			}
			n++
		case trailer:
			n++
			switch ch {
			case '\r':
			case '\n':
				*d = Decoder{}
				return n, nil, true, true
			default:
				d.state = trailerLine
			}
		case trailerLine:
			n++
			if ch == '\n' {
				d.state = trailer
			}
		}
	}
	return n, nil, false, true
}

func (d *Decoder) endSize() {
	d.state = data
	d.announced = d.size
	if d.size == 0 {
		d.state = trailer
	}
}

// Announced is the size of the chunk whose size line the last Next
// ended, before any of its data: a limit on the body is checked
// against it, as nginx does. -1 when that Next ended no size line.
func (d *Decoder) Announced() int64 { return d.announced }

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// Skip consumes what it can of b without keeping the data: a body
// being discarded.
func (d *Decoder) Skip(b []byte) (n int, done, ok bool) {
	for n < len(b) {
		m, _, done, ok := d.Next(b[n:])
		n += m
		if done || !ok {
			return n, done, ok
		}
	}
	return n, false, true
}
