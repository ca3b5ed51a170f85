package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestMutualTLS runs the production TLS configurations over loopback: a
// server that answers with its peer's role, and real HTTP clients.
func TestMutualTLS(t *testing.T) {
	// The handshake reads the real clock, so the certificates are made now.
	now := time.Now()
	dir := filepath.Join(t.TempDir(), "site")
	site, err := InitSite(dir, []string{"localhost", "127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	otherDir := filepath.Join(t.TempDir(), "other")
	if _, err := InitSite(otherDir, []string{"localhost", "127.0.0.1"}, now); err != nil {
		t.Fatal(err)
	}

	var served atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		role, err := RoleOf(r.TLS.PeerCertificates[0])
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		io.WriteString(w, string(role))
	}))
	srv.Listener.Close()
	srv.Listener, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.TLS, err = ServerTLSConfig(site.CACert, site.ServerCert, site.ServerKey, now)
	if err != nil {
		t.Fatal(err)
	}
	// StartTLS puts in its own certificate only when TLS.Certificates is
	// empty; ours must be the one served.
	srv.StartTLS()
	defer srv.Close()
	if got := srv.Certificate(); got == nil || got.Subject.CommonName != "licensor site server" {
		t.Fatalf("the server serves %v, not the site server certificate", got)
	}

	get := func(t *testing.T, cfg *tls.Config) (string, error) {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: cfg}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/whoami")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}

	for _, role := range []Role{RoleInstance, RoleRenew, RoleAdmin} {
		t.Run(string(role), func(t *testing.T) {
			c, err := IssueClient(dir, "client-"+string(role), role, 1, now)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := ClientTLSConfig(site.CACert, c.Cert, c.Key, now)
			if err != nil {
				t.Fatal(err)
			}
			got, err := get(t, cfg)
			if err != nil || got != string(role) {
				t.Fatalf("GET = %q, %v; want %q", got, err, role)
			}
		})
	}

	pool, err := LoadCertPool(site.CACert)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := IssueClient(otherDir, "intruder", RoleAdmin, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	foreignPair, err := LoadClientCertificate(foreign.Cert, foreign.Key, now)
	if err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name string
		cfg  *tls.Config
	}{
		{"client-of-another-ca", &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{foreignPair}}},
		// A Go client holds back a certificate the server's list of CAs does
		// not name; this one sends it anyway, for the server to refuse.
		{"client-of-another-ca-sent-anyway", &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreignPair, nil }}},
		{"client-of-another-ca-tls12", &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{foreignPair}}},
		{"no-client-certificate", &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}},
		{"tls-1.1", func() *tls.Config {
			legacy, err := IssueClient(dir, "legacy", RoleInstance, 1, now)
			if err != nil {
				t.Fatal(err)
			}
			c, err := ClientTLSConfig(site.CACert, legacy.Cert, legacy.Key, now)
			if err != nil {
				t.Fatal(err)
			}
			c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
			return c
		}()},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := served.Load()
			got, err := get(t, tt.cfg)
			if err == nil {
				t.Fatalf("GET succeeded: %q", got)
			}
			t.Logf("refused: %v", err)
			if served.Load() != before {
				t.Error("the handler ran for a refused client")
			}
		})
	}

	// The client refuses a server whose CA it does not trust.
	t.Run("server-of-another-ca", func(t *testing.T) {
		c, err := IssueClient(dir, "wary", RoleInstance, 1, now)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := ClientTLSConfig(filepath.Join(otherDir, CACertFile), c.Cert, c.Key, now)
		if err != nil {
			t.Fatal(err)
		}
		_, err = get(t, cfg)
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("GET = %v, want an unknown authority error", err)
		}
	})
}
