// Package internal_test holds the import-direction test: the module's packages form layers, and
// every import points down them. It lives here, beside the packages it checks and in none of
// them.
package internal_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// place is where a package sits in the layers.
type place struct {
	layer int
	// never lists packages of lower layers it must not import.
	never []string
}

// layers is the target layout, bottom to top, by path inside the module: a package may import
// only packages of lower layers. A package listed here that does not exist (yet) is not
// checked; a package that exists and is not listed fails the test, so that every new package
// is given its place.
var layers = map[string]place{
	// Nothing of the module below them.
	"internal/linuxonly": {layer: 0},
	"internal/logging":   {layer: 0},
	"internal/rawio":     {layer: 0},
	"internal/hashkit":   {layer: 0},
	"internal/dist":      {layer: 0},
	"internal/proto":     {layer: 0}, // the protocol seam: neutral messages, the interfaces
	"internal/daemon":    {layer: 0},
	"internal/backoff":   {layer: 0}, // the pauses of a failing accept loop
	"internal/tlsdial":   {layer: 0}, // the TLS handshake with a server the proxy dialled
	"internal/testutil":  {layer: 0}, // imported by tests only

	// The protocols, the counters (log).
	"internal/proto/resp": {layer: 1},
	"internal/proto/mc":   {layer: 1},
	"internal/stats":      {layer: 1},

	"internal/config":   {layer: 2}, // asks hashkit, dist and the protocols (deny_commands) for their names
	"internal/backend":  {layer: 2}, // one server connection
	"internal/control":  {layer: 2}, // the master-worker channel
	"internal/sentinel": {layer: 2}, // where each sentinel group's master is
	"internal/cluster":  {layer: 2}, // a Redis Cluster's slot map

	"internal/pool":    {layer: 3},
	"internal/sockets": {layer: 3}, // opens the listening sockets of the configuration

	"internal/proxy": {layer: 4},

	"internal/worker": {layer: 5},

	"internal/supervisor": {layer: 6, never: []string{"internal/proxy", "internal/worker"}},

	"cmd/nutcracker": {layer: 7},
	// The bench's load tool: nothing of the module.
	"cmd/connload": {layer: 0},
}

// testOnly are the packages that no non-test file may import.
var testOnly = []string{"internal/testutil"}

// listedPackage is what this test reads of `go list -json`.
type listedPackage struct {
	ImportPath string
	Name       string
	GoFiles    []string
	Imports    []string // of its non-test files: test files may import anything
	Module     *struct{ Path, Dir string }
}

// TestImportsPointDown lists the module's packages and fails on every import that points up the
// layers, or across one where the table does not allow it.
func TestImportsPointDown(t *testing.T) {
	pkgs := listModule(t)
	var bad []string
	for _, p := range pkgs {
		from, ok := layers[p.path]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s has no place in the layers table of layers_test.go", p.path))
			continue
		}
		for _, imp := range p.imports {
			to, ok := layers[imp]
			if !ok {
				continue // an unknown package is reported as such above
			}
			if why := forbidden(p.path, from, imp, to); why != "" {
				bad = append(bad, fmt.Sprintf("%s (layer %d) imports %s (layer %d): %s", p.path, from.layer, imp, to.layer, why))
			}
		}
	}
	for _, b := range bad {
		t.Error(b)
	}
}

// forbidden returns why the import of imp by pkg breaks the layers, or "".
func forbidden(pkg string, from place, imp string, to place) string {
	switch {
	case slices.Contains(testOnly, imp):
		return "only test files may import it"
	case slices.Contains(from.never, imp):
		return fmt.Sprintf("%s must never import it", pkg)
	case to.layer >= from.layer:
		return "an import must point down the layers"
	}
	return ""
}

// modulePackage is one package of the module, by path inside it, with the module packages its
// non-test files import.
type modulePackage struct {
	path    string
	imports []string
}

// listModule runs `go list -e -json ./...` at the module root. With -e a package that does not
// build (an import cycle, say) is still listed with its imports.
func listModule(t *testing.T) []modulePackage {
	t.Helper()
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", commandError(err))
	}
	cmd := exec.Command("go", "list", "-e", "-json", "./...")
	cmd.Dir = strings.TrimSpace(string(root))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -e -json ./...: %v", commandError(err))
	}
	var pkgs []modulePackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if len(p.GoFiles) == 0 || p.Module == nil {
			continue // test files only, such as this one's
		}
		prefix := p.Module.Path + "/"
		mp := modulePackage{path: strings.TrimPrefix(p.ImportPath, prefix)}
		for _, imp := range p.Imports {
			if rel, ok := strings.CutPrefix(imp, prefix); ok {
				mp.imports = append(mp.imports, rel)
			}
		}
		pkgs = append(pkgs, mp)
	}
	if len(pkgs) < len(layers)/2 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// commandError adds what a failed command wrote on stderr.
func commandError(err error) error {
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return fmt.Errorf("%w: %s", err, exitErr.Stderr)
	}
	return err
}
