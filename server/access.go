package server

import (
	"net/netip"

	"edge/internal/conf"
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
// client decides; none matching allows.
func (loc *LocationConf) access(c *conn) bool {
	if len(loc.Access) == 0 {
		return true
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
			return !rule.deny
		}
	}
	return true
}
