//go:build cgo

package token

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/softhsmtest"
)

// open opens h's module, closed when t ends.
func open(t testing.TB, h *softhsmtest.HSM) *Module {
	t.Helper()
	m, err := Open(context.Background(), h.Module, 10*time.Second)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

func wantCode(t *testing.T, err error, c codes.Code, mention ...string) {
	t.Helper()
	if codes.Of(err) != c {
		t.Fatalf("got %v, want code %d %s", err, int(c), c.Name())
	}
	for _, s := range mention {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%v\ndoes not mention %q", err, s)
		}
	}
}

func thumb(t testing.TB, pub any) string {
	t.Helper()
	tp, err := Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func otherKey(t testing.TB) *ecdsa.PublicKey {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw := k.PublicKey().Bytes()
	return mustP256(t, raw)
}

func TestTokens(t *testing.T) {
	tests := []struct {
		name   string
		tokens []string // labels; each gets one ECDSA key "k-LABEL" with id 01
	}{
		{"empty-slot", nil},
		{"one-token", []string{"alpha"}},
		{"two-tokens", []string{"alpha", "beta"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := softhsmtest.New(t)
			want := map[string]string{} // label → thumbprint
			serials := map[string]string{}
			for _, l := range tt.tokens {
				tok := h.InitToken(l)
				want[l] = thumb(t, h.GenerateECDSA(tok, "k-"+l, []byte{1}))
				serials[l] = tok.Serial
			}
			m := open(t, h)
			if in := m.Info(); in.Path != h.Module || !strings.Contains(in.Manufacturer, "SoftHSM") {
				t.Errorf("Info = %+v", in)
			}
			ts, err := m.Tokens(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			free := 0
			seen := map[string]bool{}
			for _, tk := range ts {
				if !tk.Present {
					t.Errorf("slot %d: SoftHSM2 slots always hold a token", tk.Slot)
				}
				if !tk.Initialized {
					free++
					if len(tk.Keys) != 0 {
						t.Errorf("free slot %d lists keys", tk.Slot)
					}
					continue
				}
				seen[tk.Label] = true
				if tk.Serial != serials[tk.Label] || tk.Manufacturer == "" || tk.Model == "" || !tk.LoginRequired || tk.PINLocked {
					t.Errorf("token %+v", tk)
				}
				if len(tk.Keys) != 1 {
					t.Fatalf("token %q keys %+v, want one", tk.Label, tk.Keys)
				}
				k := tk.Keys[0]
				if k.Label != "k-"+tk.Label || k.ID != "01" || k.Algorithm != ES256 || k.Thumbprint != want[tk.Label] || k.Public == nil {
					t.Errorf("key %+v, want thumbprint %s", k, want[tk.Label])
				}
			}
			if free != 1 {
				t.Errorf("%d free slots, want 1 (SoftHSM2 always offers one)", free)
			}
			if len(seen) != len(tt.tokens) {
				t.Errorf("tokens seen %v, want %v", seen, tt.tokens)
			}
		})
	}
}

func TestFind(t *testing.T) {
	h := softhsmtest.New(t)
	a, b := h.InitToken("alpha"), h.InitToken("beta")
	ka := thumb(t, h.GenerateECDSA(a, "sign", []byte{1}))
	kb := thumb(t, h.GenerateECDSA(b, "sign", []byte{2}))
	ka2 := thumb(t, h.GenerateECDSA(a, "other", []byte{0xa, 0xb}))
	m := open(t, h)
	tests := []struct {
		name       string
		sel        Selector
		wantSerial string
		wantKey    string
		code       codes.Code
	}{
		{"by-key-label", Selector{KeyLabel: "other"}, a.Serial, ka2, 0},
		{"by-key-id", Selector{KeyID: "02"}, b.Serial, kb, 0},
		{"by-key-id-two-bytes", Selector{KeyID: "0a0b"}, a.Serial, ka2, 0},
		{"by-token-label", Selector{TokenLabel: "beta"}, b.Serial, kb, 0},
		{"by-serial", Selector{Serial: b.Serial}, b.Serial, kb, 0},
		{"by-thumbprint", Selector{Thumbprint: kb}, b.Serial, kb, 0},
		{"label-on-both-prefers-thumbprint", Selector{KeyLabel: "sign", Thumbprint: kb}, b.Serial, kb, 0},
		{"label-on-both-first-slot", Selector{KeyLabel: "sign", Thumbprint: ka}, a.Serial, ka, 0},
		{"no-such-key-label", Selector{KeyLabel: "nope"}, "", "", codes.HWKeyMissing},
		{"no-such-key-id", Selector{KeyID: "ff"}, "", "", codes.HWKeyMissing},
		{"no-such-token-label", Selector{TokenLabel: "gamma"}, "", "", codes.HWNoToken},
		{"no-such-serial", Selector{Serial: "0000000000000000"}, "", "", codes.HWNoToken},
		{"serial-wrong-for-a-license", Selector{Serial: "0000000000000000", Thumbprint: ka}, "", "", codes.HWTokenWrong},
		{"thumbprint-nowhere", Selector{Thumbprint: thumb(t, otherKey(t))}, "", "", codes.HWTokenWrong},
		{"thumbprint-on-another-token", Selector{TokenLabel: "beta", Thumbprint: ka}, "", "", codes.HWTokenWrong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, k, err := m.Find(context.Background(), tt.sel)
			if tt.code != 0 {
				wantCode(t, err, tt.code, h.Module)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.Serial != tt.wantSerial || k.Thumbprint != tt.wantKey {
				t.Errorf("found token %s key %s, want %s %s", tok.Serial, k.Thumbprint, tt.wantSerial, tt.wantKey)
			}
		})
	}
}

func TestProve(t *testing.T) {
	h := softhsmtest.New(t)
	a := h.InitToken("alpha")
	ec := thumb(t, h.GenerateECDSA(a, "ec", []byte{1}))
	ed := ""
	if h.HasEd25519(a) {
		ed = thumb(t, h.GenerateEd25519(a, "ed", []byte{2}))
	} else {
		t.Log("SoftHSM2 offers no Ed25519 here: the EdDSA case is skipped")
	}
	m := open(t, h)
	tests := []struct {
		name string
		sel  Selector
		want string
		alg  string
	}{
		{"ecdsa-by-thumbprint", Selector{}, ec, ES256},
		{"ecdsa-by-label", Selector{KeyLabel: "ec"}, ec, ES256},
		{"eddsa", Selector{}, ed, EdDSA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == "" {
				if os.Getenv("CI") != "" {
					t.Fatal("SoftHSM2 offers no Ed25519: under CI, Debian's softhsm2 (2.6) must, and this case must run")
				}
				t.Skip("no Ed25519 key")
			}
			pr, err := m.Prove(context.Background(), tt.sel, []byte(a.PIN), tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if pr.Key.Thumbprint != tt.want || pr.Key.Algorithm != tt.alg || pr.Token.Serial != a.Serial || len(pr.Challenge) != ChallengeSize || len(pr.Signature) != 64 {
				t.Errorf("proof %+v", pr)
			}
			if !verify(pr.Key, pr.Challenge, pr.Signature) {
				t.Error("the proof's signature does not verify")
			}
			again, err := m.Prove(context.Background(), tt.sel, []byte(a.PIN), tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(again.Challenge) == hex.EncodeToString(pr.Challenge) {
				t.Error("two proofs signed the same challenge")
			}
		})
	}
}

func TestProveFailures(t *testing.T) {
	h := softhsmtest.New(t)
	a := h.InitToken("alpha")
	ka := thumb(t, h.GenerateECDSA(a, "sign", []byte{1}))
	empty := h.InitToken("empty")
	m := open(t, h)
	other := thumb(t, otherKey(t))
	ctx := context.Background()
	tests := []struct {
		name    string
		sel     Selector
		pin     string
		want    string
		code    codes.Code
		mention []string
	}{
		{"wrong-pin", Selector{}, "9999", ka, codes.HWPINIncorrect, []string{"CKR_PIN_INCORRECT", "slot"}},
		{"no-pin", Selector{}, "", ka, codes.HWPINIncorrect, []string{"no PIN"}},
		{"another-key", Selector{TokenLabel: "alpha"}, a.PIN, other, codes.HWTokenWrong, []string{other, a.Serial, ka}},
		{"token-without-keys", Selector{TokenLabel: "empty"}, empty.PIN, ka, codes.HWKeyMissing, []string{"empty"}},
		{"malformed-thumbprint", Selector{}, a.PIN, "not-a-thumbprint", codes.InvalidArgument, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Prove(ctx, tt.sel, []byte(tt.pin), tt.want)
			wantCode(t, err, tt.code, tt.mention...)
			if tt.pin != "" && strings.Contains(err.Error(), tt.pin) {
				t.Errorf("the error %q carries the PIN", err)
			}
		})
	}
}

func TestProvePINLocks(t *testing.T) {
	h := softhsmtest.New(t)
	a := h.InitToken("alpha")
	ka := thumb(t, h.GenerateECDSA(a, "sign", []byte{1}))
	m := open(t, h)
	ctx := context.Background()
	// SoftHSM2 counts no wrong PINs: twenty leave it unlocked.
	for i := 0; i < 20; i++ {
		_, err := m.Prove(ctx, Selector{}, []byte("0000"), ka)
		wantCode(t, err, codes.HWPINIncorrect)
	}
	if _, err := m.Prove(ctx, Selector{}, []byte(a.PIN), ka); err != nil {
		t.Fatalf("the right PIN after twenty wrong ones: %v", err)
	}
	// A token that locked itself says so in its flags.
	h.Lock(a)
	if err := m.Rescan(ctx); err != nil {
		t.Fatal(err)
	}
	ts, err := m.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts {
		if tk.Serial == a.Serial && !tk.PINLocked {
			t.Errorf("token %+v: not marked PIN locked", tk)
		}
	}
	_, err = m.Prove(ctx, Selector{}, []byte(a.PIN), ka)
	wantCode(t, err, codes.HWPINLocked, a.Serial)
}

func TestLyingToken(t *testing.T) {
	h := softhsmtest.New(t)
	a := h.InitToken("alpha")
	claimed := otherKey(t)
	h.Lie(a, "sign", []byte{1}, claimed)
	m := open(t, h)
	_, k, err := m.Find(context.Background(), Selector{})
	if err != nil {
		t.Fatal(err)
	}
	if k.Thumbprint != thumb(t, claimed) {
		t.Fatalf("the lying token reports %s, want the claimed %s", k.Thumbprint, thumb(t, claimed))
	}
	_, err = m.Prove(context.Background(), Selector{}, []byte(a.PIN), thumb(t, claimed))
	wantCode(t, err, codes.HWProofFailed, a.Serial)
}

func TestRemoval(t *testing.T) {
	h := softhsmtest.New(t)
	a := h.InitToken("alpha")
	ka := thumb(t, h.GenerateECDSA(a, "sign", []byte{1}))
	b := h.InitToken("beta")
	kb := thumb(t, h.GenerateECDSA(b, "sign", []byte{1}))
	h.Unplug(b) // beta waits outside until the swap
	m := open(t, h)
	ctx := context.Background()
	prove := func(want string) error {
		_, err := m.Prove(ctx, Selector{}, []byte(softhsmtest.UserPIN), want)
		return err
	}
	if err := prove(ka); err != nil {
		t.Fatalf("before unplugging: %v", err)
	}

	t.Run("removed-between-calls", func(t *testing.T) {
		h.Unplug(a)
		wantCode(t, prove(ka), codes.HWNoToken, h.Module)
		ts, err := m.Tokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range ts {
			if tk.Initialized {
				t.Errorf("token %q listed while unplugged", tk.Label)
			}
		}
	})
	t.Run("replugged", func(t *testing.T) {
		h.Replug(a)
		if err := prove(ka); err != nil {
			t.Fatalf("after replugging: %v", err)
		}
	})
	t.Run("swapped", func(t *testing.T) {
		h.Swap(a, b)
		wantCode(t, prove(ka), codes.HWTokenWrong, ka, kb, b.Serial)
		if err := prove(kb); err != nil {
			t.Fatalf("the token swapped in: %v", err)
		}
		h.Swap(b, a)
		if err := prove(ka); err != nil {
			t.Fatalf("swapped back: %v", err)
		}
	})
	t.Run("removed-mid-check", func(t *testing.T) {
		// Find reads the slots; the token goes before the proof's
		// session: what a check sees when the token is pulled while
		// it runs.
		tk, k, err := m.Find(ctx, Selector{Thumbprint: ka})
		if err != nil {
			t.Fatal(err)
		}
		h.Unplug(a)
		err = m.lib.call(ctx, m.timeout, "signing", func() error {
			_, _, err := m.sign(tk, k, []byte(a.PIN), make([]byte, ChallengeSize))
			return err
		})
		if !gone(err) {
			t.Fatalf("signing on a token pulled mid-check: %v, want an error that rescans", err)
		}
		// SoftHSM2's answer for a token whose directory went away.
		wantCode(t, plain(err), codes.HWDevice, "CKR_GENERAL_ERROR", "C_Login")
		wantCode(t, prove(ka), codes.HWNoToken)
		h.Replug(a)
		if err := prove(ka); err != nil {
			t.Fatalf("replugged: %v", err)
		}
	})
}

func TestOpenFailures(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "module.so")
	if err := os.WriteFile(text, []byte("not a library\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	libc := ""
	for _, p := range []string{"/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/lib64/libc.so.6"} {
		if _, err := os.Stat(p); err == nil {
			libc = p
			break
		}
	}
	tests := []struct {
		name, path string
		mention    string
	}{
		{"missing", filepath.Join(dir, "nope.so"), "no such file"},
		{"directory", dir, "not a file"},
		{"text-file", text, "not an ELF file"},
		{"not-pkcs11", libc, "not a PKCS#11 module"},
		{"empty-path", "", "no PKCS#11 module"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "not-pkcs11" && libc == "" {
				if os.Getenv("CI") != "" {
					t.Fatal("no libc.so.6 found: under CI (Debian) it is there, and this case must run")
				}
				t.Skip("no libc.so.6 found")
			}
			m, err := Open(context.Background(), tt.path, time.Second)
			if m != nil {
				t.Fatal("Open returned a module")
			}
			wantCode(t, err, codes.HWModule, tt.mention)
		})
	}
}

func TestOpenFailsInitialize(t *testing.T) {
	h := softhsmtest.New(t)
	t.Setenv("SOFTHSM2_CONF", filepath.Join(h.Dir, "missing.conf"))
	_, err := Open(context.Background(), h.Module, time.Second)
	wantCode(t, err, codes.HWModule, "C_Initialize", "CKR_")
}

func TestHangingModule(t *testing.T) {
	h := softhsmtest.New(t)
	a := h.InitToken("alpha")
	ka := thumb(t, h.GenerateECDSA(a, "sign", []byte{1}))
	m := open(t, h) // the module that answers
	hanging := h.CopyModule()
	release := h.Hang()
	ctx := context.Background()

	_, err := Open(ctx, hanging, 100*time.Millisecond)
	wantCode(t, err, codes.HWTimeout, hanging, "C_Initialize")
	// The call is stuck: the next answers at once, starting no goroutine.
	_, err = Open(ctx, hanging, time.Hour)
	wantCode(t, err, codes.HWTimeout, "has not returned from C_Initialize")
	// The other module answers meanwhile.
	if _, err := m.Prove(ctx, Selector{}, []byte(a.PIN), ka); err != nil {
		t.Fatalf("the module that does not hang: %v", err)
	}

	release()
	waitUnstuck(t, hanging)
	m2, err := Open(ctx, hanging, 10*time.Second)
	if err != nil {
		t.Fatalf("after the hang ended: %v", err)
	}
	defer m2.Close()
	if _, err := m2.Prove(ctx, Selector{}, []byte(a.PIN), ka); err != nil {
		t.Fatalf("the module that hung, once it answers: %v", err)
	}
}

// waitUnstuck waits for the abandoned call into the module at path to
// return and its library to be finalised.
func waitUnstuck(t *testing.T, path string) {
	t.Helper()
	l, err := acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		registry.mu.Lock()
		l.refs--
		registry.mu.Unlock()
	}()
	deadline := time.Now().Add(time.Minute)
	for l.stuck() != nil || l.busy() {
		if time.Now().After(deadline) {
			t.Fatal("the hung call did not return within a minute of its release")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCloseFinalizes(t *testing.T) {
	h := softhsmtest.New(t)
	h.InitToken("alpha")
	m1 := open(t, h)
	m2, err := Open(context.Background(), h.Module, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m2.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// m1 still works: the module stays initialised while one is open.
	if _, err := m1.Tokens(context.Background()); err != nil {
		t.Fatalf("after another Module on the same path closed: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	h := softhsmtest.New(t)
	a := h.InitToken("alpha")
	ka := thumb(t, h.GenerateECDSA(a, "sign", []byte{1}))
	m := open(t, h)
	m2 := open(t, h) // another Module on the same path shares the module
	ctx := context.Background()
	errs := make(chan error, 40)
	for i := 0; i < 4; i++ {
		mm := m
		if i%2 == 1 {
			mm = m2
		}
		go func() {
			for j := 0; j < 5; j++ {
				_, err := mm.Prove(ctx, Selector{}, []byte(a.PIN), ka)
				errs <- err
				_, err = mm.Tokens(ctx)
				errs <- err
			}
		}()
	}
	for i := 0; i < 40; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// A rescan while proofs run closes their sessions: they retry.
	done := make(chan error, 1)
	go func() {
		var err error
		for j := 0; j < 10 && err == nil; j++ {
			_, err = m.Prove(ctx, Selector{}, []byte(a.PIN), ka)
		}
		done <- err
	}()
	for j := 0; j < 10; j++ {
		if err := m2.Rescan(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("a proof during rescans: %v", err)
	}
}

func TestContextEnds(t *testing.T) {
	h := softhsmtest.New(t)
	a := h.InitToken("alpha")
	ka := thumb(t, h.GenerateECDSA(a, "sign", []byte{1}))
	m := open(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.Prove(ctx, Selector{}, []byte(a.PIN), ka)
	wantCode(t, err, codes.HWTimeout, "gave up")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v does not wrap context.Canceled", err)
	}
	waitUnstuck(t, h.Module)
	if _, err := m.Prove(context.Background(), Selector{}, []byte(a.PIN), ka); err != nil {
		t.Fatalf("after a cancelled proof: %v", err)
	}
}

// TestLyingTokenBesideGenuine: a token that reports the license's key
// and signs with another, in the slot before the genuine token, does not
// deny it: the proof goes on to the genuine one.
func TestLyingTokenBesideGenuine(t *testing.T) {
	h := softhsmtest.New(t)
	alpha, beta := h.InitToken("alpha"), h.InitToken("beta")
	m := open(t, h)
	ctx := context.Background()
	// The liar goes in whichever slot the module lists first.
	ts, err := m.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	liar, genuine := beta, alpha
	for _, tk := range ts {
		if tk.Initialized {
			if tk.Serial == alpha.Serial {
				liar, genuine = alpha, beta
			}
			break
		}
	}
	pub := h.GenerateECDSA(genuine, "sign", []byte{1})
	h.Lie(liar, "sign", []byte{1}, pub)
	if tk, _, err := m.Find(ctx, Selector{Thumbprint: thumb(t, pub)}); err != nil || tk.Serial != liar.Serial {
		t.Fatalf("Find = %s, %v; want the liar first (serial %s), or the test proves nothing", tk.Serial, err, liar.Serial)
	}
	p, err := m.Prove(ctx, Selector{}, []byte(softhsmtest.UserPIN), thumb(t, pub))
	if err != nil {
		t.Fatalf("Prove with a liar before the genuine token = %v", err)
	}
	if p.Token.Serial != genuine.Serial {
		t.Fatalf("proved on serial %s, want the genuine %s", p.Token.Serial, genuine.Serial)
	}
	// Bound to the liar's serial, the proof fails as before.
	_, err = m.Prove(ctx, Selector{Serial: liar.Serial}, []byte(softhsmtest.UserPIN), thumb(t, pub))
	wantCode(t, err, codes.HWProofFailed, liar.Serial)
}
