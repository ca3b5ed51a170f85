package keyfile

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

// clusterLicense signs a cluster license whose nodes sign with servers.
func clusterLicense(t testing.TB, vendor ed25519.PrivateKey, servers ...ed25519.PrivateKey) []byte {
	t.Helper()
	l := &license.License{
		Holder: "ACME Imaging", Issuer: "Example Vendor", Issued: t0.AddDate(0, -1, 0),
		Products: []license.Product{{Subject: "ocr", Functions: []string{"table"}, InstanceSize: 10, NotBefore: t0.AddDate(0, -1, 0), NotAfter: t0.AddDate(1, 0, 0)}},
	}
	for i, priv := range servers {
		name := "auth-0" + string(rune('1'+i))
		site := host(map[string]string{fingerprint.MachineID: strings.Repeat("5e", 16), fingerprint.Hostname: name})
		l.Cluster = append(l.Cluster, license.Node{Name: name, Machine: fingerprint.Machine{Code: site.Code, Components: site.Hashes()},
			ServerKey: keys.PublicJWK(priv.Public().(ed25519.PublicKey))})
	}
	data, err := license.Sign(l, vendor)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A key file signed by any node of a cluster license verifies; one signed
// by a key the license does not name does not, nor can such a key issue.
func TestClusterKeyFile(t *testing.T) {
	f := newFixture(t)
	var nodes []ed25519.PrivateKey
	for range 3 {
		_, priv, _ := keys.Generate()
		nodes = append(nodes, priv)
	}
	lic := clusterLicense(t, f.vendorPriv, nodes...)
	claims := func() *Claims {
		c := f.claims()
		c.License = string(lic)
		c.Products = []Product{{Subject: "ocr", Functions: []string{"table"}}}
		return c
	}
	for i, node := range nodes {
		data, err := Issue(node, claims())
		if err != nil {
			t.Fatalf("Issue by node %d: %v", i, err)
		}
		s, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(f.vendorPub, f.host, "ocr", t0.Add(time.Hour)); err != nil {
			t.Errorf("a key file signed by node %d: %v", i, err)
		}
		if in := Inspect(writeFile(t, data), f.vendorPub, Checks{Host: func() (*fingerprint.Fingerprint, error) { return f.host, nil }, Product: "ocr", Now: t0.Add(time.Hour)}); in.Err() != nil {
			t.Errorf("Inspect of node %d's key file: %v", i, in.Err())
		}
	}

	_, outsider, _ := keys.Generate()
	_, err := Issue(outsider, claims())
	if codes.Of(err) != codes.ServerKeyMismatch || !strings.Contains(err.Error(), "the server keys of its nodes: "+keys.ID(nodes[0].Public().(ed25519.PublicKey))) {
		t.Errorf("Issue by a key the license does not name = %v, want server_key_mismatch naming the nodes' keys", err)
	}
	good, _ := Issue(nodes[1], claims())
	forged := resign(t, good, outsider, keys.ID(outsider.Public().(ed25519.PublicKey)), nil)
	s, err := Parse(forged)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Verify(f.vendorPub, f.host, "ocr", t0.Add(time.Hour))
	if codes.Of(err) != codes.KeyFileTampered || !strings.Contains(err.Error(), "trusts the server keys of its nodes") {
		t.Errorf("a key file signed by a key the license does not name = %v, want keyfile_tampered", err)
	}
	// A key the license names, claimed by another key's signature.
	claimed := resign(t, good, outsider, keys.ID(nodes[2].Public().(ed25519.PublicKey)), nil)
	if s, err = Parse(claimed); err == nil {
		_, err = s.Verify(f.vendorPub, f.host, "ocr", t0.Add(time.Hour))
	}
	if codes.Of(err) != codes.KeyFileTampered || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("a forged signature naming node 2's key = %v, want keyfile_tampered", err)
	}
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "licensor.key")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
