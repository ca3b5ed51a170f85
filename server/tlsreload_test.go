package server

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/store"
)

// get asks for /healthz and returns the certificate the server presented
// and whether the request went over a connection already open.
func get(t *testing.T, c *http.Client, url string) (serial string, reused bool) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+api.PathHealth, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", api.PathHealth, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body) // so the connection is kept alive
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", api.PathHealth, resp.Status)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.String(), reused
}

func TestReloadTLS(t *testing.T) {
	s := newSite(t)
	r := s.start()
	pkiDir := filepath.Join(s.dir, "pki")

	open := s.client("app1") // keeps its connection alive across the reload
	before, _ := get(t, open, r.url)

	// 'licensor pki server' reissues the certificate; SIGHUP reloads it.
	if _, err := pki.IssueServer(pkiDir, []string{"127.0.0.1", "localhost"}, t0); err != nil {
		t.Fatal(err)
	}
	if err := r.ReloadTLS(context.Background()); err != nil {
		t.Fatalf("ReloadTLS: %v", err)
	}
	after, reused := get(t, s.client("app2"), r.url)
	if reused || after == before {
		t.Fatalf("a new connection is served certificate %s (reused %v), the one from before the reload", after, reused)
	}
	if got, reused := get(t, open, r.url); !reused || got != before {
		t.Fatalf("the open connection: reused %v, certificate %s; want it kept, with %s", reused, got, before)
	}
	if !strings.Contains(s.logs.String(), "msg=reload-tls code=0") {
		t.Errorf("no reload-tls line:\n%s", grep(s.logs.String(), "reload"))
	}

	// A broken certificate file keeps the one in force, with the code.
	certFile := filepath.Join(pkiDir, pki.ServerCertFile)
	good, _ := os.ReadFile(certFile)
	os.WriteFile(certFile, []byte("not a certificate\n"), 0o644)
	err := r.ReloadTLS(context.Background())
	if codes.Of(err) != codes.ServerCert {
		t.Fatalf("ReloadTLS of a broken certificate = %v, want code %d", err, codes.ServerCert)
	}
	if got, _ := get(t, s.client("ops"), r.url); got != after {
		t.Fatalf("after a refused reload the server presents %s, want %s kept", got, after)
	}
	if line := grep(s.logs.String(), "level=ERROR msg=reload-tls"); !strings.Contains(line, "code=60") || !strings.Contains(line, "fix=") {
		t.Errorf("the refused reload's log line lacks code=60 and its fix:\n%s", line)
	}
	os.WriteFile(certFile, good, 0o644)

	// Each reload is in the audit log.
	var evs []store.Event
	if err := r.store.Audit(context.Background(), 0, func(e store.Event) error {
		if e.Kind == store.KindReload {
			evs = append(evs, e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || !strings.Contains(evs[0].Detail, "TLS certificate") || evs[1].Code != int(codes.ServerCert) {
		t.Errorf("audit events = %+v", evs)
	}
}

// TestReloadTLSClientCA: a CA added to tls.ca is trusted for client
// certificates from the next handshake, and named in the server's
// CertificateRequest.
func TestReloadTLSClientCA(t *testing.T) {
	s := newSite(t)
	r := s.start()
	other := t.TempDir()
	if _, err := pki.InitSite(other, []string{"127.0.0.1"}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.IssueClient(other, "app9", pki.RoleInstance, 30, t0); err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ClientTLSConfig(filepath.Join(s.dir, "pki", pki.CACertFile), filepath.Join(other, pki.ClientsDir, "app9.crt"), filepath.Join(other, pki.ClientsDir, "app9.key"), t0)
	if err != nil {
		t.Fatal(err)
	}
	pair := cfg.Certificates[0]
	var named bool
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(req *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		named = req.SupportsCertificate(&pair) == nil
		return &pair, nil // sent even when the server does not name its CA
	}
	dial := func() error {
		tr := &http.Transport{TLSClientConfig: cfg}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(r.url + api.PathHealth)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := dial(); err == nil || named {
		t.Fatalf("a client of another CA was served (named %v) before its CA was added", named)
	}

	caFile := filepath.Join(s.dir, "pki", pki.CACertFile)
	ours, _ := os.ReadFile(caFile)
	theirs, _ := os.ReadFile(filepath.Join(other, pki.CACertFile))
	os.WriteFile(caFile, append(ours, theirs...), 0o644)
	if err := r.ReloadTLS(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err != nil || !named {
		t.Fatalf("after the CA was added: %v (named %v)", err, named)
	}
	if _, reused := get(t, s.client("app1"), r.url); reused {
		t.Fatal("a fresh client reused a connection")
	}

	// A CA file that no longer reads keeps the CAs in force.
	os.WriteFile(caFile, nil, 0o644)
	if err := r.ReloadTLS(context.Background()); codes.Of(err) != codes.CAFile {
		t.Fatalf("ReloadTLS of an empty CA file = %v, want code %d", err, codes.CAFile)
	}
	if err := dial(); err != nil {
		t.Fatalf("after a refused reload: %v", err)
	}
}
