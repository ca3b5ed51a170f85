package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keyfile"
	"github.com/licensor/licensor/keys"
)

// writeKeyFile signs a key file for h's host with the site server key
// that 'activation-request' made, carrying the license 'issue' wrote.
func (h *harness) writeKeyFile(products ...keyfile.Product) {
	h.t.Helper()
	priv, err := keys.LoadPrivate(filepath.Join(h.dir, "data", serverKeyFile))
	if err != nil {
		h.t.Fatal(err)
	}
	lic, err := os.ReadFile(filepath.Join(h.dir, "site.lic"))
	if err != nil {
		h.t.Fatal(err)
	}
	data, err := keyfile.Issue(priv, &keyfile.Claims{
		Machine: h.host.Code, Components: h.host.Hashes(), MatchMin: 4,
		IssuedAt: h.clock.Now().Unix(), License: string(lic), Products: products,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "licensor.key"), data, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func TestKeyFileVerify(t *testing.T) {
	ocr := keyfile.Product{Subject: "ocr", Functions: []string{"table"}}
	tests := []struct {
		name    string
		prepare func(h *harness)
		args    []string
		want    codes.Code
		say     []string
	}{
		{"valid", nil, nil, codes.OK, []string{
			"key file kf_", "machine:", "expires:     2026-11-30 12:00:00 UTC (7 days left)", "product ocr: functions=table",
			"license:     lic_", "ACME Imaging", "ok   signature", "ok   machine", "ok   dates", "ok   product ocr"}},
		{"valid-product", nil, []string{"--product", "ocr"}, codes.OK, []string{"ok   product ocr      granted, functions=table"}},
		{"expiring-soon", func(h *harness) { h.clock.Advance(3*24*time.Hour + time.Hour) }, nil, codes.OK,
			[]string{"warn renewal", "only 3 days left", "fix:", "ok   product ocr"}},
		{"expired", func(h *harness) { h.clock.Advance(keyfile.DefaultValidity + time.Second) }, nil, codes.KeyFileExpired,
			[]string{"ok   signature", "ok   machine", "fail dates", tag(codes.KeyFileExpired)}},
		{"other-machine", func(h *harness) {
			raw := siteRaw()
			raw[fingerprint.MAC], raw[fingerprint.RootDisk] = "00:1b:21:aa:bb:cc", "another-disk"
			h.host = fakeHost(raw)
		}, nil, codes.KeyFileMachine, []string{"not verified", "fail machine", tag(codes.KeyFileMachine), "mac, root-disk"}},
		{"one-component-changed", func(h *harness) {
			raw := siteRaw()
			raw[fingerprint.Hostname] = "auth-01-renamed"
			h.host = fakeHost(raw)
		}, nil, codes.OK, []string{"closely enough"}},
		{"product-not-granted", nil, []string{"--product", "asr"}, codes.ProductUnlicensed, []string{"fail product asr", tag(codes.ProductUnlicensed)}},
		{"tampered", func(h *harness) {
			path := filepath.Join(h.dir, "licensor.key")
			data, _ := os.ReadFile(path)
			os.WriteFile(path, []byte(strings.Replace(string(data), "-----END", "AAAA\n-----END", 1)), 0o644)
		}, nil, codes.KeyFileTampered, []string{"fail file", tag(codes.KeyFileTampered)}},
		{"missing", func(h *harness) { os.Remove(filepath.Join(h.dir, "licensor.key")) }, nil, codes.KeyFileMissing, []string{tag(codes.KeyFileMissing)}},
		{"wrong-vendor-key", func(h *harness) { h.mustRun("keys", "generate", "--out", "$DIR/other") },
			[]string{"--vendor-pub", "$DIR/other/vendor.pub"}, codes.WrongVendorKey, []string{"fail signature", tag(codes.WrongVendorKey)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.setup()
			h.writeKeyFile(ocr)
			if tt.prepare != nil {
				tt.prepare(h)
			}
			args := []string{"keyfile", "verify", "$DIR/licensor.key", "--vendor-pub", "$DIR/vendor/vendor.pub"}
			args = append(args, tt.args...)
			status := h.run(append([]string{}, args...)...)
			out := h.stdout.String() + h.stderr.String()
			want := ExitOK
			if tt.want != codes.OK {
				want = ExitFailure
			}
			if status != want {
				t.Fatalf("exit %d, want %d:\n%s", status, want, out)
			}
			for _, s := range tt.say {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			// The JSON form carries the same outcome.
			status = h.run(append(args, "--json")...)
			var r struct {
				Valid   bool
				Error   *errorJSON
				KeyFile *keyfileView `json:"keyfile"`
			}
			if err := json.Unmarshal(h.stdout.Bytes(), &r); err != nil {
				t.Fatalf("--json: %v\n%s", err, h.stdout)
			}
			if status != want {
				t.Fatalf("--json: exit %d, want %d", status, want)
			}
			if tt.want == codes.OK {
				if !r.Valid || r.Error != nil || r.KeyFile == nil || !r.KeyFile.Verified || r.KeyFile.Machine != h.host.Code && r.KeyFile.MatchMin == 0 {
					t.Fatalf("--json = %s", h.stdout)
				}
				return
			}
			if r.Valid || r.Error == nil || r.Error.Code != int(tt.want) || r.Error.Fix == "" {
				t.Fatalf("--json = %s", h.stdout)
			}
		})
	}
}

func TestKeyFileVerifyUsage(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{
		{"keyfile", "verify"},
		{"keyfile", "verify", "$DIR/licensor.key"},
	} {
		if status := h.run(args...); status != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, status, ExitUsage)
		}
	}
}
