package server

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

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
	groups []string // the regexp2 fallback's groups, in PCRE's order
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
	return &Regex{Source: expr, pcre: re2, groups: captureGroups(expr)}, nil
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
// whole match is 0), numbered as PCRE numbers them: in the order of their
// opening parentheses.
func (r *Regex) names() []string {
	if r.re2 != nil {
		return r.re2.SubexpNames()
	}
	return append([]string{""}, r.groups...)
}

// match matches s and returns the submatch indexes in bytes, numbered as
// PCRE numbers the groups, or nil.
func (r *Regex) match(s string) []int {
	if r.re2 != nil {
		return r.re2.FindStringSubmatchIndex(s)
	}
	m, err := r.pcre.FindStringMatch(s)
	if err != nil || m == nil {
		return nil
	}
	// regexp2 counts runes, one per invalid byte as Go's []rune does.
	offsets := make([]int, 0, len(s)+1)
	for i := 0; i < len(s); {
		offsets = append(offsets, i)
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
	}
	offsets = append(offsets, len(s))
	group := func(g *regexp2.Group) (int, int) {
		if g == nil || len(g.Captures) == 0 {
			return -1, -1
		}
		return offsets[g.Index], offsets[g.Index+g.Length]
	}
	idx := make([]int, 0, 2*(len(r.groups)+1))
	start, end := group(&m.Group)
	idx = append(idx, start, end)
	// regexp2 numbers unnamed groups first and named ones after them,
	// as .NET does; PCRE numbers all in order.
	unnamed := 0
	for _, name := range r.groups {
		var g *regexp2.Group
		if name == "" {
			unnamed++
			g = m.GroupByNumber(unnamed)
		} else {
			g = m.GroupByName(name)
		}
		start, end := group(g)
		idx = append(idx, start, end)
	}
	return idx
}

// captureGroups lists the capturing groups of a PCRE expression in the
// order of their opening parentheses, with their names ("" unnamed).
func captureGroups(expr string) []string {
	var out []string
	inClass := false
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
			if i+1 < len(expr) && expr[i+1] == '^' {
				i++
			}
			if i+1 < len(expr) && expr[i+1] == ']' {
				i++
			}
		case c == '(':
			rest := expr[i+1:]
			switch {
			case !strings.HasPrefix(rest, "?"):
				out = append(out, "")
			case strings.HasPrefix(rest, "?P<"), strings.HasPrefix(rest, "?<") && !strings.HasPrefix(rest, "?<=") && !strings.HasPrefix(rest, "?<!"), strings.HasPrefix(rest, "?'"):
				name := strings.TrimLeft(rest, "?P<'")
				if end := strings.IndexAny(name, ">'"); end >= 0 {
					name = name[:end]
				}
				out = append(out, name)
			}
		}
	}
	return out
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
