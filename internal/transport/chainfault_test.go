package transport

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"strings"
	"testing"
	"time"
)

// chainFaultFixtures are the chains TestChainFaults and FuzzChainFaults
// look at, made around now.
type chainFaultFixtures struct {
	site                          *testPKI
	good, sha1Leaf, selfSigned    *x509.Certificate
	notCA, underNotCA, sha1UnderN *x509.Certificate
	strangerNotCA, underStranger  *x509.Certificate
	root, inter, underInter       *x509.Certificate
}

func newChainFaultFixtures(t testing.TB) *chainFaultFixtures {
	t.Helper()
	tt := t
	now := time.Now()
	f := &chainFaultFixtures{site: newTestPKI(t, now)}
	leafTmpl := func(name string, alg x509.SignatureAlgorithm) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: name}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), SignatureAlgorithm: alg}
	}
	caTmpl := func(name string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	}
	ca, caKey := f.site.ca, f.site.caKey
	f.good, _ = sign(tt, leafTmpl("good", 0), ca, caKey)
	f.sha1Leaf, _ = sign(tt, leafTmpl("sha1", x509.ECDSAWithSHA1), ca, caKey)
	f.selfSigned, _ = sign(tt, leafTmpl("self", 0), nil, nil)
	notCA, notCAKey := sign(tt, leafTmpl("server used as CA", 0), ca, caKey)
	f.notCA = notCA
	f.underNotCA, _ = sign(tt, leafTmpl("under not-CA", 0), notCA, notCAKey)
	f.sha1UnderN, _ = sign(tt, leafTmpl("sha1 under not-CA", x509.ECDSAWithSHA1), notCA, notCAKey)
	stranger, strangerKey := sign(tt, caTmpl("stranger root"), nil, nil)
	sn, snKey := sign(tt, leafTmpl("stranger used as CA", 0), stranger, strangerKey)
	f.strangerNotCA = sn
	f.underStranger, _ = sign(tt, leafTmpl("under stranger", 0), sn, snKey)
	f.root = ca
	inter, interKey := sign(tt, caTmpl("intermediate"), ca, caKey)
	f.inter = inter
	f.underInter, _ = sign(tt, leafTmpl("under intermediate", 0), inter, interKey)
	return f
}

// TestChainFaults: the faults found beneath an unknown authority, and
// none where the cause is a missing or unknown CA.
func TestChainFaults(t *testing.T) {
	f := newChainFaultFixtures(t)
	type fault struct {
		kind          FaultKind
		index, issuer int
		why           string
	}
	tests := []struct {
		name  string
		chain []*x509.Certificate
		roots *x509.CertPool // f.site.pool unless noRoots
		none  bool           // roots nil: the system's
		want  []fault
	}{
		{name: "empty"},
		{name: "good", chain: []*x509.Certificate{f.good}},
		{name: "good-with-intermediate-and-root", chain: []*x509.Certificate{f.underInter, f.inter, f.root}},
		{name: "missing-intermediate", chain: []*x509.Certificate{f.underInter}},
		{name: "self-signed", chain: []*x509.Certificate{f.selfSigned}},
		{name: "issuer-not-a-ca", chain: []*x509.Certificate{f.underNotCA, f.notCA},
			want: []fault{{IssuerNotCA, 0, 1, "CA:FALSE"}}},
		{name: "issuer-not-a-ca-root-sent-too", chain: []*x509.Certificate{f.underNotCA, f.root, f.notCA},
			want: []fault{{IssuerNotCA, 0, 2, "CA:FALSE"}}},
		{name: "sha1-leaf", chain: []*x509.Certificate{f.sha1Leaf},
			want: []fault{{InsecureSignature, 0, -1, "SHA-1 (ECDSA-SHA1)"}}},
		{name: "sha1-leaf-system-roots", chain: []*x509.Certificate{f.sha1Leaf}, none: true,
			want: []fault{{InsecureSignature, 0, -1, "SHA-1"}}},
		{name: "sha1-leaf-of-another-ca", chain: []*x509.Certificate{f.sha1Leaf}, roots: x509.NewCertPool()},
		{name: "both-faults", chain: []*x509.Certificate{f.sha1UnderN, f.notCA},
			want: []fault{{IssuerNotCA, 0, 1, "CA:FALSE"}, {InsecureSignature, 0, 1, "SHA-1"}}},
		{name: "not-a-ca-under-unknown-root", chain: []*x509.Certificate{f.underStranger, f.strangerNotCA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roots := tt.roots
			if roots == nil && !tt.none {
				roots = f.site.pool
			}
			got := ChainFaults(tt.chain, roots)
			if len(got) != len(tt.want) {
				t.Fatalf("ChainFaults = %+v, want %d faults", got, len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Kind != w.kind || g.Index != w.index || g.IssuerIndex != w.issuer || !strings.Contains(g.Why, w.why) {
					t.Errorf("fault %d = %v %d←%d %q, want %v %d←%d %q", i, g.Kind, g.Index, g.IssuerIndex, g.Why, w.kind, w.index, w.issuer, w.why)
				}
				checkFault(t, tt.chain, g)
			}
		})
	}
}

// checkFault holds what every fault must be: its certificates are the
// chain's, it says what is wrong and the fix.
func checkFault(t *testing.T, chain []*x509.Certificate, g ChainFault) {
	t.Helper()
	if g.Index < 0 || g.Index >= len(chain) || g.Cert != chain[g.Index] {
		t.Fatalf("fault %+v: Cert is not chain[%d]", g, g.Index)
	}
	switch {
	case g.IssuerIndex == -1 && g.Issuer != nil, g.IssuerIndex >= len(chain), g.IssuerIndex < -1:
		t.Fatalf("fault %+v: IssuerIndex %d out of place", g, g.IssuerIndex)
	case g.IssuerIndex >= 0 && g.Issuer != chain[g.IssuerIndex]:
		t.Fatalf("fault %+v: Issuer is not chain[%d]", g, g.IssuerIndex)
	case g.Kind == IssuerNotCA && g.Issuer == nil:
		t.Fatalf("fault %+v: an issuer not a CA, without the issuer", g)
	}
	const reissue = "Issue a new certificate."
	if g.Reason() == "" || !strings.Contains(g.Fix(reissue), "issue a new certificate.") {
		t.Fatalf("fault %+v: reason %q, fix %q", g, g.Reason(), g.Fix(reissue))
	}
}

// FuzzChainFaults: whatever certificates a server sends, ChainFaults
// ends, and every fault points into the chain.
func FuzzChainFaults(f *testing.F) {
	x := newChainFaultFixtures(f)
	for _, pair := range [][2]*x509.Certificate{
		{x.underNotCA, x.notCA}, {x.sha1UnderN, x.notCA}, {x.sha1Leaf, x.root}, {x.underInter, x.inter}, {x.underStranger, x.strangerNotCA},
	} {
		f.Add(pair[0].Raw, pair[1].Raw, pair[0].Raw)
	}
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		var chain []*x509.Certificate
		for _, der := range [][]byte{a, b, c} {
			if cert, err := x509.ParseCertificate(der); err == nil {
				chain = append(chain, cert)
			}
		}
		for _, roots := range []*x509.CertPool{x.site.pool, nil} {
			for _, g := range ChainFaults(chain, roots) {
				checkFault(t, chain, g)
			}
		}
	})
}
