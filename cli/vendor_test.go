package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/whitelist"
)

func TestVendorWhitelist(t *testing.T) {
	h := newHarness(t)
	code := h.host.Code

	out := h.mustRun("vendor", "approve", code, "--data", "$DIR/wl", "--customer", "ACME Imaging", "--until", "2027-10-31",
		"--product", "ocr:instances=10,functions=table|handwriting", "--product", "asr")
	for _, want := range []string{"approved " + code + " (ACME Imaging) until 2027-10-31 23:59:59 UTC", "ocr: instances=10", "asr: instances=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("approve output lacks %q:\n%s", want, out)
		}
	}

	out = h.mustRun("vendor", "list", "--data", "$DIR/wl")
	for _, want := range []string{"MACHINE CODE", code, "ACME Imaging", "2027-10-31 23:59:59", "ocr (10), asr (1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("list output lacks %q:\n%s", want, out)
		}
	}

	// A renewal replaces the approval.
	out = h.mustRun("vendor", "approve", strings.ToUpper(code), "--data", "$DIR/wl", "--customer", "ACME Imaging",
		"--until", "2028-10-31T12:00:00Z", "--product", "ocr:instances=20")
	if !strings.Contains(out, "replaces: "+code+" (ACME Imaging) until 2027-10-31 23:59:59 UTC") {
		t.Errorf("renewal output:\n%s", out)
	}

	h.mustRun("vendor", "revoke", code, "--data", "$DIR/wl")
	if !strings.Contains(h.stdout.String(), "revoked "+code) {
		t.Errorf("revoke output:\n%s", h.stdout)
	}

	var all []whitelist.Approval
	if err := json.Unmarshal([]byte(h.mustRun("vendor", "list", "--data", "$DIR/wl", "--json")), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].MachineCode != code || all[0].Revoked == nil || !all[0].Revoked.Equal(t0) ||
		!all[0].Until.Equal(time.Date(2028, 10, 31, 12, 0, 0, 0, time.UTC)) || len(all[0].Products) != 1 || all[0].Products[0].InstanceSize != 20 {
		t.Errorf("list --json: %+v", all)
	}
}

func TestVendorErrors(t *testing.T) {
	code := "31478b542aee8812097c42cc3b1642c9"
	for _, tt := range []struct {
		name string
		args []string
		want int
		code codes.Code // the code the message names, if any
	}{
		{"approve-no-code", []string{"vendor", "approve", "--data", "$DIR/wl", "--customer", "A", "--until", "2027-01-01", "--product", "ocr"}, ExitUsage, 0},
		{"approve-no-data", []string{"vendor", "approve", code, "--customer", "A", "--until", "2027-01-01", "--product", "ocr"}, ExitUsage, 0},
		{"approve-no-customer", []string{"vendor", "approve", code, "--data", "$DIR/wl", "--until", "2027-01-01", "--product", "ocr"}, ExitUsage, 0},
		{"approve-no-until", []string{"vendor", "approve", code, "--data", "$DIR/wl", "--customer", "A", "--product", "ocr"}, ExitUsage, 0},
		{"approve-no-product", []string{"vendor", "approve", code, "--data", "$DIR/wl", "--customer", "A", "--until", "2027-01-01"}, ExitUsage, 0},
		{"approve-unknown-flag", []string{"vendor", "approve", code, "--nope"}, ExitUsage, 0},
		{"list-argument", []string{"vendor", "list", "x", "--data", "$DIR/wl"}, ExitUsage, 0},
		{"list-no-data", []string{"vendor", "list"}, ExitUsage, 0},
		{"revoke-no-code", []string{"vendor", "revoke", "--data", "$DIR/wl"}, ExitUsage, 0},
		{"revoke-no-data", []string{"vendor", "revoke", code}, ExitUsage, 0},
		{"serve-argument", []string{"vendor", "serve", "x"}, ExitUsage, 0},
		{"vendor-alone", []string{"vendor"}, ExitUsage, 0},
		{"approve-bad-code", []string{"vendor", "approve", "31478b54", "--data", "$DIR/wl", "--customer", "A", "--until", "2027-01-01", "--product", "ocr"}, ExitUsage, codes.InvalidArgument},
		{"approve-bad-until", []string{"vendor", "approve", code, "--data", "$DIR/wl", "--customer", "A", "--until", "31.10.2027", "--product", "ocr"}, ExitUsage, codes.InvalidArgument},
		{"approve-past-until", []string{"vendor", "approve", code, "--data", "$DIR/wl", "--customer", "A", "--until", "2026-01-01", "--product", "ocr"}, ExitUsage, codes.InvalidArgument},
		{"approve-bad-spec", []string{"vendor", "approve", code, "--data", "$DIR/wl", "--customer", "A", "--until", "2027-01-01", "--product", "ocr:seats=3"}, ExitUsage, codes.InvalidArgument},
		{"list-no-whitelist", []string{"vendor", "list", "--data", "$DIR/none"}, ExitFailure, codes.FileMissing},
		{"revoke-unknown", []string{"vendor", "revoke", code, "--data", "$DIR/wl"}, ExitFailure, codes.NotWhitelisted},
		{"serve-bad-config", []string{"vendor", "serve", "--config", "$DIR/none.json"}, ExitFailure, codes.FileMissing},
		{"serve-no-vendor-key", []string{"vendor", "serve", "--vendor-key", "$DIR/none.key", "--listen", "127.0.0.1:0"}, ExitFailure, codes.FileMissing},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			// revoke-unknown needs a whitelist without the code.
			h.mustRun("vendor", "approve", "00000000000000000000000000000000", "--data", "$DIR/wl", "--customer", "B", "--until", "2027-01-01", "--product", "ocr")
			status := h.run(tt.args...)
			if status != tt.want {
				t.Fatalf("exit %d, want %d\nstderr: %s", status, tt.want, h.stderr)
			}
			if tt.code != 0 && !strings.Contains(h.stderr.String(), tag(tt.code)) {
				t.Errorf("stderr lacks %q:\n%s", tag(tt.code), h.stderr)
			}
		})
	}
}

func TestWithNotAfter(t *testing.T) {
	until := time.Date(2027, 10, 31, 23, 59, 59, 0, time.UTC)
	for _, tt := range []struct{ name, in, want string }{
		{"bare-subject", "ocr", "ocr:not-after=2027-10-31T23:59:59Z"},
		{"empty-rest", "ocr:", "ocr:not-after=2027-10-31T23:59:59Z"},
		{"with-keys", "ocr:instances=3", "ocr:instances=3,not-after=2027-10-31T23:59:59Z"},
		{"has-not-after", "ocr:not-after=2027-01-01", "ocr:not-after=2027-01-01"},
		{"has-days", "ocr:days=30", "ocr:days=30"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := withNotAfter(tt.in, until); got != tt.want {
				t.Errorf("withNotAfter(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestVendorServe runs the service as 'licensor vendor serve' does and
// asks it for a grant as a site server in upstream mode would.
func TestVendorServe(t *testing.T) {
	h := newHarness(t)
	now := time.Now() // the TLS handshake reads the real clock
	h.clock.Set(now)
	h.mustRun("keys", "generate", "--out", "$DIR/vendor")
	site, err := pki.InitSite(filepath.Join(h.dir, "pki"), []string{"127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	h.mustRun("activation-request", "--data", "$DIR/data", "--out", "$DIR/req.json")
	h.mustRun("vendor", "approve", h.host.Code, "--data", "$DIR/wl", "--customer", "ACME Imaging",
		"--until", now.AddDate(1, 0, 0).Format(time.DateOnly), "--product", "ocr:instances=3")

	cfg := whitelist.Default()
	cfg.Listen, cfg.DataDir, cfg.VendorKey = "127.0.0.1:0", filepath.Join(h.dir, "wl"), filepath.Join(h.dir, "vendor", "vendor.key")
	cfg.TLS = whitelist.TLSConfig{Cert: site.ServerCert, Key: site.ServerKey}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	env := *h.env
	env.Stderr = io.Discard // the service's log
	go func() { done <- env.serveWhitelist(ctx, cfg, func(a string) { addr <- a }) }()
	var url string
	select {
	case a := <-addr:
		url = "https://" + a + whitelist.PathGrant
		base := "https://" + a
		// The operator's connectivity check: reachable, and this machine approved.
		out := h.mustRun("check", "--upstream", base, "--data", "$DIR/data", "--vendor-pub", "$DIR/vendor/vendor.pub", "--ca", site.CACert)
		if !strings.HasPrefix(out, "code=0 ok: "+base+" grants machine "+h.host.Code) || !strings.Contains(out, "ACME Imaging") {
			t.Fatalf("check --upstream:\n%s", out)
		}
		other := *h.env
		other.Fingerprint = func() (*fingerprint.Fingerprint, error) {
			return fakeHost(map[string]string{"machine-id": "another"}), nil
		}
		err := other.Run(context.Background(), []string{"check", "--upstream", base, "--data", filepath.Join(h.dir, "data2"), "--vendor-pub", filepath.Join(h.dir, "vendor", "vendor.pub"), "--ca", site.CACert})
		if codes.Of(err) != codes.NotWhitelisted {
			t.Fatalf("check --upstream from an unknown machine = %v", err)
		}
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	pool, err := pki.LoadCertPool(site.CACert)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	req, err := os.ReadFile(filepath.Join(h.dir, "req.json"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Post(url, "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var g api.GrantBody
	if err := json.NewDecoder(resp.Body).Decode(&g); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d: %v", resp.StatusCode, err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "granted.lic"), []byte(g.License), 0o644); err != nil {
		t.Fatal(err)
	}
	out := h.mustRun("license", "verify", "$DIR/granted.lic", "--vendor-pub", "$DIR/vendor/vendor.pub", "--this-machine", "--product", "ocr")
	if !strings.Contains(out, "ok   signature") || !strings.Contains(out, "ok   machine") {
		t.Errorf("the grant does not verify:\n%s", out)
	}
}
