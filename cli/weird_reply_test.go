package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/pki"
)

// impostorSite serves, over TLS with the site's own server certificate
// and requiring the site's client certificates, a server that fails every
// request but health with status and body.
func impostorSite(t *testing.T, site *sitetest.Site, status int, body string) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.PathHealth {
			io.WriteString(w, `{"status":"ok"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	cfg, err := pki.ServerTLSConfig(site.CA(), filepath.Join(site.Dir, "pki", pki.ServerCertFile), filepath.Join(site.Dir, "pki", pki.ServerKeyFile), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestCheckWeirdReply: 'licensor check' against a server that refuses
// with HTTP 403 but a body claiming code 0 says weird_reply (8), with the
// status, and never "ok" or "Nothing to fix".
func TestCheckWeirdReply(t *testing.T) {
	site := sitetest.New(t)
	url := impostorSite(t, site, http.StatusForbidden, `{"code":0,"name":"ok","message":"authorized"}`)
	h := newHarness(t)
	h.clock = site.Clock
	h.env.Clock = site.Clock
	cert, key := site.Client("app1")
	args := []string{"check", "--server", url, "--ca", site.CA(), "--cert", cert, "--key", key,
		"--vendor-pub", site.VendorPubFile(), "--product", "ocr", "--timeout", "2s"}
	for _, mode := range [][]string{nil, {"--async"}} {
		status := h.run(append(append([]string{}, args...), mode...)...)
		out := h.stdout.String() + h.stderr.String()
		if status != ExitFailure || !strings.Contains(out, tag(codes.WeirdReply)) || !strings.Contains(out, "HTTP 403") {
			t.Fatalf("check %v: exit %d, want 1 naming %s and HTTP 403:\n%s", mode, status, tag(codes.WeirdReply), out)
		}
		for _, never := range []string{"code=0", "Nothing to fix"} {
			if strings.Contains(out, never) {
				t.Errorf("check %v says %q:\n%s", mode, never, out)
			}
		}
	}
	h.run(append(args, "--json")...)
	var j struct {
		Authorized bool
		Code       int
	}
	if err := json.Unmarshal(h.stdout.Bytes(), &j); err != nil || j.Authorized || j.Code != int(codes.WeirdReply) {
		t.Fatalf("check --json: %+v, %v\n%s", j, err, h.stdout)
	}
}
