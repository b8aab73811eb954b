package server

import (
	"sort"
	"strings"
)

// locationTree is one level of locations compiled for lookup, like the
// static location tree nginx builds (ngx_http_init_static_location_trees):
// the exact and prefix locations in a radix tree, walked once along the
// URI, and the regex locations in configuration order, which nginx too
// tries one by one.
type locationTree struct {
	root    radixNode
	regexes []*LocationConf
}

// radixNode is a node of the prefix tree; the path from the root spells
// the URIs of the locations that end at it.
type radixNode struct {
	label    string
	children []*radixNode // sorted by the first byte of their label
	exact    *LocationConf
	prefix   *LocationConf // a prefix or ^~ location
}

// compileLocations builds the trees of locs and of every nested level.
func compileLocations(locs []*LocationConf) *locationTree {
	t := &locationTree{}
	for _, l := range locs {
		switch l.Match {
		case MatchExact:
			t.root.insert(l.Path).exact = l
		case MatchPrefix, MatchNoRegex:
			t.root.insert(l.Path).prefix = l
		case MatchRegex, MatchRegexI:
			t.regexes = append(t.regexes, l)
		}
		l.tree = compileLocations(l.Locations)
	}
	return t
}

// insert returns the node for path, splitting labels as needed. The
// first location inserted for a path stays: a duplicate was refused when
// the configuration was read.
func (n *radixNode) insert(path string) *radixNode {
	for path != "" {
		i := sort.Search(len(n.children), func(i int) bool { return n.children[i].label[0] >= path[0] })
		if i == len(n.children) || n.children[i].label[0] != path[0] {
			c := &radixNode{label: path}
			n.children = append(n.children, nil)
			copy(n.children[i+1:], n.children[i:])
			n.children[i] = c
			return c
		}
		c := n.children[i]
		common := 0
		for common < len(c.label) && common < len(path) && c.label[common] == path[common] {
			common++
		}
		if common < len(c.label) {
			// Split c: the shared part becomes a node of its own.
			tail := &radixNode{label: c.label[common:], children: c.children, exact: c.exact, prefix: c.prefix}
			*c = radixNode{label: c.label[:common], children: []*radixNode{tail}}
		}
		n, path = c, path[common:]
	}
	return n
}

// child returns the child whose label starts with b.
func (n *radixNode) child(b byte) *radixNode {
	lo, hi := 0, len(n.children)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.children[m].label[0] < b {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(n.children) && n.children[lo].label[0] == b {
		return n.children[lo]
	}
	return nil
}

// find is ngx_http_core_find_location: the exact match wins at once;
// otherwise the longest prefix, then the locations nested in it, then,
// unless that prefix is ^~, this level's regexes in order, the first
// match winning (and searching its own nested locations). done reports a
// match that ends the search of the levels above too: an exact one or a
// regex (a ^~ only keeps this level's regexes out). It allocates nothing.
func (t *locationTree) find(uri string) (loc *LocationConf, done bool) {
	var best *LocationConf
	n, rest := &t.root, uri
	for {
		if n.prefix != nil {
			best = n.prefix
		}
		if rest == "" {
			if n.exact != nil {
				return n.exact, true
			}
			break
		}
		c := n.child(rest[0])
		if c == nil || !strings.HasPrefix(rest, c.label) {
			break
		}
		n, rest = c, rest[len(c.label):]
	}
	if best != nil {
		loc = best
		in, inDone := best.tree.find(uri)
		if inDone {
			return in, true
		}
		if in != nil {
			loc = in
		}
		if best.Match == MatchNoRegex {
			return loc, false
		}
	}
	for _, l := range t.regexes {
		if l.Regex.MatchString(uri) {
			if in, _ := l.tree.find(uri); in != nil {
				return in, true
			}
			return l, true
		}
	}
	return loc, false
}
