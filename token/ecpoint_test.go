package token

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/licensor/licensor/codes"
)

func der(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPublicKey(t *testing.T) {
	ek, _ := ecdh.P256().GenerateKey(rand.Reader)
	point := ek.PublicKey().Bytes()
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdh.P384().GenerateKey(rand.Reader)
	offCurve := append([]byte(nil), point...)
	offCurve[64] ^= 1
	tests := []struct {
		name    string
		keyType uint
		params  []byte
		point   []byte
		alg     string
	}{
		{"p256-der-point", keyTypeEC, der(t, oidP256), der(t, point), ES256},
		{"p256-raw-point", keyTypeEC, der(t, oidP256), point, ES256},
		{"ed25519-oid", keyTypeECEdwards, der(t, oidEd25519), der(t, []byte(edPub)), EdDSA},
		{"ed25519-name", keyTypeECEdwards, der(t, "edwards25519"), der(t, []byte(edPub)), EdDSA},
		{"ed25519-raw", keyTypeECEdwards, der(t, oidEd25519), []byte(edPub), EdDSA},
		{"p384", keyTypeEC, der(t, asn1.ObjectIdentifier{1, 3, 132, 0, 34}), der(t, p384.PublicKey().Bytes()), ""},
		{"off-curve", keyTypeEC, der(t, oidP256), der(t, offCurve), ""},
		{"compressed", keyTypeEC, der(t, oidP256), der(t, append([]byte{2}, point[1:33]...)), ""},
		{"truncated-point", keyTypeEC, der(t, oidP256), der(t, point)[:40], ""},
		{"params-trailing", keyTypeEC, append(der(t, oidP256), 0), der(t, point), ""},
		{"no-params", keyTypeEC, nil, der(t, point), ""},
		{"ed448", keyTypeECEdwards, der(t, asn1.ObjectIdentifier{1, 3, 101, 113}), der(t, make([]byte, 57)), ""},
		{"ed25519-short", keyTypeECEdwards, der(t, oidEd25519), der(t, make([]byte, 31)), ""},
		{"rsa", 0, nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, alg, err := publicKey(tt.keyType, tt.params, tt.point)
			if tt.alg == "" {
				if codes.Of(err) != codes.HWKeyMissing {
					t.Fatalf("got %v %v, want code %d", pub, err, codes.HWKeyMissing)
				}
				return
			}
			if err != nil || alg != tt.alg {
				t.Fatalf("got %s, %v", alg, err)
			}
			if _, err := Thumbprint(pub); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestThumbprintMatchesJOSE(t *testing.T) {
	ek, _ := ecdh.P256().GenerateKey(rand.Reader)
	raw := ek.PublicKey().Bytes()
	ec := mustP256(t, raw)
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, pub := range []crypto.PublicKey{ec, ed} {
		want, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Thumbprint(pub)
		if err != nil {
			t.Fatal(err)
		}
		if got != b64(want) || !ValidThumbprint(got) {
			t.Errorf("%T: thumbprint %s, go-jose says %s", pub, got, b64(want))
		}
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := Thumbprint(&p384.PublicKey); codes.Of(err) != codes.HWKeyMissing {
		t.Errorf("P-384: %v", err)
	}
	if _, err := Thumbprint("a string"); codes.Of(err) != codes.HWKeyMissing {
		t.Errorf("a string: %v", err)
	}
}

func mustP256(t testing.TB, raw []byte) *ecdsa.PublicKey {
	t.Helper()
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func FuzzPublicKey(f *testing.F) {
	ek, _ := ecdh.P256().GenerateKey(rand.Reader)
	point := ek.PublicKey().Bytes()
	f.Add(uint(keyTypeEC), der(f, oidP256), der(f, point))
	f.Add(uint(keyTypeEC), der(f, oidP256), point)
	f.Add(uint(keyTypeECEdwards), der(f, "edwards25519"), der(f, make([]byte, 32)))
	f.Add(uint(keyTypeECEdwards), der(f, oidEd25519), make([]byte, 32))
	f.Fuzz(func(t *testing.T, keyType uint, params, point []byte) {
		pub, alg, err := publicKey(keyType, params, point)
		if err != nil {
			if codes.Of(err) != codes.HWKeyMissing {
				t.Fatalf("code %d", codes.Of(err))
			}
			return
		}
		tp, err := Thumbprint(pub)
		if err != nil || !ValidThumbprint(tp) || (alg != ES256 && alg != EdDSA) {
			t.Fatalf("%s key %v: thumbprint %q %v", alg, pub, tp, err)
		}
	})
}
