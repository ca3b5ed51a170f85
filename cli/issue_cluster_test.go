package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

// issue with a --request per node makes a cluster license naming each
// node's machine and own server key; with one it makes the single-server
// license it always made.
func TestIssueCluster(t *testing.T) {
	h := newHarness(t)
	h.mustRun("keys", "generate", "--out", "$DIR/vendor")
	h.mustRun("activation-request", "--data", "$DIR/n1", "--out", "$DIR/r1.json")
	site1 := h.host
	raw := siteRaw()
	raw[fingerprint.Hostname] = "auth-02"
	h.host = fakeHost(raw)
	h.env.Hostname = func() (string, error) { return "auth-02", nil }
	h.mustRun("activation-request", "--data", "$DIR/n2", "--out", "$DIR/r2.json")
	// A second node on auth-02's machine, on another port with its own key.
	h.env.Hostname = func() (string, error) { return "auth-02b", nil }
	h.mustRun("activation-request", "--data", "$DIR/n3", "--out", "$DIR/r3.json")
	kid := func(dir string) string {
		pub, err := keys.LoadPublic(h.dir + "/" + dir + "/server.pub")
		if err != nil {
			t.Fatal(err)
		}
		return keys.ID(pub)
	}
	issue := []string{"issue", "--key", "$DIR/vendor/vendor.key", "--holder", "ACME", "--product", "ocr:days=30"}

	out := h.mustRun(append(issue, "--request", "$DIR/r1.json", "--request", "$DIR/r2.json", "--request", "$DIR/r3.json", "--out", "$DIR/cluster.lic")...)
	for _, want := range []string{"node auth-01: machine " + site1.Code + ", server key " + kid("n1"), "node auth-02: machine " + h.host.Code + ", server key " + kid("n2"),
		"node auth-02b: machine " + h.host.Code + ", server key " + kid("n3")} {
		if !strings.Contains(out, want) {
			t.Errorf("issue output lacks %q:\n%s", want, out)
		}
	}
	out = h.mustRun("license", "show", "$DIR/cluster.lic", "--vendor-pub", "$DIR/vendor/vendor.pub")
	for _, want := range []string{"nodes:       3 (a cluster license", "node auth-02:\n    machine:    " + h.host.Code + " (5 components recorded)\n    server key: " + kid("n2")} {
		if !strings.Contains(out, want) {
			t.Errorf("license show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "  server key:  ") {
		t.Errorf("license show names one server key for a cluster:\n%s", out)
	}
	var view license.View
	if err := json.Unmarshal([]byte(h.mustRun("license", "show", "$DIR/cluster.lic", "--json")), &view); err != nil {
		t.Fatal(err)
	}
	if len(view.Nodes) != 3 || view.Nodes[2].Name != "auth-02b" || view.Nodes[2].ServerKeyID != kid("n3") || view.MatchMin != 4 {
		t.Errorf("license show --json: nodes %+v matchMin %d", view.Nodes, view.MatchMin)
	}
	// On auth-02's host the license verifies as one of its nodes.
	if out := h.mustRun("license", "verify", "$DIR/cluster.lic", "--vendor-pub", "$DIR/vendor/vendor.pub", "--this-machine"); !strings.Contains(out, "as node auth-02 of the cluster's 3") {
		t.Errorf("license verify --this-machine:\n%s", out)
	}

	// One request: the single-server license, as before.
	h.mustRun(append(issue, "--request", "$DIR/r1.json", "--out", "$DIR/single.lic")...)
	data, _ := os.ReadFile(h.dir + "/single.lic")
	s, err := license.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := s.Unverified()
	if l.IsCluster() || len(l.Machines) != 1 || l.Machines[0].Code != site1.Code || l.ServerKey.Kid != kid("n1") {
		t.Errorf("one --request: %+v", l)
	}
	if out := h.mustRun("license", "show", "$DIR/single.lic"); !strings.Contains(out, "  server key:  "+kid("n1")) || strings.Contains(out, "node") {
		t.Errorf("license show of a single-server license:\n%s", out)
	}

	many := append([]string{}, issue...)
	for range license.MaxNodes + 1 {
		many = append(many, "--request", "$DIR/r1.json")
	}
	tests := []struct {
		name string
		args []string
		say  string
	}{
		{"same-request-twice", append(issue, "--request", "$DIR/r1.json", "--request", "$DIR/r2.json", "--request", "$DIR/r1.json", "--out", "$DIR/x.lic"),
			"r1.json has the server key " + kid("n1") + " of --request " + h.dir + "/r1.json"},
		{"too-many", append(many, "--out", "$DIR/x.lic"), "17 --request flags; a cluster license names at most 16 nodes"},
		{"with-machine", append(issue, "--request", "$DIR/r1.json", "--request", "$DIR/r2.json", "--machine", site1.Code, "--out", "$DIR/x.lic"), "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status := h.run(tt.args...); status == 0 {
				t.Fatal("exit 0")
			}
			if err := h.stderr.String(); !strings.Contains(err, tt.say) {
				t.Errorf("stderr lacks %q:\n%s", tt.say, err)
			}
			if _, err := os.Stat(h.dir + "/x.lic"); err == nil {
				t.Error("a license was written")
			}
		})
	}
}
