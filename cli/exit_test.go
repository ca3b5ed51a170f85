package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
)

// TestExitRule checks the one rule for exit statuses across commands: a
// mistake in the command line is 2, whether the flag parser, a command's
// own checks or a value's parser finds it; a failure of the operation is 1.
func TestExitRule(t *testing.T) {
	h := newHarness(t)
	h.setup()
	if err := os.WriteFile(filepath.Join(h.dir, "garbage.pem"), []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	issue := []string{"issue", "--key", "$DIR/vendor/vendor.key", "--request", "$DIR/req.json", "--holder", "A", "--out", "$DIR/x.lic"}
	tests := []struct {
		name string
		args []string
		want int
		code codes.Code // the code the message names, if any
	}{
		{"unknown-command", []string{"frobnicate"}, ExitUsage, 0},
		{"unknown-flag", []string{"explain", "509", "--colour"}, ExitUsage, 0},
		{"missing-argument", []string{"license", "show"}, ExitUsage, 0},
		{"explain-unknown-code", []string{"explain", "9999"}, ExitUsage, codes.InvalidArgument},
		{"explain-unknown-code-json", []string{"explain", "9999", "--json"}, ExitUsage, codes.InvalidArgument},
		{"malformed-product-spec", append(append([]string{}, issue...), "--product", "ocr:instances=many"), ExitUsage, codes.InvalidArgument},
		{"malformed-url", []string{"status", "--server", "ftp://x", "--ca", "a", "--cert", "b", "--key", "c"}, ExitUsage, codes.InvalidArgument},
		{"quickstart-bad-listen", []string{"quickstart", "--dir", "$DIR/qs", "--listen", "nowhere", "--setup-only"}, ExitUsage, codes.InvalidArgument},
		{"file-missing", []string{"license", "show", "$DIR/none.lic"}, ExitFailure, codes.FileMissing},
		{"not-a-certificate", []string{"pki", "show", "$DIR/garbage.pem"}, ExitFailure, codes.CertMalformed},
		{"unlicensed-product", []string{"license", "verify", "$DIR/site.lic", "--vendor-pub", "$DIR/vendor/vendor.pub", "--product", "vision"}, ExitFailure, codes.ProductUnlicensed},
		{"explain-known", []string{"explain", "509"}, ExitOK, 0},
		// A diagnosis that ran reports its failed checks with exit 1, even
		// a check that names a missing flag.
		{"doctor-check-fails", []string{"doctor", "--license", "$DIR/site.lic"}, ExitFailure, codes.InvalidArgument},
		{"doctor-nothing-to-check", []string{"doctor"}, ExitUsage, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := h.run(tt.args...)
			if status != tt.want {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", status, tt.want, h.stdout, h.stderr)
			}
			if tt.code != 0 && !strings.Contains(h.stdout.String()+h.stderr.String(), tag(tt.code)) {
				t.Errorf("output lacks %q:\n%s%s", tag(tt.code), h.stdout, h.stderr)
			}
		})
	}
}

// TestReportExitStatus checks the mapping itself, including failures
// already reported as JSON.
func TestReportExitStatus(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"usage", usageErrorf("bad"), ExitUsage},
		{"invalid-argument", codes.Errorf(codes.InvalidArgument, "--x %q", "y"), ExitUsage},
		{"wrapped-invalid-argument", errors.Join(errors.New("context"), codes.Errorf(codes.InvalidArgument, "v")), ExitUsage},
		{"reported-invalid-argument", reported{codes.Errorf(codes.InvalidArgument, "v")}, ExitUsage},
		{"reported-denial", reported{codes.Errorf(codes.Expired, "gone")}, ExitFailure},
		{"reported-nil", reported{}, ExitFailure},
		{"diagnosed-invalid-argument", diagnosed{codes.Errorf(codes.InvalidArgument, "v")}, ExitFailure},
		{"denial", codes.Errorf(codes.Fingerprint, "elsewhere"), ExitFailure},
		{"plain", errors.New("boom"), ExitFailure},
		{"grant-expired", codes.Errorf(codes.GrantExpired, "over"), ExitGrantExpired},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if got := Report(&b, tt.err); got != tt.want {
				t.Errorf("Report = %d, want %d (%s)", got, tt.want, b.String())
			}
		})
	}
}

func TestVersionFlag(t *testing.T) {
	h := newHarness(t)
	want := h.mustRun("version")
	if !strings.HasPrefix(want, "licensor ") {
		t.Fatalf("version: %q", want)
	}
	for _, flag := range []string{"--version", "-version"} {
		if got := h.mustRun(flag); got != want {
			t.Errorf("licensor %s = %q, want %q", flag, got, want)
		}
	}
}

func TestGroupHelp(t *testing.T) {
	h := newHarness(t)
	groups := map[string]bool{}
	for _, c := range commands {
		// A group that is also a command (doctor) prints the command's help.
		if w := strings.Fields(c.name); len(w) > 1 {
			if cmd, _ := find(w[:1]); cmd == nil {
				groups[w[0]] = true
			}
		}
	}
	if len(groups) < 3 {
		t.Fatalf("groups %v", groups)
	}
	for g := range groups {
		for _, flag := range []string{"-h", "-help", "--help"} {
			t.Run(g+flag, func(t *testing.T) {
				out := h.mustRun(g, flag)
				if h.stderr.Len() != 0 {
					t.Errorf("stderr: %s", h.stderr)
				}
				for _, c := range group(g) {
					if !strings.Contains(out, c.name) {
						t.Errorf("licensor %s %s does not list %q:\n%s", g, flag, c.name, out)
					}
				}
				if help := h.mustRun("help", g); help != out {
					t.Errorf("differs from 'licensor help %s'", g)
				}
			})
		}
	}
	// Alone, a group is still a mistake: the list goes to stderr.
	if status := h.run("keys"); status != ExitUsage || !strings.Contains(h.stderr.String(), "keys generate") {
		t.Errorf("keys: exit %d\n%s", status, h.stderr)
	}
}
