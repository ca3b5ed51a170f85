package report_test

import (
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/report"
	"github.com/licensor/licensor/store/sqlite"
)

// signedSite is a site's license and server key, and a store with two
// hours of a pool's events.
type signedSite struct {
	site    *sitetest.Site
	key     ed25519.PrivateKey
	licFile []byte
	lic     *license.License
	compact string
	st      *sqlite.Store
	path    string
}

func newSignedSite(t *testing.T) *signedSite {
	site := sitetest.New(t)
	srv := site.NewServer("s1", sitetest.Product("ocr", 2, 0))
	return withLicense(t, site, srv.Key, srv.Config.License)
}

func withLicense(t *testing.T, site *sitetest.Site, key ed25519.PrivateKey, licPath string) *signedSite {
	t.Helper()
	data, err := os.ReadFile(licPath)
	must(t, err)
	signed, err := license.Parse(data)
	must(t, err)
	lic, err := signed.Verify(site.VendorPub)
	must(t, err)
	path := filepath.Join(t.TempDir(), "licensor.db")
	st, err := sqlite.Open(path)
	must(t, err)
	t.Cleanup(func() { st.Close() })
	twoHours(t, st)
	return &signedSite{site: site, key: key, licFile: data, lic: lic, compact: signed.Compact, st: st, path: path}
}

func (s *signedSite) sign(t *testing.T, from, to time.Time, key ed25519.PrivateKey) ([]byte, error) {
	t.Helper()
	return report.BuildSigned(ctx, s.st, report.Query{From: from, To: to, By: report.ByHour, License: s.lic, Now: min(180)},
		report.SignOptions{Key: key, License: s.compact})
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := codes.As(err); err == nil || got.Code != want {
		t.Fatalf("err = %v, want code %d", err, want)
	}
}

func TestSignedRoundTrip(t *testing.T) {
	s := newSignedSite(t)
	file, err := s.sign(t, min(0), min(120), s.key)
	must(t, err)
	v, err := report.ReadSigned(file, report.VerifyOptions{VendorKey: s.site.VendorPub, License: s.licFile})
	must(t, err)
	if v.License.ID != s.lic.ID || v.KeyID != keys.ID(s.key.Public().(ed25519.PublicKey)) {
		t.Fatalf("verified license %s key %s", v.License.ID, v.KeyID)
	}
	if len(v.Chains) != 1 || v.Chains[0].Start.Seq != 0 || v.Chains[0].End.Seq != 8 {
		t.Fatalf("chains = %+v, want events 1 to 8", v.Chains)
	}
	ocr := v.Report.Products[0]
	if ocr.Name != "ocr" || ocr.Total.PeakTotal != 2 || ocr.Total.AtLimit != time.Hour || ocr.Total.Denials[501] != 1 {
		t.Fatalf("signed report's ocr = %+v", ocr.Total)
	}
}

// TestSignedEveryByte edits each byte of a signed report in turn: every
// edit is refused.
func TestSignedEveryByte(t *testing.T) {
	s := newSignedSite(t)
	file, err := s.sign(t, min(0), min(120), s.key)
	must(t, err)
	for i := range file {
		edited := append([]byte(nil), file...)
		edited[i] ^= 1
		_, err := report.ReadSigned(edited, report.VerifyOptions{VendorKey: s.site.VendorPub})
		switch codes.As(err).Code {
		case codes.ReportMalformed, codes.ReportSignature, codes.ReportWrongServer, codes.ReportPeriodUncovered, codes.ReportChainGap:
		default:
			t.Fatalf("byte %d (%q) edited: err = %v, want a report code", i, file[i], err)
		}
	}
}

func TestSignedRefused(t *testing.T) {
	s := newSignedSite(t)
	good, err := s.sign(t, min(0), min(120), s.key)
	must(t, err)
	_, otherKey, _ := keys.Generate()
	other, err := s.sign(t, min(0), min(120), otherKey)
	must(t, err)
	otherVendor, _, _ := keys.Generate()

	// A payload the right key signed, claiming a period its log does not
	// cover.
	var f report.File
	must(t, json.Unmarshal(good, &f))
	var p report.Payload
	must(t, json.Unmarshal(f.Payload, &p))
	p.LogStart = min(30)
	uncovered, err := report.Sign(p, s.key)
	must(t, err)
	p.LogStart = min(0)
	p.Chains[0].End = report.Position{Seq: 0}
	p.Chains[0].Start = report.Position{Seq: 3, Hash: p.Chains[0].Start.Hash + "00"}
	backwards, err := report.Sign(p, s.key)
	must(t, err)

	tests := []struct {
		name   string
		file   []byte
		vendor ed25519.PublicKey
		want   codes.Code
	}{
		{"another-servers-key", other, s.site.VendorPub, codes.ReportWrongServer},
		{"wrong-vendor-key", good, otherVendor, codes.ReportWrongServer},
		{"period-not-covered", uncovered, s.site.VendorPub, codes.ReportPeriodUncovered},
		{"malformed-position", backwards, s.site.VendorPub, codes.ReportMalformed},
		{"empty", nil, s.site.VendorPub, codes.ReportMalformed},
		{"not-json", []byte("usage"), s.site.VendorPub, codes.ReportMalformed},
		{"readable-copy-edited", []byte(`{"signed":` + mustJSON(t, f.Signed) + `,"payload":{"type":"licensor-usage-report"}}`), s.site.VendorPub, codes.ReportMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := report.ReadSigned(tt.file, report.VerifyOptions{VendorKey: tt.vendor})
			wantCode(t, err, tt.want)
		})
	}
	t.Run("license-not-the-one-given", func(t *testing.T) {
		site2 := sitetest.New(t)
		srv2 := site2.NewServer("s2", sitetest.Product("ocr", 2, 0))
		lic2, err := os.ReadFile(srv2.Config.License)
		must(t, err)
		_, err = report.ReadSigned(good, report.VerifyOptions{VendorKey: s.site.VendorPub, License: lic2})
		wantCode(t, err, codes.ReportWrongServer)
	})
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	must(t, err)
	return string(b)
}

// TestSignRefusesUncovered: the server signs no report for a period its
// log does not cover, nor over a log that does not verify.
func TestSignRefusesUncovered(t *testing.T) {
	s := newSignedSite(t)
	_, err := s.sign(t, min(-60), min(120), s.key)
	wantCode(t, err, codes.ReportPeriodUncovered)
	_, err = s.sign(t, min(0), min(240), s.key)
	wantCode(t, err, codes.ReportPeriodUncovered)

	db, err := sql.Open("sqlite", s.path)
	must(t, err)
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit SET actor = 'CN=someone' WHERE seq = 4`); err != nil {
		t.Fatal(err)
	}
	_, err = s.sign(t, min(0), min(120), s.key)
	wantCode(t, err, codes.AuditTampered)
}

// TestSignedCluster: a cluster license trusts each node's key.
func TestSignedCluster(t *testing.T) {
	site := sitetest.New(t)
	nodes := site.NewCluster([]string{"n1", "n2"}, sitetest.Product("ocr", 2, 0))
	s := withLicense(t, site, nodes[1].Key, nodes[1].Config.License)
	file, err := s.sign(t, min(0), min(120), nodes[1].Key)
	must(t, err)
	if _, err := report.ReadSigned(file, report.VerifyOptions{VendorKey: site.VendorPub}); err != nil {
		t.Fatalf("a report signed by the cluster's second node: %v", err)
	}
}

// TestSignedConsecutive: consecutive reports share their boundary; a
// report that does not continue the previous one is refused.
func TestSignedConsecutive(t *testing.T) {
	s := newSignedSite(t)
	first, err := s.sign(t, min(0), min(60), s.key)
	must(t, err)
	second, err := s.sign(t, min(60), min(120), s.key)
	must(t, err)
	late, err := s.sign(t, min(0), min(120), s.key)
	must(t, err)
	v1, err := report.ReadSigned(first, report.VerifyOptions{VendorKey: s.site.VendorPub})
	must(t, err)
	if _, err := report.ReadSigned(second, report.VerifyOptions{VendorKey: s.site.VendorPub, Previous: &v1.Payload}); err != nil {
		t.Fatalf("the next period's report: %v", err)
	}
	_, err = report.ReadSigned(late, report.VerifyOptions{VendorKey: s.site.VendorPub, Previous: &v1.Payload})
	wantCode(t, err, codes.ReportChainGap)
	// The same boundary, another chain: the log was rewritten in between.
	var f report.File
	must(t, json.Unmarshal(second, &f))
	var p report.Payload
	must(t, json.Unmarshal(f.Payload, &p))
	p.Chains[0].Start.Hash = p.Chains[0].End.Hash
	rewritten, err := report.Sign(p, s.key)
	must(t, err)
	_, err = report.ReadSigned(rewritten, report.VerifyOptions{VendorKey: s.site.VendorPub, Previous: &v1.Payload})
	wantCode(t, err, codes.ReportChainGap)
}

// FuzzReadSigned: whatever the file, ReadSigned answers with a report
// code or a verified report, never a panic.
//
// Each fuzz worker runs the seeds' setup: it signs a license and a report
// with keys made here, and makes no site (no PKI, no files).
func FuzzReadSigned(f *testing.F) {
	vendorPub, vendorKey, _ := keys.Generate()
	serverPub, serverKey, _ := keys.Generate()
	host := sitetest.FakeHost("auth-01")
	data, err := license.Sign(&license.License{Holder: "ACME", Issuer: "Vendor", Issued: min(-60),
		Machines: []fingerprint.Machine{{Code: host.Code, Components: host.Hashes()}}, MatchMin: 4,
		ServerKey: keys.PublicJWK(serverPub), Products: []license.Product{sitetest.Product("ocr", 2, 0)}}, vendorKey)
	if err != nil {
		f.Fatal(err)
	}
	signed, err := license.Parse(data)
	if err != nil {
		f.Fatal(err)
	}
	lic, err := signed.Verify(vendorPub)
	if err != nil {
		f.Fatal(err)
	}
	r := &report.Report{From: min(0), To: min(60), By: report.ByHour, Products: []report.Product{}, LicenseID: lic.ID}
	file, err := report.Sign(report.Payload{Type: report.SignedType, Report: r, License: signed.Compact, LogStart: min(0),
		Chains: []report.Chain{{End: report.Position{Seq: 1, Hash: "00000000000000000000000000000000000000000000000000000000000000aa"}}}, Signed: min(61)}, serverKey)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := report.ReadSigned(file, report.VerifyOptions{VendorKey: vendorPub}); err != nil {
		f.Fatalf("the seed does not verify: %v", err)
	}
	f.Add(file)
	f.Add([]byte(`{"signed":"a.b.c","payload":{}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := report.ReadSigned(data, report.VerifyOptions{VendorKey: vendorPub})
		if err == nil {
			if v.Report == nil || v.License == nil {
				t.Fatal("verified without a report or a license")
			}
			return
		}
		if c := codes.As(err).Code; c < 1001 || c > 1005 {
			if c != codes.LicenseMalformed {
				t.Fatalf("err = %v (code %d), want a report code", err, c)
			}
		}
	})
}
