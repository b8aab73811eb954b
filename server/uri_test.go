package server

import "testing"

func TestNormalizeURI(t *testing.T) {
	for in, want := range map[string]string{
		"/":               "/",
		"/a/b":            "/a/b",
		"//a///b":         "/a/b",
		"/a/./b":          "/a/b",
		"/a/../b":         "/b",
		"/a/b/..":         "/a/",
		"/a/b/.":          "/a/b/",
		"/a/b/":           "/a/b/",
		"/..":             "",
		"/a/../../etc":    "",
		"/a/..":           "/",
		"/.hidden/a":      "/.hidden/a",
		"/a/..b":          "/a/..b",
		"/a\x00b":         "",
		"relative":        "",
		"/static/../../x": "",
	} {
		got, ok := normalizeURI(in)
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("normalizeURI(%q) = %q, want %q", in, got, want)
		}
	}
}
