package license

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/keys"
)

var tokenThumb = base64.RawURLEncoding.EncodeToString(func() []byte { h := sha256.Sum256([]byte("token key")); return h[:] }())

func TestTokenBindingSignVerify(t *testing.T) {
	fx := newFixture(t)
	for _, bind := range []string{"", BindToken, BindMachineToken} {
		l := fx.license()
		l.Token = &TokenBinding{Thumbprint: tokenThumb, Alg: TokenES256, Serial: "9f2c41d07a3b5e11", Label: "licensor"}
		l.Bind = bind
		file, err := Sign(l, fx.vendorPriv)
		if err != nil {
			t.Fatalf("binding %q: Sign: %v", bind, err)
		}
		s, err := Parse(file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Verify(fx.vendorPub)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Token, l.Token) || got.Bind != bind {
			t.Fatalf("binding %q: token = %+v %q, want %+v", bind, got.Token, got.Bind, l.Token)
		}
		want := bind
		if want == "" {
			want = BindMachineToken
		}
		if got.Binding() != want || !got.BindsToken() || got.BindsMachine() != (want != BindToken) {
			t.Fatalf("binding %q: Binding() = %q, BindsMachine %v", bind, got.Binding(), got.BindsMachine())
		}
		if v := got.View(""); v.SecurityType != want || v.Token == nil {
			t.Fatalf("view: securityType %q token %v", v.SecurityType, v.Token)
		}
		if !bytes.Contains(file, []byte("token:    ES256 key "+tokenThumb)) || !bytes.Contains(file, []byte("serial 9f2c41d07a3b5e11")) {
			t.Fatalf("the armor does not show the token:\n%s", file)
		}
	}
	plain := fx.license()
	if plain.Binding() != BindMachine || plain.BindsToken() || !plain.BindsMachine() {
		t.Fatalf("a license with no token: Binding() = %q", plain.Binding())
	}
	if v := plain.View(""); v.SecurityType != BindMachine || v.Token != nil || v.DogCount != nil {
		t.Fatalf("view of a machine-bound license: %+v", v)
	}
}

func TestTokenBindingRefused(t *testing.T) {
	fx := newFixture(t)
	good := func() *TokenBinding { return &TokenBinding{Thumbprint: tokenThumb, Alg: TokenEdDSA} }
	tests := []struct {
		name string
		edit func(l *License)
		say  string
	}{
		{"unknown binding", func(l *License) { l.Token, l.Bind = good(), "dongle" }, `binding "dongle"`},
		{"token binding without token", func(l *License) { l.Bind = BindToken }, "names no token"},
		{"machine binding with a token", func(l *License) { l.Token, l.Bind = good(), BindMachine }, "with a token"},
		{"short thumbprint", func(l *License) { l.Token = good(); l.Token.Thumbprint = tokenThumb[:42] }, "thumbprint"},
		{"padded thumbprint", func(l *License) { l.Token = good(); l.Token.Thumbprint = tokenThumb[:42] + "=" }, "thumbprint"},
		{"std base64", func(l *License) { l.Token = good(); l.Token.Thumbprint = "+" + tokenThumb[1:] }, "thumbprint"},
		{"not base64", func(l *License) { l.Token = good(); l.Token.Thumbprint = strings.Repeat("!", 43) }, "thumbprint"},
		{"empty thumbprint", func(l *License) { l.Token = good(); l.Token.Thumbprint = "" }, "thumbprint"},
		{"unknown alg", func(l *License) { l.Token = good(); l.Token.Alg = "RS256" }, "token.alg"},
		{"control in serial", func(l *License) { l.Token = good(); l.Token.Serial = "a\x07b" }, "token.serial"},
		{"long label", func(l *License) { l.Token = good(); l.Token.Label = strings.Repeat("x", 200) }, "token.label"},
		{"cluster with a token", func(l *License) {
			cl := newClusterFixture(t).license()
			*l = *cl
			l.Token = good()
		}, "cluster license cannot bind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := fx.license()
			tt.edit(l)
			// Issuing refuses it as a bad argument; reading a license
			// that holds it, as a malformed license.
			_, err := Sign(l, fx.vendorPriv)
			if codes.Of(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tt.say) {
				t.Fatalf("Sign = %v, want invalid_argument saying %q", err, tt.say)
			}
			l.Info, l.Version, l.FingerType, l.ID = "license", Version, FingerTypeMachine, "lic_1"
			if err := l.Validate(); codes.Of(err) != codes.LicenseMalformed || !strings.Contains(err.Error(), tt.say) {
				t.Fatalf("Validate = %v, want license_malformed saying %q", err, tt.say)
			}
		})
	}
}

func TestDecodeTokenBinding(t *testing.T) {
	fx := newFixture(t)
	l := fx.license()
	l.Info, l.Version, l.FingerType, l.ID = "license", Version, FingerTypeMachine, "lic_1"
	l.Token, l.Bind = &TokenBinding{Thumbprint: tokenThumb, Alg: TokenES256, Serial: "S1", Label: "k"}, BindToken
	doc, _ := json.Marshal(l)
	got, err := decodeJSON(string(doc))
	if err != nil || !reflect.DeepEqual(&got, l) {
		t.Fatalf("decodeJSON = %v\n %+v\nwant\n %+v", err, got, *l)
	}
	s := string(doc)
	for _, tt := range []struct{ name, doc, want string }{
		{"unknown token field", strings.Replace(s, `"serial":"S1"`, `"dogs":1`, 1), `unknown field "dogs"`},
		{"token twice", strings.Replace(s, `"token":{`, `"token":null,"token":{`, 1), `"token" given twice`},
		{"token not an object", strings.Replace(s, `"token":{`, `"token":["x",{`, 1), "want '{'"},
		{"binding a number", strings.Replace(s, `"binding":"token"`, `"binding":1`, 1), "want '\""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeJSON(tt.doc); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("decodeJSON = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestRequestToken(t *testing.T) {
	pub, _, _ := keys.Generate()
	r := NewRequest(host(siteRaw), pub, "auth-01", t0)
	r.Token = &RequestToken{Thumbprint: tokenThumb, Alg: TokenES256, Label: "licensor", Serial: "9f2c", TokenLabel: "site", Manufacturer: "SoftHSM project", Model: "SoftHSM v2"}
	good, _ := json.Marshal(r)
	got, err := ParseRequest(good)
	if err != nil || !reflect.DeepEqual(got.Token, r.Token) {
		t.Fatalf("ParseRequest = %v, %+v", err, got)
	}
	if b := got.Token.Binding(false); b.Serial != "" || b.Thumbprint != tokenThumb || b.Label != "licensor" {
		t.Fatalf("Binding(false) = %+v", b)
	}
	if b := got.Token.Binding(true); b.Serial != "9f2c" {
		t.Fatalf("Binding(true) = %+v", b)
	}
	edit := func(from, to string) []byte { return bytes.Replace(good, []byte(from), []byte(to), 1) }
	for _, tt := range []struct {
		name string
		data []byte
		say  string
	}{
		{"bad thumbprint", edit(tokenThumb, "abc"), "thumbprint"},
		{"bad alg", edit(`"alg":"ES256"`, `"alg":"none"`), "token.alg"},
		{"control in model", edit(`"model":"SoftHSM v2"`, `"model":"a\u0000"`), "token.model"},
		{"unknown token field", edit(`"serial":"9f2c"`, `"serial":"9f2c","pin":"1234"`), "pin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest(tt.data)
			if codes.Of(err) != codes.RequestMalformed || !strings.Contains(err.Error(), tt.say) {
				t.Fatalf("ParseRequest = %v, want request_malformed saying %q", err, tt.say)
			}
		})
	}
}
