package server

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
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

// openLog opens a log file once per Runtime, relative to the prefix. The
// path is named as written in messages (as nginx does) and known by its
// clean form, so that "logs//a.log" is "logs/a.log" too.
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
	key := filepath.Clean(path)
	if f, ok := rt.files[key]; ok {
		return f, nil
	}
	if p := rt.prev; p != nil && p.files[key] != nil {
		l := p.files[key]
		l.mu.Lock()
		l.refs++
		l.mu.Unlock()
		rt.files[key] = l
		return l, nil
	}
	l := &logFile{path: path, refs: 1}
	if err := l.open(); err != nil {
		return nil, err
	}
	rt.files[key] = l
	return l, nil
}

// logFile is an open log file which SIGUSR1 reopens under its writers,
// as nginx's ngx_reopen_files: the file moved away by logrotate keeps
// what was written before, the new one takes what comes after. Runtimes
// share it across reloads; the last one to let it go closes it.
type logFile struct {
	path string // "" for standard output and error: never reopened

	// mu guards f, refs and closed; writers hold it shared, so that a
	// reopen never closes a file under a write.
	mu     sync.RWMutex
	f      *os.File
	refs   int
	closed bool
}

func stdLog(f *os.File) *logFile { return &logFile{f: f} }

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.f.Write(p)
}

// open opens (creating) the file and puts it in place of the one open,
// unless the file was closed meanwhile.
func (l *logFile) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf(`open() "%s" failed%s`, l.path, parser.Errno(err))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		f.Close()
		return nil
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f = f
	return nil
}

// close lets the file go; the last Runtime to do so closes it.
func (l *logFile) close() {
	if l.path == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refs--; l.refs == 0 {
		l.closed = true
		l.f.Close()
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
