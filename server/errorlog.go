package server

import (
	"fmt"
	"io"
	"os"
	"strings"

	"edge/internal/errlog"
)

// The error log while serving: every level's error_log opened once per
// Runtime, and request errors written in nginx's words with its suffix.

// openErrorLogs opens the error logs and gives every location its own
// (or the main level's; without any, stderr at error, Debian's default).
func (rt *Runtime) openErrorLogs(m *MainConf) error {
	rt.files = map[string]*logFile{}
	rt.buffered = map[*logFile]*bufferedLog{}
	open := func(t logTarget) (*errlog.Logger, error) {
		switch {
		case t.syslog != nil:
			rt.syslogs = append(rt.syslogs, t.syslog)
			return &errlog.Logger{Send: t.syslog.sendError, Level: t.level}, nil
		case t.discard:
			return &errlog.Logger{W: io.Discard, Level: t.level}, nil
		}
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

// closeFiles closes the log files, and the idle upstream connections
// no later Runtime took over.
func (rt *Runtime) closeFiles() {
	rt.stopChecks()
	rt.checking.Wait() // they log: before the logs close
	rt.closeGroups()
	for _, b := range rt.buffered {
		b.flush()
	}
	for _, p := range rt.syslogs {
		p.close()
	}
	for _, f := range rt.files {
		f.close()
	}
}

// reopenFiles reopens the log files (SIGUSR1), flushing the buffered
// ones first, as nginx does; the first failure is returned, the other
// files are still reopened.
func (rt *Runtime) reopenFiles() error {
	for _, b := range rt.buffered {
		b.flush()
	}
	var first error
	for _, f := range rt.files {
		if err := f.open(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// log writes a request's error to its location's error logs, as
// ngx_http_log_error does: "*N message, client: …, server: …, request:
// "…", host: "…"".
func (rq *request) log(level errlog.Level, format string, args ...any) {
	for _, l := range rq.loc.loggers {
		if !l.Enabled(level) {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "*%d ", rq.c.id)
		fmt.Fprintf(&b, format, args...)
		rq.logSuffix(&b)
		l.Log(level, "%s", b.String())
	}
}

// logSuffix is ngx_http_log_error's: client, server, request, host and
// referrer, as far as they are known.
func (rq *request) logSuffix(b *strings.Builder) {
	client := rq.c.clientIP
	fmt.Fprintf(b, ", client: %s, server: %s", client, rq.srv.firstName())
	if rq.in.requestLine != "" {
		fmt.Fprintf(b, ", request: \"%s\"", rq.in.requestLine)
	}
	if rq.prx != nil && rq.prx.peer != "" {
		fmt.Fprintf(b, ", upstream: \"%s\"", rq.prx.upstreamURL())
	}
	if rq.in.hostHeader {
		fmt.Fprintf(b, ", host: \"%s\"", rq.in.header("Host"))
	}
	if ref := rq.in.header("Referer"); ref != "" {
		fmt.Fprintf(b, ", referrer: \"%s\"", ref)
	}
}
