// Package verdict is the site server's signed answer to an instance: a
// JWT (EdDSA, signed with the site server key) bound to the instance id,
// the product, the license and, when the client sent one, its nonce. The
// server returns it beside the vendor-signed license, so a client checks
// the whole chain: vendor key → license → server key → verdict.
package verdict

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/licensor/licensor/jws"
	"github.com/licensor/licensor/keys"
)

// Issuer is the "iss" of every verdict.
const Issuer = "licensor-site"

// Audience returns the "aud" of a verdict for product.
func Audience(product string) string { return "licensor:" + product }

// Claims is a verdict's payload.
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"` // the instance id
	Audience  string   `json:"aud"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expires   int64    `json:"exp"`
	ID        string   `json:"jti"`
	Nonce     string   `json:"nonce,omitempty"`
	Product   string   `json:"product"`
	Functions []string `json:"functions"`
	LicenseID string   `json:"lic"`
	// Lease is the seat's expiry (Unix seconds); the client heartbeats
	// before it.
	Lease int64 `json:"lease"`
	// QPS is the calls per second this instance may spend; 0 when the
	// product has no QPS control.
	QPS float64 `json:"qps,omitempty"`
	// Machine is the licensed machine code the server runs on, so a client
	// can refuse a server whose license names other machines.
	Machine string `json:"mc"`
}

// Sign returns the compact JWT of c signed by the server key.
func Sign(priv ed25519.PrivateKey, kid string, c *Claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	header := headerFor(kid)
	b64 := base64.RawURLEncoding
	buf := make([]byte, 0, len(header)+1+b64.EncodedLen(len(payload))+1+b64.EncodedLen(ed25519.SignatureSize))
	buf = append(buf, header...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	sig := ed25519.Sign(priv, buf)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

func headerFor(kid string) string {
	h, _ := json.Marshal(jws.Header{Algorithm: "EdDSA", KeyID: kid, Type: "JWT"})
	return base64.RawURLEncoding.EncodeToString(h)
}

// NewID returns a random token id.
func NewID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Errors from Verify.
var (
	ErrMalformed = errors.New("verdict is not a signed JWT")
	ErrSignature = errors.New("verdict signature does not verify with the server key the license names")
	ErrBinding   = errors.New("verdict is for another instance, product, license or request")
	ErrExpired   = errors.New("verdict expired")
)

// Expect is what a verdict must say for the client checking it.
type Expect struct {
	InstanceID string
	Product    string
	LicenseID  string
	Nonce      string // empty: not checked
	Now        time.Time
	Skew       time.Duration // tolerated clock difference
}

// Verify checks token's signature with the server key and its claims
// against want.
func Verify(token string, server ed25519.PublicKey, want Expect) (*Claims, error) {
	obj, err := jws.Parse(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if obj.Header.KeyID != keys.ID(server) {
		return nil, fmt.Errorf("%w: signed by key %q, the license names %q", ErrSignature, obj.Header.KeyID, keys.ID(server))
	}
	payload, err := obj.Verify(server)
	if err != nil {
		return nil, ErrSignature
	}
	var c Claims
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	switch {
	case c.Issuer != Issuer, c.Audience != Audience(want.Product), c.Product != want.Product:
		return nil, fmt.Errorf("%w: issued for %s/%s", ErrBinding, c.Issuer, c.Audience)
	case c.Subject != want.InstanceID:
		return nil, fmt.Errorf("%w: instance %q, not %q", ErrBinding, c.Subject, want.InstanceID)
	case want.LicenseID != "" && c.LicenseID != want.LicenseID:
		return nil, fmt.Errorf("%w: license %q, not %q", ErrBinding, c.LicenseID, want.LicenseID)
	case want.Nonce != "" && c.Nonce != want.Nonce:
		return nil, fmt.Errorf("%w: the answer is not to this request (replayed?)", ErrBinding)
	}
	now := want.Now.Unix()
	skew := int64(want.Skew / time.Second)
	if now > c.Expires+skew {
		return nil, fmt.Errorf("%w at %s", ErrExpired, time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	}
	if now+skew < c.NotBefore {
		return nil, fmt.Errorf("%w: not valid before %s (clock skew?)", ErrBinding, time.Unix(c.NotBefore, 0).UTC().Format(time.RFC3339))
	}
	return &c, nil
}
