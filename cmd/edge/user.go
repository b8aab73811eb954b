package main

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"edge/parser"
	"edge/server"
)

// The user directive: started as root, edge binds its listeners, opens
// its logs and writes its pid file, then runs as that user, as nginx's
// workers do. It keeps one capability, to bind ports below 1024, so that
// a reload can still open one. Capabilities belong to each OS thread, and
// only a program built without cgo can change them on every thread
// (syscall.AllThreadsSyscall): the release build is static (CGO_ENABLED=0);
// a cgo build switches user all the same and says that it could not keep
// the capability.

// dropPrivileges switches to m's user and group when edge runs as root;
// it returns a warning for the error log, or an error that stops edge.
func dropPrivileges(m *server.MainConf) (warning string, err error) {
	if !m.User.IsSet || os.Geteuid() != 0 {
		return "", nil
	}
	u, err := user.Lookup(m.User.Value)
	if err != nil {
		return "", fmt.Errorf(`getpwnam("%s") failed`, m.User.Value)
	}
	g, err := user.LookupGroup(m.Group)
	if err != nil {
		return "", fmt.Errorf(`getgrnam("%s") failed`, m.Group)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	_, _, errno := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0)
	keep := errno == 0
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return "", fmt.Errorf("setgroups(%d) failed%s", gid, parser.Errno(err))
	}
	if err := syscall.Setgid(gid); err != nil {
		return "", fmt.Errorf("setgid(%d) failed%s", gid, parser.Errno(err))
	}
	if err := syscall.Setuid(uid); err != nil {
		return "", fmt.Errorf("setuid(%d) failed%s", uid, parser.Errno(err))
	}
	if !keep {
		return "edge was built with cgo and cannot keep the capability to bind ports below 1024 after switching to user \"" +
			m.User.Value + "\": a reload that adds one will fail", nil
	}
	// KEEPCAPS kept every capability root had: keep the one, or, if
	// that fails, none; never leave the others.
	defer syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0, 0)
	if errno := capset(1 << unix.CAP_NET_BIND_SERVICE); errno != 0 {
		if errno2 := capset(0); errno2 != 0 {
			return "", fmt.Errorf("capset() failed%s", parser.Errno(errno2))
		}
		return "capset() failed" + parser.Errno(errno) + ": a reload that adds a port below 1024 will fail", nil
	}
	return "", nil
}

// capset sets the effective and permitted capabilities of every thread.
func capset(caps uint32) syscall.Errno {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	data[0].Effective, data[0].Permitted = caps, caps
	_, _, errno := syscall.AllThreadsSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	return errno
}
