package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/sdk"
	"github.com/licensor/licensor/server"
)

// clusterConfig is a node's server.json in the README's "Several servers"
// example; the test fills in the port, the database's URL and the node's
// name.
const clusterConfig = `{
  "listen": "127.0.0.1:%d",
  "license": "../site.lic",
  "vendor_public_key": "../vendor/vendor.pub",
  "data_dir": "data",
  "tls": {"ca": "../pki/ca.crt", "cert": "../pki/server.crt", "key": "../pki/server.key"},
  "store": "%s",
  "store_password_file": "../pgpassword",
  "node": "%s"
}
`

// TestClusterE2E runs the README's "Several servers" example: two nodes
// on one machine, each with its own data directory and port, one
// PostgreSQL database owned by its own user, one cluster license naming
// both. Status on either node lists both; a product configured with both
// servers authorizes, and after node A stops its next authorization is
// node B's; audit verify checks both nodes' chains.
func TestClusterE2E(t *testing.T) {
	dbURL, password := clusterDatabase(t)
	h := newHarness(t)
	h.clock.Set(time.Now().UTC().Truncate(time.Second)) // TLS checks certificates against the real clock

	// The vendor's key; each node's own data directory, server key and
	// activation request; the cluster license naming both.
	h.mustRun("keys", "generate", "--out", "$DIR/vendor")
	h.mustRun("activation-request", "--data", "$DIR/nodeA/data", "--out", "$DIR/nodeA/request.json")
	h.mustRun("activation-request", "--data", "$DIR/nodeB/data", "--out", "$DIR/nodeB/request.json")
	out := h.mustRun("issue", "--key", "$DIR/vendor/vendor.key", "--holder", "ACME", "--product", "ocr:instances=10,days=365",
		"--request", "$DIR/nodeA/request.json", "--request", "$DIR/nodeB/request.json", "--out", "$DIR/site.lic")
	if strings.Count(out, "node auth-01: machine "+h.host.Code) != 2 {
		t.Fatalf("issue does not name both nodes:\n%s", out)
	}

	// One site PKI: a server certificate both ports present, an instance
	// certificate for the product and an admin one for the operator.
	h.mustRun("pki", "init", "--dir", "$DIR/pki", "--hosts", "127.0.0.1")
	h.mustRun("pki", "client", "--dir", "$DIR/pki", "--name", "app1", "--role", "instance")
	h.mustRun("pki", "client", "--dir", "$DIR/pki", "--name", "ops", "--role", "admin")

	if err := os.WriteFile(filepath.Join(h.dir, "pgpassword"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 2)
	nodes := []struct{ dir, name string }{{"nodeA", "node-a"}, {"nodeB", "node-b"}}
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		cfg := fmt.Sprintf(clusterConfig, ports[i], dbURL, n.name)
		if err := os.WriteFile(filepath.Join(h.dir, n.dir, "server.json"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		urls[i] = fmt.Sprintf("https://127.0.0.1:%d", ports[i])
	}

	// A password in the store URL is refused before anything is opened.
	withPassword := strings.Replace(dbURL, "@", ":"+password+"@", 1)
	bad := filepath.Join(h.dir, "bad.json")
	os.WriteFile(bad, []byte(fmt.Sprintf(clusterConfig, ports[0], withPassword, "node-a")), 0o644)
	if status := h.run("audit", "verify", "--config", bad); status == 0 || !strings.Contains(h.stderr.String(), tag(codes.StoreRefused)) {
		t.Fatalf("a password in the store URL: exit %d\n%s", status, h.stderr)
	} else if strings.Contains(h.stderr.String(), password) {
		t.Fatalf("the password is printed:\n%s", h.stderr)
	}

	// Both nodes serve: licensor serve --config nodeA/server.json, and B's.
	stops := make([]func(), len(nodes))
	for i, n := range nodes {
		stops[i] = h.serveNode(filepath.Join(h.dir, n.dir, "server.json"))
		defer stops[i]()
	}

	// licensor status against either node lists both, each with its
	// address and the license in force.
	admin := []string{"--ca", "$DIR/pki/ca.crt", "--cert", "$DIR/pki/clients/ops.crt", "--key", "$DIR/pki/clients/ops.key"}
	var licID string
	for i := range nodes {
		st := h.waitNodes(urls[i], admin, len(nodes))
		if st.Node != nodes[i].name {
			t.Errorf("status from %s answered by %q", urls[i], st.Node)
		}
		for j, n := range st.Nodes {
			if want := fmt.Sprintf("127.0.0.1:%d", ports[j]); n.Name != nodes[j].name || n.Address != want || n.LicenseID == "" {
				t.Errorf("status from %s: node %d is %+v, want %s at %s", urls[i], j, n, nodes[j].name, want)
			}
			if licID == "" {
				licID = n.LicenseID
			} else if n.LicenseID != licID {
				t.Errorf("the nodes hold two licenses: %s and %s", licID, n.LicenseID)
			}
		}
		out := h.mustRun(append([]string{"status", "--server", urls[i]}, admin...)...)
		for _, want := range []string{"Nodes sharing the store (2; this answer from " + nodes[i].name + "):",
			"node-a  address 127.0.0.1:" + fmt.Sprint(ports[0]), "node-b  address 127.0.0.1:" + fmt.Sprint(ports[1])} {
			if !strings.Contains(out, want) {
				t.Errorf("status from %s lacks %q:\n%s", urls[i], want, out)
			}
		}
	}

	// The product, configured with both servers, authorizes at the first.
	client, err := sdk.New(sdk.Config{
		Servers: urls,
		CAFile:  filepath.Join(h.dir, "pki/ca.crt"), CertFile: filepath.Join(h.dir, "pki/clients/app1.crt"), KeyFile: filepath.Join(h.dir, "pki/clients/app1.key"),
		VendorKeyFile: filepath.Join(h.dir, "vendor/vendor.pub"),
		Product:       "ocr",
		Clock:         h.clock, Logger: discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Authorize(context.Background()); err != nil {
		t.Fatalf("Authorize with both nodes up: %v", err)
	}
	if st := client.Status(); st.Server != urls[0] || st.LicenseID != licID {
		t.Fatalf("authorized by %s with license %s, want node A (%s) with %s", st.Server, st.LicenseID, urls[0], licID)
	}

	// Node A stops; the next authorization is node B's, on the same seat.
	stops[0]()
	if err := client.Authorize(context.Background()); err != nil {
		t.Fatalf("Authorize with node A stopped: %v", err)
	}
	if st := client.Status(); st.Server != urls[1] || !st.Resumed || st.Held != 1 {
		t.Fatalf("with node A stopped: %+v; want node B (%s) resuming the one seat", st, urls[1])
	}
	out = h.mustRun(append([]string{"status", "--server", urls[1]}, admin...)...)
	if !strings.Contains(out, "Total of 1 in use") || !strings.Contains(out, "via node-b") {
		t.Errorf("status from node B after the move:\n%s", out)
	}

	// audit verify with node A's configuration checks both nodes' chains
	// (the seat's move to node B is node B's "resume" event).
	out = h.mustRun("audit", "verify", "--config", "$DIR/nodeA/server.json")
	for _, want := range []string{"4 events, chain intact", "node node-a: 2 events", "node node-b: 2 events", "start    2", "grant    1", "resume   1"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit verify lacks %q:\n%s", want, out)
		}
	}
}

// clusterDatabase makes what the README asks a PostgreSQL superuser for:
// a user with a password and a database it owns, both dropped when t
// ends. It returns the database's URL, without the password, and the
// password.
func clusterDatabase(t *testing.T) (string, string) {
	t.Helper()
	base := pgtest.URL(t)
	var b [6]byte
	rand.Read(b[:])
	name := "licensor_" + hex.EncodeToString(b[:])
	rand.Read(b[:])
	password := hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	defer admin.Close(context.Background())
	for _, sql := range []string{"CREATE ROLE " + name + " LOGIN PASSWORD '" + password + "'", "CREATE DATABASE " + name + " OWNER " + name} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Exec(ctx, "DROP ROLE IF EXISTS "+name)
			c.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.User, u.Path, u.RawQuery = url.User(name), "/"+name, "sslmode=disable"
	return u.String(), password
}

// freePorts returns n loopback ports free a moment ago, for
// configurations that name their port.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// serveNode serves the configuration at path, as 'licensor serve --config
// path' does, until the returned stop is called; stop waits for the
// server to finish, and a second call does nothing.
func (h *harness) serveNode(path string) (stop func()) {
	h.t.Helper()
	cfg, err := loadServerConfig(path)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		h.t.Fatal(err)
	}
	env := *h.env
	logs := &syncBuf{}
	env.Stderr = logs
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- env.serve(ctx, cfg, func(addr string) { ready <- addr }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		h.t.Fatalf("serve --config %s: %v\n%s", path, err, serveLogs(logs))
	}
	stopped := false
	return func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("serve --config %s ended with %v\n%s", path, err, serveLogs(logs))
		}
	}
}

// waitNodes asks the server at url for its status until it lists n nodes
// that have announced their address: each node announces itself once it
// serves.
func (h *harness) waitNodes(url string, admin []string, n int) server.InstancesBody {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st server.InstancesBody
		out := h.mustRun(append([]string{"status", "--json", "--server", url}, admin...)...)
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			h.t.Fatalf("status --json: %v\n%s", err, out)
		}
		announced := 0
		for _, node := range st.Nodes {
			if node.Address != "" {
				announced++
			}
		}
		if len(st.Nodes) == n && announced == n {
			return st
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("status from %s lists %d nodes, %d with an address, after 10s; want %d:\n%s", url, len(st.Nodes), announced, n, out)
		}
		time.Sleep(20 * time.Millisecond) // waiting for the nodes to announce themselves, not for time to pass
	}
}

// serveLogs is what a node served by serveNode has logged.
func serveLogs(b *syncBuf) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
