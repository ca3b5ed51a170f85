package transport

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/pki"
)

// The timeouts of the transports under test: short, so that the cases
// that wait for them stay fast.
const (
	testConnectTimeout = 200 * time.Millisecond
	testReadTimeout    = 200 * time.Millisecond
)

// testPKI is a site CA made with pki.InitSite.
type testPKI struct {
	dir   string
	site  *pki.Site
	ca    *x509.Certificate
	caKey crypto.Signer
	pool  *x509.CertPool
}

func newTestPKI(t testing.TB, now time.Time) *testPKI {
	t.Helper()
	p := &testPKI{dir: filepath.Join(t.TempDir(), "site")}
	var err error
	if p.site, err = pki.InitSite(p.dir, []string{"127.0.0.1", "localhost"}, now); err != nil {
		t.Fatal(err)
	}
	if p.ca, p.caKey, err = pki.LoadCA(p.dir); err != nil {
		t.Fatal(err)
	}
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca)
	return p
}

// client issues a client certificate at now and loads it as the SDK would.
func (p *testPKI) client(t *testing.T, name string, now time.Time) *tls.Certificate {
	t.Helper()
	c, err := pki.IssueClient(p.dir, name, pki.RoleInstance, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := pki.LoadClientCertificate(c.Cert, c.Key, now)
	if err != nil {
		t.Fatal(err)
	}
	return &pair
}

// expiredClient issues a one-day client certificate at issued, long
// past. pki.LoadClientCertificate would refuse it, so it is loaded raw.
func (p *testPKI) expiredClient(t *testing.T, name string, issued time.Time) *tls.Certificate {
	t.Helper()
	c, err := pki.IssueClient(p.dir, name, pki.RoleInstance, 1, issued)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := os.ReadFile(c.Cert)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &pair
}

// serverConfig is the site server's TLS configuration (as
// pki.ServerTLSConfig makes it) serving cert.
func (p *testPKI) serverConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
		Certificates: []tls.Certificate{cert},
	}
}

// siteServerConfig is the production server configuration of the site.
func (p *testPKI) siteServerConfig(t *testing.T, now time.Time) *tls.Config {
	t.Helper()
	cfg, err := pki.ServerTLSConfig(p.site.CACert, p.site.ServerCert, p.site.ServerKey, now)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// sign makes a certificate from tmpl signed by parent (self-signed when
// parent is nil) and returns it with its key.
func sign(t testing.TB, tmpl, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, crypto.Signer) {
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
	tmpl.BasicConstraintsValid = true
	if tmpl.IsCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// rsaRoot is a self-signed RSA CA valid around now.
func rsaRoot(t *testing.T, name string, now time.Time) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// serverCert is a server certificate for 127.0.0.1 valid from notBefore
// to notAfter, signed by the site CA.
func (p *testPKI) serverCert(t *testing.T, notBefore, notAfter time.Time, dnsNames ...string) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:   pkix.Name{CommonName: "licensor site server"},
		NotBefore: notBefore, NotAfter: notAfter,
		DNSNames: dnsNames,
	}
	if len(dnsNames) == 0 {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	cert, key := sign(t, tmpl, p.ca, p.caKey)
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

// echo answers /echo with the request body and /forbidden with 403.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/echo":
		io.Copy(w, r.Body)
	case "/forbidden":
		http.Error(w, `{"code":515}`, http.StatusForbidden)
	default:
		http.NotFound(w, r)
	}
})

// serveTLS runs handler over TLS with cfg (httptest's own self-signed
// certificate when cfg is nil) on 127.0.0.1 until the test ends.
func serveTLS(t *testing.T, cfg *tls.Config, handler http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// blackhole accepts connections and never answers, until the test ends.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return "https://" + ln.Addr().String()
}

// closedPort returns the URL of a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "https://" + addr
}

// TestTransport produces every transport failure for real on loopback and
// checks its code and what its message says.
func TestTransport(t *testing.T) {
	// TLS checks certificates against the real clock: they are made now.
	now := time.Now()
	siteA := newTestPKI(t, now)
	siteB := newTestPKI(t, now)
	good := siteA.client(t, "app1", now)
	fromB := siteB.client(t, "app1", now)
	expired := siteA.expiredClient(t, "old", now.AddDate(-1, 0, 0))

	server := serveTLS(t, siteA.siteServerConfig(t, now), echo)
	plain := httptest.NewServer(echo)
	t.Cleanup(plain.Close)

	// A server certificate signed by an intermediate CA, served without it.
	inter, interKey := sign(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "licensor intermediate CA"}, IsCA: true,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	}, siteA.ca, siteA.caKey)
	leaf, leafKey := sign(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "licensor site server"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	}, inter, interKey)
	leafOnly := tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: leafKey, Leaf: leaf}

	// A server certificate signed by a certificate that is not a CA
	// (basicConstraints CA:FALSE), served with it: a name that matches,
	// a key that signed, and still refused.
	notCA, notCAKey := sign(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "licensor server used as a CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	}, siteA.ca, siteA.caKey)
	underNotCA, underNotCAKey := sign(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "licensor site server"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	}, notCA, notCAKey)
	notCAChain := tls.Certificate{Certificate: [][]byte{underNotCA.Raw, notCA.Raw}, PrivateKey: underNotCAKey, Leaf: underNotCA}

	// Server certificates signed with SHA-1 by the site CA (ECDSA) and by
	// an RSA CA.
	sha1Leaf := func(alg x509.SignatureAlgorithm, ca *x509.Certificate, caKey crypto.Signer) tls.Certificate {
		cert, key := sign(t, &x509.Certificate{
			Subject:     pkix.Name{CommonName: "licensor site server"},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			NotBefore:   now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			SignatureAlgorithm: alg,
		}, ca, caKey)
		if cert.SignatureAlgorithm != alg {
			t.Fatalf("signed with %s, want %s", cert.SignatureAlgorithm, alg)
		}
		return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	}
	rsaCA, rsaKey := rsaRoot(t, "licensor RSA CA", now)
	rsaPool := x509.NewCertPool()
	rsaPool.AddCert(rsaCA)

	// The site's CA made again: the same name, another key.
	remade, remadeKey := sign(t, &x509.Certificate{Subject: siteA.ca.Subject, IsCA: true,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}, nil, nil)
	fromRemade, fromRemadeKey := sign(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "licensor site server"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	}, remade, remadeKey)
	fromRemadeOnly := tls.Certificate{Certificate: [][]byte{fromRemade.Raw}, PrivateKey: fromRemadeKey, Leaf: fromRemade}

	// The site server limited to TLS 1.2, where the server refuses a
	// client certificate during the handshake rather than after it.
	tls12 := siteA.siteServerConfig(t, now)
	tls12.MaxVersion = tls.VersionTLS12
	server12 := serveTLS(t, tls12, echo)

	// A server that accepts the handshake and never answers the request.
	stuck := make(chan struct{})
	slow := serveTLS(t, siteA.siteServerConfig(t, now), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(stuck) }) // runs before slow.Close

	day := 24 * time.Hour
	tests := []struct {
		name       string
		url        string
		roots      *x509.CertPool // siteA.pool when nil
		cert       *tls.Certificate
		path       string // "/echo" when empty
		want       codes.Code
		wantStatus int      // when want is OK
		wantMsg    []string // in the error's message
		wantFix    []string // in its fix
		never      []string // in neither
	}{
		{name: "success", url: server.URL, cert: good, want: codes.OK, wantStatus: http.StatusOK},
		{name: "http-error-status-is-an-answer", url: server.URL, cert: good, path: "/forbidden", want: codes.OK, wantStatus: http.StatusForbidden},
		{name: "plain-http", url: "https://" + plain.Listener.Addr().String(), cert: good, want: codes.Protocol,
			wantMsg: []string{"plain HTTP"}},
		{name: "dns", url: "https://licensor.invalid:8443", cert: good, want: codes.Resolve,
			wantMsg: []string{`"licensor.invalid"`}},
		{name: "closed-port", url: closedPort(t), cert: good, want: codes.Connect,
			wantMsg: []string{"cannot connect", "connection refused"}},
		{name: "blackhole", url: blackhole(t), cert: good, want: codes.Timeout,
			wantMsg: []string{"no answer within 200ms"}},
		{name: "no-answer-to-request", url: slow.URL, cert: good, want: codes.Timeout,
			wantMsg: []string{"no answer within 200ms"}},
		{name: "server-expired-cert", url: serveTLS(t, siteA.serverConfig(siteA.serverCert(t, now.Add(-2*day), now.Add(-day))), echo).URL,
			cert: good, want: codes.ServerCert, wantMsg: []string{"expired on"}},
		{name: "server-not-yet-valid-cert", url: serveTLS(t, siteA.serverConfig(siteA.serverCert(t, now.Add(day), now.Add(2*day))), echo).URL,
			cert: good, want: codes.ServerCert, wantMsg: []string{"not valid yet"}},
		{name: "server-self-signed-cert", url: serveTLS(t, nil, echo).URL, cert: good, want: codes.ServerCert,
			wantMsg: []string{"self-signed"}},
		{name: "server-wrong-host", url: serveTLS(t, siteA.serverConfig(siteA.serverCert(t, now.Add(-time.Hour), now.Add(day), "other.example")), echo).URL,
			cert: good, want: codes.ServerCert, wantMsg: []string{"covers other.example, not 127.0.0.1"}},
		{name: "server-missing-intermediate", url: serveTLS(t, siteA.serverConfig(leafOnly), echo).URL, cert: good, want: codes.ServerCert,
			wantMsg: []string{`issued by "licensor intermediate CA"`, "missing intermediate"},
			wantFix: []string{"send it after its own certificate"}},
		{name: "server-unknown-ca", url: serveTLS(t, siteB.siteServerConfig(t, now), echo).URL, cert: fromB, want: codes.ServerCert,
			wantMsg: []string{fmt.Sprintf("issued by %q, which the CA file does not contain", siteB.ca.Subject.CommonName)}},
		{name: "server-ca-made-again", url: serveTLS(t, siteA.serverConfig(fromRemadeOnly), echo).URL, cert: good, want: codes.ServerCert,
			wantMsg: []string{fmt.Sprintf("issued by %q, which the CA file does not contain", siteA.ca.Subject.CommonName)},
			never:   []string{"not allowed to sign", "insecure"}},
		{name: "server-issuer-not-a-ca", url: serveTLS(t, siteA.serverConfig(notCAChain), echo).URL, cert: good, want: codes.ServerCert,
			wantMsg: []string{`"licensor site server" is issued by "licensor server used as a CA", which is not allowed to sign certificates`, "CA:FALSE"},
			wantFix: []string{"reissue the intermediate \"licensor server used as a CA\" as a CA (basicConstraints CA:TRUE, key usage keyCertSign)", "licensor pki server"},
			never:   []string{"missing intermediate", "send it after", "does not contain", "another CA"}},
		{name: "server-sha1-ecdsa", url: serveTLS(t, siteA.serverConfig(sha1Leaf(x509.ECDSAWithSHA1, siteA.ca, siteA.caKey)), echo).URL, cert: good, want: codes.ServerCert,
			wantMsg: []string{`"licensor site server" is signed with SHA-1 (ECDSA-SHA1), an insecure signature algorithm`},
			wantFix: []string{"SHA-256", "Ed25519", "licensor pki server"},
			never:   []string{"missing intermediate", "send it after", "does not contain", "another CA"}},
		{name: "server-sha1-rsa", url: serveTLS(t, siteA.serverConfig(sha1Leaf(x509.SHA1WithRSA, rsaCA, rsaKey)), echo).URL, roots: rsaPool, cert: good, want: codes.ServerCert,
			wantMsg: []string{`"licensor site server" is signed with SHA-1 (SHA1-RSA), an insecure signature algorithm`},
			wantFix: []string{"SHA-256", "Ed25519", "licensor pki server"},
			never:   []string{"missing intermediate", "send it after", "does not contain", "another CA"}},
		{name: "no-client-cert", url: server.URL, want: codes.ClientCert,
			wantMsg: []string{"requires a client certificate and none is configured"}},
		{name: "client-cert-from-other-ca", url: server.URL, cert: fromB, want: codes.TLSHandshake,
			wantMsg: []string{fmt.Sprintf(`client certificate "app1" is issued by %q; the server accepts certificates from %q`, siteB.ca.Subject.CommonName, siteA.ca.Subject.CommonName)}},
		{name: "no-client-cert-tls12", url: server12.URL, want: codes.ClientCert,
			wantMsg: []string{"requires a client certificate and none is configured"}},
		{name: "client-cert-from-other-ca-tls12", url: server12.URL, cert: fromB, want: codes.TLSHandshake,
			wantMsg: []string{fmt.Sprintf(`client certificate "app1" is issued by %q; the server accepts certificates from %q`, siteB.ca.Subject.CommonName, siteA.ca.Subject.CommonName)}},
		{name: "client-cert-expired", url: server.URL, cert: expired, want: codes.ClientCert,
			wantMsg: []string{`client certificate "old" expired at`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roots := tt.roots
			if roots == nil {
				roots = siteA.pool
			}
			tr, err := New(Config{URL: tt.url, RootCAs: roots, Certificate: tt.cert, Resolver: offlineResolver,
				ConnectTimeout: testConnectTimeout, ReadTimeout: testReadTimeout})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.CloseIdle()
			path := tt.path
			if path == "" {
				path = "/echo"
			}
			status, body, err := tr.Do(context.Background(), http.MethodPost, path, []byte(`{"hello":1}`))
			if tt.want == codes.OK {
				if err != nil || status != tt.wantStatus {
					t.Fatalf("do = %d, %v; want %d", status, err, tt.wantStatus)
				}
				if status == http.StatusOK && string(body) != `{"hello":1}` {
					t.Errorf("body = %q", body)
				}
				return
			}
			var e *codes.Error
			if !errors.As(err, &e) || e.Code != tt.want {
				t.Fatalf("do = %d, %v; want code %v", status, err, tt.want)
			}
			t.Logf("%v\n\tfix: %s", e, e.FixText())
			if !strings.Contains(e.Msg, tt.url) {
				t.Errorf("message %q does not name the server %s", e.Msg, tt.url)
			}
			for _, s := range tt.wantMsg {
				if !strings.Contains(e.Msg, s) {
					t.Errorf("message %q does not say %q", e.Msg, s)
				}
			}
			for _, s := range tt.wantFix {
				if !strings.Contains(e.FixText(), s) {
					t.Errorf("fix %q does not say %q", e.FixText(), s)
				}
			}
			for _, s := range tt.never {
				if strings.Contains(e.Msg, s) || strings.Contains(e.FixText(), s) {
					t.Errorf("%q or its fix %q says %q", e.Msg, e.FixText(), s)
				}
			}
			if e.Err == nil {
				t.Errorf("%v keeps no cause", e)
			}
		})
	}
}

// TestTransportKeepAlive checks that requests share one connection.
func TestTransportKeepAlive(t *testing.T) {
	now := time.Now()
	site := newTestPKI(t, now)
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(echo)
	srv.TLS = site.siteServerConfig(t, now)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	tr, err := New(Config{URL: srv.URL, RootCAs: site.pool, Certificate: site.client(t, "app1", now)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdle()
	for i := range 3 {
		if status, _, err := tr.Do(context.Background(), http.MethodGet, "/echo", nil); err != nil || status != http.StatusOK {
			t.Fatalf("request %d: %d, %v", i, status, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("3 requests took %d connections, want 1", n)
	}
}

// TestTransportCallerDeadline: a caller's context that expires is 28.
func TestTransportCallerDeadline(t *testing.T) {
	tr, err := New(Config{URL: blackhole(t), ConnectTimeout: time.Minute, ReadTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdle()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err = tr.Do(ctx, http.MethodGet, "/", nil)
	if e := codes.As(err); e == nil || e.Code != codes.Timeout || !strings.Contains(e.Msg, "caller's deadline") {
		t.Fatalf("do = %v, want 28 naming the caller's deadline", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not wrap context.DeadlineExceeded", err)
	}
}

func TestTransportConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want codes.Code
	}{
		{"ok", Config{URL: "https://licensor.example:8443"}, codes.OK},
		{"ok-trailing-slash", Config{URL: "https://127.0.0.1:8443/"}, codes.OK},
		{"ok-default-port", Config{URL: "https://licensor.example"}, codes.OK},
		{"http", Config{URL: "http://licensor.example:8443"}, codes.InvalidArgument},
		{"no-scheme", Config{URL: "licensor.example:8443"}, codes.InvalidArgument},
		{"no-host", Config{URL: "https://:8443"}, codes.InvalidArgument},
		{"empty", Config{}, codes.InvalidArgument},
		{"path", Config{URL: "https://licensor.example:8443/api"}, codes.InvalidArgument},
		{"query", Config{URL: "https://licensor.example:8443?x=1"}, codes.InvalidArgument},
		{"user", Config{URL: "https://u:p@licensor.example:8443"}, codes.InvalidArgument},
		{"port-zero", Config{URL: "https://licensor.example:0"}, codes.InvalidArgument},
		{"port-too-large", Config{URL: "https://licensor.example:70000"}, codes.InvalidArgument},
		{"does-not-parse", Config{URL: "https://licensor example"}, codes.InvalidArgument},
		{"negative-timeout", Config{URL: "https://licensor.example:8443", ReadTimeout: -time.Second}, codes.InvalidArgument},
		{"empty-certificate", Config{URL: "https://licensor.example:8443", Certificate: &tls.Certificate{}}, codes.ClientCert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := New(tt.cfg)
			if got := codes.Of(err); got != tt.want {
				t.Fatalf("New(%+v) = %v, want %v", tt.cfg, err, tt.want)
			}
			if err == nil {
				if tr.connectTimeout != time.Second || tr.readTimeout != 3*time.Second {
					t.Errorf("timeouts %s, %s; want the defaults 1s, 3s", tr.connectTimeout, tr.readTimeout)
				}
				if strings.HasSuffix(tr.url, "/") {
					t.Errorf("url %q ends with /", tr.url)
				}
			}
		})
	}
}

// timeoutError is a net.Error that timed out, as net/http's TLS
// handshake timeout is.
type timeoutError struct{}

func (timeoutError) Error() string   { return "net/http: TLS handshake timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// TestClassify classifies bare errors, as 'licensor doctor' does: those
// that are hard to produce on loopback, and the edges.
func TestClassify(t *testing.T) {
	const server = "https://licensor.example:8443"
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	coded := codes.Errorf(codes.CAFile, "no CA file")
	tests := []struct {
		name    string
		err     error
		want    codes.Code
		wantMsg string
	}{
		{"connect-timeout", dial(os.ErrDeadlineExceeded), codes.Timeout, "connect timed out"},
		{"handshake-timeout", &url.Error{Op: "Get", URL: server, Err: timeoutError{}}, codes.Timeout, "no answer"},
		{"caller-deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), codes.Timeout, "caller's deadline"},
		{"caller-canceled", fmt.Errorf("get: %w", context.Canceled), codes.Unknown, "canceled"},
		{"refused", dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), codes.Connect, "connection refused"},
		{"host-unreachable", dial(os.NewSyscallError("connect", syscall.EHOSTUNREACH)), codes.Connect, "no route to host"},
		{"network-unreachable", dial(os.NewSyscallError("connect", syscall.ENETUNREACH)), codes.Connect, "network is unreachable"},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, codes.Connect, "closed or reset"},
		{"eof", fmt.Errorf("handshake: %w", io.EOF), codes.Connect, "closed or reset"},
		{"dns", dial(&net.DNSError{Err: "no such host", Name: "licensor.invalid", IsNotFound: true}), codes.Resolve, `"licensor.invalid": no such host`},
		{"scheme-mismatch", &url.Error{Op: "Get", URL: server, Err: http.ErrSchemeMismatch}, codes.Protocol, "plain HTTP"},
		{"plain-http-record", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake", RecordHeader: [5]byte{'H', 'T', 'T', 'P', '/'}}, codes.Protocol, "plain HTTP"},
		{"not-tls", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake", RecordHeader: [5]byte{'S', 'S', 'H', '-', '2'}}, codes.Protocol, `"SSH-2"`},
		{"alert-certificate-required", &net.OpError{Op: "remote error", Err: tls.AlertError(116)}, codes.ClientCert, "requires a client certificate"},
		{"alert-certificate-expired", &net.OpError{Op: "remote error", Err: tls.AlertError(45)}, codes.ClientCert, "expired"},
		{"alert-bad-certificate", &net.OpError{Op: "remote error", Err: tls.AlertError(42)}, codes.TLSHandshake, `alert "bad certificate"`},
		{"alert-protocol-version", &net.OpError{Op: "remote error", Err: tls.AlertError(70)}, codes.TLSHandshake, "protocol version"},
		{"hostname", &tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"a.example"}}, Host: "b.example"}}, codes.ServerCert, "covers a.example, not b.example"},
		{"hostname-no-names", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "b.example"}, codes.ServerCert, "covers no host name"},
		{"already-coded", fmt.Errorf("loading: %w", coded), codes.CAFile, "no CA file"},
		{"other", errors.New("boom"), codes.Unknown, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Classify(server, tt.err)
			if e == nil || e.Code != tt.want {
				t.Fatalf("Classify(%v) = %v, want code %v", tt.err, e, tt.want)
			}
			if !strings.Contains(e.Detail(), tt.wantMsg) {
				t.Errorf("message %q does not say %q", e.Detail(), tt.wantMsg)
			}
			if tt.want != codes.CAFile && !strings.Contains(e.Msg, server) {
				t.Errorf("message %q does not name the server", e.Msg)
			}
			if !errors.Is(e, tt.err) && tt.want != codes.CAFile {
				t.Errorf("%v does not wrap %v", e, tt.err)
			}
		})
	}
	if e := Classify(server, nil); e != nil {
		t.Errorf("Classify(nil) = %v", e)
	}
}

// TestReason: a classified failure's message loses the server's URL it
// starts with, so that a line naming the server does not name it twice;
// other messages are kept whole.
func TestReason(t *testing.T) {
	const server = "https://licensor.example:8443"
	refused := Classify(server, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	tests := []struct {
		name, server string
		err          error
		want         string
	}{
		{"connect", server, refused, "cannot connect: connection refused: dial tcp: connect: connection refused"},
		{"trailing-slash", server + "/", refused, "cannot connect: connection refused: dial tcp: connect: connection refused"},
		{"another-server", "https://b.example:8443", refused, refused.Detail()},
		{"verdict", server, codes.Errorf(codes.InstanceLimit, "ocr: 1 of 1 held"), "ocr: 1 of 1 held"},
		{"names-the-server-later", server, codes.Errorf(codes.Protocol, "%s answered in plain HTTP", server), server + " answered in plain HTTP"},
		{"uncoded", server, errors.New("boom"), "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reason(tt.server, tt.err); got != tt.want {
				t.Errorf("Reason = %q, want %q", got, tt.want)
			}
		})
	}
}

// offlineResolver fails every lookup without a packet leaving the machine:
// tests reach only loopback.
var offlineResolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
	return nil, errors.New("no DNS server in tests")
}}
