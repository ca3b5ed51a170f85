//go:build cgo

package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/softhsmtest"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/token"
	"github.com/miekg/pkcs11"
)

// waitModuleAnswers waits, after a hang was released, until the module
// at path answers again: the hung call has returned and whatever it
// owed (a C_Finalize) is done, so that the next test finds the module as
// it expects.
func waitModuleAnswers(t *testing.T, path string) {
	t.Helper()
	for i := 0; ; i++ {
		m, err := token.Open(context.Background(), path, 5*time.Second)
		if err == nil {
			m.Close()
			return
		}
		if codes.Of(err) != codes.HWTimeout || i > 10000 {
			t.Fatalf("the module after its hang was released: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitChecking waits until a token check holds the guard: it has read
// the license in force and is proving the token.
func waitChecking(r *running) {
	g := r.token
	for g.check.TryLock() {
		g.check.Unlock()
		time.Sleep(time.Millisecond)
	}
}

func (s *tokenSite) ocr() license.Product {
	return license.Product{Subject: "ocr", InstanceSize: 3, NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(0, 1, 0)}
}

// TestReviewTokenCheckRacingReload: a token check of the license in
// force that ends after a reload put a license that binds no token in
// force does not make the server refuse under the new license.
func TestReviewTokenCheckRacingReload(t *testing.T) {
	s := newTokenSite(t, license.BindMachineToken)
	s.cfg.TokenTimeout = Duration(time.Second)
	r := s.start()
	ctx := context.Background()
	s.clock.Advance(time.Duration(s.cfg.TokenGrace) + time.Second) // a failing check now refuses
	release := s.hsm.Hang()
	s.hsm.Unplug(s.tok) // the next proof re-initialises the module, which hangs
	done := make(chan error, 1)
	go func() { done <- r.CheckToken(ctx) }()
	waitChecking(r)

	s.writeLicense(s.serverPub, s.ocr()) // the vendor's new license binds the machine alone
	if err := r.Reload(ctx); err != nil {
		t.Fatalf("Reload to a license that binds no token: %v", err)
	}
	if err := <-done; codes.Of(err) != codes.HWTimeout {
		t.Fatalf("the check racing the reload = %v", err)
	}
	release()
	waitModuleAnswers(t, s.hsm.Module)
	s.hsm.Replug(s.tok)

	if r.lic.Load().license.BindsToken() {
		t.Fatal("the reloaded license is not in force")
	}
	if a := r.authorize(t, s.client("app1"), "ocr", "i-1"); a.status != 200 {
		t.Fatalf("authorize under the reloaded license, which binds no token: %d %s", a.status, a.body)
	}
}

// TestReviewTokenRefusalCodeChange: the refusal's code follows the token
// present (530 none, 531 another), each change is logged and audited
// once, repeated checks add nothing, and the right token lifts it.
func TestReviewTokenRefusalCodeChange(t *testing.T) {
	s := newTokenSite(t, license.BindToken)
	other := s.hsm.InitToken("other-token")
	s.hsm.GenerateECDSA(other, "licensor", []byte{1})
	s.hsm.Unplug(other)
	r := s.start()
	app := s.client("app1")
	ctx := context.Background()
	refusedWith := func(want codes.Code) {
		t.Helper()
		if a := r.authorize(t, app, "ocr", "i-x"); a.code() != int(want) {
			t.Fatalf("authorize: %d %s, want code %d", a.status, a.body, int(want))
		}
	}

	s.hsm.Unplug(s.tok)
	r.CheckToken(ctx)
	s.clock.Advance(time.Duration(s.cfg.TokenGrace) + time.Second)
	for range 3 {
		if err := r.CheckToken(ctx); err == nil {
			t.Fatal("CheckToken with no token = nil")
		}
	}
	refusedWith(codes.HWTokenMissing)
	s.hsm.Replug(other)
	for range 3 {
		if err := r.CheckToken(ctx); codes.Of(err) != codes.HWTokenWrong {
			t.Fatalf("CheckToken with another token = %v", err)
		}
	}
	refusedWith(codes.HWTokenWrong)
	s.hsm.Swap(other, s.tok)
	if err := r.CheckToken(ctx); err != nil {
		t.Fatalf("CheckToken with the token back: %v", err)
	}
	if a := r.authorize(t, app, "ocr", "i-x"); a.status != 200 {
		t.Fatalf("authorize with the token back: %d %s", a.status, a.body)
	}

	ev := r.tokenEvents(t)
	var got []int
	for _, e := range ev {
		got = append(got, e.Code)
	}
	if len(ev) != 4 || ev[0].Code == 0 || ev[1].Code != int(codes.HWTokenMissing) || ev[2].Code != int(codes.HWTokenWrong) || ev[3].Code != 0 ||
		!strings.Contains(ev[2].Detail, other.Serial) {
		t.Fatalf("token audit codes = %v, want [absent 530 531 0]; events %+v", got, ev)
	}
	if n := strings.Count(s.logs.String(), "event=refusing"); n != 2 {
		t.Errorf("%d refusing lines in the log, want 2 (530, then 531)", n)
	}
}

// TestReviewTokenGrace: the server grants for token_grace after the last
// good proof and not a nanosecond more; token_grace 0 refuses at the
// first failed check, audited once.
func TestReviewTokenGrace(t *testing.T) {
	t.Run("boundary", func(t *testing.T) {
		s := newTokenSite(t, license.BindMachineToken)
		r := s.start()
		app := s.client("app1")
		s.hsm.Unplug(s.tok)
		s.clock.Advance(time.Duration(s.cfg.TokenGrace) - time.Nanosecond)
		r.CheckToken(context.Background())
		if a := r.authorize(t, app, "ocr", "i-1"); a.status != 200 {
			t.Fatalf("authorize a nanosecond before token_grace ends: %d %s", a.status, a.body)
		}
		s.clock.Advance(time.Nanosecond)
		r.CheckToken(context.Background())
		if a := r.authorize(t, app, "ocr", "i-2"); a.code() != int(codes.HWTokenMissing) {
			t.Fatalf("authorize when token_grace has passed: %d %s", a.status, a.body)
		}
	})
	t.Run("zero", func(t *testing.T) {
		s := newTokenSite(t, license.BindMachineToken)
		s.cfg.TokenGrace = 0
		r := s.start()
		s.hsm.Unplug(s.tok)
		for range 3 {
			r.CheckToken(context.Background())
		}
		if a := r.authorize(t, s.client("app1"), "ocr", "i-1"); a.code() != int(codes.HWTokenMissing) {
			t.Fatalf("authorize with token_grace 0 and no token: %d %s", a.status, a.body)
		}
		if ev := r.tokenEvents(t); len(ev) != 1 || ev[0].Code != int(codes.HWTokenMissing) {
			t.Fatalf("token audit events = %+v, want the one refusal", ev)
		}
	})
}

// TestReviewTokenNewHangs: a module that hangs in C_Initialize at start
// fails New with 906 at token_timeout; New does not hang with it.
func TestReviewTokenNewHangs(t *testing.T) {
	s := newTokenSite(t, license.BindMachineToken)
	s.cfg.TokenTimeout = Duration(200 * time.Millisecond)
	release := s.hsm.Hang()
	done := make(chan error, 1)
	go func() {
		srv, err := New(s.cfg, s.options())
		if err == nil {
			srv.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if codes.Of(err) != codes.HWTimeout {
			t.Errorf("New with a hanging module = %v, want code 906", err)
		}
	case <-time.After(time.Minute):
		t.Error("New with a hanging module has not returned after a minute")
	}
	release()
	waitModuleAnswers(t, s.hsm.Module)
}

// setPIN changes tok's user PIN while the process has the module open.
func setPIN(t *testing.T, h *softhsmtest.HSM, tok *softhsmtest.Token, pin string) {
	t.Helper()
	p := pkcs11.New(h.Module)
	defer p.Destroy()
	if err := p.Initialize(); err == nil {
		defer p.Finalize()
	}
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, sl := range slots {
		if ti, err := p.GetTokenInfo(sl); err != nil || ti.SerialNumber != tok.Serial {
			continue
		}
		sh, err := p.OpenSession(sl, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		defer p.CloseSession(sh)
		if err := p.Login(sh, pkcs11.CKU_USER, tok.PIN); err != nil {
			t.Fatal(err)
		}
		defer p.Logout(sh)
		if err := p.SetPIN(sh, tok.PIN, pin); err != nil {
			t.Fatal(err)
		}
		tok.PIN = pin
		return
	}
	t.Fatalf("no token with serial %s", tok.Serial)
}

// TestReviewTokenPINNeverShown: once the token refuses the server's PIN,
// neither PIN is in the checks' errors, the log, /readyz, the metrics,
// /security/license or the audit log; nor in New's error for a wrong PIN.
func TestReviewTokenPINNeverShown(t *testing.T) {
	const newPIN = "changed-PIN-5520"
	s := newTokenSite(t, license.BindMachineToken)
	r := s.start()
	ops := s.client("ops")
	ctx := context.Background()
	setPIN(t, s.hsm, s.tok, newPIN)
	var seen []string
	err := r.CheckToken(ctx)
	if codes.Of(err) != codes.HWPINIncorrect {
		t.Fatalf("CheckToken with the PIN changed on the token = %v", err)
	}
	seen = append(seen, err.Error(), codes.As(err).FixText())
	s.clock.Advance(time.Duration(s.cfg.TokenGrace) + time.Second)
	err = r.CheckToken(ctx)
	seen = append(seen, err.Error())
	for _, path := range []string{api.PathReady, api.PathMetrics, api.PathLicense} {
		seen = append(seen, string(call(t, ops, "GET", r.url+path, nil).body))
	}
	seen = append(seen, string(r.authorize(t, s.client("app1"), "ocr", "i-1").body))
	for _, e := range r.tokenEvents(t) {
		seen = append(seen, e.Detail)
	}
	r.stop()
	_, err = New(s.cfg, s.options()) // the server's PIN file now holds the old PIN
	if codes.Of(err) != codes.HWPINIncorrect {
		t.Fatalf("New with a PIN the token refuses = %v", err)
	}
	seen = append(seen, err.Error(), s.logs.String())
	for _, text := range seen {
		for _, pin := range []string{softhsmtest.UserPIN, newPIN} {
			if strings.Contains(text, pin) {
				t.Errorf("the PIN %q shows in:\n%s", pin, text)
			}
		}
	}
}

// TestReviewTokenLeaksNothing: many failing checks with the token pulled
// leave no goroutine behind, and the module is finalised when the server
// closes (the next test's softhsmtest.New would fail otherwise).
func TestReviewTokenLeaksNothing(t *testing.T) {
	s := newTokenSite(t, license.BindMachineToken)
	srv, err := New(s.cfg, s.options())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.hsm.Unplug(s.tok)
	srv.CheckToken(ctx) // the first re-initialises the module
	before := settledGoroutines(0)
	for range 200 {
		if err := srv.CheckToken(ctx); err == nil {
			t.Fatal("CheckToken with the token unplugged = nil")
		}
	}
	if after := settledGoroutines(before); after > before {
		t.Errorf("%d goroutines before 200 failing checks, %d after", before, after)
	}
	s.hsm.Replug(s.tok)
	if err := srv.CheckToken(ctx); err != nil {
		t.Fatalf("CheckToken with the token back: %v", err)
	}
	srv.Close()
	softhsmtest.New(t) // fails when the module is still initialised
}

// settledGoroutines counts the goroutines once exiting ones (a bounded
// PKCS#11 call's answers before it returns) have gone, waiting at most a
// second for the count to fall to want.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 1000 && n > want; i++ {
		time.Sleep(time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// TestReviewTokenCopied: a license file and data directory copied to a
// machine without the token do not start a server: no token, a token
// with a key of the same label but another key, or a token-only license
// with the server key replaced.
func TestReviewTokenCopied(t *testing.T) {
	t.Run("no-token", func(t *testing.T) {
		s := newTokenSite(t, license.BindToken)
		softhsmtest.New(t).InitToken("blank") // the other machine's store: another token, with no key
		_, err := New(s.cfg, s.options())
		if c := codes.Of(err); c != codes.HWTokenWrong || !strings.Contains(err.Error(), s.tok.Serial) {
			t.Fatalf("New = %v, want 531 naming the serial the license binds", err)
		}
	})
	t.Run("same-label-another-key", func(t *testing.T) {
		s := newTokenSite(t, license.BindToken)
		h := softhsmtest.New(t)
		tok := h.InitToken("site-token")
		h.GenerateECDSA(tok, "licensor", []byte{1})
		_, err := New(s.cfg, s.options())
		if codes.Of(err) != codes.HWTokenWrong {
			t.Fatalf("New = %v", err)
		}
	})
	t.Run("token-only-server-key-replaced", func(t *testing.T) {
		s := newTokenSite(t, license.BindToken)
		s.host = fakeHost("elsewhere")
		for _, f := range []string{ServerKeyFile, "server.pub"} {
			os.Remove(filepath.Join(s.cfg.DataDir, f))
		}
		if _, _, err := keys.LoadOrCreate(filepath.Join(s.cfg.DataDir, ServerKeyFile)); err != nil {
			t.Fatal(err)
		}
		_, err := New(s.cfg, s.options())
		if codes.Of(err) != codes.ServerKeyMismatch {
			t.Fatalf("New = %v", err)
		}
	})
}

// TestReviewTokenKeyRelabelled: the key's label in the license binds
// nothing (the thumbprint does): a token whose key was relabelled still
// proves the license's key, as 'licensor token check' and the doctor say.
func TestReviewTokenKeyRelabelled(t *testing.T) {
	s := newTokenSite(t, license.BindMachineToken)
	s.writeTokenLicense(license.BindMachineToken, &license.TokenBinding{Thumbprint: s.thumb, Alg: license.TokenES256, Label: "renamed-since", Serial: s.tok.Serial})
	r := s.start()
	if a := r.authorize(t, s.client("app1"), "ocr", "i-1"); a.status != 200 {
		t.Fatalf("authorize: %d %s", a.status, a.body)
	}
}

// TestReviewTokenRefusedPoolUnchanged: while grants are refused, a new
// instance, a heartbeat and a key file are refused with 530 and the pool
// is what it was.
func TestReviewTokenRefusedPoolUnchanged(t *testing.T) {
	s := newTokenSite(t, license.BindMachineToken)
	s.cfg.LeaseTTL = Duration(10 * time.Minute)
	r := s.start()
	app, renewer := s.client("app1"), s.client("renewer")
	ctx := context.Background()
	for _, id := range []string{"i-1", "i-2"} {
		if a := r.authorize(t, app, "ocr", id); a.status != 200 {
			t.Fatalf("authorize %s: %d %s", id, a.status, a.body)
		}
	}
	s.hsm.Unplug(s.tok)
	s.clock.Advance(time.Duration(s.cfg.TokenGrace) + time.Second)
	r.CheckToken(ctx)
	before := leases(t, r)
	host := fakeHost("kf-host")
	for _, a := range []answer{
		r.authorize(t, app, "ocr", "i-3"),
		call(t, app, "POST", r.url+api.PathHeartbeat, api.InstanceRequest{Product: "ocr", InstanceID: "i-1", Nonce: "n"}),
		call(t, renewer, "POST", r.url+api.PathKeyFile, api.KeyFileRequest{MachineCode: host.Code, Components: host.Hashes()}),
	} {
		if a.code() != int(codes.HWTokenMissing) || a.status != http.StatusServiceUnavailable {
			t.Errorf("refused request: %d %s", a.status, a.body)
		}
	}
	if after := leases(t, r); after != before {
		t.Fatalf("the pool changed under a refusal:\nbefore %s\nafter  %s", before, after)
	}
}

func leases(t *testing.T, r *running) string {
	t.Helper()
	ls, err := r.store.Leases(context.Background(), "ocr", r.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Product + "/" + l.InstanceID + " until " + l.Expires.String() + "; ")
	}
	return b.String()
}

// TestReviewTokenConcurrent: checks, reloads, requests and scrapes at
// once, the token pulled and put back meanwhile, race nothing (run with
// -race) and end with the server granting.
func TestReviewTokenConcurrent(t *testing.T) {
	s := newTokenSite(t, license.BindMachineToken)
	r := s.start()
	app, ops := s.client("app1"), s.client("ops")
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	loop := func(fn func(i int)) {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				fn(i)
			}
		})
	}
	loop(func(int) { r.CheckToken(ctx) })
	loop(func(int) { r.Reload(ctx) })
	loop(func(i int) {
		call(t, app, "POST", r.url+api.PathAuthorize, api.InstanceRequest{Product: "ocr", InstanceID: "c-" + string(rune('a'+i%3)), Nonce: "n"})
	})
	loop(func(int) {
		for _, p := range []string{api.PathReady, api.PathMetrics, api.PathLicense} {
			call(t, ops, "GET", r.url+p, nil)
		}
	})
	for range 5 {
		s.hsm.Unplug(s.tok)
		r.CheckToken(ctx)
		s.clock.Advance(time.Duration(s.cfg.TokenGrace) + time.Second)
		r.CheckToken(ctx)
		s.hsm.Replug(s.tok)
		r.CheckToken(ctx)
	}
	close(stop)
	wg.Wait()
	if err := r.CheckToken(ctx); err != nil {
		t.Fatalf("CheckToken at the end: %v", err)
	}
	if a := r.authorize(t, app, "ocr", "c-a"); a.status != 200 {
		t.Fatalf("authorize at the end: %d %s", a.status, a.body)
	}
}

// pinCountLow reports whether tok says a wrong PIN was tried since the
// last good login (SoftHSM2 sets CKF_USER_PIN_COUNT_LOW at each refused
// C_Login and clears it at a good one; a hardware token counts down to
// locked).
func pinCountLow(t *testing.T, h *softhsmtest.HSM, tok *softhsmtest.Token) bool {
	t.Helper()
	p := pkcs11.New(h.Module)
	defer p.Destroy()
	if err := p.Initialize(); err == nil {
		defer p.Finalize()
	}
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, sl := range slots {
		if ti, err := p.GetTokenInfo(sl); err == nil && ti.SerialNumber == tok.Serial {
			return ti.Flags&pkcs11.CKF_USER_PIN_COUNT_LOW != 0
		}
	}
	t.Fatalf("no token with serial %s", tok.Serial)
	return false
}

// TestReviewTokenPINRefusedNotRetried: once the token refuses the
// server's PIN (it was changed on the token), the checks do not log in
// with it again, which would count down a hardware token's tries to
// locked; a PIN file corrected meanwhile is read at the next check.
func TestReviewTokenPINRefusedNotRetried(t *testing.T) {
	s := newTokenSite(t, license.BindMachineToken)
	r := s.start()
	ctx := context.Background()
	setPIN(t, s.hsm, s.tok, "changed-PIN-5520")
	if err := r.CheckToken(ctx); codes.Of(err) != codes.HWPINIncorrect {
		t.Fatalf("CheckToken with the PIN changed on the token = %v", err)
	}
	if !pinCountLow(t, s.hsm, s.tok) {
		t.Fatal("SoftHSM2 does not flag a refused PIN: this test cannot see the server's logins")
	}
	setPIN(t, s.hsm, s.tok, s.tok.PIN) // a good login clears the flag
	if pinCountLow(t, s.hsm, s.tok) {
		t.Fatal("a good login does not clear the flag")
	}
	for range 3 {
		if err := r.CheckToken(ctx); codes.Of(err) != codes.HWPINIncorrect {
			t.Fatalf("CheckToken with the refused PIN = %v", err)
		}
	}
	if pinCountLow(t, s.hsm, s.tok) {
		t.Fatal("the checks logged in again with the PIN the token refused")
	}
	if err := os.WriteFile(s.cfg.TokenPINFile, []byte(s.tok.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.CheckToken(ctx); err != nil {
		t.Fatalf("CheckToken with the PIN file corrected: %v", err)
	}
}
