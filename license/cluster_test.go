package license

import (
	"crypto/ed25519"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
)

// clusterFixture is a cluster license of three nodes: the fixture's site
// host and two others, each with its own server key.
type clusterFixture struct {
	*fixture
	names []string
	hosts []*fingerprint.Fingerprint
	pubs  []ed25519.PublicKey
}

func newClusterFixture(t testing.TB) *clusterFixture {
	t.Helper()
	c := &clusterFixture{fixture: newFixture(t)}
	for i, name := range []string{"auth-01", "auth-02", "auth-03"} {
		h := c.site
		if i > 0 {
			raw := map[string]string{}
			for k, v := range siteRaw {
				raw[k] = v + name
			}
			h = host(raw)
		}
		pub, _, _ := keys.Generate()
		c.names, c.hosts, c.pubs = append(c.names, name), append(c.hosts, h), append(c.pubs, pub)
	}
	return c
}

func (c *clusterFixture) license() *License {
	l := c.fixture.license()
	l.Machines, l.ServerKey = nil, keys.JWK{}
	for i, h := range c.hosts {
		l.Cluster = append(l.Cluster, Node{Name: c.names[i], Machine: fingerprint.Machine{Code: h.Code, Components: h.Hashes()},
			ServerKey: keys.PublicJWK(c.pubs[i])})
	}
	return l
}

func TestClusterSignVerify(t *testing.T) {
	c := newClusterFixture(t)
	file, err := Sign(c.license(), c.vendorPriv)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range c.hosts {
		if want := "node:     " + c.names[i] + " on machine " + h.Code + "\n            server key " + keys.ID(c.pubs[i]); !strings.Contains(string(file), want) {
			t.Errorf("the readable lines do not list node %s:\n%s", h.Code, file)
		}
	}
	long := c.license()
	long.Cluster[0].Name = strings.Repeat("é", 60)
	longFile, err := Sign(long, c.vendorPriv)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(longFile), "\n") {
		if len([]rune(line)) > 100 {
			t.Fatalf("line of %d characters is not safe to email: %q", len([]rune(line)), line)
		}
	}
	s, err := Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Verify(c.vendorPub)
	if err != nil {
		t.Fatal(err)
	}
	if !l.IsCluster() || len(l.Nodes()) != 3 || len(l.Machines) != 0 {
		t.Fatalf("license = %+v", l)
	}
	for i, h := range c.hosts {
		if err := l.CheckMachine(h); err != nil {
			t.Errorf("CheckMachine(node %d) = %v", i, err)
		}
		kid := keys.ID(c.pubs[i])
		if pub, ok := l.NodeKey(kid); !ok || !pub.Equal(c.pubs[i]) {
			t.Errorf("NodeKey(node %d) = %v, %v", i, pub, ok)
		}
		if !l.SignsFor(kid, h.Code) {
			t.Errorf("SignsFor(node %d's key, its machine) = false", i)
		}
		if l.SignsFor(kid, c.hosts[(i+1)%3].Code) {
			t.Errorf("SignsFor(node %d's key, another node's machine) = true", i)
		}
	}
	_, rep := s.Inspect(c.vendorPub, Checks{Host: func() (*fingerprint.Fingerprint, error) { return c.hosts[1], nil }, Now: t0})
	for _, st := range rep.Stages {
		if st.Name == StageMachine && (st.Outcome != Pass || !strings.Contains(st.Found, "as node auth-02 of the cluster's 3")) {
			t.Errorf("machine stage: %+v", st)
		}
	}
	other, _, _ := keys.Generate()
	if _, ok := l.NodeKey(keys.ID(other)); ok {
		t.Error("NodeKey(a key the license does not name) = ok")
	}
	if got := l.ServerKeyIDs(); len(got) != 3 || got[1] != keys.ID(c.pubs[1]) {
		t.Errorf("ServerKeyIDs = %v", got)
	}
	if _, err := l.ServerPublicKey(); err == nil {
		t.Error("ServerPublicKey of a cluster license: no error")
	}
	err = l.CheckMachine(host(map[string]string{fingerprint.Hostname: "elsewhere"}))
	if codes.Of(err) != codes.Fingerprint {
		t.Fatalf("CheckMachine(elsewhere) = %v, want fingerprint", err)
	}
	for _, h := range c.hosts {
		if !strings.Contains(err.Error(), h.Code) {
			t.Errorf("%q does not name node %s", err, h.Code)
		}
	}
	if codes.As(err).FixText() == "" {
		t.Error("no fix")
	}
}

// A single-server license keeps its JSON and reads as one node per
// machine, all with its one key.
func TestSingleServerNodes(t *testing.T) {
	f := newFixture(t)
	l := f.license()
	l.Machines = append(l.Machines, fingerprint.Machine{Code: strings.Repeat("ab", 16)})
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Contains(s, `"nodes"`) || !strings.Contains(s, `"matchMin":4,"serverKey":{"kty":"OKP"`) || !strings.Contains(s, `"machines":[{"code":"`+f.site.Code) {
		t.Errorf("single-server JSON changed: %s", b)
	}
	if l.IsCluster() {
		t.Error("IsCluster")
	}
	nodes := l.Nodes()
	if len(nodes) != 2 || nodes[1].Code != l.Machines[1].Code || nodes[1].ServerKey != l.ServerKey {
		t.Errorf("Nodes = %+v", nodes)
	}
	kid := keys.ID(f.serverPub)
	if pub, ok := l.NodeKey(kid); !ok || !pub.Equal(f.serverPub) {
		t.Errorf("NodeKey = %v, %v", pub, ok)
	}
	if !l.SignsFor(kid, l.Machines[1].Code) || l.SignsFor(kid, strings.Repeat("cd", 16)) {
		t.Error("SignsFor does not follow the machines")
	}
	l.ServerKey.Kid = "" // a key with no kid is known by its thumbprint
	if _, ok := l.NodeKey(kid); !ok {
		t.Error("NodeKey(thumbprint) of a key without kid: not found")
	}
	if got := l.ServerKeyIDs(); !reflect.DeepEqual(got, []string{kid}) {
		t.Errorf("ServerKeyIDs = %v", got)
	}
}

func TestClusterRefused(t *testing.T) {
	c := newClusterFixture(t)
	other, _, _ := keys.Generate()
	tests := []struct {
		name   string
		mutate func(l *License)
		phrase string
	}{
		{"both-forms-machines", func(l *License) { l.Machines = []fingerprint.Machine{{Code: c.site.Code}} }, "nodes alone"},
		{"both-forms-server-key", func(l *License) { l.ServerKey = keys.PublicJWK(other) }, "nodes alone"},
		{"node-without-key", func(l *License) { l.Cluster[1].ServerKey = keys.JWK{} }, "nodes[1] (machine " + c.hosts[1].Code},
		{"duplicate-key", func(l *License) { l.Cluster[2].ServerKey = l.Cluster[0].ServerKey }, "nodes[2] has the server key " + keys.ID(c.pubs[0]) + " of nodes[0]"},
		{"duplicate-key-without-kid", func(l *License) {
			l.Cluster[2].ServerKey = l.Cluster[0].ServerKey
			l.Cluster[2].ServerKey.Kid = ""
		}, "of nodes[0]"},
		{"too-many", func(l *License) {
			for len(l.Cluster) <= MaxNodes {
				pub, _, _ := keys.Generate()
				l.Cluster = append(l.Cluster, Node{Machine: fingerprint.Machine{Code: c.site.Code}, ServerKey: keys.PublicJWK(pub)})
			}
		}, "at most 16"},
		{"bad-code", func(l *License) { l.Cluster[1].Code = "xyz" }, "nodes[1].code"},
		{"bad-component", func(l *License) { l.Cluster[0].Components = map[string]string{"mac": "x"} }, `nodes[0].components["mac"]`},
		{"bad-key", func(l *License) { l.Cluster[0].ServerKey.X = "AAAA" }, "nodes[0].serverKey"},
		{"bad-kid", func(l *License) { l.Cluster[0].ServerKey.Kid = "x" }, "nodes[0].serverKey"},
		{"control-in-name", func(l *License) { l.Cluster[1].Name = "auth\x1b" }, "nodes[1].name"},
		{"match-too-high", func(l *License) { l.MatchMin = 6 }, "matchMin 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := c.license()
			tt.mutate(l)
			if _, err := Sign(l, c.vendorPriv); codes.Of(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tt.phrase) {
				t.Errorf("Sign = %v, want invalid_argument saying %q", err, tt.phrase)
			}
			l = c.license()
			tt.mutate(l)
			signed, err := signLicense(c.vendorPriv, l)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse([]byte(signed))
			if err == nil {
				_, err = s.Verify(c.vendorPub)
			}
			if codes.Of(err) != codes.LicenseMalformed || !strings.Contains(err.Error(), tt.phrase) {
				t.Errorf("Verify = %v, want license_malformed saying %q", err, tt.phrase)
			}
		})
	}
}

func TestClusterView(t *testing.T) {
	c := newClusterFixture(t)
	l := c.license()
	v := l.View("vk")
	if len(v.Nodes) != 3 || v.Nodes[1].Code != c.hosts[1].Code || v.Nodes[1].ServerKeyID != keys.ID(c.pubs[1]) || v.Nodes[1].Name == "" {
		t.Errorf("view nodes = %+v", v.Nodes)
	}
	if len(v.Machines) != 3 || v.ServerKeyID != "" {
		t.Errorf("view machines %+v, serverKeyId %q", v.Machines, v.ServerKeyID)
	}
	single := c.fixture.license().View("vk")
	b, _ := json.Marshal(single)
	if strings.Contains(string(b), `"nodes"`) || single.ServerKeyID != keys.ID(c.serverPub) {
		t.Errorf("single-server view: %s", b)
	}
}
