package server

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

// vendorService is a vendor's whitelist service for the tests: it grants a
// license to an approved machine, signed with the site's vendor key.
type vendorService struct {
	mu        sync.Mutex
	approved  bool
	instances int
	notAfter  time.Time
	calls     int
	srv       *httptest.Server
	caFile    string
}

func (s *site) vendorService(t *testing.T) *vendorService {
	v := &vendorService{instances: 3, notAfter: t0.AddDate(0, 0, 30)}
	v.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.calls++
		body, _ := io.ReadAll(r.Body)
		req, err := license.ParseRequest(body)
		if err != nil {
			writeJSON(w, 400, api.ErrorBody{Code: int(codes.RequestMalformed), Name: "request_malformed", Message: err.Error()})
			return
		}
		if !v.approved {
			writeJSON(w, 403, api.ErrorBody{Code: int(codes.NotWhitelisted), Name: codes.NotWhitelisted.Name(),
				Message: "machine code " + req.MachineCode + " is not approved", Fix: "send it to the vendor"})
			return
		}
		l := &license.License{Holder: "ACME", Issuer: "vendor whitelist", Issued: t0,
			Machines: []fingerprint.Machine{req.Machine()}, MatchMin: 4, ServerKey: req.ServerKey,
			Products: []license.Product{{Subject: "ocr", InstanceSize: v.instances, NotBefore: t0.Add(-time.Hour), NotAfter: v.notAfter}}}
		file, err := license.Sign(l, s.vendorPriv)
		if err != nil {
			t.Error(err)
		}
		writeJSON(w, 200, api.GrantBody{Code: 0, Name: "ok", License: string(file), Customer: "ACME", NotAfter: v.notAfter})
	}))
	t.Cleanup(v.srv.Close)
	v.caFile = filepath.Join(t.TempDir(), "vendor-ca.crt")
	os.WriteFile(v.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.srv.Certificate().Raw}), 0o644)
	return v
}

func TestUpstream(t *testing.T) {
	s := newSite(t)
	os.Remove(s.cfg.License)
	v := s.vendorService(t)
	s.cfg.Upstream, s.cfg.UpstreamCA = []string{v.srv.URL}, v.caFile

	// Not approved, nothing kept: the server refuses to start with 525.
	if _, err := New(s.cfg, s.options()); codes.Of(err) != codes.NotWhitelisted {
		t.Fatalf("New before approval = %v", err)
	}
	v.mu.Lock()
	v.approved = true
	v.mu.Unlock()
	r := s.start()
	app := s.client("app1")
	if a := r.authorize(t, app, "ocr", "i-1"); a.status != 200 {
		t.Fatalf("authorize: %d %s", a.status, a.body)
	}
	var lic struct {
		Holder              string
		DaysLeft            float64
		LastUpstreamContact *time.Time
	}
	call(t, app, "GET", r.url+api.PathLicense, nil).decode(t, &lic)
	if lic.Holder != "ACME" || lic.DaysLeft < 29 || lic.LastUpstreamContact == nil {
		t.Fatalf("/security/license = %+v", lic)
	}
	if _, err := os.Stat(s.cfg.License); err != nil {
		t.Fatalf("the grant was not kept: %v", err)
	}

	// A renewed contract is picked up without a restart.
	v.mu.Lock()
	v.instances = 9
	v.mu.Unlock()
	if err := r.refreshGrant(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p, _ := r.lic.Load().license.Product("ocr"); p.InstanceSize != 9 {
		t.Fatalf("after the renewal the pool is %d", p.InstanceSize)
	}

	// The service goes away: a restart serves from the kept grant.
	r.stop()
	v.srv.Close()
	r = s.start()
	if a := r.authorize(t, app, "ocr", "i-1"); a.status != 200 {
		t.Fatalf("authorize from the kept grant: %d %s", a.status, a.body)
	}
	if err := r.refreshGrant(context.Background()); codes.Of(err) != codes.Connect {
		t.Fatalf("refresh with the service gone = %v", err)
	}

	// The grant runs out: the server stops with 526.
	s.clock.Advance(31 * 24 * time.Hour)
	r.reap(context.Background())
	select {
	case err := <-r.done:
		if codes.Of(err) != codes.GrantExpired {
			t.Fatalf("Run = %v, want grant_expired", err)
		}
		r.cancel = nil
		r.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop when its grant ran out")
	}
}

// FuzzParseGrant feeds arbitrary vendor answers to the upstream parser:
// only a license signed by the vendor for this machine and key may pass.
func FuzzParseGrant(f *testing.F) {
	vendorPub, vendorPriv, _ := keys.Generate()
	serverPub, _, _ := keys.Generate()
	host := fakeHost("auth-01")
	l := &license.License{Holder: "ACME", Issuer: "vendor whitelist", Issued: t0,
		Machines: []fingerprint.Machine{{Code: host.Code, Components: host.Hashes()}}, MatchMin: 4, ServerKey: keys.PublicJWK(serverPub),
		Products: []license.Product{{Subject: "ocr", InstanceSize: 1, NotBefore: t0, NotAfter: t0.AddDate(0, 1, 0)}}}
	file, _ := license.Sign(l, vendorPriv)
	good, _ := json.Marshal(api.GrantBody{License: string(file)})
	f.Add(200, good)
	f.Add(403, []byte(`{"code":525,"name":"machine_not_whitelisted","message":"no","fix":"send it"}`))
	f.Add(200, []byte(`{"license":"garbage"}`))
	f.Add(500, []byte(`<html>`))
	s := &Server{vendorPub: vendorPub, serverKid: keys.ID(serverPub), clock: clock.NewFake(t0),
		fingerprint: func() (*fingerprint.Fingerprint, error) { return host, nil }}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		got, _, err := s.parseGrant("https://vendor", status, body)
		if err == nil && (status != 200 || got.license.Holder != "ACME") {
			t.Fatalf("accepted status %d body %q", status, body)
		}
		if err != nil && codes.Of(err) == codes.Unknown {
			t.Fatalf("unclassified error %v", err)
		}
	})
}
