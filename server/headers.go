package server

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"edge/internal/conf"
	"edge/parser"
)

// HeadersCommands are the headers filter's add_header and expires.
var HeadersCommands = []conf.Command{
	{Name: "add_header", Type: httpAny | conf.HTTPLif | conf.Take23, Module: "ngx_http_headers_filter_module", Set: setAddHeader},
	{Name: "expires", Once: true, Type: httpAny | conf.HTTPLif | conf.Take12, Module: "ngx_http_headers_filter_module", Set: setExpires},
}

// addHeader is one add_header.
type addHeader struct {
	name   string
	value  *template
	always bool
}

func setAddHeader(s *conf.Scope, d *parser.Directive) error {
	h := lv(s).http
	v, err := h.compileTemplate(d.Args[1].Value, d.End)
	if err != nil {
		return err
	}
	ah := addHeader{name: d.Args[0].Value, value: v}
	if len(d.Args) == 3 {
		if d.Args[2].Value != "always" {
			return parser.Errorf(d.End, `invalid parameter "%s"`, d.Args[2].Value)
		}
		ah.always = true
	}
	loc := locOf(s)
	loc.AddHeaders = append(loc.AddHeaders, ah)
	return nil
}

// expiresKind says how expires computes Expires and Cache-Control.
type expiresKind int

const (
	expiresOff      expiresKind = iota
	expiresAccess               // a time from now
	expiresModified             // a time from Last-Modified
	expiresDaily                // the next time of day
	expiresEpoch
	expiresMax
)

// Expires is the expires directive.
type Expires struct {
	kind expiresKind
	// d is the time (negative: in the past, answered "no-cache").
	d time.Duration
	// value is a value with variables, parsed per request.
	value *template
}

// setExpires is ngx_http_headers_expires: a value with variables is
// parsed for each request.
func setExpires(s *conf.Scope, d *parser.Directive) error {
	v := d.Args[0].Value
	kind := expiresAccess
	if len(d.Args) == 2 {
		if v != "modified" {
			return conf.Tail("invalid value")
		}
		kind, v = expiresModified, d.Args[1].Value
	}
	t, err := lv(s).http.compileTemplate(v, d.End)
	if err != nil {
		return err
	}
	if !t.static() {
		return locOf(s).Expires.Put(Expires{kind: kind, value: t}, d)
	}
	e, msg := parseExpires(kind, v)
	if msg != "" {
		return conf.Tail(msg)
	}
	return locOf(s).Expires.Put(e, d)
}

// parseExpires is ngx_http_parse_expires: the failure's message, or "".
func parseExpires(kind expiresKind, v string) (Expires, string) {
	e := Expires{kind: kind}
	if kind != expiresModified {
		switch v {
		case "epoch":
			return Expires{kind: expiresEpoch}, ""
		case "max":
			return Expires{kind: expiresMax}, ""
		case "off":
			return Expires{kind: expiresOff}, ""
		}
	}
	minus := false
	switch {
	case strings.HasPrefix(v, "@"):
		if kind == expiresModified {
			return e, `daily time cannot be used with "modified" parameter`
		}
		e.kind, v = expiresDaily, v[1:]
	case strings.HasPrefix(v, "+"):
		v = v[1:]
	case strings.HasPrefix(v, "-"):
		minus, v = true, v[1:]
	}
	t, err := conf.ParseTime(v, true)
	if err != nil {
		return e, "invalid value"
	}
	if e.kind == expiresDaily && t > 24*time.Hour {
		return e, "daily time value must be less than 24 hours"
	}
	if minus {
		t = -t
	}
	e.d = t
	return e, ""
}

// safeStatus is the headers filter's list of statuses add_header (without
// always) and expires apply to.
func safeStatus(code int) bool {
	switch code {
	case 200, 201, 204, 206, 301, 302, 303, 304, 307, 308:
		return true
	}
	return false
}

// headersFilter is ngx_http_headers_filter: expires, then add_header,
// for the answer with status code about to be sent.
func headersFilter(w *response, rq *request, code int) {
	rq.statusCode = code
	loc := rq.loc
	hdr := w.Header()
	if !w.passedServer {
		hdr.Set("Server", loc.serverHeader)
	}
	keepaliveHeaders(w, rq, loc)
	safe := safeStatus(code)
	if e := loc.Expires.Value; safe && e.value != nil {
		// A value that does not parse sets nothing (ngx_http_set_expires).
		if pe, msg := parseExpires(e.kind, e.value.String(rq)); msg == "" && pe.kind != expiresOff {
			setExpiresHeaders(hdr, pe)
		}
	} else if safe && e.kind != expiresOff {
		setExpiresHeaders(hdr, e)
	}
	for _, ah := range loc.AddHeaders {
		if !safe && !ah.always {
			continue
		}
		v := ah.value.String(rq)
		if v == "" {
			continue
		}
		if sameName(ah.name, "Last-Modified") || sameName(ah.name, "ETag") {
			hdr.Set(ah.name, v) // nginx replaces these
			continue
		}
		hdr.Add(ah.name, v)
	}
}

// setExpiresHeaders is ngx_http_set_expires.
func setExpiresHeaders(hdr *fields, e Expires) {
	now := time.Now().Truncate(time.Second) // nginx's clock has seconds
	var at time.Time
	var cc string
	switch e.kind {
	case expiresEpoch:
		hdr.Set("Expires", "Thu, 01 Jan 1970 00:00:01 GMT")
		hdr.Set("Cache-Control", "no-cache")
		return
	case expiresMax:
		hdr.Set("Expires", "Thu, 31 Dec 2037 23:55:55 GMT")
		hdr.Set("Cache-Control", "max-age=315360000")
		return
	case expiresDaily:
		midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.Local)
		at = midnight.Add(e.d)
		if !at.After(now) {
			at = at.Add(24 * time.Hour)
		}
	case expiresModified:
		lm, err := http.ParseTime(hdr.Get("Last-Modified"))
		if err != nil {
			lm = now
		}
		at = lm.Add(e.d)
	default:
		if e.d == 0 {
			hdr.Set("Expires", now.UTC().Format(http.TimeFormat))
			hdr.Set("Cache-Control", "max-age=0")
			return
		}
		at = now.Add(e.d)
	}
	maxAge := int64(at.Sub(now) / time.Second)
	if e.kind == expiresAccess {
		maxAge = int64(e.d / time.Second)
	}
	hdr.Set("Expires", at.UTC().Format(http.TimeFormat))
	if e.d < 0 || maxAge < 0 {
		cc = "no-cache"
	} else {
		cc = "max-age=" + strconv.FormatInt(maxAge, 10)
	}
	hdr.Set("Cache-Control", cc)
}

// keepaliveHeaders ends the connection after this answer when the level
// says so (keepalive_timeout 0, keepalive_requests or keepalive_time
// reached), as ngx_http_finalize_connection does, and sends the
// Keep-Alive header of keepalive_timeout's second value.
func keepaliveHeaders(w *response, rq *request, loc *LocationConf) {
	k := loc.Keepalive.Value
	c := rq.c
	kd := loc.KeepaliveDisable.Value
	ua := rq.in.header("User-Agent")
	if k.Timeout == 0 || c.requests >= loc.KeepaliveRequests.Value || time.Since(c.start) > loc.KeepaliveTime.Value ||
		// MSIE 6 may wait for a POST's answer on a kept connection; Safari
		// may send a POST on one already closed (WebKit bug 5760).
		kd&keepaliveDisableMSIE6 != 0 && rq.method == http.MethodPost && msie6(ua) ||
		kd&keepaliveDisableSafari != 0 && uaSafari(ua) {
		w.close = true
		return
	}
	w.keepAlive = loc.keepAliveHeader
}
