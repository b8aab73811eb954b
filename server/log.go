package server

import (
	"path/filepath"
	"strings"

	"edge/internal/conf"
	"edge/parser"
)

// LogCommands are the directives of nginx's error log and access log
// modules. Their behaviour lands with issue #4; until then edge checks
// them as nginx does, down to opening their files.
var LogCommands = []conf.Command{
	{Name: "error_log", Type: conf.Main | conf.OneMore, Module: "ngx_errlog_module", Status: conf.Pending, Planned: "#4", Set: setErrorLog},
	{Name: "error_log", Type: httpAny | conf.OneMore, Module: "ngx_http_core_module", Status: conf.Pending, Planned: "#4", Set: setErrorLog},
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

// setErrorLog follows ngx_log_set_log: a file, stderr, syslog: or memory:,
// then an optional level.
func setErrorLog(s *conf.Scope, d *parser.Directive) error {
	if len(d.Args) > 2 {
		return parser.Errorf(d.End, `invalid log level "%s"`, d.Args[2].Value)
	}
	if len(d.Args) == 2 {
		ok := false
		for _, l := range logLevels {
			ok = ok || l == d.Args[1].Value
		}
		if !ok {
			return parser.Errorf(d.End, `invalid log level "%s"`, d.Args[1].Value)
		}
	}
	mainOf(s).addLogFile(d.Args[0].Value)
	return nil
}

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

// setAccessLog follows ngx_http_log_set_log: "off", or a path with an
// optional format name defined before it and parameters.
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
	for _, a := range d.Args[min(2, len(d.Args)):] {
		p := a.Value
		if p != "gzip" && !strings.HasPrefix(p, "buffer=") && !strings.HasPrefix(p, "flush=") &&
			!strings.HasPrefix(p, "gzip=") && !strings.HasPrefix(p, "if=") {
			return parser.Errorf(d.End, `invalid parameter "%s"`, p)
		}
	}
	if !strings.Contains(path, "$") {
		mainOf(s).addLogFile(path)
	}
	return nil
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
