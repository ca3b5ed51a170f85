package sdk

import "github.com/licensor/licensor/keyfile"

// Offline verification, for products that must not touch the network when
// they start: a key file on disk, renewed daily by 'licensor renew',
// checked with no network at all (vendor key → license → server key → key
// file, this host's machine code, the dates, and the clock's high-water
// mark). Warm checks are answered from memory.
type (
	// KeyFileOptions configure a KeyFileVerifier.
	KeyFileOptions = keyfile.Options
	// KeyFileVerifier checks a key file over the product's life.
	KeyFileVerifier = keyfile.Verifier
)

// NewKeyFileVerifier opens the key file in o.Path; its Check returns nil
// or a *codes.Error (520–524, 513, 508, 503).
func NewKeyFileVerifier(o KeyFileOptions) (*KeyFileVerifier, error) {
	return keyfile.NewVerifier(o)
}
