package parser

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Parse reads the main configuration file at path and every file it
// includes. Relative include paths resolve against confPrefix, the directory
// of the main file in nginx (cycle->conf_prefix); an empty confPrefix means
// the main file's directory. pre holds directives given on the command line
// (nginx's -g), read before the main file as "command line".
//
// On an error Parse still returns the directives read before it: nginx has
// processed those when it meets the error, so their own errors come first.
func Parse(path, confPrefix string, pre []byte) (*Config, error) {
	return ParseBytes(path, nil, confPrefix, pre)
}

// ParseBytes is Parse with the main file's contents given (nil: read path).
func ParseBytes(path string, data []byte, confPrefix string, pre []byte) (*Config, error) {
	if confPrefix == "" {
		confPrefix = filepath.Dir(path)
	}
	r := &reader{prefix: confPrefix, cfg: &Config{}}
	if len(pre) > 0 {
		dirs, err := parseFile(CommandLine, pre)
		r.cfg.Directives = dirs
		if err != nil {
			return r.cfg, err
		}
		if err := r.expand(&r.cfg.Directives, nil); err != nil {
			return r.cfg, err
		}
	}
	if data == nil {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return r.cfg, &Error{Msg: openFailed(path, err), Err: err}
		}
	}
	r.cfg.Files = append(r.cfg.Files, File{Path: path, Data: data})
	dirs, perr := parseFile(path, data)
	r.stack, r.sites = []string{path}, []*Directive{nil}
	xerr := r.expand(&dirs, nil)
	r.cfg.Directives = append(r.cfg.Directives, dirs...)
	if xerr != nil {
		return r.cfg, xerr
	}
	if perr != nil {
		return r.cfg, perr
	}
	return r.cfg, nil
}

type reader struct {
	prefix string
	cfg    *Config
	stack  []string     // files being read, outermost first, to catch cycles
	sites  []*Directive // the include that opened each file of stack
}

// expand replaces every include directive in *dirs (recursively) with the
// directives of the files it names. On an error the list is cut after the
// last directive nginx would have read.
func (r *reader) expand(dirs *[]*Directive, by *Directive) error {
	out := (*dirs)[:0:0]
	for _, d := range *dirs {
		d.IncludedBy = by
		if d.Name != "include" {
			if d.Block != nil {
				err := r.expand(&d.Block, by)
				out = append(out, d)
				if err != nil {
					// nginx stopped reading inside this block: its "}"
					// was never seen, so no end-of-block check runs.
					d.Close = Pos{}
					*dirs = out
					return err
				}
				continue
			}
			out = append(out, d)
			continue
		}
		inc, err := r.include(d)
		out = append(out, inc...)
		if err != nil {
			*dirs = out
			return err
		}
	}
	*dirs = out
	return nil
}

// include reads the files of one include directive, like ngx_conf_include.
func (r *reader) include(d *Directive) ([]*Directive, error) {
	if d.Block != nil {
		return nil, Errorf(d.End, `directive "include" is not terminated by ";"`)
	}
	if len(d.Args) != 1 {
		return nil, Errorf(d.End, `invalid number of arguments in "include" directive`)
	}
	name := d.Args[0].Value
	if !filepath.IsAbs(name) {
		// Joined, not cleaned: nginx opens (and names) the path as
		// written, "a/../b" included.
		name = strings.TrimSuffix(r.prefix, "/") + "/" + name
	}
	r.cfg.Includes = append(r.cfg.Includes, name)
	files := []string{name}
	if strings.ContainsAny(name, "*?[") {
		files = glob(name)
	}
	var out []*Directive
	for _, f := range files {
		for i, open := range r.stack {
			if open == f {
				// Name every hop of the cycle by its include site.
				var hops []string
				for j := i + 1; j < len(r.stack); j++ {
					hops = append(hops, fmt.Sprintf("%s includes %s", r.sites[j].End, r.stack[j]))
				}
				hops = append(hops, fmt.Sprintf("%s includes %s", d.End, f))
				return out, Errorf(d.End, "include cycle: %s", strings.Join(hops, ", "))
			}
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return out, &Error{Pos: d.End, Msg: openFailed(f, err), Err: err}
		}
		r.addFile(f, data)
		dirs, perr := parseFile(f, data)
		r.stack, r.sites = append(r.stack, f), append(r.sites, d)
		xerr := r.expand(&dirs, d)
		r.stack, r.sites = r.stack[:len(r.stack)-1], r.sites[:len(r.sites)-1]
		out = append(out, dirs...)
		if xerr != nil {
			return out, xerr
		}
		if perr != nil {
			return out, perr
		}
	}
	return out, nil
}

func (r *reader) addFile(path string, data []byte) {
	for _, f := range r.cfg.Files {
		if f.Path == path {
			return
		}
	}
	r.cfg.Files = append(r.cfg.Files, File{Path: path, Data: data})
}

// glob matches like glob(3) as nginx calls it: no match is not an error,
// the paths are sorted as whole strings, a wildcard does not match a
// leading dot in any part of the path, and a malformed pattern ("[") is
// taken literally.
func glob(pattern string) []string {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		if _, err := os.Stat(pattern); err == nil {
			return []string{pattern}
		}
		return nil
	}
	parts := strings.Split(pattern, "/")
	out := matches[:0]
next:
	for _, m := range matches {
		for i, part := range strings.Split(m, "/") {
			if i < len(parts) && strings.HasPrefix(part, ".") && !strings.HasPrefix(parts[i], ".") {
				continue next
			}
		}
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// openFailed words a failed open like nginx: open() "path" failed (2: No
// such file or directory).
func openFailed(path string, err error) string {
	return `open() "` + path + `" failed` + Errno(err)
}

// Errno formats the system error in err as nginx does: " (2: No such file
// or directory)", or "" when err carries no errno.
func Errno(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		msg := errno.Error()
		if msg != "" {
			msg = strings.ToUpper(msg[:1]) + msg[1:]
		}
		return " (" + strconv.Itoa(int(errno)) + ": " + msg + ")"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return " (" + pe.Err.Error() + ")"
	}
	return ""
}
