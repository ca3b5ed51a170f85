// Package license is the vendor-signed license document: who holds it, the
// machine(s) it is bound to, the site server key it trusts, and per
// product the features, instance limit, QPS and validity dates.
//
// A license travels as a text file, safe to email: a few human-readable
// lines (not signed, for reading only) and a compact JWS (EdDSA, signed by
// the vendor key, header "kid" naming that key) between armor lines. Any
// JOSE implementation can verify the JWS.
package license

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
)

// Version is the document version this package writes and reads.
const Version = 1

// FingerTypeMachine is the only fingerprint scheme so far: the software
// machine code of package fingerprint.
const FingerTypeMachine = 1

// Limits on a license's contents, checked when issuing and when reading.
const (
	MaxProducts     = 64
	MaxFunctions    = 64
	MaxMachines     = 16
	MaxInstanceSize = 1_000_000
	MaxQPS          = 10_000_000
	maxTextLen      = 128
)

// License is the signed document.
type License struct {
	Info       string                `json:"info"` // always "license"
	Version    int                   `json:"version"`
	ID         string                `json:"id"`
	Holder     string                `json:"holder"`
	Issuer     string                `json:"issuer"`
	Issued     time.Time             `json:"issued"`
	FingerType int                   `json:"fingerType"`
	Machines   []fingerprint.Machine `json:"machines"`
	// MatchMin is how many of a machine's recorded components must match
	// this host; 0 means all of them. An exact machine code always matches.
	MatchMin  int       `json:"matchMin"`
	ServerKey keys.JWK  `json:"serverKey"`
	Products  []Product `json:"productLicenses"`
	// KeyFile restricts the offline key files the site server issues;
	// nil leaves the choice to the server (any host with a renew
	// certificate, for the server's keyfile_validity).
	KeyFile *KeyFilePolicy `json:"keyFile,omitempty"`
}

// Product is one licensed product.
type Product struct {
	Subject      string    `json:"subject"`
	Functions    []string  `json:"functions"`
	InstanceSize int       `json:"instanceSize"`
	QPS          int       `json:"qps"`
	NotBefore    time.Time `json:"notBefore"`
	NotAfter     time.Time `json:"notAfter"`
}

// ValidName reports whether s may name a product or a function: 1 to 64
// letters, digits, '.', '_' or '-', starting with a letter or digit.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// Product returns the product named subject.
func (l *License) Product(subject string) (Product, bool) {
	for _, p := range l.Products {
		if p.Subject == subject {
			return p, true
		}
	}
	return Product{}, false
}

// ServerPublicKey returns the site server key the license trusts.
func (l *License) ServerPublicKey() (ed25519.PublicKey, error) {
	return l.ServerKey.PublicKey()
}

// CheckProduct reports whether subject may run at now: codes.ProductUnlicensed,
// codes.NotYetValid or codes.Expired otherwise.
func (l *License) CheckProduct(subject string, now time.Time) error {
	p, ok := l.Product(subject)
	if !ok {
		return codes.Errorf(codes.ProductUnlicensed, "product %q is not in the license for %s (licensed: %s)", subject, l.Holder, strings.Join(l.Subjects(), ", "))
	}
	return p.Check(now)
}

// Check reports whether the product's dates cover now.
func (p Product) Check(now time.Time) error {
	switch {
	case now.Before(p.NotBefore):
		return codes.Errorf(codes.NotYetValid, "product %q is licensed from %s; it is %s now", p.Subject, FormatTime(p.NotBefore), FormatTime(now))
	case now.After(p.NotAfter):
		return codes.Errorf(codes.Expired, "product %q expired at %s; it is %s now", p.Subject, FormatTime(p.NotAfter), FormatTime(now))
	}
	return nil
}

// CheckMachine reports whether host is a machine the license is bound to
// (codes.Fingerprint otherwise, naming the changed components).
func (l *License) CheckMachine(host *fingerprint.Fingerprint) error {
	return fingerprint.MatchAny(l.Machines, l.MatchMin, host)
}

// Subjects lists the licensed product names.
func (l *License) Subjects() []string {
	out := make([]string, len(l.Products))
	for i, p := range l.Products {
		out[i] = p.Subject
	}
	return out
}

// Validate checks the document's fields and limits.
func (l *License) Validate() error {
	bad := func(format string, args ...any) error {
		return codes.Errorf(codes.LicenseMalformed, format, args...)
	}
	if l.Info != "license" {
		return bad("info is %q, want \"license\"", l.Info)
	}
	if l.Version != Version {
		return bad("license version %d; this licensor reads version %d (upgrade licensor)", l.Version, Version)
	}
	if err := checkText("id", l.ID); err != nil {
		return err
	}
	if err := checkText("holder", l.Holder); err != nil {
		return err
	}
	if err := checkText("issuer", l.Issuer); err != nil {
		return err
	}
	if l.Issued.IsZero() {
		return bad("issued is missing")
	}
	if l.FingerType != FingerTypeMachine {
		return bad("fingerType %d is not one this licensor knows", l.FingerType)
	}
	if len(l.Machines) == 0 || len(l.Machines) > MaxMachines {
		return bad("the license names %d machines; it must name 1 to %d", len(l.Machines), MaxMachines)
	}
	maxComponents := 0
	for i, m := range l.Machines {
		if !fingerprint.ValidCode(m.Code) {
			return bad("machines[%d].code %q is not a 32-hex machine code", i, m.Code)
		}
		for name, h := range m.Components {
			if !fingerprint.ValidHash(h) || !validComponent(name) {
				return bad("machines[%d].components[%q] is not a component hash", i, name)
			}
		}
		maxComponents = max(maxComponents, len(m.Components))
	}
	if l.MatchMin < 0 || l.MatchMin > maxComponents {
		return bad("matchMin %d is out of range 0..%d", l.MatchMin, maxComponents)
	}
	if _, err := l.ServerKey.PublicKey(); err != nil {
		return bad("serverKey: %s", codes.As(err).Msg)
	}
	if len(l.Products) == 0 || len(l.Products) > MaxProducts {
		return bad("the license has %d products; it must have 1 to %d", len(l.Products), MaxProducts)
	}
	seen := map[string]bool{}
	for _, p := range l.Products {
		if err := p.Validate(); err != nil {
			return bad("%s", codes.As(err).Msg)
		}
		if seen[p.Subject] {
			return bad("product %q is listed twice", p.Subject)
		}
		seen[p.Subject] = true
	}
	if l.KeyFile != nil {
		if err := l.KeyFile.validate(); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks one product's fields; failures are codes.InvalidArgument.
func (p Product) Validate() error {
	bad := func(format string, args ...any) error {
		return codes.Errorf(codes.InvalidArgument, format, args...)
	}
	if !ValidName(p.Subject) {
		return bad("product name %q: use 1 to 64 letters, digits, '.', '_' or '-'", p.Subject)
	}
	if len(p.Functions) > MaxFunctions {
		return bad("product %q has %d functions, at most %d", p.Subject, len(p.Functions), MaxFunctions)
	}
	for _, f := range p.Functions {
		if !ValidName(f) {
			return bad("product %q: function %q: use 1 to 64 letters, digits, '.', '_' or '-'", p.Subject, f)
		}
	}
	if p.InstanceSize < 1 || p.InstanceSize > MaxInstanceSize {
		return bad("product %q: instances %d is out of range 1..%d", p.Subject, p.InstanceSize, MaxInstanceSize)
	}
	if p.QPS < 0 || p.QPS > MaxQPS {
		return bad("product %q: qps %d is out of range 0..%d (0 means no QPS control)", p.Subject, p.QPS, MaxQPS)
	}
	if p.NotBefore.IsZero() || p.NotAfter.IsZero() {
		return bad("product %q: not-before and not-after are required", p.Subject)
	}
	if !p.NotAfter.After(p.NotBefore) {
		return bad("product %q: not-after %s is not after not-before %s", p.Subject, FormatTime(p.NotAfter), FormatTime(p.NotBefore))
	}
	return nil
}

func validComponent(name string) bool {
	return name != "" && len(name) <= 32 && strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}) < 0
}

func checkText(field, s string) error {
	if s == "" {
		return codes.Errorf(codes.LicenseMalformed, "%s is empty", field)
	}
	if err := ValidText(s); err != nil {
		return codes.Errorf(codes.LicenseMalformed, "%s: %v", field, err)
	}
	return nil
}

// ValidText checks free text such as a holder's name: valid UTF-8, no
// control characters, at most 128 bytes.
func ValidText(s string) error {
	if len(s) > maxTextLen {
		return fmt.Errorf("%d bytes, at most %d", len(s), maxTextLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fmt.Errorf("contains control characters")
	}
	return nil
}

// TimeLayout is how licensor shows license times, as operators of
// private-deployment auth servers know them: UTC, to the second.
const TimeLayout = "2006-01-02 15:04:05"

// FormatTime formats t in TimeLayout, UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }
