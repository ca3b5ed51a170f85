package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/pki"
)

func TestPKIFlow(t *testing.T) {
	h := newHarness(t)
	out := h.mustRun("pki", "init", "--dir", "$DIR/site")
	for _, want := range []string{"ca.crt", "ca.key", "server.crt", "server.key",
		"hosts:              auth-01, localhost, 127.0.0.1, ::1",
		"licensor pki client --dir " + filepath.Join(h.dir, "site") + " --name app1 --role instance"} {
		if !strings.Contains(out, want) {
			t.Errorf("pki init output lacks %q:\n%s", want, out)
		}
	}

	var c map[string]any
	if err := json.Unmarshal([]byte(h.mustRun("pki", "client", "--dir", "$DIR/site", "--name", "app1", "--json")), &c); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, "pki client --json", c, "cert", "key", "name", "role", "not_after")
	if c["role"] != "instance" || c["name"] != "app1" || c["not_after"] != t0.AddDate(0, 0, 365).Format(time.RFC3339) {
		t.Errorf("pki client --json = %v", c)
	}
	if _, err := pki.LoadClientCertificate(c["cert"].(string), c["key"].(string), t0); err != nil {
		t.Errorf("the issued pair does not load: %v", err)
	}
	out = h.mustRun("pki", "client", "--dir", "$DIR/site", "--name", "ops", "--role", "admin", "--days", "7")
	if !strings.Contains(out, "(role admin)") || !strings.Contains(out, t0.AddDate(0, 0, 7).Format(time.RFC3339)) {
		t.Errorf("pki client output:\n%s", out)
	}

	var files []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(h.mustRun("pki", "show", "$DIR/site/ca.crt", "$DIR/site/clients/app1.crt", "--json")), &files); err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("pki show --json: %d files, want 2", len(files))
	}
	var certs []map[string]any
	if err := json.Unmarshal(files[1]["certificates"], &certs); err != nil || len(certs) != 1 {
		t.Fatalf("certificates: %v, %s", err, files[1]["certificates"])
	}
	wantKeys(t, "pki show --json", certs[0], "subject", "issuer", "serial", "not_before", "not_after", "days_left",
		"dns_names", "ips", "uris", "role", "is_ca", "eku")
	if certs[0]["role"] != "instance" || certs[0]["days_left"] != 365.0 || certs[0]["is_ca"] != false {
		t.Errorf("client certificate: %v", certs[0])
	}

	// A bundle of several certificates shows each; time moves the days left.
	a, _ := os.ReadFile(filepath.Join(h.dir, "site", "server.crt"))
	b, _ := os.ReadFile(filepath.Join(h.dir, "site", "ca.crt"))
	os.WriteFile(filepath.Join(h.dir, "chain.pem"), append(a, b...), 0o644)
	h.clock.Set(t0.AddDate(0, 0, 400))
	out = h.mustRun("pki", "show", "$DIR/chain.pem", "$DIR/site/clients/app1.crt")
	for _, want := range []string{"certificate 1:", "certificate 2:", "DNS names: auth-01, localhost", "IPs:       127.0.0.1, ::1",
		"usage:     serverAuth", "CA:        yes", "role:      instance", "EXPIRED 35 days ago", "330 days left"} {
		if !strings.Contains(out, want) {
			t.Errorf("pki show output lacks %q:\n%s", want, out)
		}
	}

	// Reissue the server certificate for other hosts.
	var site map[string]any
	if err := json.Unmarshal([]byte(h.mustRun("pki", "server", "--dir", "$DIR/site", "--hosts", "auth.example.com, 10.0.0.5,", "--json")), &site); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, "pki server --json", site, "ca_cert", "ca_key", "server_cert", "server_key", "hosts")
	if got := site["hosts"].([]any); len(got) != 5 || got[0] != "auth.example.com" || got[1] != "10.0.0.5" || got[2] != "localhost" {
		t.Errorf("hosts = %v", got)
	}
	out = h.mustRun("pki", "show", "$DIR/site/server.crt")
	if !strings.Contains(out, "DNS names: auth.example.com") || !strings.Contains(out, "IPs:       10.0.0.5") {
		t.Errorf("reissued server certificate:\n%s", out)
	}

	var initJSON map[string]any
	if err := json.Unmarshal([]byte(h.mustRun("pki", "init", "--dir", "$DIR/site2", "--hosts", "localhost", "--json")), &initJSON); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, "pki init --json", initJSON, "ca_cert", "ca_key", "server_cert", "server_key", "hosts")
}

// TestPKIHostsKeepLoopback: the README's 'pki init --hosts NAME,IP' makes a
// certificate that the commands run next on the server host itself
// (status, doctor, the quickstart's client) can verify over localhost, and
// says which names it covers.
func TestPKIHostsKeepLoopback(t *testing.T) {
	h := newHarness(t)
	for _, cmd := range []string{"init", "server"} {
		t.Run(cmd, func(t *testing.T) {
			out := h.mustRun("pki", cmd, "--dir", "$DIR/site", "--hosts", "licensor.example.com,10.0.0.5")
			if want := "hosts:              licensor.example.com, 10.0.0.5, localhost, 127.0.0.1, ::1\n"; !strings.Contains(out, want) {
				t.Errorf("pki %s output lacks %q:\n%s", cmd, want, out)
			}
			data, err := os.ReadFile(filepath.Join(h.dir, "site", pki.ServerCertFile))
			if err != nil {
				t.Fatal(err)
			}
			certs, err := pki.ParseCertificates(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"licensor.example.com", "10.0.0.5", "localhost", "127.0.0.1", "::1"} {
				if err := certs[0].VerifyHostname(name); err != nil {
					t.Errorf("the server certificate does not cover %s: %v", name, err)
				}
			}
		})
	}
	// Named loopback hosts are not repeated.
	var site map[string]any
	if err := json.Unmarshal([]byte(h.mustRun("pki", "server", "--dir", "$DIR/site", "--hosts", "LOCALHOST,::1", "--json")), &site); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(site["hosts"]); got != "[LOCALHOST ::1 127.0.0.1]" {
		t.Errorf("hosts = %s", got)
	}
}

func wantKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks %q: %v", what, k, m)
		}
	}
	if len(m) != len(keys) {
		t.Errorf("%s has %d keys, want %d: %v", what, len(m), len(keys), m)
	}
}

func TestPKIErrors(t *testing.T) {
	h := newHarness(t)
	h.mustRun("pki", "init", "--dir", "$DIR/site")
	h.mustRun("pki", "client", "--dir", "$DIR/site", "--name", "app1")
	os.WriteFile(filepath.Join(h.dir, "garbage.pem"), []byte("not a certificate"), 0o644)
	tests := []struct {
		name string
		args []string
		want int
		say  string
	}{
		{"init-no-dir", []string{"pki", "init"}, ExitUsage, "--dir"},
		{"init-extra-arg", []string{"pki", "init", "--dir", "$DIR/x", "extra"}, ExitUsage, "no arguments"},
		{"server-no-dir", []string{"pki", "server"}, ExitUsage, "--dir"},
		{"client-no-dir", []string{"pki", "client", "--name", "a"}, ExitUsage, "--dir"},
		{"client-no-name", []string{"pki", "client", "--dir", "$DIR/site"}, ExitUsage, "--name"},
		{"client-bad-role", []string{"pki", "client", "--dir", "$DIR/site", "--name", "a", "--role", "root"}, ExitUsage, `--role "root"`},
		{"client-bad-days", []string{"pki", "client", "--dir", "$DIR/site", "--name", "a", "--days", "x"}, ExitUsage, "days"},
		{"show-no-file", []string{"pki", "show"}, ExitUsage, "FILE"},
		{"pki-alone", []string{"pki"}, ExitUsage, "needs a subcommand"},
		{"init-overwrite", []string{"pki", "init", "--dir", "$DIR/site"}, ExitFailure, "code=606"},
		{"init-bad-host", []string{"pki", "init", "--dir", "$DIR/y", "--hosts", "ok.example,bad_host"}, ExitUsage, `code=604 invalid_argument: host "bad_host"`},
		{"client-exists", []string{"pki", "client", "--dir", "$DIR/site", "--name", "app1"}, ExitFailure, "code=606"},
		{"client-bad-name", []string{"pki", "client", "--dir", "$DIR/site", "--name", "../a"}, ExitUsage, "code=604"},
		{"client-too-many-days", []string{"pki", "client", "--dir", "$DIR/site", "--name", "a", "--days", "3651"}, ExitUsage, "code=604"},
		{"client-no-ca", []string{"pki", "client", "--dir", "$DIR/none", "--name", "a"}, ExitFailure, "code=77"},
		{"server-no-ca", []string{"pki", "server", "--dir", "$DIR/none"}, ExitFailure, "code=77"},
		{"show-missing", []string{"pki", "show", "$DIR/none.crt"}, ExitFailure, "code=605"},
		{"show-garbage", []string{"pki", "show", "$DIR/garbage.pem"}, ExitFailure, "code=610 cert_malformed"},
		{"show-key", []string{"pki", "show", "$DIR/site/ca.key"}, ExitFailure, "PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := h.run(tt.args...)
			if status != tt.want {
				t.Fatalf("exit %d, want %d\nstderr: %s", status, tt.want, h.stderr)
			}
			if !strings.Contains(h.stderr.String(), tt.say) {
				t.Fatalf("stderr lacks %q:\n%s", tt.say, h.stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(h.dir, "y")); err == nil {
		t.Error("a refused init created its directory")
	}
	if fix := codes.As(h.env.Run(t.Context(), []string{"pki", "init", "--dir", filepath.Join(h.dir, "site")})).FixText(); !strings.Contains(fix, "pki server") {
		t.Errorf("overwrite fix %q does not name 'pki server'", fix)
	}
}
