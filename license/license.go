// Package license is the vendor-signed license document: who holds it, the
// site server(s) it is bound to — each machine and the server key trusted
// on it — and per product the features, instance limit, QPS and validity
// dates.
//
// A single-server license names its machine(s) and one server key; a
// cluster license names its nodes, each with its own machine and key, so
// one node's key can be replaced without the others. Nodes gives both
// forms as one list.
//
// A license travels as a text file, safe to email: a few human-readable
// lines (not signed, for reading only) and a compact JWS (EdDSA, signed by
// the vendor key, header "kid" naming that key) between armor lines. Any
// JOSE implementation can verify the JWS.
package license

import (
	"crypto/ed25519"
	"fmt"
	"slices"
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
	MaxNodes        = 16
	MaxInstanceSize = 1_000_000
	MaxQPS          = 10_000_000
	maxTextLen      = 128
)

// License is the signed document.
type License struct {
	Info       string    `json:"info"` // always "license"
	Version    int       `json:"version"`
	ID         string    `json:"id"`
	Holder     string    `json:"holder"`
	Issuer     string    `json:"issuer"`
	Issued     time.Time `json:"issued"`
	FingerType int       `json:"fingerType"`
	// Machines and ServerKey bind a single-server license: the server
	// runs on one of Machines and signs with ServerKey. A cluster license
	// leaves both empty and names its Cluster instead.
	Machines []fingerprint.Machine `json:"machines,omitempty"`
	// MatchMin is how many of a machine's recorded components must match
	// this host; 0 means all of them. An exact machine code always matches.
	MatchMin  int      `json:"matchMin"`
	ServerKey keys.JWK `json:"serverKey,omitzero"`
	// Cluster names the nodes of a cluster license: site servers sharing
	// one pool, each on its own machine (or port) with its own key.
	Cluster  []Node    `json:"nodes,omitempty"`
	Products []Product `json:"productLicenses"`
	// KeyFile restricts the offline key files the site server issues;
	// nil leaves the choice to the server (any host with a renew
	// certificate, for the server's keyfile_validity).
	KeyFile *KeyFilePolicy `json:"keyFile,omitempty"`
	// Bind is the binding in force (see Binding): empty in a license
	// that names no token, which binds the machine alone.
	Bind string `json:"binding,omitempty"`
	// Token is the hardware token the site server must prove it holds.
	Token *TokenBinding `json:"token,omitempty"`
}

// Node is one site server a license binds: the machine it runs on and
// the server key it signs with.
type Node struct {
	// Name is the node's host name as its activation request gave it,
	// for operators to read; it binds nothing.
	Name string `json:"name,omitempty"`
	fingerprint.Machine
	ServerKey keys.JWK `json:"serverKey"`
}

// KeyID is the id of the node's server key: its "kid", or its thumbprint
// when the key names none ("" for a key that does not decode).
func (n *Node) KeyID() string {
	if n.ServerKey.Kid != "" {
		return n.ServerKey.Kid
	}
	pub, err := n.ServerKey.PublicKey()
	if err != nil {
		return ""
	}
	return keys.ID(pub)
}

// Label names the node for messages: its machine code, and its name
// when it has one.
func (n *Node) Label() string {
	if n.Name != "" {
		return n.Code + " (" + n.Name + ")"
	}
	return n.Code
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

// ServerPublicKey returns the site server key a single-server license
// trusts; a cluster license trusts one per node (NodeKey).
func (l *License) ServerPublicKey() (ed25519.PublicKey, error) {
	if l.IsCluster() {
		return nil, codes.Errorf(codes.KeyMalformed, "license %s is a cluster license: it names a server key per node", l.ID)
	}
	return l.ServerKey.PublicKey()
}

// IsCluster reports whether the license names its nodes one by one.
func (l *License) IsCluster() bool { return len(l.Cluster) > 0 }

// Nodes lists the site servers the license binds, each machine with the
// server key trusted on it: a cluster license's nodes, or each machine of
// a single-server license with its one server key. Callers need not tell
// the two forms apart.
func (l *License) Nodes() []Node {
	if l.IsCluster() {
		return l.Cluster
	}
	out := make([]Node, len(l.Machines))
	for i, m := range l.Machines {
		out[i] = Node{Machine: m, ServerKey: l.ServerKey}
	}
	return out
}

// NodeKey returns the server key with id kid when the license trusts it
// for any of its nodes.
func (l *License) NodeKey(kid string) (ed25519.PublicKey, bool) {
	if kid == "" {
		return nil, false
	}
	if !l.IsCluster() {
		n := Node{ServerKey: l.ServerKey}
		if n.KeyID() != kid {
			return nil, false
		}
		pub, err := l.ServerKey.PublicKey()
		return pub, err == nil
	}
	for i := range l.Cluster {
		if n := &l.Cluster[i]; n.KeyID() == kid {
			pub, err := n.ServerKey.PublicKey()
			return pub, err == nil
		}
	}
	return nil, false
}

// SignsFor reports whether the license names a node on machine code
// that signs with the key kid: a verdict signed by kid may say it comes
// from that machine.
func (l *License) SignsFor(kid, code string) bool {
	if !l.IsCluster() {
		n := Node{ServerKey: l.ServerKey}
		return n.KeyID() == kid && slices.ContainsFunc(l.Machines, func(m fingerprint.Machine) bool { return m.Code == code })
	}
	return slices.ContainsFunc(l.Cluster, func(n Node) bool { return n.Code == code && n.KeyID() == kid })
}

// ServerKeyIDs lists the ids of the server keys the license trusts, one
// per node, in the license's order, without repeats.
func (l *License) ServerKeyIDs() []string {
	if !l.IsCluster() {
		n := Node{ServerKey: l.ServerKey}
		return []string{n.KeyID()}
	}
	out := make([]string, 0, len(l.Cluster))
	for i := range l.Cluster {
		if kid := l.Cluster[i].KeyID(); !slices.Contains(out, kid) {
			out = append(out, kid)
		}
	}
	return out
}

// MachineCodes lists the machine codes the license binds, in its order,
// without repeats.
func (l *License) MachineCodes() []string {
	var out []string
	for _, n := range l.Nodes() {
		if !slices.Contains(out, n.Code) {
			out = append(out, n.Code)
		}
	}
	return out
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
// (codes.Fingerprint otherwise, naming the changed components; for a
// cluster license, also every node's machine code).
func (l *License) CheckMachine(host *fingerprint.Fingerprint) error {
	if !l.IsCluster() {
		return fingerprint.MatchAny(l.Machines, l.MatchMin, host)
	}
	machines := make([]fingerprint.Machine, len(l.Cluster))
	for i, n := range l.Cluster {
		machines[i] = n.Machine
	}
	err := fingerprint.MatchAny(machines, l.MatchMin, host)
	if err == nil || host == nil {
		return err
	}
	e := codes.As(err)
	return codes.Errorf(codes.Fingerprint, "this host %s is none of the nodes of the cluster license, on machines %s; closest: %s",
		host.Code, strings.Join(l.MachineCodes(), ", "), e.Msg).WithFix(e.FixText())
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
	maxComponents, err := l.validateServers()
	if err != nil {
		return err
	}
	if l.MatchMin < 0 || l.MatchMin > maxComponents {
		return bad("matchMin %d is out of range 0..%d", l.MatchMin, maxComponents)
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
	return l.validateToken()
}

// validateServers checks the servers the license binds, in either form,
// and returns the most components a machine records.
func (l *License) validateServers() (maxComponents int, err error) {
	bad := func(format string, args ...any) (int, error) {
		return 0, codes.Errorf(codes.LicenseMalformed, format, args...)
	}
	if !l.IsCluster() {
		if len(l.Machines) == 0 || len(l.Machines) > MaxMachines {
			return bad("the license names %d machines; it must name 1 to %d", len(l.Machines), MaxMachines)
		}
		for i, m := range l.Machines {
			if err := checkMachine(fmt.Sprintf("machines[%d]", i), m); err != nil {
				return 0, err
			}
			maxComponents = max(maxComponents, len(m.Components))
		}
		if _, err := l.ServerKey.PublicKey(); err != nil {
			return bad("serverKey: %s", codes.As(err).Msg)
		}
		return maxComponents, nil
	}
	switch {
	case len(l.Machines) > 0 || l.ServerKey != (keys.JWK{}):
		return bad("the license names nodes and also machines or a serverKey; a cluster license names its servers in nodes alone")
	case len(l.Cluster) > MaxNodes:
		return bad("the license names %d nodes; a cluster license names at most %d", len(l.Cluster), MaxNodes)
	}
	seen := map[string]int{}
	for i := range l.Cluster {
		n := &l.Cluster[i]
		field := fmt.Sprintf("nodes[%d]", i)
		if n.Name != "" {
			if err := ValidText(n.Name); err != nil {
				return bad("%s.name: %v", field, err)
			}
		}
		if err := checkMachine(field, n.Machine); err != nil {
			return 0, err
		}
		maxComponents = max(maxComponents, len(n.Components))
		if n.ServerKey == (keys.JWK{}) {
			return bad("%s (machine %s) has no serverKey: every node names the key it signs with", field, n.Label())
		}
		if _, err := n.ServerKey.PublicKey(); err != nil {
			return bad("%s.serverKey: %s", field, codes.As(err).Msg)
		}
		kid := n.KeyID()
		if j, dup := seen[kid]; dup {
			return bad("%s has the server key %s of nodes[%d]: every node signs with its own key", field, kid, j)
		}
		seen[kid] = i
	}
	return maxComponents, nil
}

// checkMachine checks one bound machine; field names it in messages.
func checkMachine(field string, m fingerprint.Machine) error {
	if !fingerprint.ValidCode(m.Code) {
		return codes.Errorf(codes.LicenseMalformed, "%s.code %q is not a 32-hex machine code", field, m.Code)
	}
	for name, h := range m.Components {
		if !fingerprint.ValidHash(h) || !validComponent(name) {
			return codes.Errorf(codes.LicenseMalformed, "%s.components[%q] is not a component hash", field, name)
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
