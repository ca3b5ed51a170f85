package cli

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"time"

	"github.com/licensor/licensor/keyfile"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

func init() {
	register(&command{
		name:    "keyfile verify",
		summary: "check a key file offline: chain, this machine, the clock, dates, products",
		help: `Usage: licensor keyfile verify KEYFILE --vendor-pub FILE [--product P] [--state FILE] [--json]

Checks a key file the way the product on this host does, with no network.
Prints what the key file carries, then one line per stage:

  file        the file reads and decodes
  chain       vendor key → license → server key → key file
  machine     this host is the key file's machine
  clock       the clock is not before the key file's issue time, nor
              before the latest time seen on this host: the high-water
              mark the product keeps in KEYFILE.seen (or --state FILE)
  dates       within the key file's dates; fewer than 5 days left warns,
              for then the daily 'licensor renew' has been failing
  product P   each product it grants (or only P, which must be granted)

Once the chain verifies every stage runs, so one run shows every fault;
a stage that cannot run is skipped. Nothing is written, not even the
high-water mark. Exits 1 with the first failure's code, the one the
product gets.`,
		setup: func(fs *flag.FlagSet) runFunc {
			vendorPub := fs.String("vendor-pub", "", "the vendor's public key file")
			product := fs.String("product", "", "check only this product, which must be granted")
			state := fs.String("state", "", "the host's high-water mark (default KEYFILE.seen)")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) != 1 {
					return usageErrorf("keyfile verify takes one KEYFILE")
				}
				if *vendorPub == "" {
					return usageErrorf("keyfile verify needs --vendor-pub FILE")
				}
				pub, err := keys.LoadPublic(*vendorPub)
				if err != nil {
					return err
				}
				r := e.verifyKeyFile(args[0], pub, *product, *state)
				if *asJSON {
					return e.writeOutcome(r, r.err)
				}
				if r.KeyFile != nil {
					printKeyFile(e, r)
				}
				printChecks(e.Stdout, r.Checks)
				return r.err
			}
		},
	})
}

// keyfileResult is what 'keyfile verify' found: the license checks'
// shape plus the key file itself.
type keyfileResult struct {
	verifyResult
	KeyFile *keyfileView `json:"keyfile,omitempty"`
}

type keyfileView struct {
	ID          string            `json:"id"`
	Verified    bool              `json:"verified"`
	Machine     string            `json:"machine_code"`
	Components  int               `json:"components"`
	MatchMin    int               `json:"match_min"`
	Issued      string            `json:"issued"`
	NotBefore   string            `json:"not_before"`
	Expires     string            `json:"expires"`
	SecondsLeft int64             `json:"seconds_left"`
	ServerKeyID string            `json:"server_key_id"`
	LicenseID   string            `json:"license_id"`
	Products    []keyfile.Product `json:"products"`

	issued, expires, licenseIssued time.Time // for the text form
}

func (e *Env) verifyKeyFile(path string, vendor ed25519.PublicKey, product, state string) *keyfileResult {
	now := e.Clock.Now()
	in := keyfile.Inspect(path, vendor, keyfile.Checks{Host: e.Fingerprint, Product: product, Now: now, StateFile: state})
	r := &keyfileResult{verifyResult: verifyResult{File: path}}
	r.report(&in.Report)
	if c := in.Claims; c != nil {
		issued, nbf, expires := c.Times()
		r.KeyFile = &keyfileView{
			ID: c.ID, Verified: r.Valid, Machine: c.Machine, Components: len(c.Components), MatchMin: c.MatchMin,
			Issued: license.JSONTime(issued), NotBefore: license.JSONTime(nbf), Expires: license.JSONTime(expires),
			SecondsLeft: int64(expires.Sub(now) / time.Second), ServerKeyID: in.Signed.KeyID, Products: c.Products,
			issued: issued, expires: expires,
		}
	}
	if l := in.License; l != nil {
		// The chain verified, so the configured vendor key signed it.
		v := l.View(keys.ID(vendor))
		r.License = &v
		r.KeyFile.LicenseID, r.KeyFile.licenseIssued = l.ID, l.Issued
	}
	return r
}

func printKeyFile(e *Env, r *keyfileResult) {
	w, k := e.Stdout, r.KeyFile
	note := ""
	if !k.Verified {
		note = " (not verified: read the checks below)"
	}
	fmt.Fprintf(w, "key file %s%s\n", k.ID, note)
	match := "all recorded components (or the exact code)"
	if k.MatchMin > 0 {
		match = fmt.Sprintf("at least %d of %d components", k.MatchMin, k.Components)
	}
	fmt.Fprintf(w, "  machine:     %s (match: %s)\n", k.Machine, match)
	fmt.Fprintf(w, "  issued:      %s UTC\n", license.FormatTime(k.issued))
	left := time.Duration(k.SecondsLeft) * time.Second
	state := license.DaysLeft(left) + " left"
	if left < 0 {
		state = "expired " + license.DaysLeft(left) + " ago"
	}
	fmt.Fprintf(w, "  expires:     %s UTC (%s)\n", license.FormatTime(k.expires), state)
	fmt.Fprintf(w, "  server key:  %s\n", k.ServerKeyID)
	for _, p := range k.Products {
		fmt.Fprintf(w, "  product %s: %s\n", p.Subject, keyfile.Terms(p))
	}
	if l := r.License; l != nil {
		fmt.Fprintf(w, "  license:     %s for %s from %s (vendor key %s, issued %s UTC)\n", l.ID, l.Holder, l.Issuer, l.VendorKeyID, license.FormatTime(k.licenseIssued))
	}
}
