package server

import (
	"net"
	"net/netip"
	"sort"
	"strings"

	"edge/internal/conf"
	"edge/parser"
)

// The Set functions of tuning directives whose arguments have a grammar of
// their own. edge drops their values, but checks them as nginx 1.22 does
// on Debian (Linux, epoll, threads, no file AIO), with its messages.

// checkUse is ngx_event_use: only the event methods Debian's nginx has.
func checkUse(_ *conf.Scope, d *parser.Directive) error {
	if d.Args[0].Value != "epoll" {
		return parser.Errorf(d.End, `invalid event type "%s"`, d.Args[0].Value)
	}
	return nil
}

// checkDebugConnection is ngx_event_debug_connection: an address, a
// CIDR, "unix:" or a host name that resolves.
func checkDebugConnection(_ *conf.Scope, d *parser.Directive) error {
	v := d.Args[0].Value
	if v == "unix:" {
		return nil
	}
	if _, err := netip.ParseAddr(v); err == nil {
		return nil
	}
	if addr, bits, ok := strings.Cut(v, "/"); ok {
		if a, err := netip.ParseAddr(addr); err == nil {
			if n, err := conf.ParseNumber(bits); err == nil && int(n) <= a.BitLen() {
				return nil
			}
		}
	} else if _, err := net.LookupHost(v); err == nil {
		return nil
	}
	return parser.Errorf(d.End, `host not found in debug_connection "%s"`, v)
}

// checkAio is ngx_http_core_set_aio for a build with threads and without
// file AIO.
func checkAio(_ *conf.Scope, d *parser.Directive) error {
	switch v := d.Args[0].Value; {
	case v == "off", v == "threads", strings.HasPrefix(v, "threads="):
		return nil
	case v == "on":
		return parser.Errorf(d.End, `"aio on" is unsupported on this platform`)
	}
	return conf.Tail("invalid value")
}

// checkDirectio is ngx_http_core_directio: "off" or an offset.
func checkDirectio(_ *conf.Scope, d *parser.Directive) error {
	if d.Args[0].Value == "off" {
		return nil
	}
	if _, err := conf.ParseOffset(d.Args[0].Value); err != nil {
		return conf.Tail("invalid value")
	}
	return nil
}

// cacheParams checks "off" or key=value parameters of an open file cache;
// max is required, and valid names the time parameters.
func cacheParams(d *parser.Directive, mustHave string, times, numbers []string) error {
	hasMax, off := false, false
	for _, a := range d.Args {
		if a.Value == "off" {
			// nginx goes on checking the other parameters, but then
			// needs no max.
			off = true
			continue
		}
		key, val, _ := strings.Cut(a.Value, "=")
		ok := false
		switch {
		case key == "max":
			hasMax = true
			n, err := conf.ParseNumber(val)
			ok = err == nil && n > 0
		case contains(times, key):
			_, err := conf.ParseTime(val, true)
			ok = err == nil
		case contains(numbers, key):
			_, err := conf.ParseNumber(val)
			ok = err == nil
		}
		if !ok {
			return parser.Errorf(d.End, `invalid "%s" parameter "%s"`, d.Name, a.Value)
		}
	}
	if !hasMax && !off {
		return parser.Errorf(d.End, `"%s" must have %s parameter`, d.Name, mustHave)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkOpenFileCache is ngx_http_core_open_file_cache.
func checkOpenFileCache(_ *conf.Scope, d *parser.Directive) error {
	return cacheParams(d, `the "max"`, []string{"inactive"}, nil)
}

// checkOpenLogFileCache is ngx_http_log_open_file_cache.
func checkOpenLogFileCache(_ *conf.Scope, d *parser.Directive) error {
	return cacheParams(d, `"max"`, []string{"inactive", "valid"}, []string{"min_uses"})
}

// checkTempPath is ngx_conf_set_path_slot: a path and up to three
// directory levels of at least one character, ten in all.
func checkTempPath(_ *conf.Scope, d *parser.Directive) error {
	total := int64(0)
	for _, a := range d.Args[1:] {
		n, err := conf.ParseNumber(a.Value)
		if err != nil || n == 0 {
			return conf.Tail("invalid value")
		}
		total += n
	}
	if total > 10 {
		return conf.Tail("invalid value")
	}
	return nil
}

// checkZone is ngx_http_upstream_zone: a name and a size of at least
// eight pages; a zone named without a size must get one elsewhere
// (checkZones).
func checkZone(s *conf.Scope, d *parser.Directive) error {
	m := mainOf(s)
	name := d.Args[0].Value
	if m.zones == nil {
		m.zones = map[string]bool{}
	}
	if len(d.Args) == 1 {
		if _, ok := m.zones[name]; !ok {
			m.zones[name] = false
		}
		return nil
	}
	n, err := conf.ParseSize(d.Args[1].Value)
	if err != nil {
		return parser.Errorf(d.End, `invalid zone size "%s"`, d.Args[1].Value)
	}
	if n < 8*4096 {
		return parser.Errorf(d.End, `zone "%s" is too small`, name)
	}
	m.zones[name] = true
	return nil
}

// checkZones is the check of ngx_init_cycle when it creates the shared
// memory zones: every zone has a size.
func checkZones(m *MainConf) error {
	names := make([]string, 0, len(m.zones))
	for name, sized := range m.zones {
		if !sized {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	return &parser.Error{Msg: `zero size shared memory zone "` + names[0] + `"`}
}

// checkWorkerPriority is ngx_set_priority: a number with an optional sign;
// a second one is a duplicate only after a non-zero one, as in nginx.
func checkWorkerPriority(s *conf.Scope, d *parser.Directive) error {
	m := mainOf(s)
	if m.priority != 0 {
		return conf.ErrDuplicate
	}
	v := d.Args[0].Value
	if len(v) > 0 && (v[0] == '-' || v[0] == '+') {
		v = v[1:]
	}
	n, err := conf.ParseNumber(v)
	if err != nil {
		return conf.Tail("invalid number")
	}
	m.priority = n
	return nil
}

// checkWorkerCPUAffinity is ngx_set_cpu_affinity: "auto" and bit masks.
func checkWorkerCPUAffinity(_ *conf.Scope, d *parser.Directive) error {
	args := d.Args
	if args[0].Value == "auto" {
		args = args[1:]
	}
	for _, a := range args {
		// nginx reads a mask from its last character, CPU 0, up.
		for i := len(a.Value) - 1; i >= 0; i-- {
			if c := a.Value[i]; c != '0' && c != '1' {
				return parser.Errorf(d.End, `invalid character "%c" in "worker_cpu_affinity"`, c)
			}
		}
	}
	return nil
}

// checkThreadPool is ngx_thread_pool: a unique name, threads=N and an
// optional max_queue=N.
func checkThreadPool(s *conf.Scope, d *parser.Directive) error {
	m := mainOf(s)
	name := d.Args[0].Value
	if contains(m.threadPools, name) {
		return parser.Errorf(d.End, `duplicate thread pool "%s"`, name)
	}
	m.threadPools = append(m.threadPools, name)
	threads := false
	for _, a := range d.Args[1:] {
		if v, ok := strings.CutPrefix(a.Value, "threads="); ok {
			if n, err := conf.ParseNumber(v); err != nil || n == 0 {
				return parser.Errorf(d.End, `invalid threads value "%s"`, a.Value)
			}
			threads = true
		} else if v, ok := strings.CutPrefix(a.Value, "max_queue="); ok {
			if _, err := conf.ParseNumber(v); err != nil {
				return parser.Errorf(d.End, `invalid max_queue value "%s"`, a.Value)
			}
		}
	}
	if !threads {
		return parser.Errorf(d.End, `"thread_pool" must have "threads" parameter`)
	}
	return nil
}
