// Package jws signs and verifies the compact JWS envelopes licensor uses
// for licenses, verdicts and key files: EdDSA over Ed25519 (RFC 8037), so
// that any JOSE implementation can check them.
//
// Parsing is strict: only the compact serialization, only EdDSA, canonical
// base64url without padding, a bounded size, a protected header that is a
// JSON object and names no critical extension (RFC 7515 §4.1.11). The
// signature itself is checked by keys.Verify, the one signature check
// licensor makes. The envelope is simple enough to read by hand, and doing
// so keeps a JOSE library out of the SDK a product links: the parse costs a
// few microseconds beside the signature check.
package jws

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/licensor/licensor/internal/jsonread"
	"github.com/licensor/licensor/keys"
)

// MaxSize bounds a compact JWS licensor will parse.
const MaxSize = 1 << 20

// Algorithm is the one signature algorithm licensor signs and accepts.
const Algorithm = "EdDSA"

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

// b64 is the one encoding of every part: base64url, no padding, and the
// unused bits of the last character zero, so that a JWS has one spelling.
var b64 = base64.RawURLEncoding.Strict()

// EncodeHeader returns the encoded protected header for kid and typ, the
// first part of every JWS a Signer makes; kid and typ are left out when
// empty.
func EncodeHeader(kid, typ string) string {
	h, _ := json.Marshal(Header{Algorithm: Algorithm, KeyID: kid, Type: typ})
	return base64.RawURLEncoding.EncodeToString(h)
}

// Sign returns the compact JWS of payload signed by priv. The header
// carries kid and typ when they are not empty.
func Sign(priv ed25519.PrivateKey, payload []byte, kid, typ string) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("jws: the signing key is not an Ed25519 private key")
	}
	return string(AppendSign(nil, priv, EncodeHeader(kid, typ), payload)), nil
}

// AppendSign appends to dst the compact JWS of payload with the encoded
// header (from EncodeHeader) and signed by priv, for signers that keep the
// header and the buffer. priv must be an Ed25519 private key.
func AppendSign(dst []byte, priv ed25519.PrivateKey, header string, payload []byte) []byte {
	enc := base64.RawURLEncoding
	start := len(dst)
	dst = append(dst, header...)
	dst = append(dst, '.')
	dst = enc.AppendEncode(dst, payload)
	sig := ed25519.Sign(priv, dst[start:])
	dst = append(dst, '.')
	return enc.AppendEncode(dst, sig)
}

// Object is a parsed, not yet verified, compact JWS.
type Object struct {
	Header  Header
	payload string
	signed  string // the signing input: header.payload
	sig     []byte
}

// Parse decodes a compact JWS without verifying it.
func Parse(compact string) (*Object, error) {
	if len(compact) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(compact), MaxSize)
	}
	h, rest, ok1 := strings.Cut(compact, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s, '.') >= 0 {
		return nil, fmt.Errorf("%w: %d parts separated by dots, want 3", ErrMalformed, strings.Count(compact, ".")+1)
	}
	raw, err := b64.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	hdr, err := decodeHeader(string(raw))
	if err != nil {
		return nil, err
	}
	o := &Object{Header: hdr, signed: compact[:len(h)+1+len(p)]}
	payload, err := b64.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	// The decoded bytes are this Object's alone and never written again,
	// so they can be the payload string without a copy.
	o.payload = unsafe.String(unsafe.SliceData(payload), len(payload))
	if o.sig, err = b64.DecodeString(s); err != nil || len(o.sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: the signature is not a base64url Ed25519 signature", ErrMalformed)
	}
	return o, nil
}

// decodeHeader reads the protected header: alg, kid and typ, other
// parameters ignored, and none that changes what is signed (crit, b64).
func decodeHeader(raw string) (Header, error) {
	var h Header
	var ext string
	d := jsonread.NewDecoder(raw)
	d.Object(func(name string) {
		switch name {
		case "alg":
			h.Algorithm = d.String()
		case "kid":
			h.KeyID = d.String()
		case "typ":
			h.Type = d.String()
		case "crit", "b64":
			ext = name
			d.Skip()
		default:
			d.Skip()
		}
	})
	switch {
	case d.Finish() != nil:
		return h, fmt.Errorf("%w: header is not a JSON object: %v", ErrMalformed, d.Finish())
	case h.Algorithm != Algorithm:
		return h, fmt.Errorf("%w: %q (want %s)", ErrAlgorithm, h.Algorithm, Algorithm)
	case ext != "":
		return h, fmt.Errorf("%w: the header names %q, an extension licensor does not implement", ErrMalformed, ext)
	}
	return h, nil
}

// UnverifiedPayload returns the payload without checking the signature, for
// showing a document whose signer is not at hand.
func (o *Object) UnverifiedPayload() string { return o.payload }

// Verify checks the signature with pub and returns the payload.
func (o *Object) Verify(pub ed25519.PublicKey) (string, error) {
	// ed25519.Verify only reads the message: it may see the string's bytes
	// rather than a copy of them (a key file's signing input is a few KiB,
	// copied on every cold check otherwise).
	signed := unsafe.Slice(unsafe.StringData(o.signed), len(o.signed))
	if !keys.Verify(pub, signed, o.sig) {
		return "", ErrSignature
	}
	return o.payload, nil
}
