package whitelist

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// fakeHost builds a fingerprint from raw component values.
func fakeHost(raw map[string]string) *fingerprint.Fingerprint {
	fp := &fingerprint.Fingerprint{Environment: "bare-metal"}
	for _, name := range fingerprint.Order {
		if v, ok := raw[name]; ok {
			fp.Components = append(fp.Components, fingerprint.Component{Name: name, Hash: fingerprint.HashComponent(name, v), Source: "test"})
		}
	}
	fp.Code = fingerprint.CodeOf(fp.Hashes())
	return fp
}

var siteHost = fakeHost(map[string]string{
	fingerprint.MachineID:   "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
	fingerprint.ProductUUID: "4c4c4544-004b-3610-804b-b4c04f4b3332",
	fingerprint.MAC:         "3c:ec:ef:01:02:03",
	fingerprint.RootDisk:    "8d1f0c2e-5b7a-4f7e-9c61-0e8f4a1b2c3d",
	fingerprint.Hostname:    "auth-01",
})

// site is a site server's side: its key and its activation request.
type site struct {
	key  ed25519.PublicKey
	body []byte
}

func newSite(t *testing.T, now time.Time) site {
	t.Helper()
	pub, _, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(license.NewRequest(siteHost, pub, "auth-01", now))
	if err != nil {
		t.Fatal(err)
	}
	return site{key: pub, body: body}
}

func approval(code string, until time.Time) Approval {
	return Approval{
		MachineCode: code, Customer: "ACME Imaging", Until: until, Created: t0,
		Products: []license.Product{
			{Subject: "ocr", Functions: []string{"table"}, InstanceSize: 10},
			{Subject: "asr", Functions: []string{}, InstanceSize: 2, QPS: 50, NotBefore: t0.Add(24 * time.Hour)},
		},
	}
}

func openStore(t *testing.T) *Store {
	t.Helper()
	st, err := Open(filepath.Join(t.TempDir(), "data", DBFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestStore(t *testing.T) {
	until := time.Date(2027, 10, 31, 23, 59, 59, 0, time.UTC)
	code := siteHost.Code
	t.Run("round-trip", func(t *testing.T) {
		st := openStore(t)
		want := approval(code, until)
		if err := st.Approve(want); err != nil {
			t.Fatal(err)
		}
		got, ok, err := st.Get(code)
		if err != nil || !ok {
			t.Fatalf("Get: %v, %v", ok, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Get:\n got %+v\nwant %+v", got, want)
		}
		if _, ok, err := st.Get("00000000000000000000000000000000"); ok || err != nil {
			t.Errorf("Get unknown: %v, %v", ok, err)
		}
		all, err := st.List()
		if err != nil || len(all) != 1 || !reflect.DeepEqual(all[0], want) {
			t.Errorf("List: %+v, %v", all, err)
		}
	})
	t.Run("approve-replaces", func(t *testing.T) {
		st := openStore(t)
		if err := st.Approve(approval(code, until)); err != nil {
			t.Fatal(err)
		}
		if err := st.Revoke(code, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		renewed := approval(code, until.AddDate(1, 0, 0))
		renewed.Customer = "ACME Imaging GmbH"
		renewed.Products = renewed.Products[:1]
		if err := st.Approve(renewed); err != nil {
			t.Fatal(err)
		}
		all, err := st.List()
		if err != nil || len(all) != 1 || !reflect.DeepEqual(all[0], renewed) {
			t.Errorf("List after renewal: %+v, %v", all, err)
		}
	})
	t.Run("revoke", func(t *testing.T) {
		st := openStore(t)
		if err := st.Approve(approval(code, until)); err != nil {
			t.Fatal(err)
		}
		at := t0.Add(time.Hour)
		if err := st.Revoke(code, at); err != nil {
			t.Fatal(err)
		}
		if err := st.Revoke(code, at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, _, err := st.Get(code)
		if err != nil || got.Revoked == nil || !got.Revoked.Equal(at) {
			t.Errorf("revoked %v, %v; want the first time %v", got.Revoked, err, at)
		}
		if err := st.Revoke("00000000000000000000000000000000", at); !errors.Is(err, ErrNotFound) {
			t.Errorf("Revoke unknown: %v, want ErrNotFound", err)
		}
	})
	t.Run("reopen", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), DBFile)
		st, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Approve(approval(code, until)); err != nil {
			t.Fatal(err)
		}
		st.Close()
		st, err = Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, ok, err := st.Get(code); !ok || err != nil {
			t.Errorf("after reopening: %v, %v", ok, err)
		}
	})
}

func TestApproveRefuses(t *testing.T) {
	until := t0.AddDate(1, 0, 0)
	for _, tt := range []struct {
		name string
		edit func(*Approval)
	}{
		{"bad-machine-code", func(a *Approval) { a.MachineCode = "31478b54" }},
		{"no-customer", func(a *Approval) { a.Customer = "" }},
		{"no-until", func(a *Approval) { a.Until = time.Time{} }},
		{"no-products", func(a *Approval) { a.Products = nil }},
		{"duplicate-product", func(a *Approval) { a.Products[1].Subject = "ocr" }},
		{"bad-product-name", func(a *Approval) { a.Products[0].Subject = "o c r" }},
		{"starts-after-contract-end", func(a *Approval) { a.Products[1].NotBefore = until.Add(time.Hour) }},
		{"no-instances", func(a *Approval) { a.Products[0].InstanceSize = 0 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := approval(siteHost.Code, until)
			tt.edit(&a)
			if err := openStore(t).Approve(a); codes.Of(err) != codes.InvalidArgument {
				t.Errorf("Approve: %v, want code %v", err, codes.InvalidArgument)
			}
		})
	}
}

// fakeApprovals is an Approvals in memory.
type fakeApprovals map[string]Approval

func (f fakeApprovals) Get(code string) (Approval, bool, error) {
	a, ok := f[code]
	return a, ok, nil
}

func TestGrant(t *testing.T) {
	vendorPub, vendor, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	until := time.Date(2027, 10, 31, 23, 59, 59, 0, time.UTC)
	grace := DefaultGrace
	s := newSite(t, t0)
	revoked := approval(siteHost.Code, until)
	at := t0.Add(-time.Hour)
	revoked.Revoked = &at

	for _, tt := range []struct {
		name      string
		approvals fakeApprovals
		body      []byte
		now       time.Time
		want      codes.Code
	}{
		{"approved", fakeApprovals{siteHost.Code: approval(siteHost.Code, until)}, s.body, t0, codes.OK},
		{"within-grace", fakeApprovals{siteHost.Code: approval(siteHost.Code, until)}, s.body, until.Add(grace - time.Second), codes.OK},
		{"unknown", fakeApprovals{}, s.body, t0, codes.NotWhitelisted},
		{"revoked", fakeApprovals{siteHost.Code: revoked}, s.body, t0, codes.NotWhitelisted},
		{"past-grace", fakeApprovals{siteHost.Code: approval(siteHost.Code, until)}, s.body, until.Add(grace + time.Second), codes.GrantExpired},
		{"malformed", fakeApprovals{}, []byte(`{"version":1,"machine_code":"nope"}`), t0, codes.RequestMalformed},
		{"not-json", fakeApprovals{}, []byte(`hello`), t0, codes.RequestMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, err := Grant(tt.approvals, vendor, grace, tt.body, tt.now)
			if got := codes.Of(err); got != tt.want {
				t.Fatalf("Grant: %v, want code %v", err, tt.want)
			}
			if tt.want == codes.NotWhitelisted && !contains(codes.As(err).Msg, siteHost.Code) {
				t.Errorf("message %q does not name the machine code", codes.As(err).Msg)
			}
			if err != nil {
				return
			}
			checkGrant(t, g, vendorPub, s.key, until, grace, tt.now)
		})
	}
}

// checkGrant verifies a granted license as a site server would.
func checkGrant(t *testing.T, g *api.GrantBody, vendorPub, serverKey ed25519.PublicKey, until time.Time, grace time.Duration, now time.Time) {
	t.Helper()
	notAfter := until.Add(grace)
	if g.Code != 0 || g.Name != "ok" || g.Customer != "ACME Imaging" || !g.ContractEnd.Equal(until) || !g.NotAfter.Equal(notAfter) {
		t.Errorf("grant body %+v", g)
	}
	signed, err := license.Parse([]byte(g.License))
	if err != nil {
		t.Fatal(err)
	}
	l, err := signed.Verify(vendorPub)
	if err != nil {
		t.Fatal(err)
	}
	if l.Holder != "ACME Imaging" || l.Issuer != Issuer {
		t.Errorf("holder %q issuer %q", l.Holder, l.Issuer)
	}
	if len(l.Machines) != 1 || l.Machines[0].Code != siteHost.Code || len(l.Machines[0].Components) != 5 || l.MatchMin != 4 {
		t.Errorf("machines %+v matchMin %d", l.Machines, l.MatchMin)
	}
	if err := l.CheckMachine(siteHost); err != nil {
		t.Errorf("the license does not match the requesting host: %v", err)
	}
	if pub, err := l.ServerPublicKey(); err != nil || !pub.Equal(serverKey) {
		t.Errorf("server key %v, %v; want the request's", pub, err)
	}
	if len(l.Products) != 2 {
		t.Fatalf("products %+v", l.Products)
	}
	for _, p := range l.Products {
		if !p.NotAfter.Equal(notAfter) {
			t.Errorf("product %s runs to %v, want %v", p.Subject, p.NotAfter, notAfter)
		}
	}
	if ocr := l.Products[0]; !ocr.NotBefore.Equal(now.Truncate(time.Second)) || ocr.InstanceSize != 10 {
		t.Errorf("ocr %+v: want not-before now (%v)", ocr, now)
	}
	if asr := l.Products[1]; !asr.NotBefore.Equal(t0.Add(24*time.Hour)) || asr.QPS != 50 {
		t.Errorf("asr %+v: want the approval's not-before", asr)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func parseAndVerify(file string, vendorPub ed25519.PublicKey) (*license.License, error) {
	signed, err := license.Parse([]byte(file))
	if err != nil {
		return nil, err
	}
	return signed.Verify(vendorPub)
}
