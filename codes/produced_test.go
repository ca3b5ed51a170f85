package codes

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// awaitingProducer lists the codes whose producer is not built yet. Each
// must leave this list, with a test that produces it for real, when its
// producer lands.
var awaitingProducer = map[Code]bool{}

// TestEveryCodeProduced checks that every code in the table is named by a
// test outside this package (a test that produces it and checks for it),
// unless it is never emitted or still awaits its producer.
func TestEveryCodeProduced(t *testing.T) {
	names := constNames(t)
	used := map[string]bool{}
	ref := regexp.MustCompile(`codes\.([A-Z][A-Za-z0-9]*)`)
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "codes" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range ref.FindAllStringSubmatch(string(data), -1) {
			used[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range All() {
		name := names[in.Code]
		switch {
		case in.NeverEmitted:
		case awaitingProducer[in.Code]:
			if used[name] {
				t.Errorf("code %d (codes.%s) is produced by a test now: take it off awaitingProducer", in.Code, name)
			}
		case !used[name]:
			t.Errorf("code %d %s (codes.%s): no test outside package codes produces it", in.Code, in.Name, name)
		}
	}
}

// constNames maps each code to its constant's name in codes.go.
func constNames(t *testing.T) map[Code]string {
	f, err := parser.ParseFile(token.NewFileSet(), "codes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[Code]string{}
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if len(vs.Names) != 1 || len(vs.Values) != 1 {
				continue
			}
			name := vs.Names[0].Name
			// Resolve the constant by its value in the compiled package.
			for _, in := range table {
				if constValue(vs.Values[0]) == int(in.Code) {
					out[in.Code] = name
				}
			}
		}
	}
	if len(out) != len(table) {
		t.Fatalf("found constants for %d of %d codes", len(out), len(table))
	}
	return out
}

func constValue(e ast.Expr) int {
	switch v := e.(type) {
	case *ast.BasicLit:
		n := 0
		for _, c := range v.Value {
			n = n*10 + int(c-'0')
		}
		return n
	case *ast.UnaryExpr:
		if v.Op == token.SUB {
			return -constValue(v.X)
		}
	}
	return 1 << 30
}
