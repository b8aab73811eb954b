package server

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dlclark/regexp2"
)

// Regex is a regular expression from the configuration. nginx uses PCRE;
// edge compiles with Go's RE2 (linear time) and falls back to regexp2, a
// backtracking engine with PCRE's lookaround and backreferences, only for
// expressions RE2 refuses, such as h5bp's `location ~ /\.(?!well-known)`.
// See docs/differences.md.
type Regex struct {
	Source string
	re2    *regexp.Regexp
	pcre   *regexp2.Regexp
}

// pcreTimeout bounds one backtracking match, so a pathological expression
// cannot stall a request forever (PCRE has a match limit for the same
// reason).
const pcreTimeout = 100 * time.Millisecond

// compileRegex compiles an nginx regex; caseless is nginx's "~*".
func compileRegex(expr string, caseless bool) (*Regex, error) {
	src := expr
	if caseless {
		src = "(?i)" + src
	}
	re, err := regexp.Compile(src)
	if err == nil {
		return &Regex{Source: expr, re2: re}, nil
	}
	opts := regexp2.None
	if caseless {
		opts = regexp2.IgnoreCase
	}
	re2, err2 := regexp2.Compile(expr, opts)
	if err2 != nil {
		return nil, fmt.Errorf("regex compile failed (%v)", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	re2.MatchTimeout = pcreTimeout
	return &Regex{Source: expr, pcre: re2}, nil
}

// MatchString reports whether s matches. A backtracking match that runs
// out of time does not match.
func (r *Regex) MatchString(s string) bool {
	if r.re2 != nil {
		return r.re2.MatchString(s)
	}
	ok, err := r.pcre.MatchString(s)
	return err == nil && ok
}

// names lists the capture groups' names by number ("" for unnamed; the
// whole match is 0).
func (r *Regex) names() []string {
	if r.re2 != nil {
		return r.re2.SubexpNames()
	}
	out := make([]string, 0, 8)
	for _, n := range r.pcre.GetGroupNumbers() {
		name := r.pcre.GroupNameFromNumber(n)
		if name == strconv.Itoa(n) {
			name = ""
		}
		out = append(out, name)
	}
	return out
}

// match matches s and returns the submatch indexes, or nil.
func (r *Regex) match(s string) []int {
	if r.re2 != nil {
		return r.re2.FindStringSubmatchIndex(s)
	}
	m, err := r.pcre.FindStringMatch(s)
	if err != nil || m == nil {
		return nil
	}
	var idx []int
	for _, g := range m.Groups() {
		if len(g.Captures) == 0 {
			idx = append(idx, -1, -1)
			continue
		}
		// regexp2 counts runes; Go strings are indexed by bytes.
		start := len(string([]rune(s)[:g.Index]))
		idx = append(idx, start, start+len(g.String()))
	}
	return idx
}

// regex compiles a regex of the http block and notes its named groups,
// which are variables.
func (h *HTTPConf) regex(expr string, caseless bool) (*Regex, error) {
	re, err := compileRegex(expr, caseless)
	if err != nil {
		return nil, err
	}
	for _, n := range re.names() {
		if n != "" {
			if h.captures == nil {
				h.captures = map[string]bool{}
			}
			h.captures[strings.ToLower(n)] = true
		}
	}
	return re, nil
}
