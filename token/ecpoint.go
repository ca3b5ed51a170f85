package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/asn1"

	"github.com/licensor/licensor/codes"
)

// The key types publicKey reads (PKCS#11 CKK_EC and CKK_EC_EDWARDS).
const (
	keyTypeEC        = 0x03
	keyTypeECEdwards = 0x40
)

var (
	oidP256    = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// publicKey decodes a public key object's CKA_KEY_TYPE, CKA_EC_PARAMS and
// CKA_EC_POINT, as a module reports them: the curve as a DER OID (or, for
// Ed25519, the PrintableString "edwards25519" of PKCS#11 3.0), the point
// as a DER OCTET STRING or, as some modules do, raw. It returns the key
// and its JOSE algorithm. The module is not trusted: anything else is
// codes.HWKeyMissing (a key licensor cannot use).
func publicKey(keyType uint, params, point []byte) (crypto.PublicKey, string, error) {
	switch keyType {
	case keyTypeEC:
		var oid asn1.ObjectIdentifier
		if rest, err := asn1.Unmarshal(params, &oid); err != nil || len(rest) > 0 || !oid.Equal(oidP256) {
			return nil, "", codes.Errorf(codes.HWKeyMissing, "an ECDSA key on a curve other than P-256")
		}
		raw := octets(point, 65)
		if raw == nil {
			return nil, "", codes.Errorf(codes.HWKeyMissing, "an ECDSA P-256 key whose point is not an uncompressed point")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw) // checks the point is on the curve
		if err != nil {
			return nil, "", codes.Errorf(codes.HWKeyMissing, "an ECDSA P-256 key whose point is not on the curve")
		}
		return pub, ES256, nil
	case keyTypeECEdwards:
		if !isEd25519(params) {
			return nil, "", codes.Errorf(codes.HWKeyMissing, "an EdDSA key on a curve other than Ed25519")
		}
		raw := octets(point, ed25519.PublicKeySize)
		if raw == nil {
			return nil, "", codes.Errorf(codes.HWKeyMissing, "an Ed25519 key whose point is not 32 bytes")
		}
		return ed25519.PublicKey(raw), EdDSA, nil
	}
	return nil, "", codes.Errorf(codes.HWKeyMissing, "a key of PKCS#11 type %#x: licensor uses ECDSA P-256 and Ed25519 token keys", keyType)
}

// octets returns the n bytes of a point given as a DER OCTET STRING or
// raw, or nil.
func octets(b []byte, n int) []byte {
	var s []byte
	if rest, err := asn1.Unmarshal(b, &s); err == nil && len(rest) == 0 && len(s) == n {
		return append([]byte(nil), s...)
	}
	if len(b) == n && (n != 65 || b[0] == 4) {
		return append([]byte(nil), b...)
	}
	return nil
}

func isEd25519(params []byte) bool {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err == nil && len(rest) == 0 {
		return oid.Equal(oidEd25519)
	}
	var name string
	if rest, err := asn1.Unmarshal(params, &name); err == nil && len(rest) == 0 {
		return name == "edwards25519"
	}
	return false
}
