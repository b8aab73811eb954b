package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"edge/parser"
)

// Runtime is a compiled configuration, ready to answer requests. It opens
// no sockets; Serve does.
//
// This is the first cut of the serving core (issue #3): it answers
// `return` and nginx's 404 page. The location tree, static files and the
// rest arrive with issue #4, and a configuration that uses a directive
// still pending is refused by Compile rather than served wrongly.
type Runtime struct {
	listeners map[string]*addrServers // by listen address
	order     []string
}

// addrServers are the servers sharing one listen address.
type addrServers struct {
	network, addr string
	servers       []*ServerConf
	def           *ServerConf
}

// Compile checks that everything in m can be served and builds a Runtime.
func Compile(m *MainConf) (*Runtime, error) {
	if len(m.Pending) > 0 {
		u := m.Pending[0]
		return nil, parser.Errorf(u.Dir.End, `"%s" directive is not served yet (planned in issue %s); "edge -t" accepts it`, u.Dir.Name, u.Cmd.Planned)
	}
	return build(m)
}

// Check runs the checks of Compile that nginx makes too (what `edge -t`
// reports), accepting directives that are not served yet.
func Check(m *MainConf) error {
	_, err := build(m)
	return err
}

// openLogFiles opens (creating) every log file, as nginx's ngx_init_cycle
// does even for -t, so a missing directory fails now and not at the first
// request. The files are closed again: the logging module owns them.
func openLogFiles(m *MainConf) error {
	for _, p := range m.LogFiles {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return &parser.Error{Msg: `open() "` + p + `" failed` + parser.Errno(err), Err: err}
		}
		f.Close()
	}
	return nil
}

func build(m *MainConf) (*Runtime, error) {
	rt := &Runtime{listeners: map[string]*addrServers{}}
	if m.HTTP == nil {
		return rt, openLogFiles(m)
	}
	for _, srv := range m.HTTP.Servers {
		srv.SSL.merge(&m.HTTP.SSL)
		if err := srv.SSL.check(m.Prefix); err != nil {
			return nil, err
		}
		mergeLocations(srv.Loc, m.HTTP.Loc)
		for _, loc := range srv.Locations {
			mergeLocation(loc, srv.Loc)
		}
		listens := srv.Listens
		if len(listens) == 0 {
			listens = []Listen{{Addr: netip.AddrPortFrom(netip.IPv4Unspecified(), 80), Text: "*:80"}}
		}
		for _, ls := range listens {
			network, addr := "tcp", ls.Addr.String()
			if ls.Unix != "" {
				network, addr = "unix", ls.Unix
			}
			a := rt.listeners[addr]
			if a == nil {
				a = &addrServers{network: network, addr: addr}
				rt.listeners[addr] = a
				rt.order = append(rt.order, addr)
			}
			if ls.DefaultServer {
				if a.def != nil {
					return nil, parser.Errorf(ls.Pos, "a duplicate default server for %s", ls.Text)
				}
				a.def = srv
			}
			a.servers = append(a.servers, srv)
		}
	}
	for _, a := range rt.listeners {
		if a.def == nil {
			a.def = a.servers[0]
		}
	}
	if err := openLogFiles(m); err != nil {
		return nil, err
	}
	return rt, nil
}

func mergeLocations(child, parent *LocationConf) {
	child.DefaultType.Merge(parent.DefaultType, "text/plain")
}

func mergeLocation(loc, parent *LocationConf) {
	mergeLocations(loc, parent)
	for _, in := range loc.Locations {
		mergeLocation(in, loc)
	}
}

// Addresses lists the listen addresses, in configuration order.
func (rt *Runtime) Addresses() []string { return rt.order }

// Serve listens on every address and serves until ctx ends.
func (rt *Runtime) Serve(ctx context.Context) error {
	var servers []*http.Server
	var wg sync.WaitGroup
	errc := make(chan error, len(rt.order))
	for _, addr := range rt.order {
		a := rt.listeners[addr]
		ln, err := net.Listen(a.network, a.addr)
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			return fmt.Errorf("bind() to %s failed%s", a.addr, parser.Errno(err))
		}
		hs := &http.Server{Handler: a, ReadHeaderTimeout: 60 * time.Second, IdleTimeout: defaultKeepalive}
		servers = append(servers, hs)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		for _, s := range servers {
			s.Close()
		}
		wg.Wait()
		return err
	}
	for _, s := range servers {
		s.Close()
	}
	wg.Wait()
	return nil
}

// ServeHTTP picks the server by Host and the location by URI.
func (a *addrServers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	srv := a.def
	for _, s := range a.servers {
		if s.matches(host) {
			srv = s
			break
		}
	}
	loc := findLocation(srv.Locations, r.URL.Path)
	if loc == nil {
		loc = srv.Loc
	}
	respond(w, r, loc)
}

func (s *ServerConf) matches(host string) bool {
	for _, n := range s.Names {
		if n.Regex != nil {
			if n.Regex.MatchString(host) {
				return true
			}
			continue
		}
		if n.Name == host {
			return true
		}
	}
	return false
}

// findLocation is a plain version of nginx's search: exact match, then the
// longest prefix (and its nested locations), then regexes in order unless
// the prefix was ^~.
func findLocation(locs []*LocationConf, uri string) *LocationConf {
	var best *LocationConf
	for _, l := range locs {
		switch l.Match {
		case MatchExact:
			if l.Path == uri {
				return l
			}
		case MatchPrefix, MatchNoRegex:
			if strings.HasPrefix(uri, l.Path) && (best == nil || len(l.Path) > len(best.Path)) {
				best = l
			}
		}
	}
	if best != nil {
		if in := findLocation(best.Locations, uri); in != nil {
			return in
		}
		if best.Match == MatchNoRegex {
			return best
		}
	}
	for _, l := range locs {
		if (l.Match == MatchRegex || l.Match == MatchRegexI) && l.Regex.MatchString(uri) {
			return l
		}
	}
	return best
}

func respond(w http.ResponseWriter, r *http.Request, loc *LocationConf) {
	w.Header().Set("Server", "edge")
	ret := loc.Return
	if !ret.IsSet {
		errorPage(w, http.StatusNotFound)
		return
	}
	code := ret.Value.Code
	if code == 444 {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
		return
	}
	if code >= 301 && code <= 308 && code != 304 && code != 305 && code != 306 && ret.Value.HasText {
		w.Header().Set("Location", ret.Value.Text)
		errorPage(w, code)
		return
	}
	if !ret.Value.HasText {
		errorPage(w, code)
		return
	}
	w.Header().Set("Content-Type", loc.DefaultType.Value)
	w.Header().Set("Content-Length", strconv.Itoa(len(ret.Value.Text)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write([]byte(ret.Value.Text))
	}
}

// errorPage writes nginx's built-in page for code.
func errorPage(w http.ResponseWriter, code int) {
	text, ok := statusLines[code]
	if !ok {
		w.WriteHeader(code)
		return
	}
	body := "<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" + text +
		"</h1></center>\r\n<hr><center>edge</center>\r\n</body>\r\n</html>\r\n"
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	w.Write([]byte(body))
}

var statusLines = func() map[int]string {
	m := map[int]string{}
	for _, c := range []int{301, 302, 303, 307, 308, 400, 401, 403, 404, 405, 408, 413, 414, 429, 500, 502, 503, 504} {
		m[c] = strconv.Itoa(c) + " " + http.StatusText(c)
	}
	return m
}()
