package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/storeopen"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/verdict"
)

// site is a complete site made in a temporary directory: PKI, vendor
// key, server key, license and configuration.
type site struct {
	t          *testing.T
	dir        string
	clock      *clock.Fake
	host       *fingerprint.Fingerprint
	vendorPriv ed25519.PrivateKey
	vendorPub  ed25519.PublicKey
	serverPub  ed25519.PublicKey
	cfg        Config
	logs       *syncBuffer
}

var t0 = time.Now().UTC().Truncate(time.Second)

func fakeHost(name string) *fingerprint.Fingerprint {
	fp := &fingerprint.Fingerprint{Environment: fingerprint.BareMetal}
	for _, c := range fingerprint.Order {
		fp.Components = append(fp.Components, fingerprint.Component{Name: c, Hash: fingerprint.HashComponent(c, name+c)})
	}
	fp.Code = fingerprint.CodeOf(fp.Hashes())
	return fp
}

func newSite(t *testing.T, products ...license.Product) *site {
	t.Helper()
	s := &site{t: t, dir: t.TempDir(), clock: clock.NewFake(t0), host: fakeHost("auth-01"), logs: &syncBuffer{}}
	if _, err := pki.InitSite(filepath.Join(s.dir, "pki"), []string{"127.0.0.1", "localhost"}, t0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		role pki.Role
	}{{"app1", pki.RoleInstance}, {"app2", pki.RoleInstance}, {"ops", pki.RoleAdmin}, {"renewer", pki.RoleRenew}} {
		if _, err := pki.IssueClient(filepath.Join(s.dir, "pki"), c.name, c.role, 30, t0); err != nil {
			t.Fatal(err)
		}
	}
	s.vendorPub, s.vendorPriv, _ = keys.Generate()
	os.WriteFile(filepath.Join(s.dir, "vendor.pub"), keys.MarshalPublic(s.vendorPub), 0o644)
	serverPriv, _, err := keys.LoadOrCreate(filepath.Join(s.dir, "data", ServerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	s.serverPub = serverPriv.Public().(ed25519.PublicKey)
	if len(products) == 0 {
		products = []license.Product{
			{Subject: "ocr", Functions: []string{"table"}, InstanceSize: 3, NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(0, 1, 0)},
			{Subject: "asr", InstanceSize: 2, QPS: 100, NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(0, 1, 0)},
			{Subject: "tts", InstanceSize: 2, NotBefore: t0.AddDate(0, 0, 7), NotAfter: t0.AddDate(0, 1, 0)},
			{Subject: "old", InstanceSize: 2, NotBefore: t0.AddDate(-1, 0, 0), NotAfter: t0.Add(-time.Hour)},
		}
	}
	s.writeLicense(s.serverPub, products...)
	s.cfg = Default()
	s.cfg.Listen = "127.0.0.1:0"
	for _, p := range []*string{&s.cfg.License, &s.cfg.VendorPublicKey, &s.cfg.DataDir, &s.cfg.TLS.CA, &s.cfg.TLS.Cert, &s.cfg.TLS.Key} {
		*p = filepath.Join(s.dir, *p)
	}
	return s
}

func (s *site) writeLicense(serverPub ed25519.PublicKey, products ...license.Product) {
	s.t.Helper()
	l := &license.License{Holder: "ACME", Issuer: "Vendor", Issued: t0.Add(-time.Hour),
		Machines:  []fingerprint.Machine{{Code: s.host.Code, Components: s.host.Hashes()}},
		MatchMin:  4,
		ServerKey: keys.PublicJWK(serverPub), Products: products}
	file, err := license.Sign(l, s.vendorPriv)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "site.lic"), file, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *site) options() Options {
	return Options{Clock: s.clock, Logger: slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Fingerprint: func() (*fingerprint.Fingerprint, error) { return s.host, nil }, Store: openSQLite(s.t, s.cfg.DataDir)}
}

// openSQLite opens the store in a data directory, as licensor serve does
// by default.
func openSQLite(t testing.TB, dataDir string) store.Store {
	t.Helper()
	st, err := storeopen.Open(context.Background(), storeopen.Setting{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// running is a server serving on loopback.
type running struct {
	*Server
	url    string
	cancel context.CancelFunc
	done   chan error
}

func (s *site) start() *running {
	s.t.Helper()
	srv, err := New(s.cfg, s.options())
	if err != nil {
		s.t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Server: srv, url: "https://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Run(ctx, ln) }()
	s.t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.Close()
	r.cancel = nil
}

// client is a real HTTPS client with the named client certificate.
func (s *site) client(name string) *http.Client {
	s.t.Helper()
	pkiDir := filepath.Join(s.dir, "pki")
	cfg, err := pki.ClientTLSConfig(filepath.Join(pkiDir, "ca.crt"), filepath.Join(pkiDir, "clients", name+".crt"), filepath.Join(pkiDir, "clients", name+".key"), t0)
	if err != nil {
		s.t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 100}
	// Close the client's connections before the server stops: a connection
	// that never carried a request holds up a graceful shutdown for 5 s.
	s.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type answer struct {
	status int
	body   []byte
}

func (a answer) code() int {
	var e struct{ Code int }
	json.Unmarshal(a.body, &e)
	return e.Code
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("%v: %s", err, a.body)
	}
}

func call(t *testing.T, c *http.Client, method, url string, body any) answer {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		r = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, url, r)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, data}
}

func (r *running) authorize(t *testing.T, c *http.Client, product, id string) answer {
	return call(t, c, "POST", r.url+api.PathAuthorize, api.InstanceRequest{Product: product, InstanceID: id, Nonce: "n-" + id})
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestAuthorizeChainOfTrust(t *testing.T) {
	s := newSite(t)
	r := s.start()
	a := r.authorize(t, s.client("app1"), "ocr", "i-1")
	if a.status != 200 {
		t.Fatalf("authorize: %d %s", a.status, a.body)
	}
	var v api.VerdictBody
	a.decode(t, &v)
	// vendor key → license
	signed, err := license.Parse([]byte(v.License))
	if err != nil {
		t.Fatal(err)
	}
	l, err := signed.Verify(s.vendorPub)
	if err != nil {
		t.Fatal(err)
	}
	// license → server key → verdict
	serverPub, err := l.ServerPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := verdict.Verify(v.Verdict, serverPub, verdict.Expect{InstanceID: "i-1", Product: "ocr", LicenseID: l.ID, Nonce: "n-i-1", Now: s.clock.Now()})
	if err != nil {
		t.Fatalf("verdict: %v", err)
	}
	if c.Functions[0] != "table" || v.Lease.Limit != 3 || v.Lease.Held != 1 || v.Lease.Resumed {
		t.Fatalf("claims %+v, lease %+v", c, v.Lease)
	}
	// The JWKS publishes the same key.
	var jwks JWKS
	call(t, s.client("app1"), "GET", r.url+api.PathJWKS, nil).decode(t, &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0].Kid != keys.ID(serverPub) || jwks.Keys[0].Alg != "EdDSA" {
		t.Fatalf("jwks = %+v", jwks)
	}
	// A client that holds the license gets it left out.
	a = call(t, s.client("app1"), "POST", r.url+api.PathHeartbeat, api.InstanceRequest{Product: "ocr", InstanceID: "i-1", HaveLicense: l.ID})
	v = api.VerdictBody{}
	a.decode(t, &v)
	if a.status != 200 || v.License != "" || !v.Lease.Resumed {
		t.Fatalf("heartbeat: %d %s", a.status, a.body)
	}
}

func TestPool(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app := s.client("app1")
	for i := range 3 {
		if a := r.authorize(t, app, "ocr", fmt.Sprint("i-", i)); a.status != 200 {
			t.Fatalf("authorize i-%d: %d %s", i, a.status, a.body)
		}
	}
	// A reconnect resumes its seat.
	if a := r.authorize(t, app, "ocr", "i-1"); a.status != 200 {
		t.Fatalf("resume: %d %s", a.status, a.body)
	}
	a := r.authorize(t, app, "ocr", "i-3")
	var e api.ErrorBody
	a.decode(t, &e)
	if a.status != 429 || e.Code != int(codes.InstanceLimit) || e.Held != 3 || e.Limit != 3 || e.OldestExpires == nil || e.Fix == "" {
		t.Fatalf("fourth instance: %d %s", a.status, a.body)
	}
	// Release frees a seat.
	a = call(t, app, "POST", r.url+api.PathRelease, api.InstanceRequest{Product: "ocr", InstanceID: "i-0"})
	if a.status != 200 || !strings.Contains(string(a.body), `"released":true`) {
		t.Fatalf("release: %d %s", a.status, a.body)
	}
	if a := r.authorize(t, app, "ocr", "i-3"); a.status != 200 {
		t.Fatalf("authorize after release: %d %s", a.status, a.body)
	}
	// A lease not renewed lapses and frees its seat.
	s.clock.Advance(time.Duration(s.cfg.LeaseTTL) + time.Second)
	if a := call(t, app, "POST", r.url+api.PathHeartbeat, api.InstanceRequest{Product: "ocr", InstanceID: "i-1"}); a.code() != int(codes.LeaseUnknown) || a.status != 404 {
		t.Fatalf("heartbeat after lapse: %d %s", a.status, a.body)
	}
	for i := range 3 {
		if a := r.authorize(t, app, "ocr", fmt.Sprint("j-", i)); a.status != 200 {
			t.Fatalf("authorize j-%d after lapse: %d %s", i, a.status, a.body)
		}
	}
}

func TestVerdictCodes(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app := s.client("app1")
	post := func(path, body string) answer { return call(t, app, "POST", r.url+path, body) }
	tests := []struct {
		name   string
		do     func() answer
		code   codes.Code
		status int
	}{
		{"product-unlicensed", func() answer { return r.authorize(t, app, "vision", "i-1") }, codes.ProductUnlicensed, 403},
		{"expired", func() answer { return r.authorize(t, app, "old", "i-1") }, codes.Expired, 403},
		{"not-yet-valid", func() answer { return r.authorize(t, app, "tts", "i-1") }, codes.NotYetValid, 403},
		{"qps-needs-async", func() answer { return r.authorize(t, app, "asr", "i-1") }, codes.QPSNeedsAsync, 403},
		{"malformed-json", func() answer { return post(api.PathAuthorize, `{"product": "ocr",`) }, codes.RequestMalformed, 400},
		{"unknown-field", func() answer { return post(api.PathAuthorize, `{"product":"ocr","instance_id":"a","seats":9}`) }, codes.RequestMalformed, 400},
		{"bad-instance-id", func() answer { return post(api.PathAuthorize, `{"product":"ocr","instance_id":"a b"}`) }, codes.RequestMalformed, 400},
		{"bad-mode", func() answer { return post(api.PathAuthorize, `{"product":"ocr","instance_id":"a","mode":"turbo"}`) }, codes.RequestMalformed, 400},
		{"long-instance-id", func() answer {
			return post(api.PathAuthorize, `{"product":"ocr","instance_id":"`+strings.Repeat("x", 200)+`"}`)
		}, codes.RequestTooLarge, 413},
		{"huge-body", func() answer { return post(api.PathAuthorize, `{"product":"`+strings.Repeat("x", 20000)+`"}`) }, codes.RequestTooLarge, 413},
		{"heartbeat-unknown", func() answer { return post(api.PathHeartbeat, `{"product":"ocr","instance_id":"ghost"}`) }, codes.LeaseUnknown, 404},
		{"wrong-role", func() answer {
			return call(t, s.client("renewer"), "POST", r.url+api.PathAuthorize, `{"product":"ocr","instance_id":"a"}`)
		}, codes.RoleForbidden, 403},
		{"admin-needs-admin", func() answer { return call(t, app, "GET", r.url+api.PathInstances, nil) }, codes.RoleForbidden, 403},
		{"no-endpoint", func() answer { return call(t, app, "GET", r.url+"/v2/nothing", nil) }, codes.RequestMalformed, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.do()
			var e api.ErrorBody
			a.decode(t, &e)
			if a.status != tt.status || e.Code != int(tt.code) || e.Name != tt.code.Name() || e.Message == "" || e.Fix == "" {
				t.Fatalf("got %d %s, want %d code %d", a.status, a.body, tt.status, tt.code)
			}
		})
	}
	// None changed the pool.
	held, _ := r.store.Held(context.Background(), s.clock.Now())
	if len(held) != 0 {
		t.Fatalf("refused requests changed the pool: %v", held)
	}
	// Each denial is one log line with its code.
	logs := s.logs.String()
	for _, tt := range tests {
		if !strings.Contains(logs, fmt.Sprintf("code=%d", tt.code)) {
			t.Errorf("no log line with code=%d", tt.code)
		}
	}
}

func TestClockRollback(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app := s.client("app1")
	if a := r.authorize(t, app, "ocr", "i-1"); a.status != 200 {
		t.Fatalf("authorize: %d %s", a.status, a.body)
	}
	s.clock.Advance(-time.Minute) // within the tolerance
	if a := r.authorize(t, app, "ocr", "i-1"); a.status != 200 {
		t.Fatalf("authorize a minute back: %d %s", a.status, a.body)
	}
	s.clock.Advance(-10 * time.Minute)
	a := r.authorize(t, app, "ocr", "i-1")
	if a.status != 503 || a.code() != int(codes.ClockRollback) {
		t.Fatalf("authorize 11 minutes back: %d %s", a.status, a.body)
	}
	// The mark is durable: a restart with the clock still back refuses to start.
	r.stop()
	_, err := New(s.cfg, s.options())
	if codes.Of(err) != codes.ClockRollback {
		t.Fatalf("New with the clock back = %v", err)
	}
	s.clock.Advance(10 * time.Minute)
	s.start()
}

func TestRestartKeepsLeases(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app := s.client("app1")
	for i := range 3 {
		r.authorize(t, app, "ocr", fmt.Sprint("i-", i))
	}
	r.stop()
	r = s.start()
	if a := r.authorize(t, app, "ocr", "i-9"); a.code() != int(codes.InstanceLimit) {
		t.Fatalf("after restart a fourth instance got %d %s", a.status, a.body)
	}
	var v api.VerdictBody
	a := r.authorize(t, app, "ocr", "i-2")
	a.decode(t, &v)
	if a.status != 200 || !v.Lease.Resumed {
		t.Fatalf("after restart i-2 did not resume its seat: %d %s", a.status, a.body)
	}
}

func TestConcurrentRegistrationsNeverOverGrant(t *testing.T) {
	s := newSite(t, license.Product{Subject: "ocr", InstanceSize: 50, NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(0, 1, 0)})
	r := s.start()
	app := s.client("app1")
	const n = 1000
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			a := r.authorize(t, app, "ocr", fmt.Sprint("c-", i))
			mu.Lock()
			statuses[a.code()]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[0] != 50 || statuses[int(codes.InstanceLimit)] != n-50 {
		t.Fatalf("answers by code: %v; want exactly 50 grants", statuses)
	}
	held, _ := r.store.Held(context.Background(), s.clock.Now())
	if held["ocr"] != 50 {
		t.Fatalf("held = %d", held["ocr"])
	}
}

func TestAdmin(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app, ops := s.client("app1"), s.client("ops")
	r.authorize(t, app, "ocr", "i-1")
	r.authorize(t, app, "ocr", "i-2")
	var list InstancesBody
	call(t, ops, "GET", r.url+api.PathInstances, nil).decode(t, &list)
	var ocr ProductPool
	for _, p := range list.Products {
		if p.Product == "ocr" {
			ocr = p
		}
	}
	if ocr.Held != 2 || ocr.Limit != 3 || len(ocr.Instances) != 2 || ocr.Instances[0].Holder != "app1" {
		t.Fatalf("instances = %+v", list)
	}
	if a := call(t, ops, "POST", r.url+api.PathRevoke, RevokeRequest{Product: "ocr", InstanceID: "i-1"}); a.status != 200 {
		t.Fatalf("revoke: %d %s", a.status, a.body)
	}
	if a := call(t, app, "POST", r.url+api.PathHeartbeat, api.InstanceRequest{Product: "ocr", InstanceID: "i-1"}); a.code() != int(codes.LeaseUnknown) {
		t.Fatalf("heartbeat after revoke: %d %s", a.status, a.body)
	}
	if a := call(t, ops, "POST", r.url+api.PathRevoke, RevokeRequest{Product: "ocr", InstanceID: "i-1"}); a.code() != int(codes.LeaseUnknown) {
		t.Fatalf("second revoke: %d %s", a.status, a.body)
	}

	// Reload picks up a new license without a restart.
	s.writeLicense(s.serverPub, license.Product{Subject: "ocr", InstanceSize: 9, NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(1, 0, 0)})
	var view license.View
	a := call(t, ops, "POST", r.url+api.PathReload, nil)
	a.decode(t, &view)
	if a.status != 200 || view.ProductLicenses[0].InstanceSize != 9 {
		t.Fatalf("reload: %d %s", a.status, a.body)
	}
	// A license for another server key is refused and the old one stays.
	other, _, _ := keys.Generate()
	s.writeLicense(other, license.Product{Subject: "ocr", InstanceSize: 1, NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(1, 0, 0)})
	if a := call(t, ops, "POST", r.url+api.PathReload, nil); a.code() != int(codes.ServerKeyMismatch) {
		t.Fatalf("reload of a license for another server: %d %s", a.status, a.body)
	}
	call(t, app, "GET", r.url+api.PathLicense, nil).decode(t, &view)
	if view.ProductLicenses[0].InstanceSize != 9 {
		t.Fatalf("a refused reload replaced the license: %+v", view)
	}

	// The audit chain holds every decision and verifies.
	var kinds []string
	var v store.Verifier
	if err := r.store.Audit(context.Background(), 0, func(e store.Event) error { kinds = append(kinds, e.Kind); return v.Check(e) }); err != nil {
		t.Fatal(err)
	}
	want := "start grant grant revoke deny deny reload reload"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("audit %q, want %q", got, want)
	}
}

func TestOperatorEndpoints(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app := s.client("app1")
	r.authorize(t, app, "ocr", "i-1")
	var view map[string]any
	call(t, app, "GET", r.url+api.PathLicense, nil).decode(t, &view)
	for _, k := range []string{"holder", "issuer", "issued", "productLicenses", "fingerType"} {
		if _, ok := view[k]; !ok {
			t.Errorf("/security/license lacks %q", k)
		}
	}
	if a := call(t, app, "GET", r.url+api.PathHealth, nil); a.status != 200 {
		t.Errorf("healthz: %d", a.status)
	}
	if a := call(t, app, "GET", r.url+api.PathReady, nil); a.status != 200 {
		t.Errorf("readyz: %d %s", a.status, a.body)
	}
	m := string(call(t, app, "GET", r.url+api.PathMetrics, nil).body)
	for _, want := range []string{
		`licensor_auth_results_total{code="0",name="ok",product="ocr"} 1`,
		`licensor_pool_size{product="ocr"} 3`,
		`licensor_pool_used{product="ocr"} 1`,
		`licensor_qps_licensed{product="asr"} 100`,
		`licensor_license_days_left{product="ocr"}`,
		`licensor_server_certificate_days_left`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestStartRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *site)
		want   codes.Code
	}{
		{"other-machine", func(s *site) { s.host = fakeHost("elsewhere") }, codes.Fingerprint},
		{"other-server-key", func(s *site) {
			other, _, _ := keys.Generate()
			s.writeLicense(other, license.Product{Subject: "ocr", InstanceSize: 1, NotBefore: t0, NotAfter: t0.AddDate(0, 1, 0)})
		}, codes.ServerKeyMismatch},
		{"wrong-vendor-key", func(s *site) {
			other, _, _ := keys.Generate()
			os.WriteFile(s.cfg.VendorPublicKey, keys.MarshalPublic(other), 0o644)
		}, codes.WrongVendorKey},
		{"no-license", func(s *site) { os.Remove(s.cfg.License) }, codes.FileMissing},
		{"no-server-key", func(s *site) { os.Remove(filepath.Join(s.cfg.DataDir, ServerKeyFile)) }, codes.FileMissing},
		{"no-ca", func(s *site) { os.Remove(s.cfg.TLS.CA) }, codes.CAFile},
		{"bad-config", func(s *site) { s.cfg.LeaseTTL = Duration(time.Second) }, codes.ConfigInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t)
			tt.change(s)
			srv, err := New(s.cfg, s.options())
			if err == nil {
				srv.Close()
			}
			if codes.Of(err) != tt.want {
				t.Fatalf("New = %v, want code %v", err, tt.want)
			}
			if codes.As(err).FixText() == "" {
				t.Fatal("no fix")
			}
		})
	}
}

func TestTLSRefusals(t *testing.T) {
	s := newSite(t)
	r := s.start()
	// No client certificate: the handshake fails.
	cfg, _ := pki.ClientTLSConfig(filepath.Join(s.dir, "pki", "ca.crt"), filepath.Join(s.dir, "pki", "clients", "app1.crt"), filepath.Join(s.dir, "pki", "clients", "app1.key"), t0)
	cfg.Certificates = nil
	bare := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	if _, err := bare.Get(r.url + api.PathHealth); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	// A certificate from another CA: the handshake fails.
	other := t.TempDir()
	pki.InitSite(other, []string{"127.0.0.1"}, t0)
	pki.IssueClient(other, "mallory", pki.RoleAdmin, 30, t0)
	cfg2, _ := pki.ClientTLSConfig(filepath.Join(s.dir, "pki", "ca.crt"), filepath.Join(other, "clients", "mallory.crt"), filepath.Join(other, "clients", "mallory.key"), t0)
	// Go's client leaves out a certificate the server's CA list does not
	// name; send it anyway, as other clients do.
	mallory := cfg2.Certificates[0]
	cfg2.Certificates = nil
	cfg2.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &mallory, nil }
	foreign := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg2}}
	if _, err := foreign.Get(r.url + api.PathHealth); err == nil {
		t.Fatal("a client with a certificate from another CA was served")
	}
	// An expired client certificate: the handshake fails.
	if _, err := pki.IssueClient(filepath.Join(s.dir, "pki"), "lapsed", pki.RoleInstance, 30, t0.AddDate(0, 0, -60)); err != nil {
		t.Fatal(err)
	}
	lapsed, err := tls.LoadX509KeyPair(filepath.Join(s.dir, "pki", "clients", "lapsed.crt"), filepath.Join(s.dir, "pki", "clients", "lapsed.key"))
	if err != nil {
		t.Fatal(err)
	}
	cfg3 := cfg.Clone()
	cfg3.Certificates = []tls.Certificate{lapsed}
	expired := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg3}}
	if _, err := expired.Get(r.url + api.PathHealth); err == nil {
		t.Fatal("a client with an expired certificate was served")
	}
	// Each is counted by reason.
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := string(call(t, s.client("app1"), "GET", r.url+api.PathMetrics, nil).body)
		if strings.Contains(m, `reason="no_client_certificate"`) && strings.Contains(m, `reason="client_certificate_unknown_ca"`) &&
			strings.Contains(m, `reason="client_certificate_expired"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handshake failures not counted:\n%s", grep(m, "tls"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestQPS(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app := s.client("app1")
	async := func(path, id string, calls int64) answer {
		return call(t, app, "POST", r.url+path, api.InstanceRequest{Product: "asr", InstanceID: id, Mode: "async", Calls: calls})
	}
	var v api.VerdictBody
	a := async(api.PathAuthorize, "q-1", 0)
	a.decode(t, &v)
	if a.status != 200 || v.QPS == nil || v.QPS.Licensed != 100 || v.QPS.Share != 100 {
		t.Fatalf("authorize: %d %s", a.status, a.body)
	}
	async(api.PathAuthorize, "q-2", 0)
	s.clock.Advance(10 * time.Second)
	v = api.VerdictBody{}
	a = async(api.PathHeartbeat, "q-1", 450) // 45/s: within its new share of 50/s
	a.decode(t, &v)
	if a.status != 200 || v.QPS.Share != 50 {
		t.Fatalf("heartbeat within the share: %d %s", a.status, a.body)
	}
	s.clock.Advance(10 * time.Second)
	a = async(api.PathHeartbeat, "q-1", 2000) // 200/s against a share of 50/s
	if a.status != 429 || a.code() != int(codes.QPSExceeded) {
		t.Fatalf("heartbeat over the share: %d %s", a.status, a.body)
	}
}

func TestStoreUnavailable(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app := s.client("app1")
	r.store.Close() // the disk is gone
	if a := r.authorize(t, app, "ocr", "i-1"); a.status != 503 || a.code() != int(codes.StoreUnavailable) {
		t.Fatalf("authorize with the store down: %d %s", a.status, a.body)
	}
	if a := call(t, app, "GET", r.url+api.PathReady, nil); a.status != 503 || a.code() != int(codes.StoreUnavailable) {
		t.Fatalf("readyz with the store down: %d %s", a.status, a.body)
	}
}
