package parser

import (
	"fmt"
	"strings"
)

// Print writes directives back as nginx configuration text. Parsing the
// text gives the same directives (names, values, blocks).
func Print(dirs []*Directive) string {
	var b strings.Builder
	printDirs(&b, dirs, "")
	return b.String()
}

func printDirs(b *strings.Builder, dirs []*Directive, indent string) {
	for _, d := range dirs {
		b.WriteString(indent)
		b.WriteString(quoteArg(d.Name, d.NameQuoted))
		for _, a := range d.Args {
			b.WriteByte(' ')
			b.WriteString(quoteArg(a.Value, a.Quoted))
		}
		if d.Block == nil {
			b.WriteString(";\n")
			continue
		}
		b.WriteString(" {\n")
		printDirs(b, d.Block, indent+"    ")
		b.WriteString(indent + "}\n")
	}
}

// needsQuotes reports whether v cannot be written as a bare word.
func needsQuotes(v string) bool {
	if v == "" {
		return true
	}
	switch v[0] {
	case '"', '\'', '#', '}':
		return true
	}
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ' ', '\t', '\r', '\n', ';', '\\':
			return true
		case '{':
			if i == 0 || v[i-1] != '$' {
				return true
			}
		}
	}
	return false
}

func quoteArg(v string, quoted bool) string {
	if !quoted && !needsQuotes(v) {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(v) + `"`
}

// Dump is a readable listing of a tree with positions, for golden files.
func Dump(dirs []*Directive) string {
	var b strings.Builder
	dump(&b, dirs, "")
	return b.String()
}

func dump(b *strings.Builder, dirs []*Directive, indent string) {
	for _, d := range dirs {
		name := d.Name
		if d.NameQuoted {
			name = fmt.Sprintf("%q", name)
		}
		fmt.Fprintf(b, "%s%d:%d %s", indent, d.Start.Line, d.Start.Col, name)
		for _, a := range d.Args {
			if a.Quoted {
				fmt.Fprintf(b, " %q", a.Value)
			} else {
				fmt.Fprintf(b, " %s", a.Value)
			}
		}
		if d.Block == nil {
			fmt.Fprintf(b, " ;%d:%d", d.End.Line, d.End.Col)
		} else {
			fmt.Fprintf(b, " {%d:%d", d.End.Line, d.End.Col)
		}
		for in := d.IncludedBy; in != nil; in = in.IncludedBy {
			fmt.Fprintf(b, " <- %s", in.End)
		}
		b.WriteByte('\n')
		if d.Block != nil {
			dump(b, d.Block, indent+"  ")
			fmt.Fprintf(b, "%s}%d:%d\n", indent, d.Close.Line, d.Close.Col)
		}
	}
}

// Tokens lists the tokens of one file, for golden files and debugging.
func Tokens(path string, data []byte) string {
	var b strings.Builder
	lex := newLexer(path, data)
	names := map[int]string{}
	for name, typ := range (definition{}).Symbols() {
		names[int(typ)] = name
	}
	for {
		tok, _ := lex.Next()
		fmt.Fprintf(&b, "%d:%d %s %q\n", tok.Pos.Line, tok.Pos.Column, names[int(tok.Type)], tok.Value)
		if tok.EOF() || tok.Type == tokBad {
			return b.String()
		}
	}
}
