package transport

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"
)

// FaultKind is what is wrong with one link of a certificate chain whose
// names lead to a CA the client trusts.
type FaultKind int

const (
	// IssuerNotCA: the issuer is not allowed to sign certificates (not a
	// CA, or its key usage lacks keyCertSign).
	IssuerNotCA FaultKind = iota + 1
	// InsecureSignature: the certificate is signed with SHA-1 or MD5,
	// which Go's verifier refuses whoever signed it.
	InsecureSignature
)

// A ChainFault is one link of a chain that Go's verifier refuses although
// the issuer it names is there: it reports such a refusal as "signed by
// unknown authority", the same words as for a missing intermediate or
// another site's CA, and keeps the real cause to itself.
type ChainFault struct {
	Kind  FaultKind
	Index int               // the refused certificate's place in the chain, 0 for the leaf
	Cert  *x509.Certificate // the refused certificate
	// IssuerIndex is the issuer's place in the chain, or -1 when the
	// issuer is not in the chain but the CA file holds one of its name.
	IssuerIndex int
	Issuer      *x509.Certificate // the issuer; nil when IssuerIndex is -1
	// Why says what is wrong, for a person: "it is not a CA
	// (basicConstraints CA:FALSE)", "SHA-1 (ECDSA-SHA1)".
	Why string
}

// Reason says what is wrong in words that follow the refused
// certificate's name: `is issued by "X", which is not allowed to sign
// certificates: it is not a CA (basicConstraints CA:FALSE)`, `is signed
// with SHA-1 (SHA1-RSA), an insecure signature algorithm …`.
func (f ChainFault) Reason() string {
	if f.Kind == IssuerNotCA {
		return fmt.Sprintf("is issued by %q, which is not allowed to sign certificates: %s", certName(f.Issuer), f.Why)
	}
	return fmt.Sprintf("is signed with %s, an insecure signature algorithm that TLS clients refuse", f.Why)
}

// Fix says what to do about the fault. reissue is the sentence that says
// how to issue a new leaf from the site CA, which every fix offers: a
// licensor site CA issues leaves directly, with no intermediate.
func (f ChainFault) Fix(reissue string) string {
	switch {
	case f.Kind == IssuerNotCA:
		return fmt.Sprintf("Its issuer is not a CA: reissue the intermediate %q as a CA (basicConstraints CA:TRUE, key usage keyCertSign) and then the certificates under it, or send the intermediate that really issued %q. Or do without it: %s",
			certName(f.Issuer), certName(f.Cert), lowerFirst(reissue))
	case f.Index > 0 && f.Cert.IsCA:
		return fmt.Sprintf("Reissue the intermediate %q signed with SHA-256 (ECDSA or RSA) or Ed25519, and send the new one after the leaf. Or do without it: %s", certName(f.Cert), lowerFirst(reissue))
	}
	return "Reissue the certificate signed with SHA-256 (ECDSA or RSA) or Ed25519, as 'licensor pki' does: " + lowerFirst(reissue)
}

// ChainFaults looks beneath an "unknown authority" refusal of chain
// (as sent: leaf first, though the order is not relied on) for the
// faults Go's verifier found but did not name. It follows the chain from
// the leaf to each issuer the chain holds (by name and signature) and
// reports each link whose issuer may not sign certificates or whose
// signature is SHA-1 or MD5; a link to an issuer outside the chain counts
// when roots holds a certificate of the issuer's name.
//
// It reports nothing when the chain does not lead to roots at all (an
// unknown CA, a missing intermediate): that is the cause to name first.
// A nil roots (the system's, which cannot be listed) counts as holding
// every name.
func ChainFaults(chain []*x509.Certificate, roots *x509.CertPool) []ChainFault {
	if len(chain) == 0 {
		return nil
	}
	var faults []ChainFault
	seen := make([]bool, len(chain))
	i := 0
	for !seen[i] {
		seen[i] = true
		c := chain[i]
		if issuedBy(c, c) {
			// A root: its own signature is not checked, and it leads
			// somewhere only if the CA file holds it.
			if !poolHolds(roots, c.RawSubject) {
				return nil
			}
			break
		}
		j := issuerIn(chain, i)
		if j < 0 && insecure(c.SignatureAlgorithm) != "" {
			// A signature too weak for Go to check at all (MD5): the
			// issuer is known by its name alone.
			j = namedIn(chain, i)
		}
		if j < 0 {
			if !poolHolds(roots, c.RawIssuer) {
				return nil
			}
			if why := insecure(c.SignatureAlgorithm); why != "" {
				faults = append(faults, ChainFault{Kind: InsecureSignature, Index: i, Cert: c, IssuerIndex: -1, Why: why})
			}
			break
		}
		p := chain[j]
		if why := cannotSign(p); why != "" {
			faults = append(faults, ChainFault{Kind: IssuerNotCA, Index: i, Cert: c, IssuerIndex: j, Issuer: p, Why: why})
		}
		if why := insecure(c.SignatureAlgorithm); why != "" {
			faults = append(faults, ChainFault{Kind: InsecureSignature, Index: i, Cert: c, IssuerIndex: j, Issuer: p, Why: why})
		}
		i = j
	}
	return faults
}

// issuerIn returns the index of the certificate of chain, other than the
// i-th, whose name and key issued the i-th; -1 when none did.
func issuerIn(chain []*x509.Certificate, i int) int {
	for j, p := range chain {
		if j != i && issuedBy(chain[i], p) {
			return j
		}
	}
	return -1
}

// namedIn returns the index of the certificate of chain, other than the
// i-th, named as the i-th's issuer; -1 when none is.
func namedIn(chain []*x509.Certificate, i int) int {
	for j, p := range chain {
		if j != i && bytes.Equal(chain[i].RawIssuer, p.RawSubject) {
			return j
		}
	}
	return -1
}

// issuedBy reports whether parent's key signed child under parent's name.
// Unlike child.CheckSignatureFrom(parent), it ignores whether parent may
// sign certificates and accepts SHA-1: those are the faults looked for.
func issuedBy(child, parent *x509.Certificate) bool {
	return bytes.Equal(child.RawIssuer, parent.RawSubject) &&
		parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil
}

// cannotSign says why Go's verifier will not take p's key for a
// certificate's signature (the rules of x509.Certificate.CheckSignatureFrom),
// or returns "" when it will.
func cannotSign(p *x509.Certificate) string {
	switch {
	case p.BasicConstraintsValid && !p.IsCA:
		return "it is not a CA (basicConstraints CA:FALSE)"
	case p.Version == 3 && !p.BasicConstraintsValid:
		return "it is not a CA (it has no basicConstraints extension)"
	case p.KeyUsage != 0 && p.KeyUsage&x509.KeyUsageCertSign == 0:
		return "its key usage lacks keyCertSign"
	}
	return ""
}

// insecure names a signature algorithm Go's verifier refuses for its
// hash, or returns "" for one it accepts.
func insecure(alg x509.SignatureAlgorithm) string {
	switch alg {
	case x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return fmt.Sprintf("SHA-1 (%s)", alg)
	case x509.MD5WithRSA:
		return fmt.Sprintf("MD5 (%s)", alg)
	case x509.MD2WithRSA:
		return fmt.Sprintf("MD2 (%s)", alg)
	}
	return ""
}

// poolHolds reports whether pool holds a certificate named subject; a
// nil pool is taken to hold every name.
func poolHolds(pool *x509.CertPool, subject []byte) bool {
	if pool == nil {
		return true
	}
	//lint:ignore SA1019 the pool is the client's CA file, never SystemCertPool (nil here), so Subjects lists all of it.
	for _, s := range pool.Subjects() {
		if bytes.Equal(s, subject) {
			return true
		}
	}
	return false
}

func certName(c *x509.Certificate) string { return nameOf(c.Subject) }

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
