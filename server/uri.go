package server

import "strings"

// normalizeURI is what nginx's ngx_http_parse_complex_uri does to the
// decoded path of a request: slashes merged (merge_slashes), "."
// segments dropped, ".." segments resolved. ok is false where nginx
// answers 400: a ".." above the root, or a NUL byte.
func normalizeURI(path string, merge bool) (uri string, ok bool) {
	if path == "" || path[0] != '/' || strings.IndexByte(path, 0) >= 0 {
		return "", false
	}
	if !strings.Contains(path, "//") && !strings.Contains(path, "/.") {
		return path, true // the common case allocates nothing
	}
	segs := make([]string, 0, 8)
	parts := strings.Split(path[1:], "/")
	for i, s := range parts {
		switch s {
		case "":
			if !merge && i < len(parts)-1 {
				segs = append(segs, s)
			}
		case ".":
		case "..":
			if len(segs) == 0 {
				return "", false
			}
			segs = segs[:len(segs)-1]
		default:
			segs = append(segs, s)
		}
	}
	out := "/" + strings.Join(segs, "/")
	// A path that ended in "/", "/." or "/.." names a directory.
	last := path[strings.LastIndexByte(path, '/')+1:]
	if (last == "" || last == "." || last == "..") && out != "/" {
		out += "/"
	}
	return out, true
}
