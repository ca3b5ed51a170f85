// Package keyfile is the offline key file: a short-lived grant, signed by a
// site server, that lets a product on one host run with no network.
//
// A renew client on the host fetches a fresh key file from a site server
// every day; each is valid for 7 days (DefaultValidity), so a site server
// out of reach for a few days stops nothing. The product checks the file
// locally: the chain vendor key → license → the server key that license
// trusts → key file, the host's machine code, the dates and the product.
// It warns when fewer than 5 days remain (WarnWithin), because then the
// renewals have been failing for two days already. A clock set back before
// the key file's issue time, or before the latest time seen on this host
// (a small high-water-mark file beside the key file), invalidates it, so
// the 7 days cannot be stretched by turning the clock back.
//
// A key file is a text file like a license: a few readable lines (not
// signed, for reading only) and a compact JWS (EdDSA, header "kid" naming
// the server key, "typ" licensor-keyfile) between armor lines. The payload
// carries the vendor-signed license itself, so the file verifies with
// nothing but the vendor's public key.
//
// Signed.Verify checks a key file once; a Verifier is what a running
// product keeps: it answers from memory and re-reads the file only when it
// changes. Inspect (and Verifier.Inspect) run the same checks stage by
// stage, for 'licensor keyfile verify', 'licensor doctor' and a product's
// own diagnosis.
package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/block"
	"github.com/licensor/licensor/jws"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

// The key file's constants.
const (
	// Version is the payload version this package writes and reads.
	Version = 1
	// Issuer is the "iss" of every key file, as of every verdict.
	Issuer = "licensor-site"
	// JWSType is the "typ" header of a key file JWS.
	JWSType = "licensor-keyfile"
	// MaxFileSize bounds what is read from a key file.
	MaxFileSize = 64 << 10

	// DefaultValidity is how long a key file is valid after its issue
	// time unless the issuer says otherwise.
	DefaultValidity = 7 * 24 * time.Hour
	// WarnWithin is how close to expiry a key file starts warning.
	WarnWithin = 5 * 24 * time.Hour
	// DefaultTolerance is how far this host's clock may be behind the
	// server's (or behind the latest time seen here) before the key file
	// counts as rolled back; Signed.Verify uses it, a Verifier may set
	// its own.
	DefaultTolerance = 5 * time.Minute
)

const (
	beginArmor = "-----BEGIN LICENSOR KEY FILE-----"
	endArmor   = "-----END LICENSOR KEY FILE-----"
	lineWidth  = 64

	maxProducts   = license.MaxProducts
	maxComponents = 32
	// maxUnix bounds the times a key file may carry: the end of the year
	// 9999, as licenses allow. Later than 2262 they are clamped where
	// converted to nanoseconds.
	maxUnix = 253402300799
)

// Claims is the key file's signed payload.
type Claims struct {
	Version int    `json:"v"`
	Issuer  string `json:"iss"`
	// Machine is the machine code of the host the key file is for.
	Machine string `json:"mc"`
	// Components are the host's component hashes, so that a changed
	// component can be tolerated (MatchMin).
	Components map[string]string `json:"components,omitempty"`
	// MatchMin is how many of Components must still match; 0 means all.
	// An exact machine code always matches.
	MatchMin  int    `json:"match_min"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expires   int64  `json:"exp"`
	ID        string `json:"jti"`
	// License is the vendor-signed license, a compact JWS; its server key
	// is the one that must have signed the key file.
	License string `json:"lic"`
	// Products are what this host may run.
	Products []Product `json:"products"`
}

// Product is one product the host may run.
type Product struct {
	Subject   string   `json:"subject"`
	Functions []string `json:"functions"`
	// NotAfter (Unix seconds) caps the license's own date; 0 means the
	// license's date alone counts.
	NotAfter int64 `json:"not_after"`
}

// Product returns the product named subject.
func (c *Claims) Product(subject string) (Product, bool) {
	for _, p := range c.Products {
		if p.Subject == subject {
			return p, true
		}
	}
	return Product{}, false
}

// Subjects lists the products' names.
func (c *Claims) Subjects() []string {
	out := make([]string, len(c.Products))
	for i, p := range c.Products {
		out[i] = p.Subject
	}
	return out
}

// Times returns the issue, not-before and expiry times.
func (c *Claims) Times() (issued, notBefore, expires time.Time) {
	return time.Unix(c.IssuedAt, 0).UTC(), time.Unix(c.NotBefore, 0).UTC(), time.Unix(c.Expires, 0).UTC()
}

func (c *Claims) clone() *Claims {
	d := *c
	if c.Components != nil {
		d.Components = make(map[string]string, len(c.Components))
		for k, v := range c.Components {
			d.Components[k] = v
		}
	}
	d.Products = make([]Product, len(c.Products))
	for i, p := range c.Products {
		p.Functions = slices.Clone(p.Functions)
		d.Products[i] = p
	}
	return &d
}

// validate checks the fields; the message is the caller's to wrap in its
// code.
func (c *Claims) validate() error {
	switch {
	case c.Version != Version:
		return fmt.Errorf("key file version %d; this licensor reads version %d (upgrade licensor)", c.Version, Version)
	case c.Issuer != Issuer:
		return fmt.Errorf("iss is %q, want %q", c.Issuer, Issuer)
	case !fingerprint.ValidCode(c.Machine):
		return fmt.Errorf("mc %q is not a 32-hex machine code", c.Machine)
	case len(c.Components) > maxComponents:
		return fmt.Errorf("%d components, at most %d", len(c.Components), maxComponents)
	case c.MatchMin < 0 || c.MatchMin > len(c.Components):
		return fmt.Errorf("match_min %d is out of range 0..%d", c.MatchMin, len(c.Components))
	case c.IssuedAt <= 0 || c.IssuedAt > maxUnix, c.NotBefore <= 0 || c.NotBefore > maxUnix, c.Expires <= 0 || c.Expires > maxUnix:
		return fmt.Errorf("iat, nbf and exp must be Unix times between 1970 and 9999")
	case c.Expires <= c.NotBefore || c.Expires <= c.IssuedAt:
		return fmt.Errorf("exp %d is not after nbf %d and iat %d", c.Expires, c.NotBefore, c.IssuedAt)
	case c.ID == "" || license.ValidText(c.ID) != nil:
		return fmt.Errorf("jti %q is not an id", c.ID)
	case c.License == "":
		return fmt.Errorf("lic (the license) is empty")
	case len(c.Products) == 0 || len(c.Products) > maxProducts:
		return fmt.Errorf("%d products; a key file has 1 to %d", len(c.Products), maxProducts)
	}
	for name, h := range c.Components {
		if !fingerprint.ValidHash(h) || name == "" || len(name) > 32 {
			return fmt.Errorf("components[%q] is not a component hash", name)
		}
	}
	seen := make(map[string]bool, len(c.Products))
	for _, p := range c.Products {
		if !license.ValidName(p.Subject) {
			return fmt.Errorf("product name %q is not valid", p.Subject)
		}
		if seen[p.Subject] {
			return fmt.Errorf("product %q is listed twice", p.Subject)
		}
		seen[p.Subject] = true
		if len(p.Functions) > license.MaxFunctions {
			return fmt.Errorf("product %q has %d functions, at most %d", p.Subject, len(p.Functions), license.MaxFunctions)
		}
		for _, f := range p.Functions {
			if !license.ValidName(f) {
				return fmt.Errorf("product %q: function %q is not valid", p.Subject, f)
			}
		}
		if p.NotAfter < 0 || p.NotAfter > maxUnix {
			return fmt.Errorf("product %q: not_after %d is out of range", p.Subject, p.NotAfter)
		}
	}
	return nil
}

// NewID returns a random key file id.
func NewID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return "kf_" + hex.EncodeToString(b[:])
}

// Issue signs c with the site server's key and returns the key file. It
// fills in what the issuer owns when empty: the version, the issuer, the
// id, the not-before time (the issue time) and the expiry (DefaultValidity
// after the issue time). The license c carries must trust server's key,
// for any of its nodes (codes.ServerKeyMismatch otherwise); other faults are
// codes.InvalidArgument.
func Issue(server ed25519.PrivateKey, c *Claims) ([]byte, error) {
	if len(server) != ed25519.PrivateKeySize {
		return nil, codes.Errorf(codes.InvalidArgument, "the server key is not an Ed25519 private key")
	}
	if c == nil {
		return nil, codes.Errorf(codes.InvalidArgument, "no claims to sign")
	}
	if c.Version == 0 {
		c.Version = Version
	}
	if c.Issuer == "" {
		c.Issuer = Issuer
	}
	if c.ID == "" {
		c.ID = NewID()
	}
	if c.NotBefore == 0 {
		c.NotBefore = c.IssuedAt
	}
	if c.Expires == 0 && c.IssuedAt > 0 {
		c.Expires = c.IssuedAt + int64(DefaultValidity/time.Second)
	}
	for i := range c.Products {
		if c.Products[i].Functions == nil {
			c.Products[i].Functions = []string{}
		}
	}
	if err := c.validate(); err != nil {
		return nil, codes.Errorf(codes.InvalidArgument, "key file: %v", err)
	}
	ls, err := license.Parse([]byte(c.License))
	if err != nil {
		return nil, codes.Errorf(codes.InvalidArgument, "key file: the license: %s", codes.As(err).Msg)
	}
	c.License = ls.Compact // the bare JWS, without armor
	l, err := ls.Unverified()
	if err != nil {
		return nil, codes.Errorf(codes.InvalidArgument, "key file: the license: %s", codes.As(err).Msg)
	}
	kid := keys.ID(server.Public().(ed25519.PublicKey))
	if _, ok := l.NodeKey(kid); !ok {
		return nil, codes.Errorf(codes.ServerKeyMismatch, "the license %s trusts %s; this server's key is %s", l.ID, trustedKeys(l), kid)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	compact, err := jws.Sign(server, payload, kid, JWSType)
	if err != nil {
		return nil, err
	}
	return armor(c, l, compact), nil
}

func armor(c *Claims, l *license.License, compact string) []byte {
	var b bytes.Buffer
	issued, _, expires := c.Times()
	b.WriteString("licensor key file (the lines above BEGIN are for reading; only the signed block counts)\n")
	fmt.Fprintf(&b, "  id:       %s\n", c.ID)
	fmt.Fprintf(&b, "  machine:  %s\n", c.Machine)
	fmt.Fprintf(&b, "  issued:   %s UTC\n", license.FormatTime(issued))
	fmt.Fprintf(&b, "  expires:  %s UTC\n", license.FormatTime(expires))
	fmt.Fprintf(&b, "  license:  %s (%s)\n", l.ID, l.Holder)
	for _, p := range c.Products {
		fmt.Fprintf(&b, "  product:  %s\n", p.Subject)
	}
	b.WriteString(beginArmor + "\n")
	for s := compact; len(s) > 0; {
		n := min(lineWidth, len(s))
		b.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	b.WriteString(endArmor + "\n")
	return b.Bytes()
}

// Signed is a key file parsed but not yet verified.
type Signed struct {
	// Compact is the JWS, the part of the file that counts.
	Compact string
	// KeyID names the server key that signed it, as the header claims.
	KeyID string

	claims  Claims
	license *license.Signed
	obj     *jws.Object
}

// Parse decodes a key file: the armored form Issue writes, or a bare
// compact JWS. Every failure is codes.KeyFileTampered: a key file comes
// from a machine, so anything malformed was altered or cut short.
func Parse(data []byte) (*Signed, error) {
	bad := func(format string, args ...any) (*Signed, error) {
		return nil, codes.Errorf(codes.KeyFileTampered, format, args...)
	}
	if len(data) > MaxFileSize {
		return bad("the file is %d bytes, more than a key file can be (%d)", len(data), MaxFileSize)
	}
	compact, err := dearmor(data)
	if err != nil {
		return nil, err
	}
	obj, err := jws.Parse(compact)
	switch {
	case errors.Is(err, jws.ErrAlgorithm):
		return bad("the JWS header asks for another algorithm; key files are signed with EdDSA: %v", err)
	case err != nil:
		return bad("the signed block is not a key file: %v", err)
	case obj.Header.Type != JWSType:
		return bad("the signed block is a %q, not a licensor key file", obj.Header.Type)
	case obj.Header.KeyID == "":
		return bad("the JWS header names no signing key")
	}
	s := &Signed{Compact: compact, KeyID: obj.Header.KeyID, obj: obj}
	payload := obj.UnverifiedPayload()
	if s.claims, err = decodeClaims(payload); err != nil {
		return bad("the signed claims do not decode: %v", err)
	}
	if err := s.claims.validate(); err != nil {
		return bad("the signed claims are invalid: %v", err)
	}
	if s.license, err = license.ParseCompact(s.claims.License); err != nil {
		return bad("the license in the key file: %s", codes.As(err).Msg)
	}
	return s, nil
}

func dearmor(data []byte) (string, error) {
	compact, fault := block.Unwrap(data, beginArmor, endArmor)
	if fault != block.OK {
		return "", codes.Errorf(codes.KeyFileTampered, "%s", fault.Describe("key file", beginArmor, endArmor))
	}
	return compact, nil
}

// Unverified returns the claims without checking anything, for showing a
// key file that does not verify. Never trust them.
func (s *Signed) Unverified() *Claims { return s.claims.clone() }

// Verify checks the key file with no network and returns its claims:
//
//   - the chain: the license verifies with the vendor key (codes.WrongVendorKey
//     when another vendor signed it), and the key file with the server key
//     that license trusts (codes.KeyFileTampered otherwise);
//   - the machine: host is the key file's machine, exactly or with MatchMin
//     of its components (codes.KeyFileMachine, naming the changed ones);
//   - the clock: codes.ClockRollback when now is before the issue time by
//     more than DefaultTolerance;
//   - the dates: codes.KeyFileNotYetValid before nbf (with the same
//     tolerance), codes.KeyFileExpired after exp;
//   - the product, unless it is "": in the key file and in the license
//     (codes.ProductUnlicensed), within the license's dates and the key
//     file's cap (codes.NotYetValid, codes.Expired).
//
// The checks run in that order and the first failure is returned. Inspect
// runs the same checks and tells each stage's outcome; it also reads the
// host's high-water mark, which Verify does not know.
func (s *Signed) Verify(vendor ed25519.PublicKey, host *fingerprint.Fingerprint, product string, now time.Time) (*Claims, error) {
	vf, err := s.verifyStatic(vendor, host, product)
	if err != nil {
		return nil, err
	}
	if err := vf.check(timeNanos(now), int64(DefaultTolerance), mark{at: noMark}); err != nil {
		return nil, err
	}
	return vf.claims.clone(), nil
}

// verified is a key file whose chain and machine have been checked, with
// what the time checks need.
type verified struct {
	claims  *Claims
	license *license.License
	product string
	grant   grant // the product's, when product is not ""
}

// verifyStatic checks what does not depend on the time: the chain, the
// machine and whether the product is granted at all.
func (s *Signed) verifyStatic(vendor ed25519.PublicKey, host *fingerprint.Fingerprint, product string) (*verified, error) {
	l, err := s.verifyChain(vendor)
	if err != nil {
		return nil, err
	}
	c := &s.claims
	if err := checkMachine(c, host); err != nil {
		return nil, err
	}
	vf := &verified{claims: c, license: l, product: product}
	if product != "" {
		vf.grant = grantOf(c, l, product)
	}
	return vf, nil
}

// verifyChain checks the chain: vendor key → license → server key → key
// file.
func (s *Signed) verifyChain(vendor ed25519.PublicKey) (*license.License, error) {
	l, err := s.license.Verify(vendor)
	switch c := codes.Of(err); c {
	case codes.OK:
	case codes.WrongVendorKey:
		return nil, codes.Errorf(c, "the license in the key file: %s", codes.As(err).Msg)
	default:
		return nil, codes.Errorf(codes.KeyFileTampered, "the license in the key file does not verify: %s", codes.As(err).Msg)
	}
	// Any node the license names may have signed the key file: a
	// cluster's hosts renew from whichever node answers.
	server, ok := l.NodeKey(s.KeyID)
	if !ok {
		return nil, codes.Errorf(codes.KeyFileTampered, "the key file is signed by server key %s; its license %s trusts %s", s.KeyID, l.ID, trustedKeys(l))
	}
	if _, err := s.obj.Verify(server); err != nil {
		return nil, codes.Errorf(codes.KeyFileTampered, "the signature by server key %s does not verify: the key file was altered after signing", s.KeyID)
	}
	return l, nil
}

// trustedKeys names the server keys l trusts: "server key K" for a
// single-server license, "the server keys of its nodes: K1, K2" for a
// cluster license.
func trustedKeys(l *license.License) string {
	kids := l.ServerKeyIDs()
	if !l.IsCluster() {
		return "server key " + kids[0]
	}
	return "the server keys of its nodes: " + strings.Join(kids, ", ")
}

// grant is what the key file and its license say of one product.
type grant struct {
	kf  Product
	lic license.Product
	// err says why the product may not run whatever the time
	// (codes.ProductUnlicensed).
	err error
}

func grantOf(c *Claims, l *license.License, product string) grant {
	kp, inFile := c.Product(product)
	lp, inLicense := l.Product(product)
	g := grant{kf: kp, lic: lp}
	switch {
	case !inFile:
		g.err = codes.Errorf(codes.ProductUnlicensed, "product %q is not in the key file %s (it grants: %s)", product, c.ID, strings.Join(c.Subjects(), ", "))
	case !inLicense:
		g.err = codes.Errorf(codes.ProductUnlicensed, "product %q is in the key file %s but not in its license %s (licensed: %s)", product, c.ID, l.ID, strings.Join(l.Subjects(), ", "))
	default:
		for _, f := range kp.Functions {
			if !slices.Contains(lp.Functions, f) {
				g.err = codes.Errorf(codes.ProductUnlicensed, "the key file grants function %q of product %q, which the license %s does not", f, product, l.ID)
				break
			}
		}
	}
	return g
}

// check reports whether the product may run at now (nanoseconds).
func (g *grant) check(c *Claims, product string, now int64) error {
	if g.err != nil {
		return g.err
	}
	if err := g.lic.Check(time.Unix(0, now)); err != nil {
		return err
	}
	if na := g.kf.NotAfter; na > 0 && now > secNanos(na) {
		return codes.Errorf(codes.Expired, "product %q may run on this host until %s UTC, the key file %s says; it is %s UTC now", product, nanoTime(secNanos(na)), c.ID, nanoTime(now))
	}
	return nil
}

// checkClock reports whether the clock was set back: now before the
// issue time, or before the high-water mark seen.at (or noMark), by more
// than tol. All are nanoseconds.
func (c *Claims) checkClock(now, tol int64, seen mark) error {
	switch iat := secNanos(c.IssuedAt); {
	case now < iat-tol:
		return codes.Errorf(codes.ClockRollback, "this host's clock shows %s UTC, before the key file's issue time %s UTC (tolerance %s): the clock was set back", nanoTime(now), nanoTime(iat), time.Duration(tol))
	case now < seen.at-tol:
		return codes.Errorf(codes.ClockRollback, "this host's clock shows %s UTC; licensor already saw %s UTC here (tolerance %s, mark kept in %s): the clock was set back", nanoTime(now), nanoTime(seen.at), time.Duration(tol), seen.path)
	}
	return nil
}

// checkDates reports whether now is within the key file's dates.
func (c *Claims) checkDates(now, tol int64) error {
	switch {
	case now < secNanos(c.NotBefore)-tol:
		return codes.Errorf(codes.KeyFileNotYetValid, "the key file %s is valid from %s UTC; it is %s UTC now", c.ID, nanoTime(secNanos(c.NotBefore)), nanoTime(now))
	case now > secNanos(c.Expires):
		return codes.Errorf(codes.KeyFileExpired, "the key file %s expired at %s UTC; it is %s UTC now", c.ID, nanoTime(secNanos(c.Expires)), nanoTime(now))
	}
	return nil
}

// check runs the time checks and the product's, in Verify's order; now
// and tol are nanoseconds.
func (vf *verified) check(now, tol int64, seen mark) error {
	c := vf.claims
	if err := c.checkClock(now, tol, seen); err != nil {
		return err
	}
	if err := c.checkDates(now, tol); err != nil {
		return err
	}
	if vf.product == "" {
		return nil
	}
	return vf.grant.check(c, vf.product, now)
}

// nanoTime formats Unix nanoseconds as licensor shows times.
func nanoTime(n int64) string { return license.FormatTime(time.Unix(0, n)) }

// window returns the span of times [from, until] (nanoseconds) at which
// check passes, for the Verifier's warm path. An empty span (from > until)
// means check fails whatever the time.
func (vf *verified) window(tol, seen int64) (from, until int64) {
	c := vf.claims
	from = max(secNanos(c.IssuedAt)-tol, seen-tol, secNanos(c.NotBefore)-tol)
	until = secNanos(c.Expires)
	if vf.product == "" {
		return from, until
	}
	if vf.grant.err != nil {
		return math.MaxInt64, math.MinInt64
	}
	from = max(from, timeNanos(vf.grant.lic.NotBefore))
	until = min(until, timeNanos(vf.grant.lic.NotAfter))
	if na := vf.grant.kf.NotAfter; na > 0 {
		until = min(until, secNanos(na))
	}
	return from, until
}

// noMark is the high-water mark when none is known.
const noMark = 0

// secNanos converts Unix seconds to nanoseconds, clamped where that
// overflows.
func secNanos(s int64) int64 {
	switch {
	case s >= math.MaxInt64/int64(time.Second):
		return math.MaxInt64
	case s <= math.MinInt64/int64(time.Second):
		return math.MinInt64
	}
	return s * int64(time.Second)
}

// timeNanos converts t to Unix nanoseconds, clamped where that overflows.
func timeNanos(t time.Time) int64 {
	switch {
	case t.Unix() >= math.MaxInt64/int64(time.Second):
		return math.MaxInt64
	case t.Unix() <= math.MinInt64/int64(time.Second):
		return math.MinInt64
	}
	return t.UnixNano()
}

// checkMachine reports whether host is the key file's machine.
func checkMachine(c *Claims, host *fingerprint.Fingerprint) error {
	m := fingerprint.Machine{Code: c.Machine, Components: c.Components}
	if fingerprint.Match(m, c.MatchMin, host) == nil {
		return nil
	}
	if host == nil {
		return codes.Errorf(codes.KeyFileMachine, "no fingerprint of this host to compare with the key file's machine %s", c.Machine)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the key file is bound to machine %s; this host is %s", c.Machine, host.Code)
	if len(c.Components) == 0 {
		b.WriteString(", and the key file records no components to compare")
		return codes.Errorf(codes.KeyFileMachine, "%s", b.String())
	}
	have := host.Hashes()
	var changed, missing []string
	matched := 0
	for _, name := range componentNames(c.Components) {
		switch h, ok := have[name]; {
		case !ok:
			missing = append(missing, name)
		case h == c.Components[name]:
			matched++
		default:
			changed = append(changed, name)
		}
	}
	if len(changed) > 0 {
		fmt.Fprintf(&b, "; changed: %s", strings.Join(changed, ", "))
	}
	if len(missing) > 0 {
		fmt.Fprintf(&b, "; missing on this host: %s", strings.Join(missing, ", "))
	}
	need := c.MatchMin
	if need <= 0 {
		need = len(c.Components)
	}
	fmt.Fprintf(&b, "; %d of %d components match, the key file needs %d", matched, len(c.Components), need)
	return codes.Errorf(codes.KeyFileMachine, "%s", b.String())
}

// componentNames returns the names in fingerprint.Order, then any others
// sorted.
func componentNames(m map[string]string) []string {
	var known, other []string
	for _, name := range fingerprint.Order {
		if _, ok := m[name]; ok {
			known = append(known, name)
		}
	}
	for name := range m {
		if !slices.Contains(fingerprint.Order, name) {
			other = append(other, name)
		}
	}
	slices.Sort(other)
	return append(known, other...)
}
