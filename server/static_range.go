package server

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// preconditionFailed is the not_modified filter's first half:
// If-Unmodified-Since older than the file, or an If-Match it fails.
func preconditionFailed(rq *request, mtime time.Time, etag string) bool {
	if ius := rq.in.header("If-Unmodified-Since"); ius != "" {
		if t, err := http.ParseTime(ius); err == nil && mtime.Unix() > t.Unix() {
			return true
		}
	}
	if im := rq.in.header("If-Match"); im != "" && !etagMatch(im, etag, false) {
		return true
	}
	return false
}

// notModified is nginx's not_modified filter with if_modified_since at
// its default, exact: If-None-Match matches the ETag (weakly), or
// If-Modified-Since names exactly the modification time.
func notModified(rq *request, mtime time.Time, etag string) bool {
	ims, inm := rq.in.header("If-Modified-Since"), rq.in.header("If-None-Match")
	if ims == "" && inm == "" {
		return false
	}
	// ngx_http_test_if_modified, by if_modified_since: off counts
	// every file modified.
	if mode := rq.loc.IfModifiedSince.Value; ims != "" {
		t, err := http.ParseTime(ims)
		if mode == "off" || err != nil || t.Unix() != mtime.Unix() && (mode == "exact" || mtime.Unix() > t.Unix()) {
			return false
		}
	}
	if inm != "" && !etagMatch(inm, etag, true) {
		return false
	}
	return true
}

// etagMatch is ngx_http_test_if_match: "*" or a list holding etag;
// weak ignores the W/ of both sides.
func etagMatch(header, etag string, weak bool) bool {
	if strings.TrimSpace(header) == "*" {
		return true
	}
	if weak {
		etag = strings.TrimPrefix(etag, "W/")
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if weak {
			t = strings.TrimPrefix(t, "W/")
		}
		if t == etag {
			return true
		}
	}
	return false
}

// byteRange is [start, end) of a file.
type byteRange struct{ start, end int64 }

// parseRanges is ngx_http_range_parse: ok is false for a header nginx
// answers 416, ranges nil for one it ignores (the whole file is sent).
func parseRanges(spec string, size int64, max int) (ranges []byteRange, ok bool) {
	p := spec
	var total int64
	for {
		var start, end int64
		suffix := false
		p = strings.TrimLeft(p, " ")
		if !strings.HasPrefix(p, "-") {
			n, rest, good := digits(p)
			if !good {
				return nil, false
			}
			start, p = n, strings.TrimLeft(rest, " ")
			if !strings.HasPrefix(p, "-") {
				return nil, false
			}
			p = strings.TrimLeft(p[1:], " ")
			if p == "" || p[0] == ',' {
				end = size
				goto found
			}
		} else {
			suffix, p = true, p[1:]
		}
		{
			n, rest, good := digits(p)
			if !good {
				return nil, false
			}
			end, p = n, strings.TrimLeft(rest, " ")
			if p != "" && p[0] != ',' {
				return nil, false
			}
			if suffix {
				start = 0
				if end < size {
					start = size - end
				}
				end = size - 1
			}
			if end >= size {
				end = size
			} else {
				end++
			}
		}
	found:
		if start < end {
			if max >= 0 && len(ranges) == max {
				return nil, true // more than max_ranges: the whole file
			}
			ranges = append(ranges, byteRange{start, end})
			total += end - start
		} else if start == 0 {
			return nil, true
		}
		if p == "" {
			break
		}
		p = p[1:] // the ","
	}
	if len(ranges) == 0 {
		return nil, false
	}
	if total > size {
		return nil, true
	}
	return ranges, true
}

// digits reads a number; false when p does not start with a digit or the
// number overflows.
func digits(p string) (int64, string, bool) {
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, p, false
	}
	n, err := strconv.ParseInt(p[:i], 10, 64)
	return n, p[i:], err == nil
}

// boundaries numbers multipart boundaries, as ngx_next_temp_number does; nginx prints them 20 digits wide (NGX_ATOMIC_T_LEN).
var boundaries atomic.Uint64

// serveRanges is the range filter: it answers a Range request for a whole
// file of size and reports whether it did; a range it cannot satisfy
// is the 416 it returns for the request to finish with.
func serveRanges(w *response, rq *request, loc *LocationConf, f io.ReadSeeker, size int64) (int, bool) {
	spec := rq.in.header("Range")
	// nginx wants at least one character after "bytes=".
	if len(spec) < 7 || !strings.EqualFold(spec[:6], "bytes=") {
		return 0, false
	}
	hdr := w.Header()
	if ir := rq.in.header("If-Range"); ir != "" {
		if strings.HasSuffix(ir, `"`) {
			if tag := hdr.Get("ETag"); tag == "" || ir != tag {
				return 0, false
			}
		} else if t, err := http.ParseTime(ir); err != nil || t.UTC().Format(http.TimeFormat) != hdr.Get("Last-Modified") {
			return 0, false
		}
	}
	max := -1
	if loc.MaxRanges.IsSet {
		max = int(loc.MaxRanges.Value)
	}
	ranges, ok := parseRanges(spec[6:], size, max)
	if !ok {
		hdr.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		// nginx's headers filter has run for the 200 the range filter
		// then turns into this 416.
		headersFilter(w, rq, http.StatusOK)
		return http.StatusRequestedRangeNotSatisfiable, true
	}
	if ranges == nil {
		return 0, false
	}
	// A partial answer does not advertise ranges (ngx_http_range).
	hdr.Del("Accept-Ranges")
	head := rq.method == http.MethodHead
	if len(ranges) == 1 {
		rg := ranges[0]
		hdr.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rg.start, rg.end-1, size))
		hdr.Set("Content-Length", strconv.FormatInt(rg.end-rg.start, 10))
		headersFilter(w, rq, http.StatusPartialContent)
		w.WriteHeader(http.StatusPartialContent)
		if !head {
			f.Seek(rg.start, io.SeekStart)
			io.CopyN(w, f, rg.end-rg.start)
		}
		return 0, true
	}
	boundary := fmt.Sprintf("%020d", boundaries.Add(1))
	ctype := hdr.Get("Content-Type")
	if cs := w.charsetOf(http.StatusPartialContent, ctype); cs != "" {
		ctype += "; charset=" + cs
	}
	var parts []string
	length := int64(0)
	for _, rg := range ranges {
		part := "\r\n--" + boundary + "\r\n"
		if ctype != "" {
			part += "Content-Type: " + ctype + "\r\n"
		}
		part += fmt.Sprintf("Content-Range: bytes %d-%d/%d\r\n\r\n", rg.start, rg.end-1, size)
		parts = append(parts, part)
		length += int64(len(part)) + rg.end - rg.start
	}
	tail := "\r\n--" + boundary + "--\r\n"
	length += int64(len(tail))
	hdr.Set("Content-Type", "multipart/byteranges; boundary="+boundary)
	hdr.Set("Content-Length", strconv.FormatInt(length, 10))
	headersFilter(w, rq, http.StatusPartialContent)
	w.WriteHeader(http.StatusPartialContent)
	if head {
		return 0, true
	}
	for i, rg := range ranges {
		io.WriteString(w, parts[i])
		f.Seek(rg.start, io.SeekStart)
		io.CopyN(w, f, rg.end-rg.start)
	}
	io.WriteString(w, tail)
	return 0, true
}
