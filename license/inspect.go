package license

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
)

// WarnWithin is how close to its end a licensed product starts warning:
// time enough to have the license renewed.
const WarnWithin = 30 * 24 * time.Hour

// Checks say what Inspect checks a license against besides its
// signature.
type Checks struct {
	// Host fingerprints this host for the machine stage; nil skips the
	// stage (a license is bound to the site server's host, which is not
	// always the one checking it).
	Host func() (*fingerprint.Fingerprint, error)
	// Product is the product to check; "" checks every product the
	// license has.
	Product string
	// Now is when the products' dates are checked.
	Now time.Time
}

// Inspection is a license file verified stage by stage.
type Inspection struct {
	Report
	// Signed is the file decoded; nil when it is missing or does not
	// decode.
	Signed *Signed
	// License is the license once its signature verified, else nil.
	License *License
}

// Inspect reads the license file at path and verifies it stage by stage:
// the file (codes.FileMissing, codes.LicenseMalformed), the signature
// (Signed.Verify's codes), this host (codes.Fingerprint; skipped without
// o.Host), and per product whether it is licensed and within its dates
// (codes.ProductUnlicensed, codes.NotYetValid, codes.Expired; a product
// ending within WarnWithin warns). Once the signature verified every
// stage runs, so one report shows every fault; Err is the first.
func Inspect(path string, vendor ed25519.PublicKey, o Checks) *Inspection {
	in := &Inspection{}
	data, err := ReadFile(path)
	if err == nil {
		in.Signed, err = Parse(data)
	}
	in.Record(StageFile, "", err, func() string { return path + ": a signed license" })
	if err != nil {
		in.SkipRest(StageFile, StageSignature, StageMachine, StageProduct)
		return in
	}
	file := in.Stages[0]
	var r Report
	in.License, r = in.Signed.Inspect(vendor, o)
	in.Stages = append([]Stage{file}, r.Stages...)
	return in
}

// Inspect verifies the license stage by stage, as the package-level
// Inspect does after reading the file, and returns the license when its
// signature verified.
func (s *Signed) Inspect(vendor ed25519.PublicKey, o Checks) (*License, Report) {
	var r Report
	l, err := s.Verify(vendor)
	r.Record(StageSignature, "", err, func() string {
		return fmt.Sprintf("signed by vendor key %s: license %s for %s from %s", s.KeyID, l.ID, l.Holder, l.Issuer)
	})
	if err != nil {
		r.SkipRest(StageSignature, StageMachine, StageProduct)
		return nil, r
	}
	switch {
	case !l.BindsMachine():
		r.Skip(StageMachine, "", "not checked: the license binds a hardware token, not a machine ("+l.Token.Describe()+")")
	case o.Host == nil:
		r.Skip(StageMachine, "", "not checked: the license binds the site server's host")
	default:
		host, err := o.Host()
		if err != nil {
			r.Record(StageMachine, "", codes.Errorf(codes.Unknown, "cannot compute this host's machine code: %v", err), nil)
			break
		}
		r.Record(StageMachine, "", l.CheckMachine(host), func() string { return machineFound(l, host) })
	}
	if o.Product != "" {
		if _, ok := l.Product(o.Product); !ok {
			r.Record(StageProduct, o.Product, l.CheckProduct(o.Product, o.Now), nil)
			return l, r
		}
	}
	for _, p := range l.Products {
		if o.Product == "" || p.Subject == o.Product {
			r.product(p, o.Now)
		}
	}
	return l, r
}

func (r *Report) product(p Product, now time.Time) {
	if err := p.Check(now); err != nil {
		r.Record(StageProduct, p.Subject, err, nil)
		return
	}
	terms := productTerms(p)
	if left := p.NotAfter.Sub(now); left < WarnWithin {
		r.Warn(StageProduct, p.Subject, fmt.Sprintf("%s; ends %s UTC, in %s", terms, FormatTime(p.NotAfter), DaysLeft(left)),
			"Ask the vendor to renew the license before it ends.")
		return
	}
	r.Pass(StageProduct, p.Subject, "%s; valid until %s UTC (%s left)", terms, FormatTime(p.NotAfter), DaysLeft(p.NotAfter.Sub(now)))
}

func productTerms(p Product) string {
	fns := strings.Join(p.Functions, "|")
	if fns == "" {
		fns = "-"
	}
	return fmt.Sprintf("instances=%d qps=%d functions=%s", p.InstanceSize, p.QPS, fns)
}

// machineFound says how host matched the license's machines.
func machineFound(l *License, host *fingerprint.Fingerprint) string {
	nodes := l.Nodes()
	bound := "this host " + host.Code + " is bound by the license"
	for i := range nodes {
		if nodes[i].Code == host.Code {
			return bound + nodeOf(l, &nodes[i])
		}
	}
	for i := range nodes {
		if fingerprint.Match(nodes[i].Machine, l.MatchMin, host) == nil {
			return fmt.Sprintf("this host %s matches the licensed machine %s closely enough (%s)%s", host.Code, nodes[i].Code, matchRule(l.MatchMin), nodeOf(l, &nodes[i]))
		}
	}
	return bound
}

// nodeOf names the node n of a cluster license, for machineFound.
func nodeOf(l *License, n *Node) string {
	if !l.IsCluster() {
		return ""
	}
	if n.Name != "" {
		return fmt.Sprintf(", as node %s of the cluster's %d", n.Name, len(l.Cluster))
	}
	return fmt.Sprintf(", as a node of the cluster's %d", len(l.Cluster))
}

// matchRule says how many components must match.
func matchRule(min int) string {
	if min <= 0 {
		return "all recorded components"
	}
	return fmt.Sprintf("at least %d components", min)
}
