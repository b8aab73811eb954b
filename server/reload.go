package server

import (
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"edge/internal/conf"
	"edge/internal/errlog"
	"edge/parser"
)

// Source is where the configuration comes from: what edge's flags say.
type Source struct {
	Table      *conf.Table
	Path       string
	Data       []byte // the built-in configuration, instead of Path
	Prefix     string // -p
	ConfPrefix string // relative includes resolve against it
	Global     []byte // -g
}

// Load reads and checks the configuration.
func (s *Source) Load() (*MainConf, *parser.Config, error) {
	return Load(s.Table, s.Path, s.Data, s.Prefix, s.ConfPrefix, s.Global)
}

// Reloader is the one reload path every trigger takes (start, SIGHUP,
// edge -s reload, a file change): read, check and compile the whole
// configuration into a new Runtime, then activate it; any failure logs
// nginx's [emerg] and leaves the Runtime in force serving.
type Reloader struct {
	Proc *Process
	Src  *Source
	// OnReload, when set, runs after each reload that put a new
	// configuration in force.
	OnReload func(m *MainConf)

	// mu serializes reloads and guards the fields below.
	mu     sync.Mutex
	live   [32]byte // the hash of the files the Runtime in force read
	failed [32]byte // the hash of the last attempt that failed
	conf   *MainConf
	files  []string // every file and include pattern the last attempts read
}

// Start loads the configuration and puts it in force: edge's start.
func (r *Reloader) Start() (*MainConf, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, tree, err := r.Src.Load()
	if err != nil {
		return nil, err
	}
	// The hash is taken before Compile reads the other files (user
	// files, certificates): one written meanwhile makes a later check
	// reload, rather than look already loaded.
	h := r.hash(m, tree, nil)
	rt, err := Compile(m)
	if err != nil {
		return nil, err
	}
	if err := r.Proc.Activate(rt); err != nil {
		rt.closeFiles()
		return nil, err
	}
	runtime.GOMAXPROCS(m.Procs())
	r.conf, r.live, r.files = m, h, r.paths(m, tree)
	return m, nil
}

// Reopen reopens the log files (SIGUSR1), never during a reload, which
// may be sharing or closing them.
func (r *Reloader) Reopen() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Proc.reopen()
}

// Conf is the configuration in force.
func (r *Reloader) Conf() *MainConf {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conf
}

// Files are the configuration's files and include patterns, those the
// configuration in force read and those the last attempt read: what a
// watcher looks at, so that fixing a broken include is noticed.
func (r *Reloader) Files() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.files
}

// Reload is one reload attempt, for trigger (how the log names it).
// Unless force (a signal: the operator asked), an attempt whose files
// hash as the configuration in force, or as the last failed attempt,
// does nothing: file events are hints, the content decides. It reports
// whether a new configuration is in force.
func (r *Reloader) Reload(trigger string, force bool) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	m, tree, err := r.Src.Load()
	h := r.hash(m, tree, err)
	if !force && (h == r.live || h == r.failed) {
		return false, nil
	}
	r.notice("reconfiguring: %s", trigger)
	if tree != nil {
		r.files = union(r.files, r.paths(m, tree))
	}
	if err == nil {
		var rt *Runtime
		if rt, err = compile(m, r.Proc.Runtime()); err == nil {
			if err = r.Proc.Activate(rt); err != nil {
				rt.closeFiles()
			}
		}
	}
	if err != nil {
		r.failed = h
		r.Log(errlog.Emerg, "%v", err)
		r.notice("reconfiguration failed after %s, the configuration in force is unchanged", since(start))
		return false, err
	}
	runtime.GOMAXPROCS(m.Procs())
	r.conf, r.live, r.failed = m, h, [32]byte{}
	r.files = r.paths(m, tree)
	r.notice("reconfigured in %s", since(start))
	if r.OnReload != nil {
		r.OnReload(m)
	}
	return true, nil
}

func since(t time.Time) string {
	return time.Since(t).Round(100 * time.Microsecond).String()
}

func (r *Reloader) notice(format string, args ...any) { r.Log(errlog.Notice, format, args...) }

// Log writes to the main error logs of the Runtime in force.
func (r *Reloader) Log(level errlog.Level, format string, args ...any) {
	if rt := r.Proc.Runtime(); rt != nil {
		for _, lg := range rt.mainLog {
			lg.Log(level, format, args...)
		}
	}
}

// hash sums what an attempt read: each file's path and bytes, the other
// files the configuration depends on, -g, and the error if it failed.
func (r *Reloader) hash(m *MainConf, tree *parser.Config, err error) [32]byte {
	s := sha256.New()
	fmt.Fprintf(s, "%q\n", r.Src.Global)
	if tree != nil {
		for _, f := range tree.Files {
			fmt.Fprintf(s, "%q %d\n", f.Path, len(f.Data))
			s.Write(f.Data)
		}
	}
	if m != nil {
		for _, p := range m.Watched {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(s, "%q %d\n", p, len(data))
			s.Write(data)
		}
	}
	if err != nil {
		fmt.Fprintf(s, "error %v\n", err)
	}
	var h [32]byte
	s.Sum(h[:0])
	return h
}

// paths are the files and patterns an attempt read.
func (r *Reloader) paths(m *MainConf, tree *parser.Config) []string {
	var out []string
	if r.Src.Data == nil {
		out = append(out, r.Src.Path)
	}
	for _, f := range tree.Files {
		out = append(out, f.Path)
	}
	out = append(out, tree.Includes...)
	if m != nil {
		out = append(out, m.Watched...)
	}
	return union(nil, out)
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range [][]string{a, b} {
		for _, p := range l {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}
