package parser

import "fmt"

// CommandLine is the file name of directives given with -g, as nginx
// calls them.
const CommandLine = "command line"

// Error is a configuration error with nginx's wording and the place nginx
// would name.
type Error struct {
	Pos Pos
	Msg string
	// Err is the underlying system error, if any (errors.Is works on it).
	Err error
}

func (e *Error) Error() string {
	if e.Pos.File == "" {
		return e.Msg
	}
	if e.Pos.Line == 0 || e.Pos.File == CommandLine {
		// nginx names no line in -g directives.
		return e.Msg + " in " + e.Pos.File
	}
	return fmt.Sprintf("%s in %s:%d", e.Msg, e.Pos.File, e.Pos.Line)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error at pos.
func Errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}
