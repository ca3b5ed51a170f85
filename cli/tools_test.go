package cli

import (
	"os"
	"os/exec"
	"testing"
)

// tool finds a program a test runs (a shell, systemd-analyze). Without it
// the test skips, except under CI, where it fails: scripts/test installs
// them there.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed: under CI this test must run (scripts/test installs it)", name)
		}
		t.Skipf("%s is not installed; scripts/test installs it", name)
	}
	return path
}
