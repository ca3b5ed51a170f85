package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/keyfile"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/server"
	"github.com/licensor/licensor/whitelist"
)

// TestVendorToProductOffline runs the whole second authorization model on
// loopback: the vendor's whitelist service grants a site server in
// upstream mode its license; a host renews its key file from that server;
// the product verifies the key file offline. The contract is renewed
// without a restart, and when the grant's grace period ends (a fake
// clock) the site server stops with 526.
func TestVendorToProductOffline(t *testing.T) {
	site := sitetest.New(t)
	now := site.Clock.Now()

	// The vendor: its signing key, its whitelist, its HTTPS service.
	vendorDir := t.TempDir()
	vendorKey := filepath.Join(vendorDir, "vendor.key")
	if err := os.WriteFile(vendorKey, keys.MarshalPrivate(site.VendorPriv), 0o600); err != nil {
		t.Fatal(err)
	}
	vendorPKI, err := pki.InitSite(filepath.Join(vendorDir, "pki"), []string{"127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	wl, err := whitelist.Open(filepath.Join(vendorDir, "wl", whitelist.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	ocr := license.Product{Subject: "ocr", Functions: []string{"decode"}, InstanceSize: 3, NotBefore: now.Add(-time.Hour)}
	approve := func(until time.Time) {
		t.Helper()
		if err := wl.Approve(whitelist.Approval{MachineCode: site.Host.Code, Customer: "ACME", Until: until, Products: []license.Product{ocr}, Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	approve(now.AddDate(0, 0, 30))
	wl.Close()
	h := newHarness(t)
	h.clock, h.env.Clock, h.host = site.Clock, site.Clock, site.Host
	cfg := whitelist.Default()
	cfg.Listen, cfg.DataDir, cfg.VendorKey = "127.0.0.1:0", filepath.Join(vendorDir, "wl"), vendorKey
	cfg.TLS = whitelist.TLSConfig{Cert: vendorPKI.ServerCert, Key: vendorPKI.ServerKey}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := make(chan string, 1), make(chan error, 1)
	env := *h.env
	env.Stderr = io.Discard
	go func() { done <- env.serveWhitelist(ctx, cfg, func(a string) { addr <- a }) }()
	vendorURL := "https://" + <-addr

	// The site server, in upstream mode: no license file of its own.
	srv := site.NewServer("a", sitetest.Product("ocr", 3, 0))
	os.Remove(srv.Config.License)
	srv.Config.Upstream, srv.Config.UpstreamCA = []string{vendorURL}, vendorPKI.CACert
	srv.Config.UpstreamInterval, srv.Config.ReapInterval = server.Duration(time.Second), server.Duration(20*time.Millisecond)
	r := srv.Start("")
	var lic struct {
		Issuer   string
		DaysLeft float64
	}
	getLicense := func() {
		t.Helper()
		cert, key := site.Client("ops")
		tlsCfg, _ := pki.ClientTLSConfig(site.CA(), cert, key, time.Now())
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
		defer hc.CloseIdleConnections()
		resp, err := hc.Get(r.URL + api.PathLicense)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&lic)
	}
	getLicense()
	if lic.Issuer != whitelist.Issuer || lic.DaysLeft < 119 {
		t.Fatalf("the site's license: %+v", lic)
	}

	// A host renews its key file; the product verifies it offline.
	cert, key := site.Client("renewer")
	keyPath := filepath.Join(h.dir, "host.key")
	h.mustRun("renew", keyPath, r.URL, "--ca", site.CA(), "--cert", cert, "--key", key, "--vendor-pub", site.VendorPubFile())
	v, err := keyfile.NewVerifier(keyfile.Options{Path: keyPath, Vendor: site.VendorPub, Product: "ocr", Clock: site.Clock,
		Host: func() (*fingerprint.Fingerprint, error) { return site.Host, nil }, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Check(); err != nil {
		t.Fatalf("offline check: %v", err)
	}

	// The contract is renewed: the site server picks it up without a restart.
	wl, _ = whitelist.Open(filepath.Join(vendorDir, "wl", whitelist.DBFile))
	approve(now.AddDate(1, 0, 0))
	wl.Close()
	deadline := time.Now().Add(10 * time.Second)
	for getLicense(); lic.DaysLeft < 400; getLicense() {
		if time.Now().After(deadline) {
			t.Fatalf("the renewed contract was not picked up: %+v", lic)
		}
		time.Sleep(20 * time.Millisecond) // waiting for the upstream loop, not for time to pass
	}

	// The vendor's service goes away; past the grant's end (contract +
	// grace) the site server stops with 526, and the key file has lapsed.
	cancel()
	<-done
	site.Clock.Advance(366*24*time.Hour + 91*24*time.Hour)
	if err := r.Wait(10 * time.Second); codes.Of(err) != codes.GrantExpired {
		t.Fatalf("the site server ended with %v, want grant_expired", err)
	}
	if err := v.Check(); codes.Of(err) != codes.KeyFileExpired {
		t.Fatalf("offline check after the end = %v", err)
	}
	if status := Report(io.Discard, codes.Errorf(codes.GrantExpired, "x")); status != ExitGrantExpired {
		t.Fatalf("exit status for 526 = %d", status)
	}
}
