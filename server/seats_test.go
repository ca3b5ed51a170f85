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
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/store"
)

// pool returns the product's pool as the admin endpoint shows it.
func (r *running) pool(t *testing.T, ops *http.Client, product string) ProductPool {
	t.Helper()
	var list InstancesBody
	call(t, ops, "GET", r.url+api.PathInstances+"?product="+product, nil).decode(t, &list)
	if len(list.Products) != 1 {
		t.Fatalf("instances of %s = %+v", product, list)
	}
	return list.Products[0]
}

// auditCodes lists the codes of the audit's deny events.
func (r *running) auditCodes(t *testing.T) []int {
	t.Helper()
	var out []int
	err := r.store.Audit(context.Background(), 0, func(e store.Event) error {
		if e.Kind == store.KindDeny {
			out = append(out, e.Code)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestKeyFileSeatCannotBeFreedEarly: neither an instance-role client nor
// an admin revoke frees the seat a key file holds before it expires, and
// the pool never holds more users than seats.
func TestKeyFileSeatCannotBeFreedEarly(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app, ops := s.client("app1"), s.client("ops")
	host := fakeHost("render-01")
	if a := r.requestKeyFile(t, s.client("renewer"), host); a.status != 200 {
		t.Fatalf("key file: %d %s", a.status, a.body)
	}
	seat := store.KeyFileSeat(host.Code)
	keyFileEnd := t0.Add(time.Duration(s.cfg.KeyFileValidity))
	checkSeat := func(when string) {
		t.Helper()
		p := r.pool(t, ops, "ocr")
		if len(p.KeyFileHosts) != 1 || p.KeyFileHosts[0].InstanceID != seat || p.KeyFileHosts[0].Kind != store.SeatKeyFile ||
			!p.KeyFileHosts[0].Expires.Equal(keyFileEnd) {
			t.Fatalf("%s: key-file hosts %+v, want %s held until %s", when, p.KeyFileHosts, seat, keyFileEnd)
		}
	}
	checkSeat("after the key file")

	tests := []struct {
		name string
		path string
	}{
		{"release", api.PathRelease},
		{"authorize", api.PathAuthorize},
		{"heartbeat", api.PathHeartbeat},
	}
	for _, tt := range tests {
		t.Run(tt.name+"-as-keyfile-seat", func(t *testing.T) {
			a := call(t, app, "POST", r.url+tt.path, api.InstanceRequest{Product: "ocr", InstanceID: seat})
			if a.status != http.StatusBadRequest || a.code() != int(codes.RequestMalformed) || strings.Contains(string(a.body), `"released":true`) {
				t.Fatalf("%s as %s: %d %s; want 400 and code %d", tt.path, seat, a.status, a.body, codes.RequestMalformed)
			}
			checkSeat("after " + tt.path)
		})
	}

	// Two instances fill the pool of three beside the key-file host.
	for _, id := range []string{"i-1", "i-2"} {
		if a := r.authorize(t, app, "ocr", id); a.status != 200 {
			t.Fatalf("authorize %s: %d %s", id, a.status, a.body)
		}
	}
	if a := r.authorize(t, app, "ocr", "i-3"); a.code() != int(codes.InstanceLimit) {
		t.Fatalf("a fourth user on three seats: %d %s", a.status, a.body)
	}

	// An admin revoke stops the host's renewals, not its seat.
	a := call(t, ops, "POST", r.url+api.PathRevoke, RevokeRequest{Product: "ocr", InstanceID: seat})
	var rb RevokeBody
	a.decode(t, &rb)
	if a.status != 200 || !rb.Revoked || rb.Freed || rb.Kind != store.SeatKeyFile || !rb.CountedUntil.Equal(keyFileEnd) ||
		!strings.Contains(rb.Message, keyFileEnd.Format("2006-01-02")) {
		t.Fatalf("revoke of a key-file seat: %d %s; want it kept until %s", a.status, a.body, keyFileEnd)
	}
	checkSeat("after the revoke")
	if p := r.pool(t, ops, "ocr"); p.KeyFileHosts[0].Revoked.IsZero() || p.KeyFileHosts[0].RevokedBy != "ops" || p.Held != 3 {
		t.Fatalf("pool after the revoke = %+v", p)
	}
	if a := r.authorize(t, app, "ocr", "i-3"); a.code() != int(codes.InstanceLimit) {
		t.Fatalf("a revoke gave the key-file seat away: %d %s", a.status, a.body)
	}
	s.clock.Advance(time.Hour)
	a = r.requestKeyFile(t, s.client("renewer"), host)
	if a.status != http.StatusForbidden || a.code() != int(codes.KeyFileRevoked) || !strings.Contains(string(a.body), keyFileEnd.Format(time.RFC3339)) {
		t.Fatalf("renewal after the revoke: %d %s; want 403, code %d and the date", a.status, a.body, codes.KeyFileRevoked)
	}
	if !strings.Contains(s.logs.String(), fmt.Sprintf("code=%d", codes.KeyFileRevoked)) {
		t.Error("the refused renewal is not logged")
	}
	if got := r.auditCodes(t); !contains(got, int(codes.KeyFileRevoked)) {
		t.Errorf("audit deny codes %v, want %d", got, codes.KeyFileRevoked)
	}

	// When the key file it holds expires, the seat is free.
	s.clock.Set(keyFileEnd.Add(time.Second))
	for _, id := range []string{"i-1", "i-2"} {
		r.authorize(t, app, "ocr", id)
	}
	if a := r.authorize(t, app, "ocr", "i-3"); a.status != 200 {
		t.Fatalf("authorize after the revoked key file expired: %d %s", a.status, a.body)
	}
}

// TestLeaseBelongsToItsHolder: another identity can neither resume,
// heartbeat nor release an instance's seat; an admin revoke can.
func TestLeaseBelongsToItsHolder(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app1, app2, ops := s.client("app1"), s.client("app2"), s.client("ops")
	if a := r.authorize(t, app1, "ocr", "i-1"); a.status != 200 {
		t.Fatalf("authorize: %d %s", a.status, a.body)
	}
	before := r.pool(t, ops, "ocr").Instances[0]
	s.clock.Advance(10 * time.Second)
	tests := []struct {
		name string
		path string
	}{
		{"resume", api.PathAuthorize},
		{"heartbeat", api.PathHeartbeat},
		{"release", api.PathRelease},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, app2, "POST", r.url+tt.path, api.InstanceRequest{Product: "ocr", InstanceID: "i-1", Nonce: "n"})
			if a.status != http.StatusForbidden || a.code() != int(codes.LeaseNotOwned) || !strings.Contains(string(a.body), `app1`) {
				t.Fatalf("%s by app2: %d %s; want 403 and code %d naming app1", tt.path, a.status, a.body, codes.LeaseNotOwned)
			}
			p := r.pool(t, ops, "ocr")
			if len(p.Instances) != 1 || p.Instances[0] != before {
				t.Fatalf("after %s by app2 the seat is %+v, want %+v", tt.path, p.Instances, before)
			}
		})
	}
	if got := r.auditCodes(t); len(got) != 3 || got[0] != int(codes.LeaseNotOwned) {
		t.Errorf("audit deny codes %v, want three %d", got, codes.LeaseNotOwned)
	}
	if n := strings.Count(s.logs.String(), fmt.Sprintf("code=%d", codes.LeaseNotOwned)); n != 3 {
		t.Errorf("%d log lines with code %d, want 3", n, codes.LeaseNotOwned)
	}
	// The holder heartbeats and resumes as before.
	if a := call(t, app1, "POST", r.url+api.PathHeartbeat, api.InstanceRequest{Product: "ocr", InstanceID: "i-1"}); a.status != 200 {
		t.Fatalf("heartbeat by the holder: %d %s", a.status, a.body)
	}
	// Only an admin revoke ends another's seat.
	a := call(t, ops, "POST", r.url+api.PathRevoke, RevokeRequest{Product: "ocr", InstanceID: "i-1"})
	var rb RevokeBody
	a.decode(t, &rb)
	if a.status != 200 || !rb.Freed || rb.Kind != store.SeatInstance || rb.Holder != "app1" {
		t.Fatalf("revoke: %d %s", a.status, a.body)
	}
	if a := r.authorize(t, app2, "ocr", "i-1"); a.status != 200 {
		t.Fatalf("authorize after the revoke: %d %s", a.status, a.body)
	}
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// TestRenewedCertificateKeepsItsSeats: a certificate re-issued with the
// same name (a new key, the same site CA) is the same identity.
func TestRenewedCertificateKeepsItsSeats(t *testing.T) {
	s := newSite(t)
	r := s.start()
	if a := r.authorize(t, s.client("app1"), "ocr", "i-1"); a.status != 200 {
		t.Fatalf("authorize: %d %s", a.status, a.body)
	}
	clients := filepath.Join(s.dir, "pki", pki.ClientsDir)
	for _, ext := range []string{".crt", ".key"} {
		if err := os.Rename(filepath.Join(clients, "app1"+ext), filepath.Join(clients, "app1-old"+ext)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pki.IssueClient(filepath.Join(s.dir, "pki"), "app1", pki.RoleInstance, 30, t0); err != nil {
		t.Fatal(err)
	}
	renewed := s.client("app1")
	for _, path := range []string{api.PathHeartbeat, api.PathAuthorize, api.PathRelease} {
		if a := call(t, renewed, "POST", r.url+path, api.InstanceRequest{Product: "ocr", InstanceID: "i-1", Nonce: "n"}); a.status != 200 {
			t.Fatalf("%s with the re-issued certificate: %d %s", path, a.status, a.body)
		}
	}
}
