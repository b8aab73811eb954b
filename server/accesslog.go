package server

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"edge/parser"
)

// The access log: log_format templates written, one line a request, to
// the files of the access_log directives of the level that answered.

const (
	escapeDefault = iota // \xXX for ", \ and bytes outside 0x20…0x7e
	escapeJSON           // JSON string escapes
	escapeNone
)

// logFormat is a compiled log_format.
type logFormat struct {
	escape int
	tpl    *template
}

// accessLog is one access_log directive.
type accessLog struct {
	path   string
	format *logFormat
	cond   *template // if=: no line when it is empty or "0"
	w      io.Writer
	byPath *pathLog    // a path with variables, opened per line
	syslog *syslogPeer // syslog:
}

// mergeAccessLogs is ngx_http_log_merge_loc_conf: a level without
// access_log takes its parent's (or its "off").
func mergeAccessLogs(loc, parent *LocationConf) {
	if loc.accessLogSet {
		return
	}
	loc.accessLogs, loc.accessLogOff, loc.accessLogSet = parent.accessLogs, parent.accessLogOff, parent.accessLogSet
}

// openAccessLogs opens every level's access log files, sharing a file
// between levels and with the error logs. Without any access_log the
// http level logs "combined" to standard output (nginx: its log file).
func (rt *Runtime) openAccessLogs(m *MainConf) error {
	for _, srv := range m.HTTP.Servers {
		err := srv.eachLevel(func(l *LocationConf) error {
			for i := range l.accessLogs {
				a := &l.accessLogs[i]
				if a.syslog != nil {
					rt.syslogs = append(rt.syslogs, a.syslog)
				}
				if a.w != nil || a.byPath != nil || a.syslog != nil {
					continue
				}
				f, err := rt.openLog(m, a.path)
				if err != nil {
					return err
				}
				a.w = f
				if b, ok := m.logBuffers[a.path]; ok && f.path != "" {
					if rt.buffered[f] == nil {
						rt.buffered[f] = &bufferedLog{f: f, b: b}
					}
					a.w = rt.buffered[f]
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// openLog opens a log file once per Runtime, relative to the prefix.
func (rt *Runtime) openLog(m *MainConf, path string) (*logFile, error) {
	switch path {
	case "/dev/stdout":
		return stdLog(os.Stdout), nil
	case "stderr", "/dev/stderr":
		return stdLog(os.Stderr), nil
	}
	if path[0] != '/' {
		path = m.Prefix + path
	}
	if f, ok := rt.files[path]; ok {
		return f, nil
	}
	if p := rt.prev; p != nil && p.files[path] != nil {
		l := p.files[path]
		l.refs.Add(1)
		rt.files[path] = l
		return l, nil
	}
	l := &logFile{path: path}
	if err := l.open(); err != nil {
		return nil, err
	}
	l.refs.Add(1)
	rt.files[path] = l
	return l, nil
}

// logFile is an open log file which SIGUSR1 reopens under its writers,
// as nginx's ngx_reopen_files: the file moved away by logrotate keeps
// what was written before, the new one takes what comes after.
type logFile struct {
	path string // "" for standard output and error: never reopened
	f    atomic.Pointer[os.File]
	refs atomic.Int32 // the Runtimes that have it open
}

func stdLog(f *os.File) *logFile {
	l := &logFile{}
	l.f.Store(f)
	return l
}

func (l *logFile) Write(p []byte) (int, error) { return l.f.Load().Write(p) }

// open opens (creating) the file and puts it in place of the one open.
func (l *logFile) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf(`open() "%s" failed%s`, l.path, parser.Errno(err))
	}
	// A write running on the old file finishes before it really closes
	// (the runtime counts its users).
	if old := l.f.Swap(f); old != nil {
		old.Close()
	}
	return nil
}

// close closes the file when the last Runtime that has it lets it go.
func (l *logFile) close() {
	if l.path != "" && l.refs.Add(-1) == 0 {
		l.f.Load().Close()
	}
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// logRequest writes the request's line to each access log of the level
// that answered it, as nginx's log phase does.
func (rq *request) logRequest() {
	loc := rq.loc
	if loc.accessLogOff {
		return
	}
	for i := range loc.accessLogs {
		a := &loc.accessLogs[i]
		if a.cond != nil {
			if v := a.cond.String(rq); v == "" || v == "0" {
				continue
			}
		}
		bp := lineBufs.Get().(*[]byte)
		b := a.format.line(rq, (*bp)[:0])
		switch {
		case a.syslog != nil:
			a.syslog.send(a.syslog.severity, b[:len(b)-1])
		case a.byPath != nil:
			a.byPath.writeLine(rq, b)
		default:
			a.w.Write(b)
		}
		*bp = b
		lineBufs.Put(bp)
	}
}

// line is the format's text for rq with its newline: variables escaped
// as the format says, and "-" for a variable without a value (except in
// JSON, where it is empty).
func (f *logFormat) line(rq *request, b []byte) []byte {
	for _, p := range f.tpl.parts {
		var v string
		switch {
		case p.v != nil:
			v = rq.value(p.v)
		case p.capture > 0:
			v = rq.capture(p.capture)
		default:
			b = append(b, p.lit...)
			continue
		}
		switch {
		case v == "" && f.escape != escapeJSON:
			b = append(b, '-')
		case f.escape == escapeDefault:
			b = appendLogEscape(b, v)
		case f.escape == escapeJSON:
			b = appendEscapeJSON(b, v)
		default:
			b = append(b, v...)
		}
	}
	return append(b, '\n')
}

// appendLogEscape is ngx_http_log_escape.
func appendLogEscape(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

// requestTime is $request_time: seconds with milliseconds.
func (rq *request) requestTime() string {
	ms := time.Since(rq.start).Milliseconds()
	return strconv.FormatInt(ms/1000, 10) + "." + fmt.Sprintf("%03d", ms%1000)
}
