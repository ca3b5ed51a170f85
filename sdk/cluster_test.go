package sdk

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/keyfile"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/verdict"
)

// Real nodes of a cluster license, two ports on one machine: a client
// configured with both accepts either node's verdict, each signed by its
// own key, and moves to the other when one dies.
func TestClusterNodes(t *testing.T) {
	e := newEnv(t)
	nodes := e.site.NewCluster([]string{"auth-01", "auth-02"}, products()...)
	a, b := nodes[0].Start(""), nodes[1].Start("")

	c := e.client(e.config("ocr", b.URL))
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatalf("Authorize at node auth-02 = %v", err)
	}
	if st := c.Status(); !st.Authorized || st.Server != b.URL {
		t.Fatalf("Status = %+v", st)
	}

	cfg := e.config("ocr", a.URL, b.URL)
	cfg.InstanceID = "i-2"
	both := e.client(cfg)
	if err := both.Authorize(context.Background()); err != nil || both.Status().Server != a.URL {
		t.Fatalf("Authorize at node auth-01 = %v (%+v)", err, both.Status())
	}
	a.Kill()
	if err := both.Authorize(context.Background()); err != nil || both.Status().Server != b.URL {
		t.Fatalf("Authorize with auth-01 dead = %v (%+v)", err, both.Status())
	}
}

// The SDK accepts what any node of a cluster license signs, for that
// node's machine, and nothing else.
func TestClusterChainOfTrust(t *testing.T) {
	e := newEnv(t)
	nodes := e.site.NewCluster([]string{"auth-01", "auth-02"}, products()...)
	hostA, hostB := e.site.Host, sitetest.FakeHost("auth-02")
	file := e.site.WriteClusterLicense(nodes, []*fingerprint.Fingerprint{hostA, hostB}, products()...)
	signed, err := license.Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	lic, err := signed.Verify(e.site.VendorPub)
	if err != nil {
		t.Fatal(err)
	}
	keyA, keyB := nodes[0].Key, nodes[1].Key
	_, outsider, _ := keys.Generate()
	kid := func(k ed25519.PrivateKey) string { return keys.ID(k.Public().(ed25519.PublicKey)) }
	sign := func(key ed25519.PrivateKey, kid, machine string) func(api.InstanceRequest) any {
		return func(req api.InstanceRequest) any {
			now := e.site.Clock.Now()
			c := &verdict.Claims{Issuer: verdict.Issuer, Subject: req.InstanceID, Audience: verdict.Audience(req.Product),
				IssuedAt: now.Unix(), NotBefore: now.Unix() - 60, Expires: now.Add(time.Minute).Unix(), ID: "x", Nonce: req.Nonce,
				Product: req.Product, LicenseID: lic.ID, Lease: now.Add(time.Minute).Unix(), Machine: machine}
			tok, _ := verdict.Sign(key, kid, c)
			return api.VerdictBody{Verdict: tok, License: string(file), Lease: api.LeaseBody{Expires: now.Add(time.Minute)}}
		}
	}
	tests := []struct {
		name   string
		answer func(api.InstanceRequest) any
		want   codes.Code
	}{
		{"node-a-signs", sign(keyA, kid(keyA), hostA.Code), codes.OK},
		{"node-b-signs", sign(keyB, kid(keyB), hostB.Code), codes.OK},
		{"node-b-claims-node-a-machine", sign(keyB, kid(keyB), hostA.Code), codes.Fingerprint},
		{"node-b-key-claims-node-a-kid", sign(keyB, kid(keyA), hostA.Code), codes.VerdictForged},
		{"outsider-own-kid", sign(outsider, kid(outsider), hostA.Code), codes.VerdictForged},
		{"outsider-claims-node-b-kid", sign(outsider, kid(keyB), hostB.Code), codes.VerdictForged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client(e.config("ocr", e.impostor(tt.answer)))
			if err := c.Authorize(context.Background()); codes.Of(err) != tt.want {
				t.Fatalf("Authorize = %v, want code %v", err, tt.want)
			}
		})
	}
}

// A key file from any node verifies on the product's host.
func TestClusterKeyFile(t *testing.T) {
	e := newEnv(t)
	nodes := e.site.NewCluster([]string{"auth-01", "auth-02"}, products()...)
	lic, err := os.ReadFile(nodes[0].Config.License)
	if err != nil {
		t.Fatal(err)
	}
	host := sitetest.FakeHost("render-07")
	for _, n := range nodes {
		data, err := keyfile.Issue(n.Key, &keyfile.Claims{Machine: host.Code, Components: host.Hashes(), MatchMin: 4,
			IssuedAt: e.site.Clock.Now().Unix(), License: string(lic), Products: []keyfile.Product{{Subject: "ocr", Functions: []string{"basic"}}}})
		if err != nil {
			t.Fatalf("node %s issues: %v", n.Name, err)
		}
		path := t.TempDir() + "/licensor.key"
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		v, err := NewKeyFileVerifier(KeyFileOptions{Path: path, Vendor: e.site.VendorPub, Product: "ocr", Clock: e.site.Clock,
			Host: func() (*fingerprint.Fingerprint, error) { return host, nil }, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Check(); err != nil {
			t.Errorf("a key file from node %s: %v", n.Name, err)
		}
	}
}

// A node that loses its database cannot decide: the SDK asks the next
// node, and with no other node keeps the verdict it holds until it is
// stale. No Authorize fails.
func TestClusterNodeLosesItsDatabase(t *testing.T) {
	e := newEnv(t)
	db, password := pgtest.WithoutPassword(t, pgtest.Database(t))
	pwFile := filepath.Join(e.site.Dir, "pgpassword")
	if err := os.WriteFile(pwFile, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := e.site.NewCluster([]string{"auth-01", "auth-02"}, products()...)
	proxy := pgtest.NewProxy(t, db)
	for i, n := range nodes {
		n.Config.Store, n.Config.StorePassword, n.Config.Node = db, pwFile, n.Name
		if i == 0 {
			n.Config.Store = proxy.Via(db)
		}
	}
	a, b := nodes[0].Start(""), nodes[1].Start("")
	ctx := context.Background()

	cfg := e.config("ocr", a.URL, b.URL)
	cfg.Async = true
	both := e.client(cfg)
	if err := both.Authorize(ctx); err != nil || both.Status().Server != a.URL {
		t.Fatalf("Authorize at auth-01 = %v (%+v)", err, both.Status())
	}
	cfg = e.config("ocr", a.URL)
	cfg.Async, cfg.InstanceID = true, "i-2"
	alone := e.client(cfg)
	if err := alone.Authorize(ctx); err != nil {
		t.Fatal(err)
	}
	sync := e.config("ocr", a.URL, b.URL)
	sync.InstanceID = "i-1" // the async client's seat: a sync check resumes it
	syncClient := e.client(sync)

	proxy.Cut()
	both.refresh(ctx)
	if err := both.Authorize(ctx); err != nil || both.Status().Server != b.URL {
		t.Fatalf("Authorize after auth-01 lost its database = %v (%+v); want the seat renewed at auth-02", err, both.Status())
	}
	alone.refresh(ctx)
	if err := alone.Authorize(ctx); err != nil {
		t.Fatalf("Authorize with its only node cut off from the database = %v; want the verdict held until stale", err)
	}
	if err := syncClient.Authorize(ctx); err != nil || syncClient.Status().Server != b.URL {
		t.Fatalf("sync Authorize with auth-01 cut off = %v (%+v); want auth-02's answer", err, syncClient.Status())
	}
	proxy.Restore()
}

// BenchmarkClusterFailover measures how long an async client takes to
// move to the other node when the node it uses dies (failover-ms: from
// the kill to its first successful refresh at the other node) and counts
// the Authorize calls that failed meanwhile (failed-authorize), with the
// default probe interval. Two nodes on one PostgreSQL. Target: ≤ 1.5 s,
// no failure.
func BenchmarkClusterFailover(b *testing.B) {
	var total time.Duration
	var failed int64
	for range b.N {
		b.StopTimer()
		d, f := failover(b)
		total += d
		failed += f
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1e3/float64(b.N), "failover-ms")
	b.ReportMetric(float64(failed), "failed-authorize")
	b.ReportMetric(0, "ns/op")
}

func failover(b *testing.B) (time.Duration, int64) {
	site := sitetest.New(b)
	db, password := pgtest.WithoutPassword(b, pgtest.Database(b))
	pwFile := filepath.Join(site.Dir, "pgpassword")
	if err := os.WriteFile(pwFile, []byte(password), 0o600); err != nil {
		b.Fatal(err)
	}
	nodes := site.NewCluster([]string{"auth-01", "auth-02"}, products()...)
	for _, n := range nodes {
		n.Config.Store, n.Config.StorePassword, n.Config.Node = db, pwFile, n.Name
	}
	a, bb := nodes[0].Start(""), nodes[1].Start("")
	cert, key := site.Client("app1")
	c, err := New(Config{Servers: []string{a.URL, bb.URL}, CAFile: site.CA(), CertFile: cert, KeyFile: key, VendorKeyFile: site.VendorPubFile(),
		Product: "ocr", InstanceID: "i-1", Clock: site.Clock, Async: true, resolver: offlineResolver, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Authorize(ctx); err != nil {
		b.Fatal(err)
	}
	var failed atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if c.Authorize(ctx) != nil {
				failed.Add(1)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	start := time.Now()
	a.Kill()
	for {
		if st := c.Status(); st.Authorized && st.Server == bb.URL {
			break
		}
		if time.Since(start) > 30*time.Second {
			b.Fatal("no failover within 30s")
		}
		time.Sleep(time.Millisecond)
	}
	d := time.Since(start)
	close(stop)
	<-done
	return d, failed.Load()
}
