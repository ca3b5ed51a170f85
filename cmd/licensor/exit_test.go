package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitStatus runs the real binary over mistakes in the command line
// (exit 2), failures of the operation (exit 1) and help (exit 0), as
// 'licensor help' documents them.
func TestExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "garbage.pem"), []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad-listen.json"), []byte(`{"listen": "nonsense"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	const code = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name   string
		args   []string
		status int
		stdout string // a part of stdout, when it matters
		stderr string // a part of stderr
	}{
		{"no-command", nil, 2, "", "no command"},
		{"unknown-command", []string{"frobnicate"}, 2, "", "unknown command"},
		{"unknown-flag", []string{"fingerprint", "--colour"}, 2, "", "colour"},
		{"missing-argument", []string{"keys", "show"}, 2, "", "FILE"},
		{"group-alone", []string{"keys"}, 2, "", "needs a subcommand"},
		{"explain-unknown-code", []string{"explain", "9999"}, 2, "", "code=604 invalid_argument"},
		{"malformed-product", []string{"vendor", "approve", "0123456789abcdef0123456789abcdef", "--data", "$DIR/wl",
			"--customer", "A", "--until", "2099-01-01", "--product", "ocr:seats=3"}, 2, "", "code=604"},
		{"malformed-machine-code", []string{"vendor", "approve", "31478b54", "--data", "$DIR/wl",
			"--customer", "A", "--until", "2099-01-01", "--product", "ocr"}, 2, "", "code=604"},
		{"malformed-flag-value", []string{"bench", "--server", "https://127.0.0.1:1", "--ca", "a", "--cert", "b", "--key", "c", "--clients", "lots"}, 2, "", "clients"},
		{"serve-bad-listen-flag", []string{"serve", "--listen", "nonsense"}, 2, "", `code=604 invalid_argument: --listen "nonsense"`},
		{"serve-bad-log-level-flag", []string{"serve", "--log-level", "loud"}, 2, "", `--log-level "loud"`},
		{"serve-bad-log-format-flag", []string{"serve", "--check-config", "--log-format", "xml"}, 2, "", `--log-format "xml"`},
		{"serve-bad-debug-addr-flag", []string{"serve", "--debug-addr", "6060"}, 2, "", `--debug-addr "6060"`},
		{"vendor-serve-bad-listen-flag", []string{"vendor", "serve", "--listen", "nonsense"}, 2, "", `code=604 invalid_argument: --listen "nonsense"`},
		{"serve-bad-flag-beside-bad-file", []string{"serve", "--config", "$DIR/bad-listen.json", "--log-level", "loud"}, 2, "", "--log-level"},
		{"serve-bad-config-value", []string{"serve", "--config", "$DIR/bad-listen.json"}, 1, "", "code=608"},
		{"serve-bad-config-value-check", []string{"serve", "--check-config", "--config", "$DIR/bad-listen.json"}, 1, "", "code=608"},
		{"serve-bad-file-good-flag", []string{"serve", "--config", "$DIR/bad-listen.json", "--listen", "127.0.0.1:1", "--log-level", "debug"}, 1, "", "code=608"},
		{"issue-malformed-product-before-key", []string{"issue", "--key", "$DIR/none.key", "--holder", "A", "--product", "ocr:seats=3",
			"--machine", code, "--server-key", "$DIR/none.pub", "--out", "$DIR/x.lic"}, 2, "", "code=604"},
		{"issue-malformed-machine-before-key", []string{"issue", "--key", "$DIR/none.key", "--holder", "A", "--product", "ocr:days=30",
			"--machine", "31478b54", "--server-key", "$DIR/none.pub", "--out", "$DIR/x.lic"}, 2, "", "code=604"},
		{"issue-malformed-keyfile-host-before-request", []string{"issue", "--key", "$DIR/none.key", "--holder", "A", "--product", "ocr:days=30",
			"--request", "$DIR/none.json", "--keyfile-host", "x", "--out", "$DIR/x.lic"}, 2, "", "code=604"},
		{"issue-key-missing", []string{"issue", "--key", "$DIR/none.key", "--holder", "A", "--product", "ocr:days=30",
			"--machine", code, "--server-key", "$DIR/none.pub", "--out", "$DIR/x.lic"}, 1, "", "code=605"},
		{"file-missing", []string{"keys", "show", "$DIR/none.key"}, 1, "", "code=605"},
		{"not-a-certificate", []string{"pki", "show", "$DIR/garbage.pem"}, 1, "", "code=610"},
		{"explain", []string{"explain", "509"}, 0, "code=509 fingerprint", ""},
		{"help", []string{"--help"}, 0, "Exit status:", ""},
		{"group-help", []string{"license", "--help"}, 0, "license verify", ""},
		{"group-h", []string{"keys", "-h"}, 0, "keys generate", ""},
		{"version-flag", []string{"--version"}, 0, "licensor ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "$DIR", dir)
			}
			cmd := exec.Command(bin, args...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			status := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				status = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tt.status {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", status, tt.status, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stdout lacks %q or stderr lacks %q\nstdout:\n%s\nstderr:\n%s", tt.stdout, tt.stderr, stdout.String(), stderr.String())
			}
			if tt.status == 0 && stderr.Len() != 0 {
				t.Errorf("stderr on success:\n%s", stderr.String())
			}
		})
	}
	version, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--version", "-version"} {
		if out, err := exec.Command(bin, flag).Output(); err != nil || string(out) != string(version) {
			t.Errorf("licensor %s = %q, %v; 'licensor version' = %q", flag, out, err, version)
		}
	}
}
