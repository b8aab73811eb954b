// Command edge is an nginx-compatible edge server. Its flags are nginx's:
// see usage.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	confd "edge/conf.d"
	"edge/internal/conf"
	"edge/internal/errlog"
	"edge/parser"
	"edge/server"
)

const (
	// defaultPrefix and defaultConf are where edge looks without -p and -c,
	// like nginx's compiled-in --prefix and --conf-path.
	defaultPrefix = "/etc/edge/"
	defaultConf   = "edge.conf"
)

// options are the command-line flags, as nginx names them.
type options struct {
	help, version, configure, test, dump, quiet bool
	signal, prefix, errorLog, confFile, global  string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "edge: %v\n", err)
		return 1
	}
	if o.version || o.configure || o.help {
		fmt.Fprintf(stderr, "nginx version: nginx/%s (edge/%s)\n", server.NginxVersion, server.Version)
		if o.configure {
			fmt.Fprintf(stderr, "built with %s\n", runtime.Version())
			fmt.Fprintf(stderr, "configure arguments: %s\n", configureArguments(newTable()))
		}
		if o.help {
			fmt.Fprint(stderr, usage)
		}
		return 0
	}
	prefix := o.prefix
	if prefix == "" {
		prefix = defaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	rep := &reporter{stderr: stderr}
	if o.errorLog != "" && o.errorLog != "stderr" {
		path := o.errorLog
		if !filepath.IsAbs(path) {
			path = prefix + path
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "edge: [alert] could not open error log file: open() \"%s\" failed%s\n", path, parser.Errno(err))
		} else {
			defer f.Close()
			rep.log = &errlog.Logger{W: f, Level: errlog.Emerg}
		}
	}
	confFile := o.confFile
	builtin := false
	if confFile == "" {
		confFile = prefix + defaultConf
		if _, err := os.Stat(confFile); errors.Is(err, os.ErrNotExist) && !o.test && !o.dump {
			builtin = true
		}
	} else if !filepath.IsAbs(confFile) {
		confFile = prefix + confFile
	}
	var data []byte
	name := confFile
	if builtin {
		data, name = confd.Default, confd.DefaultName
	}
	src := &server.Source{Table: newTable(), Path: name, Data: data, Prefix: prefix,
		ConfPrefix: confPrefix(name, builtin), Global: []byte(o.global)}
	if o.test || o.dump {
		m, tree, err := src.Load()
		return check(o, name, tree, m, err, stdout, rep)
	}
	if o.signal != "" {
		return signalProcess(o.signal, src, rep)
	}
	return serve(src, rep)
}

// reporter tells the operator about a failed start, as nginx does before
// its configured error log is open: on stderr, and in the -e file if one
// was given.
type reporter struct {
	stderr io.Writer
	log    *errlog.Logger // nil without -e FILE
}

func (r *reporter) emerg(err error) { r.print(errlog.Emerg, err.Error()) }

func (r *reporter) print(level errlog.Level, msg string) {
	fmt.Fprintf(r.stderr, "edge: [%s] %s\n", level, msg)
	if r.log != nil {
		r.log.Log(level, "%s", msg)
	}
}

// confPrefix is the directory relative includes resolve against: the main
// file's, as nginx's cycle->conf_prefix; the built-in file has none, so
// its includes (there are none) would resolve against the working
// directory.
func confPrefix(name string, builtin bool) string {
	if builtin {
		return "."
	}
	return filepath.Dir(name)
}

func newTable() *conf.Table { return server.Table() }

// check is -t and -T: nginx's two lines, or the error, and the dump.
func check(o options, name string, tree *parser.Config, m *server.MainConf, err error, stdout io.Writer, rep *reporter) int {
	stderr := rep.stderr
	failed := func(err error) int {
		rep.emerg(err)
		fmt.Fprintf(stderr, "edge: configuration file %s test failed\n", name)
		return 1
	}
	if err != nil {
		return failed(err)
	}
	// Like nginx, "syntax is ok" once the files are read and checked,
	// before the log files, shared zones and listen sockets are tried.
	if !o.quiet {
		fmt.Fprintf(stderr, "edge: the configuration file %s syntax is ok\n", name)
	}
	if err := server.Check(m); err != nil {
		return failed(err)
	}
	if !o.quiet {
		fmt.Fprintf(stderr, "edge: configuration file %s test is successful\n", name)
	}
	if o.dump {
		for _, f := range tree.Files {
			fmt.Fprintf(stdout, "# configuration file %s:\n", f.Path)
			stdout.Write(f.Data)
			if len(f.Data) > 0 && f.Data[len(f.Data)-1] != '\n' {
				io.WriteString(stdout, "\n")
			}
			io.WriteString(stdout, "\n")
		}
	}
	return 0
}

const usage = `Usage: edge [-?hvVtTq] [-s signal] [-p prefix]
             [-e filename] [-c filename] [-g directives]

Options:
  -?,-h         : this help
  -v            : show version and exit
  -V            : show version and configure options then exit
  -t            : test configuration and exit
  -T            : test configuration, dump it and exit
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to a master process: stop, quit, reopen, reload
  -p prefix     : set prefix path (default: ` + defaultPrefix + `)
  -e filename   : set error log file (default: stderr)
  -c filename   : set configuration file (default: ` + defaultConf + ` under the prefix)
  -g directives : set global directives out of configuration file

`

// parseArgs reads flags the way nginx's ngx_get_options does: flags may be
// grouped (-tq) and a value may follow its flag directly (-cfile).
func parseArgs(args []string) (options, error) {
	var o options
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' {
			return o, fmt.Errorf(`invalid option: "%s"`, a)
		}
		for j := 1; j < len(a); j++ {
			var target *string
			switch a[j] {
			case '?', 'h':
				o.help = true
			case 'v':
				o.version = true
			case 'V':
				o.version, o.configure = true, true
			case 't':
				o.test = true
			case 'T':
				o.test, o.dump = true, true
			case 'q':
				o.quiet = true
			case 's':
				target = &o.signal
			case 'p':
				target = &o.prefix
			case 'e':
				target = &o.errorLog
			case 'c':
				target = &o.confFile
			case 'g':
				target = &o.global
			default:
				return o, fmt.Errorf(`invalid option: "%c"`, a[j])
			}
			if target == nil {
				continue
			}
			if j+1 < len(a) {
				*target = a[j+1:]
			} else if i+1 < len(args) {
				i++
				*target = args[i]
			} else {
				return o, fmt.Errorf(`option "-%c" requires %s`, a[j], map[byte]string{
					's': "signal name", 'p': "directory name", 'e': "file name", 'c': "file name", 'g': "parameter"}[a[j]])
			}
			if a[j] == 's' {
				switch *target {
				case "stop", "quit", "reopen", "reload":
				default:
					return o, fmt.Errorf(`invalid option: "-s %s"`, *target)
				}
			}
			break
		}
	}
	return o, nil
}
