package server

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"edge/internal/conf"
	"edge/parser"
)

var update = flag.Bool("update", false, "rewrite the generated parts of docs/directives.md")

var contextNames = []struct {
	ctx  conf.Type
	name string
}{
	{conf.Main, "main"}, {conf.Events, "events"}, {conf.HTTPMain, "http"}, {conf.HTTPSrv, "server"},
	{conf.HTTPLoc, "location"}, {conf.HTTPSif, "if in server"}, {conf.HTTPLif, "if in location"},
	{conf.HTTPLmt, "limit_except"}, {conf.HTTPUps, "upstream"}, {conf.StreamMain, "stream"},
	{conf.StreamSrv, "stream server"}, {conf.StreamUps, "stream upstream"}, {conf.MailMain, "mail"},
	{conf.MailSrv, "mail server"},
}

func contexts(t conf.Type) string {
	var out []string
	for _, c := range contextNames {
		if t&c.ctx != 0 {
			out = append(out, c.name)
		}
	}
	return strings.Join(out, ", ")
}

// table renders the commands of one status as a markdown table.
func table(status conf.Status) string {
	var rows []string
	for _, c := range Table().Commands() {
		if c.Status != status {
			continue
		}
		row := "| `" + c.Name + "` | " + contexts(c.Type) + " | " + strings.TrimPrefix(c.Module, "ngx_")
		if status == conf.Pending {
			row += " | " + c.Planned
		}
		if c.Since != "" {
			row += " (since nginx " + c.Since + ")"
		}
		rows = append(rows, row+" |")
	}
	sort.Strings(rows)
	head := "| directive | context | module |\n|---|---|---|\n"
	if status == conf.Pending {
		head = "| directive | context | module | planned in |\n|---|---|---|---|\n"
	}
	return fmt.Sprintf("%d directives.\n\n%s%s\n", len(rows), head, strings.Join(rows, "\n"))
}

// TestDirectivesDoc keeps docs/directives.md in step with the table:
// every implemented directive has its own entry, the other statuses are
// generated tables, and every nginx example in the docs parses.
func TestDirectivesDoc(t *testing.T) {
	path := "../docs/directives.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, s := range []conf.Status{conf.Tuning, conf.Pending, conf.Unsupported} {
		name := s.String()
		re := regexp.MustCompile(`(?s)(<!-- BEGIN ` + name + `:[^\n]*-->\n).*?(<!-- END ` + name + ` -->)`)
		if !re.MatchString(doc) {
			t.Fatalf("docs/directives.md has no generated %s section", name)
		}
		doc = re.ReplaceAllLiteralString(doc, re.FindStringSubmatch(doc)[1]+table(s)+"<!-- END "+name+" -->")
	}
	if *update {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if doc != string(data) {
		t.Errorf("docs/directives.md is out of date with the directive table: go test ./server -run TestDirectivesDoc -update")
	}
	for _, c := range Table().Commands() {
		if c.Status == conf.Implemented && !strings.Contains(doc, "\n### "+c.Name+"\n") {
			t.Errorf("implemented directive %q has no entry in docs/directives.md", c.Name)
		}
	}
}

// TestDocsExamplesParse parses every ```nginx block of docs/.
func TestDocsExamplesParse(t *testing.T) {
	files, err := os.ReadDir("../docs")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```nginx\n(.*?)```")
	// Examples include mime.types, which sits beside a configuration.
	confDir := t.TempDir()
	os.WriteFile(confDir+"/mime.types", []byte("types { text/html html; text/css css; }\n"), 0o644)
	examples := 0
	for _, f := range files {
		data, err := os.ReadFile("../docs/" + f.Name())
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range block.FindAllStringSubmatch(string(data), -1) {
			examples++
			name := fmt.Sprintf("docs/%s example %d", f.Name(), i+1)
			if _, err := parser.ParseBytes(name, []byte(m[1]), confDir, nil); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			// A whole configuration must also pass the checks.
			if strings.HasPrefix(m[1], "events") {
				cfg, _, err := Load(Table(), name, []byte(m[1]), t.TempDir(), confDir, nil)
				if err == nil {
					err = Check(cfg)
				}
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		}
	}
	if examples == 0 {
		t.Error("no nginx examples found in docs/")
	}
}
