package server

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"edge/internal/conf"
	"edge/internal/errlog"
	"edge/parser"
)

// The gzip filter and gzip_static (nginx's ngx_http_gzip_filter_module,
// ngx_http_gzip_static_module and the gzip part of the core module):
// answers compressed on the fly, or from a file's ".gz" neighbour, exactly
// when nginx would compress them. The bytes differ from zlib's (Go's
// compress/flate), what they decompress to does not.

// GzipCommands are the gzip directives.
var GzipCommands = []conf.Command{
	{Name: "gzip", Once: true, Type: httpAny | conf.HTTPLif | conf.Flag, Module: "ngx_http_gzip_filter_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).Gzip.Enable })},
	{Name: "gzip_types", Type: httpAny | conf.OneMore, Module: "ngx_http_gzip_filter_module", Set: typesSlot(func(s *conf.Scope) *conf.Setting[typeSet] { return &locOf(s).Gzip.Types })},
	{Name: "gzip_comp_level", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_gzip_filter_module", Set: setGzipCompLevel},
	{Name: "gzip_min_length", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_gzip_filter_module", Set: conf.SizeSlot(func(s *conf.Scope) *conf.Setting[int64] { return &locOf(s).Gzip.MinLength })},
	{Name: "gzip_vary", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_core_module", Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).Gzip.Vary })},
	{Name: "gzip_http_version", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_core_module", Set: conf.EnumSlot(func(s *conf.Scope) *conf.Setting[string] { return &locOf(s).Gzip.HTTPVersion }, "1.0", "1.1")},
	{Name: "gzip_proxied", Type: httpAny | conf.OneMore, Module: "ngx_http_core_module", Set: setGzipProxied},
	{Name: "gzip_disable", Type: httpAny | conf.OneMore, Module: "ngx_http_core_module", Set: setGzipDisable},
	{Name: "gzip_static", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_gzip_static_module", Set: conf.EnumSlot(func(s *conf.Scope) *conf.Setting[string] { return &locOf(s).Gzip.Static }, "off", "on", "always")},
}

// GzipConf is a level's gzip settings.
type GzipConf struct {
	Enable      conf.Setting[bool]
	Types       conf.Setting[typeSet]
	CompLevel   conf.Setting[int]
	MinLength   conf.Setting[int64]
	Vary        conf.Setting[bool]
	HTTPVersion conf.Setting[string]
	Proxied     conf.Setting[gzipProxied]
	// Disable are gzip_disable's regexes; DisableMSIE6 its "msie6".
	Disable      conf.Setting[[]*Regex]
	DisableMSIE6 bool
	Static       conf.Setting[string]
}

// gzipProxied is gzip_proxied's bitmask.
type gzipProxied uint16

const (
	proxiedOff gzipProxied = 1 << iota
	proxiedExpired
	proxiedNoCache
	proxiedNoStore
	proxiedPrivate
	proxiedNoLastModified
	proxiedNoETag
	proxiedAuth
	proxiedAny
)

var proxiedNames = map[string]gzipProxied{"off": proxiedOff, "expired": proxiedExpired, "no-cache": proxiedNoCache,
	"no-store": proxiedNoStore, "private": proxiedPrivate, "no_last_modified": proxiedNoLastModified,
	"no_etag": proxiedNoETag, "auth": proxiedAuth, "any": proxiedAny}

func (g *GzipConf) merge(parent *GzipConf) {
	g.Enable.Merge(parent.Enable, false)
	g.Types.Merge(parent.Types, typeSet{"text/html": true})
	g.CompLevel.Merge(parent.CompLevel, 1)
	g.MinLength.Merge(parent.MinLength, 20)
	g.Vary.Merge(parent.Vary, false)
	g.HTTPVersion.Merge(parent.HTTPVersion, "1.1")
	g.Proxied.Merge(parent.Proxied, proxiedOff)
	if !g.Disable.IsSet {
		g.Disable, g.DisableMSIE6 = parent.Disable, parent.DisableMSIE6
	}
	g.Static.Merge(parent.Static, "off")
}

// setGzipCompLevel is a number slot with nginx's bounds check.
func setGzipCompLevel(s *conf.Scope, d *parser.Directive) error {
	n, err := conf.ParseNumber(d.Args[0].Value)
	if err != nil {
		return conf.Tail("invalid number")
	}
	if n < 1 || n > 9 {
		return parser.Errorf(d.End, "value must be between 1 and 9")
	}
	return locOf(s).Gzip.CompLevel.Put(int(n), d)
}

// setGzipProxied is ngx_conf_set_bitmask_slot: a value named twice is
// nginx's "duplicate value".
func setGzipProxied(s *conf.Scope, d *parser.Directive) error {
	p := &locOf(s).Gzip.Proxied
	if p.IsSet {
		return conf.Tail("is duplicate")
	}
	var mask gzipProxied
	for _, a := range d.Args {
		bit, ok := proxiedNames[strings.ToLower(a.Value)]
		if !ok {
			return parser.Errorf(d.End, `invalid value "%s"`, a.Value)
		}
		if mask&bit != 0 {
			return parser.Errorf(d.End, `duplicate value "%s"`, a.Value)
		}
		mask |= bit
	}
	return p.Put(mask, d)
}

// setGzipDisable is ngx_http_gzip_disable: "msie6", or caseless regexes.
func setGzipDisable(s *conf.Scope, d *parser.Directive) error {
	g := &locOf(s).Gzip
	var res []*Regex
	if g.Disable.IsSet {
		res = g.Disable.Value
	}
	for _, a := range d.Args {
		if a.Value == "msie6" {
			g.DisableMSIE6 = true
			continue
		}
		re, err := lv(s).http.regex(a.Value, true)
		if err != nil {
			return parser.Errorf(d.End, "%s", err)
		}
		res = append(res, re)
	}
	g.Disable.IsSet = false // several gzip_disable add up
	return g.Disable.Put(res, d)
}

// gzipOK is ngx_http_gzip_ok: the client takes gzip, and neither its
// browser, its HTTP version nor a proxy in between (Via) rules it out.
func (w *response) gzipOK() bool {
	rq := &w.c.rq
	g := &rq.loc.Gzip
	ae := rq.in.header("Accept-Encoding")
	if len(ae) < 4 || !strings.HasPrefix(ae, "gzip,") && !acceptsGzip(ae) {
		return false
	}
	ua := rq.in.header("User-Agent")
	if g.DisableMSIE6 && msie6(ua) {
		return false
	}
	if g.HTTPVersion.Value == "1.1" && rq.in.major*1000+rq.in.minor < 1001 {
		return false
	}
	if rq.in.hasHeader("Via") && !w.gzipProxiedOK(g.Proxied.Value) {
		return false
	}
	if ua != "" {
		for _, re := range g.Disable.Value {
			if re.MatchString(ua) {
				return false
			}
		}
	}
	return true
}

// gzipProxiedOK is gzip_proxied's part of ngx_http_gzip_ok.
func (w *response) gzipProxiedOK(p gzipProxied) bool {
	switch {
	case p&proxiedOff != 0:
		return false
	case p&proxiedAny != 0:
		return true
	case p&proxiedAuth != 0 && w.c.rq.in.hasHeader("Authorization"):
		return true
	}
	if e := w.hdr.Get("Expires"); e != "" {
		t, err := http.ParseTime(e)
		return p&proxiedExpired != 0 && err == nil && t.Before(time.Now().Truncate(time.Second))
	}
	if cc := w.hdr.Get("Cache-Control"); cc != "" {
		return p&proxiedNoCache != 0 && hasToken(cc, "no-cache") ||
			p&proxiedNoStore != 0 && hasToken(cc, "no-store") ||
			p&proxiedPrivate != 0 && hasToken(cc, "private")
	}
	// A static file's Last-Modified is no header of nginx's list: only
	// its ETag counts here.
	return p&proxiedNoETag == 0 || w.hdr.Get("ETag") == ""
}

// hasToken is ngx_http_parse_multi_header_lines' search: name as a
// whole word of a comma-separated value.
func hasToken(v, name string) bool {
	for _, t := range strings.Split(v, ",") {
		t = strings.TrimSpace(t)
		if i := strings.IndexAny(t, "= "); i >= 0 {
			t = t[:i]
		}
		if strings.EqualFold(t, name) {
			return true
		}
	}
	return false
}

// acceptsGzip is ngx_http_gzip_accept_encoding: "gzip" as a token, with
// no "q=0".
func acceptsGzip(ae string) bool {
	lower := strings.ToLower(ae)
	start := 0
	for {
		i := strings.Index(lower[start:], "gzip")
		if i < 0 {
			return false
		}
		p := start + i
		if p == 0 || ae[p-1] == ',' || ae[p-1] == ' ' {
			start = p + 4
			break
		}
		start = p + 4
	}
	rest := ae[start:]
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case ',':
			return true
		case ';':
			return quality(rest[i+1:])
		case ' ':
		default:
			return false
		}
	}
	return true
}

// quality reads ";q=…" after gzip: 0 (or a malformed value) refuses.
func quality(s string) bool {
	s = strings.TrimLeft(s, " ")
	if s == "" {
		return true
	}
	if s[0] != 'q' && s[0] != 'Q' {
		return false
	}
	s = s[1:]
	if len(s) < 2 || s[0] != '=' {
		return false
	}
	s = s[1:]
	// ngx_http_gzip_quantity: "1", "0" or "0." with up to 3 digits.
	switch {
	case s[0] == '1':
		return true
	case s[0] != '0':
		return false
	}
	s = s[1:]
	if s == "" || s[0] != '.' {
		return false
	}
	n := 0
	for i := 1; i < len(s) && i <= 3; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n > 0
}

// msie6 is ngx_http_process_user_agent's msie6: MSIE 4, 5, or 6
// without SV1; not Opera.
func msie6(ua string) bool {
	i := strings.Index(ua, "MSIE ")
	if !uaMSIE(ua) || ua[i+6] != '.' {
		return false
	}
	switch ua[i+5] {
	case '4', '5':
		return true
	case '6':
		return !strings.Contains(ua[i+8:], "SV1")
	}
	return false
}

// gzipEligible is the first test of ngx_http_gzip_header_filter: an
// answer of this status, type and length (-1: unknown) is one to
// compress, for clients that take it.
func (w *response) gzipEligible(code int, ctype string, length int64) bool {
	g := &w.c.rq.loc.Gzip
	// A HEAD request is compressed too, body aside: nginx knows it has
	// no body only in the header writer, after this filter.
	return g.Enable.Value && (code == 200 || code == 403 || code == 404) && !w.c.rq.in.http09 &&
		w.hdr.Get("Content-Encoding") == "" && g.Types.Value.has(ctype) && (length < 0 || length >= g.MinLength.Value)
}

// gzipFilter is ngx_http_gzip_header_filter, run as the head is written:
// it reports whether the body goes compressed, after setting the headers
// that say so.
func (w *response) gzipFilter(code int) bool {
	length := int64(-1)
	if cl := w.hdr.Get("Content-Length"); cl != "" {
		length, _ = parseLength(cl)
	}
	if !w.gzipEligible(code, w.hdr.Get("Content-Type"), length) {
		return false
	}
	w.vary = true
	if !w.gzipOK() {
		return false
	}
	w.hdr.Add("Content-Encoding", "gzip")
	w.hdr.Del("Content-Length")
	w.hdr.Del("Accept-Ranges")
	weakETag(&w.hdr)
	return true
}

// weakETag is ngx_http_weak_etag: a changed body's ETag is weak; one
// that is not a quoted string goes.
func weakETag(h *fields) {
	tag := h.Get("ETag")
	switch {
	case tag == "", strings.HasPrefix(tag, "W/"):
	case strings.HasPrefix(tag, `"`):
		h.Set("ETag", "W/"+tag)
	default:
		h.Del("ETag")
	}
}

var gzipWriters [10]sync.Pool

// startGzip compresses the rest of the body at the location's level.
func (w *response) startGzip() {
	level := w.c.rq.loc.Gzip.CompLevel.Value
	gz, _ := gzipWriters[level].Get().(*gzip.Writer)
	sink := gzipSink{w}
	if gz == nil {
		gz, _ = gzip.NewWriterLevel(sink, level)
	} else {
		gz.Reset(sink)
	}
	gz.OS = 3 // Unix, as nginx's header says
	w.gz = gz
}

// endGzip writes the compressed stream's end.
func (w *response) endGzip() {
	if w.gz == nil {
		return
	}
	w.gz.Close()
	gzipWriters[w.c.rq.loc.Gzip.CompLevel.Value].Put(w.gz)
	w.gz = nil
}

// gzipSink takes the compressed bytes to the connection.
type gzipSink struct{ w *response }

func (s gzipSink) Write(p []byte) (int, error) { return s.w.writeBody(p) }

// gzipStatic is ngx_http_gzip_static_handler: a GET or HEAD for path
// answered from path + ".gz" when the client takes gzip (or always). It
// reports whether it answered, or the error status to finish with.
func gzipStatic(w *response, rq *request, loc *LocationConf, path string) (int, bool) {
	mode := loc.Gzip.Static.Value
	if mode == "off" || rq.method != http.MethodGet && rq.method != http.MethodHead || strings.HasSuffix(rq.uri, "/") {
		return 0, false
	}
	ok := mode == "always" || w.gzipOK()
	if !loc.Gzip.Vary.Value && !ok {
		return 0, false
	}
	f, failed, err := rq.openFile(loc, path+".gz")
	if err != nil {
		if code := openStatus(err); code != http.StatusNotFound {
			rq.logOpenFailed(code, failed, path+".gz", err)
		}
		return 0, false
	}
	defer f.close()
	if mode == "on" {
		w.vary = true // "always" answers the same to every client
	}
	if !ok {
		return 0, false
	}
	if !f.isRegular() {
		rq.log(errlog.Crit, `"%s" is not a regular file`, path+".gz")
		return http.StatusNotFound, true
	}
	w.precompressed = true
	return serveFile(w, rq, loc, f), true
}

// copyBody sends size bytes of f through Write: what a filter (gzip)
// must see goes this way rather than by sendfile.
func copyBody(w *response, f *file, size int64) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	for off := int64(0); off < size; {
		n, err := f.ReadAt((*bp)[:min(int64(len(*bp)), size-off)], off)
		if n > 0 {
			if _, werr := w.Write((*bp)[:n]); werr != nil {
				return
			}
			off += int64(n)
		}
		if err != nil {
			if err != io.EOF {
				w.c.closed = true
			}
			return
		}
	}
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
