//go:build cgo

package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"sync"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/miekg/pkcs11"
)

// Supported reports whether this binary can load PKCS#11 modules: true
// when built with cgo.
const Supported = true

// PKCS#11 3.0 names the binding this module does not define.
const (
	ckmEdDSA = 0x1057 // CKM_EDDSA
)

// Module is one loaded PKCS#11 module; safe for concurrent use.
type Module struct {
	lib     *library
	path    string
	timeout time.Duration
	info    ModuleInfo

	closeOnce sync.Once
	closeErr  error
}

// Open loads the PKCS#11 module at path and initialises it; timeout
// bounds each call into it (DefaultTimeout when 0). Failures are
// codes.HWModule (no such file, not a PKCS#11 library, C_Initialize
// fails) and codes.HWTimeout.
func Open(ctx context.Context, path string, timeout time.Duration) (*Module, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if path == "" {
		return nil, codes.Errorf(codes.HWModule, "no PKCS#11 module given")
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, codes.Errorf(codes.HWModule, "module %s: no such file", path)
	case errors.Is(err, fs.ErrPermission):
		return nil, codes.Errorf(codes.HWModule, "module %s: permission denied", path).
			WithFix(fmt.Sprintf("Let this user read %s and its directory, or run as a user who can.", path))
	case err != nil:
		return nil, codes.Errorf(codes.HWModule, "module %s: %w", path, err)
	case !st.Mode().IsRegular():
		return nil, codes.Errorf(codes.HWModule, "module %s is not a file", path)
	}
	lib, err := acquire(path)
	if err != nil {
		return nil, err
	}
	m := &Module{lib: lib, path: path, timeout: timeout}
	if err := lib.call(ctx, timeout, "C_Initialize", lib.initialize); err != nil {
		lib.release(timeout)
		return nil, err
	}
	err = lib.call(ctx, timeout, "C_GetInfo", func() error {
		in, err := lib.p.GetInfo()
		if err != nil {
			return lib.device("C_GetInfo", err)
		}
		m.info = ModuleInfo{Path: path, Manufacturer: in.ManufacturerID, Description: in.LibraryDescription,
			LibraryVersion:  fmt.Sprintf("%d.%d", in.LibraryVersion.Major, in.LibraryVersion.Minor),
			CryptokiVersion: fmt.Sprintf("%d.%d", in.CryptokiVersion.Major, in.CryptokiVersion.Minor)}
		return nil
	})
	if err != nil {
		lib.release(timeout)
		return nil, err
	}
	return m, nil
}

// Close releases the module; the last Module open on its path finalises
// it. Closing twice returns the first result.
func (m *Module) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.lib.release(m.timeout) })
	return m.closeErr
}

// Info is what the module says about itself.
func (m *Module) Info() ModuleInfo { return m.info }

// Rescan re-initialises the module so that it reads its slots afresh:
// SoftHSM2, for one, sees a token added or removed only then. Tokens,
// Find and Prove do it themselves when a token seems to have gone.
func (m *Module) Rescan(ctx context.Context) error {
	return m.lib.reinitialize(ctx, m.timeout, m.lib.generation())
}

// Tokens lists every slot, with or without a token, and the usable keys
// each token shows without a login. A module that reports a token gone
// (see the package comment) is re-initialised once and listed again.
func (m *Module) Tokens(ctx context.Context) ([]Token, error) {
	ts, err := m.listTokens(ctx)
	return ts, plain(err)
}

// listTokens is Tokens, its errors still marked goneErr.
func (m *Module) listTokens(ctx context.Context) ([]Token, error) {
	gen := m.lib.generation()
	ts, err := m.tokens(ctx)
	if err != nil && gone(err) {
		if rerr := m.lib.reinitialize(ctx, m.timeout, gen); rerr != nil {
			return nil, rerr
		}
		ts, err = m.tokens(ctx)
	}
	return ts, err
}

// goneErr marks a PKCS#11 error that says the token (or the module's
// view of it) went away: re-initialising may help.
type goneErr struct{ err error }

func (g goneErr) Error() string { return g.err.Error() }
func (g goneErr) Unwrap() error { return g.err }

func gone(err error) bool {
	var g goneErr
	return errors.As(err, &g)
}

// plain takes the goneErr mark off an error for callers outside.
func plain(err error) error {
	if g, ok := err.(goneErr); ok {
		return g.err
	}
	return err
}

// goneRVs are the return values after which the module is re-initialised.
// SoftHSM2 answers CKR_GENERAL_ERROR for a token whose directory was
// removed; hardware modules answer the others.
var goneRVs = []uint{pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_SLOT_ID_INVALID, pkcs11.CKR_DEVICE_REMOVED,
	pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_GENERAL_ERROR, pkcs11.CKR_DEVICE_ERROR,
	pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED}

// fail turns a PKCS#11 error of call on slot into a coded error.
func (m *Module) fail(call string, slot uint, err error) error {
	var e pkcs11.Error
	if !errors.As(err, &e) {
		return err
	}
	switch uint(e) {
	case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_LEN_RANGE:
		return codes.Errorf(codes.HWPINIncorrect, "module %s slot %d: the token refused the PIN (%s)", m.path, slot, rvName(err))
	case pkcs11.CKR_PIN_LOCKED:
		return codes.Errorf(codes.HWPINLocked, "module %s slot %d: the token's user PIN is locked (%s)", m.path, slot, rvName(err))
	case pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_DEVICE_REMOVED:
		return goneErr{codes.Errorf(codes.HWNoToken, "module %s slot %d: %s returned %s: the token was removed", m.path, slot, call, rvName(err))}
	}
	d := codes.Errorf(codes.HWDevice, "module %s slot %d: %s returned %s", m.path, slot, call, rvName(err))
	for _, rv := range goneRVs {
		if uint(e) == rv {
			return goneErr{d}
		}
	}
	return d
}

// tokens reads every slot, one bounded call per slot.
func (m *Module) tokens(ctx context.Context) ([]Token, error) {
	var slots []uint
	err := m.lib.call(ctx, m.timeout, "C_GetSlotList", func() error {
		var err error
		slots, err = m.lib.p.GetSlotList(false)
		if err != nil {
			return m.fail("C_GetSlotList", 0, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Token, 0, len(slots))
	for _, s := range slots {
		var t Token
		err := m.lib.call(ctx, m.timeout, fmt.Sprintf("reading slot %d", s), func() error {
			var err error
			t, err = m.readSlot(s)
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// readSlot reads one slot and its token. It runs holding sem.
func (m *Module) readSlot(s uint) (Token, error) {
	p := m.lib.p
	t := Token{Slot: s}
	si, err := p.GetSlotInfo(s)
	if err != nil {
		return t, m.fail("C_GetSlotInfo", s, err)
	}
	t.SlotDescription = si.SlotDescription
	if si.Flags&pkcs11.CKF_TOKEN_PRESENT == 0 {
		return t, nil
	}
	ti, err := p.GetTokenInfo(s)
	if isRV(err, pkcs11.CKR_TOKEN_NOT_PRESENT) {
		return t, nil
	}
	if err != nil {
		return t, m.fail("C_GetTokenInfo", s, err)
	}
	t.Present = true
	t.Label, t.Serial, t.Manufacturer, t.Model = ti.Label, ti.SerialNumber, ti.ManufacturerID, ti.Model
	t.Initialized = ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0
	t.PINLocked = ti.Flags&pkcs11.CKF_USER_PIN_LOCKED != 0
	t.PINFinalTry = ti.Flags&pkcs11.CKF_USER_PIN_FINAL_TRY != 0
	t.LoginRequired = ti.Flags&pkcs11.CKF_LOGIN_REQUIRED != 0
	if !t.Initialized {
		return t, nil
	}
	sh, err := p.OpenSession(s, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return t, m.fail("C_OpenSession", s, err)
	}
	defer p.CloseSession(sh)
	t.Keys, err = m.readKeys(sh, s)
	return t, err
}

// readKeys reads the usable public keys a session sees, marking those
// whose private key it sees too. It runs holding sem.
func (m *Module) readKeys(sh pkcs11.SessionHandle, s uint) ([]Key, error) {
	p := m.lib.p
	pubs, err := m.find(sh, s, pkcs11.CKO_PUBLIC_KEY, nil)
	if err != nil {
		return nil, err
	}
	var out []Key
	for _, o := range pubs {
		attrs, err := p.GetAttributeValue(sh, o, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil), pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil), pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil), pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
		if err != nil {
			if isRV(err, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID) || isRV(err, pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
				continue // an RSA key, say: no EC attributes
			}
			return nil, m.fail("C_GetAttributeValue", s, err)
		}
		v := map[uint][]byte{}
		for _, a := range attrs {
			v[a.Type] = a.Value
		}
		pub, alg, err := publicKey(ulong(v[pkcs11.CKA_KEY_TYPE]), v[pkcs11.CKA_EC_PARAMS], v[pkcs11.CKA_EC_POINT])
		if err != nil {
			continue // not a key licensor uses
		}
		tp, err := Thumbprint(pub)
		if err != nil {
			continue
		}
		out = append(out, Key{Label: string(v[pkcs11.CKA_LABEL]), ID: hex.EncodeToString(v[pkcs11.CKA_ID]), Algorithm: alg, Public: pub, Thumbprint: tp})
	}
	privs, err := m.find(sh, s, pkcs11.CKO_PRIVATE_KEY, nil)
	if err != nil {
		return nil, err
	}
	for _, o := range privs {
		attrs, err := p.GetAttributeValue(sh, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil), pkcs11.NewAttribute(pkcs11.CKA_ID, nil)})
		if err != nil {
			continue
		}
		label, id := string(attrs[0].Value), hex.EncodeToString(attrs[1].Value)
		for i := range out {
			if sameKey(out[i], label, id) {
				out[i].Private = true
			}
		}
	}
	return out, nil
}

// sameKey reports whether a private key of label and id pairs with k: by
// id when either has one, else by label.
func sameKey(k Key, label, id string) bool {
	if k.ID != "" || id != "" {
		return k.ID == id
	}
	return k.Label == label
}

// find returns the objects of class that a session sees, with the
// attributes in more. It runs holding sem.
func (m *Module) find(sh pkcs11.SessionHandle, s uint, class uint, more []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	p := m.lib.p
	tmpl := append([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}, more...)
	if err := p.FindObjectsInit(sh, tmpl); err != nil {
		return nil, m.fail("C_FindObjectsInit", s, err)
	}
	var out []pkcs11.ObjectHandle
	for len(out) < 1024 {
		objs, _, err := p.FindObjects(sh, 64)
		if err != nil {
			p.FindObjectsFinal(sh)
			return nil, m.fail("C_FindObjects", s, err)
		}
		if len(objs) == 0 {
			break
		}
		out = append(out, objs...)
	}
	if err := p.FindObjectsFinal(sh); err != nil {
		return nil, m.fail("C_FindObjectsFinal", s, err)
	}
	return out, nil
}

// ulong reads a CK_ULONG attribute value (native byte order, the
// platform's unsigned long).
func ulong(b []byte) uint {
	var v uint
	for i := len(b) - 1; i >= 0; i-- { // little-endian hosts: amd64, arm64
		v = v<<8 | uint(b[i])
	}
	return v
}

// Find returns the token and key sel picks: see Selector. When several
// tokens match, the one whose key has sel.Thumbprint wins. Failures are
// codes.HWNoToken, codes.HWKeyMissing and codes.HWTokenWrong (a
// thumbprint or serial asked for that no token present has), and those
// of Tokens.
func (m *Module) Find(ctx context.Context, sel Selector) (Token, Key, error) {
	t, k, err := m.find1(ctx, sel)
	return t, k, plain(err)
}

// find1 is Find, its errors still marked goneErr.
func (m *Module) find1(ctx context.Context, sel Selector) (Token, Key, error) {
	gen := m.lib.generation()
	ts, err := m.listTokens(ctx)
	if err != nil {
		return Token{}, Key{}, err
	}
	t, k, err := choose(m.path, ts, sel)
	if codes.Of(err) == codes.HWNoToken || codes.Of(err) == codes.HWTokenWrong {
		// A token plugged in since the module read its slots is seen
		// after a rescan only.
		if rerr := m.lib.reinitialize(ctx, m.timeout, gen); rerr != nil {
			return Token{}, Key{}, rerr
		}
		if ts, err = m.listTokens(ctx); err != nil {
			return Token{}, Key{}, err
		}
		t, k, err = choose(m.path, ts, sel)
	}
	return t, k, err
}

// Prove is the presence proof. It draws a fresh random 32-byte challenge,
// picks the token and key sel picks (preferring the key whose thumbprint
// is want), opens a session on it, logs in with pin (unless pin is
// empty: a token that needs no login), signs the challenge with the
// private key — ECDSA P-256 with CKM_ECDSA over its SHA-256, Ed25519
// with CKM_EDDSA — reads the public key from the token again, and
// verifies the signature against it and it against want, the thumbprint
// the license binds.
//
// Failures: codes.HWTokenWrong for a token with another key (naming both
// thumbprints and the serial), codes.HWProofFailed for a signature that
// does not verify with the key the token reports, codes.HWPINIncorrect,
// codes.HWPINLocked, codes.HWNoToken, codes.HWKeyMissing (no private key
// for the public one), codes.HWDevice for other CKR_ errors, naming
// them, and codes.HWTimeout. A token that went away mid-proof is looked
// for again once, after a rescan.
func (m *Module) Prove(ctx context.Context, sel Selector, pin []byte, want string) (Proof, error) {
	if !ValidThumbprint(want) {
		return Proof{}, codes.Errorf(codes.InvalidArgument, "token key thumbprint %q is not a base64url SHA-256 thumbprint (43 characters)", clip(want))
	}
	if sel.Thumbprint == "" {
		sel.Thumbprint = want
	}
	select {
	case m.lib.proving <- struct{}{}:
		defer func() { <-m.lib.proving }()
	case <-ctx.Done():
		return Proof{}, m.lib.ctxDone(ctx, "a presence proof")
	}
	start := time.Now()
	gen := m.lib.generation()
	pr, err := m.prove(ctx, sel, pin, want)
	if err != nil && gone(err) {
		if rerr := m.lib.reinitialize(ctx, m.timeout, gen); rerr != nil {
			return Proof{}, rerr
		}
		pr, err = m.prove(ctx, sel, pin, want)
	}
	if err != nil {
		return Proof{}, plain(err)
	}
	pr.Took = time.Since(start)
	return pr, nil
}

func (m *Module) prove(ctx context.Context, sel Selector, pin []byte, want string) (Proof, error) {
	t, k, err := m.find1(ctx, sel)
	if err != nil {
		return Proof{}, err
	}
	pr, err := m.proveOn(ctx, t, k, pin, want)
	if codes.Of(err) != codes.HWProofFailed {
		return pr, err
	}
	// The token chosen reports the license's key and signs with another:
	// it lies. Another token that shows the key (sel allowing) may be
	// the genuine one, in a later slot: a lying token plugged in beside
	// it must not deny it.
	ts, lerr := m.listTokens(ctx)
	if lerr != nil {
		return Proof{}, err
	}
	for _, o := range ts {
		if o.Slot == t.Slot || !o.Present || !o.Initialized || sel.Serial != "" && o.Serial != sel.Serial || sel.TokenLabel != "" && o.Label != sel.TokenLabel {
			continue
		}
		for _, ok := range o.Keys {
			if ok.Thumbprint == want {
				if p2, e2 := m.proveOn(ctx, o, ok, pin, want); e2 == nil {
					return p2, nil
				}
			}
		}
	}
	return Proof{}, err
}

// proveOn runs the proof on token t with its key k.
func (m *Module) proveOn(ctx context.Context, t Token, k Key, pin []byte, want string) (Proof, error) {
	if k.Thumbprint != want {
		return Proof{}, codes.Errorf(codes.HWTokenWrong, "module %s slot %d: token serial %s holds key %s; the license binds key %s", m.path, t.Slot, t.Serial, k.Thumbprint, want)
	}
	if t.PINLocked && len(pin) > 0 {
		// A login would fail, or, on a token that counts tries, cost one.
		return Proof{}, codes.Errorf(codes.HWPINLocked, "module %s slot %d: token serial %s reports its user PIN locked", m.path, t.Slot, t.Serial)
	}
	challenge := make([]byte, ChallengeSize)
	if _, err := rand.Read(challenge); err != nil {
		return Proof{}, fmt.Errorf("draw a challenge: %w", err)
	}
	var sig []byte
	var reported Key
	err := m.lib.call(ctx, m.timeout, fmt.Sprintf("signing on slot %d", t.Slot), func() error {
		var err error
		sig, reported, err = m.sign(t, k, pin, challenge)
		return err
	})
	if err != nil {
		return Proof{}, err
	}
	if reported.Thumbprint != want {
		return Proof{}, codes.Errorf(codes.HWTokenWrong, "module %s slot %d: token serial %s now holds key %s; the license binds key %s", m.path, t.Slot, t.Serial, reported.Thumbprint, want)
	}
	if !verify(reported, challenge, sig) {
		return Proof{}, codes.Errorf(codes.HWProofFailed, "module %s slot %d: token serial %s signed the challenge, and the signature does not verify with the key %s it reports for key label %q id %s",
			m.path, t.Slot, t.Serial, want, k.Label, k.ID)
	}
	return Proof{Token: t, Key: reported, Challenge: challenge, Signature: sig}, nil
}

// sign logs in to t, signs challenge with k's private key and reads k's
// public key again. It runs holding sem.
func (m *Module) sign(t Token, k Key, pin []byte, challenge []byte) ([]byte, Key, error) {
	p := m.lib.p
	s := t.Slot
	sh, err := p.OpenSession(s, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, Key{}, m.fail("C_OpenSession", s, err)
	}
	defer p.CloseSession(sh)
	if len(pin) > 0 {
		if err := p.Login(sh, pkcs11.CKU_USER, string(pin)); err != nil && !isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
			return nil, Key{}, m.fail("C_Login", s, err)
		}
		defer p.Logout(sh)
	}
	match := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, k.Label)}
	if k.ID != "" {
		id, _ := hex.DecodeString(k.ID)
		match = []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, id)}
	}
	privs, err := m.find(sh, s, pkcs11.CKO_PRIVATE_KEY, match)
	if err != nil {
		return nil, Key{}, err
	}
	if len(privs) == 0 {
		e := codes.Errorf(codes.HWKeyMissing, "module %s slot %d: token serial %s shows no private key for key label %q id %s", m.path, s, t.Serial, k.Label, k.ID)
		if len(pin) == 0 && t.LoginRequired {
			e = codes.Errorf(codes.HWPINIncorrect, "module %s slot %d: token serial %s shows its private keys after a login only, and no PIN was given", m.path, s, t.Serial)
		}
		return nil, Key{}, e
	}
	mech := pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)
	msg := challenge
	if k.Algorithm == ES256 {
		sum := sha256.Sum256(challenge)
		msg = sum[:]
	} else {
		mech = pkcs11.NewMechanism(ckmEdDSA, nil)
	}
	if err := p.SignInit(sh, []*pkcs11.Mechanism{mech}, privs[0]); err != nil {
		if isRV(err, pkcs11.CKR_USER_NOT_LOGGED_IN) {
			return nil, Key{}, codes.Errorf(codes.HWPINIncorrect, "module %s slot %d: token serial %s signs after a login only, and no PIN was given", m.path, s, t.Serial)
		}
		return nil, Key{}, m.fail("C_SignInit", s, err)
	}
	sig, err := p.Sign(sh, msg)
	if err != nil {
		return nil, Key{}, m.fail("C_Sign", s, err)
	}
	keys, err := m.readKeys(sh, s)
	if err != nil {
		return nil, Key{}, err
	}
	for _, r := range keys {
		if r.ID == k.ID && r.Label == k.Label {
			return sig, r, nil
		}
	}
	return nil, Key{}, goneErr{codes.Errorf(codes.HWKeyMissing, "module %s slot %d: token serial %s no longer shows key label %q id %s", m.path, s, t.Serial, k.Label, k.ID)}
}

// verify checks a token's signature of challenge with k.
func verify(k Key, challenge, sig []byte) bool {
	switch pub := k.Public.(type) {
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			return false
		}
		sum := sha256.Sum256(challenge)
		return ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	case ed25519.PublicKey:
		return ed25519.Verify(pub, challenge, sig)
	}
	return false
}
