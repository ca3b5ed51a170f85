package sdk

import "github.com/licensor/licensor/keyfile"

// Offline verification, for products that must not touch the network when
// they start: a key file on disk, renewed daily by 'licensor renew',
// checked with no network at all (vendor key → license → server key → key
// file, this host's machine code, the clock against the key file's issue
// time and this host's high-water mark, the dates, the product). Warm
// checks are answered from memory, with no allocation.
//
// KeyFileVerifier.Inspect tells the same verification stage by stage —
// file, chain, machine, clock, dates, product — each with its outcome,
// its code and what it found, the first failure being the error Check
// returns. It is what 'licensor keyfile verify' and 'licensor doctor
// --keyfile' print, so a product can log or show it when Check fails.
type (
	// KeyFileOptions configure a KeyFileVerifier.
	KeyFileOptions = keyfile.Options
	// KeyFileVerifier checks a key file over the product's life.
	KeyFileVerifier = keyfile.Verifier
	// KeyFileInspection is a key file verified stage by stage.
	KeyFileInspection = keyfile.Inspection
)

// NewKeyFileVerifier opens the key file in o.Path; its Check returns nil
// or a *codes.Error (520–524, 513, 512, 508, 510, 503).
func NewKeyFileVerifier(o KeyFileOptions) (*KeyFileVerifier, error) {
	return keyfile.NewVerifier(o)
}
