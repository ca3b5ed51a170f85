package keys

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/unwritable"
)

// JWK is an Ed25519 public key as a JSON Web Key (RFC 8037).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid,omitempty"`
}

// PublicJWK returns pub as a JWK carrying its key id.
func PublicJWK(pub ed25519.PublicKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), Kid: ID(pub)}
}

// PublicKey decodes the key, checking that it is an Ed25519 key and that
// its kid, when present, is its thumbprint. Failures are codes.KeyMalformed.
func (j JWK) PublicKey() (ed25519.PublicKey, error) {
	if j.Kty != "OKP" || j.Crv != "Ed25519" {
		return nil, codes.Errorf(codes.KeyMalformed, "key is kty %q crv %q, want an OKP Ed25519 key", j.Kty, j.Crv)
	}
	x, err := base64.RawURLEncoding.DecodeString(j.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, codes.Errorf(codes.KeyMalformed, "key's x is not a base64url Ed25519 public key")
	}
	pub := ed25519.PublicKey(x)
	if j.Kid != "" && j.Kid != ID(pub) {
		return nil, codes.Errorf(codes.KeyMalformed, "key's kid %q is not its thumbprint %q", j.Kid, ID(pub))
	}
	return pub, nil
}

// PublicPath returns the path of the public key written beside a private
// key: "server.key" → "server.pub".
func PublicPath(privPath string) string {
	return strings.TrimSuffix(privPath, filepath.Ext(privPath)) + ".pub"
}

// LoadOrCreate reads the private key at path, or, when there is none,
// generates one and writes it (0600) with its public key beside it.
// created tells which happened.
func LoadOrCreate(path string) (priv ed25519.PrivateKey, created bool, err error) {
	if _, err := os.Stat(path); err == nil {
		priv, err := LoadPrivate(path)
		return priv, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, unwritable.File{Path: filepath.Dir(path), Noun: "key directory", Dir: true}.Error(err)
	}
	_, priv, err = Generate()
	if err != nil {
		return nil, false, fmt.Errorf("generate key: %w", err)
	}
	if err := WritePair(path, PublicPath(path), priv); err != nil {
		return nil, false, err
	}
	return priv, true, nil
}
