package doctor

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/verdict"
)

var tokenNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type edKey struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	jwk  jose.JSONWebKey
}

func newEdKey(t testing.TB) edKey {
	t.Helper()
	pub, priv, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return edKey{pub, priv, jose.JSONWebKey{Key: pub, KeyID: keys.ID(pub), Algorithm: "EdDSA", Use: "sig"}}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// compact signs header.claims with sign; sign nil leaves the signature empty.
func compact(t testing.TB, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	input := b64JSON(t, header) + "." + b64JSON(t, claims)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + b64(sig)
}

func edSign(priv ed25519.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte { return ed25519.Sign(priv, in) }
}

// claims are a verdict's claims, valid at tokenNow, with changes applied.
func claims(changes map[string]any) map[string]any {
	c := map[string]any{
		"iss": verdict.Issuer, "aud": verdict.Audience("ocr"), "sub": "i-1",
		"iat": tokenNow.Add(-10 * time.Second).Unix(), "nbf": tokenNow.Add(-10 * time.Second).Unix(),
		"exp": tokenNow.Add(5 * time.Minute).Unix(),
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func edHeader(kid string) map[string]any {
	h := map[string]any{"alg": "EdDSA", "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	return h
}

func verdictToken(t testing.TB, k edKey, now time.Time) string {
	t.Helper()
	tok, err := verdict.Sign(k.priv, keys.ID(k.pub), &verdict.Claims{
		Issuer: verdict.Issuer, Subject: "i-1", Audience: verdict.Audience("ocr"),
		IssuedAt: now.Add(-10 * time.Second).Unix(), NotBefore: now.Add(-10 * time.Second).Unix(), Expires: now.Add(5 * time.Minute).Unix(),
		ID: verdict.NewID(), Product: "ocr", Functions: []string{"basic"}, LicenseID: "lic-1", Lease: now.Add(time.Minute).Unix(), Machine: "m",
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestExplainToken(t *testing.T) {
	k := newEdKey(t)
	other := newEdKey(t)
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecJWK := jose.JSONWebKey{Key: &ecPriv.PublicKey, KeyID: "ec-1", Algorithm: "ES256", Use: "sig"}
	esSigner, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ecPriv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "ec-1"))
	if err != nil {
		t.Fatal(err)
	}
	esToken := func(t testing.TB) string {
		payload, _ := json.Marshal(claims(nil))
		obj, err := esSigner.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		s, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	signed := func(changes map[string]any) func(testing.TB) string {
		return func(t testing.TB) string { return compact(t, edHeader(k.jwk.KeyID), claims(changes), edSign(k.priv)) }
	}
	hs256 := func(secret []byte) func([]byte) []byte {
		return func(in []byte) []byte { m := hmac.New(sha256.New, secret); m.Write(in); return m.Sum(nil) }
	}
	standard := TokenOptions{Keys: []jose.JSONWebKey{k.jwk}, Issuer: verdict.Issuer, Audience: verdict.Audience("ocr"), Now: tokenNow}
	with := func(change func(o *TokenOptions)) TokenOptions {
		o := standard
		change(&o)
		return o
	}

	tests := []struct {
		name  string
		token func(t testing.TB) string
		opts  TokenOptions
		step  string     // the step that must fail ("" : none fails)
		code  codes.Code // its code
		say   []string   // in the step's Found (or, with no step, anywhere)
		also  map[string]Status
	}{
		{name: "valid-verdict", token: func(t testing.TB) string { return verdictToken(t, k, tokenNow) }, opts: standard,
			say: []string{"alg EdDSA is allowed", "signed by kid " + k.jwk.KeyID, "expires 2026-11-23T12:05:00Z, in 5 minutes"}},
		{name: "valid-es256", token: esToken, opts: with(func(o *TokenOptions) { o.Keys, o.Algs = []jose.JSONWebKey{ecJWK}, []string{"ES256"} }),
			say: []string{"signed by kid ec-1 (EC P-256, ES256)"}},
		{name: "es256-not-allowed", token: esToken, opts: with(func(o *TokenOptions) { o.Keys = []jose.JSONWebKey{ecJWK} }),
			step: "alg", code: codes.TokenAlgorithm, say: []string{`"ES256", not an allowed algorithm (EdDSA)`}, also: map[string]Status{"signature": Skip}},
		{name: "expired", token: signed(map[string]any{"exp": tokenNow.Add(-3 * time.Minute).Unix()}), opts: standard,
			step: "exp", code: codes.TokenExpired, say: []string{"expired at 2026-11-23T11:57:00Z, 3 minutes ago"}, also: map[string]Status{"signature": Pass}},
		{name: "expired-within-skew", token: signed(map[string]any{"exp": tokenNow.Add(-30 * time.Second).Unix()}), opts: standard,
			say: []string{"within the 1 minute of skew allowed"}},
		{name: "expired-no-skew", token: signed(map[string]any{"exp": tokenNow.Add(-30 * time.Second).Unix()}),
			opts: with(func(o *TokenOptions) { o.Skew = -1 }), step: "exp", code: codes.TokenExpired, say: []string{"30 seconds ago"}},
		{name: "missing-exp", token: signed(map[string]any{"exp": nil}), opts: standard,
			also: map[string]Status{"exp": Warn}},
		{name: "exp-not-a-number", token: signed(map[string]any{"exp": "tomorrow"}), opts: standard,
			step: "exp", code: codes.TokenMalformed, say: []string{`"tomorrow" is not a number`}},
		{name: "fractional-exp", token: signed(map[string]any{"exp": 1795435500.5}), opts: standard},
		{name: "nbf-in-the-future", token: signed(map[string]any{"nbf": tokenNow.Add(5 * time.Minute).Unix()}), opts: standard,
			step: "nbf", code: codes.TokenNotYetValid, say: []string{"not valid before 2026-11-23T12:05:00Z, in 5 minutes"}},
		{name: "nbf-within-skew", token: signed(map[string]any{"nbf": tokenNow.Add(30 * time.Second).Unix()}), opts: standard},
		{name: "iat-in-the-future", token: signed(map[string]any{"iat": tokenNow.Add(10 * time.Minute).Unix()}), opts: standard,
			step: "iat", code: codes.TokenNotYetValid, say: []string{"10 minutes in the future: clock skew?"}},
		{name: "iat-within-skew", token: signed(map[string]any{"iat": tokenNow.Add(59 * time.Second).Unix()}), opts: standard},
		{name: "wrong-aud", token: signed(map[string]any{"aud": "licensor:asr"}), opts: standard,
			step: "aud", code: codes.TokenWrongAudience, say: []string{`aud is "licensor:asr", expected "licensor:ocr"`}},
		{name: "aud-array-with-audience", token: signed(map[string]any{"aud": []string{"other", "licensor:ocr"}}), opts: standard,
			say: []string{`aud ["other","licensor:ocr"] includes "licensor:ocr"`}},
		{name: "aud-array-without-audience", token: signed(map[string]any{"aud": []string{"a", "b"}}), opts: standard,
			step: "aud", code: codes.TokenWrongAudience, say: []string{`aud is ["a","b"], expected "licensor:ocr"`}},
		{name: "missing-aud", token: signed(map[string]any{"aud": nil}), opts: standard,
			step: "aud", code: codes.TokenWrongAudience, say: []string{"no aud"}},
		{name: "wrong-iss", token: signed(map[string]any{"iss": "someone-else"}), opts: standard,
			step: "iss", code: codes.TokenWrongIssuer, say: []string{`iss is "someone-else", expected "licensor-site"`}},
		{name: "iss-and-aud-not-asked", token: signed(map[string]any{"iss": "x", "aud": "y"}),
			opts: with(func(o *TokenOptions) { o.Issuer, o.Audience = "", "" }), also: map[string]Status{"iss": Skip, "aud": Skip}},
		{name: "payload-altered", token: func(t testing.TB) string {
			parts := strings.Split(signed(nil)(t), ".")
			parts[1] = b64JSON(t, claims(map[string]any{"sub": "i-2"}))
			return strings.Join(parts, ".")
		}, opts: standard, step: "signature", code: codes.TokenBadSignature, say: []string{"does not verify with kid " + k.jwk.KeyID}},
		{name: "other-key-same-kid", token: func(t testing.TB) string {
			return compact(t, edHeader(k.jwk.KeyID), claims(nil), edSign(other.priv))
		}, opts: standard, step: "signature", code: codes.TokenBadSignature},
		{name: "unknown-kid", token: func(t testing.TB) string {
			return compact(t, edHeader(other.jwk.KeyID), claims(nil), edSign(other.priv))
		}, opts: standard, step: "kid", code: codes.TokenKeyUnknown, say: []string{other.jwk.KeyID, "not in the key set"},
			also: map[string]Status{"signature": Skip, "exp": Pass}},
		{name: "no-kid-one-key", token: func(t testing.TB) string { return compact(t, edHeader(""), claims(nil), edSign(k.priv)) },
			opts: standard, say: []string{"only key"}},
		{name: "no-kid-several-keys", token: func(t testing.TB) string { return compact(t, edHeader(""), claims(nil), edSign(k.priv)) },
			opts: with(func(o *TokenOptions) { o.Keys = []jose.JSONWebKey{other.jwk, k.jwk} }), say: []string{"each of the 2 keys"}},
		{name: "no-kid-no-key-verifies", token: func(t testing.TB) string { return compact(t, edHeader(""), claims(nil), edSign(k.priv)) },
			opts: with(func(o *TokenOptions) { o.Keys = []jose.JSONWebKey{other.jwk, ecJWK} }), step: "signature", code: codes.TokenBadSignature,
			say: []string{"none of the 2 keys"}},
		{name: "key-of-another-type", token: signed(nil),
			opts: with(func(o *TokenOptions) {
				e := ecJWK
				e.KeyID, e.Algorithm = k.jwk.KeyID, ""
				o.Keys = []jose.JSONWebKey{e}
			}),
			step: "signature", code: codes.TokenBadSignature},
		{name: "no-keys", token: signed(nil), opts: with(func(o *TokenOptions) { o.Keys = nil }),
			also: map[string]Status{"kid": Skip, "signature": Skip}},
		{name: "alg-none", token: func(t testing.TB) string {
			return compact(t, map[string]any{"alg": "none", "typ": "JWT"}, claims(nil), nil)
		}, opts: standard, step: "alg", code: codes.TokenAlgorithm, say: []string{"unsigned token proves nothing"}},
		{name: "alg-none-without-keys", token: func(t testing.TB) string {
			return compact(t, map[string]any{"alg": "nOnE"}, claims(nil), nil)
		}, opts: with(func(o *TokenOptions) { o.Keys, o.Algs = nil, []string{"none", "nOnE"} }), step: "alg", code: codes.TokenAlgorithm},
		{name: "hs256-key-confusion", token: func(t testing.TB) string {
			return compact(t, map[string]any{"alg": "HS256", "kid": k.jwk.KeyID}, claims(nil), hs256(k.pub))
		}, opts: standard, step: "alg", code: codes.TokenAlgorithm, say: []string{"HMAC"}, also: map[string]Status{"signature": Skip}},
		{name: "hs256-key-confusion-even-if-allowed", token: func(t testing.TB) string {
			return compact(t, map[string]any{"alg": "HS256"}, claims(nil), hs256(keys.MarshalPublic(k.pub)))
		}, opts: with(func(o *TokenOptions) { o.Algs = []string{"EdDSA", "HS256"} }), step: "alg", code: codes.TokenAlgorithm},
		{name: "no-alg", token: func(t testing.TB) string {
			return compact(t, map[string]any{"typ": "JWT"}, claims(nil), edSign(k.priv))
		},
			opts: standard, step: "alg", code: codes.TokenAlgorithm, say: []string{"no alg"}},
		{name: "malformed-two-parts", token: func(t testing.TB) string { return "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0" }, opts: standard,
			step: "format", code: codes.TokenMalformed, say: []string{"2 part(s)"}},
		{name: "malformed-header-not-base64", token: func(t testing.TB) string { return "e$J.eyJzdWIiOiJ4In0.AA" }, opts: standard,
			step: "format", code: codes.TokenMalformed, say: []string{"header (part 1) is not base64url", "'$' at offset 1"}},
		// A character lost from the signature: its length is at fault,
		// not the character where the decoder gave up.
		{name: "malformed-signature-length", token: func(t testing.TB) string { s := signed(nil)(t); return s[:len(s)-1] }, opts: standard,
			step: "format", code: codes.TokenMalformed, say: []string{"signature (part 3) is not base64url", "a length no base64url text has"}},
		{name: "malformed-last-character", token: func(t testing.TB) string { return "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.AB" }, opts: standard,
			step: "format", code: codes.TokenMalformed, say: []string{"signature (part 3) is not base64url", `last character 'B'`}},
		{name: "malformed-padding", token: func(t testing.TB) string { return "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0=.AA" }, opts: standard,
			step: "format", code: codes.TokenMalformed, say: []string{"padding"}},
		{name: "malformed-header-not-json", token: func(t testing.TB) string { return b64([]byte("alg=EdDSA")) + ".e30.AA" }, opts: standard,
			step: "format", code: codes.TokenMalformed, say: []string{"header (part 1) is not a JSON object"}},
		{name: "malformed-header-array", token: func(t testing.TB) string { return b64([]byte(`["EdDSA"]`)) + ".e30.AA" }, opts: standard,
			step: "format", code: codes.TokenMalformed, say: []string{"a JSON array, not an object"}},
		{name: "malformed-claims-not-json", token: func(t testing.TB) string { return b64JSON(t, edHeader("")) + "." + b64([]byte("hello")) + ".AA" },
			opts: standard, step: "format", code: codes.TokenMalformed, say: []string{"claims (part 2) are not a JSON object"}},
		{name: "malformed-kid-not-string", token: func(t testing.TB) string {
			return compact(t, map[string]any{"alg": "EdDSA", "kid": 7}, claims(nil), edSign(k.priv))
		}, opts: standard, step: "format", code: codes.TokenMalformed, say: []string{"kid is 7"}},
		{name: "malformed-bearer", token: func(t testing.TB) string { return "Bearer " + signed(nil)(t) }, opts: standard,
			step: "format", code: codes.TokenMalformed, say: []string{"Bearer"}},
		{name: "malformed-jwe", token: func(t testing.TB) string { return "a.b.c.d.e" }, opts: standard,
			step: "format", code: codes.TokenMalformed, say: []string{"encrypted token (JWE)"}},
		{name: "malformed-empty", token: func(t testing.TB) string { return "  \n" }, opts: standard,
			step: "format", code: codes.TokenMalformed, say: []string{"empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := ExplainToken(tt.token(t), tt.opts)
			dump := func() string { b, _ := json.MarshalIndent(rep, "", "  "); return string(b) }
			if len(rep.Steps) != len(tokenSteps) {
				t.Fatalf("%d steps, want %d:\n%s", len(rep.Steps), len(tokenSteps), dump())
			}
			var all []string
			for i, s := range rep.Steps {
				if s.Name != tokenSteps[i] {
					t.Errorf("step %d is %q, want %q", i, s.Name, tokenSteps[i])
				}
				if s.Found == "" {
					t.Errorf("step %s says nothing", s.Name)
				}
				if s.Status == Fail && (s.Code == 0 || s.Fix == "") {
					t.Errorf("failed step %s has code %d, fix %q", s.Name, s.Code, s.Fix)
				}
				if s.Status == Pass && s.Code != 0 {
					t.Errorf("passed step %s has code %d", s.Name, s.Code)
				}
				all = append(all, s.Found)
				wantStatus, listed := tt.also[s.Name]
				switch {
				case s.Name == tt.step:
					if s.Status != Fail || s.Code != int(tt.code) {
						t.Errorf("step %s: %s code %d, want fail code %d:\n%s", s.Name, s.Status, s.Code, tt.code, dump())
					}
				case listed:
					if s.Status != wantStatus {
						t.Errorf("step %s: %s, want %s:\n%s", s.Name, s.Status, wantStatus, dump())
					}
				case tt.step == "format":
					if s.Status != Skip {
						t.Errorf("step %s after a format failure: %s, want skip", s.Name, s.Status)
					}
				case tt.step == "" && s.Status != Pass:
					t.Errorf("step %s: %s %q, want pass:\n%s", s.Name, s.Status, s.Found, dump())
				}
			}
			if rep.Valid != (tt.step == "") {
				t.Errorf("Valid = %v, want %v:\n%s", rep.Valid, tt.step == "", dump())
			}
			text := strings.Join(all, "\n")
			for _, w := range tt.say {
				if !strings.Contains(text, w) {
					t.Errorf("the steps do not say %q:\n%s", w, text)
				}
			}
		})
	}
}

// TestExplainTokenReadsClaimsDespiteBadSignature: a person fixing a token
// sees everything wrong with it at once.
func TestExplainTokenReadsClaimsDespiteBadSignature(t *testing.T) {
	k, other := newEdKey(t), newEdKey(t)
	tok := compact(t, edHeader(k.jwk.KeyID), claims(map[string]any{"aud": "licensor:asr", "exp": tokenNow.Add(-time.Hour).Unix()}), edSign(other.priv))
	rep := ExplainToken(tok, TokenOptions{Keys: []jose.JSONWebKey{k.jwk}, Audience: "licensor:ocr", Now: tokenNow})
	got := map[string]int{}
	for _, s := range rep.Steps {
		got[s.Name] = s.Code
	}
	if got["signature"] != int(codes.TokenBadSignature) || got["exp"] != int(codes.TokenExpired) || got["aud"] != int(codes.TokenWrongAudience) {
		t.Fatalf("codes %v", got)
	}
	if rep.Claims["aud"] != "licensor:asr" || rep.Header["kid"] != k.jwk.KeyID {
		t.Fatalf("header %v claims %v", rep.Header, rep.Claims)
	}
}

func jwksJSON(t testing.TB, ks ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseJWKS(t *testing.T) {
	k := newEdKey(t)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPub := jose.JSONWebKey{Key: &ecPriv.PublicKey, KeyID: "ec-1", Algorithm: "ES256"}
	single, _ := json.Marshal(k.jwk)
	// What a licensor site server publishes at /.well-known/jwks.json.
	site, _ := json.Marshal(map[string]any{"keys": []any{struct {
		keys.JWK
		Use string `json:"use"`
		Alg string `json:"alg"`
	}{keys.PublicJWK(k.pub), "sig", "EdDSA"}}})

	tests := []struct {
		name string
		data []byte
		kids []string // "" : want 801
		say  string
	}{
		{"valid-set", jwksJSON(t, k.jwk, ecPub), []string{k.jwk.KeyID, "ec-1"}, ""},
		{"site-server-jwks", site, []string{k.jwk.KeyID}, ""},
		{"single-jwk", single, []string{k.jwk.KeyID}, ""},
		{"private-key-made-public", jwksJSON(t, jose.JSONWebKey{Key: ecPriv, KeyID: "ec-priv"}), []string{"ec-priv"}, ""},
		{"garbage", []byte("not json at all"), nil, "not a JSON object"},
		{"empty", nil, nil, "not a JSON object"},
		{"array", []byte(`[{"kty":"OKP"}]`), nil, "not a JSON object"},
		{"no-keys", []byte(`{"keys":[]}`), nil, "no keys"},
		{"unknown-kty", []byte(`{"keys":[{"kty":"XYZ","kid":"a"}]}`), nil, "key 1"},
		{"bad-x", []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"!!"}]}`), nil, "key 1"},
		{"too-large", append(append([]byte(`{"keys":[],"pad":"`), make([]byte, MaxJWKSSize)...), `"}`...), nil, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := ParseJWKS(tt.data)
			if tt.kids == nil {
				if codes.Of(err) != codes.TokenMalformed || !strings.Contains(err.Error(), tt.say) {
					t.Fatalf("err = %v, want code 801 saying %q", err, tt.say)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kids []string
			for _, k := range ks {
				kids = append(kids, k.KeyID)
				if !k.IsPublic() {
					t.Errorf("key %s is not public", k.KeyID)
				}
			}
			if strings.Join(kids, ",") != strings.Join(tt.kids, ",") {
				t.Fatalf("kids %v, want %v", kids, tt.kids)
			}
		})
	}
}

func FuzzParseJWKS(f *testing.F) {
	k := newEdKey(f)
	f.Add(jwksJSON(f, k.jwk))
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := ParseJWKS(data)
		if err != nil {
			if codes.Of(err) != codes.TokenMalformed {
				t.Fatalf("error without code 801: %v", err)
			}
			return
		}
		if len(ks) == 0 {
			t.Fatal("no keys and no error")
		}
		for _, k := range ks {
			if !k.Valid() {
				t.Fatalf("invalid key %+v", k)
			}
		}
	})
}

// FuzzExplainToken: any input is explained without a panic, and a token
// reported Valid verifies with the key on its own, by go-jose.
func FuzzExplainToken(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	jwk := jose.JSONWebKey{Key: pub, KeyID: keys.ID(pub), Algorithm: "EdDSA"}
	k := edKey{pub, priv, jwk}
	f.Add(verdictToken(f, k, tokenNow))
	f.Add(compact(f, edHeader(""), claims(nil), edSign(priv)))
	f.Add(compact(f, map[string]any{"alg": "none"}, claims(nil), nil))
	f.Add(compact(f, map[string]any{"alg": "HS256"}, claims(map[string]any{"aud": []string{"licensor:ocr"}}), func(in []byte) []byte {
		m := hmac.New(sha256.New, pub)
		m.Write(in)
		return m.Sum(nil)
	}))
	f.Add("a.b.c")
	f.Add("e30.e30.")
	f.Add(`eyJhbGciOiJFZERTQSJ9.eyJleHAiOjFlOTk5fQ.AA`)
	f.Fuzz(func(t *testing.T, token string) {
		rep := ExplainToken(token, TokenOptions{Keys: []jose.JSONWebKey{jwk}, Issuer: verdict.Issuer, Audience: verdict.Audience("ocr"), Now: tokenNow})
		if len(rep.Steps) != len(tokenSteps) {
			t.Fatalf("%d steps", len(rep.Steps))
		}
		if _, err := json.Marshal(rep); err != nil {
			t.Fatalf("report does not marshal: %v", err)
		}
		if !rep.Valid {
			return
		}
		sig, err := jose.ParseSignedCompact(strings.TrimSpace(token), []jose.SignatureAlgorithm{jose.EdDSA})
		if err != nil {
			t.Fatalf("valid token does not parse: %v", err)
		}
		if _, err := sig.Verify(pub); err != nil {
			t.Fatalf("valid token does not verify: %v", errors.Unwrap(err))
		}
	})
}
