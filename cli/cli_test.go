package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// fakeHost builds a fingerprint from raw component values.
func fakeHost(raw map[string]string) *fingerprint.Fingerprint {
	fp := &fingerprint.Fingerprint{Environment: "bare-metal"}
	for _, name := range fingerprint.Order {
		if v, ok := raw[name]; ok {
			fp.Components = append(fp.Components, fingerprint.Component{Name: name, Hash: fingerprint.HashComponent(name, v), Source: "test"})
		}
	}
	fp.Code = fingerprint.CodeOf(fp.Hashes())
	return fp
}

func siteRaw() map[string]string {
	return map[string]string{
		fingerprint.MachineID:   "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
		fingerprint.ProductUUID: "4c4c4544-004b-3610-804b-b4c04f4b3332",
		fingerprint.MAC:         "3c:ec:ef:01:02:03",
		fingerprint.RootDisk:    "8d1f0c2e-5b7a-4f7e-9c61-0e8f4a1b2c3d",
		fingerprint.Hostname:    "auth-01",
	}
}

type harness struct {
	t      *testing.T
	env    *Env
	clock  *clock.Fake
	host   *fingerprint.Fingerprint
	dir    string
	stdout *bytes.Buffer
	stderr *bytes.Buffer
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, clock: clock.NewFake(t0), host: fakeHost(siteRaw()), dir: t.TempDir(),
		stdout: new(bytes.Buffer), stderr: new(bytes.Buffer)}
	h.env = &Env{
		Stdout: h.stdout, Stderr: h.stderr, Clock: h.clock,
		Fingerprint: func() (*fingerprint.Fingerprint, error) { return h.host, nil },
		Hostname:    func() (string, error) { return "auth-01", nil },
	}
	return h
}

// run runs a command line and returns its exit status; output is in
// h.stdout and h.stderr (Report writes the error to stderr).
func (h *harness) run(args ...string) int {
	h.t.Helper()
	h.stdout.Reset()
	h.stderr.Reset()
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "$DIR", h.dir)
	}
	err := h.env.Run(context.Background(), args)
	return Report(h.stderr, err)
}

func (h *harness) mustRun(args ...string) string {
	h.t.Helper()
	if status := h.run(args...); status != 0 {
		h.t.Fatalf("licensor %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), status, h.stdout, h.stderr)
	}
	return h.stdout.String()
}

// setup makes a vendor key, an activation request and a license.
func (h *harness) setup() {
	h.t.Helper()
	h.mustRun("keys", "generate", "--out", "$DIR/vendor")
	h.mustRun("activation-request", "--data", "$DIR/data", "--out", "$DIR/req.json")
	h.mustRun("issue", "--key", "$DIR/vendor/vendor.key", "--request", "$DIR/req.json", "--holder", "ACME Imaging",
		"--product", "ocr:instances=10,qps=0,not-before=2026-11-01,not-after=2027-10-31,functions=table|handwriting",
		"--product", "asr:instances=2,not-before=2027-01-01,days=90",
		"--out", "$DIR/site.lic")
}

func TestVendorToSiteFlow(t *testing.T) {
	h := newHarness(t)
	h.setup()

	st, err := os.Stat(filepath.Join(h.dir, "vendor", "vendor.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("vendor.key: %v, mode %v", err, st.Mode().Perm())
	}
	st, err = os.Stat(filepath.Join(h.dir, "data", "server.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("server.key: %v, mode %v", err, st.Mode().Perm())
	}

	out := h.mustRun("license", "verify", "$DIR/site.lic", "--vendor-pub", "$DIR/vendor/vendor.pub", "--this-machine", "--product", "ocr")
	for _, want := range []string{"ok   signature", "ok   product ocr", "ok   machine"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}

	out = h.mustRun("license", "show", "$DIR/site.lic", "--json")
	var view map[string]any
	if err := json.Unmarshal([]byte(out), &view); err != nil {
		t.Fatalf("show --json: %v\n%s", err, out)
	}
	if view["holder"] != "ACME Imaging" || len(view["productLicenses"].([]any)) != 2 {
		t.Fatalf("show --json = %s", out)
	}
	out = h.mustRun("license", "show", "$DIR/site.lic")
	if !strings.Contains(out, "signature: not checked") || !strings.Contains(out, "product ocr: instances=10") {
		t.Fatalf("show output:\n%s", out)
	}
}

func TestVerifyVerdicts(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(h *harness)
		args    []string
		want    codes.Code
		say     []string
	}{
		{"expired", func(h *harness) { h.clock.Set(time.Date(2027, 11, 1, 0, 0, 0, 0, time.UTC)) },
			[]string{"--product", "ocr"}, codes.Expired, []string{"code=503 expired", "fix:"}},
		{"not-yet-valid", nil, []string{"--product", "asr"}, codes.NotYetValid, []string{"code=510 not_yet_valid"}},
		{"product-missing", nil, []string{"--product", "tts"}, codes.ProductUnlicensed, []string{"code=508", `"tts"`}},
		{"other-machine", func(h *harness) {
			raw := siteRaw()
			raw[fingerprint.MAC], raw[fingerprint.RootDisk] = "00:1b:21:aa:bb:cc", "another-disk"
			h.host = fakeHost(raw)
		}, []string{"--this-machine", "--product", "ocr"}, codes.Fingerprint, []string{"code=509 fingerprint", "mac", "root-disk"}},
		{"one-part-changed", func(h *harness) {
			raw := siteRaw()
			raw[fingerprint.Hostname] = "auth-01-renamed"
			h.host = fakeHost(raw)
		}, []string{"--this-machine", "--product", "ocr"}, codes.OK, nil},
		{"wrong-vendor-key", func(h *harness) {
			h.mustRun("keys", "generate", "--out", "$DIR/other")
		}, []string{"--vendor-pub", "$DIR/other/vendor.pub"}, codes.WrongVendorKey, []string{"code=512"}},
		{"tampered", func(h *harness) {
			path := filepath.Join(h.dir, "site.lic")
			data, _ := os.ReadFile(path)
			lines := strings.Split(string(data), "\n")
			for i, l := range lines {
				if strings.HasPrefix(l, "-----BEGIN") {
					// Another base64url letter, so the block still decodes.
					b := []byte(lines[i+3])
					if b[10] == 'A' {
						b[10] = 'B'
					} else {
						b[10] = 'A'
					}
					lines[i+3] = string(b)
					break
				}
			}
			os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644)
		}, nil, codes.LicenseTampered, []string{"code=511"}},
		{"truncated", func(h *harness) {
			path := filepath.Join(h.dir, "site.lic")
			data, _ := os.ReadFile(path)
			os.WriteFile(path, data[:len(data)-50], 0o644)
		}, nil, codes.LicenseMalformed, []string{"code=601", "truncated"}},
		{"missing-file", func(h *harness) { os.Remove(filepath.Join(h.dir, "site.lic")) }, nil, codes.FileMissing, []string{"code=605"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.setup()
			if tt.prepare != nil {
				tt.prepare(h)
			}
			args := []string{"license", "verify", "$DIR/site.lic", "--vendor-pub", "$DIR/vendor/vendor.pub"}
			args = append(args, tt.args...)
			status := h.run(args...)
			out := h.stdout.String() + h.stderr.String()
			if tt.want == codes.OK {
				if status != 0 {
					t.Fatalf("exit %d:\n%s", status, out)
				}
				return
			}
			if status != ExitFailure {
				t.Fatalf("exit %d, want 1:\n%s", status, out)
			}
			for _, s := range tt.say {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			// The JSON form carries the same code.
			h.run(append(args, "--json")...)
			var r struct {
				Valid bool
				Error *errorJSON
			}
			if err := json.Unmarshal(h.stdout.Bytes(), &r); err != nil {
				t.Fatalf("--json: %v\n%s", err, h.stdout)
			}
			if r.Valid || r.Error == nil || r.Error.Code != int(tt.want) || r.Error.Fix == "" {
				t.Fatalf("--json = %s", h.stdout)
			}
		})
	}
}

func TestIssueWithMachineCode(t *testing.T) {
	h := newHarness(t)
	h.mustRun("keys", "generate", "--out", "$DIR/vendor")
	h.mustRun("keys", "generate", "--out", "$DIR/server", "--name", "server")
	h.mustRun("issue", "--key", "$DIR/vendor/vendor.key", "--machine", h.host.Code, "--server-key", "$DIR/server/server.pub",
		"--holder", "ACME", "--product", "ocr:days=30", "--out", "$DIR/site.lic")
	h.mustRun("license", "verify", "$DIR/site.lic", "--vendor-pub", "$DIR/vendor/vendor.pub", "--this-machine")

	// With no components recorded, any change is another machine.
	raw := siteRaw()
	raw[fingerprint.Hostname] = "renamed"
	h.host = fakeHost(raw)
	if status := h.run("license", "verify", "$DIR/site.lic", "--vendor-pub", "$DIR/vendor/vendor.pub", "--this-machine"); status != 1 {
		t.Fatalf("exit %d, want 1", status)
	}
	if !strings.Contains(h.stdout.String(), "code=509") {
		t.Fatalf("output:\n%s", h.stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	h := newHarness(t)
	h.mustRun("keys", "generate", "--out", "$DIR/vendor")
	h.mustRun("activation-request", "--data", "$DIR/data", "--out", "$DIR/req.json")
	issue := []string{"issue", "--key", "$DIR/vendor/vendor.key", "--request", "$DIR/req.json", "--holder", "A", "--out", "$DIR/x.lic"}
	tests := []struct {
		name string
		args []string
		want int
		say  string
	}{
		{"no-command", nil, ExitUsage, "no command"},
		{"unknown-command", []string{"frobnicate"}, ExitUsage, "unknown command"},
		{"group-alone", []string{"keys"}, ExitUsage, "needs a subcommand"},
		{"unknown-subcommand", []string{"keys", "rotate"}, ExitUsage, "unknown command"},
		{"unknown-flag", []string{"fingerprint", "--colour"}, ExitUsage, "colour"},
		{"missing-out", []string{"keys", "generate"}, ExitUsage, "--out"},
		{"extra-arg", []string{"keys", "show"}, ExitUsage, "one FILE"},
		{"issue-no-product", issue, ExitUsage, "--product"},
		{"issue-both-sources", append(append([]string{}, issue...), "--product", "a:days=1", "--machine", "x"), ExitUsage, "not both"},
		{"issue-bad-spec", append(append([]string{}, issue...), "--product", "ocr:seats=3"), ExitUsage, "code=604"},
		{"issue-bad-machine", []string{"issue", "--key", "$DIR/vendor/vendor.key", "--machine", "xyz", "--server-key", "$DIR/data/server.pub",
			"--holder", "A", "--product", "a:days=1", "--out", "$DIR/x.lic"}, ExitUsage, "code=604"},
		{"issue-public-key", []string{"issue", "--key", "$DIR/vendor/vendor.pub", "--request", "$DIR/req.json",
			"--holder", "A", "--product", "a:days=1", "--out", "$DIR/x.lic"}, ExitFailure, "code=603"},
		{"keys-overwrite", []string{"keys", "generate", "--out", "$DIR/vendor"}, ExitFailure, "code=606"},
		{"keys-show-garbage", []string{"keys", "show", "$DIR/req.json"}, ExitFailure, "code=603"},
		{"verify-no-key", []string{"license", "verify", "$DIR/x.lic"}, ExitUsage, "--vendor-pub"},
		{"explain-unknown", []string{"explain", "4242"}, ExitUsage, "code=604"},
		{"explain-nothing", []string{"explain"}, ExitUsage, "--all"},
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
	if _, err := os.Stat(filepath.Join(h.dir, "x.lic")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed issue left a license file behind: %v", err)
	}
}

func TestHelpEveryCommand(t *testing.T) {
	h := newHarness(t)
	out := h.mustRun("help")
	for _, c := range commands {
		if c.hidden {
			continue // TestBenchProbeServer
		}
		if !strings.Contains(out, c.name) {
			t.Errorf("'licensor help' does not list %q", c.name)
		}
		t.Run(strings.ReplaceAll(c.name, " ", "-"), func(t *testing.T) {
			help := h.mustRun(append([]string{"help"}, strings.Fields(c.name)...)...)
			if !strings.HasPrefix(help, "Usage: licensor "+c.name) {
				t.Errorf("help does not start with its usage line:\n%s", help)
			}
			flagHelp := h.mustRun(append(strings.Fields(c.name), "--help")...)
			if flagHelp != help {
				t.Errorf("--help differs from 'licensor help %s'", c.name)
			}
		})
	}
	if status := h.run("help", "nope"); status != ExitUsage {
		t.Errorf("help nope: exit %d", status)
	}
}

func TestExplain(t *testing.T) {
	h := newHarness(t)
	for _, arg := range []string{"509", "fingerprint", "code=509"} {
		out := h.mustRun("explain", arg)
		if !strings.HasPrefix(out, "code=509 fingerprint\n") || !strings.Contains(out, "fix:") {
			t.Errorf("explain %s:\n%s", arg, out)
		}
	}
	out := h.mustRun("explain", "502")
	if !strings.Contains(out, "never emitted") {
		t.Errorf("explain 502 does not say it is never emitted:\n%s", out)
	}
	var one codes.Info
	if err := json.Unmarshal([]byte(h.mustRun("explain", "2012", "--json")), &one); err != nil || one.Name != "all_servers_down" {
		t.Errorf("explain --json = %+v, %v", one, err)
	}
	var all []codes.Info
	if err := json.Unmarshal([]byte(h.mustRun("explain", "--all", "--json")), &all); err != nil || len(all) != len(codes.All()) {
		t.Errorf("explain --all --json: %d rows, %v", len(all), err)
	}
	if out := h.mustRun("explain", "--all"); strings.Count(out, "code=") != len(codes.All()) {
		t.Errorf("explain --all lists %d codes", strings.Count(out, "code="))
	}
}

func TestKeysShow(t *testing.T) {
	h := newHarness(t)
	gen := h.mustRun("keys", "generate", "--out", "$DIR/v", "--json")
	var w keyFiles
	if err := json.Unmarshal([]byte(gen), &w); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{w.PrivateKey, w.PublicKey} {
		out := h.mustRun("keys", "show", f)
		if !strings.HasPrefix(out, w.KeyID+"\n") {
			t.Errorf("keys show %s:\n%s\nwant id %s", f, out, w.KeyID)
		}
	}
	if status := h.run("keys", "show", "$DIR/none.pub"); status != 1 || !strings.Contains(h.stderr.String(), "code=605") {
		t.Errorf("keys show missing: exit %d, %s", status, h.stderr)
	}
}

func TestFingerprintOutput(t *testing.T) {
	h := newHarness(t)
	out := h.mustRun("fingerprint")
	first, _, _ := strings.Cut(out, "\n")
	if first != h.host.Code {
		t.Fatalf("first line %q, want the machine code %q", first, h.host.Code)
	}
	for _, name := range fingerprint.Order {
		if !strings.Contains(out, name+":") {
			t.Errorf("output does not name component %s:\n%s", name, out)
		}
	}
	var fp fingerprint.Fingerprint
	if err := json.Unmarshal([]byte(h.mustRun("fingerprint", "--json")), &fp); err != nil || fp.Code != h.host.Code {
		t.Fatalf("--json: %+v, %v", fp, err)
	}
}

func TestQuickstart(t *testing.T) {
	h := newHarness(t)
	out := h.mustRun("quickstart", "--dir", "$DIR/qs", "--json", "--setup-only", "--listen", "127.0.0.1:0")
	var q map[string]any
	if err := json.Unmarshal([]byte(out), &q); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"vendor_private_key", "vendor_public_key", "license", "data_dir", "server_private_key", "activation_request"} {
		p, _ := q[k].(string)
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %q: %v", k, p, err)
		}
	}
	firstKey := q["vendor_key_id"]
	// A second run keeps the vendor key and reissues the license.
	out = h.mustRun("quickstart", "--dir", "$DIR/qs", "--setup-only", "--listen", "127.0.0.1:0")
	if !strings.Contains(out, "Next:") || !strings.Contains(out, firstKey.(string)) {
		t.Fatalf("second quickstart:\n%s", out)
	}
	h.mustRun("license", "verify", "$DIR/qs/site.lic", "--vendor-pub", "$DIR/qs/vendor/vendor.pub", "--this-machine", "--product", "demo")
}

func TestReport(t *testing.T) {
	var b bytes.Buffer
	if Report(&b, nil) != 0 || b.Len() != 0 {
		t.Error("Report(nil)")
	}
	if Report(&b, flag.ErrHelp) != 0 {
		t.Error("Report(ErrHelp) != 0")
	}
	if Report(&b, usageErrorf("bad")) != 2 {
		t.Error("usage error != 2")
	}
	b.Reset()
	if Report(&b, codes.Errorf(codes.Expired, "gone")) != 1 || !strings.Contains(b.String(), "code=503 expired: gone\nfix: ") {
		t.Errorf("Report(expired) wrote %q", b.String())
	}
	b.Reset()
	if Report(&b, errors.New("boom")) != 1 || !strings.Contains(b.String(), "code=-1 unknown: boom") {
		t.Errorf("Report(plain) wrote %q", b.String())
	}
}

func TestFingerprintFailure(t *testing.T) {
	h := newHarness(t)
	h.env.Fingerprint = func() (*fingerprint.Fingerprint, error) { return nil, errors.New("no /sys, no /etc") }
	for _, args := range [][]string{{"fingerprint"}, {"activation-request", "--data", "$DIR/data"}} {
		status := h.run(args...)
		err := h.env.Run(context.Background(), args)
		if status != ExitFailure || codes.Of(err) != codes.Unknown || !strings.Contains(h.stderr.String(), "no /sys, no /etc") {
			t.Errorf("%v: exit %d, err %v, stderr %q", args, status, err, h.stderr)
		}
	}
}

// syncBuf is a bytes.Buffer safe for concurrent writers.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// tag is how output names a code: "code=509 fingerprint".
func tag(c codes.Code) string { return fmt.Sprintf("code=%d %s", int(c), c.Name()) }
