package parser

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks the parser on any input: it never panics, every
// position is inside the file, every error names a line of it, and a tree
// printed back parses to the same tree. It parses one file: following
// include directives from fuzzed input would read arbitrary files.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.conf")
	filepath.WalkDir("../../shared/corpus", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".conf") || strings.HasSuffix(p, ".template")) {
			seeds = append(seeds, p)
		}
		return nil
	})
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dirs, err := parseFile("f.conf", data)
		lines := bytes.Count(data, []byte("\n")) + 1
		inRange := func(p Pos) bool { return p.File == "f.conf" && p.Line >= 1 && p.Line <= lines && p.Col >= 1 }
		var check func([]*Directive)
		check = func(ds []*Directive) {
			for _, d := range ds {
				if !inRange(d.Start) || !inRange(d.End) {
					t.Fatalf("position out of range: %v %v (%d lines)", d.Start, d.End, lines)
				}
				for _, a := range d.Args {
					if !inRange(a.Pos) {
						t.Fatalf("argument position out of range: %v", a.Pos)
					}
				}
				if d.Block != nil && d.Close.Line != 0 && !inRange(d.Close) {
					t.Fatalf("closing brace out of range: %v", d.Close)
				}
				check(d.Block)
			}
		}
		check(dirs)
		if err != nil {
			if !inRange(err.Pos) || err.Msg == "" {
				t.Fatalf("error without a place in the file: %q at %v", err.Msg, err.Pos)
			}
			return
		}
		text := Print(dirs)
		again, err := parseFile("printed", []byte(text))
		if err != nil {
			t.Fatalf("printed tree does not parse: %v\n%s", err, text)
		}
		if a, b := shape(dirs, true), shape(again, false); a != b {
			t.Fatalf("round trip differs:\n%s\n---\n%s", a, b)
		}
	})
}

// shape lists a tree's names, values, quotes and blocks. Print quotes a
// value that cannot be written bare, so for the original tree (printed)
// such a value counts as quoted.
func shape(dirs []*Directive, printed bool) string {
	var b strings.Builder
	var walk func([]*Directive, int)
	q := func(v string, quoted bool) string {
		if quoted || printed && needsQuotes(v) {
			return fmt.Sprintf("%q", v)
		}
		return "[" + v + "]"
	}
	walk = func(ds []*Directive, depth int) {
		for _, d := range ds {
			fmt.Fprintf(&b, "%d %s", depth, q(d.Name, d.NameQuoted))
			for _, a := range d.Args {
				b.WriteString(" " + q(a.Value, a.Quoted))
			}
			if d.Block != nil {
				b.WriteString(" {\n")
				walk(d.Block, depth+1)
				b.WriteString("}")
			}
			b.WriteString("\n")
		}
	}
	walk(dirs, 0)
	return b.String()
}
