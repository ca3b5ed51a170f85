//go:build cgo

package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/softhsmtest"
	"github.com/licensor/licensor/license"
)

// TestReviewActivationRequestTwoTokens: with two tokens holding a key of
// the label asked for, activation-request does not bind one of them at
// random: it asks for --token-serial, and binds the token it names.
func TestReviewActivationRequestTwoTokens(t *testing.T) {
	hsm := softhsmtest.New(t)
	a, b := hsm.InitToken("alpha"), hsm.InitToken("beta")
	hsm.GenerateECDSA(a, "licensor", []byte{1})
	kb := tokenThumb(t, hsm.GenerateECDSA(b, "licensor", []byte{2}))
	h := newHarness(t)
	status := h.run("activation-request", "--data", "$DIR/data", "--token-module", hsm.Module, "--token-label", "licensor", "--out", "$DIR/req.json")
	if status == ExitOK || !strings.Contains(h.stderr.String(), a.Serial) || !strings.Contains(h.stderr.String(), b.Serial) ||
		!strings.Contains(h.stderr.String(), "--token-serial") {
		t.Fatalf("two tokens hold the key label: exit %d\n%s%s", status, h.stdout, h.stderr)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "req.json")); err == nil {
		t.Fatal("a request was written")
	}
	h.mustRun("activation-request", "--data", "$DIR/data", "--token-module", hsm.Module, "--token-label", "licensor", "--token-serial", b.Serial, "--out", "$DIR/req.json")
	var req license.Request
	if data, err := os.ReadFile(filepath.Join(h.dir, "req.json")); err != nil || json.Unmarshal(data, &req) != nil || req.Token == nil ||
		req.Token.Serial != b.Serial || req.Token.Thumbprint != kb {
		t.Fatalf("activation request with --token-serial: %v %+v", err, req.Token)
	}
}

// TestReviewTokenPINNotInOutput: token check and doctor, text and JSON,
// with the right PIN and a wrong one, never print either.
func TestReviewTokenPINNotInOutput(t *testing.T) {
	const wrong = "wrong-PIN-8812"
	hsm := softhsmtest.New(t)
	a := hsm.InitToken("alpha")
	ka := tokenThumb(t, hsm.GenerateECDSA(a, "sign", []byte{1}))
	h := newHarness(t)
	h.tokenLicense(&license.TokenBinding{Thumbprint: ka, Alg: license.TokenES256, Serial: a.Serial})
	for _, pin := range []string{softhsmtest.UserPIN, wrong} {
		for _, json := range []bool{false, true} {
			for _, cmd := range [][]string{
				{"token", "check", "--module", hsm.Module, "--license", "$DIR/token.lic", "--vendor-pub", "$DIR/vendor/vendor.pub"},
				{"doctor", "--only", "token-key", "--token-module", hsm.Module, "--license", "$DIR/token.lic", "--vendor-pub", "$DIR/vendor/vendor.pub"},
			} {
				args := append(cmd, "--pin-file", h.pinFile(pin))
				if json {
					args = append(args, "--json")
				}
				status := h.run(args...)
				out := h.stdout.String() + h.stderr.String()
				if want := pin == softhsmtest.UserPIN; (status == ExitOK) != want {
					t.Errorf("%s with PIN ok=%v: exit %d\n%s", cmd[:2], want, status, out)
				}
				if pin == wrong && !strings.Contains(out, tag(codes.HWPINIncorrect)) && !strings.Contains(out, `"code": 903`) && !strings.Contains(out, `"code":903`) {
					t.Errorf("%s --json=%v with a wrong PIN does not say 903:\n%s", cmd[:2], json, out)
				}
				for _, p := range []string{softhsmtest.UserPIN, wrong} {
					if strings.Contains(out, p) {
						t.Errorf("%s --json=%v prints the PIN %q:\n%s", cmd[:2], json, p, out)
					}
				}
			}
		}
	}
}
