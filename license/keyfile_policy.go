package license

import (
	"slices"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
)

// Limits on a key-file policy.
const (
	// MaxKeyFileHosts bounds the hosts a license may name. Every key file
	// carries the whole license, base64 inside base64, and is at most 64
	// KiB (keyfile.MaxFileSize): 500 hosts take about half of that, and
	// leave the rest to the license's machines and products.
	MaxKeyFileHosts = 500
	// MinKeyFileValidity and MaxKeyFileValidity bound the validity a
	// license may give its key files, as the server configuration's
	// keyfile_validity is bounded.
	MinKeyFileValidity = time.Hour
	MaxKeyFileValidity = 90 * 24 * time.Hour
)

// KeyFilePolicy says which hosts may hold offline key files and how long
// each key file is valid. A zero field leaves that choice to the site
// server.
type KeyFilePolicy struct {
	// Hosts are the machine codes of the hosts the site server may issue
	// key files to; empty means any host with a renew certificate.
	Hosts []string `json:"hosts,omitempty"`
	// ValidityHours is how long each key file is valid after its issue
	// time; 0 means the site server's keyfile_validity.
	ValidityHours int `json:"validityHours,omitempty"`
}

// AllowsHost reports whether the policy lets machine hold a key file. A
// nil policy, or one that names no hosts, allows every host.
func (p *KeyFilePolicy) AllowsHost(machine string) bool {
	return p == nil || len(p.Hosts) == 0 || slices.Contains(p.Hosts, machine)
}

// Restricted reports whether the policy names the hosts that may hold key
// files.
func (p *KeyFilePolicy) Restricted() bool { return p != nil && len(p.Hosts) > 0 }

// Validity returns how long the policy makes a key file valid; 0 when it
// leaves that to the site server.
func (p *KeyFilePolicy) Validity() time.Duration {
	if p == nil {
		return 0
	}
	return time.Duration(p.ValidityHours) * time.Hour
}

// validate checks the policy as part of License.Validate: failures are
// codes.LicenseMalformed naming the field.
func (p *KeyFilePolicy) validate() error {
	bad := func(format string, args ...any) error {
		return codes.Errorf(codes.LicenseMalformed, format, args...)
	}
	if len(p.Hosts) == 0 && p.ValidityHours == 0 {
		return bad("keyFile names no hosts and no validityHours; a license without a key-file policy leaves it out")
	}
	if len(p.Hosts) > MaxKeyFileHosts {
		return bad("keyFile.hosts names %d hosts, at most %d", len(p.Hosts), MaxKeyFileHosts)
	}
	seen := make(map[string]bool, len(p.Hosts))
	for i, h := range p.Hosts {
		if !fingerprint.ValidCode(h) {
			return bad("keyFile.hosts[%d] %q is not a 32-hex machine code", i, truncate(h))
		}
		if seen[h] {
			return bad("keyFile.hosts[%d] %s is listed twice", i, h)
		}
		seen[h] = true
	}
	minH, maxH := int(MinKeyFileValidity/time.Hour), int(MaxKeyFileValidity/time.Hour)
	if p.ValidityHours != 0 && (p.ValidityHours < minH || p.ValidityHours > maxH) {
		return bad("keyFile.validityHours %d is out of range %d..%d (90 days)", p.ValidityHours, minH, maxH)
	}
	return nil
}
