package license

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
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

var siteRaw = map[string]string{
	fingerprint.MachineID:   "4c4c4544004b3610804bb4c04f4b3332",
	fingerprint.ProductUUID: "4c4c4544-004b-3610-804b-b4c04f4b3332",
	fingerprint.MAC:         "3c:ec:ef:01:02:03",
	fingerprint.RootDisk:    "8d1f0c2e-5b7a-4f7e-9c61-0e8f4a1b2c3d",
	fingerprint.Hostname:    "auth-01",
}

type fixture struct {
	vendorPub  ed25519.PublicKey
	vendorPriv ed25519.PrivateKey
	serverPub  ed25519.PublicKey
	site       *fingerprint.Fingerprint
	file       []byte
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{site: host(siteRaw)}
	f.vendorPub, f.vendorPriv, _ = keys.Generate()
	f.serverPub, _, _ = keys.Generate()
	l := f.license()
	var err error
	f.file, err = Sign(l, f.vendorPriv)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) license() *License {
	return &License{
		Holder: "ACME Imaging", Issuer: "Example Vendor", Issued: t0,
		Machines:  []fingerprint.Machine{{Code: f.site.Code, Components: f.site.Hashes()}},
		MatchMin:  4,
		ServerKey: keys.PublicJWK(f.serverPub),
		Products: []Product{
			{Subject: "ocr", Functions: []string{"table", "handwriting"}, InstanceSize: 10, QPS: 0, NotBefore: t0, NotAfter: t0.AddDate(1, 0, 0)},
			{Subject: "ocr-fast", Functions: []string{}, InstanceSize: 2, QPS: 50, NotBefore: t0.AddDate(0, 1, 0), NotAfter: t0.AddDate(0, 2, 0)},
		},
	}
}

func TestSignVerify(t *testing.T) {
	f := newFixture(t)
	if !bytes.Contains(f.file, []byte(beginArmor)) || !bytes.Contains(f.file, []byte("holder:   ACME Imaging")) {
		t.Fatalf("file lacks armor or summary:\n%s", f.file)
	}
	for _, line := range strings.Split(string(f.file), "\n") {
		if len(line) > 100 {
			t.Fatalf("line of %d characters is not safe to email: %q", len(line), line)
		}
	}
	s, err := Parse(f.file)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Verify(f.vendorPub)
	if err != nil {
		t.Fatal(err)
	}
	if l.Holder != "ACME Imaging" || len(l.Products) != 2 || l.Products[0].InstanceSize != 10 || !l.Issued.Equal(t0) {
		t.Fatalf("license = %+v", l)
	}
	if err := l.CheckMachine(f.site); err != nil {
		t.Fatalf("CheckMachine(site) = %v", err)
	}
	if err := l.CheckProduct("ocr", t0.Add(time.Hour)); err != nil {
		t.Fatalf("CheckProduct = %v", err)
	}
	// Any JOSE implementation can verify it.
	sig, err := jose.ParseSignedCompact(s.Compact, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sig.Verify(f.vendorPub); err != nil {
		t.Fatalf("go-jose: %v", err)
	}
	// A bare compact JWS is a license too.
	if _, err := Parse([]byte(s.Compact + "\n")); err != nil {
		t.Fatalf("Parse(bare JWS) = %v", err)
	}
}

func TestVerdicts(t *testing.T) {
	f := newFixture(t)
	l, err := Load(writeTemp(t, f.file), f.vendorPub)
	if err != nil {
		t.Fatal(err)
	}
	changed := map[string]string{}
	for k, v := range siteRaw {
		changed[k] = v
	}
	changed[fingerprint.MAC] = "3c:ec:ef:09:09:09"
	oneChanged := host(changed)
	changed[fingerprint.RootDisk] = "0000"
	twoChanged := host(changed)

	tests := []struct {
		name    string
		check   func() error
		want    codes.Code
		mention []string
	}{
		{"valid", func() error { return l.CheckProduct("ocr", t0) }, codes.OK, nil},
		{"last-second", func() error { return l.CheckProduct("ocr", t0.AddDate(1, 0, 0)) }, codes.OK, nil},
		{"expired", func() error { return l.CheckProduct("ocr", t0.AddDate(1, 0, 0).Add(time.Second)) }, codes.Expired, []string{"ocr", "expired"}},
		{"not-yet-valid", func() error { return l.CheckProduct("ocr-fast", t0) }, codes.NotYetValid, []string{"ocr-fast", "licensed from"}},
		{"product-missing", func() error { return l.CheckProduct("asr", t0) }, codes.ProductUnlicensed, []string{"asr", "ocr, ocr-fast"}},
		{"one-component-changed", func() error { return l.CheckMachine(oneChanged) }, codes.OK, nil},
		{"other-machine", func() error { return l.CheckMachine(twoChanged) }, codes.Fingerprint, []string{"mac", "root-disk", f.site.Code}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check()
			if got := codes.Of(err); got != tt.want {
				t.Fatalf("err = %v, want code %v", err, tt.want)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("%q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestParseVerifyRejects(t *testing.T) {
	f := newFixture(t)
	s, _ := Parse(f.file)
	parts := strings.Split(s.Compact, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	otherPub, otherPriv, _ := keys.Generate()
	otherFile, _ := Sign(f.license(), otherPriv)

	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	moreSeats := bytes.Replace(payload, []byte(`"instanceSize":10`), []byte(`"instanceSize":99`), 1)
	if bytes.Equal(moreSeats, payload) {
		t.Fatal("fixture: instanceSize not found in payload")
	}
	sigBytes, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sigBytes[5] ^= 1

	// A validly signed payload that is not a license.
	notLicense, _ := signRaw(f.vendorPriv, []byte(`{"hello":"world"}`))
	badServerKey := f.license()
	badServerKey.ServerKey.X = "AAAA"

	tests := []struct {
		name   string
		data   []byte
		key    ed25519.PublicKey
		want   codes.Code
		phrase string
	}{
		{"tampered-payload", []byte(parts[0] + "." + b64(moreSeats) + "." + parts[2]), f.vendorPub, codes.LicenseTampered, "altered"},
		{"tampered-signature", []byte(parts[0] + "." + parts[1] + "." + b64(sigBytes)), f.vendorPub, codes.LicenseTampered, "altered"},
		{"tampered-in-armor", bytes.Replace(f.file, []byte(parts[1][10:20]), []byte(strings.Repeat("A", 10)), 1), f.vendorPub, codes.LicenseTampered, ""},
		{"wrong-vendor-key", otherFile, f.vendorPub, codes.WrongVendorKey, keys.ID(otherPub)},
		// A kid no key can have: the header was altered, not signed by another key.
		{"garbled-kid", []byte(b64([]byte(`{"alg":"EdDSA","kid":"v-_oXIHLVvPoi4yIv4E\u00c3\u00a9UJg-6Ce5h78AhT_8mLx","typ":"licensor-license"}`)) + "." + parts[1] + "." + parts[2]), f.vendorPub, codes.LicenseMalformed, "is not a key id"},
		{"kid-a-letter-off", []byte(b64([]byte(`{"alg":"EdDSA","kid":"`+offByOne(keys.ID(f.vendorPub))+`","typ":"licensor-license"}`)) + "." + parts[1] + "." + parts[2]), f.vendorPub, codes.LicenseTampered, "header was altered"},
		{"short-kid", []byte(b64([]byte(`{"alg":"EdDSA","kid":"abc","typ":"licensor-license"}`)) + "." + parts[1] + "." + parts[2]), f.vendorPub, codes.LicenseMalformed, `kid "abc" is not a key id`},
		{"alg-none", []byte(b64([]byte(`{"alg":"none","typ":"licensor-license"}`)) + "." + parts[1] + "."), f.vendorPub, codes.LicenseTampered, "none"},
		{"truncated-armor", f.file[:len(f.file)-40], f.vendorPub, codes.LicenseMalformed, "truncated"},
		{"truncated-jws", []byte(s.Compact[:len(s.Compact)/2]), f.vendorPub, codes.LicenseMalformed, ""},
		{"empty", nil, f.vendorPub, codes.LicenseMalformed, "empty"},
		{"not-a-license", []byte("Dear customer,\nplease find attached...\n"), f.vendorPub, codes.LicenseMalformed, "BEGIN"},
		{"pem-certificate", []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), f.vendorPub, codes.LicenseMalformed, ""},
		{"huge", bytes.Repeat([]byte("A"), MaxFileSize+1), f.vendorPub, codes.LicenseMalformed, "more than a license"},
		{"two-licenses", append(append([]byte{}, f.file...), f.file...), f.vendorPub, codes.LicenseMalformed, "more than one"},
		{"signed-not-a-license", []byte(notLicense), f.vendorPub, codes.LicenseMalformed, ""},
		{"empty-block", []byte(beginArmor + "\n\n" + endArmor + "\n"), f.vendorPub, codes.LicenseMalformed, "empty"},
	}
	if bad, err := signLicense(f.vendorPriv, badServerKey); err == nil {
		tests = append(tests, struct {
			name   string
			data   []byte
			key    ed25519.PublicKey
			want   codes.Code
			phrase string
		}{"bad-server-key", []byte(bad), f.vendorPub, codes.LicenseMalformed, "serverKey"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.data)
			if err == nil {
				_, err = s.Verify(tt.key)
			}
			if got := codes.Of(err); got != tt.want {
				t.Fatalf("err = %v, want code %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.phrase) {
				t.Errorf("%q does not say %q", err, tt.phrase)
			}
		})
	}
}

// signRaw signs an arbitrary payload as a license JWS, bypassing Sign's checks.
func signRaw(priv ed25519.PrivateKey, payload []byte) (string, error) {
	pub := priv.Public().(ed25519.PublicKey)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv},
		(&jose.SignerOptions{}).WithType(JWSType).WithHeader("kid", keys.ID(pub)))
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

func signLicense(priv ed25519.PrivateKey, l *License) (string, error) {
	l.Info, l.Version, l.FingerType, l.ID = "license", Version, FingerTypeMachine, "lic_x"
	payload, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	return signRaw(priv, payload)
}

func TestSignRefusesInvalid(t *testing.T) {
	f := newFixture(t)
	tests := map[string]func(l *License){
		"no-products":        func(l *License) { l.Products = nil },
		"no-machines":        func(l *License) { l.Machines = nil },
		"empty-holder":       func(l *License) { l.Holder = "" },
		"control-in-holder":  func(l *License) { l.Holder = "ACME\x1b[31m" },
		"bad-machine-code":   func(l *License) { l.Machines[0].Code = "xyz" },
		"match-too-high":     func(l *License) { l.MatchMin = 9 },
		"duplicate-product":  func(l *License) { l.Products[1].Subject = "ocr" },
		"zero-instances":     func(l *License) { l.Products[0].InstanceSize = 0 },
		"dates-reversed":     func(l *License) { l.Products[0].NotAfter = t0.Add(-time.Hour) },
		"bad-function":       func(l *License) { l.Products[0].Functions = []string{"a b"} },
		"bad-server-key-kid": func(l *License) { l.ServerKey.Kid = "x" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			l := f.license()
			mutate(l)
			if _, err := Sign(l, f.vendorPriv); codes.Of(err) != codes.InvalidArgument {
				t.Fatalf("Sign = %v, want invalid_argument", err)
			}
		})
	}
}

func TestView(t *testing.T) {
	f := newFixture(t)
	s, _ := Parse(f.file)
	l, _ := s.Verify(f.vendorPub)
	b, err := json.Marshal(l.View(s.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"holder", "issuer", "issued", "productLicenses", "fingerType", "info"} {
		if _, ok := m[k]; !ok {
			t.Errorf("view lacks %q: %s", k, b)
		}
	}
	p := m["productLicenses"].([]any)[0].(map[string]any)
	for _, k := range []string{"subject", "functions", "instanceSize", "qps", "notBefore", "notAfter"} {
		if _, ok := p[k]; !ok {
			t.Errorf("product view lacks %q", k)
		}
	}
	if p["notBefore"] != "2026-11-23T12:00:00Z" || m["issued"] != "2026-11-23T12:00:00Z" {
		t.Errorf("notBefore = %v, issued = %v, want RFC 3339 in UTC", p["notBefore"], m["issued"])
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(t.TempDir()+"/none.lic", nil)
	if codes.Of(err) != codes.FileMissing {
		t.Fatalf("Load(missing) = %v, want file_missing", err)
	}
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	path := t.TempDir() + "/site.lic"
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func FuzzParse(f *testing.F) {
	fx := newFixture(f)
	s, _ := Parse(fx.file)
	f.Add(fx.file)
	f.Add([]byte(s.Compact))
	f.Add([]byte(beginArmor + "\na.b.c\n" + endArmor))
	f.Add([]byte("eyJhbGciOiJub25lIn0.e30."))
	withPolicy := fx.license()
	withPolicy.KeyFile = &KeyFilePolicy{Hosts: []string{fx.site.Code, host(map[string]string{fingerprint.Hostname: "render-01"}).Code}, ValidityHours: 72}
	policyFile, err := Sign(withPolicy, fx.vendorPriv)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(policyFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if c := codes.Of(err); c != codes.LicenseMalformed && c != codes.LicenseTampered {
				t.Fatalf("Parse: unexpected code %v: %v", c, err)
			}
			return
		}
		l, err := s.Verify(fx.vendorPub)
		if err != nil {
			switch codes.Of(err) {
			case codes.LicenseMalformed, codes.LicenseTampered, codes.WrongVendorKey:
			default:
				t.Fatalf("Verify: unexpected error %v", err)
			}
			return
		}
		if l.Holder != "ACME Imaging" {
			t.Fatalf("a forged license verified: %+v", l)
		}
	})
}

// offByOne changes one letter of s for another.
func offByOne(s string) string {
	b := []byte(s)
	if b[7] == 'A' {
		b[7] = 'B'
	} else {
		b[7] = 'A'
	}
	return string(b)
}

// TestTamperedKid: a letter of the license header changed anywhere in
// its kid is a license altered (511) or not a license (601), never a
// license signed by another vendor key (512).
func TestTamperedKid(t *testing.T) {
	f := newFixture(t)
	s, _ := Parse(f.file)
	parts := strings.Split(s.Compact, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	start := bytes.Index(header, []byte(`"kid":"`)) + len(`"kid":"`)
	if start < len(`"kid":"`) {
		t.Fatalf("fixture: no kid in %s", header)
	}
	// The base64 characters that carry the kid's bytes.
	for i := start * 4 / 3; i < (start+43)*4/3; i++ {
		for _, c := range []byte{'A', 'q', '7', '-'} {
			h := []byte(parts[0])
			if h[i] == c {
				continue
			}
			h[i] = c
			_, err := verifyCompact(string(h)+"."+parts[1]+"."+parts[2], f.vendorPub)
			if got := codes.Of(err); got != codes.LicenseTampered && got != codes.LicenseMalformed {
				t.Errorf("header letter %d changed to %q: %v, want 511 or 601", i, c, err)
			}
		}
	}
}

// verifyCompact parses and verifies a compact license.
func verifyCompact(compact string, vendor ed25519.PublicKey) (*License, error) {
	s, err := ParseCompact(compact)
	if err != nil {
		return nil, err
	}
	return s.Verify(vendor)
}
