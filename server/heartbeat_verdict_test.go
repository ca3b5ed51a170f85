package server

import (
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/verdict"
)

// TestHeartbeatVerdictOnRequest: a heartbeat sent with "verdict": false
// by a client holding the license in force is answered with the renewal
// alone (the lease moved on, the QPS share), nothing signed; without the
// field (older SDKs) or with true it carries a signed verdict bound to
// its nonce, as does every authorize, and so does a heartbeat whose
// client holds another license, which gets the license too.
func TestHeartbeatVerdictOnRequest(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app := s.client("app1")
	var first api.VerdictBody
	a := r.authorize(t, app, "ocr", "i-1")
	a.decode(t, &first)
	signed, err := license.Parse([]byte(first.License))
	if err != nil {
		t.Fatal(err)
	}
	l, err := signed.Verify(s.vendorPub)
	if err != nil {
		t.Fatal(err)
	}
	if a := call(t, app, "POST", r.url+api.PathAuthorize, api.InstanceRequest{Product: "asr", InstanceID: "q-1", Mode: "async", Nonce: "n"}); a.status != 200 {
		t.Fatalf("authorize asr: %d %s", a.status, a.body)
	}
	yes, no := true, false
	tests := []struct {
		name       string
		path       string
		product    string
		id         string
		verdict    *bool
		have       string
		wantSigned bool
		wantQPS    bool
	}{
		{"field-absent-signs", api.PathHeartbeat, "ocr", "i-1", nil, l.ID, true, false},
		{"true-signs", api.PathHeartbeat, "ocr", "i-1", &yes, l.ID, true, false},
		{"false-renews-only", api.PathHeartbeat, "ocr", "i-1", &no, l.ID, false, false},
		{"false-renews-only-with-qps-share", api.PathHeartbeat, "asr", "q-1", &no, l.ID, false, true},
		{"false-but-another-license-signs", api.PathHeartbeat, "ocr", "i-1", &no, "lic_old", true, false},
		{"false-without-a-license-signs", api.PathHeartbeat, "ocr", "i-1", &no, "", true, false},
		{"authorize-always-signs", api.PathAuthorize, "ocr", "i-1", &no, l.ID, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.clock.Advance(10 * time.Second)
			now := s.clock.Now()
			nonce := "n-" + tt.name
			mode := ""
			if tt.product == "asr" {
				mode = "async"
			}
			a := call(t, app, "POST", r.url+tt.path, api.InstanceRequest{Product: tt.product, InstanceID: tt.id, Mode: mode, Nonce: nonce, HaveLicense: tt.have, Verdict: tt.verdict})
			if a.status != 200 {
				t.Fatalf("%d %s", a.status, a.body)
			}
			var v api.VerdictBody
			a.decode(t, &v)
			if !v.Lease.Expires.Equal(now.Add(time.Duration(s.cfg.LeaseTTL))) || v.Lease.Product != tt.product || v.Lease.InstanceID != tt.id {
				t.Errorf("lease %+v: want it renewed until %s", v.Lease, now.Add(time.Duration(s.cfg.LeaseTTL)))
			}
			if (v.QPS != nil) != tt.wantQPS {
				t.Errorf("qps %+v", v.QPS)
			}
			if !tt.wantSigned {
				if v.Verdict != "" || v.License != "" || strings.Contains(string(a.body), `"verdict"`) {
					t.Fatalf("a renewal carries a verdict or a license: %s", a.body)
				}
				return
			}
			c, err := verdict.Verify(v.Verdict, s.serverPub, verdict.Expect{InstanceID: tt.id, Product: tt.product, LicenseID: l.ID, Nonce: nonce, Now: now})
			if err != nil {
				t.Fatalf("verdict: %v\n%s", err, a.body)
			}
			if c.Lease != v.Lease.Expires.Unix() {
				t.Errorf("the verdict's lease %d, the body's %s", c.Lease, v.Lease.Expires)
			}
			if wantLicense := tt.have != l.ID; (v.License != "") != wantLicense {
				t.Errorf("license sent: %v, want %v", v.License != "", wantLicense)
			}
		})
	}
}
