package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
)

func TestRoundTrip(t *testing.T) {
	pub, priv, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	gotPub, gotPriv, err := Parse(MarshalPrivate(priv))
	if err != nil {
		t.Fatal(err)
	}
	if !gotPub.Equal(pub) || !gotPriv.Equal(priv) {
		t.Fatal("private key did not round-trip")
	}
	gotPub, gotPriv, err = Parse(MarshalPublic(pub))
	if err != nil {
		t.Fatal(err)
	}
	if !gotPub.Equal(pub) || gotPriv != nil {
		t.Fatal("public key did not round-trip")
	}
}

// RFC 8037 appendix A.3: the thumbprint of the appendix A.2 public key.
func TestIDMatchesRFC8037(t *testing.T) {
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if got, want := ID(x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Fatalf("ID = %s, want %s", got, want)
	}
}

func TestParseRejects(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	ecPubDER, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	_, priv, _ := Generate()
	good := MarshalPrivate(priv)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a PEM key file"},
		{"garbage", []byte("hello, world"), "not a PEM key file"},
		{"truncated", good[:len(good)/2], "not a PEM key file"},
		{"ecdsa-private", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), "Ed25519"},
		{"ecdsa-public", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPubDER}), "Ed25519"},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}}), `"CERTIFICATE"`},
		{"bad-der", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0x03, 1, 2, 3}}), "does not decode"},
		{"two-blocks", append(append([]byte{}, good...), good...), "more than one PEM block"},
		{"huge", bytes.Repeat([]byte("A"), MaxFileSize+1), "more than a key file can be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse(tt.data)
			if codes.Of(err) != codes.KeyMalformed {
				t.Fatalf("Parse = %v, want code %v", err, codes.KeyMalformed)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestParsePublicRefusesPrivate(t *testing.T) {
	_, priv, _ := Generate()
	if _, err := ParsePublic(MarshalPrivate(priv)); codes.Of(err) != codes.KeyMalformed {
		t.Fatalf("ParsePublic(private) = %v, want key_malformed", err)
	}
	if _, err := ParsePrivate(MarshalPublic(priv.Public().(ed25519.PublicKey))); codes.Of(err) != codes.KeyMalformed {
		t.Fatalf("ParsePrivate(public) = %v, want key_malformed", err)
	}
}

func TestWritePair(t *testing.T) {
	dir := t.TempDir()
	privPath, pubPath := filepath.Join(dir, "vendor.key"), filepath.Join(dir, "vendor.pub")
	_, priv, _ := Generate()
	if err := WritePair(privPath, pubPath, priv); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(privPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode = %v, want 0600", st.Mode().Perm())
	}
	if _, err := LoadPrivate(privPath); err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublic(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if ID(pub) != ID(priv.Public().(ed25519.PublicKey)) {
		t.Error("public key file does not match the private key")
	}
	_, other, _ := Generate()
	if err := WritePair(privPath, pubPath, other); codes.Of(err) != codes.FileExists {
		t.Fatalf("second WritePair = %v, want file_exists", err)
	}
	again, _ := LoadPrivate(privPath)
	if !again.Equal(priv) {
		t.Fatal("the existing key was overwritten")
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := LoadPublic(filepath.Join(t.TempDir(), "nope.pub"))
	if codes.Of(err) != codes.FileMissing {
		t.Fatalf("LoadPublic(missing) = %v, want file_missing", err)
	}
}

func FuzzParse(f *testing.F) {
	_, priv, _ := Generate()
	f.Add(MarshalPrivate(priv))
	f.Add(MarshalPublic(priv.Public().(ed25519.PublicKey)))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, priv, err := Parse(data)
		if err != nil {
			if codes.Of(err) != codes.KeyMalformed {
				t.Fatalf("error without key_malformed: %v", err)
			}
			return
		}
		if len(pub) != 32 {
			t.Fatalf("accepted a public key of %d bytes", len(pub))
		}
		if priv != nil && !bytes.Equal(priv.Public().(ed25519.PublicKey), pub) {
			t.Fatal("public key does not belong to the private key")
		}
	})
}

func TestJWK(t *testing.T) {
	pub, _, _ := Generate()
	j := PublicJWK(pub)
	got, err := j.PublicKey()
	if err != nil || !got.Equal(pub) {
		t.Fatalf("PublicKey = %v, %v", got, err)
	}
	bad := []JWK{
		{Kty: "EC", Crv: "P-256", X: j.X},
		{Kty: "OKP", Crv: "Ed25519", X: "!!"},
		{Kty: "OKP", Crv: "Ed25519", X: j.X[:10]},
		{Kty: "OKP", Crv: "Ed25519", X: j.X, Kid: "not-its-thumbprint"},
	}
	for _, b := range bad {
		if _, err := b.PublicKey(); codes.Of(err) != codes.KeyMalformed {
			t.Errorf("%+v: err = %v, want key_malformed", b, err)
		}
	}
}

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "server.key")
	first, created, err := LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate = %v, created %v", err, created)
	}
	second, created, err := LoadOrCreate(path)
	if err != nil || created {
		t.Fatalf("second LoadOrCreate = %v, created %v", err, created)
	}
	if !first.Equal(second) {
		t.Fatal("LoadOrCreate replaced an existing key")
	}
	if _, err := LoadPublic(PublicPath(path)); err != nil {
		t.Fatalf("public key beside it: %v", err)
	}
}

// TestWriteUnwritable: a key that cannot be written is file_unwritable,
// naming the file and the cause. The fault is real and stops root too: a
// path through a regular file.
func TestWriteUnwritable(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, priv, _ := Generate()
	privPath := filepath.Join(plain, "vendor.key")
	err := WritePair(privPath, filepath.Join(plain, "vendor.pub"), priv)
	if want := "cannot write the private key " + privPath + ": " + plain + " is not a directory"; codes.Of(err) != codes.FileUnwritable || !strings.Contains(err.Error(), want) {
		t.Errorf("WritePair through a file = %v, want file_unwritable saying %q", err, want)
	}
	_, _, err = LoadOrCreate(filepath.Join(plain, "data", "server.key"))
	if want := "cannot create the key directory " + filepath.Join(plain, "data") + ": " + plain + " is not a directory"; codes.Of(err) != codes.FileUnwritable || !strings.Contains(err.Error(), want) {
		t.Errorf("LoadOrCreate through a file = %v, want file_unwritable saying %q", err, want)
	}
}
