//go:build cgo

package token

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestBuildWithoutCgo builds and vets the package with CGO_ENABLED=0 and
// runs its TestUnsupported there.
func TestBuildWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package again without cgo")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no go command in PATH: under CI the build without cgo must be checked")
		}
		t.Skip("no go command in PATH")
	}
	for _, args := range [][]string{
		{"vet", "."},
		{"test", "-count=1", "-run", "^TestUnsupported$", "-v", "."},
	} {
		cmd := exec.Command(gobin, args...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("CGO_ENABLED=0 go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if args[0] == "test" && !strings.Contains(string(out), "--- PASS: TestUnsupported") {
			t.Fatalf("CGO_ENABLED=0 go test ran no TestUnsupported:\n%s", out)
		}
	}
}
