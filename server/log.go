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
// modules. error_log is implemented; the access log lands with issue #4,
// and until then edge checks it as nginx does, down to opening its files.
var LogCommands = []conf.Command{
	{Name: "error_log", Type: conf.Main | conf.OneMore, Module: "ngx_errlog_module", Set: setErrorLog},
	{Name: "error_log", Type: httpAny | conf.OneMore, Module: "ngx_http_core_module", Set: setErrorLog},
	{Name: "log_format", Type: conf.HTTPMain | conf.TwoMore, Module: "ngx_http_log_module", Status: conf.Pending, Planned: "#4", Set: setLogFormat},
	{Name: "access_log", Type: httpAny | conf.HTTPLif | conf.HTTPLmt | conf.OneMore, Module: "ngx_http_log_module", Status: conf.Pending, Planned: "#4", Set: setAccessLog},
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
	if p := d.Args[0].Value; strings.HasPrefix(p, "syslog:") || strings.HasPrefix(p, "memory:") {
		m.Pending = append(m.Pending, conf.Use{Dir: d, Cmd: &errorLogElsewhere})
		return nil
	}
	t := logTarget{path: d.Args[0].Value, level: lvl}
	if s.Context == conf.Main {
		m.ErrorLogs = append(m.ErrorLogs, t)
	} else {
		loc := locOf(s)
		loc.ErrorLogs = append(loc.ErrorLogs, t)
	}
	return nil
}

// errorLogElsewhere stands for an error_log to syslog or memory, which
// serving does not write yet.
var errorLogElsewhere = conf.Command{Name: "error_log", Planned: "#4, for syslog: and memory:"}

// logTarget is one error_log: where, and the least severe level written.
type logTarget struct {
	path  string
	level errlog.Level
}

// debugLevels are the debug_* levels of a build with --with-debug, as
// Debian's.
var debugLevels = []string{"debug_core", "debug_alloc", "debug_mutex", "debug_event", "debug_http", "debug_mail", "debug_stream"}

// setLogFormat records the name, so that access_log can check it.
func setLogFormat(s *conf.Scope, d *parser.Directive) error {
	h := lv(s).http
	name := d.Args[0].Value
	if name == "combined" || h.LogFormats[name] {
		return parser.Errorf(d.End, `duplicate "log_format" name "%s"`, name)
	}
	if h.LogFormats == nil {
		h.LogFormats = map[string]bool{}
	}
	h.LogFormats[name] = true
	return nil
}

// setAccessLog follows ngx_http_log_set_log: "off", or a path, a format
// defined before it, and buffer=, flush=, gzip[=level] and if=; a file
// buffered by two access_log directives must be buffered alike.
func setAccessLog(s *conf.Scope, d *parser.Directive) error {
	path := d.Args[0].Value
	if path == "off" {
		if len(d.Args) > 1 {
			return parser.Errorf(d.End, `invalid parameter "%s"`, d.Args[1].Value)
		}
		return nil
	}
	if len(d.Args) > 1 {
		name := d.Args[1].Value
		if name != "combined" && !lv(s).http.LogFormats[name] {
			return parser.Errorf(d.End, `unknown log format "%s"`, name)
		}
	}
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
	}
	return nil
}

// logBuffer is how an access log file is buffered.
type logBuffer struct {
	size, gzip int64
	flush      time.Duration
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
