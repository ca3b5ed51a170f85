package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickstartCommandsRunAsPrinted runs the commands the quickstart
// prints, as printed, in a shell: those of the built binary, and those of
// 'go run', which name the package rather than a binary that is gone.
func TestQuickstartCommandsRunAsPrinted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		cmd  []string
		want string
	}{
		{"binary", []string{bin}, bin + " "},
		{"go-run", []string{"go", "run", "./cmd/licensor"}, "go run ./cmd/licensor "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			qs := filepath.Join(dir, tt.name)
			cmd := exec.Command(tt.cmd[0], append(tt.cmd[1:], "quickstart", "--dir", qs, "--setup-only", "--listen", "127.0.0.1:0")...)
			cmd.Dir = root
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("quickstart: %v\n%s", err, out)
			}
			var lines []string
			for _, l := range strings.Split(string(out), "\n") {
				if l = strings.TrimSpace(l); strings.HasPrefix(l, tt.want) && !strings.Contains(l, " serve ") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 3 {
				t.Fatalf("want 3 commands starting %q:\n%s", tt.want, out)
			}
			for _, l := range lines {
				sh := exec.Command("sh", "-c", l)
				sh.Dir = root
				if out, err := sh.CombinedOutput(); err != nil {
					t.Errorf("%s: %v\n%s", l, err, out)
				}
			}
			if !strings.Contains(string(out), "\n  "+tt.want+"serve --config "+filepath.Join(qs, "server.json")+"\n") {
				t.Errorf("no serve command:\n%s", out)
			}
		})
	}
}
