package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/doctor"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keyfile"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/sdk"
)

// writeKeyFile signs a key file for h's host with the site server key
// that 'activation-request' made, carrying the license 'issue' wrote.
func (h *harness) writeKeyFile(products ...keyfile.Product) {
	h.t.Helper()
	h.writeKeyFileWith(nil, products...)
}

// writeKeyFileWith is writeKeyFile with the claims edited before signing.
func (h *harness) writeKeyFileWith(edit func(c *keyfile.Claims), products ...keyfile.Product) {
	h.t.Helper()
	priv, err := keys.LoadPrivate(filepath.Join(h.dir, "data", serverKeyFile))
	if err != nil {
		h.t.Fatal(err)
	}
	lic, err := os.ReadFile(filepath.Join(h.dir, "site.lic"))
	if err != nil {
		h.t.Fatal(err)
	}
	c := &keyfile.Claims{
		Machine: h.host.Code, Components: h.host.Hashes(), MatchMin: 4,
		IssuedAt: h.clock.Now().Unix(), License: string(lic), Products: products,
	}
	if edit != nil {
		edit(c)
	}
	data, err := keyfile.Issue(priv, c)
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
			"license:     lic_", "ACME Imaging", "ok   file", "ok   chain", "ok   machine", "ok   clock", "no time seen on this host yet",
			"ok   dates", "ok   product ocr"}},
		{"valid-product", nil, []string{"--product", "ocr"}, codes.OK, []string{"ok   product ocr      granted, functions=table"}},
		{"expiring-soon", func(h *harness) { h.clock.Advance(3*24*time.Hour + time.Hour) }, nil, codes.OK,
			[]string{"warn dates", "only 3 days 23 hours left", "fix:", "ok   product ocr"}},
		{"fresh-reads-whole-days", func(h *harness) { h.clock.Advance(time.Minute) }, nil, codes.OK,
			[]string{"expires:     2026-11-30 12:00:00 UTC (7 days left)", "ok   dates            valid until 2026-11-30 12:00:00 UTC (7 days left)"}},
		{"expired", func(h *harness) { h.clock.Advance(keyfile.DefaultValidity + time.Second) }, nil, codes.KeyFileExpired,
			[]string{"ok   chain", "ok   machine", "ok   clock", "fail dates", tag(codes.KeyFileExpired), "(expired 1 second ago)"}},
		{"clock-set-back-past-the-mark", func(h *harness) { h.productRanAt(2 * time.Hour); h.clock.Advance(time.Hour) }, nil, codes.ClockRollback,
			[]string{"ok   chain", "ok   machine", "fail clock", tag(codes.ClockRollback), "already saw 2026-11-23 14:00:00 UTC", "ok   dates"}},
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
			[]string{"--vendor-pub", "$DIR/other/vendor.pub"}, codes.WrongVendorKey, []string{"fail chain", tag(codes.WrongVendorKey), "skip machine", "skip product"}},
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

// productVerifier is the product's own key-file verifier on h's host, as
// the SDK gives it.
func (h *harness) productVerifier(product string) *sdk.KeyFileVerifier {
	h.t.Helper()
	pub, err := keys.LoadPublic(filepath.Join(h.dir, "vendor", "vendor.pub"))
	if err != nil {
		h.t.Fatal(err)
	}
	v, err := sdk.NewKeyFileVerifier(sdk.KeyFileOptions{Path: filepath.Join(h.dir, "licensor.key"), Vendor: pub, Product: product,
		Host: h.env.Fingerprint, Clock: h.clock, Logger: discardLogger()})
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

// productRanAt runs the product once d from now, which leaves its
// high-water mark in KEYFILE.seen, and sets the clock back.
func (h *harness) productRanAt(d time.Duration) {
	h.t.Helper()
	h.clock.Advance(d)
	if err := h.productVerifier("ocr").Check(); err != nil {
		h.t.Fatal(err)
	}
	h.clock.Advance(-d)
	if _, err := os.Stat(filepath.Join(h.dir, "licensor.key.seen")); err != nil {
		h.t.Fatalf("the product left no mark: %v", err)
	}
}

// stageOutcome is a stage as every renderer must agree on it.
type stageOutcome struct {
	Label   string
	Outcome string
	Code    int
}

// TestKeyFileOneVerification: 'keyfile verify', 'doctor --keyfile' and the
// product's verifier show the same stages, with the same outcomes and
// codes, for each way a key file fails; and the product's Check fails
// with the code of the first failed stage.
func TestKeyFileOneVerification(t *testing.T) {
	ocr := keyfile.Product{Subject: "ocr", Functions: []string{"table"}}
	tests := []struct {
		name    string
		prepare func(h *harness)
		product string
		stage   string // the first stage to fail
		want    codes.Code
	}{
		{"tampered", func(h *harness) {
			path := filepath.Join(h.dir, "licensor.key")
			data, _ := os.ReadFile(path)
			s, _ := keyfile.Parse(data)
			b := []byte(s.Compact)
			i := strings.LastIndexByte(s.Compact, '.') + 3
			b[i] = 'A'
			if s.Compact[i] == 'A' {
				b[i] = 'B'
			}
			os.WriteFile(path, b, 0o644)
		}, "ocr", "chain", codes.KeyFileTampered},
		{"wrong-machine", func(h *harness) {
			raw := siteRaw()
			raw[fingerprint.MAC], raw[fingerprint.RootDisk] = "00:1b:21:aa:bb:cc", "another-disk"
			h.host = fakeHost(raw)
		}, "ocr", "machine", codes.KeyFileMachine},
		{"expired", func(h *harness) { h.clock.Advance(keyfile.DefaultValidity + time.Second) }, "ocr", "dates", codes.KeyFileExpired},
		{"not-yet-valid", func(h *harness) {
			h.writeKeyFileWith(func(c *keyfile.Claims) { c.NotBefore = h.clock.Now().Add(24 * time.Hour).Unix() }, ocr)
		}, "ocr", "dates", codes.KeyFileNotYetValid},
		{"product-missing", nil, "asr", "product asr", codes.ProductUnlicensed},
		{"rollback", func(h *harness) { h.productRanAt(2 * time.Hour); h.clock.Advance(time.Hour) }, "ocr", "clock", codes.ClockRollback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.setup()
			h.writeKeyFile(ocr)
			if tt.prepare != nil {
				tt.prepare(h)
			}
			words := map[string]string{"ok": "pass", "warn": "warn", "fail": "fail", "skip": "skip"}

			// licensor keyfile verify
			if status := h.run("keyfile", "verify", "$DIR/licensor.key", "--vendor-pub", "$DIR/vendor/vendor.pub", "--product", tt.product, "--json"); status != ExitFailure {
				t.Fatalf("keyfile verify: exit %d\n%s", status, h.stdout)
			}
			var kv keyfileResult
			if err := json.Unmarshal(h.stdout.Bytes(), &kv); err != nil {
				t.Fatal(err)
			}
			var cli []stageOutcome
			for _, c := range kv.Checks {
				cli = append(cli, stageOutcome{c.Name, words[c.Status], c.Code})
			}

			// licensor doctor --keyfile
			if status := h.run("doctor", "--keyfile", "$DIR/licensor.key", "--vendor-pub", "$DIR/vendor/vendor.pub", "--product", tt.product, "--json"); status != ExitFailure {
				t.Fatalf("doctor: exit %d\n%s", status, h.stdout)
			}
			var rep doctor.Report
			if err := json.Unmarshal(h.stdout.Bytes(), &rep); err != nil {
				t.Fatal(err)
			}
			var doc []stageOutcome
			for _, r := range rep.Checks {
				if r.Name != "key-file" {
					continue
				}
				if r.Status != doctor.Fail || r.Code != int(tt.want) || !strings.HasPrefix(r.Found, tt.stage+": ") {
					t.Errorf("doctor's key-file check = %+v, want %s failing with %d", r, tt.stage, tt.want)
				}
				for _, st := range r.Stages {
					doc = append(doc, stageOutcome{st.Label(), string(st.Outcome), int(st.Code)})
				}
			}

			// the product, through the SDK
			v := h.productVerifier(tt.product)
			err := v.Check()
			var sdkStages []stageOutcome
			for _, st := range v.Inspect().Stages {
				sdkStages = append(sdkStages, stageOutcome{st.Label(), string(st.Outcome), int(st.Code)})
			}

			if !reflect.DeepEqual(cli, sdkStages) || !reflect.DeepEqual(doc, sdkStages) {
				t.Fatalf("the stages differ:\nkeyfile verify %v\ndoctor         %v\nsdk            %v", cli, doc, sdkStages)
			}
			if codes.Of(err) != tt.want {
				t.Errorf("the product's Check = %v, want code %d", err, tt.want)
			}
			for _, st := range sdkStages {
				if st.Outcome == "fail" {
					if st.Label != tt.stage || st.Code != int(tt.want) {
						t.Errorf("the first failure is %+v, want %s with %d", st, tt.stage, tt.want)
					}
					break
				}
			}
		})
	}
}
