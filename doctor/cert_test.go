package doctor

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/pki"
)

var chainNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// chainCA is a CA made in the test: its certificate and key.
type chainCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// chainSite is a licensor site made by pki at chainNow: its CA, server
// certificate (for 127.0.0.1 and localhost) and client "app1" (instance).
type chainSite struct {
	dir            string
	ca             chainCA
	server, client *x509.Certificate
	pool           *x509.CertPool
}

func newChainSite(t *testing.T) *chainSite {
	t.Helper()
	dir := t.TempDir()
	if _, err := pki.InitSite(dir, []string{"127.0.0.1", "localhost"}, chainNow); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.IssueClient(dir, "app1", pki.RoleInstance, 365, chainNow); err != nil {
		t.Fatal(err)
	}
	ca, key, err := pki.LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &chainSite{dir: dir, ca: chainCA{ca, key}, pool: x509.NewCertPool()}
	s.pool.AddCert(ca)
	s.server = readChainFile(t, filepath.Join(dir, pki.ServerCertFile))[0]
	s.client = readChainFile(t, filepath.Join(dir, pki.ClientsDir, "app1.crt"))[0]
	return s
}

func readChainFile(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

// signChainCert completes tmpl with a serial and a fresh key and signs it
// with ca, or with its own key when ca is nil.
func signChainCert(t *testing.T, ca *chainCA, tmpl *x509.Certificate) chainCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1))
	parent, signer := tmpl, crypto.Signer(key)
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return chainCA{cert, key}
}

// caTemplate is a CA allowing maxPath intermediates under it.
func caTemplate(name string, maxPath int) *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{CommonName: name}, NotBefore: chainNow.Add(-day), NotAfter: chainNow.Add(3650 * day),
		IsCA: true, BasicConstraintsValid: true, MaxPathLen: maxPath, MaxPathLenZero: maxPath == 0,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
}

// serverTemplate is a server leaf for 127.0.0.1 and localhost, valid
// from notBefore to notAfter.
func serverTemplate(name string, notBefore, notAfter time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{CommonName: name}, NotBefore: notBefore, NotAfter: notAfter,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
}

// chainFixtures are every certificate the cases below use.
type chainFixtures struct {
	site, other                         *chainSite
	expired, notYet, expiring, selfSign *x509.Certificate
	noRole                              *x509.Certificate
	root, inter                         chainCA
	interLeaf                           *x509.Certificate
	rootPool                            *x509.CertPool

	// Chains whose names lead to the CA file but that TLS refuses: Go's
	// verifier calls each an unknown authority.
	notCA, noCertSign, sha1Inter    chainCA           // intermediates: CA:FALSE, no keyCertSign, SHA-1 signed
	underNotCA, underNoCertSign     *x509.Certificate // leaves under them
	underSHA1Inter                  *x509.Certificate
	sha1Leaf                        *x509.Certificate // ECDSA-SHA1 by the site CA
	rsaRoot                         chainCA
	rsaSHA1Leaf                     *x509.Certificate // SHA1-RSA by rsaRoot
	rsaPool                         *x509.CertPool
	sha1Client                      *x509.Certificate // a client certificate, ECDSA-SHA1 by the site CA
	remadeLeaf                      *x509.Certificate // by a CA of the site CA's name and another key
	strangerNotCA, underStrangerNot *x509.Certificate // CA:FALSE under a root the CA files do not hold
}

func newChainFixtures(t *testing.T) *chainFixtures {
	f := &chainFixtures{site: newChainSite(t), other: newChainSite(t)}
	ca := &f.site.ca
	f.expired = signChainCert(t, ca, serverTemplate("old server", chainNow.Add(-400*day), chainNow.Add(-5*day))).cert
	f.notYet = signChainCert(t, ca, serverTemplate("future server", chainNow.Add(2*day), chainNow.Add(400*day))).cert
	f.expiring = signChainCert(t, ca, serverTemplate("ageing server", chainNow.Add(-day), chainNow.Add(10*day))).cert
	f.selfSign = signChainCert(t, nil, serverTemplate("homemade server", chainNow.Add(-day), chainNow.Add(400*day))).cert
	f.noRole = signChainCert(t, ca, &x509.Certificate{
		Subject: pkix.Name{CommonName: "roleless"}, NotBefore: chainNow.Add(-day), NotAfter: chainNow.Add(400 * day),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs: []*url.URL{{Scheme: "https", Host: "example.com"}}, BasicConstraintsValid: true,
	}).cert
	f.root = signChainCert(t, nil, caTemplate("Corp Root CA", 1))
	f.inter = signChainCert(t, &f.root, caTemplate("Corp Issuing CA 2", 0))
	f.interLeaf = signChainCert(t, &f.inter, serverTemplate("licensor.corp", chainNow.Add(-day), chainNow.Add(400*day))).cert
	f.rootPool = x509.NewCertPool()
	f.rootPool.AddCert(f.root.cert)

	f.notCA = signChainCert(t, &f.root, serverTemplate("Corp Server Used As CA", chainNow.Add(-day), chainNow.Add(400*day)))
	f.underNotCA = signChainCert(t, &f.notCA, serverTemplate("licensor.corp", chainNow.Add(-day), chainNow.Add(400*day))).cert
	noSign := caTemplate("Corp Signing-less CA", 0)
	noSign.KeyUsage = x509.KeyUsageDigitalSignature
	f.noCertSign = signChainCert(t, &f.root, noSign)
	f.underNoCertSign = signChainCert(t, &f.noCertSign, serverTemplate("licensor.corp", chainNow.Add(-day), chainNow.Add(400*day))).cert
	sha1CA := caTemplate("Corp SHA-1 CA", 0)
	sha1CA.SignatureAlgorithm = x509.ECDSAWithSHA1
	f.sha1Inter = signChainCert(t, &f.root, sha1CA)
	f.underSHA1Inter = signChainCert(t, &f.sha1Inter, serverTemplate("licensor.corp", chainNow.Add(-day), chainNow.Add(400*day))).cert
	sha1 := serverTemplate("old-style server", chainNow.Add(-day), chainNow.Add(400*day))
	sha1.SignatureAlgorithm = x509.ECDSAWithSHA1
	f.sha1Leaf = signChainCert(t, ca, sha1).cert
	f.sha1Client = signChainCert(t, ca, &x509.Certificate{
		Subject: pkix.Name{CommonName: "old-style client"}, NotBefore: chainNow.Add(-day), NotAfter: chainNow.Add(400 * day),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs: []*url.URL{pki.RoleInstance.URI()}, BasicConstraintsValid: true, SignatureAlgorithm: x509.ECDSAWithSHA1,
	}).cert
	f.rsaRoot = rsaChainRoot(t, "Corp RSA Root")
	rsaSHA1 := serverTemplate("rsa server", chainNow.Add(-day), chainNow.Add(400*day))
	rsaSHA1.SignatureAlgorithm = x509.SHA1WithRSA
	f.rsaSHA1Leaf = signChainCert(t, &f.rsaRoot, rsaSHA1).cert
	f.rsaPool = x509.NewCertPool()
	f.rsaPool.AddCert(f.rsaRoot.cert)
	for _, c := range []*x509.Certificate{f.sha1Inter.cert, f.sha1Leaf, f.rsaSHA1Leaf} {
		if c.SignatureAlgorithm != x509.ECDSAWithSHA1 && c.SignatureAlgorithm != x509.SHA1WithRSA {
			t.Fatalf("%q is signed with %s, not SHA-1", c.Subject.CommonName, c.SignatureAlgorithm)
		}
	}
	remadeCA := caTemplate(f.site.ca.cert.Subject.CommonName, 0)
	remadeCA.Subject = f.site.ca.cert.Subject
	remade := signChainCert(t, nil, remadeCA)
	f.remadeLeaf = signChainCert(t, &remade, serverTemplate("licensor site server", chainNow.Add(-day), chainNow.Add(400*day))).cert
	stranger := signChainCert(t, nil, caTemplate("Stranger Root CA", 1))
	strangerNotCA := signChainCert(t, &stranger, serverTemplate("Stranger Server Used As CA", chainNow.Add(-day), chainNow.Add(400*day)))
	f.strangerNotCA = strangerNotCA.cert
	f.underStrangerNot = signChainCert(t, &strangerNotCA, serverTemplate("licensor.corp", chainNow.Add(-day), chainNow.Add(400*day))).cert
	return f
}

// rsaChainRoot is a self-signed RSA root CA, which can sign with SHA-1
// as old CAs did.
func rsaChainRoot(t *testing.T, name string) chainCA {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := caTemplate(name, 1)
	tmpl.SerialNumber = big.NewInt(7)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return chainCA{cert, key}
}

// chainWant is what a case expects of one check.
type chainWant struct {
	status Status
	code   codes.Code // checked when not OK
	say    []string   // substrings of Found
	fix    []string   // substrings of Fix
	never  []string   // in neither Found nor Fix
}

var kebab = regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)

func TestExplainChain(t *testing.T) {
	f := newChainFixtures(t)
	siteCA, otherCA := f.site.ca.cert.Subject.CommonName, f.other.ca.cert.Subject.CommonName
	certs := func(cs ...*x509.Certificate) func() []*x509.Certificate {
		return func() []*x509.Certificate { return cs }
	}
	tests := []struct {
		name  string
		chain func() []*x509.Certificate
		roots *x509.CertPool
		host  string
		cli   bool
		valid bool
		want  map[string]chainWant
	}{
		{name: "good-server-chain-ip", chain: certs(f.site.server), roots: f.site.pool, host: "127.0.0.1", valid: true,
			want: map[string]chainWant{
				"order": {status: Pass}, "dates": {status: Pass}, "self-signed": {status: Pass},
				"chain": {status: Pass, say: []string{siteCA}}, "host": {status: Pass, say: []string{"127.0.0.1"}}, "key-usage": {status: Pass},
			}},
		{name: "good-server-chain-localhost", chain: certs(f.site.server), roots: f.site.pool, host: "localhost", valid: true,
			want: map[string]chainWant{"chain": {status: Pass}, "host": {status: Pass}}},
		{name: "host-with-port", chain: certs(f.site.server), roots: f.site.pool, host: "localhost:8443", valid: true,
			want: map[string]chainWant{"host": {status: Pass, say: []string{`"localhost"`}}}},
		{name: "no-ca-file-no-host", chain: certs(f.site.server), valid: true,
			want: map[string]chainWant{"chain": {status: Skip}, "host": {status: Skip}}},
		{name: "expired-leaf", chain: certs(f.expired), roots: f.site.pool, host: "127.0.0.1",
			want: map[string]chainWant{
				"dates": {status: Fail, code: codes.ServerCert, say: []string{`certificate 1 "old server" expired on`, "(5 days ago)"}},
				"chain": {status: Fail, code: codes.ServerCert, say: []string{"outside its dates"}},
			}},
		{name: "not-yet-valid-leaf", chain: certs(f.notYet), roots: f.site.pool, host: "127.0.0.1",
			want: map[string]chainWant{"dates": {status: Fail, code: codes.ServerCert, say: []string{"not valid until", "2 days from now"}}}},
		{name: "expiring-in-10-days", chain: certs(f.expiring), roots: f.site.pool, host: "127.0.0.1", valid: true,
			want: map[string]chainWant{
				"dates": {status: Warn, code: codes.ServerCert, say: []string{"10 days left"}}, "chain": {status: Pass},
			}},
		{name: "self-signed-leaf", chain: certs(f.selfSign), roots: f.site.pool, host: "127.0.0.1",
			want: map[string]chainWant{
				"self-signed": {status: Fail, code: codes.ServerCert, say: []string{"homemade server", "self-signed", "site CA"}},
				"chain":       {status: Fail, code: codes.ServerCert, say: []string{"unknown CA", "homemade server", siteCA}},
				"order":       {status: Pass}, "host": {status: Pass},
			}},
		{name: "missing-intermediate", chain: certs(f.interLeaf), roots: f.rootPool, host: "127.0.0.1",
			want: map[string]chainWant{"chain": {status: Fail, code: codes.ServerCert,
				say: []string{"missing intermediate", `is issued by "Corp Issuing CA 2", which neither the chain nor the CA file holds`},
				fix: []string{"Send the intermediate"}, never: []string{"not allowed to sign", "insecure"}}}},
		{name: "intermediate-not-a-ca", chain: certs(f.underNotCA, f.notCA.cert), roots: f.rootPool, host: "localhost",
			want: map[string]chainWant{
				"order": {status: Pass}, "self-signed": {status: Pass}, "key-usage": {status: Pass},
				"chain": {status: Fail, code: codes.ServerCert,
					say:   []string{"issuer not a CA", `certificate 1 "licensor.corp" is issued by certificate 2 "Corp Server Used As CA", which is not allowed to sign certificates`, "CA:FALSE"},
					fix:   []string{`reissue the intermediate "Corp Server Used As CA" as a CA (basicConstraints CA:TRUE, key usage keyCertSign)`, "send the intermediate that really issued", "licensor pki server"},
					never: []string{"another key", "missing intermediate", "Send the intermediate with the leaf", "unknown CA"}},
			}},
		{name: "intermediate-without-keycertsign", chain: certs(f.underNoCertSign, f.noCertSign.cert), roots: f.rootPool, host: "localhost",
			want: map[string]chainWant{"chain": {status: Fail, code: codes.ServerCert,
				say:   []string{"issuer not a CA", `"Corp Signing-less CA", which is not allowed to sign certificates: its key usage lacks keyCertSign`},
				fix:   []string{"keyCertSign"},
				never: []string{"another key", "missing intermediate", "unknown CA"}}}},
		{name: "sha1-leaf-ecdsa", chain: certs(f.sha1Leaf), roots: f.site.pool, host: "127.0.0.1",
			want: map[string]chainWant{
				"order": {status: Pass}, "self-signed": {status: Pass}, "key-usage": {status: Pass}, "host": {status: Pass},
				"chain": {status: Fail, code: codes.ServerCert,
					say:   []string{"insecure signature: ", `certificate 1 "old-style server" is signed with SHA-1 (ECDSA-SHA1), an insecure signature algorithm`},
					fix:   []string{"SHA-256", "Ed25519", "licensor pki server"},
					never: []string{"another key", "missing intermediate", "Send the intermediate", "unknown CA"}},
			}},
		{name: "sha1-leaf-rsa", chain: certs(f.rsaSHA1Leaf), roots: f.rsaPool, host: "127.0.0.1",
			want: map[string]chainWant{"chain": {status: Fail, code: codes.ServerCert,
				say:   []string{"insecure signature: ", "SHA-1 (SHA1-RSA), an insecure signature algorithm"},
				fix:   []string{"SHA-256", "Ed25519"},
				never: []string{"another key", "missing intermediate", "unknown CA"}}}},
		{name: "sha1-intermediate", chain: certs(f.underSHA1Inter, f.sha1Inter.cert), roots: f.rootPool, host: "localhost",
			want: map[string]chainWant{"chain": {status: Fail, code: codes.ServerCert,
				say:   []string{`certificate 2 "Corp SHA-1 CA" is signed with SHA-1 (ECDSA-SHA1), an insecure signature algorithm`},
				fix:   []string{`Reissue the intermediate "Corp SHA-1 CA" signed with SHA-256`},
				never: []string{"another key", "missing intermediate", "unknown CA", `certificate 1 "licensor.corp" is signed`}}}},
		{name: "sha1-client", chain: certs(f.sha1Client), roots: f.site.pool, cli: true,
			want: map[string]chainWant{
				"role": {status: Pass},
				"chain": {status: Fail, code: codes.ClientCert,
					say:   []string{`certificate 1 "old-style client" is signed with SHA-1 (ECDSA-SHA1)`},
					fix:   []string{"SHA-256", "licensor pki client"},
					never: []string{"another key", "unknown CA"}},
			}},
		{name: "ca-made-again", chain: certs(f.remadeLeaf), roots: f.site.pool, host: "127.0.0.1",
			want: map[string]chainWant{"chain": {status: Fail, code: codes.ServerCert,
				say: []string{"unknown CA", "with another key"}, never: []string{"not allowed to sign", "insecure"}}}},
		{name: "not-a-ca-under-unknown-root", chain: certs(f.underStrangerNot, f.strangerNotCA), roots: f.rootPool, host: "localhost",
			want: map[string]chainWant{"chain": {status: Fail, code: codes.ServerCert,
				say: []string{`"Stranger Root CA"`}, never: []string{"not allowed to sign"}}}},
		{name: "intermediate-given", chain: certs(f.interLeaf, f.inter.cert), roots: f.rootPool, host: "localhost", valid: true,
			want: map[string]chainWant{
				"order": {status: Pass}, "dates": {status: Pass}, "self-signed": {status: Pass},
				"chain": {status: Pass, say: []string{"Corp Root CA"}}, "host": {status: Pass}, "key-usage": {status: Pass},
			}},
		{name: "wrong-host", chain: certs(f.site.server), roots: f.site.pool, host: "auth.example.com",
			want: map[string]chainWant{
				"host":  {status: Fail, code: codes.ServerCert, say: []string{`"auth.example.com"`, "127.0.0.1", "localhost"}},
				"chain": {status: Pass},
			}},
		{name: "unknown-ca", chain: certs(f.other.server, f.other.ca.cert), roots: f.site.pool, host: "127.0.0.1",
			want: map[string]chainWant{
				"order": {status: Pass},
				"chain": {status: Fail, code: codes.ServerCert, say: []string{"unknown CA", otherCA, siteCA}},
			}},
		{name: "unknown-ca-leaf-only", chain: certs(f.other.server), roots: f.site.pool, host: "127.0.0.1",
			want: map[string]chainWant{"chain": {status: Fail, code: codes.ServerCert, say: []string{"unknown CA", otherCA, siteCA}}}},
		{name: "out-of-order", chain: certs(f.inter.cert, f.interLeaf), roots: f.rootPool,
			want: map[string]chainWant{"order": {status: Fail, code: codes.ServerCert,
				say: []string{"out of order", `certificate 2 "licensor.corp" is issued by certificate 1 "Corp Issuing CA 2"`}}}},
		{name: "client-cert-as-server", chain: certs(f.site.client), roots: f.site.pool,
			want: map[string]chainWant{
				"key-usage": {status: Fail, code: codes.ServerCert, say: []string{"not a server certificate", "clientAuth", "needs serverAuth"}},
				"chain":     {status: Fail, code: codes.ServerCert, say: []string{"not for serverAuth"}},
			}},
		{name: "good-client-chain", chain: certs(f.site.client), roots: f.site.pool, cli: true, valid: true,
			want: map[string]chainWant{
				"chain": {status: Pass}, "host": {status: Skip}, "key-usage": {status: Pass},
				"role": {status: Pass, say: []string{"instance"}},
			}},
		{name: "client-without-role", chain: certs(f.noRole), roots: f.site.pool, cli: true,
			want: map[string]chainWant{
				"chain": {status: Pass}, "key-usage": {status: Pass},
				"role": {status: Fail, code: codes.ClientCert, say: []string{"roleless", "no role"}},
			}},
		{name: "server-cert-as-client", chain: certs(f.site.server), roots: f.site.pool, cli: true,
			want: map[string]chainWant{
				"key-usage": {status: Fail, code: codes.ClientCert, say: []string{"not a client certificate", "serverAuth", "needs clientAuth"}},
				"role":      {status: Fail, code: codes.ClientCert},
			}},
		{name: "client-of-another-site", chain: certs(f.other.client), roots: f.site.pool, cli: true,
			want: map[string]chainWant{"chain": {status: Fail, code: codes.ClientCert, say: []string{"unknown CA", otherCA}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chain := tt.chain()
			rep := ExplainChain(chain, ChainOptions{Roots: tt.roots, Host: tt.host, Client: tt.cli, Now: chainNow})
			t.Logf("\n%s", chainDump(rep))
			if rep.Valid != tt.valid {
				t.Errorf("Valid = %v, want %v\n%s", rep.Valid, tt.valid, chainDump(rep))
			}
			if len(rep.Certificates) != len(chain) {
				t.Errorf("%d certificates described, want %d", len(rep.Certificates), len(chain))
			}
			seen := map[string]bool{}
			for _, r := range rep.Checks {
				seen[r.Name] = true
				if !kebab.MatchString(r.Name) {
					t.Errorf("check name %q is not kebab-case", r.Name)
				}
				switch r.Status {
				case Pass, Skip:
					if r.Code != 0 {
						t.Errorf("%s: %s with code %d", r.Name, r.Status, r.Code)
					}
				case Fail, Warn:
					if r.Code == 0 || r.Fix == "" {
						t.Errorf("%s: %s without a code or a fix: %+v", r.Name, r.Status, r)
					}
				}
				w, ok := tt.want[r.Name]
				if !ok {
					continue
				}
				if r.Status != w.status {
					t.Errorf("%s: status %s, want %s: %s", r.Name, r.Status, w.status, r.Found)
				}
				if w.status != Pass && w.status != Skip && w.code != 0 && r.Code != int(w.code) {
					t.Errorf("%s: code %d, want %d", r.Name, r.Code, w.code)
				}
				for _, s := range w.say {
					if !strings.Contains(r.Found, s) {
						t.Errorf("%s: found %q lacks %q", r.Name, r.Found, s)
					}
				}
				for _, s := range w.fix {
					if !strings.Contains(r.Fix, s) {
						t.Errorf("%s: fix %q lacks %q", r.Name, r.Fix, s)
					}
				}
				for _, s := range w.never {
					if strings.Contains(r.Found, s) || strings.Contains(r.Fix, s) {
						t.Errorf("%s: %q (fix %q) says %q", r.Name, r.Found, r.Fix, s)
					}
				}
			}
			for name := range tt.want {
				if !seen[name] {
					t.Errorf("no check %q\n%s", name, chainDump(rep))
				}
			}
			if seen["role"] != tt.cli {
				t.Errorf("role check present = %v, want %v", seen["role"], tt.cli)
			}
		})
	}
}

func TestExplainChainEmpty(t *testing.T) {
	rep := ExplainChain(nil, ChainOptions{Now: chainNow})
	if rep.Valid || len(rep.Checks) != 1 || rep.Checks[0].Code != int(codes.ServerCert) {
		t.Fatalf("empty chain: %s", chainDump(rep))
	}
}

func TestExplainChainWarnWithin(t *testing.T) {
	f := newChainFixtures(t)
	rep := ExplainChain([]*x509.Certificate{f.expiring}, ChainOptions{Now: chainNow, WarnWithin: 5 * day})
	if r := rep.Checks[1]; r.Name != "dates" || r.Status != Pass {
		t.Fatalf("10 days left with WarnWithin 5 days: %+v", r)
	}
}

func TestExplainCAFile(t *testing.T) {
	site := newChainSite(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("this is not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		path     string
		now      time.Time
		status   Status
		wantPool bool
		say      string
	}{
		{"missing-file", filepath.Join(dir, "nope.crt"), chainNow, Fail, false, "does not exist"},
		{"not-pem", notPEM, chainNow, Fail, false, "no PEM certificate"},
		{"good", filepath.Join(site.dir, pki.CACertFile), chainNow, Pass, true, site.ca.cert.Subject.CommonName},
		{"server-cert-given", filepath.Join(site.dir, pki.ServerCertFile), chainNow, Fail, true, "no CA certificate"},
		{"ca-expired", filepath.Join(site.dir, pki.CACertFile), chainNow.Add(pki.CAValidity + day), Fail, true, "expired on"},
		{"ca-expiring", filepath.Join(site.dir, pki.CACertFile), chainNow.Add(pki.CAValidity - 10*day), Warn, true, "expires on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, r := ExplainCAFileAt(tt.path, tt.now)
			if r.Name != "ca-file" || r.Status != tt.status || !strings.Contains(r.Found, tt.say) {
				t.Fatalf("got %s %q, want %s saying %q", r.Status, r.Found, tt.status, tt.say)
			}
			if (pool != nil) != tt.wantPool {
				t.Errorf("pool = %v, want one: %v", pool, tt.wantPool)
			}
			if tt.status != Pass && (r.Code != int(codes.CAFile) || r.Fix == "") {
				t.Errorf("code %d fix %q, want %d and a fix", r.Code, r.Fix, codes.CAFile)
			}
		})
	}
	// The pool ExplainCAFile returns verifies the site's chain.
	pool, r := ExplainCAFile(filepath.Join(site.dir, pki.CACertFile))
	if r.Status != Pass {
		t.Fatalf("ExplainCAFile: %+v", r)
	}
	rep := ExplainChain([]*x509.Certificate{site.server}, ChainOptions{Roots: pool, Host: "127.0.0.1"})
	if !rep.Valid {
		t.Fatalf("site chain with the CA file's pool:\n%s", chainDump(rep))
	}
}

func chainDump(rep *ChainReport) string {
	var b strings.Builder
	for _, r := range rep.Checks {
		b.WriteString(string(r.Status) + " " + r.Name + " " + r.Found + "\n")
		for _, d := range r.Details {
			b.WriteString("    " + d + "\n")
		}
		if r.Fix != "" {
			b.WriteString("    fix: " + r.Fix + "\n")
		}
	}
	return b.String()
}
