package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/sdk"
	"github.com/licensor/licensor/server"
	"github.com/licensor/licensor/store"
)

// TestClusterNodeKilled runs two real 'licensor serve' processes on one
// PostgreSQL database under a cluster license, with async products
// configured with both, kills the node they use with SIGKILL, and checks
// that no Authorize failed and that every product's seat was resumed on
// the other node, not taken again.
func TestClusterNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	db, password := pgtest.WithoutPassword(t, pgtest.Database(t))
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("licensor %v: %v\n%s", args, err, out)
		}
	}
	at := func(p ...string) string { return filepath.Join(append([]string{dir}, p...)...) }
	run("keys", "generate", "--out", at("vendor"))
	run("activation-request", "--data", at("a", "data"), "--out", at("a", "request.json"))
	run("activation-request", "--data", at("b", "data"), "--out", at("b", "request.json"))
	run("issue", "--key", at("vendor", "vendor.key"), "--holder", "ACME", "--product", "ocr:instances=10,days=30",
		"--request", at("a", "request.json"), "--request", at("b", "request.json"), "--out", at("site.lic"))
	run("pki", "init", "--dir", at("pki"), "--hosts", "127.0.0.1")
	run("pki", "client", "--dir", at("pki"), "--name", "app1", "--role", "instance")
	run("pki", "client", "--dir", at("pki"), "--name", "ops", "--role", "admin")
	if err := os.WriteFile(at("pgpassword"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addrs := []string{freeAddr(t), freeAddr(t)}
	urls := make([]string, 2)
	for i, n := range []string{"a", "b"} {
		cfg := fmt.Sprintf(`{"listen": %q, "license": "../site.lic", "vendor_public_key": "../vendor/vendor.pub", "data_dir": "data",
			"tls": {"ca": "../pki/ca.crt", "cert": "../pki/server.crt", "key": "../pki/server.key"},
			"store": %q, "store_password_file": "../pgpassword", "node": "node-%s"}`, addrs[i], db, n)
		if err := os.WriteFile(at(n, "server.json"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		urls[i] = "https://" + addrs[i]
	}
	cert, key := at("pki", "clients", "app1.crt"), at("pki", "clients", "app1.key")
	tlsCfg, err := pki.ClientTLSConfig(at("pki", "ca.crt"), cert, key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	probe := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 5 * time.Second}
	nodeA := startServer(t, bin, at("a", "server.json"), urls[0], probe)
	startServer(t, bin, at("b", "server.json"), urls[1], probe)

	// Eight async products, all on node a first.
	ctx := context.Background()
	clients := make([]*sdk.Client, 8)
	for i := range clients {
		c, err := sdk.New(sdk.Config{Servers: urls, CAFile: at("pki", "ca.crt"), CertFile: cert, KeyFile: key,
			VendorKeyFile: at("vendor", "vendor.pub"), Product: "ocr", InstanceID: fmt.Sprint("p-", i), Async: true,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Authorize(ctx); err != nil || c.Status().Server != urls[0] {
			t.Fatalf("product %d: Authorize = %v at %s", i, err, c.Status().Server)
		}
		clients[i] = c
	}
	before := seats(t, bin, urls[1], at)

	var failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := c.Authorize(ctx); err != nil {
					failed.Add(1)
				}
				time.Sleep(200 * time.Microsecond) // a product's checks, not a busy loop
			}
		})
	}
	nodeA.Process.Signal(syscall.SIGKILL)
	nodeA.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for _, c := range clients {
		for c.Status().Server != urls[1] {
			if time.Now().After(deadline) {
				t.Fatalf("a product is still at %s 15s after node a died", c.Status().Server)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d Authorize calls failed while node a died", n)
	}
	after := seats(t, bin, urls[1], at)
	if len(after) != len(clients) {
		t.Fatalf("node b lists %d seats after the failover, want %d", len(after), len(clients))
	}
	for id, l := range after {
		if b := before[id]; !l.Since.Equal(b.Since) || l.Node != "node-b" {
			t.Errorf("seat %s: since %s on node %q after the failover, was since %s: want it resumed on node-b", id, l.Since, l.Node, b.Since)
		}
	}
}

// seats lists the pool's instance seats by id, as 'licensor status' reads
// them from the node at url.
func seats(t *testing.T, bin, url string, at func(...string) string) map[string]store.Lease {
	t.Helper()
	out, err := exec.Command(bin, "status", "--server", url, "--ca", at("pki", "ca.crt"),
		"--cert", at("pki", "clients", "ops.crt"), "--key", at("pki", "clients", "ops.key"), "--json").Output()
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	var st struct {
		Products []server.ProductPool `json:"products"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	m := map[string]store.Lease{}
	for _, p := range st.Products {
		for _, l := range p.Instances {
			m[l.InstanceID] = l
		}
	}
	return m
}
