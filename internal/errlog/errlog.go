// Package errlog writes nginx's error log line:
//
//	2026/11/25 10:28:18 [emerg] 2709#2709: message
//
// Log tools (fail2ban filters, alerting) parse this format, so edge keeps
// it. tid is the pid: Go has no thread id worth printing. Levels, their
// filtering and reopening on SIGUSR1 arrive with the error_log directive
// (issue #4); this package owns the format.
package errlog

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Level is an nginx log level.
type Level int

const (
	Emerg Level = iota
	Alert
	Crit
	Error
	Warn
	Notice
	Info
	Debug
)

var names = [...]string{"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"}

func (l Level) String() string { return names[l] }

// Logger writes error log lines to W: those at Level and more severe (the
// zero Level is emerg only). Now is the clock; nil is time.Now. Send, when
// set, takes each line (without its newline) instead of W: a syslog peer.
type Logger struct {
	W     io.Writer
	Level Level
	Now   func() time.Time
	Send  func(level Level, line string)
}

// Enabled reports whether a line at level would be written; check it
// before building an expensive message.
func (l *Logger) Enabled(level Level) bool { return level <= l.Level }

// ParseLevel returns the level named as nginx names it ("error", "warn"…);
// the debug_* levels are debug.
func ParseLevel(name string) (Level, bool) {
	for i, n := range names {
		if n == name {
			return Level(i), true
		}
	}
	if strings.HasPrefix(name, "debug_") {
		return Debug, true
	}
	return 0, false
}

// Log writes one line at level, if enabled.
func (l *Logger) Log(level Level, format string, args ...any) {
	if !l.Enabled(level) {
		return
	}
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	pid := os.Getpid()
	line := fmt.Sprintf("%s [%s] %d#%d: %s", now().Format("2006/01/02 15:04:05"), level, pid, pid, fmt.Sprintf(format, args...))
	if len(line) > maxLine {
		line = line[:maxLine] // nginx's lines are cut, not wrapped
	}
	if l.Send != nil {
		l.Send(level, line)
		return
	}
	l.W.Write([]byte(line + "\n"))
}

// maxLine is the longest line nginx writes, without its newline
// (NGX_MAX_ERROR_STR, 2048 bytes with it).
const maxLine = 2047
