package cli

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/doctor"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/pki"
)

func TestDoctorCert(t *testing.T) {
	h := newHarness(t)
	h.mustRun("pki", "init", "--dir", "$DIR/site", "--hosts", "127.0.0.1,localhost")
	h.mustRun("pki", "init", "--dir", "$DIR/other", "--hosts", "127.0.0.1")
	h.mustRun("pki", "client", "--dir", "$DIR/site", "--name", "app1", "--role", "instance")

	tests := []struct {
		name   string
		args   []string
		status int
		say    []string // in stdout
		never  []string // not in stdout
	}{
		{"good-chain", []string{"$DIR/site/server.crt", "--ca", "$DIR/site/ca.crt", "--host", "127.0.0.1"}, ExitOK,
			[]string{"subject:   licensor site server", "days left", "IPs:       127.0.0.1", "usage:     serverAuth",
				"pass  ca-file", "pass  order", "pass  dates", "pass  chain", "pass  host", "pass  key-usage"},
			[]string{"FAIL"}},
		{"good-chain-without-ca", []string{"$DIR/site/server.crt"}, ExitOK,
			[]string{"skip  chain", "skip  host"}, []string{"FAIL"}},
		{"wrong-host", []string{"$DIR/site/server.crt", "--ca", "$DIR/site/ca.crt", "--host", "auth.example.com"}, ExitFailure,
			[]string{"FAIL  host", tag(codes.ServerCert), `"auth.example.com"`, "fix: ", "--hosts localhost,127.0.0.1,::1,auth.example.com", "pass  chain"}, nil},
		{"unknown-ca", []string{"$DIR/other/server.crt", "--ca", "$DIR/site/ca.crt"}, ExitFailure,
			[]string{"FAIL  chain", tag(codes.ServerCert), "unknown CA"}, nil},
		{"client-cert", []string{"$DIR/site/clients/app1.crt", "--ca", "$DIR/site/ca.crt", "--client"}, ExitOK,
			[]string{"role:      instance", "pass  chain", "pass  key-usage", "pass  role", "skip  host"}, []string{"FAIL"}},
		{"client-cert-as-server", []string{"$DIR/site/clients/app1.crt", "--ca", "$DIR/site/ca.crt"}, ExitFailure,
			[]string{"FAIL  key-usage", tag(codes.ServerCert), "clientAuth"}, nil},
		{"server-cert-as-client", []string{"$DIR/site/server.crt", "--client"}, ExitFailure,
			[]string{"FAIL  key-usage", tag(codes.ClientCert), "FAIL  role"}, nil},
		{"ca-file-missing", []string{"$DIR/site/server.crt", "--ca", "$DIR/nope.crt"}, ExitFailure,
			[]string{"FAIL  ca-file", tag(codes.CAFile), "skip  chain"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"doctor", "cert"}, tt.args...)
			if got := h.run(args...); got != tt.status {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tt.status, h.stdout, h.stderr)
			}
			out := h.stdout.String()
			for _, s := range tt.say {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.never {
				if strings.Contains(out, s) {
					t.Errorf("output has %q:\n%s", s, out)
				}
			}
			if h.stderr.Len() != 0 {
				t.Errorf("stderr is not empty (the report is the output):\n%s", h.stderr)
			}
		})
	}
}

func TestDoctorCertJSON(t *testing.T) {
	h := newHarness(t)
	h.mustRun("pki", "init", "--dir", "$DIR/site", "--hosts", "127.0.0.1,localhost")
	for _, tt := range []struct {
		name   string
		host   string
		status int
		valid  bool
	}{
		{"good-chain", "localhost", ExitOK, true},
		{"wrong-host", "auth.example.com", ExitFailure, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.run("doctor", "cert", "$DIR/site/server.crt", "--ca", "$DIR/site/ca.crt", "--host", tt.host, "--json"); got != tt.status {
				t.Fatalf("exit %d, want %d\n%s%s", got, tt.status, h.stdout, h.stderr)
			}
			var rep doctor.ChainReport
			if err := json.Unmarshal(h.stdout.Bytes(), &rep); err != nil {
				t.Fatalf("--json: %v\n%s", err, h.stdout)
			}
			if rep.Valid != tt.valid || len(rep.Certificates) != 1 || rep.Certificates[0].Subject != "licensor site server" {
				t.Fatalf("report: %+v", rep)
			}
			var names []string
			for _, r := range rep.Checks {
				names = append(names, r.Name)
			}
			if got, want := strings.Join(names, " "), "ca-file order dates self-signed chain host key-usage"; got != want {
				t.Errorf("checks %q, want %q", got, want)
			}
		})
	}
}

func TestDoctorCertUsage(t *testing.T) {
	h := newHarness(t)
	h.mustRun("pki", "init", "--dir", "$DIR/site", "--hosts", "127.0.0.1")
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"no-file", nil},
		{"host-with-client", []string{"$DIR/site/server.crt", "--client", "--host", "127.0.0.1"}},
		{"unknown-flag", []string{"$DIR/site/server.crt", "--hostname", "x"}},
		{"flag-without-value", []string{"$DIR/site/server.crt", "--ca"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.run(append([]string{"doctor", "cert"}, tt.args...)...); got != ExitUsage {
				t.Fatalf("exit %d, want %d\n%s%s", got, ExitUsage, h.stdout, h.stderr)
			}
		})
	}
	out := h.mustRun("help", "doctor", "cert")
	if !strings.HasPrefix(out, "Usage: licensor doctor cert") || !strings.Contains(out, "--client") {
		t.Errorf("help:\n%s", out)
	}
}

func TestDoctorCertBadFiles(t *testing.T) {
	h := newHarness(t)
	h.mustRun("pki", "init", "--dir", "$DIR/site", "--hosts", "127.0.0.1")
	for _, tt := range []struct {
		name string
		file string
		code codes.Code
	}{
		{"missing", "$DIR/nope.crt", codes.FileMissing},
		{"key-not-certificate", "$DIR/site/server.key", codes.ServerCert},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.run("doctor", "cert", tt.file); got != ExitFailure {
				t.Fatalf("exit %d, want %d", got, ExitFailure)
			}
			if !strings.Contains(h.stderr.String(), tag(tt.code)) {
				t.Errorf("stderr lacks %q:\n%s", tag(tt.code), h.stderr)
			}
		})
	}
}

// faultyChains are server chains whose names lead to a site's CA but
// that TLS refuses, each written as a certificate file (leaf first) and
// key file, and served by a real TLS server with the site server's
// production configuration.
type faultyChains struct {
	notCA, sha1 faultyServer // an intermediate with CA:FALSE; a leaf signed with ECDSA-SHA1
}

type faultyServer struct {
	cert, key, url string
}

// newFaultyChains makes the chains under the CA in caDir (a 'licensor
// pki init' directory) at the real time, which TLS checks them against.
func newFaultyChains(t *testing.T, caDir string) *faultyChains {
	t.Helper()
	ca, caKey, err := pki.LoadCA(caDir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	dir := t.TempDir()
	make := func(name string, parent *x509.Certificate, parentKey crypto.Signer, alg x509.SignatureAlgorithm) (*x509.Certificate, crypto.Signer) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true, SignatureAlgorithm: alg, // IsCA false: CA:FALSE
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if alg != 0 && cert.SignatureAlgorithm != alg {
			t.Fatalf("%q is signed with %s, want %s", name, cert.SignatureAlgorithm, alg)
		}
		return cert, key
	}
	serve := func(name string, key crypto.Signer, chain ...*x509.Certificate) faultyServer {
		s := faultyServer{cert: filepath.Join(dir, name+".crt"), key: filepath.Join(dir, name+".key")}
		var certPEM []byte
		for _, c := range chain {
			certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(s.cert, certPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(s.key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := pki.ServerTLSConfig(filepath.Join(caDir, pki.CACertFile), s.cert, s.key, now)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.NotFoundHandler())
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
		srv.TLS = cfg
		srv.StartTLS()
		t.Cleanup(srv.Close)
		s.url = srv.URL
		return s
	}
	inter, interKey := make("licensor server used as a CA", ca, caKey, 0)
	leaf, leafKey := make("licensor site server", inter, interKey, 0)
	sha1, sha1Key := make("licensor site server", ca, caKey, x509.ECDSAWithSHA1)
	return &faultyChains{
		notCA: serve("not-ca", leafKey, leaf, inter),
		sha1:  serve("sha1", sha1Key, sha1),
	}
}

// The words of the diagnoses these chains used to get, which name a
// cause they do not have.
var wrongChainCauses = []string{"another key", "missing intermediate", "Send the intermediate with the leaf", "send it after its own certificate", "which the CA file does not contain", "unknown CA"}

// TestDoctorChainFaults: 'doctor cert' offline and 'doctor' against a
// real server name an issuer that is not a CA, and a SHA-1 signature,
// with their fixes.
func TestDoctorChainFaults(t *testing.T) {
	site := sitetest.New(t)
	caDir := filepath.Dir(site.CA())
	bad := newFaultyChains(t, caDir)
	h := newHarness(t)
	h.env.Clock = site.Clock
	cert, key := site.Client("app1")
	tests := []struct {
		name   string
		server faultyServer
		say    []string
	}{
		{"issuer-not-a-ca", bad.notCA, []string{
			`issuer not a CA: certificate 1 "licensor site server" is issued by certificate 2 "licensor server used as a CA", which is not allowed to sign certificates: it is not a CA (basicConstraints CA:FALSE)`,
			`fix: Its issuer is not a CA: reissue the intermediate "licensor server used as a CA" as a CA (basicConstraints CA:TRUE, key usage keyCertSign)`,
			"licensor pki server"}},
		{"sha1-signature", bad.sha1, []string{
			`insecure signature: certificate 1 "licensor site server" is signed with SHA-1 (ECDSA-SHA1), an insecure signature algorithm`,
			"fix: Reissue the certificate signed with SHA-256 (ECDSA or RSA) or Ed25519", "licensor pki server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/doctor-cert", func(t *testing.T) {
			if got := h.run("doctor", "cert", tt.server.cert, "--ca", site.CA(), "--host", "127.0.0.1"); got != ExitFailure {
				t.Fatalf("exit %d, want %d\n%s%s", got, ExitFailure, h.stdout, h.stderr)
			}
			out := h.stdout.String()
			checkSays(t, out, append([]string{"FAIL  chain", tag(codes.ServerCert), "pass  order"}, tt.say...), wrongChainCauses)
		})
		t.Run(tt.name+"/doctor", func(t *testing.T) {
			if got := h.run("doctor", "--server", tt.server.url, "--ca", site.CA(), "--cert", cert, "--key", key); got != ExitFailure {
				t.Fatalf("exit %d, want %d\n%s%s", got, ExitFailure, h.stdout, h.stderr)
			}
			out := h.stdout.String()
			checkSays(t, out, append([]string{"pass  tls", "FAIL  server-cert", tag(codes.ServerCert)}, tt.say...), wrongChainCauses)
		})
	}
}

// checkSays fails unless out has every one of say and none of never.
func checkSays(t *testing.T, out string, say, never []string) {
	t.Helper()
	for _, s := range say {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	for _, s := range never {
		if strings.Contains(out, s) {
			t.Errorf("output has %q:\n%s", s, out)
		}
	}
}
