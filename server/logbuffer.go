package server

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"edge/internal/errlog"
	"edge/parser"
)

// Access log files written through a buffer (access_log buffer=, flush=,
// gzip=), as ngx_http_log_write does: lines gather in memory and go out
// when the next one does not fit, when flush= has passed since the
// first, and when the Runtime closes; with gzip each write is a gzip
// member of its own, so that zcat reads the file whole.
type bufferedLog struct {
	f *logFile
	b logBuffer

	// mu guards buf and timer.
	mu    sync.Mutex
	buf   []byte
	timer *time.Timer
}

func (l *bufferedLog) Write(line []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf)+len(line) > int(l.b.size) {
		l.flushLocked()
	}
	if len(line) > int(l.b.size) {
		l.out(line) // larger than the buffer: written at once, as in nginx
		return len(line), nil
	}
	l.buf = append(l.buf, line...)
	if l.b.flush > 0 && l.timer == nil {
		l.timer = time.AfterFunc(l.b.flush, l.flush)
	}
	return len(line), nil
}

func (l *bufferedLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *bufferedLog) flushLocked() {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if len(l.buf) > 0 {
		l.out(l.buf)
		l.buf = l.buf[:0]
	}
}

// out writes p, compressed when the log says gzip. A failed write is
// lost, as nginx's is (it logs the failure; edge's error log may be this
// very file).
func (l *bufferedLog) out(p []byte) {
	if l.b.gzip == 0 {
		l.f.Write(p)
		return
	}
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, int(l.b.gzip))
	zw.OS = 3 // Unix, as zlib's header in nginx
	zw.Write(p)
	zw.Close()
	l.f.Write(z.Bytes())
}

// pathLog is an access log whose path has variables: opened for each
// line, as ngx_http_log_script_write opens it (edge keeps no
// open_log_file_cache).
type pathLog struct {
	path *template // made absolute with the prefix when it is not
}

// writeLine writes one request's line to the file its path names, if
// the request's root directory exists (nginx's test, so that a
// mistyped host cannot create files anywhere).
func (p *pathLog) writeLine(rq *request, line []byte) {
	if !rq.rootTested {
		root, n := rq.mapPath(rq.loc)
		dir := root[:n]
		fi, err := rq.statFile(rq.loc, dir)
		if err == nil && !fi.isDir() {
			err = syscall.ENOTDIR
		}
		if err != nil {
			rq.log(errlog.Error, `testing "%s" existence failed%s`, dir, parser.Errno(err))
			return
		}
	}
	path := p.path.String(rq)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		rq.log(errlog.Crit, `open() "%s" failed%s`, path, parser.Errno(err))
		return
	}
	f.Write(line)
	f.Close()
}

// fullPathTemplate is ngx_conf_full_name for a path with variables.
func fullPathTemplate(path, prefix string) string {
	if strings.HasPrefix(path, "/") {
		return path
	}
	return prefix + path
}
