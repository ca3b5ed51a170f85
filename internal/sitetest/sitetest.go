// Package sitetest makes a complete site for tests — PKI, vendor key,
// server key, license, configuration — and runs real site servers on
// loopback with it.
package sitetest

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/storeopen"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/server"
)

// Site is a site in a temporary directory.
type Site struct {
	Dir        string
	Clock      *clock.Fake
	Host       *fingerprint.Fingerprint
	VendorPub  ed25519.PublicKey
	VendorPriv ed25519.PrivateKey
	Logs       io.Writer
	t          testing.TB
}

// FakeHost is a fingerprint made from a name.
func FakeHost(name string) *fingerprint.Fingerprint {
	fp := &fingerprint.Fingerprint{Environment: fingerprint.BareMetal}
	for _, c := range fingerprint.Order {
		fp.Components = append(fp.Components, fingerprint.Component{Name: c, Hash: fingerprint.HashComponent(c, name+c)})
	}
	fp.Code = fingerprint.CodeOf(fp.Hashes())
	return fp
}

// Product is a product valid from an hour ago for a month.
func Product(subject string, instances, qps int) license.Product {
	now := time.Now().UTC().Truncate(time.Second)
	return license.Product{Subject: subject, Functions: []string{"basic"}, InstanceSize: instances, QPS: qps,
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 1, 0)}
}

// New makes a site: a CA with a server certificate for 127.0.0.1 and
// client certificates "app1", "app2" (instance), "ops" (admin) and
// "renewer" (renew). The clock is a fake one at the current second (TLS
// checks certificates against the real clock).
func New(t testing.TB) *Site {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	s := &Site{Dir: t.TempDir(), Clock: clock.NewFake(now), Host: FakeHost("auth-01"), Logs: io.Discard, t: t}
	if _, err := pki.InitSite(s.pki(), []string{"127.0.0.1", "localhost"}, now); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		role pki.Role
	}{{"app1", pki.RoleInstance}, {"app2", pki.RoleInstance}, {"ops", pki.RoleAdmin}, {"renewer", pki.RoleRenew}} {
		if _, err := pki.IssueClient(s.pki(), c.name, c.role, 30, now); err != nil {
			t.Fatal(err)
		}
	}
	s.VendorPub, s.VendorPriv, _ = keys.Generate()
	if err := os.WriteFile(s.VendorPubFile(), keys.MarshalPublic(s.VendorPub), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Site) pki() string { return filepath.Join(s.Dir, "pki") }

// VendorPubFile is the vendor's public key file.
func (s *Site) VendorPubFile() string { return filepath.Join(s.Dir, "vendor.pub") }

// CA is the site CA file.
func (s *Site) CA() string { return filepath.Join(s.pki(), pki.CACertFile) }

// Client returns the certificate and key files of a client.
func (s *Site) Client(name string) (cert, key string) {
	return filepath.Join(s.pki(), pki.ClientsDir, name+".crt"), filepath.Join(s.pki(), pki.ClientsDir, name+".key")
}

// Server is one site server's files: its data directory, key, license.
type Server struct {
	site   *Site
	Name   string
	Config server.Config
	Key    ed25519.PrivateKey
	// Clock, when set, is this server's own clock instead of the site's.
	Clock *clock.Fake
}

// NewServer makes a server (its own data directory and server key) with a
// license for the site's host and the given products.
func (s *Site) NewServer(name string, products ...license.Product) *Server {
	s.t.Helper()
	dir := filepath.Join(s.Dir, name)
	key, _, err := keys.LoadOrCreate(filepath.Join(dir, "data", server.ServerKeyFile))
	if err != nil {
		s.t.Fatal(err)
	}
	cfg := server.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.License = filepath.Join(dir, "site.lic")
	cfg.VendorPublicKey = s.VendorPubFile()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.TLS = server.TLSConfig{CA: s.CA(), Cert: filepath.Join(s.pki(), pki.ServerCertFile), Key: filepath.Join(s.pki(), pki.ServerKeyFile)}
	srv := &Server{site: s, Name: name, Config: cfg, Key: key}
	srv.WriteLicense(s.Host, key.Public().(ed25519.PublicKey), products...)
	return srv
}

// WriteLicense writes the server's license: bound to host, trusting
// serverKey.
func (srv *Server) WriteLicense(host *fingerprint.Fingerprint, serverKey ed25519.PublicKey, products ...license.Product) {
	s := srv.site
	s.t.Helper()
	l := &license.License{Holder: "ACME", Issuer: "Vendor", Issued: s.Clock.Now().Add(-time.Hour),
		Machines: []fingerprint.Machine{{Code: host.Code, Components: host.Hashes()}}, MatchMin: 4,
		ServerKey: keys.PublicJWK(serverKey), Products: products}
	file, err := license.Sign(l, s.VendorPriv)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(srv.Config.License, file, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// Running is a server serving on loopback.
type Running struct {
	*server.Server
	URL    string
	Addr   string
	cancel context.CancelFunc
	done   chan error
}

// Start runs the server on a loopback port (addr "" picks one; give the
// previous Addr to restart on the same port). It stops at test end.
func (srv *Server) Start(addr string) *Running {
	s := srv.site
	s.t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	st, err := storeopen.Open(context.Background(), storeopen.Setting{Store: srv.Config.Store, PasswordFile: srv.Config.StorePassword,
		DataDir: srv.Config.DataDir, Node: srv.Config.Node})
	if err != nil {
		s.t.Fatalf("server %s: %v", srv.Name, err)
	}
	clk := s.Clock
	if srv.Clock != nil {
		clk = srv.Clock
	}
	sv, err := server.New(srv.Config, server.Options{Clock: clk, Logger: slog.New(slog.NewTextHandler(s.Logs, nil)),
		Fingerprint: func() (*fingerprint.Fingerprint, error) { return s.Host, nil }, Store: st})
	if err != nil {
		s.t.Fatalf("server %s: %v", srv.Name, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{Server: sv, URL: "https://" + ln.Addr().String(), Addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- sv.Run(ctx, ln) }()
	s.t.Cleanup(r.Stop)
	return r
}

// Stop shuts the server down (gracefully: in-flight requests finish) and
// closes its store. Stopping twice is harmless.
func (r *Running) Stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.Close()
	r.cancel = nil
}

// Kill stops the server at once, dropping open connections, as a crash
// would (the store is closed cleanly: SQLite keeps what was committed
// either way).
func (r *Running) Kill() {
	if r.cancel == nil {
		return
	}
	r.Server.SetShutdownTimeout(0)
	r.Stop()
}

// Wait waits for the server to stop by itself (a grant that ran out) and
// returns why; it gives up after timeout.
func (r *Running) Wait(timeout time.Duration) error {
	select {
	case err := <-r.done:
		r.cancel()
		r.Close()
		r.cancel = nil
		return err
	case <-time.After(timeout):
		return context.DeadlineExceeded
	}
}
