package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
)

// TestQuickstartServeStatusAudit sets up with quickstart, serves the
// configuration it wrote, asks the server for its status with the admin
// certificate, and verifies the audit log after shutdown.
func TestQuickstartServeStatusAudit(t *testing.T) {
	h := newHarness(t)
	h.clock.Set(time.Now()) // certificates are checked against the real clock by TLS
	out := h.mustRun("quickstart", "--dir", "$DIR/qs", "--listen", "127.0.0.1:0", "--setup-only", "--json")
	var q quickstartFiles
	if err := json.Unmarshal([]byte(out), &q); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"server_config": q.ServerConfig, "ca": q.CA, "client_cert": q.ClientCert, "client_key": q.ClientKey,
		"admin_cert": q.AdminCert, "admin_key": q.AdminKey, "url": q.URL} {
		if v == "" {
			t.Errorf("quickstart --json lacks %s", k)
		}
	}
	cfg, err := loadServerConfig(q.ServerConfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan string, 1), make(chan error, 1)
	serveEnv := *h.env
	serveEnv.Stderr = &syncBuf{}
	go func() { done <- serveEnv.serve(ctx, cfg, func(addr string) { addrc <- addr }) }()
	var url string
	select {
	case addr := <-addrc:
		url = "https://" + addr
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}

	client := []string{"--server", url, "--ca", q.CA}
	admin := append(append([]string{}, client...), "--cert", q.AdminCert, "--key", q.AdminKey)
	out = h.mustRun(append([]string{"status"}, admin...)...)
	if !strings.Contains(out, "Users of demo:  (Total of 10 instances licensed;  Total of 0 in use: 0 by instances, 0 by key-file hosts)") {
		t.Fatalf("status:\n%s", out)
	}
	// An instance certificate may not read the pool.
	app := append(append([]string{}, client...), "--cert", q.ClientCert, "--key", q.ClientKey)
	if status := h.run(append([]string{"status"}, app...)...); status != 1 || !strings.Contains(h.stderr.String(), tag(codes.RoleForbidden)) {
		t.Fatalf("status with an instance certificate: exit %d\n%s", status, h.stderr)
	}
	out = h.mustRun(append([]string{"status", "--json"}, admin...)...)
	var st struct {
		Products []struct {
			Product string
			Limit   int
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Products) != 1 || st.Products[0].Limit != 10 {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v after cancel", err)
	}

	out = h.mustRun("audit", "verify", "--data", filepath.Join(q.Dir, "data"))
	if !strings.Contains(out, "chain intact") || !strings.Contains(out, "start") {
		t.Fatalf("audit verify:\n%s", out)
	}
	// An edited audit event breaks the chain.
	db, err := sql.Open("sqlite", filepath.Join(q.Dir, "data", "licensor.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit SET detail = 'nothing to see' WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if status := h.run("audit", "verify", "--data", filepath.Join(q.Dir, "data")); status != 1 || !strings.Contains(h.stderr.String(), tag(codes.AuditTampered)) {
		t.Fatalf("audit verify of an edited log: exit %d\n%s", status, h.stderr)
	}
	// A port another process holds.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if status := h.run("serve", "--config", q.ServerConfig, "--listen", ln.Addr().String()); status != 1 || !strings.Contains(h.stderr.String(), tag(codes.ListenFailed)) {
		t.Fatalf("serve on a busy port: exit %d\n%s", status, h.stderr)
	}
	// A bad flag value is a mistake in the command line, not in the file.
	if status := h.run("serve", "--config", q.ServerConfig, "--listen", "nonsense"); status != 2 || !strings.Contains(h.stderr.String(), `code=604 invalid_argument: --listen "nonsense"`) {
		t.Fatalf("serve with a bad --listen: exit %d\n%s", status, h.stderr)
	}
}

func TestServeRefusesToStart(t *testing.T) {
	h := newHarness(t)
	h.clock.Set(time.Now())
	out := h.mustRun("quickstart", "--dir", "$DIR/qs", "--listen", "127.0.0.1:0", "--setup-only", "--json")
	var q quickstartFiles
	json.Unmarshal([]byte(out), &q)
	// The license is for this machine; on another the server must not start.
	raw := siteRaw()
	raw["machine-id"], raw["mac"] = "another", "another"
	h.host = fakeHost(raw)
	if status := h.run("serve", "--config", q.ServerConfig); status != 1 || !strings.Contains(h.stderr.String(), tag(codes.Fingerprint)) {
		t.Fatalf("serve on another machine: exit %d\n%s", status, h.stderr)
	}
	if status := h.run("serve", "--config", "$DIR/none.json"); status != 1 || !strings.Contains(h.stderr.String(), "code=605") {
		t.Fatalf("serve with a missing config: exit %d\n%s", status, h.stderr)
	}
	if status := h.run("audit", "verify", "--data", "$DIR/none"); status != 1 || !strings.Contains(h.stderr.String(), "code=605") {
		t.Fatalf("audit verify of a missing store: exit %d\n%s", status, h.stderr)
	}
}
