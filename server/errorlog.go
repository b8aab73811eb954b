package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"edge/internal/errlog"
)

// The error log while serving: every level's error_log opened once per
// Runtime, and request errors written in nginx's words with its suffix.

// openErrorLogs opens the error logs and gives every location its own
// (or the main level's; without any, stderr at error, Debian's default).
func (rt *Runtime) openErrorLogs(m *MainConf) error {
	rt.files = map[string]*os.File{}
	open := func(t logTarget) (*errlog.Logger, error) {
		f, err := rt.openLog(m, t.path)
		if err != nil {
			return nil, err
		}
		return &errlog.Logger{W: f, Level: t.level}, nil
	}
	openAll := func(ts []logTarget) ([]*errlog.Logger, error) {
		var out []*errlog.Logger
		for _, t := range ts {
			l, err := open(t)
			if err != nil {
				return nil, err
			}
			out = append(out, l)
		}
		return out, nil
	}
	main, err := openAll(m.ErrorLogs)
	if err != nil {
		return err
	}
	if len(main) == 0 {
		main = []*errlog.Logger{{W: os.Stderr, Level: errlog.Error}}
	}
	rt.mainLog = main
	if m.HTTP == nil {
		return nil
	}
	for _, srv := range m.HTTP.Servers {
		err := srv.eachLevel(func(l *LocationConf) error {
			if len(l.ErrorLogs) == 0 {
				l.loggers = main
				return nil
			}
			var err error
			l.loggers, err = openAll(l.ErrorLogs)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// closeFiles closes the log files.
func (rt *Runtime) closeFiles() {
	for _, f := range rt.files {
		f.Close()
	}
}

// connKey carries a connection's state.
type connKey struct{}

// connState is a connection's number (nginx's "*N" in its lines), its
// start and its requests so far.
type connState struct {
	id       uint64
	start    time.Time
	requests atomic.Int64
}

func (rt *Runtime) connContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{id: rt.conns.Add(1), start: time.Now()})
}

// log writes a request's error to its location's error logs, as
// ngx_http_log_error does: "*N message, client: …, server: …, request:
// "…", host: "…"".
func (rq *request) log(level errlog.Level, format string, args ...any) {
	for _, l := range rq.loc.loggers {
		if !l.Enabled(level) {
			continue
		}
		var id uint64
		if c := rq.conn(); c != nil {
			id = c.id
		}
		client, _ := splitAddr(rq.r.RemoteAddr)
		var b strings.Builder
		fmt.Fprintf(&b, "*%d ", id)
		fmt.Fprintf(&b, format, args...)
		fmt.Fprintf(&b, ", client: %s, server: %s, request: \"%s %s %s\"", client, rq.srv.firstName(), rq.r.Method, rq.r.RequestURI, rq.r.Proto)
		if h := rq.r.Host; h != "" {
			fmt.Fprintf(&b, ", host: \"%s\"", h)
		}
		if ref := rq.r.Header.Get("Referer"); ref != "" {
			fmt.Fprintf(&b, ", referrer: \"%s\"", ref)
		}
		l.Log(level, "%s", b.String())
	}
}

// logWriter is http.Server's ErrorLog: what net/http itself reports
// (a handler's panic among them) goes to the main error log at alert.
type logWriter struct{ rt *Runtime }

func (w logWriter) Write(p []byte) (int, error) {
	for _, l := range w.rt.mainLog {
		l.Log(errlog.Alert, "%s", strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

var _ http.Handler = handler{}

// conn is the request's connection state (nil outside a server, in tests).
func (rq *request) conn() *connState {
	c, _ := rq.r.Context().Value(connKey{}).(*connState)
	return c
}
