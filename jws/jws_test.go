package jws

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/licensor/licensor/keys"
)

// RFC 8037 appendix A.1 and A.4.
const (
	rfcD   = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfcJWS = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)

func TestRFC8037Example(t *testing.T) {
	seed, _ := base64.RawURLEncoding.DecodeString(rfcD)
	priv := ed25519.NewKeyFromSeed(seed)
	got, err := Sign(priv, []byte("Example of Ed25519 signing"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if got != rfcJWS {
		t.Fatalf("signed\n %s\nwant\n %s", got, rfcJWS)
	}
	obj, err := Parse(rfcJWS)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := obj.Verify(priv.Public().(ed25519.PublicKey))
	if err != nil || string(payload) != "Example of Ed25519 signing" {
		t.Fatalf("Verify = %q, %v", payload, err)
	}
}

func TestRoundTripHeader(t *testing.T) {
	pub, priv, _ := keys.Generate()
	s, err := Sign(priv, []byte(`{"a":1}`), keys.ID(pub), "licensor-license")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if obj.Header.KeyID != keys.ID(pub) || obj.Header.Type != "licensor-license" || obj.Header.Algorithm != "EdDSA" {
		t.Fatalf("header = %+v", obj.Header)
	}
	// Any JOSE implementation can verify it: here go-jose with its own key handling.
	sig, err := jose.ParseSignedCompact(s, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sig.Verify(pub); err != nil {
		t.Fatalf("go-jose refused our signature: %v", err)
	}
}

func TestRejects(t *testing.T) {
	pub, priv, _ := keys.Generate()
	otherPub, _, _ := keys.Generate()
	good, _ := Sign(priv, []byte("payload"), "", "")
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name  string
		jws   string
		key   ed25519.PublicKey
		want  error
		parse bool // the failure is at Parse
	}{
		{"empty", "", pub, ErrMalformed, true},
		{"two-parts", parts[0] + "." + parts[1], pub, ErrMalformed, true},
		{"four-parts", good + ".x", pub, ErrMalformed, true},
		{"header-not-base64", "!!." + parts[1] + "." + parts[2], pub, ErrMalformed, true},
		{"header-not-json", b64([]byte("nope")) + "." + parts[1] + "." + parts[2], pub, ErrMalformed, true},
		{"alg-none", b64([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", pub, ErrAlgorithm, true},
		{"alg-hs256", b64([]byte(`{"alg":"HS256"}`)) + "." + parts[1] + "." + parts[2], pub, ErrAlgorithm, true},
		{"payload-not-base64", parts[0] + ".%%%." + parts[2], pub, ErrMalformed, true},
		{"huge", strings.Repeat("a", MaxSize+1), pub, ErrMalformed, true},
		{"tampered-payload", parts[0] + "." + b64([]byte("payloaD")) + "." + parts[2], pub, ErrSignature, false},
		{"tampered-signature", parts[0] + "." + parts[1] + "." + flip(parts[2]), pub, ErrSignature, false},
		{"short-signature", parts[0] + "." + parts[1] + "." + parts[2][:20], pub, ErrMalformed, true},
		{"long-signature", good + "AAAA", pub, ErrMalformed, true},
		{"padded-signature", good + "==", pub, ErrMalformed, true},
		{"noncanonical-signature", parts[0] + "." + parts[1] + "." + parts[2][:85] + "B", pub, ErrMalformed, true},
		{"header-array", b64([]byte(`[{"alg":"EdDSA"}]`)) + "." + parts[1] + "." + parts[2], pub, ErrMalformed, true},
		{"header-crit", b64([]byte(`{"alg":"EdDSA","crit":["exp"],"exp":1}`)) + "." + parts[1] + "." + parts[2], pub, ErrMalformed, true},
		{"header-b64-false", b64([]byte(`{"alg":"EdDSA","b64":false,"crit":["b64"]}`)) + "." + parts[1] + "." + parts[2], pub, ErrMalformed, true},
		{"header-trailing", b64([]byte(`{"alg":"EdDSA"} x`)) + "." + parts[1] + "." + parts[2], pub, ErrMalformed, true},
		{"other-key", good, otherPub, ErrSignature, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := Parse(tt.jws)
			if tt.parse {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Parse = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			if _, err := obj.Verify(tt.key); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// flip changes the first signature character to another valid base64url one.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func FuzzParse(f *testing.F) {
	pub, priv, _ := keys.Generate()
	good, _ := Sign(priv, []byte(`{"x":1}`), keys.ID(pub), "t")
	f.Add(good)
	f.Add(rfcJWS)
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		obj, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAlgorithm) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		payload, err := obj.Verify(pub)
		if err == nil && s != good {
			// Only our own signature may verify; a different encoding of it is a forgery.
			if string(payload) != `{"x":1}` {
				t.Fatalf("forged payload %q verified", payload)
			}
		}
	})
}
