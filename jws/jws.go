// Package jws signs and verifies the compact JWS envelopes licensor uses
// for licenses, verdicts and key files: EdDSA over Ed25519 (RFC 8037), so
// that any JOSE implementation can check them.
//
// Parsing is strict: only the compact serialization, only EdDSA, a bounded
// size, and the protected header must be a JSON object. The signature
// itself is checked by keys.Verify, the one signature check licensor makes.
package jws

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/licensor/licensor/keys"
)

// MaxSize bounds a compact JWS licensor will parse.
const MaxSize = 1 << 20

// Errors returned by Parse and Verify; callers map them to their codes.
var (
	ErrMalformed = errors.New("not a compact JWS")
	ErrAlgorithm = errors.New("signature algorithm not allowed")
	ErrSignature = errors.New("signature does not verify")
)

// Header is the protected header licensor reads.
type Header struct {
	Algorithm string `json:"alg"`
	KeyID     string `json:"kid,omitempty"`
	Type      string `json:"typ,omitempty"`
}

// Sign returns the compact JWS of payload signed by priv. The header
// carries kid and typ when they are not empty.
func Sign(priv ed25519.PrivateKey, payload []byte, kid, typ string) (string, error) {
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	if typ != "" {
		opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, opts)
	if err != nil {
		return "", fmt.Errorf("jws: %w", err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("jws: %w", err)
	}
	return obj.CompactSerialize()
}

// Object is a parsed, not yet verified, compact JWS.
type Object struct {
	Header Header
	sig    *jose.JSONWebSignature
}

// Parse decodes a compact JWS without verifying it.
func Parse(compact string) (*Object, error) {
	if len(compact) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(compact), MaxSize)
	}
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: %d parts separated by dots, want 3", ErrMalformed, len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	var h Header
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	if h.Algorithm != string(jose.EdDSA) {
		return nil, fmt.Errorf("%w: %q (want EdDSA)", ErrAlgorithm, h.Algorithm)
	}
	sig, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, trimJose(err))
	}
	if len(sig.Signatures) != 1 {
		return nil, fmt.Errorf("%w: %d signatures, want 1", ErrMalformed, len(sig.Signatures))
	}
	return &Object{Header: h, sig: sig}, nil
}

// UnverifiedPayload returns the payload without checking the signature, for
// showing a document whose signer is not at hand.
func (o *Object) UnverifiedPayload() []byte { return o.sig.UnsafePayloadWithoutVerification() }

// Verify checks the signature with pub and returns the payload.
func (o *Object) Verify(pub ed25519.PublicKey) ([]byte, error) {
	payload, err := o.sig.Verify(verifier(pub))
	if err != nil {
		return nil, ErrSignature
	}
	return payload, nil
}

// verifier routes go-jose's check through keys.Verify.
type verifier ed25519.PublicKey

func (v verifier) VerifyPayload(payload, signature []byte, alg jose.SignatureAlgorithm) error {
	if alg != jose.EdDSA || !keys.Verify(ed25519.PublicKey(v), payload, signature) {
		return ErrSignature
	}
	return nil
}

func trimJose(err error) string {
	return strings.TrimPrefix(err.Error(), "go-jose/go-jose: ")
}
