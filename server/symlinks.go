package server

import (
	"errors"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"edge/internal/conf"
	"edge/internal/errlog"
	"edge/parser"
)

// disable_symlinks: files opened for a request (static files, index
// files, try_files, gzip_static, if's file tests) are opened as nginx's
// ngx_open_file_wrapper opens them, one path component at a time with
// openat(2), refusing symbolic links (on) or links whose owner is not
// their target's (if_not_owner), except in the from= prefix.

const (
	symlinksOff = iota
	symlinksOn
	symlinksNotOwner
)

// Symlinks is disable_symlinks.
type Symlinks struct {
	mode int
	from *template // nil: every component is checked
}

// setDisableSymlinks is ngx_http_disable_symlinks.
func setDisableSymlinks(s *conf.Scope, d *parser.Directive) error {
	l := lv(s)
	v := Symlinks{mode: -1}
	fromSet := false
	for _, a := range d.Args {
		switch {
		case a.Value == "off":
			v.mode = symlinksOff
		case a.Value == "if_not_owner":
			v.mode = symlinksNotOwner
		case a.Value == "on":
			v.mode = symlinksOn
		case strings.HasPrefix(a.Value, "from="):
			t, err := l.http.compileTemplate(a.Value[5:], d.End)
			if err != nil {
				return err
			}
			v.from, fromSet = t, true
		default:
			return parser.Errorf(d.End, `invalid parameter "%s"`, a.Value)
		}
	}
	switch {
	case v.mode < 0:
		return parser.Errorf(d.End, `"%s" must have "off", "on" or "if_not_owner" parameter`, d.Name)
	case len(d.Args) == 2 && !fromSet:
		return parser.Errorf(d.End, `duplicate parameters "%s %s"`, d.Args[0].Value, d.Args[1].Value)
	case fromSet && v.mode == symlinksOff:
		return parser.Errorf(d.End, `"from=" cannot be used with "off" parameter`)
	}
	return locOf(s).DisableSymlinks.Put(v, d)
}

// symlinkPolicy is ngx_http_set_disable_symlinks: the mode for path,
// and how much of its start (from=) is opened without checks.
func (rq *request) symlinkPolicy(loc *LocationConf, path string) (mode, from int) {
	v := loc.DisableSymlinks.Value
	if v.mode == symlinksOff || v.from == nil {
		return v.mode, 0
	}
	f := v.from.String(rq)
	switch {
	case f == "" || len(f) > len(path) || !strings.HasPrefix(path, f):
		return v.mode, 0
	case len(f) == len(path):
		return symlinksOff, 0
	case path[len(f)] == '/':
		return v.mode, len(f)
	case f[len(f)-1] == '/':
		return v.mode, len(f) - 1
	}
	return v.mode, 0
}

// openFile opens path for reading as loc's disable_symlinks says, and
// reports the system call that failed ("open()" or "openat()", as nginx's
// log names it).
func (rq *request) openFile(loc *LocationConf, path string) (*file, string, error) {
	mode, from := rq.symlinkPolicy(loc, path)
	if mode == symlinksOff {
		f, err := openFile(path)
		return f, "open()", err
	}
	fd, err := openWithout(path, mode, from, syscall.O_RDONLY|syscall.O_NONBLOCK)
	if err != nil {
		return nil, "openat()", err
	}
	f := &file{fd: fd}
	if err := syscall.Fstat(fd, &f.st); err != nil {
		syscall.Close(fd)
		return nil, "fstat()", err
	}
	return f, "", nil
}

// statFile is ngx_file_info_wrapper: stat(2), or with disable_symlinks
// the same walk as openFile.
func (rq *request) statFile(loc *LocationConf, path string) (*file, error) {
	f, _, err := rq.statFailed(loc, path)
	return f, err
}

// statFailed is statFile that also names the call that failed.
func (rq *request) statFailed(loc *LocationConf, path string) (*file, string, error) {
	mode, _ := rq.symlinkPolicy(loc, path)
	if mode == symlinksOff {
		f := &file{fd: -1}
		return f, "stat()", syscall.Stat(path, &f.st)
	}
	f, failed, err := rq.openFile(loc, path)
	if err != nil {
		return nil, failed, err
	}
	f.close()
	f.fd = -1
	return f, "", nil
}

// logStatFailed is what try_files and if's file tests log of a file
// they could not look at: nothing for one that is not there.
func (rq *request) logStatFailed(failed, path string, err error) {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG) {
		return
	}
	rq.log(errlog.Crit, `%s "%s" failed%s`, failed, path, parser.Errno(err))
}

// openWithout is ngx_open_file_wrapper with disable_symlinks: the
// directories with O_PATH|O_NOFOLLOW one by one from "/" (or from the
// from= prefix, opened as it is), the last component with O_NOFOLLOW;
// if_not_owner opens following links and compares the owners of what it
// opened and of the name itself.
func openWithout(path string, mode, from, flags int) (int, error) {
	const search = unix.O_PATH | syscall.O_RDONLY | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	var at int
	var err error
	p := path
	switch {
	case from > 0:
		if at, err = syscall.Open(path[:from], search, 0); err != nil {
			return -1, err
		}
		p = path[from+1:]
	case strings.HasPrefix(path, "/"):
		if at, err = syscall.Open("/", search, 0); err != nil {
			return -1, err
		}
		p = path[1:]
	default:
		at = atFDCWD
	}
	defer func() {
		if at != atFDCWD {
			syscall.Close(at)
		}
	}()
	for {
		i := strings.IndexByte(p, '/')
		if i < 0 {
			break
		}
		if i == 0 {
			p = p[1:]
			continue
		}
		var fd int
		if mode == symlinksNotOwner {
			fd, err = openOwner(at, p[:i], search)
		} else {
			fd, err = openat(at, p[:i], search|syscall.O_NOFOLLOW)
		}
		if err != nil {
			return -1, err
		}
		if at != atFDCWD {
			syscall.Close(at)
		}
		at, p = fd, p[i+1:]
	}
	flags |= syscall.O_CLOEXEC
	if p == "" {
		return openat(at, ".", flags)
	}
	if mode == symlinksNotOwner {
		return openOwner(at, p, flags)
	}
	return openat(at, p, flags|syscall.O_NOFOLLOW)
}

// atFDCWD is AT_FDCWD: openat relative to the working directory.
const atFDCWD = unix.AT_FDCWD

func openat(at int, name string, flags int) (int, error) {
	for {
		fd, err := syscall.Openat(at, name, flags, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// openOwner is ngx_openat_file_owner: a link is followed only to what
// its owner owns (ELOOP otherwise, as nginx answers).
func openOwner(at int, name string, flags int) (int, error) {
	fd, err := openat(at, name, flags)
	if err != nil {
		return -1, err
	}
	var opened syscall.Stat_t
	var named unix.Stat_t
	if err := unix.Fstatat(at, name, &named, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if err := syscall.Fstat(fd, &opened); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if opened.Uid != named.Uid {
		syscall.Close(fd)
		return -1, syscall.ELOOP
	}
	return fd, nil
}
