package cli

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/readfile"
	"github.com/licensor/licensor/keyfile"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

func init() {
	register(&command{
		name:    "keyfile verify",
		summary: "check a key file offline: chain, this machine, dates, products",
		help: `Usage: licensor keyfile verify KEYFILE --vendor-pub FILE [--product P] [--json]

Checks a key file the way the product on this host does, with no network:
the chain vendor key → license → server key → key file, that this host is
the key file's machine, its dates, and each product it grants (or only P,
which must be granted). Prints what the key file carries and one line per
check; warns when fewer than 5 days are left, which means the daily
'licensor renew' has been failing. Exits 1 with the first failure's code.`,
		setup: func(fs *flag.FlagSet) runFunc {
			vendorPub := fs.String("vendor-pub", "", "the vendor's public key file")
			product := fs.String("product", "", "check only this product, which must be granted")
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
				r := e.verifyKeyFile(args[0], pub, *product)
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
}

// keyfileStage is the check a failure belongs to, in the order
// Signed.Verify runs them.
func keyfileStage(c codes.Code) int {
	switch c {
	case codes.KeyFileTampered, codes.WrongVendorKey:
		return 0
	case codes.KeyFileMachine:
		return 1
	case codes.ClockRollback, codes.KeyFileNotYetValid, codes.KeyFileExpired:
		return 2
	}
	return 3
}

func (e *Env) verifyKeyFile(path string, vendor ed25519.PublicKey, product string) *keyfileResult {
	r := &keyfileResult{verifyResult: verifyResult{File: path}}
	data, err := readfile.Limited(path, keyfile.MaxFileSize, "key file")
	if err != nil {
		ce := codes.As(err)
		r.add("file", &codes.Error{Code: codes.KeyFileMissing, Msg: ce.Msg, Err: ce.Err}, "")
		return r
	}
	s, err := keyfile.Parse(data)
	if err != nil {
		r.add("file", fmt.Errorf("%s: %w", path, err), "")
		return r
	}
	host, err := e.Fingerprint()
	if err != nil {
		r.add("machine", codes.Errorf(codes.Unknown, "cannot compute this host's machine code: %w", err), "")
		return r
	}
	now := e.Clock.Now()
	c, verr := s.Verify(vendor, host, product, now)
	verified := verr == nil
	if !verified {
		c = s.Unverified()
	}
	// The license's own names, for display; the signature over it is what
	// Verify checked.
	var vendorKID string
	if ls, err := license.Parse([]byte(c.License)); err == nil {
		vendorKID = ls.KeyID
		if l, err := ls.Verify(vendor); err == nil {
			v := l.View(ls.KeyID)
			r.License = &v
		}
	}
	issued, nbf, expires := c.Times()
	r.KeyFile = &keyfileView{
		ID: c.ID, Verified: verified, Machine: c.Machine, Components: len(c.Components), MatchMin: c.MatchMin,
		Issued: license.FormatTime(issued), NotBefore: license.FormatTime(nbf), Expires: license.FormatTime(expires),
		SecondsLeft: int64(expires.Sub(now) / time.Second), ServerKeyID: s.KeyID, Products: c.Products,
	}
	if r.License != nil {
		r.KeyFile.LicenseID = r.License.ID
	}

	failed := 4
	if !verified {
		failed = keyfileStage(codes.Of(verr))
	}
	stages := []struct {
		name string
		ok   func() string
	}{
		{"signature", func() string {
			return fmt.Sprintf("vendor key %s → license %s → server key %s", vendorKID, r.KeyFile.LicenseID, s.KeyID)
		}},
		{"machine", func() string { return machineOK(c, host) }},
		{"dates", func() string {
			return fmt.Sprintf("valid until %s UTC (%s left)", license.FormatTime(expires), daysLeft(expires.Sub(now)))
		}},
	}
	for i, st := range stages {
		switch {
		case i < failed:
			r.add(st.name, nil, st.ok())
		case i == failed:
			r.add(st.name, verr, "")
		}
	}
	if failed <= 2 {
		return r
	}
	if left := expires.Sub(now); left < keyfile.WarnWithin {
		r.Checks = append(r.Checks, check{Name: "renewal", Status: "warn",
			Message: fmt.Sprintf("only %s left: the daily renewal has been failing", daysLeft(left)),
			Fix:     "Check the renew timer and that this host reaches a site server, then run 'licensor renew' by hand."})
	}
	if product != "" {
		r.add("product "+product, verr, productGrant(c, product))
	} else {
		for _, p := range c.Products {
			_, err := s.Verify(vendor, host, p.Subject, now)
			r.add("product "+p.Subject, err, productGrant(c, p.Subject))
		}
	}
	r.Valid = r.err == nil
	return r
}

func machineOK(c *keyfile.Claims, host *fingerprint.Fingerprint) string {
	if host.Code == c.Machine {
		return "this host " + host.Code + " is the key file's machine"
	}
	return fmt.Sprintf("this host %s matches the key file's machine %s closely enough (at least %d components)", host.Code, c.Machine, c.MatchMin)
}

func productGrant(c *keyfile.Claims, subject string) string {
	p, _ := c.Product(subject)
	return "granted, " + productTerms(p)
}

func productTerms(p keyfile.Product) string {
	fns := strings.Join(p.Functions, "|")
	if fns == "" {
		fns = "-"
	}
	s := "functions=" + fns
	if p.NotAfter > 0 {
		s += ", until " + license.FormatTime(time.Unix(p.NotAfter, 0)) + " UTC"
	}
	return s
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
	fmt.Fprintf(w, "  issued:      %s UTC\n", k.Issued)
	fmt.Fprintf(w, "  expires:     %s UTC (%s left)\n", k.Expires, daysLeft(time.Duration(k.SecondsLeft)*time.Second))
	fmt.Fprintf(w, "  server key:  %s\n", k.ServerKeyID)
	for _, p := range k.Products {
		fmt.Fprintf(w, "  product %s: %s\n", p.Subject, productTerms(p))
	}
	if l := r.License; l != nil {
		fmt.Fprintf(w, "  license:     %s for %s from %s (vendor key %s, issued %s UTC)\n", l.ID, l.Holder, l.Issuer, l.VendorKeyID, l.Issued)
	}
}
