package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/server"
)

// benchServer makes a complete site in h.dir/site (PKI with an instance
// client "app", vendor key, server key, a license for h.host with product
// "ocr" of 4 instances) and serves it on 127.0.0.1 with h's clock until
// the test ends. It returns the server's URL and the bench flags that
// name the client's TLS files.
func benchServer(h *harness) (string, []string) {
	t := h.t
	t.Helper()
	h.clock.Set(time.Now().UTC().Truncate(time.Second)) // TLS checks certificates against the real time
	now := h.clock.Now()
	dir := filepath.Join(h.dir, "site")
	pkiDir := filepath.Join(dir, "pki")
	if _, err := pki.InitSite(pkiDir, []string{"127.0.0.1"}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.IssueClient(pkiDir, "app", pki.RoleInstance, 30, now); err != nil {
		t.Fatal(err)
	}
	vendorPub, vendorPriv, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vendor.pub"), keys.MarshalPublic(vendorPub), 0o644); err != nil {
		t.Fatal(err)
	}
	serverPriv, _, err := keys.LoadOrCreate(filepath.Join(dir, "data", server.ServerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	l := &license.License{Holder: "ACME", Issuer: "Vendor", Issued: now.Add(-time.Hour),
		Machines: []fingerprint.Machine{{Code: h.host.Code, Components: h.host.Hashes()}}, MatchMin: 4,
		ServerKey: keys.PublicJWK(serverPriv.Public().(ed25519.PublicKey)),
		Products:  []license.Product{{Subject: "ocr", InstanceSize: 4, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 1, 0)}}}
	file, err := license.Sign(l, vendorPriv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "site.lic"), file, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := server.Default()
	for _, p := range []*string{&cfg.License, &cfg.VendorPublicKey, &cfg.DataDir, &cfg.TLS.CA, &cfg.TLS.Cert, &cfg.TLS.Key} {
		*p = filepath.Join(dir, *p)
	}
	st, err := openStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, server.Options{Clock: h.clock, Logger: slog.New(slog.DiscardHandler),
		Fingerprint: func() (*fingerprint.Fingerprint, error) { return h.host, nil }, Store: st})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server.Run: %v", err)
		}
		srv.Close()
	})
	url := "https://" + ln.Addr().String()
	return url, []string{"--server", url, "--ca", filepath.Join(pkiDir, pki.CACertFile),
		"--cert", filepath.Join(pkiDir, pki.ClientsDir, "app.crt"), "--key", filepath.Join(pkiDir, pki.ClientsDir, "app.key")}
}

func TestBenchUsage(t *testing.T) {
	h := newHarness(t)
	tls := []string{"--ca", "ca.crt", "--cert", "app.crt", "--key", "app.key"}
	with := func(extra ...string) []string {
		return append(append([]string{"bench", "--server", "https://127.0.0.1:8443"}, tls...), extra...)
	}
	tests := []struct {
		name string
		args []string
		say  string
	}{
		{"no-server", append([]string{"bench"}, tls...), "--server"},
		{"no-tls-files", []string{"bench", "--server", "https://127.0.0.1:8443"}, "--ca, --cert, --key"},
		{"plain-http", append([]string{"bench", "--server", "http://127.0.0.1:8443"}, tls...), "https://"},
		{"bad-mode", with("--mode", "storm"), "--mode"},
		{"duration-and-requests", with("--duration", "1s", "--requests", "10"), "not both"},
		{"no-clients", with("--clients", "0"), "--clients"},
		{"zero-duration", with("--duration", "0s"), "--duration"},
		{"negative-requests", with("--requests", "-1"), "--requests"},
		{"argument", with("extra"), "no arguments"},
		{"unknown-flag", with("--rate", "5"), "rate"},
		{"pki-dir-without-probe", with("--pki-dir", "pki"), "--probe or --probe-rounds"},
		{"negative-probe-rounds", with("--probe-rounds", "-1"), "--probe-rounds -1"},
		{"too-many-probe-rounds", with("--probe-rounds", "21"), "want 1 to 20"},
		{"probe-with-probe-rounds", []string{"bench", "--probe", "--probe-rounds", "2"}, "--probe-rounds does not apply"},
		{"probe-with-server", []string{"bench", "--probe", "--server", "https://127.0.0.1:8443"}, "--server"},
		{"probe-cert-without-pki-dir", []string{"bench", "--probe", "--cert", "a.crt", "--key", "a.key"}, "--pki-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status := h.run(tt.args...); status != ExitUsage {
				t.Fatalf("exit %d, want %d\nstderr: %s", status, ExitUsage, h.stderr)
			}
			if !strings.Contains(h.stderr.String(), tt.say) {
				t.Fatalf("stderr lacks %q:\n%s", tt.say, h.stderr)
			}
		})
	}
}

func TestBenchAgainstServer(t *testing.T) {
	h := newHarness(t)
	url, flags := benchServer(h)
	bench := func(extra ...string) []string {
		return append(append([]string{"bench", "--product", "ocr", "--warmup", "0s"}, flags...), extra...)
	}
	for _, mode := range []string{"cycle", "heartbeat", "authorize"} {
		t.Run(mode, func(t *testing.T) {
			out := h.mustRun(bench("--mode", mode, "--clients", "4", "--requests", "100")...)
			for _, want := range []string{
				"licensor bench: mode=" + mode + " clients=4 duration=",
				" server=" + url + " product=ocr\n",
				"\n  operations   100  (",
				"\n  latency      p50 ",
				"\n  errors       none\n",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}

	// Six instances for four seats: denials are reported, not fatal, and
	// foretold on stderr.
	out := h.mustRun(bench("--mode", "authorize", "--clients", "6", "--requests", "60")...)
	if !strings.Contains(out, "  errors       code=501 instance_limit  ") {
		t.Errorf("a full pool is not reported:\n%s", out)
	}
	warning := "licensor bench: warning: --clients 6 is more than the 4 seats the license gives ocr: 2 clients at a time will be refused with code=501 instance_limit"
	if !strings.Contains(h.stderr.String(), warning) {
		t.Errorf("no warning of the full pool on stderr:\n%s", h.stderr)
	}
	if strings.Contains(out, "warning") {
		t.Errorf("the warning is on stdout:\n%s", out)
	}
	h.mustRun(bench("--mode", "cycle", "--clients", "4", "--requests", "20")...)
	if strings.Contains(h.stderr.String(), "warning") {
		t.Errorf("a warning with as many clients as seats:\n%s", h.stderr)
	}

	out = h.mustRun(bench("--mode", "cycle", "--clients", "2", "--requests", "20", "--json")...)
	var s map[string]any
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	var keys []string
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"clients", "cpu_steal_percent", "duration_seconds", "errors", "latency_ms", "mode", "operations", "ops_per_second", "product", "server"}
	if !slices.Equal(keys, want) {
		t.Fatalf("--json keys %v, want %v", keys, want)
	}
	lat, _ := s["latency_ms"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p99", "max"} {
		if v, ok := lat[k].(float64); !ok || v <= 0 {
			t.Errorf("latency_ms.%s = %v", k, lat[k])
		}
	}
	if s["mode"] != "cycle" || s["operations"] != 20.0 || s["clients"] != 2.0 || s["product"] != "ocr" || s["server"] != url || len(s["errors"].([]any)) != 0 {
		t.Errorf("--json = %s", out)
	}
}

func TestBenchFailures(t *testing.T) {
	h := newHarness(t)
	_, flags := benchServer(h)
	// A product the license does not list: refused before the run.
	if status := h.run(append([]string{"bench", "--product", "vision", "--requests", "5"}, flags...)...); status != ExitFailure ||
		!strings.Contains(h.stderr.String(), "code=508") {
		t.Errorf("unlicensed product: exit %d\n%s", status, h.stderr)
	}
	// A closed port: the server cannot be reached at all.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + ln.Addr().String()
	ln.Close()
	flags[1] = closed
	if status := h.run(append([]string{"bench", "--requests", "5"}, flags...)...); status != ExitFailure ||
		!strings.Contains(h.stderr.String(), "code=7 connect") {
		t.Errorf("closed port: exit %d\n%s", status, h.stderr)
	}
}
