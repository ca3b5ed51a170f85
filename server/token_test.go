//go:build cgo

package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/softhsmtest"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/token"
)

// tokenSite is a site whose license binds a SoftHSM token's key.
type tokenSite struct {
	*site
	hsm   *softhsmtest.HSM
	tok   *softhsmtest.Token
	thumb string
}

func newTokenSite(t *testing.T, bind string) *tokenSite {
	t.Helper()
	hsm := softhsmtest.New(t)
	tok := hsm.InitToken("site-token")
	thumb, err := token.Thumbprint(hsm.GenerateECDSA(tok, "licensor", []byte{1}))
	if err != nil {
		t.Fatal(err)
	}
	s := &tokenSite{site: newSite(t), hsm: hsm, tok: tok, thumb: thumb}
	s.writeTokenLicense(bind, &license.TokenBinding{Thumbprint: thumb, Alg: license.TokenES256, Label: "licensor", Serial: tok.Serial})
	pin := filepath.Join(s.dir, "token.pin")
	if err := os.WriteFile(pin, []byte(softhsmtest.UserPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cfg.TokenModule, s.cfg.TokenPINFile = hsm.Module, pin
	s.cfg.TokenTimeout = Duration(2 * time.Second)
	return s
}

// writeTokenLicense writes the site's license bound as bind to tb.
func (s *site) writeTokenLicense(bind string, tb *license.TokenBinding) {
	s.t.Helper()
	l := &license.License{Holder: "ACME", Issuer: "Vendor", Issued: t0.Add(-time.Hour),
		Machines: []fingerprint.Machine{{Code: s.host.Code, Components: s.host.Hashes()}}, MatchMin: 4,
		ServerKey: keys.PublicJWK(s.serverPub), Bind: bind, Token: tb,
		Products: []license.Product{{Subject: "ocr", InstanceSize: 3, NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(0, 1, 0)}}}
	file, err := license.Sign(l, s.vendorPriv)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "site.lic"), file, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (r *running) tokenEvents(t *testing.T) []store.Event {
	t.Helper()
	var out []store.Event
	if err := r.store.Audit(context.Background(), 0, func(e store.Event) error {
		if e.Kind == store.KindToken {
			out = append(out, e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func metricsText(t *testing.T, r *running, c *http.Client) string {
	t.Helper()
	resp, err := c.Get(r.url + api.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestTokenPulledAndBack: a token-bound server serves while its token is
// present, keeps serving for token_grace once it is pulled, then refuses
// grants and renewals with 530 (in the answer, /readyz, the metrics, the
// log and the audit log), and resumes without a restart when the token
// is back; the pool is untouched throughout.
func TestTokenPulledAndBack(t *testing.T) {
	s := newTokenSite(t, license.BindMachineToken)
	s.cfg.LeaseTTL = Duration(10 * time.Minute) // the seats outlive the grace
	r := s.start()
	app, ops := s.client("app1"), s.client("ops")
	ctx := context.Background()
	if a := r.authorize(t, app, "ocr", "i-1"); a.status != 200 {
		t.Fatalf("authorize with the token present: %d %s", a.status, a.body)
	}
	var view license.View
	call(t, ops, "GET", r.url+api.PathLicense, nil).decode(t, &view)
	if view.SecurityType != license.BindMachineToken || view.Token == nil || view.Token.Thumbprint != s.thumb || view.DogCount == nil || *view.DogCount != 1 {
		t.Fatalf("/security/license: securityType %q token %+v dogCount %v", view.SecurityType, view.Token, view.DogCount)
	}
	if c := tokenHealth(t, r, ops); c.Status != "pass" || !strings.Contains(c.Found, s.tok.Serial) {
		t.Fatalf("console health with the token present: %+v", c)
	}
	if m := metricsText(t, r, ops); !strings.Contains(m, "licensor_token_present 1") {
		t.Fatalf("metrics with the token present:\n%s", grepLines(m, "licensor_token"))
	}

	s.hsm.Unplug(s.tok)
	if err := r.CheckToken(ctx); err == nil {
		t.Fatal("CheckToken with the token unplugged = nil")
	}
	// Within the grace: still granting, and saying when it stops.
	if a := r.authorize(t, app, "ocr", "i-2"); a.status != 200 {
		t.Fatalf("authorize within token_grace: %d %s", a.status, a.body)
	}
	var ready struct {
		Token tokenStatus `json:"token"`
	}
	call(t, ops, "GET", r.url+api.PathReady, nil).decode(t, &ready)
	if ready.Token.Present || ready.Token.RefuseAt.IsZero() || ready.Token.Refusing {
		t.Fatalf("/readyz within the grace: %+v", ready.Token)
	}
	if c := tokenHealth(t, r, ops); c.Status != "warn" || !strings.Contains(c.Found, "grants go on until") {
		t.Fatalf("console health within the grace: %+v", c)
	}

	s.clock.Advance(time.Duration(s.cfg.TokenGrace) + time.Second)
	r.CheckToken(ctx)
	for _, tt := range []struct{ name, path, id string }{
		{"authorize", api.PathAuthorize, "i-3"},
		{"heartbeat", api.PathHeartbeat, "i-1"},
	} {
		a := call(t, app, "POST", r.url+tt.path, api.InstanceRequest{Product: "ocr", InstanceID: tt.id, Nonce: "n"})
		if a.code() != int(codes.HWTokenMissing) || a.status != http.StatusServiceUnavailable {
			t.Fatalf("%s past the grace: %d %s, want 530", tt.name, a.status, a.body)
		}
	}
	if a := call(t, ops, "GET", r.url+api.PathReady, nil); a.code() != int(codes.HWTokenMissing) {
		t.Fatalf("/readyz past the grace: %d %s", a.status, a.body)
	}
	if m := metricsText(t, r, ops); !strings.Contains(m, "licensor_token_present 0") || !strings.Contains(m, "licensor_token_refusing 1") {
		t.Fatalf("metrics past the grace:\n%s", grepLines(m, "licensor_token"))
	}
	if c := tokenHealth(t, r, ops); c.Status != "fail" || c.Code != int(codes.HWTokenMissing) {
		t.Fatalf("console health past the grace: %+v", c)
	}
	if held, _ := r.Held(ctx); held["ocr"] != 2 {
		t.Fatalf("held while refusing = %v, want the 2 seats granted before", held)
	}

	s.hsm.Replug(s.tok)
	if err := r.CheckToken(ctx); err != nil {
		t.Fatalf("CheckToken with the token back: %v", err)
	}
	if a := r.authorize(t, app, "ocr", "i-3"); a.status != 200 {
		t.Fatalf("authorize with the token back: %d %s", a.status, a.body)
	}
	if a := call(t, app, "POST", r.url+api.PathHeartbeat, api.InstanceRequest{Product: "ocr", InstanceID: "i-1", Nonce: "n"}); a.status != 200 {
		t.Fatalf("heartbeat with the token back: %d %s", a.status, a.body)
	}
	ev := r.tokenEvents(t)
	if len(ev) != 3 || ev[0].Code == 0 || ev[1].Code != int(codes.HWTokenMissing) || ev[2].Code != 0 ||
		!strings.Contains(ev[1].Detail, "granting stopped") || !strings.Contains(ev[2].Detail, "present again") {
		t.Fatalf("token audit events = %+v", ev)
	}
	logs := s.logs.String()
	for _, want := range []string{"event=absent", "event=refusing", "code=530", "event=present"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	if strings.Contains(logs, softhsmtest.UserPIN+"\n") || strings.Contains(logs, "pin="+softhsmtest.UserPIN) {
		t.Error("the log holds the PIN")
	}
}

// TestTokenWrong: another token, with another key, in place of the
// license's is its own code, 531.
func TestTokenWrong(t *testing.T) {
	s := newTokenSite(t, license.BindToken)
	other := s.hsm.InitToken("other-token")
	s.hsm.GenerateECDSA(other, "licensor", []byte{1})
	r := s.start()
	s.hsm.Unplug(s.tok)
	s.clock.Advance(time.Duration(s.cfg.TokenGrace) + time.Second)
	err := r.CheckToken(context.Background())
	if codes.Of(err) != codes.HWTokenWrong || !strings.Contains(err.Error(), other.Serial) {
		t.Fatalf("CheckToken with another token = %v", err)
	}
	a := r.authorize(t, s.client("app1"), "ocr", "i-1")
	if a.code() != int(codes.HWTokenWrong) {
		t.Fatalf("authorize with another token: %d %s", a.status, a.body)
	}
}

// TestTokenSerialBound: a license that binds the serial refuses a copy of
// the key under another serial.
func TestTokenSerialBound(t *testing.T) {
	s := newTokenSite(t, license.BindMachineToken)
	s.writeTokenLicense(license.BindMachineToken, &license.TokenBinding{Thumbprint: s.thumb, Alg: license.TokenES256, Serial: "0000000000000000"})
	_, err := New(s.cfg, s.options())
	if codes.Of(err) != codes.HWTokenWrong {
		t.Fatalf("New with the key under another serial = %v", err)
	}
}

// TestTokenStart: a server whose license binds a token does not start
// without it, nor with a module that is not one, nor without a module;
// a token-only license runs on another machine.
func TestTokenStart(t *testing.T) {
	t.Run("no module configured", func(t *testing.T) {
		s := newTokenSite(t, license.BindMachineToken)
		s.cfg.TokenModule = ""
		if _, err := New(s.cfg, s.options()); codes.Of(err) != codes.ConfigInvalid || !strings.Contains(err.Error(), "token_module") {
			t.Fatalf("New = %v", err)
		}
	})
	t.Run("missing module", func(t *testing.T) {
		s := newTokenSite(t, license.BindMachineToken)
		s.cfg.TokenModule = filepath.Join(s.dir, "nope.so")
		if _, err := New(s.cfg, s.options()); codes.Of(err) != codes.HWModule {
			t.Fatalf("New = %v", err)
		}
	})
	t.Run("token unplugged", func(t *testing.T) {
		s := newTokenSite(t, license.BindMachineToken)
		s.hsm.Unplug(s.tok)
		_, err := New(s.cfg, s.options())
		if c := codes.Of(err); c != codes.HWNoToken && c != codes.HWKeyMissing {
			t.Fatalf("New = %v", err)
		}
	})
	t.Run("wrong PIN", func(t *testing.T) {
		s := newTokenSite(t, license.BindMachineToken)
		os.WriteFile(s.cfg.TokenPINFile, []byte("9999"), 0o600)
		_, err := New(s.cfg, s.options())
		if codes.Of(err) != codes.HWPINIncorrect || strings.Contains(err.Error(), "9999") {
			t.Fatalf("New = %v", err)
		}
	})
	t.Run("token binding alone, another machine", func(t *testing.T) {
		s := newTokenSite(t, license.BindToken)
		s.host = fakeHost("elsewhere")
		r := s.start()
		if a := r.authorize(t, s.client("app1"), "ocr", "i-1"); a.status != 200 {
			t.Fatalf("authorize: %d %s", a.status, a.body)
		}
	})
	t.Run("machine and token, another machine", func(t *testing.T) {
		s := newTokenSite(t, license.BindMachineToken)
		s.host = fakeHost("elsewhere")
		if _, err := New(s.cfg, s.options()); codes.Of(err) != codes.Fingerprint {
			t.Fatalf("New = %v", err)
		}
	})
}

// TestTokenLies: a token whose public key object is the license's key
// while its private key is another fails the proof.
func TestTokenLies(t *testing.T) {
	hsm := softhsmtest.New(t)
	genuine := hsm.InitToken("genuine")
	pub := hsm.GenerateECDSA(genuine, "licensor", []byte{1})
	thumb, _ := token.Thumbprint(pub)
	fake := hsm.InitToken("fake")
	hsm.Lie(fake, "licensor", []byte{1}, pub)
	hsm.Unplug(genuine)
	s := &tokenSite{site: newSite(t), hsm: hsm, tok: fake, thumb: thumb}
	s.writeTokenLicense(license.BindMachineToken, &license.TokenBinding{Thumbprint: thumb, Alg: license.TokenES256})
	pin := filepath.Join(s.dir, "token.pin")
	os.WriteFile(pin, []byte(softhsmtest.UserPIN), 0o600)
	s.cfg.TokenModule, s.cfg.TokenPINFile = hsm.Module, pin
	if _, err := New(s.cfg, s.options()); codes.Of(err) != codes.HWProofFailed {
		t.Fatalf("New with a lying token = %v", err)
	}
}

// TestTokenHangs: a module that stops answering fails the check at
// token_timeout, and the server answers meanwhile.
func TestTokenHangs(t *testing.T) {
	s := newTokenSite(t, license.BindMachineToken)
	s.cfg.TokenTimeout = Duration(300 * time.Millisecond)
	r := s.start()
	app := s.client("app1")
	release := s.hsm.Hang()
	s.hsm.Unplug(s.tok) // the next proof re-initialises the module, which hangs
	done := make(chan error, 1)
	go func() { done <- r.CheckToken(context.Background()) }()
	if a := r.authorize(t, app, "ocr", "i-1"); a.status != 200 {
		t.Fatalf("authorize while the module hangs: %d %s", a.status, a.body)
	}
	if err := <-done; codes.Of(err) != codes.HWTimeout {
		t.Fatalf("CheckToken with a hanging module = %v", err)
	}
	release()
	s.hsm.Replug(s.tok)
}

// TestTokenReload: a reload to a token-bound license on a server started
// without a module is refused, and the license in force stays.
func TestTokenReload(t *testing.T) {
	s := newSite(t)
	r := s.start()
	before := r.lic.Load().license.ID
	s.writeTokenLicense(license.BindMachineToken, &license.TokenBinding{Thumbprint: strings.Repeat("A", 43), Alg: license.TokenES256})
	err := r.Reload(context.Background())
	if codes.Of(err) != codes.ConfigInvalid || !strings.Contains(err.Error(), "token_module") {
		t.Fatalf("Reload = %v", err)
	}
	if r.lic.Load().license.ID != before {
		t.Fatal("the refused license is in force")
	}
}

// tokenHealth is the console's hardware-token check.
func tokenHealth(t *testing.T, r *running, ops *http.Client) HealthCheck {
	t.Helper()
	var h ConsoleHealth
	call(t, ops, "GET", r.url+PathConsoleHealth, nil).decode(t, &h)
	for _, c := range h.Checks {
		if c.Name == "hardware-token" {
			return c
		}
	}
	t.Fatalf("the console's health has no hardware-token check: %+v", h.Checks)
	return HealthCheck{}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestTokenRefusedLeasesLapse: while grants are refused for a missing
// token, the reaper goes on: a lease past its expiry lapses and is
// audited, and the time high-water mark still moves.
func TestTokenRefusedLeasesLapse(t *testing.T) {
	s := newTokenSite(t, license.BindMachineToken)
	r := s.start()
	ctx := context.Background()
	if a := r.authorize(t, s.client("app1"), "ocr", "i-1"); a.status != 200 {
		t.Fatalf("authorize: %d %s", a.status, a.body)
	}
	s.hsm.Unplug(s.tok)
	s.clock.Advance(time.Duration(s.cfg.TokenGrace) + time.Second) // past the grace and the lease's 90s
	r.CheckToken(ctx)
	if r.tokenRefusal.Load() == nil {
		t.Fatal("not refusing past the grace")
	}
	r.reap(ctx)
	if held, _ := r.Held(ctx); held["ocr"] != 0 {
		t.Fatalf("held after the lease's expiry while refusing = %v, want it lapsed", held)
	}
	var lapsed bool
	r.store.Audit(ctx, 0, func(e store.Event) error {
		lapsed = lapsed || e.Kind == store.KindExpire && e.InstanceID == "i-1"
		return nil
	})
	if !lapsed {
		t.Fatal("no expire event while refusing")
	}
	if got := time.Unix(0, r.high.Load()); got.Before(s.clock.Now()) {
		t.Fatalf("the high-water mark %s stayed behind the clock %s", got, s.clock.Now())
	}
}

// TestTokenDogCount: dogCount counts every token plugged in that holds
// the license's key: two tokens with one key (a spare dongle) are 2.
func TestTokenDogCount(t *testing.T) {
	hsm := softhsmtest.New(t)
	a, b := hsm.InitToken("first"), hsm.InitToken("spare")
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hsm.Import(a, "licensor", []byte{1}, priv)
	hsm.Import(b, "licensor", []byte{1}, priv)
	thumb, _ := token.Thumbprint(&priv.PublicKey)
	s := &tokenSite{site: newSite(t), hsm: hsm, tok: a, thumb: thumb}
	s.writeTokenLicense(license.BindToken, &license.TokenBinding{Thumbprint: thumb, Alg: license.TokenES256})
	pin := filepath.Join(s.dir, "token.pin")
	os.WriteFile(pin, []byte(softhsmtest.UserPIN), 0o600)
	s.cfg.TokenModule, s.cfg.TokenPINFile = hsm.Module, pin
	r := s.start()
	ops := s.client("ops")
	count := func() int {
		t.Helper()
		var v license.View
		call(t, ops, "GET", r.url+api.PathLicense, nil).decode(t, &v)
		if v.DogCount == nil {
			t.Fatal("no dogCount")
		}
		return *v.DogCount
	}
	if n := count(); n != 2 {
		t.Fatalf("dogCount with two tokens holding the key = %d, want 2", n)
	}
	hsm.Unplug(b)
	if err := r.CheckToken(context.Background()); err != nil {
		t.Fatalf("CheckToken with one token left: %v", err)
	}
	if n := count(); n != 1 {
		t.Fatalf("dogCount with one token left = %d, want 1", n)
	}
	if m := metricsText(t, r, ops); !strings.Contains(m, "licensor_token_present 1") {
		t.Fatalf("metrics:\n%s", grepLines(m, "licensor_token"))
	}
}
