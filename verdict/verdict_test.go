package verdict

import (
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/licensor/licensor/keys"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func claims() *Claims {
	return &Claims{Issuer: Issuer, Subject: "i-1", Audience: Audience("ocr"), IssuedAt: t0.Unix(), NotBefore: t0.Unix() - 30,
		Expires: t0.Add(90 * time.Second).Unix(), ID: NewID(), Nonce: "n1", Product: "ocr", Functions: []string{"table"},
		LicenseID: "lic_1", Lease: t0.Add(90 * time.Second).Unix()}
}

func TestSignVerify(t *testing.T) {
	pub, priv, _ := keys.Generate()
	tok, err := Sign(priv, keys.ID(pub), claims())
	if err != nil {
		t.Fatal(err)
	}
	want := Expect{InstanceID: "i-1", Product: "ocr", LicenseID: "lic_1", Nonce: "n1", Now: t0, Skew: 5 * time.Second}
	c, err := Verify(tok, pub, want)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "i-1" || c.Functions[0] != "table" {
		t.Fatalf("claims = %+v", c)
	}
	// Any JOSE library verifies it.
	sig, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sig.Verify(pub); err != nil {
		t.Fatalf("go-jose: %v", err)
	}
	if sig.Signatures[0].Protected.KeyID != keys.ID(pub) {
		t.Fatalf("kid = %q", sig.Signatures[0].Protected.KeyID)
	}
}

func TestVerifyRejects(t *testing.T) {
	pub, priv, _ := keys.Generate()
	otherPub, otherPriv, _ := keys.Generate()
	good, _ := Sign(priv, keys.ID(pub), claims())
	impostor, _ := Sign(otherPriv, keys.ID(pub), claims()) // claims our kid, signs with its own key
	ownKid, _ := Sign(otherPriv, keys.ID(otherPub), claims())
	base := Expect{InstanceID: "i-1", Product: "ocr", LicenseID: "lic_1", Nonce: "n1", Now: t0, Skew: 5 * time.Second}
	tests := []struct {
		name  string
		token string
		edit  func(e *Expect)
		want  error
	}{
		{"garbage", "x.y", nil, ErrMalformed},
		{"impostor-key", impostor, nil, ErrSignature},
		{"other-server", ownKid, nil, ErrSignature},
		{"tampered", good[:len(good)-4] + "AAAA", nil, ErrSignature},
		{"other-instance", good, func(e *Expect) { e.InstanceID = "i-2" }, ErrBinding},
		{"other-product", good, func(e *Expect) { e.Product = "asr" }, ErrBinding},
		{"other-license", good, func(e *Expect) { e.LicenseID = "lic_2" }, ErrBinding},
		{"replayed", good, func(e *Expect) { e.Nonce = "n2" }, ErrBinding},
		{"expired", good, func(e *Expect) { e.Now = t0.Add(2 * time.Minute) }, ErrExpired},
		{"from-the-future", good, func(e *Expect) { e.Now = t0.Add(-time.Hour) }, ErrBinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := base
			if tt.edit != nil {
				tt.edit(&want)
			}
			_, err := Verify(tt.token, pub, want)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	pub, priv, _ := keys.Generate()
	good, _ := Sign(priv, keys.ID(pub), claims())
	f.Add(good)
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := Verify(tok, pub, Expect{InstanceID: "i-1", Product: "ocr", Now: t0})
		if err == nil && (c.Subject != "i-1" || c.Product != "ocr") {
			t.Fatalf("accepted %+v", c)
		}
	})
}
