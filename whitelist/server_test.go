package whitelist

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/pki"
)

// TestHTTPS runs the service over real TLS on loopback: a certificate
// from a CA made here, no client certificate, and an HTTP client that
// trusts only that CA.
func TestHTTPS(t *testing.T) {
	// The handshake reads the real clock, so the certificates are made now;
	// the grants read the fake clock.
	now := time.Now()
	dir := t.TempDir()
	site, err := pki.InitSite(filepath.Join(dir, "pki"), []string{"localhost", "127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	vendorPub, vendor, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.WritePair(filepath.Join(dir, "vendor.key"), filepath.Join(dir, "vendor.pub"), vendor); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.TLS = TLSConfig{Cert: site.ServerCert, Key: site.ServerKey}
	cfg.VendorKey, cfg.DataDir = filepath.Join(dir, "vendor.key"), filepath.Join(dir, "data")
	clk := clock.NewFake(now)
	srv, err := NewServer(cfg, clk, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	until := now.AddDate(1, 0, 0).UTC().Truncate(time.Second)
	a := approval(siteHost.Code, until)
	a.Created, a.Products[1].NotBefore = now, time.Time{}
	if err := srv.store.Approve(a); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	pool, err := pki.LoadCertPool(site.CACert)
	if err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}
	url := "https://" + ln.Addr().String() + PathGrant
	post := func(t *testing.T, body []byte) (*http.Response, []byte) {
		t.Helper()
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, data
	}

	s := newSite(t, now)
	t.Run("granted", func(t *testing.T) {
		resp, data := post(t, s.body)
		if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Fatalf("HTTP %d over %v: %s", resp.StatusCode, resp.TLS, data)
		}
		var g api.GrantBody
		if err := json.Unmarshal(data, &g); err != nil {
			t.Fatal(err)
		}
		checkGrantHTTP(t, &g, vendorPub, s, until)
	})
	t.Run("revoked", func(t *testing.T) {
		if err := srv.store.Revoke(siteHost.Code, now); err != nil {
			t.Fatal(err)
		}
		defer srv.store.Approve(a)
		resp, data := post(t, s.body)
		checkError(t, resp, data, codes.NotWhitelisted)
	})
	t.Run("expired", func(t *testing.T) {
		clk.Set(until.Add(DefaultGrace + time.Second))
		defer clk.Set(now)
		resp, data := post(t, s.body)
		checkError(t, resp, data, codes.GrantExpired)
	})
	t.Run("malformed", func(t *testing.T) {
		resp, data := post(t, []byte(`{"version":2}`))
		checkError(t, resp, data, codes.RequestMalformed)
	})
	t.Run("too-large", func(t *testing.T) {
		resp, data := post(t, bytes.Repeat([]byte(" "), 1<<20))
		checkError(t, resp, data, codes.RequestMalformed)
	})
}

func checkGrantHTTP(t *testing.T, g *api.GrantBody, vendorPub ed25519.PublicKey, s site, until time.Time) {
	t.Helper()
	signed, err := parseAndVerify(g.License, vendorPub)
	if err != nil {
		t.Fatal(err)
	}
	if signed.Machines[0].Code != siteHost.Code || !g.NotAfter.Equal(until.Add(DefaultGrace)) {
		t.Errorf("grant for %s until %v", signed.Machines[0].Code, g.NotAfter)
	}
	if pub, _ := signed.ServerPublicKey(); !pub.Equal(s.key) {
		t.Errorf("the grant trusts another server key")
	}
}

func checkError(t *testing.T, resp *http.Response, data []byte, want codes.Code) {
	t.Helper()
	var e api.ErrorBody
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("HTTP %d: %s: %v", resp.StatusCode, data, err)
	}
	if resp.StatusCode != want.HTTPStatus() || e.Code != int(want) || e.Name != want.Name() || e.Message == "" || e.Fix == "" {
		t.Errorf("HTTP %d %+v; want %d %v", resp.StatusCode, e, want.HTTPStatus(), want)
	}
}
