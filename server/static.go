package server

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"edge/internal/conf"
	"edge/internal/errlog"
	"edge/parser"
)

// The static and index modules: a URI maps to a file under root (or
// alias); a file is answered with nginx's headers, a directory without
// its slash is redirected, a URI ending in "/" is tried with the index
// files. Ranges and conditional requests are static_range.go's.

// StaticCommands are the index module's directive; root and alias are in
// CoreCommands.
var StaticCommands = []conf.Command{
	{Name: "index", Type: httpAny | conf.OneMore, Module: "ngx_http_index_module", Set: setIndex},
}

// setIndex is ngx_http_index_set_index: names, maybe with variables; an
// absolute one may only come last. Several index directives add up.
func setIndex(s *conf.Scope, d *parser.Directive) error {
	loc := locOf(s)
	h := lv(s).http
	for i, a := range d.Args {
		if a.Value == "" {
			return parser.Errorf(d.End, `index "%s" in "index" directive is invalid`, a.Value)
		}
		if strings.HasPrefix(a.Value, "/") && i != len(d.Args)-1 {
			return parser.Errorf(d.End, `only the last index in "index" directive should be absolute`)
		}
		t, err := h.compileTemplate(a.Value, d.End)
		if err != nil {
			return err
		}
		loc.Index = append(loc.Index, t)
	}
	return nil
}

// rootPath is the root or alias of loc for rq, as ngx_http_map_uri_to_path
// builds it: root + URI, alias + the URI after the location's prefix, or
// a regex location's alias alone. rootLen is where the URI starts in it.
func (rq *request) mapPath(loc *LocationConf) (path string, rootLen int) {
	root := loc.root.String(rq)
	if !strings.HasPrefix(root, "/") {
		// ngx_conf_full_name: relative to the prefix (-p).
		root = rq.prefix + root
	}
	switch {
	case !loc.Alias:
		return root + rq.uri, len(root)
	case loc.aliasOf.Regex != nil:
		return root, len(root)
	default:
		return root + strings.TrimPrefix(rq.uri, loc.aliasOf.Path), len(root)
	}
}

// internalRedirect is content's answer for "search the locations again".
const internalRedirect = -1

// content is the content phase for a location without a return: the
// proxy module where it proxies, else the index module for a URI
// ending in "/", else the static module. It
// returns 0 when it answered, internalRedirect, or the error status for
// the request to finish with (error_page applies).
func content(w *response, rq *request) int {
	loc := rq.loc
	if loc.Proxy.pass != nil {
		return rq.proxy(w)
	}
	allowed := rq.method == http.MethodGet || rq.method == http.MethodHead || rq.method == http.MethodPost
	if strings.HasSuffix(rq.uri, "/") {
		if !allowed {
			return http.StatusMethodNotAllowed
		}
		dir, _ := rq.mapPath(loc)
		dirTested := false
		for _, t := range loc.Index {
			name := t.String(rq)
			if strings.HasPrefix(name, "/") {
				rq.uri, rq.restart = name, true
				return internalRedirect
			}
			// A directory named like an index is redirected to all the
			// same; the static module then answers it with a 301.
			if _, err := rq.statFile(loc, dir+name); err != nil {
				if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK) {
					return http.StatusForbidden // disable_symlinks refused it
				}
				if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG) || errors.Is(err, fs.ErrPermission) {
					return rq.indexError(dir+name, err)
				}
				if !dirTested {
					if di, derr := rq.statFile(loc, dir); derr != nil {
						return rq.indexError(dir+name, derr)
					} else if !di.isDir() {
						return http.StatusNotFound
					}
					dirTested = true
				}
				if !errors.Is(err, fs.ErrNotExist) {
					rq.log(errlog.Crit, `stat() "%s" failed%s`, dir+name, parser.Errno(err))
					return http.StatusInternalServerError
				}
				continue
			}
			rq.uri += name
			rq.restart = true
			return internalRedirect
		}
		if loc.Autoindex.On.Value && rq.method != http.MethodPost {
			return autoindex(w, rq, dir)
		}
		// No index: nginx's core says the directory index is forbidden.
		if fi, err := rq.statFile(loc, dir); err != nil || !fi.isDir() {
			return http.StatusNotFound
		}
		rq.log(errlog.Error, `directory index of "%s" is forbidden`, dir)
		return http.StatusForbidden
	}
	if !allowed {
		return http.StatusMethodNotAllowed
	}
	rq.discarded = true // ngx_http_static_handler discards the body here
	path, _ := rq.mapPath(loc)
	if code, done := gzipStatic(w, rq, loc, path); done {
		return code
	}
	f, failed, err := rq.openFile(loc, path)
	if err != nil {
		code := openStatus(err)
		if code != http.StatusNotFound || loc.LogNotFound.Value {
			rq.logOpenFailed(code, failed, path, err)
		}
		return code
	}
	defer f.close()
	if f.isDir() {
		target := escapeURI(rq.uri) + "/"
		if rq.args != "" {
			target += "?" + rq.args
		}
		w.Header().Set("Location", target)
		return http.StatusMovedPermanently
	}
	if !f.isRegular() {
		return http.StatusNotFound
	}
	if rq.method == http.MethodPost {
		return http.StatusMethodNotAllowed
	}
	return serveFile(w, rq, loc, f)
}

// file is an open file as a bare descriptor: os.File would try to add a
// regular file to the network poller, two system calls a small file is
// not worth on the hot path.
type file struct {
	fd int
	st syscall.Stat_t
}

func openFile(path string) (*file, error) {
	var f file
	var err error
	for {
		// O_NONBLOCK, as nginx opens: a FIFO under the root must not
		// hold the request.
		f.fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Fstat(f.fd, &f.st); err != nil {
		syscall.Close(f.fd)
		return nil, err
	}
	return &f, nil
}

func (f *file) close() {
	if f.fd >= 0 {
		syscall.Close(f.fd)
	}
}

func (f *file) isDir() bool     { return f.st.Mode&syscall.S_IFMT == syscall.S_IFDIR }
func (f *file) isRegular() bool { return f.st.Mode&syscall.S_IFMT == syscall.S_IFREG }
func (f *file) size() int64     { return f.st.Size }
func (f *file) mtime() time.Time {
	return time.Unix(f.st.Mtim.Sec, f.st.Mtim.Nsec)
}

// ReadAt reads with pread, so ranges need no seeking.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	n, err := syscall.Pread(f.fd, p, off)
	if err == nil && n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, err
}

// indexError is ngx_http_index_error: 403 when forbidden, else 404.
func (rq *request) indexError(path string, err error) int {
	if errors.Is(err, fs.ErrPermission) {
		rq.log(errlog.Error, `"%s" is forbidden%s`, path, parser.Errno(err))
		return http.StatusForbidden
	}
	if rq.loc.LogNotFound.Value {
		rq.log(errlog.Error, `"%s" is not found%s`, path, parser.Errno(err))
	}
	return http.StatusNotFound
}

// logOpenFailed logs a failed open as ngx_http_static_handler does:
// at error, or crit for what is no client's doing.
func (rq *request) logOpenFailed(code int, failed, path string, err error) {
	level := errlog.Error
	if code == http.StatusInternalServerError {
		level = errlog.Crit
	}
	rq.log(level, `%s "%s" failed%s`, failed, path, parser.Errno(err))
}

// openStatus is the answer of ngx_http_static_handler to a failed open.
func openStatus(err error) int {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ENAMETOOLONG):
		return http.StatusNotFound
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ELOOP), errors.Is(err, syscall.EMLINK):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// serveFile answers a regular file with nginx's headers; it returns an
// error status (416), or 0.
func serveFile(w *response, rq *request, loc *LocationConf, f *file) int {
	rq.sendContinue()
	rq.rootTested = rq.errStatus == 0 // ngx_http_static_handler: !r->error_page
	hdr := w.Header()
	mtime := f.mtime()
	size := f.size()
	// ngx_http_set_content_type: a type set already (by a backend's
	// X-Accel-Redirect answer) stays.
	if hdr.Get("Content-Type") == "" {
		hdr.Set("Content-Type", loc.contentType(rq.uri))
	}
	hdr.Set("Last-Modified", mtime.UTC().Format(http.TimeFormat))
	tag := ""
	if loc.ETag.Value {
		tag = etag(mtime, size)
		hdr.Set("ETag", tag)
	}
	// nginx 1.22's gzip_static answers without ranges.
	ranges := loc.MaxRanges.Value != 0 && !w.precompressed
	if w.precompressed {
		hdr.Add("Content-Encoding", "gzip")
	}
	status := rq.status(http.StatusOK)
	// An error page (error_page) is answered whole, with its status.
	if status == http.StatusOK {
		if preconditionFailed(rq, mtime, tag) {
			return http.StatusPreconditionFailed
		}
		if notModified(rq, mtime, tag) {
			hdr.Del("Content-Type")
			headersFilter(w, rq, http.StatusNotModified)
			w.WriteHeader(http.StatusNotModified)
			return 0
		}
		// The gzip filter sees the 200 before the range filter makes
		// it a 206: it asks for Vary, and takes the ranges away from
		// an answer it compresses.
		gz := w.gzipEligible(http.StatusOK, hdr.Get("Content-Type"), size)
		w.vary = w.vary || gz
		if ranges && !(gz && w.gzipOK()) {
			if code, done := serveRanges(w, rq, loc, io.NewSectionReader(f, 0, size), size); done {
				return code
			}
		}
	}
	if status != http.StatusOK {
		// ngx_http_header_filter sends Last-Modified with 200, 206 and
		// 304 only; an error page keeps its ETag.
		hdr.Del("Last-Modified")
	}
	hdr.Set("Content-Length", strconv.FormatInt(size, 10))
	headersFilter(w, rq, status)
	if status == http.StatusOK && ranges && rq.in.major >= 1 {
		// The range filter, after the headers filter: its header comes
		// after add_header's.
		hdr.Set("Accept-Ranges", "bytes")
	}
	w.WriteHeader(status)
	if rq.method == http.MethodHead {
		return 0
	}
	if w.gz != nil {
		copyBody(w, f, size)
		return 0
	}
	// A small file goes in one write with the head: sendfile after a
	// head's write costs two system calls more than it is worth.
	if size <= smallFile && rq.c.readFileInto(f, size) {
		w.body += size
		return 0
	}
	n, _ := rq.c.sendFile(f, size)
	w.body += n
	return 0
}

// etag is nginx's strong ETag: the modification time and the size in hex.
func etag(mtime time.Time, size int64) string {
	return `"` + strconv.FormatInt(mtime.Unix(), 16) + "-" + strconv.FormatInt(size, 16) + `"`
}

// escapeURI escapes a URI for a Location header as ngx_escape_uri with
// NGX_ESCAPE_URI does: spaces, controls, "#", "%", "?" and bytes past
// ASCII.
func escapeURI(uri string) string {
	return percentEscape(uri, ` "#%?`)
}

// percentEscape is ngx_escape_uri: controls, bytes past ASCII and the
// characters of special become %XX.
func percentEscape(s, special string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c >= 0x7f || strings.IndexByte(special, c) >= 0 {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
