package server

import (
	"net/http"
	"net/netip"
	"time"

	"edge/internal/conf"
	"edge/internal/errlog"
	"edge/parser"
)

// AccessCommands are the access module's allow and deny.
var AccessCommands = []conf.Command{
	{Name: "allow", Type: httpAny | conf.HTTPLmt | conf.Take1, Module: "ngx_http_access_module", Set: setAccess},
	{Name: "deny", Type: httpAny | conf.HTTPLmt | conf.Take1, Module: "ngx_http_access_module", Set: setAccess},
}

// accessRule is one allow or deny: an address prefix, "all" or "unix:".
type accessRule struct {
	deny   bool
	all    bool
	unix   bool
	prefix netip.Prefix
}

// setAccess is ngx_http_access_rule. An address with host bits set is
// taken as its network, as nginx does (it warns).
func setAccess(s *conf.Scope, d *parser.Directive) error {
	v := d.Args[0].Value
	rule := accessRule{deny: d.Name == "deny"}
	switch v {
	case "all":
		rule.all = true
	case "unix:":
		rule.unix = true
	default:
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil || a.Zone() != "" {
				return parser.Errorf(d.End, `invalid parameter "%s"`, v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		rule.prefix = p.Masked()
	}
	loc := locOf(s)
	loc.Access = append(loc.Access, rule)
	return nil
}

// access is ngx_http_access_handler: the first rule that matches the
// client decides (accessAllow, accessDeny); none matching declines.
func (loc *LocationConf) access(c *conn) int {
	if len(loc.Access) == 0 {
		return accessNone
	}
	var addr netip.Addr
	unix := c.unix
	if ap, err := netip.ParseAddrPort(c.remote); err == nil {
		addr = ap.Addr().Unmap()
	}
	for _, rule := range loc.Access {
		switch {
		case rule.all,
			rule.unix && unix,
			!unix && rule.prefix.IsValid() && rule.prefix.Contains(addr):
			if rule.deny {
				return accessDeny
			}
			return accessAllow
		}
	}
	return accessNone
}

const (
	accessNone = iota
	accessAllow
	accessDeny
)

// accessPhase is ngx_http_core_access_phase and its post-access phase:
// allow/deny, then auth_basic, combined as satisfy says. It returns the
// status to finish with, or 0.
func (rq *request) accessPhase(w *response) int {
	loc := rq.loc
	verdict := loc.access(rq.c)
	if !loc.SatisfyAny.Value {
		if verdict == accessDeny {
			rq.log(errlog.Error, "access forbidden by rule")
			return http.StatusForbidden
		}
		if code := rq.authBasic(w); code != 0 && code != http.StatusOK {
			return rq.authDelay(code)
		}
		return 0
	}
	// satisfy any: one module that allows is enough; a 401 wins over a
	// 403 among those that refuse.
	if verdict == accessAllow {
		return 0
	}
	code := 0
	if verdict == accessDeny {
		code = http.StatusForbidden
	}
	switch auth := rq.authBasic(w); auth {
	case 0:
	case http.StatusOK:
		w.Header().Del("WWW-Authenticate")
		return 0
	case http.StatusUnauthorized, http.StatusForbidden:
		if code != http.StatusUnauthorized {
			code = auth
		}
	default:
		return auth
	}
	if code == http.StatusForbidden {
		rq.log(errlog.Error, "access forbidden by rule")
	}
	return rq.authDelay(code)
}

// authDelay is ngx_http_core_auth_delay: a 401 waits auth_delay, so
// that guessing passwords is slow.
func (rq *request) authDelay(code int) int {
	if d := rq.loc.AuthDelay.Value; code == http.StatusUnauthorized && d > 0 {
		rq.log(errlog.Info, "delaying unauthorized request")
		time.Sleep(d)
	}
	return code
}
