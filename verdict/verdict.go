// Package verdict is the site server's signed answer to an instance: a
// JWT (EdDSA, signed with the site server key) bound to the instance id,
// the product, the license and, when the client sent one, its nonce. The
// server returns it beside the vendor-signed license, so a client checks
// the whole chain: vendor key → license → server key → verdict.
package verdict

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/licensor/licensor/internal/jsonwrite"
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
	if len(priv) != ed25519.PrivateKeySize {
		return "", errors.New("verdict: the server key is not an Ed25519 private key")
	}
	return (&Signer{priv: priv, header: jws.EncodeHeader(kid, JWSType)}).Sign(c), nil
}

// JWSType is the "typ" header of a verdict.
const JWSType = "JWT"

// A Signer signs verdicts with one server key, as a site server does on
// every grant and heartbeat.
type Signer struct {
	priv   ed25519.PrivateKey
	header string
}

// NewSigner returns a Signer for the server key priv.
func NewSigner(priv ed25519.PrivateKey) (*Signer, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("verdict: the server key is not an Ed25519 private key")
	}
	kid := keys.ID(priv.Public().(ed25519.PublicKey))
	return &Signer{priv: priv, header: jws.EncodeHeader(kid, JWSType)}, nil
}

// Sign returns the compact JWT of c.
func (s *Signer) Sign(c *Claims) string {
	var payload [512]byte
	return string(jws.AppendSign(make([]byte, 0, 1024), s.priv, s.header, c.AppendJSON(payload[:0])))
}

// AppendJSON appends the claims' JSON, as encoding/json would write them:
// the signer's hot path, without reflection.
func (c *Claims) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = jsonwrite.Key(dst, "iss")
	dst = jsonwrite.String(dst, c.Issuer)
	dst = jsonwrite.Key(dst, "sub")
	dst = jsonwrite.String(dst, c.Subject)
	dst = jsonwrite.Key(dst, "aud")
	dst = jsonwrite.String(dst, c.Audience)
	dst = jsonwrite.Key(dst, "iat")
	dst = jsonwrite.Int(dst, c.IssuedAt)
	dst = jsonwrite.Key(dst, "nbf")
	dst = jsonwrite.Int(dst, c.NotBefore)
	dst = jsonwrite.Key(dst, "exp")
	dst = jsonwrite.Int(dst, c.Expires)
	dst = jsonwrite.Key(dst, "jti")
	dst = jsonwrite.String(dst, c.ID)
	if c.Nonce != "" {
		dst = jsonwrite.Key(dst, "nonce")
		dst = jsonwrite.String(dst, c.Nonce)
	}
	dst = jsonwrite.Key(dst, "product")
	dst = jsonwrite.String(dst, c.Product)
	dst = jsonwrite.Key(dst, "functions")
	dst = jsonwrite.Strings(dst, c.Functions)
	dst = jsonwrite.Key(dst, "lic")
	dst = jsonwrite.String(dst, c.LicenseID)
	dst = jsonwrite.Key(dst, "lease")
	dst = jsonwrite.Int(dst, c.Lease)
	if c.QPS != 0 {
		dst = jsonwrite.Key(dst, "qps")
		dst = jsonwrite.Float(dst, c.QPS)
	}
	dst = jsonwrite.Key(dst, "mc")
	dst = jsonwrite.String(dst, c.Machine)
	return append(dst, '}')
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
