package server

import (
	"path/filepath"
	"strings"
	"time"

	"edge/internal/conf"
	"edge/internal/errlog"
	"edge/parser"
)

// LogCommands are the directives of nginx's error log and access log
// modules.
var LogCommands = []conf.Command{
	{Name: "error_log", Type: conf.Main | conf.OneMore, Module: "ngx_errlog_module", Set: setErrorLog},
	{Name: "error_log", Type: httpAny | conf.OneMore, Module: "ngx_http_core_module", Set: setErrorLog},
	{Name: "log_format", Type: conf.HTTPMain | conf.TwoMore, Module: "ngx_http_log_module", Set: setLogFormat},
	{Name: "access_log", Type: httpAny | conf.HTTPLif | conf.HTTPLmt | conf.OneMore, Module: "ngx_http_log_module", Set: setAccessLog},
}

// logLevels are nginx's, lowest first.
var logLevels = []string{"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"}

// mainOf finds the main configuration from any scope.
func mainOf(s *conf.Scope) *MainConf {
	if m, ok := s.Conf.(*MainConf); ok {
		return m
	}
	return lv(s).main
}

// setErrorLog follows ngx_log_set_log and ngx_log_set_levels: a file,
// stderr, syslog: or memory:, then one level or any debug_* levels.
func setErrorLog(s *conf.Scope, d *parser.Directive) error {
	level, debug := "", false
	for _, a := range d.Args[1:] {
		v := a.Value
		switch {
		case contains(logLevels, v):
			if level != "" || debug {
				return parser.Errorf(d.End, `duplicate log level "%s"`, v)
			}
			level = v
		case contains(debugLevels, v):
			if level != "" {
				return parser.Errorf(d.End, `invalid log level "%s"`, v)
			}
			debug = true
		default:
			return parser.Errorf(d.End, `invalid log level "%s"`, v)
		}
	}
	lvl := errlog.Error
	if level != "" {
		lvl, _ = errlog.ParseLevel(level)
	} else if debug {
		lvl = errlog.Debug
	}
	m := mainOf(s)
	m.addLogFile(d.Args[0].Value)
	t := logTarget{path: d.Args[0].Value, level: lvl}
	switch p := d.Args[0].Value; {
	case strings.HasPrefix(p, "syslog:"):
		peer, msg := parseSyslog(p[7:])
		if msg != "" {
			return parser.Errorf(d.End, "%s", msg)
		}
		t.syslog = peer
	case strings.HasPrefix(p, "memory:"):
		// nginx's debugging ring buffer, read with gdb: no one else
		// sees it, and edge keeps nothing (docs/directives.md).
		if _, err := conf.ParseSize(p[7:]); err != nil {
			return parser.Errorf(d.End, `invalid buffer size "%s"`, p[7:])
		}
		t.discard = true
	}
	if s.Context == conf.Main {
		m.ErrorLogs = append(m.ErrorLogs, t)
	} else {
		loc := locOf(s)
		loc.ErrorLogs = append(loc.ErrorLogs, t)
	}
	return nil
}

// logTarget is one error_log: where, and the least severe level written.
type logTarget struct {
	path  string
	level errlog.Level
	// syslog is a syslog: target; discard is memory:.
	syslog  *syslogPeer
	discard bool
}

// debugLevels are the debug_* levels of a build with --with-debug, as
// Debian's.
var debugLevels = []string{"debug_core", "debug_alloc", "debug_mutex", "debug_event", "debug_http", "debug_mail", "debug_stream"}

// setLogFormat follows ngx_http_log_set_format: a new name, an optional
// escape=, and strings joined into one template.
func setLogFormat(s *conf.Scope, d *parser.Directive) error {
	h := lv(s).http
	name := d.Args[0].Value
	if name == "combined" || h.logFormats[name] != nil {
		return parser.Errorf(d.End, `duplicate "log_format" name "%s"`, name)
	}
	f := &logFormat{escape: escapeDefault}
	args := d.Args[1:]
	if v, ok := strings.CutPrefix(args[0].Value, "escape="); ok {
		switch v {
		case "default":
		case "json":
			f.escape = escapeJSON
		case "none":
			f.escape = escapeNone
		default:
			return parser.Errorf(d.End, `unknown log format escaping "%s"`, v)
		}
		args = args[1:]
	}
	var text strings.Builder
	for _, a := range args {
		text.WriteString(a.Value)
	}
	t, err := h.compileTemplate(text.String(), d.End)
	if err != nil {
		return err
	}
	f.tpl = t
	if h.logFormats == nil {
		h.logFormats = map[string]*logFormat{}
	}
	h.logFormats[name] = f
	return nil
}

// combinedFormat is nginx's predefined log format.
const combinedFormat = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

// format finds a log format by name, compiling "combined" on first use.
func (h *HTTPConf) format(name string, pos parser.Pos) (*logFormat, error) {
	if f := h.logFormats[name]; f != nil || name != "combined" {
		return f, nil
	}
	t, err := h.compileTemplate(combinedFormat, pos)
	if err != nil {
		return nil, err
	}
	if h.logFormats == nil {
		h.logFormats = map[string]*logFormat{}
	}
	h.logFormats["combined"] = &logFormat{escape: escapeDefault, tpl: t}
	return h.logFormats["combined"], nil
}

// setAccessLog follows ngx_http_log_set_log: "off", or a path, a format
// defined before it, and buffer=, flush=, gzip[=level] and if=; a file
// buffered by two access_log directives must be buffered alike.
func setAccessLog(s *conf.Scope, d *parser.Directive) error {
	l := lv(s)
	path := d.Args[0].Value
	loc := l.loc
	if path == "off" {
		if len(d.Args) > 1 {
			return parser.Errorf(d.End, `invalid parameter "%s"`, d.Args[1].Value)
		}
		loc.accessLogSet, loc.accessLogOff = true, true
		return nil
	}
	name := "combined"
	if len(d.Args) > 1 {
		name = d.Args[1].Value
	}
	format, err := l.http.format(name, d.End)
	if err != nil {
		return err
	}
	if format == nil {
		return parser.Errorf(d.End, `unknown log format "%s"`, name)
	}
	entry := accessLog{path: path, format: format}
	var b logBuffer
	for _, a := range d.Args[min(2, len(d.Args)):] {
		p := a.Value
		switch {
		case strings.HasPrefix(p, "buffer="):
			n, err := conf.ParseSize(p[7:])
			if err != nil || n == 0 {
				return parser.Errorf(d.End, `invalid buffer size "%s"`, p[7:])
			}
			b.size = n
		case strings.HasPrefix(p, "flush="):
			t, err := conf.ParseTime(p[6:], false)
			if err != nil || t == 0 {
				return parser.Errorf(d.End, `invalid flush time "%s"`, p[6:])
			}
			b.flush = t
		case p == "gzip" || strings.HasPrefix(p, "gzip="):
			if b.size == 0 {
				b.size = 64 << 10
			}
			b.gzip = 1
			if p != "gzip" {
				n, err := conf.ParseNumber(p[5:])
				if err != nil || n < 1 || n > 9 {
					return parser.Errorf(d.End, `invalid compression level "%s"`, p[5:])
				}
				b.gzip = n
			}
		case strings.HasPrefix(p, "if="):
			if entry.cond, err = l.http.compileTemplate(p[3:], d.End); err != nil {
				return err
			}
		default:
			return parser.Errorf(d.End, `invalid parameter "%s"`, p)
		}
	}
	switch {
	case b.flush != 0 && b.size == 0:
		return parser.Errorf(d.End, `no buffer is defined for access_log "%s"`, path)
	case b.size != 0 && strings.Contains(path, "$"):
		return parser.Errorf(d.End, "buffered logs cannot have variables in name")
	case b.size != 0 && strings.HasPrefix(path, "syslog:"):
		return parser.Errorf(d.End, "logs to syslog cannot be buffered")
	}
	m := mainOf(s)
	if b.size != 0 {
		if prev, ok := m.logBuffers[path]; ok && prev != b {
			return parser.Errorf(d.End, `access_log "%s" already defined with conflicting parameters`, path)
		}
		if m.logBuffers == nil {
			m.logBuffers = map[string]logBuffer{}
		}
		m.logBuffers[path] = b
	}
	if !strings.Contains(path, "$") {
		m.addLogFile(path)
	} else {
		t, err := l.http.compileTemplate(fullPathTemplate(path, m.Prefix), d.End)
		if err != nil {
			return err
		}
		entry.byPath = &pathLog{path: t}
	}
	if strings.HasPrefix(path, "syslog:") {
		peer, msg := parseSyslog(path[7:])
		if msg != "" {
			return parser.Errorf(d.End, "%s", msg)
		}
		entry.syslog = peer
	}
	loc.accessLogSet = true
	loc.accessLogs = append(loc.accessLogs, entry)
	return nil
}

// logBuffer is how an access log file is buffered.
type logBuffer struct {
	size, gzip int64
	flush      time.Duration
}

// ErrorsToStderr reports whether the main level's error log is standard
// error (edge's default).
func (m *MainConf) ErrorsToStderr() bool {
	if len(m.ErrorLogs) == 0 {
		return true
	}
	for _, t := range m.ErrorLogs {
		if t.path == "stderr" || t.path == "/dev/stderr" {
			return true
		}
	}
	return false
}

// addLogFile notes a log file that nginx opens (creating it) when it
// loads the configuration, -t included.
func (m *MainConf) addLogFile(path string) {
	if path == "stderr" || strings.HasPrefix(path, "syslog:") || strings.HasPrefix(path, "memory:") {
		return
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(m.Prefix, path)
	}
	m.LogFiles = append(m.LogFiles, path)
}
