package parser

import "fmt"

// Pos is a place in a configuration file. Line and Col are 1-based; Col
// counts bytes.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Arg is one argument of a directive, unescaped. Quoted says it was written
// between quotes: "" is an empty argument and "{" a brace, not syntax.
type Arg struct {
	Value  string
	Quoted bool
	Pos    Pos
}

// Directive is one statement: a name, its arguments, and a block when it
// ends with "{".
type Directive struct {
	Name string
	// NameQuoted matters in blocks of entries: '' is a map key.
	NameQuoted bool
	Args       []Arg
	// Block is nil for a directive ended by ";" and non-nil (maybe empty)
	// for one that opened a block.
	Block []*Directive
	// Start is the name; End is the ";" or "{" that ended the directive,
	// the line nginx names in its messages; Close is the "}" of a block.
	Start, End, Close Pos
	// IncludedBy is the include directive that read this directive's
	// file, nil in the main file; following it gives the include chain.
	IncludedBy *Directive
}

// IsBlock reports whether the directive opened a block.
func (d *Directive) IsBlock() bool { return d.Block != nil }

// File is a configuration file as it was read.
type File struct {
	Path string
	Data []byte
}

// Config is the tree of a main file with its includes expanded in place,
// one copy per include site.
type Config struct {
	Directives []*Directive
	// Files lists every file read, each once, in reading order: files
	// included by -g directives, then the main file and its includes.
	Files []File
	// Includes are the paths and patterns of the include directives
	// read, made absolute, whether they matched or not: where a file
	// appearing would change the configuration.
	Includes []string
}
