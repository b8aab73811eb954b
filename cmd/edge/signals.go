package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"edge/internal/errlog"
	"edge/parser"
	"edge/server"
)

// serve runs edge until a signal stops it: SIGHUP reloads, SIGUSR1
// reopens the logs, SIGQUIT shuts down gracefully, SIGTERM and SIGINT at
// once (nginx's master process signals).
func serve(src *server.Source, rep *reporter) int {
	// Signals are caught before the pid file exists, so that one sent as
	// soon as it appears is not lost.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	if !detached() {
		m, _, err := src.Load()
		if err != nil {
			rep.emerg(err)
			return 1
		}
		if m.Daemon.Value {
			return daemonize(rep)
		}
	}
	proc, err := server.NewProcess()
	if err != nil {
		rep.emerg(err)
		return 1
	}
	defer proc.CloseLogs()
	r := &server.Reloader{Proc: proc, Src: src}
	m, err := r.Start()
	if err != nil {
		proc.Stop()
		rep.emerg(err)
		return 1
	}
	// The pid file appears once every listener accepts: a readiness
	// signal for scripts.
	pid := pidFile(m)
	if err := writePid(pid); err != nil {
		proc.Stop()
		rep.emerg(err)
		return 1
	}
	defer func() { removePid(pid) }()
	warning, err := dropPrivileges(m)
	if err != nil {
		proc.Stop()
		rep.emerg(err)
		return 1
	}
	if warning != "" {
		r.Log(errlog.Warn, "%s", warning)
	}
	// Reloads happen on this goroutine (SIGHUP) and on the watcher's;
	// what follows a reload (the pid file, the watcher itself) is done
	// here, for the latest configuration.
	reloaded := make(chan *server.MainConf, 1)
	r.OnReload = func(m *server.MainConf) {
		select {
		case <-reloaded:
		default:
		}
		reloaded <- m
	}
	var w *server.Watcher
	defer func() {
		if w != nil {
			w.Close()
		}
	}()
	watch := func(m *server.MainConf) {
		switch on := m != nil && watching(m); {
		case on && w == nil:
			var err error
			if w, err = server.Watch(r); err != nil {
				r.Log(errlog.Warn, "configuration files are not watched: %v", err)
			}
		case !on && w != nil:
			w.Close()
			w = nil
		}
	}
	watch(m)
	started := m
	if err := ready(m); err != nil {
		r.Log(errlog.Alert, "%v", err)
	}
	// A graceful shutdown runs beside the loop, so that SIGTERM or
	// SIGINT can still cut it short.
	var quitting chan struct{}
	for {
		select {
		case <-quitting:
			r.Log(errlog.Notice, "exit")
			return 0
		case m := <-reloaded:
			if m.User.Value != started.User.Value || m.Group != started.Group {
				r.Log(errlog.Warn, "the \"user\" directive changed: it takes effect when edge restarts")
			}
			// A reload may move the pid file, as nginx's does.
			if next := pidFile(m); next != pid {
				if err := writePid(next); err != nil {
					r.Log(errlog.Alert, "%v", err)
				} else {
					removePid(pid)
					pid = next
				}
			}
			watch(m)
		case sig := <-sigs:
			switch {
			case quitting != nil && sig != syscall.SIGTERM && sig != syscall.SIGINT:
				// Shutting down: no reload, no reopen.
			case sig == syscall.SIGHUP:
				r.Log(errlog.Notice, "signal 1 (SIGHUP) received, reconfiguring")
				r.Reload("signal 1 (SIGHUP)", true)
				if w != nil {
					w.Sync()
				}
			case sig == syscall.SIGUSR1:
				r.Log(errlog.Notice, "signal 10 (SIGUSR1) received, reopening logs")
				if err := r.Reopen(); err != nil {
					r.Log(errlog.Alert, "%v", err)
				}
			case sig == syscall.SIGQUIT:
				watch(nil) // no reload while draining
				r.Log(errlog.Notice, "signal 3 (SIGQUIT) received, shutting down")
				r.Log(errlog.Notice, "gracefully shutting down")
				quitting = make(chan struct{})
				done, timeout := quitting, r.Conf().ShutdownTimeout.Value
				go func() {
					proc.Quit(timeout)
					close(done)
				}()
			default:
				n := sig.(syscall.Signal)
				r.Log(errlog.Notice, "signal %d (%s) received, exiting", int(n), signalName(n))
				proc.Stop()
				if quitting != nil {
					<-quitting
				}
				r.Log(errlog.Notice, "exit")
				return 0
			}
		}
	}
}

func signalName(s syscall.Signal) string {
	if s == syscall.SIGINT {
		return "SIGINT"
	}
	return "SIGTERM"
}

// watching: on unless watch_config off, and only for files.
func watching(m *server.MainConf) bool {
	return !m.WatchConfig.IsSet || m.WatchConfig.Value
}

// pidFile is the pid directive's file; without one, logs/edge.pid under
// the prefix (nginx's logs/nginx.pid) when that directory exists, and
// none when it does not: edge in a container has no prefix tree, and
// nginx's refusal to start there helps nobody.
func pidFile(m *server.MainConf) string {
	if m.PidFile.IsSet {
		return m.PidFile.Value
	}
	def := m.Prefix + "logs/edge.pid"
	if fi, err := os.Stat(filepath.Dir(def)); err == nil && fi.IsDir() {
		return def
	}
	return ""
}

// writePid writes the process id and a newline, as nginx's
// ngx_create_pidfile, but whole at once: written beside the file and
// renamed over it, so that a reader (a script waiting for edge, -s) never
// finds it empty, as it can find nginx's between the truncation and the
// write.
func writePid(path string) error {
	if path == "" {
		return nil
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf(`open() "%s" failed%s`, path, parser.Errno(err))
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf(`rename() "%s" failed%s`, path, parser.Errno(err))
	}
	return nil
}

// removePid removes the pid file if it is still this process's.
func removePid(path string) {
	if path == "" {
		return
	}
	if data, err := os.ReadFile(path); err == nil && string(data) == strconv.Itoa(os.Getpid())+"\n" {
		os.Remove(path)
	}
}

// signals are -s's verbs and what they send.
var signals = map[string]syscall.Signal{
	"stop":   syscall.SIGTERM,
	"quit":   syscall.SIGQUIT,
	"reopen": syscall.SIGUSR1,
	"reload": syscall.SIGHUP,
}

// signalProcess is -s: read the configuration for its pid file, read the
// pid, send the signal, with nginx's messages (ngx_signal_process).
func signalProcess(verb string, src *server.Source, rep *reporter) int {
	m, _, err := src.Load()
	if err != nil {
		rep.emerg(err)
		return 1
	}
	path := pidFile(m)
	if path == "" {
		path = m.Prefix + "logs/edge.pid"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		rep.print(errlog.Error, fmt.Sprintf(`open() "%s" failed%s`, path, parser.Errno(err)))
		return 1
	}
	n := len(data)
	for n > 0 && (data[n-1] == '\n' || data[n-1] == '\r') {
		n--
	}
	pid, err := strconv.Atoi(string(data[:n]))
	if err != nil || pid <= 0 {
		rep.print(errlog.Error, fmt.Sprintf(`invalid PID number "%s" in "%s"`, data[:n], path))
		return 1
	}
	sig := signals[verb]
	if err := syscall.Kill(pid, sig); err != nil {
		rep.print(errlog.Alert, fmt.Sprintf("kill(%d, %d) failed%s", pid, int(sig), parser.Errno(err)))
		return 1
	}
	return 0
}
