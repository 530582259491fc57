package hookvault_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/hookvault/hookvault"

// TestDependenciesPointInward keeps the package graph as the design draws it: the domain and
// the small leaf packages import only the standard library; only the server knows concrete
// stores; only the HTTP edge and hookctl import the generated code.
func TestDependenciesPointInward(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Standard", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Imports    []string
			Standard   bool
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p.ImportPath, module) {
			imports[p.ImportPath] = p.Imports
		}
	}
	if len(imports) < 8 {
		t.Fatalf("only %d packages listed: %v", len(imports), imports)
	}
	stdlibOnly := []string{"internal/hookvault", "internal/config", "internal/signature", "internal/problem",
		"internal/connlimit", "internal/provider"}
	// The presets reuse the hookvault scheme's verifier; nothing else of this module.
	inward := map[string]bool{module + "/internal/signature": true}
	for _, pkg := range stdlibOnly {
		for _, imp := range imports[module+"/"+pkg] {
			if pkg == "internal/provider" && inward[imp] {
				continue
			}
			if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
				t.Errorf("%s imports %s; it must import only the standard library", pkg, imp)
			}
		}
	}
	allowed := map[string][]string{
		// hookbench fills a database with old messages directly, for the retention benchmark.
		"/internal/sqlite":      {"/internal/server", "/cmd/hookbench"},
		"/internal/postgres":    {"/internal/server"},
		"/internal/groupcommit": {"/internal/sqlite", "/internal/postgres"},
		"/gen":                  {"/internal/httpapi", "/cmd/hookctl"},
	}
	for pkg, imps := range imports {
		for _, imp := range imps {
			for target, who := range allowed {
				if imp != module+target {
					continue
				}
				ok := false
				for _, w := range who {
					ok = ok || pkg == module+w
				}
				if !ok {
					t.Errorf("%s imports %s; only %v may", pkg, imp, who)
				}
			}
		}
	}
	for pkg := range imports {
		for _, bad := range []string{"/util", "/common", "/models", "/http"} {
			if strings.HasSuffix(pkg, bad) {
				t.Errorf("package %s has a name that says nothing", pkg)
			}
		}
	}
}
