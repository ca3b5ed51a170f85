package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keyfile"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/store"
)

// writePolicyLicense writes the site's license with the default products
// of newSite and the given key-file policy.
func (s *site) writePolicyLicense(policy *license.KeyFilePolicy) {
	s.t.Helper()
	l := &license.License{Holder: "ACME", Issuer: "Vendor", Issued: t0.Add(-time.Hour),
		Machines: []fingerprint.Machine{{Code: s.host.Code, Components: s.host.Hashes()}}, MatchMin: 4,
		ServerKey: keys.PublicJWK(s.serverPub),
		Products: []license.Product{
			{Subject: "ocr", Functions: []string{"table"}, InstanceSize: 3, NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(0, 1, 0)},
			{Subject: "asr", InstanceSize: 2, NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(0, 1, 0)},
		},
		KeyFile: policy}
	file, err := license.Sign(l, s.vendorPriv)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "site.lic"), file, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// requestKeyFile asks for a key file for host with the renew certificate.
func (r *running) requestKeyFile(t *testing.T, c *http.Client, host *fingerprint.Fingerprint) answer {
	t.Helper()
	return call(t, c, "POST", r.url+api.PathKeyFile, api.KeyFileRequest{MachineCode: host.Code, Components: host.Hashes()})
}

// leaseCount is how many leases the server's pool holds now.
func (r *running) leaseCount(t *testing.T) int {
	t.Helper()
	leases, err := r.store.Leases(context.Background(), "", r.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return len(leases)
}

// checkKeyFile checks that a is an issued key file for host, valid for
// validity from t0, that verifies offline.
func checkKeyFile(t *testing.T, s *site, a answer, host *fingerprint.Fingerprint, validity time.Duration) {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("key file for %s: %d %s", host.Code, a.status, a.body)
	}
	var body api.KeyFileBody
	a.decode(t, &body)
	if want := t0.Add(validity); !body.Expires.Equal(want) {
		t.Errorf("expires %s, want %s (%s after issue)", body.Expires, want, validity)
	}
	signed, err := keyfile.Parse([]byte(body.KeyFile))
	if err != nil {
		t.Fatalf("the issued key file does not parse (%d bytes): %v", len(body.KeyFile), err)
	}
	c, err := signed.Verify(s.vendorPub, host, "ocr", t0)
	if err != nil {
		t.Fatalf("the issued key file does not verify: %v", err)
	}
	if _, _, exp := c.Times(); !exp.Equal(t0.Add(validity)) {
		t.Errorf("signed expiry %s, want %s", exp, t0.Add(validity))
	}
}

func TestKeyFilePolicy(t *testing.T) {
	listed, unlisted := fakeHost("render-01"), fakeHost("render-02")
	restricted := &license.KeyFilePolicy{Hosts: []string{fakeHost("render-00").Code, listed.Code}, ValidityHours: 72}

	t.Run("listed-host", func(t *testing.T) {
		s := newSite(t)
		s.writePolicyLicense(restricted)
		r := s.start()
		checkKeyFile(t, s, r.requestKeyFile(t, s.client("renewer"), listed), listed, 72*time.Hour)
		if n := r.leaseCount(t); n != 2 {
			t.Errorf("the pool holds %d leases, want one per product (2)", n)
		}
	})

	t.Run("unlisted-host", func(t *testing.T) {
		s := newSite(t)
		s.writePolicyLicense(restricted)
		r := s.start()
		renewer := s.client("renewer")
		checkKeyFile(t, s, r.requestKeyFile(t, renewer, listed), listed, 72*time.Hour)
		before := r.leaseCount(t)

		a := r.requestKeyFile(t, renewer, unlisted)
		if a.status != http.StatusForbidden || a.code() != int(codes.KeyFileHostRefused) {
			t.Fatalf("unlisted host: %d %s, want 403 and code %d", a.status, a.body, codes.KeyFileHostRefused)
		}
		var e api.ErrorBody
		a.decode(t, &e)
		if e.Name != "keyfile_host_refused" || !strings.Contains(e.Message, unlisted.Code) || !strings.Contains(e.Fix, "licensor fingerprint") {
			t.Errorf("error body %+v does not name the host and the fix", e)
		}
		if after := r.leaseCount(t); after != before {
			t.Errorf("a refused host changed the pool: %d leases, was %d", after, before)
		}
		if !strings.Contains(s.logs.String(), fmt.Sprintf("code=%d", codes.KeyFileHostRefused)) {
			t.Errorf("no log line with the code:\n%s", s.logs)
		}
		var denied []store.Event
		err := r.store.Audit(context.Background(), 0, func(ev store.Event) error {
			if ev.Kind == store.KindDeny {
				denied = append(denied, ev)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(denied) != 1 || denied[0].Code != int(codes.KeyFileHostRefused) || denied[0].Actor != "renewer" ||
			denied[0].InstanceID != store.KeyFileSeat(unlisted.Code) {
			t.Errorf("audit denials = %+v, want one for %s", denied, unlisted.Code)
		}
	})

	t.Run("hosts-without-validity", func(t *testing.T) {
		s := newSite(t)
		s.cfg.KeyFileValidity = Duration(48 * time.Hour)
		s.writePolicyLicense(&license.KeyFilePolicy{Hosts: []string{listed.Code}})
		r := s.start()
		checkKeyFile(t, s, r.requestKeyFile(t, s.client("renewer"), listed), listed, 48*time.Hour)
	})

	t.Run("validity-without-hosts", func(t *testing.T) {
		s := newSite(t)
		s.writePolicyLicense(&license.KeyFilePolicy{ValidityHours: 24})
		r := s.start()
		checkKeyFile(t, s, r.requestKeyFile(t, s.client("renewer"), unlisted), unlisted, 24*time.Hour)
	})

	t.Run("no-policy", func(t *testing.T) {
		s := newSite(t)
		s.writePolicyLicense(nil)
		r := s.start()
		renewer := s.client("renewer")
		checkKeyFile(t, s, r.requestKeyFile(t, renewer, listed), listed, time.Duration(Default().KeyFileValidity))
		checkKeyFile(t, s, r.requestKeyFile(t, renewer, unlisted), unlisted, time.Duration(Default().KeyFileValidity))
	})

	// The longest host list a license may carry makes key files that fit
	// in a key file's size limit with room to spare for the license's
	// machines and products.
	t.Run("most-hosts", func(t *testing.T) {
		s := newSite(t)
		p := &license.KeyFilePolicy{ValidityHours: 168}
		for i := range license.MaxKeyFileHosts - 1 {
			p.Hosts = append(p.Hosts, fakeHost(fmt.Sprintf("render-%04d", i)).Code)
		}
		p.Hosts = append(p.Hosts, listed.Code)
		s.writePolicyLicense(p)
		r := s.start()
		a := r.requestKeyFile(t, s.client("renewer"), listed)
		checkKeyFile(t, s, a, listed, 168*time.Hour)
		var body api.KeyFileBody
		a.decode(t, &body)
		if n := len(body.KeyFile); n > keyfile.MaxFileSize*5/8 {
			t.Errorf("a key file with %d hosts is %d bytes, more than 5/8 of the %d a key file may be", len(p.Hosts), n, keyfile.MaxFileSize)
		}
	})
}

// A reloaded license that drops a host refuses that host's next renewal.
func TestKeyFilePolicyReload(t *testing.T) {
	host := fakeHost("render-01")
	s := newSite(t)
	s.writePolicyLicense(nil)
	r := s.start()
	renewer, ops := s.client("renewer"), s.client("ops")
	checkKeyFile(t, s, r.requestKeyFile(t, renewer, host), host, time.Duration(Default().KeyFileValidity))

	s.writePolicyLicense(&license.KeyFilePolicy{Hosts: []string{fakeHost("render-02").Code}})
	if a := call(t, ops, "POST", r.url+api.PathReload, nil); a.status != http.StatusOK {
		t.Fatalf("reload: %d %s", a.status, a.body)
	}
	var view license.View
	call(t, ops, "GET", r.url+api.PathLicense, nil).decode(t, &view)
	if view.KeyFile == nil || len(view.KeyFile.Hosts) != 1 {
		t.Fatalf("the license view lacks the key-file policy: %+v", view.KeyFile)
	}
	if a := r.requestKeyFile(t, renewer, host); a.code() != int(codes.KeyFileHostRefused) {
		t.Fatalf("renewal after the host was dropped: %d %s", a.status, a.body)
	}
}
