// Package token talks to hardware tokens (dongles, smart cards, HSMs)
// through PKCS#11, the open standard every token vendor ships a module
// for: it loads the vendor's module (a shared library), lists its slots,
// tokens and keys, finds the key a license binds, and proves the token is
// present by having it sign a fresh random challenge that is verified
// against the key's thumbprint.
//
// It needs cgo. A binary built with CGO_ENABLED=0 compiles this package
// with Supported false, and every function answers codes.HWUnsupported.
//
// Every PKCS#11 call goes through a bounded call: it runs in a goroutine
// and the caller waits at most the module's timeout. A C call cannot be
// cancelled, so one that overruns is left to finish on its own, and until
// it does, every later call to the same module answers codes.HWTimeout at
// once: at most one goroutine per module is ever inside the module.
//
// A module is loaded once per process (the dynamic loader shares it
// anyway): Modules opened on the same path share one initialisation,
// which ends when the last is closed.
//
// Tokens come and go. SoftHSM2 2.6, the module the tests run against,
// reads its token directory at C_Initialize only: a token whose directory
// is removed stays in the slot list, and every call on it answers
// CKR_GENERAL_ERROR, even after the directory comes back; a token added
// later (by softhsm2-util in another process, say) is not listed at all.
// Hardware modules answer CKR_TOKEN_NOT_PRESENT or CKR_DEVICE_REMOVED
// instead, and most rescan their readers on C_GetSlotList. So when a call
// fails in a way that says the token, or the module's view of it, went
// away (those, CKR_SLOT_ID_INVALID, CKR_SESSION_HANDLE_INVALID,
// CKR_SESSION_CLOSED, CKR_GENERAL_ERROR, CKR_DEVICE_ERROR,
// CKR_TOKEN_NOT_RECOGNIZED), and when Find or a proof finds no token or
// only another one, the module is re-initialised (C_Finalize,
// C_Initialize) and the call tried once more: a token removed, replaced
// or plugged in is seen without a restart. Re-initialising closes every
// session the process has on the module; the calls of this package open
// and close their sessions within one bounded call, and one caught by a
// re-initialisation is retried.
package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

// The algorithms of the keys a token may hold, as JOSE names them.
const (
	ES256 = license.TokenES256 // ECDSA P-256 with SHA-256
	EdDSA = license.TokenEdDSA // Ed25519
)

// DefaultTimeout bounds one PKCS#11 call when Open is given 0.
const DefaultTimeout = 5 * time.Second

// ChallengeSize is the size of the random challenge a proof signs.
const ChallengeSize = 32

// ModuleInfo is what a module says about itself (C_GetInfo).
type ModuleInfo struct {
	Path           string `json:"path"`
	Manufacturer   string `json:"manufacturer"`
	Description    string `json:"description"`
	LibraryVersion string `json:"libraryVersion"`
	// CryptokiVersion is the PKCS#11 version the module implements.
	CryptokiVersion string `json:"cryptokiVersion"`
}

// Token is one slot and the token in it, if any.
type Token struct {
	Slot            uint   `json:"slot"`
	SlotDescription string `json:"slotDescription"`
	// Present is false for an empty slot (a reader with no card); then
	// only Slot and SlotDescription are set.
	Present bool `json:"present"`
	// Initialized is false for a token that was never initialised (the
	// free slot SoftHSM2 always offers, a blank card): it holds no keys.
	Initialized  bool   `json:"initialized"`
	Label        string `json:"label,omitempty"`
	Serial       string `json:"serial,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	// PINLocked: too many wrong PINs; PINFinalTry: one more locks it.
	PINLocked     bool `json:"pinLocked,omitempty"`
	PINFinalTry   bool `json:"pinFinalTry,omitempty"`
	LoginRequired bool `json:"loginRequired,omitempty"`
	// Keys are the keys licensor can use (ECDSA P-256, Ed25519) readable
	// without logging in: the token's public key objects.
	Keys []Key `json:"keys"`
}

// Key is a public key on a token.
type Key struct {
	Label     string           `json:"label"`
	ID        string           `json:"id"` // CKA_ID, hex
	Algorithm string           `json:"alg"`
	Public    crypto.PublicKey `json:"-"`
	// Thumbprint is the key's RFC 7638 JWK thumbprint (SHA-256,
	// base64url): the value a license binds.
	Thumbprint string `json:"thumbprint"`
	// Private is true when a private key object with the key's id (or
	// label) was seen. Most tokens show private keys only after login,
	// so false says little before a proof.
	Private bool `json:"private"`
}

// Selector picks a token and a key; empty fields match anything.
type Selector struct {
	Serial, TokenLabel, KeyLabel string
	KeyID                        string // hex
	Thumbprint                   string
}

// String describes the selector for messages.
func (s Selector) String() string {
	var parts []string
	add := func(name, v string) {
		if v != "" {
			parts = append(parts, fmt.Sprintf("%s %q", name, v))
		}
	}
	add("serial", s.Serial)
	add("token label", s.TokenLabel)
	add("key label", s.KeyLabel)
	add("key id", s.KeyID)
	add("thumbprint", s.Thumbprint)
	if len(parts) == 0 {
		return "any token and key"
	}
	return strings.Join(parts, ", ")
}

// Proof is a presence proof that verified.
type Proof struct {
	Token     Token
	Key       Key
	Challenge []byte
	Signature []byte
	// Took is how long the proof took, from opening the session to the
	// verified signature.
	Took time.Duration
}

// Thumbprint returns the RFC 7638 JWK thumbprint of an ECDSA P-256 or
// Ed25519 public key, base64url without padding. Failures are
// codes.HWKeyMissing (a key licensor cannot use).
func Thumbprint(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", codes.Errorf(codes.HWKeyMissing, "an Ed25519 key of %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		return keys.ID(k), nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve != elliptic.P256() {
			return "", codes.Errorf(codes.HWKeyMissing, "an ECDSA key on a curve other than P-256")
		}
		raw, err := k.Bytes() // 0x04 || X || Y, each 32 bytes
		if err != nil {
			return "", codes.Errorf(codes.HWKeyMissing, "an ECDSA key that is not a valid P-256 point: %w", err)
		}
		// The required members in lexical order, no white space (RFC
		// 7638 §3.2, RFC 7518 §6.2.1).
		j := `{"crv":"P-256","kty":"EC","x":"` + base64.RawURLEncoding.EncodeToString(raw[1:33]) +
			`","y":"` + base64.RawURLEncoding.EncodeToString(raw[33:]) + `"}`
		sum := sha256.Sum256([]byte(j))
		return base64.RawURLEncoding.EncodeToString(sum[:]), nil
	}
	return "", codes.Errorf(codes.HWKeyMissing, "a %T key: licensor uses ECDSA P-256 and Ed25519 token keys", pub)
}

// ValidThumbprint reports whether s has the form of a thumbprint: 43
// base64url characters (32 bytes).
func ValidThumbprint(s string) bool { return license.ValidThumbprint(s) }

// ParseKeyID parses a key id as 'licensor token list' prints it: hex,
// with optional colons between bytes ("01a2", "01:a2"), at most 64
// bytes. The result is lower-case hex without colons. Failures are
// codes.InvalidArgument.
func ParseKeyID(s string) (string, error) {
	t := strings.ReplaceAll(s, ":", "")
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		t = t[2:]
	}
	b, err := hex.DecodeString(t)
	switch {
	case s == "":
		return "", codes.Errorf(codes.InvalidArgument, "an empty key id")
	case err != nil || len(t) == 0:
		return "", codes.Errorf(codes.InvalidArgument, "key id %q is not hex (such as 01 or 0a:1b, as 'licensor token list' prints it)", clip(s))
	case len(b) > 64:
		return "", codes.Errorf(codes.InvalidArgument, "key id of %d bytes: at most 64", len(b))
	}
	return hex.EncodeToString(b), nil
}

// clip shortens text from outside for a message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
