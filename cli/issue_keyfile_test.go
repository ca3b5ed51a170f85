package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/license"
)

func TestIssueKeyFilePolicy(t *testing.T) {
	h := newHarness(t)
	h.mustRun("keys", "generate", "--out", "$DIR/vendor")
	h.mustRun("activation-request", "--data", "$DIR/data", "--out", "$DIR/req.json")
	raw := siteRaw()
	raw[fingerprint.Hostname] = "render-01"
	render1 := fakeHost(raw).Code
	raw[fingerprint.Hostname] = "render-02"
	render2 := fakeHost(raw).Code
	issue := []string{"issue", "--key", "$DIR/vendor/vendor.key", "--request", "$DIR/req.json", "--holder", "ACME",
		"--product", "codec:days=365"}

	out := h.mustRun(append(issue, "--out", "$DIR/site.lic",
		"--keyfile-host", render1, "--keyfile-host", render2, "--keyfile-validity", "72h")...)
	if !strings.Contains(out, "key files: 2 named hosts, valid 72h (3 days)") {
		t.Errorf("issue output lacks the policy:\n%s", out)
	}
	out = h.mustRun("license", "show", "$DIR/site.lic", "--vendor-pub", "$DIR/vendor/vendor.pub")
	for _, want := range []string{"key files:   2 named hosts, valid 72h (3 days)", "host:      " + render1, "host:      " + render2} {
		if !strings.Contains(out, want) {
			t.Errorf("license show lacks %q:\n%s", want, out)
		}
	}
	var view license.View
	if err := json.Unmarshal([]byte(h.mustRun("license", "show", "$DIR/site.lic", "--json")), &view); err != nil {
		t.Fatal(err)
	}
	if view.KeyFile == nil || len(view.KeyFile.Hosts) != 2 || view.KeyFile.ValidityHours != 72 {
		t.Errorf("license show --json keyFile = %+v", view.KeyFile)
	}

	// Without the flags the license has no policy, and show says nothing of it.
	h.mustRun(append(issue, "--out", "$DIR/plain.lic")...)
	if out := h.mustRun("license", "show", "$DIR/plain.lic"); strings.Contains(out, "key files") {
		t.Errorf("a license without a policy shows one:\n%s", out)
	}
	if out := h.mustRun("license", "show", "$DIR/plain.lic", "--json"); strings.Contains(out, "keyFile") {
		t.Errorf("a license without a policy shows one:\n%s", out)
	}

	// Only the validity: any host, for that long.
	out = h.mustRun(append(issue, "--out", "$DIR/week.lic", "--keyfile-validity", "36h")...)
	if !strings.Contains(out, "key files: any host with a renew certificate, valid 36h") {
		t.Errorf("issue output:\n%s", out)
	}

	tests := []struct {
		name  string
		flags []string
		say   string
	}{
		{"bad-host", []string{"--keyfile-host", "render-01"}, `--keyfile-host "render-01" is not a machine code`},
		{"host-twice", []string{"--keyfile-host", render1, "--keyfile-host", render1}, "given twice"},
		{"validity-not-hours", []string{"--keyfile-validity", "90m"}, "whole hours"},
		{"validity-too-short", []string{"--keyfile-validity", "0h30m"}, "whole hours"},
		{"validity-too-long", []string{"--keyfile-validity", "2161h"}, "2160h"},
		{"validity-negative", []string{"--keyfile-validity", "-24h"}, "whole hours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append(append([]string{}, issue...), "--out", "$DIR/bad.lic"), tt.flags...)
			if status := h.run(args...); status != ExitUsage {
				t.Fatalf("exit %d, want %d\nstderr: %s", status, ExitUsage, h.stderr)
			}
			if !strings.Contains(h.stderr.String(), tt.say) || !strings.Contains(h.stderr.String(), "code=604") {
				t.Fatalf("stderr lacks %q and code=604:\n%s", tt.say, h.stderr)
			}
			if _, err := os.Stat(filepath.Join(h.dir, "bad.lic")); err == nil {
				t.Fatal("a refused issue wrote a license")
			}
		})
	}
}
