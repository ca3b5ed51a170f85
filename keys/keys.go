// Package keys reads, writes and names the Ed25519 keys licensor signs with:
// the vendor's key that signs licenses and a site server's own key that
// signs verdicts and key files.
//
// Keys are stored as PEM: PKCS #8 "PRIVATE KEY" and PKIX "PUBLIC KEY", the
// forms OpenSSL reads. A key is named by its RFC 7638 JWK thumbprint, the
// "kid" that licenses and tokens carry in their headers.
package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/atomicfile"
	"github.com/licensor/licensor/internal/readfile"
	"github.com/licensor/licensor/internal/unwritable"
)

// MaxFileSize bounds what is read from a key file.
const MaxFileSize = 64 << 10

const (
	pemPrivate = "PRIVATE KEY"
	pemPublic  = "PUBLIC KEY"
)

// Generate makes a new Ed25519 key pair.
func Generate() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

// ID returns the key's RFC 7638 JWK thumbprint, base64url without padding.
func ID(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		return thumbprint(pub)
	}
	k := [ed25519.PublicKeySize]byte(pub)
	for i := range idCache {
		if e := idCache[i].Load(); e != nil && e.pub == k {
			return e.id
		}
	}
	id := thumbprint(pub)
	idCache[idNext.Add(1)%uint32(len(idCache))].Store(&idEntry{pub: k, id: id})
	return id
}

// idCache holds the ids of the last few keys: checking a key file cold
// takes the thumbprints of the same vendor and server keys several times.
var (
	idCache [4]atomic.Pointer[idEntry]
	idNext  atomic.Uint32
)

type idEntry struct {
	pub [ed25519.PublicKeySize]byte
	id  string
}

// thumbprint computes ID.
func thumbprint(pub ed25519.PublicKey) string {
	// The thumbprint input has the required members in lexical order, no
	// white space (RFC 7638 §3.2, RFC 8037 §2).
	var buf [96]byte
	j := append(buf[:0], `{"crv":"Ed25519","kty":"OKP","x":"`...)
	j = base64.RawURLEncoding.AppendEncode(j, pub)
	j = append(j, `"}`...)
	sum := sha256.Sum256(j)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Verify reports whether sig is a valid Ed25519 signature of msg by pub.
// It is the one signature check licensor makes.
func Verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, msg, sig)
}

// MarshalPrivate encodes priv as a PKCS #8 PEM block.
func MarshalPrivate(priv ed25519.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		panic("keys: marshal Ed25519 private key: " + err.Error()) // cannot happen for a valid key
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivate, Bytes: der})
}

// MarshalPublic encodes pub as a PKIX PEM block.
func MarshalPublic(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic("keys: marshal Ed25519 public key: " + err.Error()) // cannot happen for a valid key
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPublic, Bytes: der})
}

// Parse decodes a PEM key file holding either an Ed25519 private key or a
// public key. priv is nil for a public key file. Failures are
// codes.KeyMalformed.
func Parse(data []byte) (pub ed25519.PublicKey, priv ed25519.PrivateKey, err error) {
	if len(data) > MaxFileSize {
		return nil, nil, codes.Errorf(codes.KeyMalformed, "key file is %d bytes, more than a key file can be (%d)", len(data), MaxFileSize)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, nil, codes.Errorf(codes.KeyMalformed, "not a PEM key file (no -----BEGIN line)")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, nil, codes.Errorf(codes.KeyMalformed, "the key file holds more than one PEM block")
	}
	switch block.Type {
	case pemPrivate:
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, nil, codes.Errorf(codes.KeyMalformed, "private key does not decode: %w", err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, nil, codes.Errorf(codes.KeyMalformed, "the private key is %T, licensor signs with Ed25519 keys", k)
		}
		return priv.Public().(ed25519.PublicKey), priv, nil
	case pemPublic:
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, nil, codes.Errorf(codes.KeyMalformed, "public key does not decode: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, nil, codes.Errorf(codes.KeyMalformed, "the public key is %T, licensor uses Ed25519 keys", k)
		}
		return pub, nil, nil
	default:
		return nil, nil, codes.Errorf(codes.KeyMalformed, "PEM block is %q, want %q or %q", block.Type, pemPrivate, pemPublic)
	}
}

// ParsePrivate decodes a private key file.
func ParsePrivate(data []byte) (ed25519.PrivateKey, error) {
	_, priv, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if priv == nil {
		return nil, codes.Errorf(codes.KeyMalformed, "this is a public key; signing needs the private key")
	}
	return priv, nil
}

// ParsePublic decodes a public key file. A private key file is refused, so
// that private keys are not copied to where only the public key belongs.
func ParsePublic(data []byte) (ed25519.PublicKey, error) {
	pub, priv, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if priv != nil {
		return nil, codes.Errorf(codes.KeyMalformed, "this is a private key; give the public key (the .pub file) instead").
			WithFix("Use the public key file written beside the private key; keep the private key where licenses are signed.")
	}
	return pub, nil
}

// ReadFile reads a key file, telling a missing file (codes.FileMissing)
// from a malformed one.
func ReadFile(path string) ([]byte, error) {
	return readfile.Limited(path, MaxFileSize, "key file")
}

// LoadPrivate reads and decodes a private key file.
func LoadPrivate(path string) (ed25519.PrivateKey, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	priv, err := ParsePrivate(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return priv, nil
}

// LoadPublic reads and decodes a public key file.
func LoadPublic(path string) (ed25519.PublicKey, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	pub, err := ParsePublic(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}

// WritePair writes priv (mode 0600) and its public key (mode 0644) to the
// two paths. It refuses to overwrite either file (codes.FileExists).
func WritePair(privPath, pubPath string, priv ed25519.PrivateKey) error {
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return codes.Errorf(codes.FileExists, "%s exists; licensor does not overwrite keys", p)
		}
	}
	if err := writeNew(privPath, "private key", MarshalPrivate(priv), 0o600); err != nil {
		return err
	}
	if err := writeNew(pubPath, "public key", MarshalPublic(priv.Public().(ed25519.PublicKey)), 0o644); err != nil {
		os.Remove(privPath)
		return err
	}
	return nil
}

func writeNew(path, noun string, data []byte, perm fs.FileMode) error {
	err := atomicfile.WriteNew(path, data, perm)
	switch {
	case errors.Is(err, atomicfile.ErrExists):
		return codes.Errorf(codes.FileExists, "%s exists; licensor does not overwrite keys", path)
	case err != nil:
		return unwritable.File{Path: path, Noun: noun, New: true}.Error(err)
	}
	return nil
}
