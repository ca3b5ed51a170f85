package server

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/verdict"
)

// writeClusterLicense writes a cluster license naming a node per host,
// named auth-01, auth-02, …, node i signing with pubs[i].
func (s *site) writeClusterLicense(hosts []*fingerprint.Fingerprint, pubs []ed25519.PublicKey) {
	s.t.Helper()
	l := &license.License{Holder: "ACME", Issuer: "Vendor", Issued: t0.Add(-time.Hour), MatchMin: 4,
		Products: []license.Product{{Subject: "ocr", Functions: []string{"table"}, InstanceSize: 3, NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(0, 1, 0)}}}
	for i, h := range hosts {
		l.Cluster = append(l.Cluster, license.Node{Name: "auth-0" + string(rune('1'+i)), Machine: fingerprint.Machine{Code: h.Code, Components: h.Hashes()},
			ServerKey: keys.PublicJWK(pubs[i])})
	}
	file, err := license.Sign(l, s.vendorPriv)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(s.cfg.License, file, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// A node of a cluster license starts when this host is a node's machine
// and this server's key is that node's; it signs verdicts for that node.
func TestClusterNodeStarts(t *testing.T) {
	s := newSite(t)
	other1, _, _ := keys.Generate()
	other3, _, _ := keys.Generate()
	// auth-02 is this host; auth-01 and auth-03 are other machines.
	hosts := []*fingerprint.Fingerprint{fakeHost("auth-01"), fakeHost("auth-02"), fakeHost("auth-03")}
	s.host = hosts[1]
	s.writeClusterLicense(hosts, []ed25519.PublicKey{other1, s.serverPub, other3})
	r := s.start()
	if i, n := r.Node(); i != 1 || n.Name != "auth-02" || n.Code != s.host.Code {
		t.Fatalf("Node() = %d, %+v; want node 1 auth-02", i, n)
	}
	a := r.authorize(t, s.client("app1"), "ocr", "i-1")
	if a.status != 200 {
		t.Fatalf("authorize: %d %s", a.status, a.body)
	}
	var v api.VerdictBody
	a.decode(t, &v)
	c, err := verdict.Verify(v.Verdict, s.serverPub, verdict.Expect{InstanceID: "i-1", Product: "ocr", Nonce: "n-i-1", Now: s.clock.Now()})
	if err != nil {
		t.Fatalf("verdict: %v", err)
	}
	if c.Machine != s.host.Code {
		t.Errorf("verdict says machine %s, want the node's %s", c.Machine, s.host.Code)
	}
	var view license.View
	call(t, s.client("app1"), "GET", r.url+api.PathLicense, nil).decode(t, &view)
	if len(view.Nodes) != 3 || view.Nodes[1].ServerKeyID != keys.ID(s.serverPub) {
		t.Errorf("/security/license nodes = %+v", view.Nodes)
	}
}

// Two nodes on one machine (two ports): each finds its own node by its key.
func TestClusterNodesOnOneMachine(t *testing.T) {
	s := newSite(t)
	other, _, _ := keys.Generate()
	s.writeClusterLicense([]*fingerprint.Fingerprint{s.host, s.host}, []ed25519.PublicKey{other, s.serverPub})
	srv, err := New(s.cfg, s.options())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if i, n := srv.Node(); i != 1 || n.Name != "auth-02" {
		t.Fatalf("Node() = %d, %+v; want node 1 auth-02", i, n)
	}
}

func TestClusterNodeRefused(t *testing.T) {
	a, _, _ := keys.Generate()
	b, _, _ := keys.Generate()
	tests := []struct {
		name    string
		setup   func(s *site)
		want    codes.Code
		mention func(s *site) []string
	}{
		{"host-on-no-node", func(s *site) {
			s.writeClusterLicense([]*fingerprint.Fingerprint{fakeHost("auth-01"), fakeHost("auth-02")}, []ed25519.PublicKey{a, b})
			s.host = fakeHost("elsewhere")
		}, codes.Fingerprint, func(s *site) []string {
			return []string{s.host.Code, fakeHost("auth-01").Code, fakeHost("auth-02").Code}
		}},
		{"node-machine-other-key", func(s *site) {
			s.writeClusterLicense([]*fingerprint.Fingerprint{s.host, fakeHost("auth-02")}, []ed25519.PublicKey{a, b})
		}, codes.ServerKeyMismatch, func(s *site) []string {
			return []string{"node auth-01", "trusts server key " + keys.ID(a), "this server's key (" + filepath.Join(s.cfg.DataDir, ServerKeyFile) + ") is " + keys.ID(s.serverPub)}
		}},
		{"other-nodes-key", func(s *site) {
			s.writeClusterLicense([]*fingerprint.Fingerprint{s.host, fakeHost("auth-02")}, []ed25519.PublicKey{a, s.serverPub})
		}, codes.ServerKeyMismatch, func(s *site) []string {
			return []string{"node auth-01", keys.ID(a), "the key of node auth-02 on machine " + fakeHost("auth-02").Code}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t)
			tt.setup(s)
			srv, err := New(s.cfg, s.options())
			if err == nil {
				srv.Close()
			}
			if codes.Of(err) != tt.want {
				t.Fatalf("New = %v, want code %v", err, tt.want)
			}
			for _, m := range tt.mention(s) {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("%q does not mention %q", err, m)
				}
			}
			if codes.As(err).FixText() == "" {
				t.Error("no fix")
			}
		})
	}
}
