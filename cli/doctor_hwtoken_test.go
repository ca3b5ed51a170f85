//go:build cgo

package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/softhsmtest"
	"github.com/licensor/licensor/license"
)

func TestDoctorHWToken(t *testing.T) {
	tests := []struct {
		name    string
		args    func(h *harness, hsm *softhsmtest.HSM) []string
		unplug  bool
		status  int
		say     []string
		notSaid []string
	}{
		{"healthy", func(h *harness, hsm *softhsmtest.HSM) []string {
			return []string{"--license", "$DIR/token.lic", "--vendor-pub", "$DIR/vendor/vendor.pub", "--pin-file", h.pinFile(softhsmtest.UserPIN)}
		}, false, ExitOK, []string{"pass  license", "pass  token-module", "pass  token-present", "pass  token-key", "signed a fresh challenge"}, []string{"FAIL"}},
		{"no-pin", func(h *harness, hsm *softhsmtest.HSM) []string {
			return []string{"--license", "$DIR/token.lic", "--vendor-pub", "$DIR/vendor/vendor.pub"}
		}, false, ExitOK, []string{"warn  token-key", "not signed: no PIN given", "fix: Give the token's user PIN with --pin-file"}, nil},
		{"token-pulled", func(h *harness, hsm *softhsmtest.HSM) []string {
			return []string{"--license", "$DIR/token.lic", "--vendor-pub", "$DIR/vendor/vendor.pub", "--pin-file", h.pinFile(softhsmtest.UserPIN)}
		}, true, ExitFailure, []string{"FAIL  token-present       code=902 token_not_present", "udev rules", "skip  token-key", "skipped: token-present failed"}, nil},
		{"module-path-wrong", func(h *harness, hsm *softhsmtest.HSM) []string {
			return []string{"--token-module", filepath.Join(h.dir, "pkcs11.so")}
		}, false, ExitFailure, []string{"FAIL  token-module        code=901", "no such file", "skipped: token-module failed"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hsm := softhsmtest.New(t)
			a := hsm.InitToken("alpha")
			ka := tokenThumb(t, hsm.GenerateECDSA(a, "sign", []byte{1}))
			h := newHarness(t)
			h.tokenLicense(&license.TokenBinding{Thumbprint: ka, Alg: license.TokenES256, Serial: a.Serial})
			if tt.unplug {
				hsm.Unplug(a)
			}
			args := append([]string{"doctor", "--product", "ocr", "--token-module", hsm.Module}, tt.args(h, hsm)...)
			status := h.run(args...)
			out := h.stdout.String() + h.stderr.String()
			if status != tt.status {
				t.Fatalf("exit %d, want %d:\n%s", status, tt.status, out)
			}
			for _, w := range tt.say {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notSaid {
				if strings.Contains(out, w) {
					t.Errorf("output says %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestDoctorHWTokenJSONAndUsage(t *testing.T) {
	hsm := softhsmtest.New(t)
	hsm.InitToken("alpha")
	h := newHarness(t)
	if status := h.run("doctor", "--token-module", hsm.Module, "--only", "token-present", "--json"); status != ExitOK {
		t.Fatalf("exit %d:\n%s%s", status, h.stdout, h.stderr)
	}
	var rep struct {
		Checks []struct {
			Name, Status string
			Code         int
		} `json:"checks"`
		OK bool `json:"ok"`
	}
	if err := json.Unmarshal(h.stdout.Bytes(), &rep); err != nil || len(rep.Checks) != 1 || rep.Checks[0].Name != "token-present" || rep.Checks[0].Status != "pass" || !rep.OK {
		t.Fatalf("--only token-present --json: %v\n%s", err, h.stdout)
	}
	for _, tt := range []struct {
		args []string
		say  string
	}{
		{[]string{"doctor", "--log", "$DIR/log", "--pin-file", "$DIR/pin"}, "--pin-file is for the token checks"},
		{[]string{"doctor", "--token-module", hsm.Module, "--token-timeout", "-1s"}, "--token-timeout"},
	} {
		if status := h.run(tt.args...); status != ExitUsage || !strings.Contains(h.stderr.String(), tt.say) {
			t.Errorf("%v: exit %d:\n%s", tt.args, status, h.stderr)
		}
	}
	if status := h.run("doctor", "--token-module", filepath.Join(h.dir, "none.so"), "--json"); status != ExitFailure {
		t.Fatalf("a missing module: exit %d", status)
	}
	if err := json.Unmarshal(h.stdout.Bytes(), &rep); err != nil || rep.OK || rep.Checks[0].Code != int(codes.HWModule) {
		t.Fatalf("a missing module, --json: %v\n%s", err, h.stdout)
	}
}
