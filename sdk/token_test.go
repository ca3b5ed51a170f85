//go:build cgo

package sdk

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/softhsmtest"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/token"
)

// TestHardwareTokenPulled: a product of a token-bound site server is
// refused with 530, its code and fix, once the token has been gone past
// token_grace, and authorized again when it is back.
func TestHardwareTokenPulled(t *testing.T) {
	hsm := softhsmtest.New(t)
	tok := hsm.InitToken("site")
	thumb, err := token.Thumbprint(hsm.GenerateECDSA(tok, "licensor", []byte{1}))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	srv := e.site.NewServer("a", products()...)
	host := e.site.Host
	l := &license.License{Holder: "ACME", Issuer: "Vendor", Issued: e.site.Clock.Now().Add(-time.Hour),
		Machines: []fingerprint.Machine{{Code: host.Code, Components: host.Hashes()}}, MatchMin: 4,
		ServerKey: keys.PublicJWK(srv.Key.Public().(ed25519.PublicKey)), Products: products(),
		Token: &license.TokenBinding{Thumbprint: thumb, Alg: license.TokenES256, Serial: tok.Serial}}
	file, err := license.Sign(l, e.site.VendorPriv)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(srv.Config.License, file, 0o644)
	pin := filepath.Join(e.site.Dir, "token.pin")
	os.WriteFile(pin, []byte(softhsmtest.UserPIN), 0o600)
	srv.Config.TokenModule, srv.Config.TokenPINFile = hsm.Module, pin
	srv.Config.LeaseTTL = 5 * srv.Config.TokenGrace // the seat outlives the grace
	r := srv.Start("")
	c := e.client(e.config("ocr", r.URL))
	ctx := context.Background()
	if err := c.Authorize(ctx); err != nil {
		t.Fatalf("Authorize with the token present: %v", err)
	}
	hsm.Unplug(tok)
	e.site.Clock.Advance(time.Duration(srv.Config.TokenGrace) + time.Second)
	r.CheckToken(ctx)
	err = c.Authorize(ctx)
	if codes.Of(err) != codes.HWTokenMissing || !strings.Contains(codes.As(err).FixText(), "Plug the token in") {
		t.Fatalf("Authorize with the token gone past the grace = %v (fix %q)", err, codes.As(err).FixText())
	}
	hsm.Replug(tok)
	if err := r.CheckToken(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Authorize(ctx); err != nil {
		t.Fatalf("Authorize with the token back: %v", err)
	}
}
