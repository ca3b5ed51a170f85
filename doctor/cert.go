package doctor

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/readfile"
	"github.com/licensor/licensor/internal/transport"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
)

// DefaultWarnWithin is how close to its expiry a certificate draws a
// warning when ChainOptions.WarnWithin is zero.
const DefaultWarnWithin = 30 * 24 * time.Hour

// ChainOptions say what a certificate chain is checked for.
type ChainOptions struct {
	// Roots is the CA file the client (or the server, for a client chain)
	// trusts; nil leaves the chain unverified (the "chain" check skips).
	Roots *x509.CertPool
	// Host is the host name or IP address the server is reached by; ""
	// leaves it unchecked.
	Host string
	// Client checks a client certificate (clientAuth, codes.ClientCert)
	// rather than a server one (serverAuth, codes.ServerCert).
	Client bool
	// Now is the time the dates are checked at; zero means time.Now().
	Now time.Time
	// WarnWithin is how close to expiry warns (DefaultWarnWithin when 0).
	WarnWithin time.Duration
}

// ChainReport is what ExplainChain found.
type ChainReport struct {
	Certificates []pki.CertInfo `json:"certificates"` // in the order given, leaf first
	Checks       []Result       `json:"checks"`
	Valid        bool           `json:"valid"` // no check failed
}

// ExplainChain checks a certificate chain, leaf first, as a TLS peer
// would, and says for each way it can be refused what it found and what to
// do: the checks "order", "dates", "self-signed", "chain", "host",
// "key-usage" and, for a client chain, "role". Failures carry
// codes.ServerCert, or codes.ClientCert when opts.Client is set.
func ExplainChain(chain []*x509.Certificate, opts ChainOptions) *ChainReport {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.WarnWithin <= 0 {
		opts.WarnWithin = DefaultWarnWithin
	}
	x := &chainExplainer{chain: chain, o: opts, code: codes.ServerCert, what: "server certificate", usage: x509.ExtKeyUsageServerAuth}
	if opts.Client {
		x.code, x.what, x.usage = codes.ClientCert, "client certificate", x509.ExtKeyUsageClientAuth
	}
	rep := &ChainReport{Certificates: []pki.CertInfo{}, Valid: true}
	for _, c := range chain {
		rep.Certificates = append(rep.Certificates, pki.Describe(c, opts.Now))
	}
	if len(chain) == 0 {
		rep.Checks = []Result{x.fail("order", "no certificate given", "Give the "+x.what+" file (PEM, leaf first).")}
	} else {
		rep.Checks = []Result{x.order(), x.dates(), x.selfSigned(), x.verify(), x.host(), x.keyUsage()}
		if opts.Client {
			rep.Checks = append(rep.Checks, x.role())
		}
	}
	for _, r := range rep.Checks {
		if r.Status == Fail {
			rep.Valid = false
		}
	}
	return rep
}

// chainExplainer holds what every check of one chain needs.
type chainExplainer struct {
	chain []*x509.Certificate
	o     ChainOptions
	code  codes.Code
	what  string           // "server certificate"
	usage x509.ExtKeyUsage // what the leaf must allow
}

func (x *chainExplainer) fail(name, found, fix string, details ...string) Result {
	return Result{Name: name, Status: Fail, Code: int(x.code), Found: found, Details: details, Fix: fix}
}

// label names the i-th certificate (from 0) for a person: `certificate 1 "name"`.
func (x *chainExplainer) label(i int) string {
	return fmt.Sprintf("certificate %d %q", i+1, certName(x.chain[i]))
}

// reissue is the fix for a leaf that must be replaced.
func (x *chainExplainer) reissue() string {
	if x.o.Client {
		return "Issue a new client certificate from the site CA the server trusts: 'licensor pki client --dir SITE_DIR --name NAME --role instance' (or the role the client needs)."
	}
	hosts := "NAME"
	if x.o.Host != "" {
		hosts = x.o.Host
	}
	return fmt.Sprintf("Issue a new server certificate from the site CA: 'licensor pki server --dir SITE_DIR --hosts %s', and restart the server with it.", hosts)
}

// order checks that each certificate is issued by the next.
func (x *chainExplainer) order() Result {
	const name = "order"
	n := len(x.chain)
	if n == 1 {
		return pass(name, "a single certificate: nothing to order")
	}
	var problems, details []string
	for i := 0; i < n-1; i++ {
		c, next := x.chain[i], x.chain[i+1]
		if certIssuedBy(c, next) {
			details = append(details, fmt.Sprintf("%s is issued by %s", x.label(i), x.label(i+1)))
			continue
		}
		switch j := x.issuerIndex(i); {
		case certIssuedBy(next, c):
			problems = append(problems, fmt.Sprintf("%s is issued by %s, so it must come before it", x.label(i+1), x.label(i)))
		case j >= 0:
			problems = append(problems, fmt.Sprintf("%s is issued by %s, which must come right after it", x.label(i), x.label(j)))
		case certSelfSigned(c):
			problems = append(problems, fmt.Sprintf("%s is self-signed (a root), yet %s follows it", x.label(i), x.label(i+1)))
		case bytes.Equal(c.RawIssuer, next.RawSubject):
			problems = append(problems, fmt.Sprintf("%s names %q as its issuer, but %s's key did not sign it", x.label(i), certName(next), x.label(i+1)))
		default:
			problems = append(problems, fmt.Sprintf("%s is issued by %q, not by the certificate after it, %s", x.label(i), c.Issuer.CommonName, x.label(i+1)))
		}
	}
	if len(problems) == 0 {
		r := pass(name, "each certificate is issued by the next")
		r.Details = details
		return r
	}
	for j := 1; j < n; j++ {
		if certIssuedBy(x.chain[j], x.chain[0]) {
			details = append(details, fmt.Sprintf("%s issues %s, so it is not the leaf: the other checks take it for the leaf and may fail for that reason", x.label(0), x.label(j)))
			break
		}
	}
	file := "server.crt"
	if x.o.Client {
		file = "NAME.crt"
	}
	return x.fail(name, "out of order: "+strings.Join(problems, "; "),
		fmt.Sprintf("Put the leaf first and then each issuer in turn ('cat %s intermediate.crt > chain.crt'); the root CA need not be sent, and unrelated certificates must go.", file),
		details...)
}

// issuerIndex returns the index of the certificate of the chain, other
// than the i-th itself, that issued the i-th; -1 when none did.
func (x *chainExplainer) issuerIndex(i int) int {
	for j, p := range x.chain {
		if j != i && certIssuedBy(x.chain[i], p) {
			return j
		}
	}
	return -1
}

// dates checks every certificate's validity period against Now.
func (x *chainExplainer) dates() Result {
	const name = "dates"
	now := x.o.Now
	var fails, warns, details, fixes, warnFixes []string
	addFix := func(to *[]string, f string) {
		if !slices.Contains(*to, f) {
			*to = append(*to, f)
		}
	}
	renewCA := func(c *x509.Certificate, state string) string {
		return fmt.Sprintf("The CA %q %s: create a new site CA ('licensor pki init --dir NEW_SITE_DIR'), issue the server and client certificates from it, and give every client and the server the new ca.crt.", certName(c), state)
	}
	first := 0
	for i, c := range x.chain {
		if c.NotAfter.Before(x.chain[first].NotAfter) {
			first = i
		}
		state := license.DaysLeft(c.NotAfter.Sub(now)) + " left"
		switch {
		case now.After(c.NotAfter):
			state = "EXPIRED " + license.DaysLeft(now.Sub(c.NotAfter)) + " ago"
			fails = append(fails, fmt.Sprintf("%s expired on %s (%s ago)", x.label(i), certDate(c.NotAfter), license.DaysLeft(now.Sub(c.NotAfter))))
			if c.IsCA {
				addFix(&fixes, renewCA(c, "expired"))
			} else {
				addFix(&fixes, x.reissue())
			}
		case now.Before(c.NotBefore):
			state = "NOT YET VALID for " + license.DaysLeft(c.NotBefore.Sub(now))
			fails = append(fails, fmt.Sprintf("%s is not valid until %s (%s from now)", x.label(i), certDate(c.NotBefore), license.DaysLeft(c.NotBefore.Sub(now))))
			addFix(&fixes, "Check this host's clock and the clock of the host that issued the certificate (NTP); if both are right, wait or "+lowerFirst(x.reissue()))
		case c.NotAfter.Sub(now) < x.o.WarnWithin:
			warns = append(warns, fmt.Sprintf("%s expires on %s (%s left)", x.label(i), certDate(c.NotAfter), license.DaysLeft(c.NotAfter.Sub(now))))
			if c.IsCA {
				addFix(&warnFixes, renewCA(c, "expires soon"))
			} else {
				addFix(&warnFixes, "Replace it before it expires: "+lowerFirst(x.reissue()))
			}
		}
		details = append(details, fmt.Sprintf("%s: valid %s to %s (%s)", x.label(i), certDate(c.NotBefore), certDate(c.NotAfter), state))
	}
	switch {
	case len(fails) > 0:
		return x.fail(name, strings.Join(append(fails, warns...), "; "), strings.Join(fixes, " "), details...)
	case len(warns) > 0:
		r := warn(name, x.code, strings.Join(warns, "; "), strings.Join(warnFixes, " "))
		r.Details = details
		return r
	}
	c := x.chain[first]
	r := pass(name, "every certificate is within its dates; the first to expire is %s, on %s (%s left)", x.label(first), certDate(c.NotAfter), license.DaysLeft(c.NotAfter.Sub(now)))
	r.Details = details
	return r
}

// selfSigned fails a leaf that issued itself: no site CA vouches for it.
func (x *chainExplainer) selfSigned() Result {
	const name = "self-signed"
	leaf := x.chain[0]
	if !certSelfSigned(leaf) {
		return pass(name, "the leaf %q is issued by %q", certName(leaf), leaf.Issuer.CommonName)
	}
	var details []string
	if leaf.IsCA {
		want := "server.crt"
		if x.o.Client {
			want = "clients/NAME.crt"
		}
		details = append(details, fmt.Sprintf("it is a CA certificate: this looks like the site CA (ca.crt) itself, not a %s (%s)", x.what, want))
	}
	return x.fail(name, fmt.Sprintf("the leaf %q is self-signed, not issued by the site CA: a peer cannot trust it unless it is the CA itself", certName(leaf)),
		x.reissue()+" Give the peer the site CA file (ca.crt).", details...)
}

// verify checks that the chain leads to a root in the CA file, as the
// TLS stack checks it.
func (x *chainExplainer) verify() Result {
	const name = "chain"
	if x.o.Roots == nil {
		return skip(name, "no CA file given: the chain was not verified against one")
	}
	leaf := x.chain[0]
	inter := x509.NewCertPool()
	for _, c := range x.chain[1:] {
		inter.AddCert(c)
	}
	vo := x509.VerifyOptions{Roots: x.o.Roots, Intermediates: inter, CurrentTime: x.o.Now, KeyUsages: []x509.ExtKeyUsage{x.usage}}
	chains, err := leaf.Verify(vo)
	if err == nil {
		path := chains[0]
		var names []string
		for _, c := range path {
			names = append(names, fmt.Sprintf("%q", certName(c)))
		}
		r := pass(name, "verifies to %q, which the CA file holds", certName(path[len(path)-1]))
		r.Details = []string{"path: " + strings.Join(names, " ← issued by ")}
		return r
	}
	said := "Go's verifier says: " + err.Error()
	var ua x509.UnknownAuthorityError
	var ia x509.InsecureAlgorithmError
	var ci x509.CertificateInvalidError
	if errors.As(err, &ua) || errors.As(err, &ia) {
		// Go says "unknown authority" also for an issuer it found but may
		// not take: look beneath it before blaming a missing one.
		if faults := transport.ChainFaults(x.chain, x.o.Roots); len(faults) > 0 {
			return x.chainFaults(faults, said)
		}
	}
	switch {
	case errors.As(err, &ua):
		return x.unknownAuthority(said)
	case errors.As(err, &ci):
		switch ci.Reason {
		case x509.Expired:
			return x.fail(name, fmt.Sprintf("does not verify at %s: %q is outside its dates (see dates)", certDate(x.o.Now), certName(ci.Cert)), x.reissue(), said)
		case x509.IncompatibleUsage:
			vo.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
			if chains, err := leaf.Verify(vo); err == nil {
				root := chains[0][len(chains[0])-1]
				return x.fail(name, fmt.Sprintf("leads to %q in the CA file, but not for %s (see key-usage)", certName(root), ekuLabel(x.usage)), x.reissue(), said)
			}
		case x509.NotAuthorizedToSign:
			return x.fail(name, fmt.Sprintf("%q signed a certificate of the chain but is not a CA certificate", certName(ci.Cert)),
				"Only the site CA may issue certificates: "+lowerFirst(x.reissue()), said)
		case x509.TooManyIntermediates:
			return x.fail(name, fmt.Sprintf("%q allows fewer intermediates under it than the chain has (its path length constraint)", certName(ci.Cert)),
				"Issue the leaf directly from the CA: a licensor site CA signs leaves only. "+x.reissue(), said)
		}
	}
	return x.fail(name, "does not verify: "+err.Error(), x.reissue())
}

// chainFaults explains a chain whose names lead to the CA file but which
// Go's verifier refuses all the same, for faults.
func (x *chainExplainer) chainFaults(faults []transport.ChainFault, said string) Result {
	var found, fixes []string
	for _, f := range faults {
		var s string
		switch f.Kind {
		case transport.IssuerNotCA:
			s = fmt.Sprintf("issuer not a CA: %s is issued by %s, which is not allowed to sign certificates: %s", x.label(f.Index), x.label(f.IssuerIndex), f.Why)
		default:
			s = "insecure signature: " + x.label(f.Index) + " " + f.Reason()
		}
		found = append(found, s)
		if fix := f.Fix(x.reissue()); !slices.Contains(fixes, fix) {
			fixes = append(fixes, fix)
		}
	}
	return x.fail("chain", strings.Join(found, "; "), strings.Join(fixes, " "), said)
}

// unknownAuthority explains a chain that leads to no root of the CA file:
// an issuer is missing, or the chain belongs to another CA.
func (x *chainExplainer) unknownAuthority(said string) Result {
	const name = "chain"
	i := 0
	for steps := 0; steps < len(x.chain); steps++ {
		j := x.issuerIndex(i)
		if j < 0 {
			break
		}
		i = j
	}
	cur := x.chain[i]
	held := certPoolNames(x.o.Roots)
	unknownFix := "Give the client the CA file of the site whose CA issued the server certificate (the ca.crt beside its server.crt), or " + lowerFirst(x.reissue())
	if x.o.Client {
		unknownFix = "Issue the client certificate from the CA the server trusts: 'licensor pki client --dir SITE_DIR --name NAME --role instance', with SITE_DIR the server's site directory; or give the server the CA that issued it."
	}
	switch {
	case certSelfSigned(cur):
		kind := "root"
		if i == 0 {
			kind = "self-signed leaf"
		}
		return x.fail(name, fmt.Sprintf("unknown CA: the chain ends in the %s %q, which the CA file does not hold; the CA file holds %s", kind, certName(cur), held), unknownFix, said)
	case certPoolHasSubject(x.o.Roots, cur.RawIssuer):
		return x.fail(name, fmt.Sprintf("unknown CA: %s is issued by a CA named %q, and the CA file holds a CA of that name but with another key (was the CA made again?); the CA file holds %s", x.label(i), cur.Issuer.CommonName, held), unknownFix, said)
	case strings.HasPrefix(cur.Issuer.CommonName, "licensor site CA "):
		// A licensor site CA is always a root: it is another site's.
		return x.fail(name, fmt.Sprintf("unknown CA: %s is issued by %q, another site's CA; the CA file holds %s", x.label(i), cur.Issuer.CommonName, held), unknownFix, said)
	}
	fix := fmt.Sprintf("Send the intermediate with the leaf: append the certificate of %q to the %s file, leaf first ('cat leaf.crt intermediate.crt > chain.crt'), or add it to the CA file.", cur.Issuer.CommonName, x.what)
	return x.fail(name, fmt.Sprintf("missing intermediate: %s is issued by %q, which neither the chain nor the CA file holds", x.label(i), cur.Issuer.CommonName), fix,
		fmt.Sprintf("if %q is a root CA rather than an intermediate, the CA file is the wrong one: it holds %s", cur.Issuer.CommonName, held), said)
}

// host checks that the leaf covers the name the server is dialed by. TLS
// matches only the subject alternative names; the common name is ignored.
func (x *chainExplainer) host() Result {
	const name = "host"
	if x.o.Client {
		return skip(name, "a client certificate: host names are not checked")
	}
	if x.o.Host == "" {
		return skip(name, "no host given: not checked")
	}
	leaf := x.chain[0]
	host := x.o.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h // "name:8443", "[::1]:8443": the port plays no part
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	names := append([]string{}, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	covered := "no DNS name or IP address at all"
	if len(names) > 0 {
		covered = strings.Join(names, ", ")
	}
	if err := leaf.VerifyHostname(host); err == nil {
		return pass(name, "%q is covered by the leaf's names (%s)", host, covered)
	}
	var details []string
	if strings.EqualFold(leaf.Subject.CommonName, host) {
		details = append(details, fmt.Sprintf("its common name is %q, but TLS matches only the subject alternative names: a CN is not used", host))
	}
	if net.ParseIP(host) != nil && slices.Contains(leaf.DNSNames, host) {
		details = append(details, fmt.Sprintf("%s is listed as a DNS name; an IP address must be an IP address SAN", host))
	}
	fix := fmt.Sprintf("Issue the server certificate for the name clients dial: 'licensor pki server --dir SITE_DIR --hosts %s'; or point clients at a name it covers.", strings.Join(append(names, host), ","))
	return x.fail(name, fmt.Sprintf("the leaf %q does not cover %q: it covers %s", certName(leaf), host, covered), fix, details...)
}

// keyUsage checks that the leaf may authenticate this side of a TLS
// connection.
func (x *chainExplainer) keyUsage() Result {
	const name = "key-usage"
	leaf := x.chain[0]
	hasEKU := slices.Contains(leaf.ExtKeyUsage, x.usage) || slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny)
	hasDS := leaf.KeyUsage&x509.KeyUsageDigitalSignature != 0
	ekus := pki.Describe(leaf, x.o.Now).EKU
	eku := "none"
	if len(ekus) > 0 {
		eku = strings.Join(ekus, ", ")
	}
	has := fmt.Sprintf("extended key usage %s and key usage %s", eku, keyUsageNames(leaf.KeyUsage))
	if hasEKU && hasDS {
		return pass(name, "the leaf may act as a %s (%s)", x.what, has)
	}
	var details []string
	other := x509.ExtKeyUsageClientAuth
	if x.o.Client {
		other = x509.ExtKeyUsageServerAuth
	}
	switch {
	case leaf.IsCA:
		details = append(details, "it is a CA certificate, not a leaf")
	case !hasEKU && slices.Contains(leaf.ExtKeyUsage, other):
		kind := "client"
		if x.o.Client {
			kind = "server"
		}
		details = append(details, fmt.Sprintf("it is a %s certificate (%s)", kind, ekuLabel(other)))
	case len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0:
		details = append(details, "it carries no extended key usage: some TLS stacks take that for any use, but licensor requires "+ekuLabel(x.usage))
	}
	return x.fail(name, fmt.Sprintf("the leaf %q is not a %s: it has %s; it needs %s and digitalSignature", certName(leaf), x.what, has, ekuLabel(x.usage)), x.reissue(), details...)
}

// role checks the role a client certificate carries.
func (x *chainExplainer) role() Result {
	r, err := pki.RoleOf(x.chain[0])
	if err != nil {
		return fail("role", err)
	}
	return pass("role", "the leaf carries the role %s", r)
}

// ExplainCAFile reads a CA file as ExplainCAFileAt does, at the current
// time.
func ExplainCAFile(path string) (*x509.CertPool, Result) {
	return ExplainCAFileAt(path, time.Now())
}

// ExplainCAFileAt reads a CA file and checks it at now: the Result, named
// "ca-file", fails with codes.CAFile when the file is unreadable, holds no
// certificate, no CA certificate, or only expired ones, and warns when
// some of its certificates are expired, expire within DefaultWarnWithin or
// are not CAs. The pool holds every certificate of the file; it is nil
// only when the file cannot be read or decoded.
func ExplainCAFileAt(path string, now time.Time) (*x509.CertPool, Result) {
	const name = "ca-file"
	fix := fmt.Sprintf("Point at the site CA certificate (%s, written by 'licensor pki init'); it must be readable and hold PEM certificates.", pki.CACertFile)
	unusable := func(found string) Result {
		return Result{Name: name, Status: Fail, Code: int(codes.CAFile), Found: found, Fix: fix}
	}
	data, err := readfile.Limited(path, pki.MaxFileSize, "CA file")
	if err != nil {
		return nil, unusable(codes.As(err).Msg)
	}
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		return nil, unusable(fmt.Sprintf("CA file %s: %v", path, err))
	}
	pool := x509.NewCertPool()
	var cas, live, details, warns []string
	for _, c := range certs {
		pool.AddCert(c)
		state := license.DaysLeft(c.NotAfter.Sub(now)) + " left"
		switch {
		case now.After(c.NotAfter):
			state = "EXPIRED " + license.DaysLeft(now.Sub(c.NotAfter)) + " ago"
			warns = append(warns, fmt.Sprintf("%q expired on %s", certName(c), certDate(c.NotAfter)))
		case now.Before(c.NotBefore):
			state = "NOT YET VALID"
			warns = append(warns, fmt.Sprintf("%q is not valid until %s", certName(c), certDate(c.NotBefore)))
		case c.NotAfter.Sub(now) < DefaultWarnWithin:
			warns = append(warns, fmt.Sprintf("%q expires on %s", certName(c), certDate(c.NotAfter)))
		}
		kind := "CA"
		if c.IsCA {
			cas = append(cas, fmt.Sprintf("%q", certName(c)))
			if !now.After(c.NotAfter) && !now.Before(c.NotBefore) {
				live = append(live, certName(c))
			}
		} else {
			kind = "not a CA"
			warns = append(warns, fmt.Sprintf("%q is not a CA certificate", certName(c)))
		}
		details = append(details, fmt.Sprintf("%q: %s, valid %s to %s (%s)", certName(c), kind, certDate(c.NotBefore), certDate(c.NotAfter), state))
	}
	switch {
	case len(cas) == 0:
		r := unusable(fmt.Sprintf("%s holds no CA certificate, only %d leaf certificate(s): a server or client certificate is not a CA file", path, len(certs)))
		r.Details = details
		return pool, r
	case len(live) == 0:
		r := unusable(fmt.Sprintf("%s holds no CA that is valid now: %s", path, strings.Join(warns, "; ")))
		r.Details = details
		r.Fix = "Create a new site CA ('licensor pki init --dir NEW_SITE_DIR'), issue the server and client certificates from it, and give the server and every client its ca.crt; if the CA should be valid, check this host's clock."
		return pool, r
	case len(warns) > 0:
		r := warn(name, codes.CAFile, fmt.Sprintf("%s holds %s; but %s", path, strings.Join(cas, ", "), strings.Join(warns, "; ")),
			"Keep only the site's current CA certificates in the CA file, and replace a CA before it expires.")
		r.Details = details
		return pool, r
	}
	r := pass(name, "%s holds %s", path, strings.Join(cas, ", "))
	r.Details = details
	return pool, r
}

// certIssuedBy reports whether parent's key signed child under parent's
// name. It does not look at dates or CA constraints: those are other checks.
func certIssuedBy(child, parent *x509.Certificate) bool {
	return bytes.Equal(child.RawIssuer, parent.RawSubject) &&
		parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil
}

// certSelfSigned reports whether c's own key signed it under its own name.
func certSelfSigned(c *x509.Certificate) bool { return certIssuedBy(c, c) }

// certName is a certificate's common name, or its whole subject when it
// has none.
func certName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}

func certDate(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// certPoolNames lists the subjects of a pool made from a CA file.
func certPoolNames(pool *x509.CertPool) string {
	var names []string
	for _, raw := range certPoolSubjects(pool) {
		var rdn pkix.RDNSequence
		if _, err := asn1.Unmarshal(raw, &rdn); err != nil {
			continue
		}
		var n pkix.Name
		n.FillFromRDNSequence(&rdn)
		s := n.CommonName
		if s == "" {
			s = n.String()
		}
		names = append(names, fmt.Sprintf("%q", s))
	}
	if len(names) == 0 {
		return "no certificate"
	}
	return strings.Join(names, ", ")
}

func certPoolHasSubject(pool *x509.CertPool, subject []byte) bool {
	for _, raw := range certPoolSubjects(pool) {
		if bytes.Equal(raw, subject) {
			return true
		}
	}
	return false
}

func certPoolSubjects(pool *x509.CertPool) [][]byte {
	//lint:ignore SA1019 the pool comes from a CA file, never from SystemCertPool, so Subjects lists all of it.
	return pool.Subjects()
}

func ekuLabel(u x509.ExtKeyUsage) string {
	if u == x509.ExtKeyUsageClientAuth {
		return "clientAuth"
	}
	return "serverAuth"
}

// keyUsageNames lists the bits of a key usage by their RFC 5280 names.
func keyUsageNames(ku x509.KeyUsage) string {
	bits := []struct {
		u    x509.KeyUsage
		name string
	}{
		{x509.KeyUsageDigitalSignature, "digitalSignature"},
		{x509.KeyUsageContentCommitment, "contentCommitment"},
		{x509.KeyUsageKeyEncipherment, "keyEncipherment"},
		{x509.KeyUsageDataEncipherment, "dataEncipherment"},
		{x509.KeyUsageKeyAgreement, "keyAgreement"},
		{x509.KeyUsageCertSign, "keyCertSign"},
		{x509.KeyUsageCRLSign, "cRLSign"},
		{x509.KeyUsageEncipherOnly, "encipherOnly"},
		{x509.KeyUsageDecipherOnly, "decipherOnly"},
	}
	var out []string
	for _, b := range bits {
		if ku&b.u != 0 {
			out = append(out, b.name)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
