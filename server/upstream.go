package server

import (
	"strconv"

	"edge/internal/conf"
	"edge/parser"
	"edge/upstream"
)

// The upstream {} block's directives, read into an upstream.Conf as
// nginx's upstream modules read them (ngx_http_upstream_server and the
// balancers' handlers). Proxying to them is still pending (issue #6):
// these checks make `edge -t` judge upstream blocks as nginx does.

// upsOf is the upstream block being read.
func upsOf(s *conf.Scope) *upstream.Conf { return lv(s).ups }

func setUpstreamServer(s *conf.Scope, d *parser.Directive) error {
	args := make([]string, len(d.Args))
	for i, a := range d.Args {
		args[i] = a.Value
	}
	u := upsOf(s)
	srv, err := u.ParseServer(args)
	if err != nil {
		return parser.Errorf(d.End, "%s", err.Error())
	}
	u.Servers = append(u.Servers, srv)
	return nil
}

func setUpstreamHash(s *conf.Scope, d *parser.Directive) error {
	u := upsOf(s)
	if len(d.Args) == 2 {
		if d.Args[1].Value != "consistent" {
			return parser.Errorf(d.End, `invalid parameter "%s"`, d.Args[1].Value)
		}
		u.Consistent = true
	}
	// The key's variables must exist, which nginx checks at the end.
	if _, err := lv(s).http.compileTemplate(d.Args[0].Value, d.End); err != nil {
		return err
	}
	u.Key = d.Args[0].Value
	u.SetMethod("hash")
	return nil
}

// setUpstreamMethod is ip_hash and least_conn.
func setUpstreamMethod(s *conf.Scope, d *parser.Directive) error {
	upsOf(s).SetMethod(d.Name)
	return nil
}

func setUpstreamRandom(s *conf.Scope, d *parser.Directive) error {
	u := upsOf(s)
	for i, a := range d.Args {
		switch {
		case i == 0 && a.Value == "two":
			u.Two = true
		case i == 1 && a.Value == "least_conn":
			u.TwoMethod = a.Value
		default:
			return parser.Errorf(d.End, `invalid parameter "%s"`, a.Value)
		}
	}
	u.SetMethod("random")
	return nil
}

func setUpstreamKeepalive(s *conf.Scope, d *parser.Directive) error {
	n, err := strconv.Atoi(d.Args[0].Value)
	if err != nil || n <= 0 || d.Args[0].Value[0] < '0' || d.Args[0].Value[0] > '9' {
		return parser.Errorf(d.End, `invalid value "%s" in "%s" directive`, d.Args[0].Value, d.Name)
	}
	upsOf(s).Keepalive = n
	return nil
}

// checkUpstreams is what ngx_http_upstream_init_round_robin checks once
// the http block is read: an upstream needs a server that is not a
// backup.
func (h *HTTPConf) checkUpstreams() error {
	for _, u := range h.Upstreams {
		primary := false
		for _, srv := range u.Servers {
			primary = primary || !srv.Backup
		}
		if !primary {
			return &parser.Error{Pos: u.Pos, Msg: `no servers in upstream "` + u.Name + `"`}
		}
	}
	return nil
}
