package license

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
)

// MaxRequestSize bounds an activation request.
const MaxRequestSize = 64 << 10

// Request is a site server's activation request: what the vendor needs to
// issue a license bound to that server's machine and key.
type Request struct {
	Version     int               `json:"version"`
	MachineCode string            `json:"machine_code"`
	Components  map[string]string `json:"components"`
	Environment string            `json:"environment,omitempty"`
	ServerKey   keys.JWK          `json:"server_key"`
	Hostname    string            `json:"hostname"`
	Created     time.Time         `json:"created"`
	// Token is the hardware token the license may bind, when the
	// request was made with one.
	Token *RequestToken `json:"token,omitempty"`
}

// RequestToken is the token an activation request names: its key's
// thumbprint and algorithm, the key's label, and the token's serial and
// make, as the token reported them.
type RequestToken struct {
	Thumbprint   string `json:"thumbprint"`
	Alg          string `json:"alg"`
	Label        string `json:"label,omitempty"` // the key's label
	Serial       string `json:"serial"`
	TokenLabel   string `json:"token_label,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
}

// Binding is the license's token binding for t; withSerial also binds
// the token's serial.
func (t *RequestToken) Binding(withSerial bool) *TokenBinding {
	b := &TokenBinding{Thumbprint: t.Thumbprint, Alg: t.Alg, Label: t.Label}
	if withSerial {
		b.Serial = t.Serial
	}
	return b
}

// NewRequest builds the activation request for host and server key.
func NewRequest(host *fingerprint.Fingerprint, server ed25519.PublicKey, hostname string, now time.Time) *Request {
	return &Request{
		Version: 1, MachineCode: host.Code, Components: host.Hashes(), Environment: host.Environment,
		ServerKey: keys.PublicJWK(server), Hostname: hostname, Created: now.UTC().Truncate(time.Second),
	}
}

// Machine is the machine the request asks a license for.
func (r *Request) Machine() fingerprint.Machine {
	return fingerprint.Machine{Code: r.MachineCode, Components: r.Components}
}

// ParseRequest decodes and checks an activation request. Failures are
// codes.RequestMalformed naming the field at fault.
func ParseRequest(data []byte) (*Request, error) {
	bad := func(format string, args ...any) (*Request, error) {
		return nil, codes.Errorf(codes.RequestMalformed, "activation request: "+format, args...).
			WithFix("Send the request exactly as 'licensor activation-request' printed it on the site server host.")
	}
	if len(data) > MaxRequestSize {
		return bad("%d bytes, more than a request can be (%d)", len(data), MaxRequestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Request
	if err := dec.Decode(&r); err != nil {
		return bad("not JSON of the expected shape: %v", err)
	}
	if dec.More() {
		return bad("data after the JSON object")
	}
	if r.Version != 1 {
		return bad("version %d; this licensor reads version 1", r.Version)
	}
	if !fingerprint.ValidCode(r.MachineCode) {
		return bad("machine_code %q is not a 32-hex machine code", truncate(r.MachineCode))
	}
	if len(r.Components) > 16 {
		return bad("%d components, at most 16", len(r.Components))
	}
	for name, h := range r.Components {
		if !validComponent(name) || !fingerprint.ValidHash(h) {
			return bad("components[%q] is not a component hash", truncate(name))
		}
	}
	if len(r.Components) > 0 && fingerprint.CodeOf(r.Components) != r.MachineCode {
		return bad("machine_code %s does not follow from its components (edited?)", r.MachineCode)
	}
	if _, err := r.ServerKey.PublicKey(); err != nil {
		return bad("server_key: %s", codes.As(err).Msg)
	}
	if err := ValidText(r.Hostname); err != nil {
		return bad("hostname: %v", err)
	}
	if r.Created.IsZero() {
		return bad("created is missing")
	}
	if t := r.Token; t != nil {
		if err := t.Binding(true).Validate(); err != nil {
			return bad("%s", codes.As(err).Msg)
		}
		for _, f := range []struct{ name, v string }{{"token.token_label", t.TokenLabel}, {"token.manufacturer", t.Manufacturer}, {"token.model", t.Model}} {
			if f.v != "" {
				if err := ValidText(f.v); err != nil {
					return bad("%s: %v", f.name, err)
				}
			}
		}
	}
	return &r, nil
}
