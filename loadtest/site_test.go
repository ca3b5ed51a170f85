package loadtest

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/storeopen"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/server"
)

// site is a complete site in a temporary directory, as server_test.go
// makes one: PKI with an instance client "app" and an admin "ops", vendor
// key, server key, license and configuration.
type site struct {
	tb    testing.TB
	dir   string
	clock clock.Clock
	fake  *clock.Fake // nil when the site runs on the system clock
	host  *fingerprint.Fingerprint
	cfg   server.Config
}

func fakeHost(name string) *fingerprint.Fingerprint {
	fp := &fingerprint.Fingerprint{Environment: fingerprint.BareMetal}
	for _, c := range fingerprint.Order {
		fp.Components = append(fp.Components, fingerprint.Component{Name: c, Hash: fingerprint.HashComponent(c, name+c)})
	}
	fp.Code = fingerprint.CodeOf(fp.Hashes())
	return fp
}

// product is a product valid for a month around now.
func product(name string, instances, qps int, now time.Time) license.Product {
	return license.Product{Subject: name, InstanceSize: instances, QPS: qps, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 1, 0)}
}

// newSite makes a site whose server reads fake (the system clock when
// nil), with products in its license.
func newSite(tb testing.TB, fake *clock.Fake, products ...license.Product) *site {
	tb.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	s := &site{tb: tb, dir: tb.TempDir(), clock: clock.System, fake: fake, host: fakeHost("bench-01")}
	if fake != nil {
		s.clock = fake
		now = fake.Now()
	}
	pkiDir := filepath.Join(s.dir, "pki")
	if _, err := pki.InitSite(pkiDir, []string{"127.0.0.1", "localhost"}, now); err != nil {
		tb.Fatal(err)
	}
	for name, role := range map[string]pki.Role{"app": pki.RoleInstance, "ops": pki.RoleAdmin} {
		if _, err := pki.IssueClient(pkiDir, name, role, 30, now); err != nil {
			tb.Fatal(err)
		}
	}
	vendorPub, vendorPriv, err := keys.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "vendor.pub"), keys.MarshalPublic(vendorPub), 0o644); err != nil {
		tb.Fatal(err)
	}
	serverPriv, _, err := keys.LoadOrCreate(filepath.Join(s.dir, "data", server.ServerKeyFile))
	if err != nil {
		tb.Fatal(err)
	}
	l := &license.License{Holder: "ACME", Issuer: "Vendor", Issued: now.Add(-time.Hour),
		Machines: []fingerprint.Machine{{Code: s.host.Code, Components: s.host.Hashes()}}, MatchMin: 4,
		ServerKey: keys.PublicJWK(serverPriv.Public().(ed25519.PublicKey)), Products: products}
	file, err := license.Sign(l, vendorPriv)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "site.lic"), file, 0o644); err != nil {
		tb.Fatal(err)
	}
	s.cfg = server.Default()
	s.cfg.Listen = "127.0.0.1:0"
	for _, p := range []*string{&s.cfg.License, &s.cfg.VendorPublicKey, &s.cfg.DataDir, &s.cfg.TLS.CA, &s.cfg.TLS.Cert, &s.cfg.TLS.Key} {
		*p = filepath.Join(s.dir, *p)
	}
	return s
}

// start serves the site on 127.0.0.1 until the test ends; it returns the
// server's URL.
func (s *site) start() string {
	s.tb.Helper()
	st, err := storeopen.Open(context.Background(), s.setting())
	if err != nil {
		s.tb.Fatal(err)
	}
	srv, err := server.New(s.cfg, server.Options{Clock: s.clock, Logger: slog.New(slog.DiscardHandler),
		Fingerprint: func() (*fingerprint.Fingerprint, error) { return s.host, nil }, Store: st})
	if err != nil {
		s.tb.Fatalf("server.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	s.tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			s.tb.Errorf("server.Run: %v", err)
		}
		srv.Close()
	})
	return "https://" + ln.Addr().String()
}

// clientTLS is the TLS configuration of the named client.
func (s *site) clientTLS(name string) *tls.Config {
	s.tb.Helper()
	pkiDir := filepath.Join(s.dir, "pki")
	cfg, err := pki.ClientTLSConfig(filepath.Join(pkiDir, pki.CACertFile),
		filepath.Join(pkiDir, pki.ClientsDir, name+".crt"), filepath.Join(pkiDir, pki.ClientsDir, name+".key"), s.clock.Now())
	if err != nil {
		s.tb.Fatal(err)
	}
	return cfg
}

// held asks the admin endpoint how many instances hold a seat, product by
// product.
func (s *site) held(url string) map[string]int {
	s.tb.Helper()
	tr := &http.Transport{TLSClientConfig: s.clientTLS("ops")}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url + api.PathInstances)
	if err != nil {
		s.tb.Fatal(err)
	}
	defer resp.Body.Close()
	var body server.InstancesBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		s.tb.Fatalf("GET %s: %d, %v", api.PathInstances, resp.StatusCode, err)
	}
	out := map[string]int{}
	for _, p := range body.Products {
		out[p.Product] = p.Held
	}
	return out
}
