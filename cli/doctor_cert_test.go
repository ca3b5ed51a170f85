package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/doctor"
)

func TestDoctorCert(t *testing.T) {
	h := newHarness(t)
	h.mustRun("pki", "init", "--dir", "$DIR/site", "--hosts", "127.0.0.1,localhost")
	h.mustRun("pki", "init", "--dir", "$DIR/other", "--hosts", "127.0.0.1")
	h.mustRun("pki", "client", "--dir", "$DIR/site", "--name", "app1", "--role", "instance")

	tests := []struct {
		name   string
		args   []string
		status int
		say    []string // in stdout
		never  []string // not in stdout
	}{
		{"good-chain", []string{"$DIR/site/server.crt", "--ca", "$DIR/site/ca.crt", "--host", "127.0.0.1"}, ExitOK,
			[]string{"subject:   licensor site server", "days left", "IPs:       127.0.0.1", "usage:     serverAuth",
				"pass  ca-file", "pass  order", "pass  dates", "pass  chain", "pass  host", "pass  key-usage"},
			[]string{"FAIL"}},
		{"good-chain-without-ca", []string{"$DIR/site/server.crt"}, ExitOK,
			[]string{"skip  chain", "skip  host"}, []string{"FAIL"}},
		{"wrong-host", []string{"$DIR/site/server.crt", "--ca", "$DIR/site/ca.crt", "--host", "auth.example.com"}, ExitFailure,
			[]string{"FAIL  host", tag(codes.ServerCert), `"auth.example.com"`, "fix: ", "--hosts localhost,127.0.0.1,auth.example.com", "pass  chain"}, nil},
		{"unknown-ca", []string{"$DIR/other/server.crt", "--ca", "$DIR/site/ca.crt"}, ExitFailure,
			[]string{"FAIL  chain", tag(codes.ServerCert), "unknown CA"}, nil},
		{"client-cert", []string{"$DIR/site/clients/app1.crt", "--ca", "$DIR/site/ca.crt", "--client"}, ExitOK,
			[]string{"role:      instance", "pass  chain", "pass  key-usage", "pass  role", "skip  host"}, []string{"FAIL"}},
		{"client-cert-as-server", []string{"$DIR/site/clients/app1.crt", "--ca", "$DIR/site/ca.crt"}, ExitFailure,
			[]string{"FAIL  key-usage", tag(codes.ServerCert), "clientAuth"}, nil},
		{"server-cert-as-client", []string{"$DIR/site/server.crt", "--client"}, ExitFailure,
			[]string{"FAIL  key-usage", tag(codes.ClientCert), "FAIL  role"}, nil},
		{"ca-file-missing", []string{"$DIR/site/server.crt", "--ca", "$DIR/nope.crt"}, ExitFailure,
			[]string{"FAIL  ca-file", tag(codes.CAFile), "skip  chain"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"doctor", "cert"}, tt.args...)
			if got := h.run(args...); got != tt.status {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tt.status, h.stdout, h.stderr)
			}
			out := h.stdout.String()
			for _, s := range tt.say {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.never {
				if strings.Contains(out, s) {
					t.Errorf("output has %q:\n%s", s, out)
				}
			}
			if h.stderr.Len() != 0 {
				t.Errorf("stderr is not empty (the report is the output):\n%s", h.stderr)
			}
		})
	}
}

func TestDoctorCertJSON(t *testing.T) {
	h := newHarness(t)
	h.mustRun("pki", "init", "--dir", "$DIR/site", "--hosts", "127.0.0.1,localhost")
	for _, tt := range []struct {
		name   string
		host   string
		status int
		valid  bool
	}{
		{"good-chain", "localhost", ExitOK, true},
		{"wrong-host", "auth.example.com", ExitFailure, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.run("doctor", "cert", "$DIR/site/server.crt", "--ca", "$DIR/site/ca.crt", "--host", tt.host, "--json"); got != tt.status {
				t.Fatalf("exit %d, want %d\n%s%s", got, tt.status, h.stdout, h.stderr)
			}
			var rep doctor.ChainReport
			if err := json.Unmarshal(h.stdout.Bytes(), &rep); err != nil {
				t.Fatalf("--json: %v\n%s", err, h.stdout)
			}
			if rep.Valid != tt.valid || len(rep.Certificates) != 1 || rep.Certificates[0].Subject != "licensor site server" {
				t.Fatalf("report: %+v", rep)
			}
			var names []string
			for _, r := range rep.Checks {
				names = append(names, r.Name)
			}
			if got, want := strings.Join(names, " "), "ca-file order dates self-signed chain host key-usage"; got != want {
				t.Errorf("checks %q, want %q", got, want)
			}
		})
	}
}

func TestDoctorCertUsage(t *testing.T) {
	h := newHarness(t)
	h.mustRun("pki", "init", "--dir", "$DIR/site", "--hosts", "127.0.0.1")
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"no-file", nil},
		{"host-with-client", []string{"$DIR/site/server.crt", "--client", "--host", "127.0.0.1"}},
		{"unknown-flag", []string{"$DIR/site/server.crt", "--hostname", "x"}},
		{"flag-without-value", []string{"$DIR/site/server.crt", "--ca"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.run(append([]string{"doctor", "cert"}, tt.args...)...); got != ExitUsage {
				t.Fatalf("exit %d, want %d\n%s%s", got, ExitUsage, h.stdout, h.stderr)
			}
		})
	}
	out := h.mustRun("help", "doctor", "cert")
	if !strings.HasPrefix(out, "Usage: licensor doctor cert") || !strings.Contains(out, "--client") {
		t.Errorf("help:\n%s", out)
	}
}

func TestDoctorCertBadFiles(t *testing.T) {
	h := newHarness(t)
	h.mustRun("pki", "init", "--dir", "$DIR/site", "--hosts", "127.0.0.1")
	for _, tt := range []struct {
		name string
		file string
		code codes.Code
	}{
		{"missing", "$DIR/nope.crt", codes.FileMissing},
		{"key-not-certificate", "$DIR/site/server.key", codes.ServerCert},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.run("doctor", "cert", tt.file); got != ExitFailure {
				t.Fatalf("exit %d, want %d", got, ExitFailure)
			}
			if !strings.Contains(h.stderr.String(), tag(tt.code)) {
				t.Errorf("stderr lacks %q:\n%s", tag(tt.code), h.stderr)
			}
		})
	}
}
