package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinary builds the real binary and runs the README's quickstart on
// this host's real machine code, then the commands it suggests.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	run := func(wantStatus int, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		status := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			status = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if status != wantStatus {
			t.Fatalf("licensor %s: exit %d, want %d\n%s%s", strings.Join(args, " "), status, wantStatus, out, stderr.String())
		}
		return string(out) + stderr.String()
	}
	stdout := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("licensor %s: %v", strings.Join(args, " "), err)
		}
		return out
	}

	var q struct {
		License          string `json:"license"`
		DataDir          string `json:"data_dir"`
		MachineCode      string `json:"machine_code"`
		VendorPrivateKey string `json:"vendor_private_key"`
		VendorPublicKey  string `json:"vendor_public_key"`
	}
	out := stdout("quickstart", "--dir", filepath.Join(dir, "qs"), "--setup-only", "--json")
	if err := json.Unmarshal(out, &q); err != nil {
		t.Fatalf("quickstart --json: %v\n%s", err, out)
	}
	for _, p := range []string{q.VendorPrivateKey, q.VendorPublicKey, q.License, q.DataDir} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("quickstart wrote %q: %v", p, err)
		}
	}
	run(0, "license", "verify", q.License, "--vendor-pub", q.VendorPublicKey, "--this-machine", "--product", "demo")
	msg := run(1, "license", "verify", q.License, "--vendor-pub", q.VendorPublicKey, "--product", "absent")
	if !strings.Contains(msg, "code=508 product_unlicensed") {
		t.Errorf("verify of an absent product:\n%s", msg)
	}
	code := strings.SplitN(string(stdout("fingerprint")), "\n", 2)[0]
	if len(code) != 32 || code != q.MachineCode {
		t.Errorf("fingerprint's first line %q, quickstart's machine code %q", code, q.MachineCode)
	}
	run(2, "no-such-command")
	run(0, "help")
	run(0, "explain", "509")
}
