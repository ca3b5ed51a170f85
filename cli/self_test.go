package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickstartPrintsRunnableCommands checks how the commands quickstart
// prints start, for each way licensor may be running.
func TestQuickstartPrintsRunnableCommands(t *testing.T) {
	bin := t.TempDir()
	onPath := filepath.Join(bin, "licensor")
	if err := os.WriteFile(onPath, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	tests := []struct {
		name string
		exe  string
		want string // how every printed command starts
	}{
		{"go-run", filepath.Join(os.TempDir(), "go-build123456", "b001", "exe", "licensor"), "go run ./cmd/licensor"},
		{"go-run-from-the-cache", filepath.Join(cache, "0a", "licensor"), "go run ./cmd/licensor"},
		{"installed-elsewhere", "/opt/licensor/bin/licensor", "/opt/licensor/bin/licensor"},
		{"path-with-a-space", "/opt/my tools/licensor", "'/opt/my tools/licensor'"},
		{"found-on-path", onPath, "licensor"},
		{"unknown", "", "licensor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", bin)
			t.Setenv("GOCACHE", cache)
			h := newHarness(t)
			h.env.Executable = func() (string, error) {
				if tt.exe == "" {
					return "", errors.New("no executable")
				}
				return tt.exe, nil
			}
			out := h.mustRun("quickstart", "--dir", "$DIR/qs", "--setup-only", "--listen", "127.0.0.1:0")
			qs := filepath.Join(h.dir, "qs")
			for _, want := range []string{
				"\n  " + tt.want + " license show " + filepath.Join(qs, "site.lic") + " --vendor-pub ",
				"\n  " + tt.want + " license verify ",
				"\n  " + tt.want + " explain --all\n",
				"\n  " + tt.want + " serve --config " + filepath.Join(qs, "server.json") + "\n",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "\n  licensor ") && tt.want != "licensor" {
				t.Errorf("a command starts with a bare licensor:\n%s", out)
			}
		})
	}
}

func TestShellWord(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/local/bin/licensor": "/usr/local/bin/licensor",
		"/tmp/a b/site.lic":       "'/tmp/a b/site.lic'",
		"/tmp/it's":               `'/tmp/it'\''s'`,
		"":                        "''",
	} {
		if got := shellWord(in); got != want {
			t.Errorf("shellWord(%q) = %s, want %s", in, got, want)
		}
	}
}
