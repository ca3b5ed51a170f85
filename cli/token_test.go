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
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/token"
)

func tokenThumb(t *testing.T, pub any) string {
	t.Helper()
	tp, err := token.Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// tokenLicense writes $DIR/token.lic: the harness's site license, bound
// to b as well (binding machine+token), signed by the vendor key.
func (h *harness) tokenLicense(b *license.TokenBinding) {
	h.t.Helper()
	h.setup()
	data, err := os.ReadFile(filepath.Join(h.dir, "site.lic"))
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := license.Parse(data)
	if err != nil {
		h.t.Fatal(err)
	}
	l, err := s.Unverified()
	if err != nil {
		h.t.Fatal(err)
	}
	l.ID, l.Token, l.Bind = "", b, license.BindMachineToken
	priv, err := keys.LoadPrivate(filepath.Join(h.dir, "vendor", "vendor.key"))
	if err != nil {
		h.t.Fatal(err)
	}
	file, err := license.Sign(l, priv)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "token.lic"), file, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// pinFile writes pin to $DIR/pin, mode 0600.
func (h *harness) pinFile(pin string) string {
	h.t.Helper()
	path := filepath.Join(h.dir, "pin")
	if err := os.WriteFile(path, []byte(pin+"\n"), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return path
}

func TestTokenList(t *testing.T) {
	tests := []struct {
		name   string
		tokens []string
	}{
		{"empty-slot", nil},
		{"one-token", []string{"alpha"}},
		{"two-tokens", []string{"alpha", "beta"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hsm := softhsmtest.New(t)
			h := newHarness(t)
			var serials, thumbs []string
			for _, l := range tt.tokens {
				tok := hsm.InitToken(l)
				serials = append(serials, tok.Serial)
				thumbs = append(thumbs, tokenThumb(t, hsm.GenerateECDSA(tok, "key-"+l, []byte{7})))
			}
			out := h.mustRun("token", "list", "--module", hsm.Module)
			want := []string{"module " + hsm.Module + ": SoftHSM", "a token that was never initialised"}
			for i, l := range tt.tokens {
				want = append(want, `token "`+l+`" serial `+serials[i], "flags: login required",
					`key ES256 label "key-`+l+`" id 07 thumbprint `+thumbs[i])
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("token list lacks %q:\n%s", w, out)
				}
			}

			out = h.mustRun("token", "list", "--module", hsm.Module, "--json")
			var got struct {
				Module token.ModuleInfo `json:"module"`
				Slots  []struct {
					Serial      string `json:"serial"`
					Initialized bool   `json:"initialized"`
					Keys        []struct {
						Thumbprint, Alg, ID, Label string
					} `json:"keys"`
				} `json:"slots"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			n := 0
			for _, s := range got.Slots {
				if s.Initialized {
					n++
					if len(s.Keys) != 1 || s.Keys[0].Alg != token.ES256 || s.Keys[0].ID != "07" {
						t.Errorf("slot %+v", s)
					}
				} else if s.Keys == nil {
					t.Errorf("slot %+v: keys is null, want []", s)
				}
			}
			if got.Module.Path != hsm.Module || n != len(tt.tokens) {
				t.Errorf("--json: %s", out)
			}
		})
	}
}

func TestTokenListFailures(t *testing.T) {
	h := newHarness(t)
	text := filepath.Join(h.dir, "not.so")
	os.WriteFile(text, []byte("text"), 0o644)
	tests := []struct {
		name   string
		args   []string
		status int
		say    string
	}{
		{"no-module-flag", nil, ExitUsage, "needs --module"},
		{"argument", []string{"--module", text, "extra"}, ExitUsage, "takes no arguments"},
		{"bad-timeout", []string{"--module", text, "--timeout", "0s"}, ExitUsage, "--timeout"},
		{"missing-module", []string{"--module", filepath.Join(h.dir, "none.so")}, ExitFailure, "code=901 token_module_unusable"},
		{"not-a-library", []string{"--module", text}, ExitFailure, "not an ELF file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := h.run(append([]string{"token", "list"}, tt.args...)...)
			if status != tt.status || !strings.Contains(h.stderr.String(), tt.say) {
				t.Fatalf("exit %d, want %d saying %q:\n%s", status, tt.status, tt.say, h.stderr)
			}
		})
	}
	if codes.HWModule != 901 {
		t.Fatal("the test names code 901")
	}
}

func TestTokenCheck(t *testing.T) {
	type setup struct {
		t      *testing.T
		hsm    *softhsmtest.HSM
		a, b   *softhsmtest.Token
		ka, kb string
		aPub   any
	}
	tests := []struct {
		name    string
		prepare func(s *setup) *license.TokenBinding
		pin     string // "" gives no PIN at all
		status  int
		say     []string
	}{
		{"right-token", func(s *setup) *license.TokenBinding {
			return &license.TokenBinding{Thumbprint: s.ka, Alg: license.TokenES256, Serial: s.a.Serial, Label: "sign"}
		}, softhsmtest.UserPIN, ExitOK, []string{"holds the license's key", "proof: token serial", "the token is present"}},
		{"two-tokens-one-right", func(s *setup) *license.TokenBinding {
			return &license.TokenBinding{Thumbprint: s.kb, Alg: license.TokenES256}
		}, softhsmtest.UserPIN, ExitOK, []string{"another token: its keys are {ka}", "proof:"}},
		{"no-pin", func(s *setup) *license.TokenBinding {
			return &license.TokenBinding{Thumbprint: s.ka, Alg: license.TokenES256}
		}, "", ExitFailure, []string{"code=903 token_pin_incorrect", "no PIN was given"}},
		{"wrong-pin", func(s *setup) *license.TokenBinding {
			return &license.TokenBinding{Thumbprint: s.ka, Alg: license.TokenES256}
		}, "99999", ExitFailure, []string{"code=903", "CKR_PIN_INCORRECT"}},
		{"another-token", func(s *setup) *license.TokenBinding {
			s.hsm.Unplug(s.b)
			return &license.TokenBinding{Thumbprint: s.kb, Alg: license.TokenES256}
		}, softhsmtest.UserPIN, ExitFailure, []string{"code=531 hardware_token_wrong", "{kb}", "{ka}"}},
		{"serial-differs", func(s *setup) *license.TokenBinding {
			return &license.TokenBinding{Thumbprint: s.ka, Alg: license.TokenES256, Serial: "0123456789abcdef"}
		}, softhsmtest.UserPIN, ExitFailure, []string{"code=531", "0123456789abcdef", "not the license's"}},
		{"no-token", func(s *setup) *license.TokenBinding {
			s.hsm.Unplug(s.a)
			s.hsm.Unplug(s.b)
			return &license.TokenBinding{Thumbprint: s.ka, Alg: license.TokenES256}
		}, softhsmtest.UserPIN, ExitFailure, []string{"code=902 token_not_present", "no token present"}},
		{"lying-token", func(s *setup) *license.TokenBinding {
			liar := s.hsm.InitToken("liar")
			claimed := s.hsm.GenerateECDSA(s.b, "claimed", []byte{9})
			s.hsm.Lie(liar, "claimed", []byte{9}, claimed)
			s.hsm.Unplug(s.b)
			return &license.TokenBinding{Thumbprint: tokenThumb(s.t, claimed), Alg: license.TokenES256}
		}, softhsmtest.UserPIN, ExitFailure, []string{"code=909 token_proof_failed", `token "liar"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hsm := softhsmtest.New(t)
			s := &setup{t: t, hsm: hsm, a: hsm.InitToken("alpha"), b: hsm.InitToken("beta")}
			s.aPub = hsm.GenerateECDSA(s.a, "sign", []byte{1})
			s.ka = tokenThumb(t, s.aPub)
			s.kb = tokenThumb(t, hsm.GenerateECDSA(s.b, "sign", []byte{2}))
			h := newHarness(t)
			h.tokenLicense(tt.prepare(s))
			args := []string{"token", "check", "--module", hsm.Module, "--license", "$DIR/token.lic", "--vendor-pub", "$DIR/vendor/vendor.pub"}
			if tt.pin != "" {
				args = append(args, "--pin-file", h.pinFile(tt.pin))
			}
			status := h.run(args...)
			out := h.stdout.String() + h.stderr.String()
			if status != tt.status {
				t.Fatalf("exit %d, want %d:\n%s", status, tt.status, out)
			}
			for _, w := range tt.say {
				w = strings.NewReplacer("{ka}", s.ka, "{kb}", s.kb).Replace(w)
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tt.pin != "" && strings.Contains(out, tt.pin) {
				t.Errorf("the output carries the PIN:\n%s", out)
			}
		})
	}
}

func TestTokenCheckJSONAndUsage(t *testing.T) {
	hsm := softhsmtest.New(t)
	a := hsm.InitToken("alpha")
	ka := tokenThumb(t, hsm.GenerateECDSA(a, "sign", []byte{1}))
	h := newHarness(t)
	h.tokenLicense(&license.TokenBinding{Thumbprint: ka, Alg: license.TokenES256})
	t.Setenv(token.PINEnv, softhsmtest.UserPIN)
	out := h.mustRun("token", "check", "--module", hsm.Module, "--license", "$DIR/token.lic", "--vendor-pub", "$DIR/vendor/vendor.pub", "--json")
	var got tokenCheckJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Binding != license.BindMachineToken || got.Proof == nil || got.Proof.Thumbprint != ka || got.Proof.Serial != a.Serial ||
		len(got.Tokens) != 1 || !got.Tokens[0].HoldsKey || got.Error != nil {
		t.Fatalf("--json: %s", out)
	}

	os.Unsetenv(token.PINEnv)
	if status := h.run("token", "check", "--module", hsm.Module, "--license", "$DIR/token.lic", "--vendor-pub", "$DIR/vendor/vendor.pub", "--json"); status != ExitFailure {
		t.Fatalf("no PIN, --json: exit %d", status)
	}
	var failed tokenCheckJSON
	if err := json.Unmarshal(h.stdout.Bytes(), &failed); err != nil || failed.Error == nil || failed.Error.Code != int(codes.HWPINIncorrect) || failed.Proof != nil {
		t.Fatalf("no PIN, --json: %v %s", err, h.stdout)
	}

	loose := filepath.Join(h.dir, "loose-pin")
	os.WriteFile(loose, []byte(softhsmtest.UserPIN), 0o644)
	tests := []struct {
		name   string
		args   []string
		status int
		say    string
	}{
		{"no-flags", nil, ExitUsage, "needs --module FILE, --license FILE and --vendor-pub FILE"},
		{"machine-license", []string{"--module", hsm.Module, "--license", "$DIR/site.lic", "--vendor-pub", "$DIR/vendor/vendor.pub"}, ExitUsage, "binds the machine alone"},
		{"pin-file-open-to-others", []string{"--module", hsm.Module, "--license", "$DIR/token.lic", "--vendor-pub", "$DIR/vendor/vendor.pub", "--pin-file", loose}, ExitFailure, "chmod 600"},
		{"wrong-vendor-key", []string{"--module", hsm.Module, "--license", "$DIR/token.lic", "--vendor-pub", "$DIR/data/server.pub"}, ExitFailure, "code=512"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := h.run(append([]string{"token", "check"}, tt.args...)...)
			if status != tt.status || !strings.Contains(h.stderr.String(), tt.say) {
				t.Fatalf("exit %d, want %d saying %q:\n%s%s", status, tt.status, tt.say, h.stdout, h.stderr)
			}
		})
	}
}
