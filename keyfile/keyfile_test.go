package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/jws"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// host builds a fingerprint from raw component values.
func host(raw map[string]string) *fingerprint.Fingerprint {
	fp := &fingerprint.Fingerprint{Environment: "bare-metal"}
	for _, name := range fingerprint.Order {
		if v, ok := raw[name]; ok {
			fp.Components = append(fp.Components, fingerprint.Component{Name: name, Hash: fingerprint.HashComponent(name, v)})
		}
	}
	fp.Code = fingerprint.CodeOf(fp.Hashes())
	return fp
}

func hostRaw() map[string]string {
	return map[string]string{
		fingerprint.MachineID:   "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
		fingerprint.ProductUUID: "9a8b7c6d-0000-4111-8222-333344445555",
		fingerprint.MAC:         "3c:ec:ef:0a:0b:0c",
		fingerprint.RootDisk:    "1d2e3f40-5b7a-4f7e-9c61-0e8f4a1b2c3d",
		fingerprint.Hostname:    "render-07",
	}
}

// hostWith returns the fixture host with some components changed.
func hostWith(change map[string]string) *fingerprint.Fingerprint {
	raw := hostRaw()
	for k, v := range change {
		raw[k] = v
	}
	return host(raw)
}

type fixture struct {
	vendorPub  ed25519.PublicKey
	vendorPriv ed25519.PrivateKey
	serverPub  ed25519.PublicKey
	serverPriv ed25519.PrivateKey
	host       *fingerprint.Fingerprint
	license    []byte // the license file, armored
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{host: host(hostRaw())}
	f.vendorPub, f.vendorPriv, _ = keys.Generate()
	f.serverPub, f.serverPriv, _ = keys.Generate()
	f.license = f.signLicense(t, f.vendorPriv, f.serverPub)
	return f
}

// signLicense signs the fixture's license (bound to the site server's
// machine, not to the product host) with vendor, trusting server.
func (f *fixture) signLicense(t testing.TB, vendor ed25519.PrivateKey, server ed25519.PublicKey) []byte {
	t.Helper()
	return signLicense(t, vendor, server, t0)
}

// signLicenseAt signs the fixture's license for dates around now.
func (f *fixture) signLicenseAt(t testing.TB, now time.Time) []byte {
	t.Helper()
	return signLicense(t, f.vendorPriv, f.serverPub, now)
}

func signLicense(t testing.TB, vendor ed25519.PrivateKey, server ed25519.PublicKey, t0 time.Time) []byte {
	t.Helper()
	site := host(map[string]string{fingerprint.MachineID: "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e", fingerprint.Hostname: "auth-01"})
	l := &license.License{
		Holder: "ACME Imaging", Issuer: "Example Vendor", Issued: t0.AddDate(0, -1, 0),
		Machines:  []fingerprint.Machine{{Code: site.Code, Components: site.Hashes()}},
		ServerKey: keys.PublicJWK(server),
		Products: []license.Product{
			{Subject: "ocr", Functions: []string{"table", "handwriting"}, InstanceSize: 10, NotBefore: t0.AddDate(0, -1, 0), NotAfter: t0.AddDate(1, 0, 0)},
			{Subject: "asr", Functions: []string{}, InstanceSize: 2, NotBefore: t0.AddDate(0, -1, 0), NotAfter: t0.AddDate(0, 0, 3)},
			{Subject: "tts", Functions: []string{}, InstanceSize: 2, NotBefore: t0.AddDate(0, -1, 0), NotAfter: t0.AddDate(1, 0, 0)},
		},
	}
	data, err := license.Sign(l, vendor)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// claims are the fixture's key file claims: issued at t0 for the host.
func (f *fixture) claims() *Claims {
	return &Claims{
		Machine: f.host.Code, Components: f.host.Hashes(), MatchMin: 4,
		IssuedAt: t0.Unix(), License: string(f.license),
		Products: []Product{
			{Subject: "ocr", Functions: []string{"table"}},
			{Subject: "asr"},
			{Subject: "tts", NotAfter: t0.Add(48 * time.Hour).Unix()},
		},
	}
}

func (f *fixture) issue(t testing.TB, edit func(c *Claims)) []byte {
	t.Helper()
	c := f.claims()
	if edit != nil {
		edit(c)
	}
	data, err := Issue(f.serverPriv, c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// compactOf returns the JWS inside an armored key file.
func compactOf(t testing.TB, data []byte) string {
	t.Helper()
	s, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return s.Compact
}

// resign returns a bare key file whose payload edit changed, signed by
// priv with header kid.
func resign(t testing.TB, data []byte, priv ed25519.PrivateKey, kid string, edit func(m map[string]any)) []byte {
	t.Helper()
	parts := strings.Split(compactOf(t, data), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	payload, _ = json.Marshal(m)
	compact, err := jws.Sign(priv, payload, kid, JWSType)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(compact)
}

func TestIssueParse(t *testing.T) {
	f := newFixture(t)
	data := f.issue(t, nil)
	for _, want := range []string{beginArmor, endArmor, "machine:  " + f.host.Code, "expires:  2026-11-30 12:00:00 UTC", "product:  ocr"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("key file lacks %q:\n%s", want, data)
		}
	}
	inBlock := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == beginArmor:
			inBlock = true
		case line == endArmor:
			inBlock = false
		case inBlock && len(line) > lineWidth:
			t.Fatalf("armored line of %d characters", len(line))
		}
	}
	s, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID != keys.ID(f.serverPub) {
		t.Errorf("kid %s, want the server key %s", s.KeyID, keys.ID(f.serverPub))
	}
	c := s.Unverified()
	if c.Version != 1 || c.Issuer != Issuer || !strings.HasPrefix(c.ID, "kf_") || c.NotBefore != t0.Unix() ||
		c.Expires != t0.Add(DefaultValidity).Unix() || strings.Contains(c.License, "BEGIN") {
		t.Fatalf("claims = %+v", c)
	}
	// Any JOSE implementation can verify it with the server key.
	sig, err := jose.ParseSignedCompact(s.Compact, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sig.Verify(f.serverPub); err != nil {
		t.Fatalf("go-jose: %v", err)
	}
	if sig.Signatures[0].Header.ExtraHeaders["typ"] != JWSType {
		t.Errorf("typ = %v", sig.Signatures[0].Header.ExtraHeaders["typ"])
	}
	// A bare compact JWS is a key file too.
	if _, err := Parse([]byte(s.Compact + "\n")); err != nil {
		t.Fatalf("Parse(bare JWS) = %v", err)
	}
}

func TestIssueRefuses(t *testing.T) {
	f := newFixture(t)
	_, otherServer, _ := keys.Generate()
	tests := []struct {
		name string
		key  ed25519.PrivateKey
		edit func(c *Claims)
		want codes.Code
	}{
		{"other-server-key", otherServer, nil, codes.ServerKeyMismatch},
		{"no-issue-time", f.serverPriv, func(c *Claims) { c.IssuedAt = 0 }, codes.InvalidArgument},
		{"bad-machine", f.serverPriv, func(c *Claims) { c.Machine = "xyz" }, codes.InvalidArgument},
		{"no-products", f.serverPriv, func(c *Claims) { c.Products = nil }, codes.InvalidArgument},
		{"bad-product", f.serverPriv, func(c *Claims) { c.Products[0].Subject = "no spaces" }, codes.InvalidArgument},
		{"match-min-too-high", f.serverPriv, func(c *Claims) { c.MatchMin = 9 }, codes.InvalidArgument},
		{"not-a-license", f.serverPriv, func(c *Claims) { c.License = "hello" }, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.claims()
			if tt.edit != nil {
				tt.edit(c)
			}
			_, err := Issue(tt.key, c)
			if codes.Of(err) != tt.want {
				t.Fatalf("Issue = %v, want code %v", err, tt.want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	good := f.issue(t, nil)
	exp := t0.Add(DefaultValidity)
	otherVendorPub, otherVendorPriv, _ := keys.Generate()
	_, otherServer, _ := keys.Generate()
	_ = otherVendorPub

	tests := []struct {
		name    string
		file    func(t *testing.T) []byte
		host    *fingerprint.Fingerprint
		product string
		now     time.Time
		want    codes.Code
		mention []string
	}{
		{name: "valid", now: t0.Add(time.Hour)},
		{name: "valid-no-product", product: "-", now: t0.Add(time.Hour)},
		{name: "last-second", now: exp},
		{name: "expired", now: exp.Add(time.Second), want: codes.KeyFileExpired, mention: []string{"expired at 2026-11-30 12:00:00"}},
		{name: "not-yet-valid", now: t0.Add(time.Hour), want: codes.KeyFileNotYetValid,
			file: func(t *testing.T) []byte {
				return f.issue(t, func(c *Claims) { c.NotBefore = t0.Add(24 * time.Hour).Unix() })
			}},
		{name: "clock-within-tolerance", now: t0.Add(-time.Minute)},
		{name: "clock-rolled-back", now: t0.Add(-10 * time.Minute), want: codes.ClockRollback, mention: []string{"issue time", "set back"}},
		{name: "another-machine", now: t0, want: codes.KeyFileMachine,
			host:    hostWith(map[string]string{fingerprint.MAC: "00:1b:21:aa:bb:cc", fingerprint.RootDisk: "another-disk"}),
			mention: []string{"changed: mac, root-disk", "3 of 5 components match, the key file needs 4"}},
		{name: "one-component-changed", now: t0, host: hostWith(map[string]string{fingerprint.Hostname: "render-07-renamed"})},
		{name: "one-component-changed-all-required", now: t0, want: codes.KeyFileMachine, mention: []string{"changed: hostname"},
			host: hostWith(map[string]string{fingerprint.Hostname: "render-07-renamed"}),
			file: func(t *testing.T) []byte { return f.issue(t, func(c *Claims) { c.MatchMin = 0 }) }},
		{name: "tampered-payload", now: t0, want: codes.KeyFileTampered, mention: []string{"does not verify"},
			file: func(t *testing.T) []byte {
				parts := strings.Split(compactOf(t, good), ".")
				payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
				other := hostWith(map[string]string{fingerprint.MachineID: "another"}).Code
				payload = bytes.Replace(payload, []byte(f.host.Code), []byte(other), 1)
				return []byte(parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2])
			}},
		{name: "tampered-signature", now: t0, want: codes.KeyFileTampered, mention: []string{"does not verify"},
			file: func(t *testing.T) []byte {
				parts := strings.Split(compactOf(t, good), ".")
				sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
				sig[7] ^= 1
				return []byte(parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig))
			}},
		{name: "truncated", now: t0, want: codes.KeyFileTampered, mention: []string{"truncated"},
			file: func(t *testing.T) []byte { return good[:len(good)-60] }},
		{name: "truncated-block", now: t0, want: codes.KeyFileTampered,
			file: func(t *testing.T) []byte {
				i := bytes.Index(good, []byte(endArmor))
				return append(append([]byte{}, good[:i-70]...), good[i:]...)
			}},
		{name: "not-a-key-file", now: t0, want: codes.KeyFileTampered, mention: []string{"not a licensor key file"},
			file: func(t *testing.T) []byte { return f.license }},
		{name: "empty", now: t0, want: codes.KeyFileTampered, file: func(t *testing.T) []byte { return nil }},
		{name: "alg-none", now: t0, want: codes.KeyFileTampered, mention: []string{`"none"`},
			file: func(t *testing.T) []byte {
				parts := strings.Split(compactOf(t, good), ".")
				h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + keys.ID(f.serverPub) + `","typ":"licensor-keyfile"}`))
				return []byte(h + "." + parts[1] + ".")
			}},
		{name: "signed-by-other-server-key", now: t0, want: codes.KeyFileTampered, mention: []string{"its license", "trusts server key"},
			file: func(t *testing.T) []byte {
				return resign(t, good, otherServer, keys.ID(otherServer.Public().(ed25519.PublicKey)), nil)
			}},
		{name: "other-server-key-claiming-the-right-kid", now: t0, want: codes.KeyFileTampered, mention: []string{"does not verify"},
			file: func(t *testing.T) []byte { return resign(t, good, otherServer, keys.ID(f.serverPub), nil) }},
		{name: "license-by-other-vendor", now: t0, want: codes.WrongVendorKey, mention: []string{"signed by vendor key"},
			file: func(t *testing.T) []byte {
				other := f.signLicense(t, otherVendorPriv, f.serverPub)
				return f.issue(t, func(c *Claims) { c.License = string(other) })
			}},
		{name: "license-swapped-after-signing", now: t0, want: codes.KeyFileTampered, mention: []string{"does not verify"},
			file: func(t *testing.T) []byte {
				parts := strings.Split(compactOf(t, good), ".")
				payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
				var m map[string]any
				json.Unmarshal(payload, &m)
				other, _ := license.Parse(f.signLicense(t, f.vendorPriv, f.serverPub))
				m["lic"] = other.Compact
				payload, _ = json.Marshal(m)
				return []byte(parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2])
			}},
		{name: "product-not-in-key-file", product: "ocr-fast", now: t0, want: codes.ProductUnlicensed, mention: []string{`"ocr-fast"`, "ocr, asr, tts"}},
		{name: "product-not-in-license", product: "stt", now: t0, want: codes.ProductUnlicensed, mention: []string{"not in its license"},
			file: func(t *testing.T) []byte {
				return f.issue(t, func(c *Claims) { c.Products = append(c.Products, Product{Subject: "stt"}) })
			}},
		{name: "function-not-in-license", now: t0, want: codes.ProductUnlicensed, mention: []string{`function "gpu"`},
			file: func(t *testing.T) []byte {
				return f.issue(t, func(c *Claims) { c.Products[0].Functions = append(c.Products[0].Functions, "gpu") })
			}},
		{name: "product-license-expired", product: "asr", now: t0.AddDate(0, 0, 3).Add(time.Second), want: codes.Expired},
		{name: "product-capped-by-key-file", product: "tts", now: t0.Add(48*time.Hour + time.Second), want: codes.Expired, mention: []string{"the key file"}},
		{name: "product-cap-in-year-9999", product: "tts", now: t0,
			file: func(t *testing.T) []byte {
				return f.issue(t, func(c *Claims) { c.Products[2].NotAfter = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).Unix() })
			}},
		{name: "dates-before-product", product: "ocr-fast", now: exp.Add(time.Second), want: codes.KeyFileExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := good
			if tt.file != nil {
				data = tt.file(t)
			}
			h := f.host
			if tt.host != nil {
				h = tt.host
			}
			product := "ocr"
			switch tt.product {
			case "":
			case "-":
				product = ""
			default:
				product = tt.product
			}
			var c *Claims
			s, err := Parse(data)
			if err == nil {
				c, err = s.Verify(f.vendorPub, h, product, tt.now)
			}
			if got := codes.Of(err); got != tt.want {
				t.Fatalf("Verify = %v, want code %v", err, tt.want)
			}
			if err != nil {
				if _, ok := err.(*codes.Error); !ok {
					t.Fatalf("error %T is not a *codes.Error", err)
				}
				for _, m := range tt.mention {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("error %q does not mention %q", err, m)
					}
				}
				return
			}
			if c.Machine != f.host.Code || len(c.Products) == 0 {
				t.Fatalf("claims = %+v", c)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	fx := newFixture(f)
	seed := fx.issue(f, nil)
	s, err := Parse(seed)
	if err != nil {
		f.Fatal(err)
	}
	want, err := s.Verify(fx.vendorPub, fx.host, "ocr", t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(s.Compact))
	f.Add(fx.license)
	f.Add([]byte(beginArmor + "\n" + endArmor))
	f.Add([]byte("a.b.c"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if codes.Of(err) != codes.KeyFileTampered {
				t.Fatalf("Parse error %v is not keyfile_tampered", err)
			}
			return
		}
		s.Unverified()
		c, err := s.Verify(fx.vendorPub, fx.host, "ocr", t0)
		if err == nil && !reflect.DeepEqual(c, want) {
			t.Fatalf("a key file other than the seed verifies: %+v", c)
		}
		// The stage by stage check ends where Verify does.
		in := &Inspection{}
		in.inspect("fuzz.key", s, nil, fx.vendorPub, func() (*fingerprint.Fingerprint, error) { return fx.host, nil },
			"ocr", timeNanos(t0), int64(DefaultTolerance), mark{at: noMark})
		if codes.Of(in.Err()) != codes.Of(err) {
			t.Fatalf("Inspect = %v, Verify = %v", in.Err(), err)
		}
	})
}
