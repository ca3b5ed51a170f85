//go:build cgo

package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/internal/softhsmtest"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/token"
)

// tokenLicense writes a license bound to b (nil: to the machine alone)
// and the vendor's public key, and returns their paths.
func tokenLicense(t *testing.T, b *license.TokenBinding) (lic, vendorPub string) {
	t.Helper()
	dir := t.TempDir()
	pub, priv, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	serverPub, _, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	host := sitetest.FakeHost("auth-01")
	l := &license.License{Holder: "ACME", Issuer: "Vendor", Issued: time.Now().Add(-time.Hour),
		Machines: []fingerprint.Machine{{Code: host.Code, Components: host.Hashes()}}, MatchMin: 4,
		ServerKey: keys.PublicJWK(serverPub), Products: []license.Product{sitetest.Product("ocr", 2, 0)}}
	if b != nil {
		l.Token, l.Bind = b, license.BindMachineToken
	}
	file, err := license.Sign(l, priv)
	if err != nil {
		t.Fatal(err)
	}
	lic, vendorPub = filepath.Join(dir, "site.lic"), filepath.Join(dir, "vendor.pub")
	if err := os.WriteFile(lic, file, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vendorPub, keys.MarshalPublic(pub), 0o644); err != nil {
		t.Fatal(err)
	}
	return lic, vendorPub
}

func writePIN(t *testing.T, pin string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(path, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHWTokenChecks(t *testing.T) {
	type env struct {
		t      *testing.T
		hsm    *softhsmtest.HSM
		a      *softhsmtest.Token
		ka, kb string
		o      HWTokenOptions
	}
	bind := func(e *env, thumb string) {
		e.o.LicenseFile, e.o.VendorPub = tokenLicense(e.t, &license.TokenBinding{Thumbprint: thumb, Alg: license.TokenES256})
	}
	type want struct {
		status Status
		code   codes.Code
		say    string
	}
	tests := []struct {
		name                    string
		prepare                 func(e *env)
		module, present, keyish want
	}{
		{"all-well", func(e *env) { bind(e, e.ka); e.o.PINFile = writePIN(e.t, e.a.PIN) },
			want{Pass, 0, "loads: SoftHSM"}, want{Pass, 0, "1 token(s): serial "}, want{Pass, 0, "signed a fresh challenge"}},
		{"no-pin", func(e *env) { bind(e, e.ka); os.Unsetenv(token.PINEnv) },
			want{Pass, 0, ""}, want{Pass, 0, ""}, want{Warn, 0, "not signed: no PIN given"}},
		{"pin-from-environment", func(e *env) { bind(e, e.ka); e.t.Setenv(token.PINEnv, e.a.PIN) },
			want{Pass, 0, ""}, want{Pass, 0, ""}, want{Pass, 0, "signed"}},
		{"no-license", nil,
			want{Pass, 0, ""}, want{Pass, 0, ""}, want{Skip, 0, "give --license and --vendor-pub"}},
		{"machine-license", func(e *env) { e.o.LicenseFile, e.o.VendorPub = tokenLicense(e.t, nil) },
			want{Pass, 0, ""}, want{Pass, 0, ""}, want{Skip, 0, "binds the machine alone"}},
		{"wrong-pin", func(e *env) { bind(e, e.ka); e.o.PINFile = writePIN(e.t, "not-the-pin") },
			want{Pass, 0, ""}, want{Pass, 0, ""}, want{Fail, codes.HWPINIncorrect, "CKR_PIN_INCORRECT"}},
		{"locked", func(e *env) { bind(e, e.ka); e.o.PINFile = writePIN(e.t, e.a.PIN); e.hsm.Lock(e.a) },
			want{Pass, 0, ""}, want{Pass, 0, ""}, want{Fail, codes.HWPINLocked, "locked"}},
		{"another-token", func(e *env) { bind(e, e.kb); e.o.PINFile = writePIN(e.t, e.a.PIN) },
			want{Pass, 0, ""}, want{Pass, 0, ""}, want{Fail, codes.HWTokenWrong, "no token present holds it"}},
		{"no-token", func(e *env) { bind(e, e.ka); e.hsm.Unplug(e.a) },
			want{Pass, 0, ""}, want{Fail, codes.HWNoToken, "no initialised token"}, want{Skip, 0, "skipped: token-present failed"}},
		{"module-missing", func(e *env) { bind(e, e.ka); e.o.Module = filepath.Join(e.t.TempDir(), "vendor-pkcs11.so") },
			want{Fail, codes.HWModule, "no such file"}, want{Skip, 0, "skipped: token-module failed"}, want{Skip, 0, "skipped: token-module failed"}},
		{"module-hangs", func(e *env) { e.o.Module, e.o.Timeout = e.hsm.CopyModule(), 50*time.Millisecond; e.hsm.Hang() },
			want{Fail, codes.HWTimeout, "did not return from C_Initialize"}, want{Skip, 0, ""}, want{Skip, 0, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hsm := softhsmtest.New(t)
			e := &env{t: t, hsm: hsm, a: hsm.InitToken("alpha")}
			e.ka = thumbOf(t, hsm.GenerateECDSA(e.a, "sign", []byte{1}))
			other := hsm.InitToken("other")
			e.kb = thumbOf(t, hsm.GenerateECDSA(other, "sign", []byte{1}))
			hsm.Unplug(other) // out before the module reads its slots
			e.o = HWTokenOptions{Module: hsm.Module, Timeout: 10 * time.Second}
			if tt.prepare != nil {
				tt.prepare(e)
			}
			rs := DiagnoseHWTokens(context.Background(), e.o)
			if len(rs) != 3 {
				t.Fatalf("%d results: %+v", len(rs), rs)
			}
			for i, w := range []want{tt.module, tt.present, tt.keyish} {
				r := rs[i]
				if r.Name != HWTokenCheckNames[i] || r.Status != w.status || r.Code != int(w.code) || !strings.Contains(r.Found, w.say) {
					t.Errorf("%s: %s code %d %q\nwant %s code %d saying %q", r.Name, r.Status, r.Code, r.Found, w.status, w.code, w.say)
				}
				if r.Status == Fail && r.Fix == "" {
					t.Errorf("%s failed with no fix", r.Name)
				}
			}
		})
	}
}

func thumbOf(t *testing.T, pub any) string {
	t.Helper()
	tp, err := token.Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}
