package server

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"edge/internal/conf"
	"edge/internal/errlog"
	"edge/parser"
	"edge/upstream"
)

// health_check, edge's active health check (nginx open source has only
// passive health; the syntax follows NGINX Plus's): in a location that
// proxies to an upstream block, every peer of the block is asked for
// uri every interval; fails bad answers in a row take it out of the
// balancing, passes good ones bring it back. The checks run while the
// Runtime that has them is in force (one goroutine per check), and the
// verdicts live with the peers, so a reload that keeps the upstream
// keeps them.

// HealthCheckCommands is the health check's directive.
var HealthCheckCommands = []conf.Command{
	{Name: "health_check", Once: true, Type: conf.HTTPLoc | conf.Any, Module: "ngx_http_upstream_hc_module", Set: setHealthCheck},
}

// healthCheck is a health_check directive.
type healthCheck struct {
	interval       time.Duration
	fails, passes  int
	uri            string
	status         [][2]int // good status ranges, inclusive
	timeout        time.Duration
	pos            parser.Pos
	location       *LocationConf
	resolver       *upstream.Resolver
	hostHeader     string
	upstream, text string // for log lines: the block's name, the directive
}

func setHealthCheck(s *conf.Scope, d *parser.Directive) error {
	hc := &healthCheck{interval: 5 * time.Second, fails: 1, passes: 1, uri: "/", status: [][2]int{{200, 399}}, pos: d.End}
	var words []string
	for _, a := range d.Args {
		words = append(words, a.Value)
		k, v, ok := strings.Cut(a.Value, "=")
		var err error
		switch {
		case !ok:
			err = fmt.Errorf("bad")
		case k == "interval":
			hc.interval, err = conf.ParseTime(v, false)
			if hc.interval <= 0 {
				err = fmt.Errorf("bad")
			}
		case k == "fails":
			hc.fails, err = strconv.Atoi(v)
			if hc.fails <= 0 {
				err = fmt.Errorf("bad")
			}
		case k == "passes":
			hc.passes, err = strconv.Atoi(v)
			if hc.passes <= 0 {
				err = fmt.Errorf("bad")
			}
		case k == "uri":
			hc.uri = v
			if !strings.HasPrefix(v, "/") {
				err = fmt.Errorf("bad")
			}
		case k == "status":
			hc.status, err = parseStatusRanges(v)
		default:
			err = fmt.Errorf("bad")
		}
		if err != nil {
			return parser.Errorf(d.End, `invalid parameter "%s"`, a.Value)
		}
	}
	hc.text = strings.Join(words, " ")
	locOf(s).Proxy.HealthCheck = hc
	return nil
}

// parseStatusRanges reads "200", "200-299" or a comma list of them.
func parseStatusRanges(v string) ([][2]int, error) {
	var out [][2]int
	for _, part := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
			return nil, fmt.Errorf("bad")
		}
		out = append(out, [2]int{a, b})
	}
	return out, nil
}

func (hc *healthCheck) good(code int) bool {
	for _, r := range hc.status {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}

// compileHealthChecks ties each health_check to its location's upstream
// block; a proxy_pass to an address, or with variables, has no block to
// check: that is an error, as in NGINX Plus.
func (rt *Runtime) compileHealthChecks(h *HTTPConf) error {
	for _, srv := range h.Servers {
		err := srv.eachLevel(func(l *LocationConf) error {
			hc := l.Proxy.HealthCheck
			if hc == nil || hc.location != nil {
				return nil
			}
			pass := l.proxyPass
			if pass == nil || pass.group == nil || pass.group.conf.Pos.File == "" {
				return parser.Errorf(hc.pos, `"health_check" requires a "proxy_pass" to an upstream block in the same location`)
			}
			hc.location, hc.upstream, hc.hostHeader, hc.resolver = l, pass.group.name, pass.hostHeader, pass.group.resolver
			hc.timeout = min(l.Proxy.ConnectTimeout.Value, hc.interval)
			rt.checks = append(rt.checks, runningCheck{hc: hc, g: pass.group})
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// runningCheck is a health check and the group it checks.
type runningCheck struct {
	hc *healthCheck
	g  *group
}

// startChecks runs the Runtime's health checks until stopChecks. The
// peers of a group no longer checked are healthy again: nothing would
// ever bring them back.
func (rt *Runtime) startChecks() {
	checked := map[*group]bool{}
	for _, c := range rt.checks {
		checked[c.g] = true
	}
	for _, g := range rt.groups {
		if !checked[g] {
			for _, peer := range g.state.peers.All() {
				peer.Check(true, 1, 1)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt.stopCheck = cancel
	rt.checking.Add(1)
	go rt.warnUnresolved(ctx)
	for _, c := range rt.checks {
		rt.checking.Add(1)
		go rt.healthChecker(ctx, c)
	}
}

// stopChecks stops the health checks (the Runtime is no longer in
// force); closeFiles waits for them.
func (rt *Runtime) stopChecks() {
	if rt.stopCheck != nil {
		rt.stopCheck()
	}
}

// healthChecker checks every peer of a group each interval, the first
// time at once.
func (rt *Runtime) healthChecker(ctx context.Context, c runningCheck) {
	defer rt.checking.Done()
	defer func() {
		if err := recover(); err != nil {
			for _, l := range rt.mainLog {
				l.Log(errlog.Alert, "health check of upstream \"%s\" panicked: %v", c.hc.upstream, err)
			}
		}
	}()
	t := time.NewTicker(c.hc.interval)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for _, peer := range c.g.state.peers.All() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rt.checkPeer(ctx, c, peer)
			}()
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkPeer asks one peer and records the verdict, logging a change as
// NGINX Plus does.
func (rt *Runtime) checkPeer(ctx context.Context, c runningCheck, peer *upstream.Peer) {
	hc := c.hc
	status, why := probe(ctx, peer.Name, hc)
	ok := why == "" && hc.good(status)
	if why == "" && !ok {
		why = "status code " + strconv.Itoa(status)
	}
	if ctx.Err() != nil {
		return // stopped meanwhile: no verdict
	}
	changed, healthy := peer.Check(ok, hc.fails, hc.passes)
	if !changed {
		return
	}
	for _, l := range hc.location.loggers {
		if healthy {
			l.Log(errlog.Notice, `peer is healthy while checking status code of upstream, health check "%s" of peer %s in upstream "%s"`, hc.text, peer.Name, hc.upstream)
		} else {
			l.Log(errlog.Warn, `peer is unhealthy (%s) while checking status code of upstream, health check "%s" of peer %s in upstream "%s"`, why, hc.text, peer.Name, hc.upstream)
		}
	}
}

// probe sends the check's request to a peer: its status, or why there
// is none.
func probe(ctx context.Context, peer string, hc *healthCheck) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, hc.timeout)
	defer cancel()
	nc, err := upstream.Dial(ctx, peer, hc.timeout, upstream.DialOptions{Resolver: hc.resolver})
	if err != nil {
		return 0, err.Error()
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() }) // a stopped check ends at once
	defer stop()
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	req := "GET " + hc.uri + " HTTP/1.0\r\nHost: " + hc.hostHeader + "\r\nUser-Agent: edge health check\r\nConnection: close\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		return 0, err.Error()
	}
	uc := upstream.NewConn(nc, peer)
	var h upstream.Head
	if err := uc.ReadHead(&h, hc.timeout, 4<<10); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return 0, "timed out"
		}
		return 0, err.Error()
	}
	if h.HTTP09 {
		return 0, "no valid HTTP/1.0 header"
	}
	return h.Status, ""
}
