//go:build cgo

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/softhsmtest"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/sdk"
)

// tokenConfig is the site server's server.json in the README's "Hardware
// tokens" example; the test fills in the port and the module.
const tokenConfig = `{
  "listen": "127.0.0.1:%d",
  "license": "site.lic",
  "vendor_public_key": "vendor/vendor.pub",
  "data_dir": "data",
  "tls": {"ca": "pki/ca.crt", "cert": "pki/server.crt", "key": "pki/server.key"},
  "token_module": "%s",
  "token_pin_file": "token.pin"
}
`

// TestHardwareTokenE2E runs the README's "Hardware tokens" workflow: the
// vendor provisions a key on a token, the site's activation request names
// it, the license binds it, token check proves it, the server runs bound
// to it and a product authorizes; with the token pulled, token check says
// so with its code.
func TestHardwareTokenE2E(t *testing.T) {
	hsm := softhsmtest.New(t)
	tok := hsm.InitToken("acme-site") // softhsm2-util --init-token --free --label acme-site
	h := newHarness(t)
	h.clock.Set(time.Now().UTC().Truncate(time.Second)) // TLS checks certificates against the real clock
	pin := filepath.Join(h.dir, "token.pin")
	if err := os.WriteFile(pin, []byte(softhsmtest.UserPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The vendor generates the key on the token.
	out := h.mustRun("token", "keygen", "--module", hsm.Module, "--key-label", "licensor", "--pin-file", pin)
	m := regexp.MustCompile(`thumbprint ([A-Za-z0-9_-]{43})`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "serial "+tok.Serial) {
		t.Fatalf("token keygen:\n%s", out)
	}
	thumb := m[1]
	if status := h.run("token", "keygen", "--module", hsm.Module, "--key-label", "licensor", "--pin-file", pin); status != 1 || !strings.Contains(h.stderr.String(), tag(codes.FileExists)) {
		t.Fatalf("a second key with the label: exit %d\n%s", status, h.stderr)
	}
	out = h.mustRun("token", "list", "--module", hsm.Module)
	if !strings.Contains(out, thumb) || !strings.Contains(out, tok.Serial) {
		t.Fatalf("token list does not show the key:\n%s", out)
	}

	// The site's activation request names the token's key; the vendor
	// issues a license bound to the machine and the token's serial.
	h.mustRun("keys", "generate", "--out", "$DIR/vendor")
	h.mustRun("activation-request", "--data", "$DIR/data", "--token-module", hsm.Module, "--token-label", "licensor", "--out", "$DIR/req.json")
	var req license.Request
	if b, err := os.ReadFile(filepath.Join(h.dir, "req.json")); err != nil || json.Unmarshal(b, &req) != nil || req.Token == nil ||
		req.Token.Thumbprint != thumb || req.Token.Serial != tok.Serial {
		t.Fatalf("activation request: %v %+v", err, req.Token)
	}
	out = h.mustRun("issue", "--key", "$DIR/vendor/vendor.key", "--request", "$DIR/req.json", "--holder", "ACME", "--product", "ocr:instances=2,days=30",
		"--token-serial", "--out", "$DIR/site.lic")
	if !strings.Contains(out, "binding: machine+token") || !strings.Contains(out, thumb) {
		t.Fatalf("issue:\n%s", out)
	}
	out = h.mustRun("license", "show", "$DIR/site.lic")
	if !strings.Contains(out, "binding:     machine+token") || !strings.Contains(out, "token serial: "+tok.Serial) {
		t.Fatalf("license show:\n%s", out)
	}
	if out := h.mustRun("token", "check", "--module", hsm.Module, "--license", "$DIR/site.lic", "--vendor-pub", "$DIR/vendor/vendor.pub", "--pin-file", pin); !strings.Contains(out, tok.Serial) {
		t.Fatalf("token check does not name the token:\n%s", out)
	}

	// The site server runs bound to the token; a product authorizes.
	h.mustRun("pki", "init", "--dir", "$DIR/pki", "--hosts", "127.0.0.1")
	h.mustRun("pki", "client", "--dir", "$DIR/pki", "--name", "app1", "--role", "instance")
	h.mustRun("pki", "client", "--dir", "$DIR/pki", "--name", "ops", "--role", "admin")
	port := freePorts(t, 1)[0]
	cfg := filepath.Join(h.dir, "server.json")
	os.WriteFile(cfg, []byte(fmt.Sprintf(tokenConfig, port, hsm.Module)), 0o644)
	stop := h.serveNode(cfg)
	defer stop()
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	out = h.mustRun("status", "--server", url, "--ca", "$DIR/pki/ca.crt", "--cert", "$DIR/pki/clients/ops.crt", "--key", "$DIR/pki/clients/ops.key")
	if !strings.Contains(out, "Binding machine+token") || !strings.Contains(out, "present (1 token holds the key)") {
		t.Fatalf("status:\n%s", out)
	}
	client, err := sdk.New(sdk.Config{
		Servers: []string{url},
		CAFile:  filepath.Join(h.dir, "pki/ca.crt"), CertFile: filepath.Join(h.dir, "pki/clients/app1.crt"), KeyFile: filepath.Join(h.dir, "pki/clients/app1.key"),
		VendorKeyFile: filepath.Join(h.dir, "vendor/vendor.pub"), Product: "ocr", Clock: h.clock, Logger: discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Authorize(context.Background()); err != nil {
		t.Fatalf("Authorize with the token present: %v", err)
	}
	stop()

	// The token pulled: token check says which code and exits 1.
	hsm.Unplug(tok)
	if status := h.run("token", "check", "--module", hsm.Module, "--license", "$DIR/site.lic", "--vendor-pub", "$DIR/vendor/vendor.pub", "--pin-file", pin); status != 1 ||
		(!strings.Contains(h.stdout.String()+h.stderr.String(), tag(codes.HWNoToken)) && !strings.Contains(h.stdout.String()+h.stderr.String(), tag(codes.HWTokenWrong))) {
		t.Fatalf("token check with the token pulled: exit %d\n%s%s", status, h.stdout, h.stderr)
	}
}

// TestIssueBinding: --binding and --token-serial need a request that names
// a token; a bad --binding is a usage error.
func TestIssueBinding(t *testing.T) {
	h := newHarness(t)
	h.mustRun("keys", "generate", "--out", "$DIR/vendor")
	h.mustRun("activation-request", "--data", "$DIR/data", "--out", "$DIR/req.json")
	base := []string{"issue", "--key", "$DIR/vendor/vendor.key", "--request", "$DIR/req.json", "--holder", "ACME", "--product", "ocr:days=30", "--out", "$DIR/site.lic"}
	for _, tt := range []struct {
		flags  []string
		status int
		say    string
	}{
		{[]string{"--binding", "dongle"}, 2, "--binding"},
		{[]string{"--binding", "token"}, 2, "names no hardware token"},
		{[]string{"--token-serial"}, 2, "names no hardware token"},
		{[]string{"--token-serial", "--binding", "machine"}, 2, "binds no token"},
	} {
		if status := h.run(append(append([]string{}, base...), tt.flags...)...); status != tt.status || !strings.Contains(h.stderr.String(), tt.say) {
			t.Errorf("issue %v: exit %d, want %d saying %q\n%s", tt.flags, status, tt.status, tt.say, h.stderr)
		}
	}
	h.mustRun(append(append([]string{}, base...), "--binding", "machine")...)
	if out := h.mustRun("license", "show", "$DIR/site.lic"); !strings.Contains(out, "binding:     machine (") {
		t.Fatalf("license show:\n%s", out)
	}
	for _, args := range [][]string{
		{"activation-request", "--data", "$DIR/data", "--token-label", "x"},
		{"activation-request", "--data", "$DIR/data", "--token-module", "/nonexistent.so"},
	} {
		if status := h.run(args...); status != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, status, h.stderr)
		}
	}
	if status := h.run("activation-request", "--data", "$DIR/data", "--token-module", "/nonexistent.so", "--token-label", "k"); status != 1 || !strings.Contains(h.stderr.String(), tag(codes.HWModule)) {
		t.Errorf("a missing module: exit %d\n%s", status, h.stderr)
	}
}
