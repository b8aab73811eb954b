package server

import (
	"strings"

	"edge/internal/conf"
	"edge/parser"
)

// TryFilesCommands are the try_files module's directive.
var TryFilesCommands = []conf.Command{
	{Name: "try_files", Once: true, Type: conf.HTTPSrv | conf.HTTPLoc | conf.TwoMore, Module: "ngx_http_try_files_module", Set: setTryFiles},
}

// tryFile is one argument of try_files.
type tryFile struct {
	name *template
	dir  bool // written with a trailing "/": it must be a directory
}

// tryFiles is a try_files directive: the files to try, then the last
// argument: a code (=404), a named location or a URI.
type tryFiles struct {
	files []tryFile
	last  *template
	code  int // the last argument is "=code"
}

// setTryFiles is ngx_http_try_files.
func setTryFiles(s *conf.Scope, d *parser.Directive) error {
	h := lv(s).http
	tf := &tryFiles{}
	for i, a := range d.Args {
		name := a.Value
		if i == len(d.Args)-1 {
			if c, ok := strings.CutPrefix(name, "="); ok && !strings.Contains(name, "$") {
				n, err := conf.ParseNumber(c)
				if err != nil || n > 999 {
					return parser.Errorf(d.End, `invalid code "%s"`, name)
				}
				tf.code = int(n)
			}
			t, err := h.compileTemplate(name, d.End)
			if err != nil {
				return err
			}
			tf.last = t
			break
		}
		dir := strings.HasSuffix(name, "/")
		if dir {
			name = name[:len(name)-1]
		}
		t, err := h.compileTemplate(name, d.End)
		if err != nil {
			return err
		}
		tf.files = append(tf.files, tryFile{name: t, dir: dir})
	}
	locOf(s).TryFiles = tf
	return nil
}

// tryOutcome is what try_files decided.
type tryOutcome int

const (
	tryFound    tryOutcome = iota // rq.uri is the file found: serve it here
	tryCode                       // answer tf.code
	tryNamed                      // go to the named location rq.named
	tryRedirect                   // search the locations again for rq.uri
)

// try is ngx_http_try_files_handler: the first name that exists (as a
// file, or as a directory for a name written with "/") becomes the URI;
// otherwise the last argument decides.
func (tf *tryFiles) try(rq *request, loc *LocationConf) tryOutcome {
	for _, f := range tf.files {
		name := f.name.String(rq)
		saved := rq.uri
		rq.uri = name
		path, _ := rq.mapPath(loc)
		rq.uri = saved
		fi, failed, err := rq.statFailed(loc, path)
		if err != nil {
			rq.logStatFailed(failed, path, err)
			continue
		}
		if fi.isDir() != f.dir {
			continue
		}
		rq.uri = name
		return tryFound
	}
	if tf.code > 0 {
		return tryCode
	}
	last := tf.last.String(rq)
	if strings.HasPrefix(last, "@") {
		rq.named = last
		return tryNamed
	}
	// ngx_http_split_args: no "?" means no arguments.
	rq.uri, rq.args, _ = strings.Cut(last, "?")
	rq.restart = true
	return tryRedirect
}
