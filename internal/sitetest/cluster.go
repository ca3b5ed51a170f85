package sitetest

import (
	"crypto/ed25519"
	"os"
	"time"

	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

// NewCluster makes one server per name, each with its own data directory
// and server key, and gives them one cluster license naming every node
// on the site's host (several ports, one machine).
func (s *Site) NewCluster(names []string, products ...license.Product) []*Server {
	s.t.Helper()
	servers := make([]*Server, len(names))
	for i, name := range names {
		servers[i] = s.NewServer(name, products...)
	}
	s.WriteClusterLicense(servers, nil, products...)
	return servers
}

// WriteClusterLicense signs a cluster license naming each of servers as a
// node, with its name and its own key, on hosts[i] (the site's host when
// hosts is nil), and writes it to every server's license file. It
// returns the license file.
func (s *Site) WriteClusterLicense(servers []*Server, hosts []*fingerprint.Fingerprint, products ...license.Product) []byte {
	s.t.Helper()
	l := &license.License{Holder: "ACME", Issuer: "Vendor", Issued: s.Clock.Now().Add(-time.Hour), MatchMin: 4, Products: products}
	for i, srv := range servers {
		host := s.Host
		if hosts != nil {
			host = hosts[i]
		}
		l.Cluster = append(l.Cluster, license.Node{Name: srv.Name, Machine: fingerprint.Machine{Code: host.Code, Components: host.Hashes()},
			ServerKey: keys.PublicJWK(srv.Key.Public().(ed25519.PublicKey))})
	}
	file, err := license.Sign(l, s.VendorPriv)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, srv := range servers {
		if err := os.WriteFile(srv.Config.License, file, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	return file
}
