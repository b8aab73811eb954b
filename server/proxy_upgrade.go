package server

import (
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"edge/internal/errlog"
	"edge/upstream"
)

// Upgraded connections (WebSocket and the like): a backend that answers
// a request carrying Upgrade with 101 Switching Protocols gets the
// client's connection, and bytes flow both ways until either side
// closes (nginx's ngx_http_upstream_upgrade). As in nginx, the backend
// must stay silent no longer than proxy_read_timeout; writes are bounded
// by proxy_send_timeout towards the backend and send_timeout towards the
// client. The request, and the configuration it started on, last as
// long as the connection: a reload does not cut it, a shutdown does.

// upgrade passes the 101 on and joins the two connections.
func (rq *request) upgrade(w *response, pr *proxyRun, uc *upstream.Conn) {
	c := rq.c
	t := &pr.tries[len(pr.tries)-1]
	w.upgrade = true
	headersFilter(w, rq, http.StatusSwitchingProtocols)
	w.WriteHeader(http.StatusSwitchingProtocols)
	c.closed = c.flush() != nil || c.closed
	if c.closed {
		uc.Close()
		return
	}
	// What either side sent after its head goes first.
	fromClient := c.buf[c.r:c.n]
	c.r = c.n
	fromBackend := uc.Buffered()
	p := &rq.loc.Proxy
	var wg sync.WaitGroup
	// Each side stops the other: a flag, then a deadline in the past
	// (the flag covers a copier that moves its deadline meanwhile).
	var clientDone, backendDone atomic.Bool
	var up int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		// A client that closes or resets ends the connection: nothing
		// to log, and the backend side ends too.
		up, _ = copyUpgraded(uc.Conn, c.nc, fromClient, p.SendTimeout.Value, 0, &backendDone)
		clientDone.Store(true)
		uc.SetDeadline(time.Now())
	}()
	n, backendErr := copyUpgraded(c.nc, uc.Conn, fromBackend, rq.loc.SendTimeout.Value, p.ReadTimeout.Value, &clientDone)
	w.body += n
	backendDone.Store(true)
	c.nc.SetDeadline(time.Now())
	wg.Wait()
	if errors.Is(backendErr, errUpstreamTimeout) && !clientDone.Load() {
		rq.log(errlog.Error, "upstream timed out (110: Connection timed out) while proxying upgraded connection")
	}
	t.response = time.Since(t.start)
	t.sent += up
	t.received = uc.Received + n - int64(len(fromBackend))
	uc.Close()
	c.closed = true
}

var errUpstreamTimeout = errors.New("upstream timed out")

// copyUpgraded copies src to dst, first what was read already: each
// write within writeTimeout, each read (when readTimeout is not 0)
// within readTimeout, until stop is set. It reports the bytes written.
func copyUpgraded(dst, src net.Conn, first []byte, writeTimeout, readTimeout time.Duration, stop *atomic.Bool) (int64, error) {
	var sent int64
	if len(first) > 0 {
		dst.SetWriteDeadline(time.Now().Add(writeTimeout))
		n, err := dst.Write(first)
		sent += int64(n)
		if err != nil {
			return sent, err
		}
	}
	bp := getProxyBuf()
	defer putProxyBuf(bp)
	for {
		if readTimeout > 0 {
			src.SetReadDeadline(time.Now().Add(readTimeout))
		} else {
			src.SetReadDeadline(time.Time{})
		}
		if stop.Load() {
			return sent, net.ErrClosed
		}
		n, err := src.Read(*bp)
		if n > 0 {
			dst.SetWriteDeadline(time.Now().Add(writeTimeout))
			m, werr := dst.Write((*bp)[:n])
			sent += int64(m)
			if werr != nil {
				return sent, werr
			}
		}
		if err != nil {
			if readTimeout > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
				return sent, errUpstreamTimeout
			}
			return sent, err
		}
	}
}
