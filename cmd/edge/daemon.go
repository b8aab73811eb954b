package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"edge/server"
)

// "daemon on": Go cannot fork, so edge starts itself again detached (a
// new session, standard input and output on /dev/null) and waits until
// that process has bound its listeners and written its pid file, or has
// failed; its errors reach the terminal as nginx's do. The process left
// running is the one the pid file names.

// daemonEnv marks the detached process; its value is the descriptor of
// the pipe on which it says it is ready.
const daemonEnv = "EDGE_DAEMON_READY_FD"

// detached reports whether this process is the detached one.
func detached() bool { return os.Getenv(daemonEnv) != "" }

// daemonize starts the detached process and returns the exit status for
// this one.
func daemonize(rep *reporter) int {
	self, err := os.Executable()
	if err != nil {
		rep.emerg(fmt.Errorf("daemon: %v", err))
		return 1
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		rep.emerg(fmt.Errorf("open() \"/dev/null\" failed: %v", err))
		return 1
	}
	defer null.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		rep.emerg(fmt.Errorf("pipe() failed: %v", err))
		return 1
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonEnv+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, os.Stderr
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		rep.emerg(fmt.Errorf("daemon: %v", err))
		return 1
	}
	pw.Close()
	line, _ := bufio.NewReader(pr).ReadString('\n')
	pr.Close()
	if line == "ready\n" {
		cmd.Process.Release()
		return 0
	}
	cmd.Wait() // it failed and said why on standard error
	return 1
}

// ready tells the waiting parent, if any, that the server is up; unless
// the error log is standard error, that is let go too (nginx's
// ngx_log_redirect_stderr), so that whoever started edge is not held.
func ready(m *server.MainConf) error {
	if !detached() {
		return nil
	}
	f := os.NewFile(3, "ready")
	defer f.Close()
	os.Unsetenv(daemonEnv)
	if _, err := f.WriteString("ready\n"); err != nil {
		return err
	}
	if !m.ErrorsToStderr() {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer null.Close()
		return unix.Dup2(int(null.Fd()), 2)
	}
	return nil
}
