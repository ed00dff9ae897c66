//go:build linux

package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// The documents the tests below hold to the code, from this package's
// directory.
const (
	configurationDoc = "../../docs/configuration.md"
	operationsDoc    = "../../docs/operations.md"
	readme           = "../../README.md"
	configParser     = "../../internal/config/parse.go"
)

// helpFlag is an option line of -h: "  -v, --verbose=N        : ...".
var helpFlag = regexp.MustCompile(`(?m)^  (-\S), (--[a-z-]+)`)

// docFlag is a row of a flag table: "| `-v N` | `--verbose=N` | ...".
var docFlag = regexp.MustCompile("(?m)^\\| `(-\\S)[^`]*` \\| `(--[a-z-]+)")

// TestDocsFlags: the flags -h prints are those the flag tables of
// docs/operations.md and README.md list, short and long form alike: none
// missing from a table, none in a table that -h does not know.
func TestDocsFlags(t *testing.T) {
	_, help, code := nc(t, "-h")
	if code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
	want := pairs(helpFlag, help)
	if len(want) < 15 { // twemproxy's 13 and bilitw's 2: the pattern lost them
		t.Fatalf("-h lists %d flags, the pattern found too few in:\n%s", len(want), help)
	}
	for _, doc := range []string{operationsDoc, readme} {
		got := pairs(docFlag, readFile(t, doc))
		for _, f := range want {
			if !slices.Contains(got, f) {
				t.Errorf("%s: flag %s, printed by -h, is not in its flag table", doc, f)
			}
		}
		for _, f := range got {
			if !slices.Contains(want, f) {
				t.Errorf("%s: flag %s of its flag table is not printed by -h", doc, f)
			}
		}
	}
}

// pairs returns "-s --long" for each match of re in text.
func pairs(re *regexp.Regexp, text string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1]+" "+m[2])
	}
	return out
}

// TestDocsConfigKeys: every key the configuration parser accepts has its
// heading in docs/configuration.md, the global keys under "The global
// block" and the pool keys elsewhere, and every key heading there is a key
// the parser accepts in that place.
func TestDocsConfigKeys(t *testing.T) {
	poolKeys, globalKeys := acceptedKeys(t)
	if len(poolKeys) < 30 || len(globalKeys) != 4 {
		t.Fatalf("found %d pool keys and %d global keys in %s: the parser's shape changed", len(poolKeys), len(globalKeys), configParser)
	}
	docPool, docGlobal := documentedKeys(readFile(t, configurationDoc))
	for _, c := range []struct {
		where          string
		accepted, docs []string
	}{
		{"pool", poolKeys, docPool},
		{"global", globalKeys, docGlobal},
	} {
		for _, k := range c.accepted {
			if !slices.Contains(c.docs, k) {
				t.Errorf("%s key %q is accepted by the parser but has no heading in %s", c.where, k, configurationDoc)
			}
		}
		for _, k := range c.docs {
			if !slices.Contains(c.accepted, k) {
				t.Errorf("%s: %q is documented as a %s key but the parser does not accept it there", configurationDoc, k, c.where)
			}
		}
	}
}

// acceptedKeys returns the case labels of the key switches in the
// parser's poolKey and parseGlobal, leaving out the cases that refuse
// their key (those calling fail).
func acceptedKeys(t *testing.T) (pool, global []string) {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), configParser, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok {
			continue
		}
		switch fn.Name.Name {
		case "poolKey":
			pool = caseLabels(t, fn)
		case "parseGlobal":
			global = caseLabels(t, fn)
		}
	}
	return pool, global
}

func caseLabels(t *testing.T, fn *ast.FuncDecl) []string {
	var labels []string
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		clause, ok := n.(*ast.CaseClause)
		if !ok || refuses(clause) {
			return true
		}
		for _, expr := range clause.List {
			lit, ok := expr.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			key, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			labels = append(labels, key)
		}
		return true
	})
	return labels
}

// refuses reports whether a case clause calls fail: the key is refused.
func refuses(clause *ast.CaseClause) bool {
	found := false
	for _, stmt := range clause.Body {
		ast.Inspect(stmt, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "fail" {
					found = true
				}
			}
			return !found
		})
	}
	return found
}

// keyHeading is a key's heading: "### `timeout`".
var keyHeading = regexp.MustCompile("^### `([a-z_0-9]+)`$")

// documentedKeys returns the keys with a heading in the configuration
// document: those under "## The global block", and the others.
func documentedKeys(doc string) (pool, global []string) {
	inGlobal := false
	for line := range strings.Lines(doc) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "## ") {
			inGlobal = line == "## The global block"
		}
		m := keyHeading.FindStringSubmatch(line)
		switch {
		case m == nil:
		case inGlobal:
			global = append(global, m[1])
		default:
			pool = append(pool, m[1])
		}
	}
	return pool, global
}

// TestDocsConfigExamples: every YAML example of docs/configuration.md is a
// whole configuration file the parser accepts (the TLS ones with a test
// CA's files for ca.pem, cert.pem and key.pem), and every key the parser
// accepts is set in one of them.
func TestDocsConfigExamples(t *testing.T) {
	f := testutil.NewTLSFiles(t, "docs CA")
	files := strings.NewReplacer(": ca.pem", ": "+f.CA, ": cert.pem", ": "+f.Cert, ": key.pem", ": "+f.Key)
	examples := yamlBlocks(readFile(t, configurationDoc))
	var all strings.Builder
	for _, ex := range examples {
		name := fmt.Sprintf("%s:%d", configurationDoc, ex.line)
		if _, err := config.Parse(name, []byte(files.Replace(ex.text))); err != nil {
			t.Errorf("example at line %d: %v", ex.line, err)
		}
		all.WriteString(ex.text)
	}
	poolKeys, globalKeys := acceptedKeys(t)
	for _, key := range append(poolKeys, globalKeys...) {
		if !regexp.MustCompile(`(?m)^  ` + key + `:`).MatchString(all.String()) {
			t.Errorf("no YAML example of %s sets %q", configurationDoc, key)
		}
	}
}

type block struct {
	line int // of the block's first line of YAML
	text string
}

// yamlBlocks returns the contents of the ```yaml fences of a Markdown
// document.
func yamlBlocks(doc string) []block {
	var blocks []block
	var cur *block
	n := 0
	for line := range strings.Lines(doc) {
		n++
		switch {
		case cur == nil && strings.TrimSpace(line) == "```yaml":
			cur = &block{line: n + 1}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line
		}
	}
	return blocks
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
