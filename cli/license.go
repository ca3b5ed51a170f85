package cli

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

func init() {
	register(&command{
		name:    "license show",
		summary: "print a license file's contents",
		help: `Usage: licensor license show FILE [--vendor-pub FILE] [--json]

Prints the license: holder, issuer, machines, server key (for a cluster
license, each node: its name, machine and own server key), per product
its functions, instance limit, QPS and dates (UTC), and the key-file
policy when the license has one (the hosts that may hold offline key
files and how long each is valid). --json prints the shape of the site
server's GET /security/license ("nodes" lists a cluster license's nodes).
Without --vendor-pub the signature is not checked and the output says so.`,
		setup: func(fs *flag.FlagSet) runFunc {
			vendorPub := fs.String("vendor-pub", "", "the vendor's public key, to check the signature")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) != 1 {
					return usageErrorf("license show takes one FILE")
				}
				s, err := parseLicenseFile(args[0])
				if err != nil {
					return err
				}
				var l *license.License
				verified := *vendorPub != ""
				if verified {
					pub, err := keys.LoadPublic(*vendorPub)
					if err != nil {
						return err
					}
					if l, err = s.Verify(pub); err != nil {
						return err
					}
				} else if l, err = s.Unverified(); err != nil {
					return err
				}
				if *asJSON {
					return e.writeJSON(l.View(s.KeyID))
				}
				printLicense(e, l, s.KeyID, e.Clock.Now())
				if !verified {
					fmt.Fprintln(e.Stdout, "signature: not checked; give --vendor-pub, or run 'licensor license verify'")
				} else {
					fmt.Fprintln(e.Stdout, "signature: valid")
				}
				return nil
			}
		},
	})
	register(&command{
		name:    "license verify",
		summary: "check a license: signature, dates, products, this machine",
		help: `Usage: licensor license verify FILE --vendor-pub FILE [--this-machine] [--product P] [--json]

Checks the license and prints one line per stage:

  file        the file reads and decodes
  signature   the vendor's public key signed it
  machine     with --this-machine, this host is a machine the license is
              bound to (for a cluster license, one of its nodes' machines;
              run it on the site server's host); skipped without
  product P   for each product (or only P, which must be in the license):
              within its dates; fewer than 30 days left warns

Once the signature verifies every stage runs, so one run shows every
fault. Exits 1 with the first failure's code.`,
		setup: func(fs *flag.FlagSet) runFunc {
			vendorPub := fs.String("vendor-pub", "", "the vendor's public key file")
			thisMachine := fs.Bool("this-machine", false, "check that the license is bound to this host")
			product := fs.String("product", "", "check only this product, which must be licensed")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) != 1 {
					return usageErrorf("license verify takes one FILE")
				}
				if *vendorPub == "" {
					return usageErrorf("license verify needs --vendor-pub FILE")
				}
				pub, err := keys.LoadPublic(*vendorPub)
				if err != nil {
					return err
				}
				r := e.verifyLicense(args[0], pub, *thisMachine, *product)
				if *asJSON {
					return e.writeOutcome(r, r.err)
				}
				printChecks(e.Stdout, r.Checks)
				return r.err
			}
		},
	})
}

func parseLicenseFile(path string) (*license.Signed, error) {
	data, err := license.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := license.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// printChecks writes one line per check, with the code when it failed and
// the fix under a warning.
func printChecks(w io.Writer, checks []check) {
	for _, c := range checks {
		line := fmt.Sprintf("%-4s %-16s %s", c.Status, c.Name, c.Message)
		if c.Code != 0 {
			line = fmt.Sprintf("%-4s %-16s code=%d %s: %s", c.Status, c.Name, c.Code, codes.Code(c.Code).Name(), c.Message)
		}
		fmt.Fprintln(w, line)
		if c.Status == "warn" {
			fmt.Fprintf(w, "     %-16s fix: %s\n", "", c.Fix)
		}
	}
}

// check is one line of 'license verify' and 'keyfile verify': one stage
// of the verification.
type check struct {
	Name    string `json:"name"`
	Status  string `json:"status"` // "ok", "warn", "fail" or "skip"
	Code    int    `json:"code"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

type verifyResult struct {
	Valid   bool          `json:"valid"`
	File    string        `json:"file"`
	Checks  []check       `json:"checks"`
	License *license.View `json:"license,omitempty"`
	Error   *errorJSON    `json:"error,omitempty"`
	err     error
}

// statusWord is how the checks' lines name an outcome.
var statusWord = map[license.Outcome]string{license.Pass: "ok", license.Warn: "warn", license.Fail: "fail", license.Skip: "skip"}

// report renders the stages of a verification, and its first failure as
// the command's error.
func (r *verifyResult) report(rep *license.Report) {
	for _, st := range rep.Stages {
		r.Checks = append(r.Checks, check{Name: st.Label(), Status: statusWord[st.Outcome], Code: int(st.Code), Message: st.Found, Fix: st.Fix})
	}
	if err := rep.Err(); err != nil {
		r.err, r.Error = err, errorObject(err)
	}
	r.Valid = r.err == nil
}

func (e *Env) verifyLicense(path string, vendor ed25519.PublicKey, thisMachine bool, product string) *verifyResult {
	checks := license.Checks{Product: product, Now: e.Clock.Now()}
	if thisMachine {
		checks.Host = e.Fingerprint
	}
	in := license.Inspect(path, vendor, checks)
	r := &verifyResult{File: path}
	if in.License != nil {
		v := in.License.View(in.Signed.KeyID)
		r.License = &v
	}
	r.report(&in.Report)
	for i, st := range in.Stages {
		if st.Name == license.StageMachine && st.Outcome == license.Skip && in.License != nil {
			r.Checks[i].Message = "not checked: give --this-machine, on the site server's host"
		}
	}
	return r
}

func printLicense(e *Env, l *license.License, vendorKeyID string, now time.Time) {
	w := e.Stdout
	fmt.Fprintf(w, "license %s\n", l.ID)
	fmt.Fprintf(w, "  holder:      %s\n  issuer:      %s\n  issued:      %s UTC\n", l.Holder, l.Issuer, license.FormatTime(l.Issued))
	if l.IsCluster() {
		fmt.Fprintf(w, "  vendor key:  %s\n  nodes:       %d (a cluster license: each node its own machine and server key)\n", vendorKeyID, len(l.Cluster))
		for i, n := range l.Cluster {
			name := n.Name
			if name == "" {
				name = fmt.Sprintf("#%d", i+1)
			}
			fmt.Fprintf(w, "  node %s:\n    machine:    %s (%d components recorded)\n    server key: %s\n", name, n.Code, len(n.Components), n.KeyID())
		}
	} else {
		fmt.Fprintf(w, "  vendor key:  %s\n  server key:  %s\n", vendorKeyID, l.ServerKey.Kid)
		for _, m := range l.Machines {
			fmt.Fprintf(w, "  machine:     %s (%d components recorded)\n", m.Code, len(m.Components))
		}
	}
	fmt.Fprintf(w, "  binding:     %s\n", bindingText(l))
	if t := l.Token; t != nil {
		fmt.Fprintf(w, "  token key:   %s %s\n", t.Alg, t.Thumbprint)
		if t.Label != "" {
			fmt.Fprintf(w, "  key label:   %s\n", t.Label)
		}
		if t.Serial != "" {
			fmt.Fprintf(w, "  token serial: %s\n", t.Serial)
		}
	}
	if l.MatchMin > 0 {
		fmt.Fprintf(w, "  match:       at least %d components\n", l.MatchMin)
	} else {
		fmt.Fprintf(w, "  match:       all recorded components (or the exact code)\n")
	}
	for _, p := range l.Products {
		state := "valid"
		if err := p.Check(now); err != nil {
			state = codes.Of(err).Name()
		}
		fns := strings.Join(p.Functions, "|")
		if fns == "" {
			fns = "-"
		}
		fmt.Fprintf(w, "  product %s: instances=%d qps=%d functions=%s\n    %s .. %s UTC (%s)\n",
			p.Subject, p.InstanceSize, p.QPS, fns, license.FormatTime(p.NotBefore), license.FormatTime(p.NotAfter), state)
	}
	if p := l.KeyFile; p != nil {
		fmt.Fprintf(w, "  key files:   %s\n", keyFilePolicyText(p))
		for _, h := range p.Hosts {
			fmt.Fprintf(w, "    host:      %s\n", h)
		}
	}
}

// bindingText says what the site server must prove for l.
func bindingText(l *license.License) string {
	switch l.Binding() {
	case license.BindToken:
		return "token (the server proves a hardware token holding the key below is present; any machine)"
	case license.BindMachineToken:
		return "machine+token (the server runs on the machine below and proves a hardware token holding the key below is present)"
	}
	return "machine (the server runs on the machine below)"
}
