package server

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"edge/internal/conf"
	"edge/internal/errlog"
	"edge/parser"
)

// AutoindexCommands are the directives of ngx_http_autoindex_module.
var AutoindexCommands = []conf.Command{
	{Name: "autoindex", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_autoindex_module",
		Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).Autoindex.On })},
	{Name: "autoindex_format", Once: true, Type: httpAny | conf.Take1, Module: "ngx_http_autoindex_module",
		Set: conf.EnumSlot(func(s *conf.Scope) *conf.Setting[string] { return &locOf(s).Autoindex.Format }, "html", "json", "jsonp", "xml")},
	{Name: "autoindex_localtime", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_autoindex_module",
		Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).Autoindex.Localtime })},
	{Name: "autoindex_exact_size", Once: true, Type: httpAny | conf.Flag, Module: "ngx_http_autoindex_module",
		Set: conf.FlagSlot(func(s *conf.Scope) *conf.Setting[bool] { return &locOf(s).Autoindex.ExactSize })},
}

// Autoindex is a location's autoindex settings.
type Autoindex struct {
	On, Localtime, ExactSize conf.Setting[bool]
	Format                   conf.Setting[string]
}

func (a *Autoindex) merge(parent *Autoindex) {
	a.On.Merge(parent.On, false)
	a.Format.Merge(parent.Format, "html")
	a.Localtime.Merge(parent.Localtime, false)
	a.ExactSize.Merge(parent.ExactSize, true)
}

// autoindexNameLen is the width of the name column of the HTML listing.
const autoindexNameLen = 50

type dirEntry struct {
	name      string
	dir, file bool
	mtime     time.Time
	size      int64
}

// autoindex answers a directory URI (GET or HEAD) with its listing, as
// ngx_http_autoindex_handler does once the index module found no index
// file. dir is the directory's path with its trailing slash.
func autoindex(w *response, rq *request, dir string) int {
	a := &rq.loc.Autoindex
	format, callback := a.Format.Value, ""
	if format == "jsonp" {
		var ok bool
		if callback, ok = rq.jsonpCallback(); !ok {
			return http.StatusBadRequest
		}
		if callback == "" {
			format = "json"
		}
	}
	path := dir
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	ents, err := os.ReadDir(path)
	if err != nil && ents == nil {
		code, level := http.StatusInternalServerError, errlog.Crit
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ENAMETOOLONG):
			code, level = http.StatusNotFound, errlog.Error
		case errors.Is(err, fs.ErrPermission):
			code, level = http.StatusForbidden, errlog.Error
		}
		rq.log(level, `opendir() "%s" failed%s`, path, parser.Errno(err))
		return code
	}
	list := make([]dirEntry, 0, len(ents))
	for _, e := range ents {
		name := e.Name()
		if name[0] == '.' {
			continue
		}
		// As nginx: what a link points to, or the link itself when it
		// dangles (neither a directory nor a file then).
		fi, err := os.Stat(dir + name)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ELOOP) {
				rq.log(errlog.Crit, `stat() "%s" failed%s`, dir+name, parser.Errno(err))
				if errors.Is(err, fs.ErrPermission) {
					continue
				}
				return http.StatusInternalServerError
			}
			if fi, err = os.Lstat(dir + name); err != nil {
				rq.log(errlog.Crit, `lstat() "%s" failed%s`, dir+name, parser.Errno(err))
				return http.StatusInternalServerError
			}
		}
		list = append(list, dirEntry{name: name, dir: fi.IsDir(), file: fi.Mode().IsRegular(), mtime: fi.ModTime(), size: fi.Size()})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].dir != list[j].dir {
			return list[i].dir
		}
		return list[i].name < list[j].name
	})
	var body []byte
	rq.sendContinue()
	hdr := w.Header()
	switch format {
	case "json", "jsonp":
		ctype := "application/json"
		if format == "jsonp" {
			ctype = "application/javascript"
		}
		hdr.Set("Content-Type", ctype)
		body = autoindexJSON(list, callback)
	case "xml":
		hdr.Set("Content-Type", "text/xml; charset=utf-8")
		body = autoindexXML(list)
	default:
		hdr.Set("Content-Type", "text/html")
		utf := strings.EqualFold(w.charsetOf(http.StatusOK, "text/html"), "utf-8")
		body = autoindexHTML(list, rq.uri, utf, a.ExactSize.Value, a.Localtime.Value)
	}
	headersFilter(w, rq, http.StatusOK)
	w.WriteHeader(http.StatusOK)
	// nginx sends the listing without a length: chunked.
	w.Write(body)
	return 0
}

// jsonpCallback is the callback argument, checked as
// ngx_http_autoindex_jsonp_callback does.
func (rq *request) jsonpCallback() (string, bool) {
	cb := rq.arg("callback")
	if len(cb) > 128 {
		rq.log(errlog.Info, `client sent too long callback name: "%s"`, cb)
		return "", false
	}
	for i := 0; i < len(cb); i++ {
		c := cb[i]
		if l := c | 0x20; l >= 'a' && l <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' {
			continue
		}
		rq.log(errlog.Info, `client sent invalid callback name: "%s"`, cb)
		return "", false
	}
	return cb, true
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func autoindexHTML(list []dirEntry, uri string, utf, exact, local bool) []byte {
	u := escapeHTML(uri)
	b := make([]byte, 0, 256+len(list)*120)
	b = append(b, "<html>\r\n<head><title>Index of "...)
	b = append(b, u...)
	b = append(b, "</title></head>\r\n<body>\r\n<h1>Index of "...)
	b = append(b, u...)
	b = append(b, "</h1><hr><pre><a href=\"../\">../</a>\r\n"...)
	for _, e := range list {
		b = append(b, "<a href=\""...)
		b = appendEscapeComponent(b, e.name)
		if e.dir {
			b = append(b, '/')
		}
		b = append(b, "\">"...)
		n := len(e.name) // the name's width: characters in UTF-8, else bytes
		if utf && utf8.ValidString(e.name) {
			n = utf8.RuneCountInString(e.name)
		}
		shown := e.name
		if n > autoindexNameLen {
			shown = prefixChars(e.name, autoindexNameLen-3, n != len(e.name))
			b = append(b, escapeHTML(shown)...)
			b = append(b, "..&gt;</a>"...)
		} else {
			b = append(b, escapeHTML(shown)...)
			if e.dir && n < autoindexNameLen {
				b = append(b, '/')
				n++
			}
			b = append(b, "</a>"...)
			for ; n < autoindexNameLen; n++ {
				b = append(b, ' ')
			}
		}
		t := e.mtime.UTC()
		if local {
			t = e.mtime.Local()
		}
		b = fmt.Appendf(b, " %02d-%s-%d %02d:%02d ", t.Day(), months[t.Month()-1], t.Year(), t.Hour(), t.Minute())
		switch {
		case exact && e.dir:
			b = append(b, "                  -"...)
		case exact:
			b = fmt.Appendf(b, "%19d", e.size)
		case e.dir:
			b = append(b, "      -"...)
		default:
			b = appendHumanSize(b, e.size)
		}
		b = append(b, "\r\n"...)
	}
	b = append(b, "</pre><hr></body>\r\n</html>\r\n"...)
	return b
}

// prefixChars is the first n characters of s: runes when the name is
// counted in them, else bytes.
func prefixChars(s string, n int, runes bool) string {
	if !runes {
		return s[:n]
	}
	i := 0
	for ; n > 0 && i < len(s); n-- {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// appendHumanSize is the size column of autoindex_exact_size off: rounded
// kilo-, mega- or gigabytes past 9999 bytes.
func appendHumanSize(b []byte, n int64) []byte {
	scale, unit := int64(0), byte(0)
	switch {
	case n >= 1<<30:
		scale, unit = 1<<30, 'G'
	case n >= 1<<20:
		scale, unit = 1<<20, 'M'
	case n > 9999:
		scale, unit = 1<<10, 'K'
	}
	if unit == 0 {
		return fmt.Appendf(b, " %6d", n)
	}
	size := n / scale
	if n%scale >= scale/2 {
		size++
	}
	return fmt.Appendf(b, "%6d%c", size, unit)
}

func autoindexJSON(list []dirEntry, callback string) []byte {
	b := make([]byte, 0, 64+len(list)*100)
	if callback != "" {
		b = append(b, "/* callback */\r\n"...)
		b = append(b, callback...)
		b = append(b, '(')
	}
	b = append(b, '[')
	for i, e := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\r\n{ \"name\":\""...)
		b = appendEscapeJSON(b, e.name)
		b = append(b, "\", \"type\":\""...)
		b = append(b, entryType(e)...)
		b = append(b, "\", \"mtime\":\""...)
		b = e.mtime.UTC().AppendFormat(b, http.TimeFormat)
		if e.file {
			b = append(b, "\", \"size\":"...)
			b = strconv.AppendInt(b, e.size, 10)
		} else {
			b = append(b, '"')
		}
		b = append(b, " }"...)
	}
	b = append(b, "\r\n]"...)
	if callback != "" {
		b = append(b, ");"...)
	}
	return b
}

func autoindexXML(list []dirEntry) []byte {
	b := make([]byte, 0, 64+len(list)*100)
	b = append(b, "<?xml version=\"1.0\"?>\r\n<list>\r\n"...)
	for _, e := range list {
		typ := entryType(e)
		b = append(b, '<')
		b = append(b, typ...)
		b = append(b, " mtime=\""...)
		b = e.mtime.UTC().AppendFormat(b, "2006-01-02T15:04:05Z")
		if e.file {
			b = append(b, "\" size=\""...)
			b = strconv.AppendInt(b, e.size, 10)
		}
		b = append(b, "\">"...)
		b = append(b, escapeHTML(e.name)...)
		b = append(b, "</"...)
		b = append(b, typ...)
		b = append(b, ">\r\n"...)
	}
	b = append(b, "</list>\r\n"...)
	return b
}

func entryType(e dirEntry) string {
	switch {
	case e.dir:
		return "directory"
	case e.file:
		return "file"
	}
	return "other"
}

// escapeHTML is ngx_escape_html: the four characters markup needs.
var escapeHTML = strings.NewReplacer("<", "&lt;", ">", "&gt;", "&", "&amp;", `"`, "&quot;").Replace

// appendEscapeComponent is ngx_escape_uri with NGX_ESCAPE_URI_COMPONENT:
// all but letters, digits and -._~ become %XX (nginx 1.22's table; later
// releases leave !*'() alone).
func appendEscapeComponent(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return b
}

// appendEscapeJSON is ngx_escape_json.
func appendEscapeJSON(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '\r':
			b = append(b, `\r`...)
		case c == '\t':
			b = append(b, `\t`...)
		case c == '\b':
			b = append(b, `\b`...)
		case c == '\f':
			b = append(b, `\f`...)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return b
}
