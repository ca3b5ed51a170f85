package license

import (
	"encoding/base64"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/jsonread"
)

// The bindings a license may put in force: the machine the site server
// runs on, a hardware token (PKCS#11) that must be present, or both.
const (
	BindMachine      = "machine"
	BindToken        = "token"
	BindMachineToken = "machine+token"
)

// The algorithms a token key may have.
const (
	TokenES256 = "ES256" // ECDSA P-256 with SHA-256
	TokenEdDSA = "EdDSA" // Ed25519
)

// TokenBinding is the hardware token a license requires: the token's
// key, by its RFC 7638 thumbprint, and optionally its serial. A site
// server bound to it proves, at start and at every token check, that a
// token signs a fresh challenge with that key.
type TokenBinding struct {
	Thumbprint string `json:"thumbprint"` // base64url SHA-256 JWK thumbprint of the token key
	Alg        string `json:"alg"`        // TokenES256 or TokenEdDSA
	// Serial, when set, is the token's serial number: a token holding
	// the key under another serial is refused too.
	Serial string `json:"serial,omitempty"`
	// Label is the key's label on the token, to find it; it binds nothing.
	Label string `json:"label,omitempty"`
}

// Binding is the binding in force: BindMachine for a license that names
// no token, else what its binding field says (BindMachineToken when it
// names none).
func (l *License) Binding() string {
	switch {
	case l.Token == nil:
		return BindMachine
	case l.Bind == "":
		return BindMachineToken
	}
	return l.Bind
}

// BindsMachine reports whether the site server must run on a machine the
// license names.
func (l *License) BindsMachine() bool { return l.Binding() != BindToken }

// BindsToken reports whether the site server must prove a hardware token.
func (l *License) BindsToken() bool { return l.Token != nil }

// validateToken checks the binding fields.
func (l *License) validateToken() error {
	bad := func(format string, args ...any) error {
		return codes.Errorf(codes.LicenseMalformed, format, args...)
	}
	switch l.Bind {
	case "", BindMachine, BindToken, BindMachineToken:
	default:
		return bad("binding %q is none of %s, %s, %s", l.Bind, BindMachine, BindToken, BindMachineToken)
	}
	if l.Token == nil {
		if l.Bind == BindToken || l.Bind == BindMachineToken {
			return bad("binding %q names no token: the license has no token field", l.Bind)
		}
		return nil
	}
	if l.Bind == BindMachine {
		return bad("binding %q with a token: a license that names a token binds it (binding %s or %s)", l.Bind, BindToken, BindMachineToken)
	}
	if l.IsCluster() {
		return bad("a cluster license cannot bind a hardware token: each node would need its own")
	}
	return l.Token.Validate()
}

// Validate checks a token binding: a well-formed thumbprint, a known
// algorithm, a serial and label of printable text.
func (t *TokenBinding) Validate() error {
	bad := func(format string, args ...any) error {
		return codes.Errorf(codes.LicenseMalformed, format, args...)
	}
	if !ValidThumbprint(t.Thumbprint) {
		return bad("token.thumbprint %q is not a SHA-256 key thumbprint (43 base64url characters)", t.Thumbprint)
	}
	if t.Alg != TokenES256 && t.Alg != TokenEdDSA {
		return bad("token.alg %q is none of %s, %s", t.Alg, TokenES256, TokenEdDSA)
	}
	if t.Serial != "" {
		if err := ValidText(t.Serial); err != nil {
			return bad("token.serial: %v", err)
		}
	}
	if t.Label != "" {
		if err := ValidText(t.Label); err != nil {
			return bad("token.label: %v", err)
		}
	}
	return nil
}

// ValidThumbprint reports whether s is a base64url (unpadded) SHA-256
// thumbprint.
func ValidThumbprint(s string) bool {
	if len(s) != 43 { // unpadded: the strict decoder refuses "=", "+" and "/"
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 32
}

// Describe says what the binding requires, for people: "machine",
// "token ES256 <thumbprint> (serial S)", or both.
func (t *TokenBinding) Describe() string {
	s := "token " + t.Alg + " key " + t.Thumbprint
	if t.Label != "" {
		s += " (label " + t.Label + ")"
	}
	if t.Serial != "" {
		s += ", serial " + t.Serial
	}
	return s
}

func decodeTokenBinding(d *jsonread.Decoder) *TokenBinding {
	var t TokenBinding
	d.Object(func(name string) {
		switch name {
		case "thumbprint":
			t.Thumbprint = d.String()
		case "alg":
			t.Alg = d.String()
		case "serial":
			t.Serial = d.String()
		case "label":
			t.Label = d.String()
		default:
			d.Unknown(name)
		}
	})
	return &t
}
