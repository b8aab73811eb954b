package server

import (
	"io"
	"os"
	"sync"

	"edge/internal/errlog"
	"edge/parser"
	"edge/upstream"
)

// proxy_buffering on: the backend's answer is read as fast as the
// backend sends it, whatever the client's pace, into memory and then a
// temporary file, and the backend connection is released as soon as
// the answer is whole — a slow client never holds a Gunicorn worker.
// (nginx's event pipe, ngx_event_pipe.c, with its temp file.) An answer
// that has come whole with its head, the common case, needs none of
// this: it is written straight from the read buffer.

const (
	// spoolMemory is how much of an answer waits in memory before the
	// rest goes to a temporary file (nginx: proxy_buffers, 8 × 4k).
	spoolMemory = 256 << 10
	// spoolFileMax bounds the temporary file (nginx's
	// proxy_max_temp_file_size default): past it, the backend waits for
	// the client.
	spoolFileMax = 1 << 30
)

// spool is an answer's body between the pump (backend side) and the
// connection's goroutine (client side).
type spool struct {
	// mu guards everything below; changed signals each change.
	mu       sync.Mutex
	changed  sync.Cond
	chunks   []*[]byte // in memory, in order (pooled buffers, trimmed)
	mem      int
	file     *os.File // the overflow: written at fileW, read at fileR
	fileW    int64
	fileR    int64
	done     bool  // the pump has ended
	err      error // why the backend's body ended early, if it did
	aborted  bool  // the client went away: the pump stops
	released bool  // the pump gave the backend connection back
}

// spoolBody sends the rest of an answer's body through a spool: first
// is what was read already. It returns once the client has it all (or
// either side failed), the backend connection released by the pump.
func (rq *request) spoolBody(w *response, pr *proxyRun, body *upstream.Body, first []byte, release func(ok bool)) error {
	s := &spool{}
	s.changed.L = &s.mu
	if len(first) > 0 {
		s.put(rq, first)
	}
	go s.pump(rq, body, release)
	c := rq.c
	out := getProxyBuf()
	defer putProxyBuf(out)
	for {
		chunk, n, ended, err := s.take(*out)
		if n > 0 {
			_, werr := w.Write((*out)[:n])
			if chunk != nil {
				putProxyBuf(chunk)
			}
			if werr == nil && s.idle() {
				werr = c.flush() // nothing more yet: what came goes out
			}
			if werr != nil {
				rq.log(errlog.Info, "client prematurely closed connection while sending to client")
				if pr.p.IgnoreClientAbort.Value {
					s.discard(body) // the backend finishes, and is released whole
				} else {
					s.abort(body)
				}
				return werr
			}
			continue
		}
		if ended {
			if err != nil {
				rq.logBodyError(err)
				s.abort(body) // a temporary file that failed: the pump may still run
				w.close = true
				c.flush()
				c.closed = true
			}
			return err
		}
	}
}

// put adds what the backend sent; the pump owns b no longer.
func (s *spool) put(rq *request, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.changed.Broadcast()
	if s.file == nil && s.mem+len(b) <= spoolMemory {
		bp := getProxyBuf()
		*bp = append((*bp)[:0], b...)
		s.chunks = append(s.chunks, bp)
		s.mem += len(b)
		return nil
	}
	if s.file == nil {
		f, err := os.CreateTemp("", "edge-proxy-")
		if err != nil {
			return err
		}
		os.Remove(f.Name()) // it lives as long as it is open
		rq.log(errlog.Warn, "an upstream response is buffered to a temporary file %s while reading upstream", f.Name())
		s.file = f
	}
	// The client reads the file behind the pump: it waits while the
	// file is at its largest.
	for s.fileW-s.fileR > spoolFileMax && !s.aborted {
		s.changed.Wait()
	}
	n, err := s.file.WriteAt(b, s.fileW)
	s.fileW += int64(n)
	return err
}

// take copies what is there into p, waiting for some: a pooled chunk to
// give back (nil for the file's bytes), or that the body ended, and how.
func (s *spool) take(p []byte) (chunk *[]byte, n int, ended bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.chunks) == 0 && s.fileR == s.fileW && !s.done {
		s.changed.Wait()
	}
	switch {
	case len(s.chunks) > 0:
		chunk = s.chunks[0]
		s.chunks[0] = nil
		s.chunks = s.chunks[1:]
		s.mem -= len(*chunk)
		return chunk, copy(p, *chunk), false, nil
	case s.fileR < s.fileW:
		n, err := s.file.ReadAt(p[:min(int64(len(p)), s.fileW-s.fileR)], s.fileR)
		s.fileR += int64(n)
		s.changed.Broadcast() // the pump may be waiting for room
		if err != nil && err != io.EOF {
			return nil, n, true, err
		}
		return nil, n, false, nil
	}
	if s.file != nil {
		s.file.Close()
	}
	return nil, 0, true, s.err
}

// idle says nothing waits to be written.
func (s *spool) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.chunks) == 0 && s.fileR == s.fileW
}

// discard drops what comes until the pump ends: a client gone whose
// backend still finishes (proxy_ignore_client_abort).
func (s *spool) discard(body *upstream.Body) {
	bp := getProxyBuf()
	defer putProxyBuf(bp)
	for {
		chunk, _, ended, err := s.take(*bp)
		if chunk != nil {
			putProxyBuf(chunk)
		}
		if ended {
			if err != nil {
				s.abort(body)
			}
			return
		}
	}
}

// abort stops the pump for a client gone, and waits for it to end: the
// request's memory is the next request's.
func (s *spool) abort(body *upstream.Body) {
	s.mu.Lock()
	s.aborted = true
	s.changed.Broadcast()
	// Only while the pump holds the connection: once released, it may
	// be another request's (pump checks aborted under the same lock).
	if !s.released {
		body.Interrupt()
	}
	for !s.done {
		s.changed.Wait()
	}
	for _, c := range s.chunks {
		putProxyBuf(c)
	}
	s.chunks = nil
	if s.file != nil {
		s.file.Close()
	}
	s.mu.Unlock()
}

// pump reads the backend's body into the spool until it ends, then
// releases the backend connection.
func (s *spool) pump(rq *request, body *upstream.Body, release func(ok bool)) {
	bp := getProxyBuf()
	defer putProxyBuf(bp)
	var err error
	for {
		var n int
		n, err = body.Read(*bp)
		if n > 0 {
			if perr := s.put(rq, (*bp)[:n]); perr != nil {
				rq.log(errlog.Crit, "writing a temporary file failed%s while reading upstream", parser.Errno(perr))
				err = perr
				break
			}
		}
		if err != nil {
			break
		}
		s.mu.Lock()
		aborted := s.aborted
		s.mu.Unlock()
		if aborted {
			break
		}
	}
	if err == io.EOF {
		err = nil
	}
	s.mu.Lock()
	ok := err == nil && !s.aborted // an interrupted connection is not kept
	s.released = true
	s.mu.Unlock()
	release(ok)
	s.mu.Lock()
	s.done, s.err = true, err
	s.changed.Broadcast()
	s.mu.Unlock()
}
