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
		got, ok := normalizeURI(in, true)
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("normalizeURI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidateHost(t *testing.T) {
	for in, want := range map[string]string{
		"example.com": "example.com", "Example.COM.": "example.com", "a.b:8080": "a.b", "[::1]:80": "[::1]",
		"[::1]": "[::1]", "": "", "..": "!", "a..b": "!", ".": "!", "x/y": "!", "x\\y": "!", "a\x00b": "!",
		"a b": "!", ":80": "!",
	} {
		got, ok := validateHost(in)
		if !ok {
			got = "!"
		}
		if got != want {
			t.Errorf("validateHost(%q) = %q, want %q", in, got, want)
		}
	}
}
