package server

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// linearFind is the location search written plainly, scanning every
// location; the compiled tree must agree with it.
func linearFind(locs []*LocationConf, uri string) (*LocationConf, bool) {
	var best *LocationConf
	for _, l := range locs {
		switch l.Match {
		case MatchExact:
			if l.Path == uri {
				return l, true
			}
		case MatchPrefix, MatchNoRegex:
			if strings.HasPrefix(uri, l.Path) && (best == nil || len(l.Path) > len(best.Path)) {
				best = l
			}
		}
	}
	loc := best
	if best != nil {
		if in, done := linearFind(best.Locations, uri); done {
			return in, true
		} else if in != nil {
			loc = in
		}
		if best.Match == MatchNoRegex {
			return loc, false
		}
	}
	for _, l := range locs {
		if (l.Match == MatchRegex || l.Match == MatchRegexI) && l.Regex.MatchString(uri) {
			if in, _ := linearFind(l.Locations, uri); in != nil {
				return in, true
			}
			return l, true
		}
	}
	return loc, false
}

func randomLocations(r *rand.Rand, parent string, depth int) []*LocationConf {
	var locs []*LocationConf
	seen := map[string]bool{}
	for i := r.Intn(6); i >= 0; i-- {
		path := parent
		for j := r.Intn(3); j >= 0; j-- {
			path += string("abc/"[r.Intn(4)])
		}
		m := []LocationMatch{MatchPrefix, MatchExact, MatchNoRegex, MatchRegex}[r.Intn(4)]
		key := fmt.Sprint(m == MatchExact, path)
		if m != MatchRegex && seen[key] || m == MatchNoRegex && seen[fmt.Sprint(false, path)] {
			continue
		}
		seen[key] = true
		l := &LocationConf{Match: m, Path: path}
		if m == MatchRegex {
			re, _ := compileRegex(string("abc"[r.Intn(3)])+"$", false)
			l.Regex, l.Path = re, re.Source
		}
		if depth > 0 && m != MatchExact && m != MatchRegex {
			l.Locations = randomLocations(r, path, depth-1)
		}
		locs = append(locs, l)
	}
	return locs
}

func TestLocationTree(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for n := 0; n < 2000; n++ {
		locs := randomLocations(r, "/", 2)
		tree := compileLocations(locs)
		for k := 0; k < 30; k++ {
			uri := "/"
			for j := r.Intn(8); j > 0; j-- {
				uri += string("abc/"[r.Intn(4)])
			}
			want, wantDone := linearFind(locs, uri)
			got, gotDone := tree.find(uri)
			if got != want || gotDone != wantDone {
				t.Fatalf("uri %s: tree found %v, want %v", uri, got, want)
			}
		}
	}
}

func TestServerNames(t *testing.T) {
	servers := map[string]*ServerConf{}
	a := &ListenAddr{}
	for _, n := range []string{"exact.test", "*.wild.test", "*.deep.wild.test", "www.trail.*", "www.*", ".dot.test", "~^re\\d+\\.test$", "x.deep.wild.test"} {
		s := &ServerConf{}
		if strings.HasPrefix(n, "~") {
			re, _ := compileRegex(n[1:], false)
			s.Names = []ServerName{{Name: n[1:], Regex: re}}
		} else {
			s.Names = []ServerName{{Name: n}}
		}
		servers[n] = s
		a.Servers = append(a.Servers, s)
	}
	a.Default = a.Servers[0]
	sn := compileServerNames(a)
	for host, want := range map[string]string{
		"exact.test": "exact.test", "a.wild.test": "*.wild.test", "a.b.wild.test": "*.wild.test",
		"a.deep.wild.test": "*.deep.wild.test", "x.deep.wild.test": "x.deep.wild.test", "wild.test": "exact.test",
		"www.trail.org": "www.trail.*", "www.other.org": "www.*", "dot.test": ".dot.test", "a.dot.test": ".dot.test",
		"re5.test": "~^re\\d+\\.test$", "nothing": "exact.test",
	} {
		if got, _ := sn.find(host); got != servers[want] {
			t.Errorf("%s: got %v, want the %s server", host, got.Names, want)
		}
	}
}

// BenchmarkFindLocation10k looks up URIs among 10,000 prefix and exact
// locations (and a few regexes, which nginx too tries in order).
func BenchmarkFindLocation10k(b *testing.B) {
	var locs []*LocationConf
	for i := 0; i < 10000; i++ {
		m := MatchPrefix
		if i%4 == 0 {
			m = MatchExact
		}
		locs = append(locs, &LocationConf{Match: m, Path: fmt.Sprintf("/app%d/section%d/", i%500, i)})
	}
	for _, ext := range []string{"png", "css", "js"} {
		re, _ := compileRegex(`\.`+ext+`$`, false)
		locs = append(locs, &LocationConf{Match: MatchRegex, Path: re.Source, Regex: re})
	}
	tree := compileLocations(locs)
	uris := []string{"/app123/section4623/index.html", "/app7/section7/", "/app499/section9999/x/y/z", "/nothing/here"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tree.find(uris[i%len(uris)])
		i++
	}
}

// BenchmarkFindServer10k looks up hosts among 10,000 exact and wildcard
// server names.
func BenchmarkFindServer10k(b *testing.B) {
	a := &ListenAddr{}
	for i := 0; i < 10000; i++ {
		var name string
		switch i % 3 {
		case 0:
			name = fmt.Sprintf("site%d.example.com", i)
		case 1:
			name = fmt.Sprintf("*.site%d.example.org", i)
		default:
			name = fmt.Sprintf("www.site%d.*", i)
		}
		a.Servers = append(a.Servers, &ServerConf{Names: []ServerName{{Name: name}}})
	}
	a.Default = a.Servers[0]
	sn := compileServerNames(a)
	hosts := []string{"site3000.example.com", "a.b.site4.example.org", "www.site5.example.net", "unknown.example.com"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sn.find(hosts[i%len(hosts)])
		i++
	}
}
