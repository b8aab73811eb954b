package server

import "testing"

// The regexp2 fallback numbers groups as PCRE does and reports byte
// offsets, invalid UTF-8 included.
func TestRegexp2Groups(t *testing.T) {
	re, _ := compileRegex(`^/ng/(?<a>\w+)/(\w+)(?!z)$`, false)
	idx := re.match("/ng/x/y")
	if got := "/ng/x/y"[idx[2]:idx[3]] + " " + "/ng/x/y"[idx[4]:idx[5]]; got != "x y" || re.names()[1] != "a" {
		t.Errorf("groups %q, names %q", got, re.names())
	}
	re, _ = compileRegex(`^/la/(?!x)(.*)$`, false)
	s := "/la/\xff\xffab"
	if idx = re.match(s); idx == nil || s[idx[2]:idx[3]] != "\xff\xffab" {
		t.Errorf("invalid UTF-8: %v", idx)
	}
}
