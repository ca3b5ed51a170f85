package license

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
)

// TestReviewTokenFieldsEdited: a token-bound license whose token fields
// were edited after signing, or whose token was taken out, fails its
// signature.
func TestReviewTokenFieldsEdited(t *testing.T) {
	fx := newFixture(t)
	l := fx.license()
	l.Token, l.Bind = &TokenBinding{Thumbprint: tokenThumb, Alg: TokenES256, Serial: "9f2c41d07a3b5e11", Label: "licensor"}, BindMachineToken
	file, err := Sign(l, fx.vendorPriv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(s.Compact, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	other := "A" + tokenThumb[1:]
	var unbound map[string]any
	json.Unmarshal(payload, &unbound)
	delete(unbound, "token")
	delete(unbound, "binding")
	noToken, _ := json.Marshal(unbound)
	for _, tt := range []struct {
		name    string
		payload []byte
	}{
		{"thumbprint", bytes.Replace(payload, []byte(tokenThumb), []byte(other), 1)},
		{"serial", bytes.Replace(payload, []byte(`"serial":"9f2c41d07a3b5e11"`), []byte(`"serial":"0000000000000000"`), 1)},
		{"serial-removed", bytes.Replace(payload, []byte(`,"serial":"9f2c41d07a3b5e11"`), nil, 1)},
		{"binding", bytes.Replace(payload, []byte(`"binding":"machine+token"`), []byte(`"binding":"token"`), 1)},
		{"token-removed", noToken},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if bytes.Equal(tt.payload, payload) {
				t.Fatal("the edit changed nothing")
			}
			_, err := verifyCompact(parts[0]+"."+base64.RawURLEncoding.EncodeToString(tt.payload)+"."+parts[2], fx.vendorPub)
			if codes.Of(err) != codes.LicenseTampered {
				t.Fatalf("Verify = %v, want code %d", err, int(codes.LicenseTampered))
			}
		})
	}
}

// TestReviewTokenMalformedSigned: a license the vendor key did sign, but
// whose token binding is malformed (a vendor tool other than licensor's,
// or an old bug), is refused by Verify as malformed, never put in force.
func TestReviewTokenMalformedSigned(t *testing.T) {
	fx := newFixture(t)
	// The last of 43 base64url characters carries 4 bits and 2 that must
	// be zero: 'B' (000001) never does, so a lenient decoder would read
	// another canonical thumbprint's bytes from it.
	noncanonical := tokenThumb[:42] + "B"
	good := func() *TokenBinding { return &TokenBinding{Thumbprint: tokenThumb, Alg: TokenES256} }
	for _, tt := range []struct {
		name string
		edit func(l *License)
	}{
		{"thumbprint-of-31-bytes", func(l *License) {
			l.Token = good()
			l.Token.Thumbprint = base64.RawURLEncoding.EncodeToString(make([]byte, 31))
		}},
		{"thumbprint-of-33-bytes", func(l *License) {
			l.Token = good()
			l.Token.Thumbprint = base64.RawURLEncoding.EncodeToString(make([]byte, 33))
		}},
		{"thumbprint-noncanonical", func(l *License) { l.Token = good(); l.Token.Thumbprint = noncanonical }},
		{"thumbprint-hex", func(l *License) { l.Token = good(); l.Token.Thumbprint = strings.Repeat("ab", 32) }},
		{"binding-case", func(l *License) { l.Token, l.Bind = good(), "Token" }},
		{"empty-token", func(l *License) { l.Token, l.Bind = &TokenBinding{}, BindToken }},
		{"alg-lowercase", func(l *License) { l.Token = good(); l.Token.Alg = "es256" }},
		{"serial-newline", func(l *License) { l.Token = good(); l.Token.Serial = "9f2c\n" }},
		{"cluster-token", func(l *License) {
			*l = *newClusterFixture(t).license()
			l.Token, l.Bind = good(), BindToken
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := fx.license()
			tt.edit(l)
			compact, err := signLicense(fx.vendorPriv, l)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verifyCompact(compact, fx.vendorPub); codes.Of(err) != codes.LicenseMalformed {
				t.Fatalf("Verify = %v, want code %d", err, int(codes.LicenseMalformed))
			}
		})
	}
	if ValidThumbprint(noncanonical) {
		t.Error("ValidThumbprint accepts a non-canonical encoding")
	}
}

// TestReviewTokenSerialUnicode: a serial in any script is printable text
// and binds as given; it survives signing byte for byte.
func TestReviewTokenSerialUnicode(t *testing.T) {
	fx := newFixture(t)
	l := fx.license()
	l.Token, l.Bind = &TokenBinding{Thumbprint: tokenThumb, Alg: TokenES256, Serial: "序列号-１２３"}, BindToken
	file, err := Sign(l, fx.vendorPriv)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := Parse(file)
	got, err := s.Verify(fx.vendorPub)
	if err != nil || got.Token.Serial != "序列号-１２３" {
		t.Fatalf("Verify = %v, serial %q", err, got.Token.Serial)
	}
}
