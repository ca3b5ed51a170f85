package sdk

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/verdict"
)

// TestImportGraph holds the SDK to its promise: a product that links it
// does not link the server, a store, an SQL driver, metrics, the CLI or a
// JOSE library (package jws reads and writes the one envelope it needs).
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/licensor/licensor/server", "github.com/licensor/licensor/store", "github.com/licensor/licensor/cli",
			"github.com/licensor/licensor/loadtest", "database/sql", "modernc.org/", "github.com/prometheus/", "github.com/jackc/",
			"github.com/go-jose/",
		} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("the SDK depends on %s", dep)
			}
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	good := []string{"PATH=/bin", "LICENSOR_SERVERS=https://a:8443, https://b:8443", "LICENSOR_ASYNC=1", "LICENSOR_CA=ca.crt",
		"LICENSOR_CERT=app.crt", "LICENSOR_KEY=app.key", "LICENSOR_VENDOR_PUB=vendor.pub", "LICENSOR_PRODUCT=ocr",
		"LICENSOR_INSTANCE_ID=host-1", "LICENSOR_CONNECT_TIMEOUT=500ms", "LICENSOR_READ_TIMEOUT=2s",
		"LICENSOR_TOKEN_PIN=1234"} // the site server's, on the same host: not the SDK's, and no error
	c, err := configFromEnv(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Servers) != 2 || c.Servers[1] != "https://b:8443" || !c.Async || c.ConnectTimeout != 500*time.Millisecond || c.InstanceID != "host-1" {
		t.Fatalf("config = %+v", c)
	}
	tests := []struct{ name, env, say string }{
		{"unknown", "LICENSOR_SERVER=https://a", "LICENSOR_SERVER: unknown setting"},
		{"bad-bool", "LICENSOR_ASYNC=yes please", "LICENSOR_ASYNC"},
		{"bad-duration", "LICENSOR_READ_TIMEOUT=3", "LICENSOR_READ_TIMEOUT"},
		{"negative-duration", "LICENSOR_CONNECT_TIMEOUT=-1s", "LICENSOR_CONNECT_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := configFromEnv([]string{tt.env})
			if codes.Of(err) != codes.ConfigInvalid || !strings.Contains(err.Error(), tt.say) {
				t.Fatalf("err = %v, want config_invalid naming %s", err, tt.say)
			}
		})
	}
	// A config missing a setting names it.
	for _, drop := range []string{"LICENSOR_SERVERS", "LICENSOR_CA", "LICENSOR_CERT", "LICENSOR_VENDOR_PUB", "LICENSOR_PRODUCT"} {
		var env []string
		for _, kv := range good {
			if !strings.HasPrefix(kv, drop+"=") {
				env = append(env, kv)
			}
		}
		c, _ := configFromEnv(env)
		if _, err := New(c); codes.Of(err) != codes.ConfigInvalid || !strings.Contains(err.Error(), drop) {
			t.Errorf("without %s: %v", drop, err)
		}
	}
	// Ids the server refuses as instance ids are refused here first.
	for _, id := range []string{"keyfile:0123456789abcdef0123456789abcdef", "a b", strings.Repeat("x", 129)} {
		c, _ := configFromEnv(append(good, "LICENSOR_INSTANCE_ID="+id))
		if _, err := New(c); codes.Of(err) != codes.ConfigInvalid || !strings.Contains(err.Error(), "LICENSOR_INSTANCE_ID") {
			t.Errorf("instance id %q: %v", id, err)
		}
	}
}

// env is a site with servers, and clients of it.
type env struct {
	t    *testing.T
	site *sitetest.Site
}

func newEnv(t *testing.T) *env { return &env{t: t, site: sitetest.New(t)} }

func (e *env) config(product string, urls ...string) Config {
	cert, key := e.site.Client("app1")
	return Config{Servers: urls, CAFile: e.site.CA(), CertFile: cert, KeyFile: key, VendorKeyFile: e.site.VendorPubFile(),
		Product: product, InstanceID: "i-1", Clock: e.site.Clock, ConnectTimeout: 500 * time.Millisecond, ReadTimeout: time.Second,
		ProbeInterval: 50 * time.Millisecond, resolver: offlineResolver, Logger: slog.New(slog.DiscardHandler)}
}

func (e *env) client(cfg Config) *Client {
	e.t.Helper()
	c, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func products() []license.Product {
	return []license.Product{sitetest.Product("ocr", 2, 0), sitetest.Product("asr", 2, 100)}
}

func TestSync(t *testing.T) {
	e := newEnv(t)
	r := e.site.NewServer("a", products()...).Start("")
	c := e.client(e.config("ocr", r.URL))
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatalf("Authorize = %v", err)
	}
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatalf("second Authorize = %v", err)
	}
	st := c.Status()
	if !st.Authorized || st.Server != r.URL || st.LicenseID == "" || st.Holder != "ACME" || !c.Has("basic") || c.Has("turbo") {
		t.Fatalf("Status = %+v", st)
	}
	for _, tt := range []struct {
		product string
		want    codes.Code
	}{{"asr", codes.QPSNeedsAsync}, {"tts", codes.ProductUnlicensed}} {
		c := e.client(e.config(tt.product, r.URL))
		if err := c.Authorize(context.Background()); codes.Of(err) != tt.want {
			t.Errorf("%s: Authorize = %v, want %v", tt.product, err, tt.want)
		}
	}
	// A full pool.
	cfg := e.config("ocr", r.URL)
	for _, id := range []string{"i-2", "i-3"} {
		cfg.InstanceID = id
		err := e.client(cfg).Authorize(context.Background())
		if id == "i-3" && codes.Of(err) != codes.InstanceLimit {
			t.Fatalf("third instance: %v", err)
		}
	}
}

func TestAsync(t *testing.T) {
	e := newEnv(t)
	r := e.site.NewServer("a", products()...).Start("")
	var changes []bool
	var mu sync.Mutex
	cfg := e.config("ocr", r.URL)
	cfg.Async = true
	cfg.OnStateChange = func(ok bool, err error) { mu.Lock(); changes = append(changes, ok); mu.Unlock() }
	c := e.client(cfg)
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatalf("Authorize = %v", err)
	}
	// The server goes: the verdict in memory holds until it is stale.
	r.Kill()
	c.probeOnce()
	c.refresh(context.Background())
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatalf("with the server gone but the verdict in time: %v", err)
	}
	e.site.Clock.Advance(DefaultStaleAfter + time.Second)
	c.watch()
	if err := c.Authorize(context.Background()); codes.Of(err) != codes.AllServersDown {
		t.Fatalf("stale with every server down: %v", err)
	}
	mu.Lock()
	if fmt.Sprint(changes) != "[true false]" {
		t.Errorf("state changes %v", changes)
	}
	mu.Unlock()
}

func TestAsyncStaleWithServerUp(t *testing.T) {
	e := newEnv(t)
	r := e.site.NewServer("a", products()...).Start("")
	cfg := e.config("ocr", r.URL)
	cfg.Async = true
	c := e.client(cfg)
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The refresher was suspended (nothing refreshed) for ten minutes.
	e.site.Clock.Advance(DefaultStaleAfter + time.Second)
	c.watch()
	if err := c.Authorize(context.Background()); codes.Of(err) != codes.Stale {
		t.Fatalf("Authorize = %v, want stale", err)
	}
	// The next refresh brings it back.
	c.refresh(context.Background())
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatalf("after a refresh: %v", err)
	}
}

func TestAsyncRefresherDeath(t *testing.T) {
	e := newEnv(t)
	r := e.site.NewServer("a", sitetest.Product("ocr", 2, 0)).Start("")
	cfg := e.config("ocr", r.URL)
	cfg.Async = true
	cfg.ExpiryWarning = 365 * 24 * time.Hour // the license ends within a year: the callback fires
	var calls atomic.Int32
	cfg.OnExpiryApproaching = func(string, time.Time) {
		if calls.Add(1) > 1 {
			panic("the product's callback fails")
		}
	}
	c := e.client(cfg)
	if calls.Load() != 1 {
		t.Fatalf("OnExpiryApproaching called %d times at start", calls.Load())
	}
	e.site.Clock.Advance(25 * time.Hour) // a day later the callback fires again, and panics
	c.kick()
	deadline := time.Now().Add(5 * time.Second)
	for codes.Of(c.Authorize(context.Background())) != codes.AsyncDead {
		if time.Now().After(deadline) {
			t.Fatalf("Authorize = %v, want async_dead", c.Authorize(context.Background()))
		}
		time.Sleep(5 * time.Millisecond) // waiting for another goroutine, not for time to pass
	}
}

func TestAsyncQPS(t *testing.T) {
	e := newEnv(t)
	r := e.site.NewServer("a", products()...).Start("")
	cfg := e.config("asr", r.URL)
	cfg.Async = true
	c := e.client(cfg)
	ok, over := 0, 0
	for range 150 {
		switch err := c.Authorize(context.Background()); codes.Of(err) {
		case codes.OK:
			ok++
		case codes.QPSExceeded:
			over++
		default:
			t.Fatalf("Authorize = %v", err)
		}
	}
	// The share is 100/s and the bucket holds one second of it; refills in
	// the few milliseconds of the loop add a little.
	if ok < 100 || ok > 110 || over == 0 {
		t.Fatalf("%d allowed, %d refused; want about 100 allowed", ok, over)
	}
}

func TestCloseReleasesAndRestartResumes(t *testing.T) {
	e := newEnv(t)
	r := e.site.NewServer("a", products()...).Start("")
	cfg := e.config("ocr", r.URL)
	cfg.Async = true
	first, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The product restarts without closing (a crash): the same instance id
	// resumes its seat rather than taking another.
	second := e.client(cfg)
	if !second.Status().Resumed {
		t.Fatalf("a restart with the same instance id took a new seat: %+v", second.Status())
	}
	first.closed.Store(true) // forget the first without releasing
	close(first.stop)
	first.wg.Wait()
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	held, _ := r.Server.Held(context.Background())
	if held["ocr"] != 0 {
		t.Fatalf("Close left %d seats held", held["ocr"])
	}
	if err := second.Authorize(context.Background()); codes.Of(err) != codes.AsyncDead {
		t.Fatalf("Authorize after Close = %v", err)
	}
}

func TestFailover(t *testing.T) {
	e := newEnv(t)
	a := e.site.NewServer("a", products()...).Start("")
	b := e.site.NewServer("b", products()...).Start("")
	var connErrs atomic.Int32
	cfg := e.config("ocr", a.URL, b.URL)
	cfg.Async = true
	cfg.OnConnectError = func(string, error) { connErrs.Add(1) }
	c := e.client(cfg)
	if c.Status().Server != a.URL {
		t.Fatalf("registered with %s, want the first server", c.Status().Server)
	}
	// Callers hammer Authorize while the first server dies: none may fail.
	stop := make(chan struct{})
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c.Authorize(context.Background()) != nil {
					failed.Add(1)
				}
			}
		})
	}
	killed := time.Now()
	a.Kill()
	deadline := killed.Add(5 * time.Second)
	for c.Status().Server != b.URL {
		if time.Now().After(deadline) {
			t.Fatalf("no failover: %+v", c.Status())
		}
		time.Sleep(5 * time.Millisecond) // waiting for the refresher, not for time to pass
	}
	close(stop)
	wg.Wait()
	t.Logf("failover took %s", time.Since(killed).Round(time.Millisecond))
	if failed.Load() != 0 {
		t.Fatalf("%d Authorize calls failed during the failover", failed.Load())
	}
	if connErrs.Load() == 0 {
		t.Error("OnConnectError was not called")
	}
	held, _ := b.Server.Held(context.Background())
	if held["ocr"] != 1 {
		t.Fatalf("the second server holds %d seats", held["ocr"])
	}
}

func TestSyncFailoverAndAllDown(t *testing.T) {
	e := newEnv(t)
	a := e.site.NewServer("a", products()...).Start("")
	b := e.site.NewServer("b", products()...).Start("")
	c := e.client(e.config("ocr", a.URL, b.URL))
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Kill()
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatalf("Authorize with the first server down: %v", err)
	}
	if c.Status().Server != b.URL {
		t.Fatalf("answered by %s", c.Status().Server)
	}
	b.Kill()
	err := c.Authorize(context.Background())
	if codes.Of(err) != codes.AllServersDown || !strings.Contains(err.Error(), a.URL) || !strings.Contains(err.Error(), b.URL) {
		t.Fatalf("Authorize with every server down = %v", err)
	}
	for _, u := range []string{a.URL, b.URL} {
		if strings.Contains(err.Error(), u+": "+u) {
			t.Errorf("the message names %s twice: %v", u, err)
		}
	}
}

// impostor serves answers made by the test over the site's own TLS
// certificate: a server that got hold of a certificate but not the key.
func (e *env) impostor(answer func(req api.InstanceRequest) any) string {
	e.t.Helper()
	return e.tlsServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.PathHealth {
			w.Write([]byte(`{"status":"ok"}`))
			return
		}
		var req api.InstanceRequest
		json.NewDecoder(r.Body).Decode(&req)
		json.NewEncoder(w).Encode(answer(req))
	}))
}

func TestChainOfTrust(t *testing.T) {
	e := newEnv(t)
	real := e.site.NewServer("a", products()...)
	r := real.Start("")
	// A genuine answer, captured.
	var genuine api.VerdictBody
	{
		cert, key := e.site.Client("app1")
		tlsCfg, _ := pki.ClientTLSConfig(e.site.CA(), cert, key, time.Now())
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
		resp, err := hc.Post(r.URL+api.PathAuthorize, "application/json", strings.NewReader(`{"product":"ocr","instance_id":"i-1","nonce":"old"}`))
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&genuine)
		resp.Body.Close()
		hc.CloseIdleConnections()
	}
	signed, _ := license.Parse([]byte(genuine.License))
	lic, _ := signed.Verify(e.site.VendorPub)
	_, otherKey, _ := keys.Generate()
	sign := func(key ed25519.PrivateKey, kid string, mutate func(c *verdict.Claims)) func(api.InstanceRequest) any {
		return func(req api.InstanceRequest) any {
			now := e.site.Clock.Now()
			c := &verdict.Claims{Issuer: verdict.Issuer, Subject: req.InstanceID, Audience: verdict.Audience(req.Product),
				IssuedAt: now.Unix(), NotBefore: now.Unix() - 60, Expires: now.Add(time.Minute).Unix(), ID: "x", Nonce: req.Nonce,
				Product: req.Product, LicenseID: lic.ID, Lease: now.Add(time.Minute).Unix(), Machine: lic.Machines[0].Code}
			if mutate != nil {
				mutate(c)
			}
			tok, _ := verdict.Sign(key, kid, c)
			return api.VerdictBody{Verdict: tok, License: genuine.License, Lease: api.LeaseBody{Expires: now.Add(time.Minute)}}
		}
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name   string
		answer func(api.InstanceRequest) any
		want   codes.Code
	}{
		{"the-real-key-signs", sign(real.Key, keys.ID(real.Key.Public().(ed25519.PublicKey)), nil), codes.OK},
		{"another-key-claims-the-servers-kid", sign(otherKey, keys.ID(real.Key.Public().(ed25519.PublicKey)), nil), codes.VerdictForged},
		{"another-key-its-own-kid", sign(otherKey, keys.ID(otherKey.Public().(ed25519.PublicKey)), nil), codes.VerdictForged},
		{"replayed-answer", func(api.InstanceRequest) any { return genuine }, codes.VerdictReplayed},
		{"answer-for-another-instance", sign(real.Key, keys.ID(real.Key.Public().(ed25519.PublicKey)), func(c *verdict.Claims) { c.Subject = "i-9" }), codes.VerdictReplayed},
		{"expired-answer", sign(real.Key, keys.ID(real.Key.Public().(ed25519.PublicKey)), func(c *verdict.Claims) { c.Expires -= 3600 }), codes.VerdictReplayed},
		{"server-on-another-machine", sign(real.Key, keys.ID(real.Key.Public().(ed25519.PublicKey)), func(c *verdict.Claims) { c.Machine = strings.Repeat("0", 32) }), codes.Fingerprint},
		{"altered-verdict", func(req api.InstanceRequest) any {
			v := sign(real.Key, keys.ID(real.Key.Public().(ed25519.PublicKey)), nil)(req).(api.VerdictBody)
			v.Verdict = flip(v.Verdict, len(v.Verdict)-5)
			return v
		}, codes.VerdictForged},
		{"altered-license", func(req api.InstanceRequest) any {
			v := sign(real.Key, keys.ID(real.Key.Public().(ed25519.PublicKey)), nil)(req).(api.VerdictBody)
			mid := len(signed.Compact) / 2 // inside the payload
			v.License = signed.Compact[:mid] + flip(signed.Compact[mid:mid+1], 0) + signed.Compact[mid+1:]
			return v
		}, codes.LicenseTampered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := e.impostor(tt.answer)
			c := e.client(e.config("ocr", url))
			err := c.Authorize(context.Background())
			if codes.Of(err) != tt.want {
				t.Fatalf("Authorize = %v, want code %v", err, tt.want)
			}
		})
	}
}

// TestTransportCodes produces transport failures through Authorize.
func TestTransportCodes(t *testing.T) {
	e := newEnv(t)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	defer plain.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := "https://" + closed.Listener.Addr().String()
	closed.Close()
	tests := []struct {
		name string
		url  string
		want codes.Code
	}{
		{"plain-http", "https://" + plain.Listener.Addr().String(), codes.Protocol},
		{"closed-port", closedURL, codes.Connect},
		{"unresolvable", "https://licensor.invalid:8443", codes.Resolve},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client(e.config("ocr", tt.url))
			if err := c.Authorize(context.Background()); codes.Of(err) != tt.want {
				t.Fatalf("Authorize = %v, want %v", err, tt.want)
			}
		})
	}
	// New refuses what it can check itself.
	cfg := e.config("ocr", closedURL)
	cfg.CAFile = filepath.Join(e.site.Dir, "nope.crt")
	if _, err := New(cfg); codes.Of(err) != codes.CAFile {
		t.Errorf("New with a missing CA file = %v", err)
	}
	cfg = e.config("ocr", closedURL)
	cfg.KeyFile, _ = e.site.Client("app2")
	if _, err := New(cfg); codes.Of(err) != codes.ClientCert {
		t.Errorf("New with a key that does not match = %v", err)
	}
}

// offlineResolver fails every lookup without a packet leaving the machine:
// tests reach only loopback.
var offlineResolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
	return nil, errors.New("no DNS server in tests")
}}
