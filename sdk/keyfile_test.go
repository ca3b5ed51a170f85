package sdk_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/keyfile"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/sdk"
)

// keyFileHost is a product host with a key file signed by a site
// server's own key, carrying that server's license.
type keyFileHost struct {
	t    *testing.T
	site *sitetest.Site
	srv  *sitetest.Server
	host *fingerprint.Fingerprint
	path string
}

func newKeyFileHost(t *testing.T) *keyFileHost {
	site := sitetest.New(t)
	h := &keyFileHost{t: t, site: site, srv: site.NewServer("a", sitetest.Product("ocr", 2, 0)),
		host: sitetest.FakeHost("render-07"), path: filepath.Join(t.TempDir(), "licensor.key")}
	h.write(nil)
	return h
}

// write issues the key file at the site's time, edited by edit.
func (h *keyFileHost) write(edit func(c *keyfile.Claims)) {
	h.t.Helper()
	data, err := os.ReadFile(h.srv.Config.License)
	if err != nil {
		h.t.Fatal(err)
	}
	c := &keyfile.Claims{Machine: h.host.Code, Components: h.host.Hashes(), MatchMin: 4, IssuedAt: h.site.Clock.Now().Unix(),
		License: string(data), Products: []keyfile.Product{{Subject: "ocr", Functions: []string{"basic"}}}}
	if edit != nil {
		edit(c)
	}
	file, err := keyfile.Issue(h.srv.Key, c)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(h.path, file, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// start starts the product: a verifier for product on this host.
func (h *keyFileHost) start(product string) *sdk.KeyFileVerifier {
	h.t.Helper()
	v, err := sdk.NewKeyFileVerifier(sdk.KeyFileOptions{Path: h.path, Vendor: h.site.VendorPub, Product: product, Clock: h.site.Clock,
		Host:   func() (*fingerprint.Fingerprint, error) { return h.host, nil },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

// TestKeyFileInspect: for each way a key file fails, the product's Check
// fails with the code of the stage Inspect says failed first.
func TestKeyFileInspect(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(h *keyFileHost)
		product string
		stage   string // "" when the key file verifies
		want    codes.Code
	}{
		{"valid", nil, "ocr", "", codes.OK},
		{"tampered", func(h *keyFileHost) {
			data, _ := os.ReadFile(h.path)
			os.WriteFile(h.path, []byte(strings.Replace(string(data), "-----END", "AAAA\n-----END", 1)), 0o644)
		}, "ocr", license.StageFile, codes.KeyFileTampered},
		{"wrong-machine", func(h *keyFileHost) { h.host = sitetest.FakeHost("elsewhere") }, "ocr", license.StageMachine, codes.KeyFileMachine},
		{"expired", func(h *keyFileHost) { h.site.Clock.Advance(keyfile.DefaultValidity + time.Second) }, "ocr", license.StageDates, codes.KeyFileExpired},
		{"not-yet-valid", func(h *keyFileHost) {
			h.write(func(c *keyfile.Claims) { c.NotBefore = h.site.Clock.Now().Add(time.Hour).Unix() })
		}, "ocr", license.StageDates, codes.KeyFileNotYetValid},
		{"product-missing", nil, "asr", license.StageProduct + " asr", codes.ProductUnlicensed},
		{"rollback", func(h *keyFileHost) {
			h.site.Clock.Advance(2 * time.Hour)
			if err := h.start("ocr").Check(); err != nil {
				t.Fatal(err)
			}
			h.site.Clock.Advance(-time.Hour) // and the product restarts
		}, "ocr", license.StageClock, codes.ClockRollback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newKeyFileHost(t)
			if tt.prepare != nil {
				tt.prepare(h)
			}
			v := h.start(tt.product)
			err := v.Check()
			if codes.Of(err) != tt.want {
				t.Fatalf("Check = %v, want code %d", err, tt.want)
			}
			in := v.Inspect()
			if codes.Of(in.Err()) != tt.want {
				t.Fatalf("Inspect().Err() = %v, want code %d", in.Err(), tt.want)
			}
			st, failed := in.Failed()
			if tt.want == codes.OK {
				if failed || in.Claims == nil || in.License == nil {
					t.Fatalf("a good key file: failed %+v, claims %v, license %v", st, in.Claims, in.License)
				}
				return
			}
			if st.Label() != tt.stage || st.Code != tt.want || st.Err.Error() != err.Error() || st.Fix == "" {
				t.Fatalf("first failure %+v, want %s with code %d and Check's message %q", st, tt.stage, tt.want, err)
			}
		})
	}
}
