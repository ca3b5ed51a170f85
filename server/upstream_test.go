package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

// vendorService is a vendor's whitelist service for the tests: it grants a
// license to an approved machine, signed with the site's vendor key. With
// stall set it holds each request until the client gives up or the test
// ends; with answer set, answer writes the reply instead of a grant.
type vendorService struct {
	mu        sync.Mutex
	approved  bool
	instances int
	notAfter  time.Time
	stall     bool
	answer    func(w http.ResponseWriter, req *license.Request)
	calls     int
	srv       *httptest.Server
	caFile    string
}

func (s *site) vendorService(t *testing.T) *vendorService {
	v := &vendorService{instances: 3, notAfter: t0.AddDate(0, 0, 30)}
	release := make(chan struct{})
	v.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		v.calls++
		stall, answer, approved, instances, notAfter := v.stall, v.answer, v.approved, v.instances, v.notAfter
		v.mu.Unlock()
		if stall {
			// Never answer: hold the request until the client gives up or
			// the test ends, then drop the connection.
			io.Copy(io.Discard, r.Body) // then the server notices when the client gives up
			select {
			case <-r.Context().Done():
			case <-release:
			}
			panic(http.ErrAbortHandler)
		}
		body, _ := io.ReadAll(r.Body)
		req, err := license.ParseRequest(body)
		if err != nil {
			writeJSON(w, 400, api.ErrorBody{Code: int(codes.RequestMalformed), Name: "request_malformed", Message: err.Error()})
			return
		}
		if answer != nil {
			answer(w, req)
			return
		}
		if !approved {
			writeJSON(w, 403, api.ErrorBody{Code: int(codes.NotWhitelisted), Name: codes.NotWhitelisted.Name(),
				Message: "machine code " + req.MachineCode + " is not approved", Fix: "send it to the vendor"})
			return
		}
		writeJSON(w, 200, grantBody(t, grantLicense(req, instances, notAfter), s.vendorPriv))
	}))
	t.Cleanup(v.srv.Close)
	t.Cleanup(func() { close(release) }) // first: Close waits for the stalled requests
	v.caFile = filepath.Join(t.TempDir(), "vendor-ca.crt")
	os.WriteFile(v.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.srv.Certificate().Raw}), 0o644)
	return v
}

// set changes the service's behaviour under its lock.
func (v *vendorService) set(f func(v *vendorService)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f(v)
}

// grantLicense is the license a vendor service grants the request: ocr,
// until notAfter.
func grantLicense(req *license.Request, instances int, notAfter time.Time) *license.License {
	return &license.License{Holder: "ACME", Issuer: "vendor whitelist", Issued: t0,
		Machines: []fingerprint.Machine{req.Machine()}, MatchMin: 4, ServerKey: req.ServerKey,
		Products: []license.Product{{Subject: "ocr", InstanceSize: instances, NotBefore: t0.Add(-time.Hour), NotAfter: notAfter}}}
}

// grantBody is a vendor service's answer granting l, signed by vendor.
func grantBody(t *testing.T, l *license.License, vendor ed25519.PrivateKey) api.GrantBody {
	file, err := license.Sign(l, vendor)
	if err != nil {
		t.Error(err)
	}
	return api.GrantBody{Code: 0, Name: "ok", License: string(file), Customer: l.Holder, NotAfter: l.Products[0].NotAfter}
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

// TestUpstreamSlowService: a vendor service that accepts the request and
// never answers costs upstream_timeout, then the next service is asked;
// with every service slow the server keeps serving with the grant it
// holds, at once and across a restart.
func TestUpstreamSlowService(t *testing.T) {
	s := newSite(t)
	os.Remove(s.cfg.License)
	slow, next := s.vendorService(t), s.vendorService(t)
	for _, v := range []*vendorService{slow, next} {
		v.set(func(v *vendorService) { v.approved = true })
	}
	slow.set(func(v *vendorService) { v.stall = true })
	// httptest's TLS servers share one certificate: either CA file will do.
	s.cfg.Upstream, s.cfg.UpstreamCA = []string{slow.srv.URL, next.srv.URL}, slow.caFile
	s.cfg.UpstreamTimeout = Duration(200 * time.Millisecond)

	r := s.start()
	app := s.client("app1")
	if a := r.authorize(t, app, "ocr", "i-1"); a.status != 200 {
		t.Fatalf("authorize with the grant of the second service: %d %s", a.status, a.body)
	}
	if !strings.Contains(s.logs.String(), "service="+slow.srv.URL+" code=28 name=timeout") {
		t.Fatalf("no log line with the slow service's code 28:\n%s", s.logs)
	}
	held := r.lic.Load()
	kept, err := os.ReadFile(s.cfg.License)
	if err != nil {
		t.Fatal(err)
	}

	// Every service is slow: the refresh fails with each service's code 28
	// within the timeouts, and the grant held stays in force.
	next.set(func(v *vendorService) { v.stall = true })
	mark := len(s.logs.String())
	start := time.Now()
	err = r.refreshGrant(context.Background())
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("the refresh took %s: upstream_timeout (200ms) did not bound it", elapsed)
	}
	if codes.Of(err) != codes.AllServersDown || strings.Count(err.Error(), "no answer within 200ms (upstream_timeout)") != 2 {
		t.Fatalf("refresh with every service slow = %v", err)
	}
	logs := s.logs.String()[mark:]
	for _, want := range []string{"service=" + slow.srv.URL + " code=28 name=timeout", "service=" + next.srv.URL + " code=28 name=timeout",
		"code=2012 name=all_servers_down", "keeping=" + held.license.ID} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	if r.lic.Load() != held {
		t.Fatal("a failed refresh replaced the grant held")
	}
	if got, _ := os.ReadFile(s.cfg.License); !bytes.Equal(got, kept) {
		t.Fatal("a failed refresh changed the grant kept on disk")
	}
	if a := r.authorize(t, app, "ocr", "i-2"); a.status != 200 {
		t.Fatalf("authorize with every service slow: %d %s", a.status, a.body)
	}

	// A restart while every service is slow serves from the kept grant.
	r.stop()
	r = s.start()
	if a := r.authorize(t, app, "ocr", "i-3"); a.status != 200 {
		t.Fatalf("authorize after a restart with every service slow: %d %s", a.status, a.body)
	}
	if r.lic.Load().license.ID != held.license.ID {
		t.Fatalf("after the restart the license is %s, want the kept %s", r.lic.Load().license.ID, held.license.ID)
	}
	slow.set(func(v *vendorService) {
		if v.calls != 3 {
			t.Errorf("the slow service was asked %d times, want 3", v.calls)
		}
	})
}

// TestUpstreamGarbage: a vendor service that answers something other than
// a grant for this site fails the refresh with the code of what is wrong,
// and the grant held stays in force and on disk.
func TestUpstreamGarbage(t *testing.T) {
	s := newSite(t)
	os.Remove(s.cfg.License)
	v := s.vendorService(t)
	v.set(func(v *vendorService) { v.approved = true })
	s.cfg.Upstream, s.cfg.UpstreamCA = []string{v.srv.URL}, v.caFile
	r := s.start()
	app := s.client("app1")
	held := r.lic.Load()
	kept, err := os.ReadFile(s.cfg.License)
	if err != nil {
		t.Fatal(err)
	}

	_, otherVendor, _ := keys.Generate()
	otherServer, _, _ := keys.Generate()
	elsewhere := fakeHost("elsewhere")
	good := func(req *license.Request) *license.License { return grantLicense(req, 9, t0.AddDate(0, 0, 60)) }
	text := func(body string) func(*license.Request) any { return func(*license.Request) any { return body } }
	grant := func(change func(l *license.License), vendor ed25519.PrivateKey) func(*license.Request) any {
		return func(req *license.Request) any {
			l := good(req)
			change(l)
			return grantBody(t, l, vendor)
		}
	}
	same := func(*license.License) {}
	tests := []struct {
		name   string
		status int
		body   func(req *license.Request) any // a string is sent as it is, anything else as JSON
		want   codes.Code
	}{
		{"not-json", 200, text("<html><body>It works!</body></html>"), codes.Protocol},
		{"error-page", 502, text("<html><body>502 Bad Gateway</body></html>"), codes.WeirdReply},
		{"empty", 200, text(""), codes.Protocol},
		{"wrong-shape", 200, text(`{"license": {"holder": "ACME"}}`), codes.Protocol},
		{"a-list", 200, text(`[{"license": "x"}]`), codes.Protocol},
		{"truncated", 200, func(req *license.Request) any {
			b, _ := json.Marshal(grantBody(t, good(req), s.vendorPriv))
			return string(b[:len(b)/2])
		}, codes.Protocol},
		{"no-license", 200, text(`{"code": 0, "name": "ok"}`), codes.LicenseMalformed},
		{"not-a-license", 200, text(`{"license": "garbage"}`), codes.LicenseMalformed},
		{"unknown-error-body", 500, text(`{"code": 999, "name": "vendor_bug", "message": "internal error"}`), codes.WeirdReply},
		{"refusal-claiming-ok", 403, text(`{"code": 0, "name": "ok"}`), codes.WeirdReply},
		{"code-with-another-status", 500, text(`{"code": 525, "name": "machine_not_whitelisted"}`), codes.WeirdReply},
		{"genuine-refusal", 403, text(`{"code": 525, "name": "machine_not_whitelisted", "message": "unknown machine"}`), codes.NotWhitelisted},
		{"signed-by-another-key", 200, grant(same, otherVendor), codes.WrongVendorKey},
		{"for-another-machine", 200, grant(func(l *license.License) {
			l.Machines = []fingerprint.Machine{{Code: elsewhere.Code, Components: elsewhere.Hashes()}}
		}, s.vendorPriv), codes.Fingerprint},
		{"for-another-server-key", 200, grant(func(l *license.License) { l.ServerKey = keys.PublicJWK(otherServer) }, s.vendorPriv), codes.ServerKeyMismatch},
		{"ran-out-already", 200, grant(func(l *license.License) { l.Products[0].NotAfter = t0.Add(-time.Minute) }, s.vendorPriv), codes.GrantExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v.set(func(v *vendorService) {
				v.answer = func(w http.ResponseWriter, req *license.Request) {
					switch b := tt.body(req).(type) {
					case string:
						w.WriteHeader(tt.status)
						io.WriteString(w, b)
					default:
						writeJSON(w, tt.status, b)
					}
				}
			})
			mark := len(s.logs.String())
			err := r.refreshGrant(context.Background())
			if codes.Of(err) != tt.want {
				t.Fatalf("refresh = %v, want code %d", err, tt.want)
			}
			if r.lic.Load() != held {
				t.Fatal("the answer replaced the grant held")
			}
			if got, _ := os.ReadFile(s.cfg.License); !bytes.Equal(got, kept) {
				t.Fatal("the answer changed the grant kept on disk")
			}
			logs := s.logs.String()[mark:]
			if want := fmt.Sprintf("code=%d name=%s", tt.want, tt.want.Name()); !strings.Contains(logs, want) || !strings.Contains(logs, "keeping="+held.license.ID) {
				t.Errorf("the log lacks %q and the grant kept:\n%s", want, logs)
			}
			if a := r.authorize(t, app, "ocr", "i-1"); a.status != 200 {
				t.Fatalf("authorize after the answer: %d %s", a.status, a.body)
			}
		})
	}
	// The service answers a grant again: it replaces the one held.
	v.set(func(v *vendorService) { v.answer = nil })
	if err := r.refreshGrant(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p, _ := r.lic.Load().license.Product("ocr"); p.InstanceSize != 3 || r.lic.Load() == held {
		t.Fatalf("after a good answer the pool is %d", p.InstanceSize)
	}
}

// TestUpstreamUnwritable: a grant that cannot be written to disk ends the
// round with file_unwritable at the service that gave it: the next
// service cannot help with the disk. The grant held stays in force. The
// faults are real and stop root too: a license path through a regular
// file, and a directory in the license file's place.
func TestUpstreamUnwritable(t *testing.T) {
	services := func(s *site) (first, next *vendorService) {
		first, next = s.vendorService(t), s.vendorService(t)
		for _, v := range []*vendorService{first, next} {
			v.set(func(v *vendorService) { v.approved = true })
		}
		// httptest's TLS servers share one certificate: either CA file will do.
		s.cfg.Upstream, s.cfg.UpstreamCA = []string{first.srv.URL, next.srv.URL}, first.caFile
		return first, next
	}
	calls := func(v *vendorService) int {
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.calls
	}

	t.Run("at-start", func(t *testing.T) {
		s := newSite(t)
		first, next := services(s)
		plain := filepath.Join(s.dir, "plain")
		if err := os.WriteFile(plain, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		s.cfg.License = filepath.Join(plain, "site.lic")
		_, err := New(s.cfg, s.options())
		if codes.Of(err) != codes.FileUnwritable || !strings.Contains(err.Error(), "cannot write the grant "+s.cfg.License+": "+plain+" is not a directory") {
			t.Fatalf("New with the license path through a file = %v", err)
		}
		if n, m := calls(first), calls(next); n != 1 || m != 0 {
			t.Errorf("the services were asked %d and %d times, want 1 and 0", n, m)
		}
	})

	t.Run("refresh", func(t *testing.T) {
		s := newSite(t)
		os.Remove(s.cfg.License)
		first, next := services(s)
		r := s.start()
		held := r.lic.Load()
		if err := os.Remove(s.cfg.License); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(s.cfg.License, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		first.set(func(v *vendorService) { v.instances = 9 })
		mark := len(s.logs.String())
		err := r.refreshGrant(context.Background())
		if codes.Of(err) != codes.FileUnwritable || !strings.Contains(err.Error(), "cannot write the grant "+s.cfg.License+": it is a directory") {
			t.Fatalf("refresh with a directory in the license file's place = %v", err)
		}
		if fix := codes.As(err).FixText(); !strings.Contains(fix, "Move the directory "+s.cfg.License+" away") {
			t.Errorf("fix = %q", fix)
		}
		if n, m := calls(first), calls(next); n != 2 || m != 0 {
			t.Errorf("the services were asked %d and %d times, want 2 and 0", n, m)
		}
		if r.lic.Load() != held {
			t.Fatal("a grant that could not be kept replaced the grant held")
		}
		logs := s.logs.String()[mark:]
		if !strings.Contains(logs, "code=609 name=file_unwritable") || !strings.Contains(logs, "keeping="+held.license.ID) || strings.Contains(logs, "code=2012") {
			t.Errorf("the log does not say 609 once, keeping the grant held:\n%s", logs)
		}
		if a := r.authorize(t, s.client("app1"), "ocr", "i-1"); a.status != 200 {
			t.Fatalf("authorize with the grant held: %d %s", a.status, a.body)
		}
	})
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
