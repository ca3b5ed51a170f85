//go:build cgo

// Package softhsmtest gives tests a SoftHSM2 token store of their own: a
// directory under t.TempDir() with its own softhsm2.conf, named by
// SOFTHSM2_CONF for the process (SoftHSM reads it at C_Initialize).
// Tests initialise tokens, generate keys on them, unplug, replug and swap
// them by moving their directories, make a token that lies about its key,
// and a module that hangs. Without SoftHSM2 installed a test skips,
// except under CI, where it fails: there the token tests must run.
//
// The helpers call the module in this process, through the same PKCS#11
// binding the token package uses; the module's state is the process's,
// so a helper called while the token package has the module open works
// on the very state it reads (a token initialised here is seen there at
// once; one whose directory moves is not, as with any SoftHSM user).
//
// It needs cgo, as the token package does.
package softhsmtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/miekg/pkcs11"
)

// Modules are where Debian and others install SoftHSM2's module.
var Modules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
}

// ModulePath returns the installed SoftHSM2 module, or skips t (fails
// it under CI).
func ModulePath(t testing.TB) string {
	t.Helper()
	for _, m := range Modules {
		if _, err := os.Stat(m); err == nil {
			return m
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("SoftHSM2 is not installed (none of %v): under CI the token tests must run (scripts/test installs softhsm2)", Modules)
	}
	t.Skipf("SoftHSM2 is not installed (apt-get install softhsm2); scripts/test installs it")
	return ""
}

// The PINs tokens get unless told otherwise.
const (
	SOPIN   = "12345678"
	UserPIN = "pin-7391"
)

// HSM is a token store.
type HSM struct {
	t testing.TB
	// Module is the SoftHSM2 module's path.
	Module string
	// Dir holds Conf, Tokens and the unplugged tokens.
	Dir, Conf, Tokens string
	unplugged         string
}

// Token is a token initialised in an HSM.
type Token struct {
	Label, Serial string
	PIN, SOPIN    string
	// Dir is the token's directory in the store while it is plugged in.
	Dir string
}

// New makes an empty token store for t and points SOFTHSM2_CONF at it.
// The module must not be initialised in the process (by a token.Module
// an earlier test left open, say): it would go on reading the store it
// read at its C_Initialize.
func New(t testing.TB) *HSM {
	t.Helper()
	mod := ModulePath(t)
	dir := t.TempDir()
	h := &HSM{t: t, Module: mod, Dir: dir, Conf: filepath.Join(dir, "softhsm2.conf"),
		Tokens: filepath.Join(dir, "tokens"), unplugged: filepath.Join(dir, "unplugged")}
	for _, d := range []string{h.Tokens, h.unplugged} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(h.Conf, []byte(h.ConfText()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", h.Conf)
	p := pkcs11.New(mod)
	if p == nil {
		t.Fatalf("softhsmtest: %s does not load", mod)
	}
	defer p.Destroy()
	switch err := p.Initialize(); {
	case isRV(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED):
		t.Fatalf("softhsmtest: %s is already initialised in this process (a Module left open by an earlier test?): it would not read this test's store", mod)
	case err != nil:
		t.Fatalf("softhsmtest: C_Initialize: %v", err)
	}
	p.Finalize()
	return h
}

// ConfText is the store's softhsm2.conf.
func (h *HSM) ConfText() string {
	return "directories.tokendir = " + h.Tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = true\n"
}

// with runs fn with the module initialised: by this call, finalised
// after it, or by whoever has it open (a token.Module), left as it is.
func (h *HSM) with(fn func(p *pkcs11.Ctx)) {
	h.t.Helper()
	p := pkcs11.New(h.Module)
	if p == nil {
		h.t.Fatalf("softhsmtest: %s does not load", h.Module)
	}
	defer p.Destroy()
	err := p.Initialize()
	if err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		h.t.Fatalf("softhsmtest: C_Initialize: %v", err)
	}
	if err == nil {
		defer p.Finalize()
	}
	fn(p)
}

// InitToken initialises a token on the free slot with a label and the
// PINs SOPIN and UserPIN.
func (h *HSM) InitToken(label string) *Token {
	return h.InitTokenPINs(label, SOPIN, UserPIN)
}

// InitTokenPINs initialises a token with the PINs given.
func (h *HSM) InitTokenPINs(label, soPIN, userPIN string) *Token {
	h.t.Helper()
	before := h.dirs()
	tok := &Token{Label: label, PIN: userPIN, SOPIN: soPIN}
	h.with(func(p *pkcs11.Ctx) {
		free := h.freeSlot(p)
		if err := p.InitToken(free, soPIN, label); err != nil {
			h.t.Fatalf("softhsmtest: C_InitToken: %v", err)
		}
		s := h.slotOf(p, label, "")
		ti, _ := p.GetTokenInfo(s)
		tok.Serial = ti.SerialNumber
		sh := h.session(p, s)
		defer p.CloseSession(sh)
		if err := p.Login(sh, pkcs11.CKU_SO, soPIN); err != nil {
			h.t.Fatalf("softhsmtest: SO login: %v", err)
		}
		if err := p.InitPIN(sh, userPIN); err != nil {
			h.t.Fatalf("softhsmtest: C_InitPIN: %v", err)
		}
		p.Logout(sh)
	})
	for _, d := range h.dirs() {
		if !slices.Contains(before, d) {
			tok.Dir = filepath.Join(h.Tokens, d)
		}
	}
	if tok.Dir == "" {
		h.t.Fatalf("softhsmtest: token %q made no directory in %s", label, h.Tokens)
	}
	return tok
}

func (h *HSM) dirs() []string {
	ents, err := os.ReadDir(h.Tokens)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func (h *HSM) freeSlot(p *pkcs11.Ctx) uint {
	h.t.Helper()
	slots, err := p.GetSlotList(true)
	if err != nil {
		h.t.Fatalf("softhsmtest: C_GetSlotList: %v", err)
	}
	for _, s := range slots {
		if ti, err := p.GetTokenInfo(s); err == nil && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			return s
		}
	}
	h.t.Fatal("softhsmtest: no free slot")
	return 0
}

// slotOf finds the slot of the token with label (and serial, if given).
func (h *HSM) slotOf(p *pkcs11.Ctx, label, serial string) uint {
	h.t.Helper()
	slots, err := p.GetSlotList(true)
	if err != nil {
		h.t.Fatalf("softhsmtest: C_GetSlotList: %v", err)
	}
	for _, s := range slots {
		ti, err := p.GetTokenInfo(s)
		if err == nil && ti.Label == label && (serial == "" || ti.SerialNumber == serial) {
			return s
		}
	}
	h.t.Fatalf("softhsmtest: no token %q (serial %q) in the module's slots (is it unplugged, or was it plugged in after the module's C_Initialize?)", label, serial)
	return 0
}

func (h *HSM) session(p *pkcs11.Ctx, s uint) pkcs11.SessionHandle {
	h.t.Helper()
	sh, err := p.OpenSession(s, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		h.t.Fatalf("softhsmtest: C_OpenSession: %v", err)
	}
	return sh
}

// login opens a session on tok, logged in as its user.
func (h *HSM) login(p *pkcs11.Ctx, tok *Token) pkcs11.SessionHandle {
	h.t.Helper()
	sh := h.session(p, h.slotOf(p, tok.Label, tok.Serial))
	if err := p.Login(sh, pkcs11.CKU_USER, tok.PIN); err != nil && !isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		h.t.Fatalf("softhsmtest: C_Login: %v", err)
	}
	return sh
}

var (
	paramsP256    = mustDER(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	paramsEd25519 = mustDER(asn1.ObjectIdentifier{1, 3, 101, 112})
)

const (
	ckmECEdwardsKeyPairGen = 0x1055 // CKM_EC_EDWARDS_KEY_PAIR_GEN
	ckmEdDSA               = 0x1057 // CKM_EDDSA
)

// GenerateECDSA generates an ECDSA P-256 key pair on tok with a label and
// an id, and returns its public key.
func (h *HSM) GenerateECDSA(tok *Token, label string, id []byte) *ecdsa.PublicKey {
	h.t.Helper()
	point := h.generate(tok, pkcs11.CKM_EC_KEY_PAIR_GEN, paramsP256, label, id)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		h.t.Fatalf("softhsmtest: the module returned a point that is not on P-256: %v", err)
	}
	return pub
}

// HasEd25519 reports whether the module generates Ed25519 keys and signs
// with CKM_EDDSA.
func (h *HSM) HasEd25519(tok *Token) bool {
	h.t.Helper()
	var gen, sign bool
	h.with(func(p *pkcs11.Ctx) {
		ms, err := p.GetMechanismList(h.slotOf(p, tok.Label, tok.Serial))
		if err != nil {
			h.t.Fatalf("softhsmtest: C_GetMechanismList: %v", err)
		}
		for _, m := range ms {
			gen = gen || m.Mechanism == ckmECEdwardsKeyPairGen
			sign = sign || m.Mechanism == ckmEdDSA
		}
	})
	return gen && sign
}

// GenerateEd25519 generates an Ed25519 key pair on tok (see HasEd25519).
func (h *HSM) GenerateEd25519(tok *Token, label string, id []byte) ed25519.PublicKey {
	h.t.Helper()
	return ed25519.PublicKey(h.generate(tok, ckmECEdwardsKeyPairGen, paramsEd25519, label, id))
}

// generate makes a key pair and returns the public key's point, raw.
func (h *HSM) generate(tok *Token, mech uint, params []byte, label string, id []byte) []byte {
	h.t.Helper()
	var point []byte
	h.with(func(p *pkcs11.Ctx) {
		sh := h.login(p, tok)
		defer p.CloseSession(sh)
		pub, _, err := p.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
				pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params), pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			})
		if err != nil {
			h.t.Fatalf("softhsmtest: C_GenerateKeyPair: %v", err)
		}
		attrs, err := p.GetAttributeValue(sh, pub, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
		if err != nil {
			h.t.Fatalf("softhsmtest: read the public key: %v", err)
		}
		if _, err := asn1.Unmarshal(attrs[0].Value, &point); err != nil {
			h.t.Fatalf("softhsmtest: the module's CKA_EC_POINT is not an OCTET STRING: %v", err)
		}
	})
	return point
}

// Lie makes tok lie about a key: it generates an ECDSA P-256 key pair
// with label and id, then replaces its public key object with one that
// carries claimed's point under the same label and id. The token then
// reports claimed as its key, and signs with another.
func (h *HSM) Lie(tok *Token, label string, id []byte, claimed *ecdsa.PublicKey) {
	h.t.Helper()
	h.GenerateECDSA(tok, label, id)
	h.with(func(p *pkcs11.Ctx) {
		sh := h.login(p, tok)
		defer p.CloseSession(sh)
		if err := p.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_ID, id)}); err != nil {
			h.t.Fatal(err)
		}
		objs, _, err := p.FindObjects(sh, 16)
		p.FindObjectsFinal(sh)
		if err != nil || len(objs) == 0 {
			h.t.Fatalf("softhsmtest: find the public key to replace: %v (%d found)", err, len(objs))
		}
		for _, o := range objs {
			if err := p.DestroyObject(sh, o); err != nil {
				h.t.Fatalf("softhsmtest: C_DestroyObject: %v", err)
			}
		}
		raw, err := claimed.Bytes()
		if err != nil {
			h.t.Fatal(err)
		}
		point := mustDER(raw)
		_, err = p.CreateObject(sh, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, paramsP256), pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, point),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		})
		if err != nil {
			h.t.Fatalf("softhsmtest: C_CreateObject: %v", err)
		}
	})
}

// Unplug takes tok out: its directory moves out of the store. A module
// initialised before sees it gone at its next call on the token (SoftHSM2
// answers CKR_GENERAL_ERROR), and lists it again only after it is
// re-initialised.
func (h *HSM) Unplug(tok *Token) {
	h.t.Helper()
	if err := os.Rename(tok.Dir, filepath.Join(h.unplugged, filepath.Base(tok.Dir))); err != nil {
		h.t.Fatalf("softhsmtest: unplug %q: %v", tok.Label, err)
	}
}

// Replug puts an unplugged tok back.
func (h *HSM) Replug(tok *Token) {
	h.t.Helper()
	if err := os.Rename(filepath.Join(h.unplugged, filepath.Base(tok.Dir)), tok.Dir); err != nil {
		h.t.Fatalf("softhsmtest: replug %q: %v", tok.Label, err)
	}
}

// Swap unplugs out and plugs in, an unplugged token.
func (h *HSM) Swap(out, in *Token) {
	h.t.Helper()
	h.Unplug(out)
	h.Replug(in)
}

// Lock marks tok's user PIN locked, as a token does after too many
// wrong PINs: SoftHSM2 counts no retries, so the flag is set in the
// token's file (the CKA_OS_TOKENFLAGS attribute SoftHSM2 keeps its
// CK_TOKEN_INFO flags in). A module reads it at its next C_Initialize.
func (h *HSM) Lock(tok *Token) {
	h.t.Helper()
	path := filepath.Join(tok.Dir, "token.object")
	b, err := os.ReadFile(path)
	if err != nil {
		h.t.Fatal(err)
	}
	// An attribute is its type (8 bytes), its kind (8 bytes: 2 for a
	// CK_ULONG) and, for a CK_ULONG, its value (8 bytes), big-endian.
	marker := []byte{0, 0, 0, 0, 0x80, 0, 0x53, 0x4b, 0, 0, 0, 0, 0, 0, 0, 2}
	i := bytes.Index(b, marker)
	if i < 0 || len(b) < i+24 {
		h.t.Fatalf("softhsmtest: %s holds no token flags attribute: another SoftHSM2 file layout", path)
	}
	v := binary.BigEndian.Uint64(b[i+16:]) | pkcs11.CKF_USER_PIN_LOCKED
	binary.BigEndian.PutUint64(b[i+16:], v)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// CopyModule copies the SoftHSM2 module to a file of its own: loaded
// from there, it is another module with state of its own (the loader
// shares a library's state only between loads of the same file).
func (h *HSM) CopyModule() string {
	h.t.Helper()
	src, err := os.Open(h.Module)
	if err != nil {
		h.t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(h.t.TempDir(), "libsofthsm2-copy.so")
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := io.Copy(f, src); err != nil {
		h.t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		h.t.Fatal(err)
	}
	return dst
}

// Hang makes the next C_Initialize of a SoftHSM2 module in this process
// hang: SOFTHSM2_CONF names a FIFO no one writes, and SoftHSM2 blocks
// reading it. release points SOFTHSM2_CONF back at the store and writes
// the store's conf into the FIFO, so the hung call returns; it is safe
// to call when nothing hangs, and t's cleanup calls it.
func (h *HSM) Hang() (release func()) {
	h.t.Helper()
	fifo := filepath.Join(h.t.TempDir(), "softhsm2.conf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		h.t.Fatalf("softhsmtest: mkfifo: %v", err)
	}
	os.Setenv("SOFTHSM2_CONF", fifo) // t.Setenv in New restores it at the end
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		os.Setenv("SOFTHSM2_CONF", h.Conf)
		// Without a reader (nothing hangs) opening for writing fails at
		// once with ENXIO instead of blocking.
		f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return
		}
		f.WriteString(h.ConfText())
		f.Close()
	}
	h.t.Cleanup(release)
	return release
}

func isRV(err error, rv uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == rv
}

func mustDER(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Import puts priv, an ECDSA P-256 key made outside, on tok with label
// and id, both halves: the way a vendor puts one key on several tokens
// (a spare dongle).
func (h *HSM) Import(tok *Token, label string, id []byte, priv *ecdsa.PrivateKey) {
	h.t.Helper()
	raw, err := priv.PublicKey.Bytes()
	if err != nil {
		h.t.Fatal(err)
	}
	scalar, err := priv.Bytes()
	if err != nil {
		h.t.Fatal(err)
	}
	h.with(func(p *pkcs11.Ctx) {
		sh := h.login(p, tok)
		defer p.CloseSession(sh)
		for _, attrs := range [][]*pkcs11.Attribute{{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, paramsP256), pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, mustDER(raw)),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		}, {
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, paramsP256), pkcs11.NewAttribute(pkcs11.CKA_VALUE, scalar),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		}} {
			if _, err := p.CreateObject(sh, attrs); err != nil {
				h.t.Fatalf("softhsmtest: C_CreateObject: %v", err)
			}
		}
	})
}
