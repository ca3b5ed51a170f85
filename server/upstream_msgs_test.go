package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
)

// TestUpstreamMissingServerKey: in upstream mode a missing server key's
// fix says what is needed, not to send a request to the vendor.
func TestUpstreamMissingServerKey(t *testing.T) {
	s := newSite(t)
	os.Remove(s.cfg.License)
	v := s.vendorService(t)
	s.cfg.Upstream, s.cfg.UpstreamCA = []string{v.srv.URL}, v.caFile
	os.Remove(filepath.Join(s.cfg.DataDir, ServerKeyFile))
	_, err := New(s.cfg, s.options())
	fix := codes.As(err).FixText()
	if codes.Of(err) != codes.FileMissing || !strings.Contains(fix, "activation-request --data "+s.cfg.DataDir) ||
		!strings.Contains(fix, "nothing needs sending by hand") || strings.Contains(fix, "send the request to the vendor") {
		t.Fatalf("New = %v\nfix: %s", err, fix)
	}
}

// TestUpstreamSystemRoots: with no upstream_ca, a vendor service the
// system's roots do not vouch for is said so, not missing from a CA file.
func TestUpstreamSystemRoots(t *testing.T) {
	s := newSite(t)
	os.Remove(s.cfg.License)
	v := s.vendorService(t)
	v.set(func(v *vendorService) { v.approved = true })
	s.cfg.Upstream = []string{v.srv.URL}
	_, err := New(s.cfg, s.options())
	if codes.Of(err) != codes.ServerCert || !strings.Contains(err.Error(), "no CA file was given") || strings.Contains(err.Error(), "the CA file does not contain") {
		t.Fatalf("New = %v", err)
	}
}

// TestUpstreamLastFetch: when the grant runs out the server fetches once
// more before it stops: a contract renewed since the last periodic fetch
// keeps it serving; a refusal stops it with 526, saying what the service
// answered.
func TestUpstreamLastFetch(t *testing.T) {
	s := newSite(t)
	os.Remove(s.cfg.License)
	v := s.vendorService(t)
	v.set(func(v *vendorService) { v.approved = true })
	s.cfg.Upstream, s.cfg.UpstreamCA = []string{v.srv.URL}, v.caFile
	r := s.start() // the periodic fetch is a day away: only the last fetch can see a renewal
	first := r.lic.Load().license.ID

	v.set(func(v *vendorService) { v.notAfter = t0.AddDate(0, 0, 60) }) // renewed
	s.clock.Advance(31 * 24 * time.Hour)
	r.reap(context.Background())
	if got := r.lic.Load().license; got.ID == first || !grantEnd(got).Equal(t0.AddDate(0, 0, 60)) {
		t.Fatalf("after the grant's end the server holds %s until %s, want the renewal", got.ID, grantEnd(got))
	}
	select {
	case err := <-r.done:
		t.Fatalf("the server stopped although the last fetch brought a renewal: %v", err)
	default:
	}

	v.set(func(v *vendorService) { v.approved = false })
	s.clock.Advance(30 * 24 * time.Hour)
	r.reap(context.Background())
	select {
	case err := <-r.done:
		e := codes.As(err)
		if e.Code != codes.GrantExpired || !strings.Contains(e.Detail(), "a last fetch from the vendor's service brought no renewal") ||
			!strings.Contains(e.Detail(), "is not approved") || strings.Contains(e.FixText(), "daily check") {
			t.Fatalf("Run = %v\nfix: %s", err, e.FixText())
		}
		r.cancel = nil
		r.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop when its grant ran out")
	}
}
