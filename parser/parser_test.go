package parser

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with the file next to the input, or rewrites it.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./parser -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs:\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// result is what a golden file holds: the parsed tree, then the error.
func result(cfg *Config, err error) string {
	var b strings.Builder
	if cfg != nil {
		b.WriteString(Dump(cfg.Directives))
	}
	if err != nil {
		b.WriteString("error: " + err.Error() + "\n")
	}
	return b.String()
}

// Each testdata/*.conf is one file: its tokens, its tree and its error.
func TestFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.conf")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".conf")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cfg, perr := Parse(f, "", nil)
			out := "tokens:\n" + Tokens(f, data) + "tree:\n" + result(cfg, perr)
			golden(t, strings.TrimSuffix(f, ".conf")+".golden", out)
			if strings.HasPrefix(name, "err-") != (perr != nil) {
				t.Errorf("error = %v; cases named err-* must fail, others must not", perr)
			}
		})
	}
}

// Each testdata/include/<case>/nginx.conf is read with its includes.
func TestInclude(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/include/*")
	if len(dirs) == 0 {
		t.Fatal("no testdata/include cases")
	}
	for _, dir := range dirs {
		if strings.HasSuffix(dir, ".golden") {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg, err := Parse(filepath.Join(dir, "nginx.conf"), "", nil)
			var files []string
			for _, f := range cfg.Files {
				files = append(files, f.Path)
			}
			golden(t, dir+".golden", "files: "+strings.Join(files, " ")+"\n"+result(cfg, err))
		})
	}
}

func TestCommandLine(t *testing.T) {
	cfg, err := Parse("testdata/include/nested/nginx.conf", "", []byte("daemon off; pid /x;"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Directives[0].Start.File + " " + cfg.Directives[0].Name; got != "command line daemon" {
		t.Errorf("first directive = %q, want the -g directives first", got)
	}
	_, err = Parse("testdata/include/nested/nginx.conf", "", []byte("daemon off"))
	if err == nil || err.Error() != `unexpected end of parameter, expecting ";" in command line` {
		t.Errorf("error = %v", err)
	}
	_, err = Parse("testdata/nothere.conf", "", nil)
	if err == nil || err.Error() != `open() "testdata/nothere.conf" failed (2: No such file or directory)` {
		t.Errorf("error = %v", err)
	}
}

func TestPrintRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.conf")
	for _, f := range files {
		cfg, err := Parse(f, "", nil)
		if err != nil {
			continue
		}
		text := Print(cfg.Directives)
		again, perr := parseFile("printed", []byte(text))
		if perr != nil {
			t.Fatalf("%s: printed text does not parse: %v\n%s", f, perr, text)
		}
		if a, b := shape(cfg.Directives, true), shape(again, false); a != b {
			t.Errorf("%s: round trip differs:\n%s\n---\n%s", f, a, b)
		}
	}
}
