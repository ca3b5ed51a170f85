package doctor

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/keyfile"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
)

// offline fails every DNS lookup without a packet leaving the machine.
var offline = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
	return nil, errors.New("no DNS server in tests")
}}

type fixture struct {
	site *sitetest.Site
	srv  *sitetest.Server
	url  string
}

func newFixture(t *testing.T) *fixture {
	site := sitetest.New(t)
	srv := site.NewServer("a", sitetest.Product("ocr", 2, 0), sitetest.Product("asr", 2, 10))
	r := srv.Start("")
	return &fixture{site: site, srv: srv, url: r.URL}
}

func (f *fixture) options(servers ...string) Options {
	cert, key := f.site.Client("app1")
	return Options{Servers: servers, CAFile: f.site.CA(), CertFile: cert, KeyFile: key,
		LicenseFile: f.srv.Config.License, VendorPub: f.site.VendorPubFile(), Product: "ocr",
		Now: f.site.Clock.Now, Fingerprint: func() (*fingerprint.Fingerprint, error) { return f.site.Host, nil },
		Hostname: "doctor-test", ConnectTimeout: 300 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, Resolver: offline}
}

func find(t *testing.T, rep *Report, name string) Result {
	t.Helper()
	for _, r := range rep.Checks {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no check %q in %+v", name, rep.Checks)
	return Result{}
}

func TestHealthySite(t *testing.T) {
	f := newFixture(t)
	rep := Diagnose(context.Background(), f.options(f.url))
	for _, r := range rep.Checks {
		if r.Status == Fail {
			t.Errorf("%s failed: %s", r.Name, r.Found)
		}
	}
	if !rep.OK {
		t.Fatal("the report is not OK")
	}
	for _, name := range []string{"ca-file", "client-cert", "license", "resolve", "tcp", "tls", "server-cert", "client-ca-accepted", "clock-skew", "round-trip"} {
		if r := find(t, rep, name); r.Status != Pass && r.Status != Warn {
			t.Errorf("%s: %s %s", name, r.Status, r.Found)
		}
	}
	if r := find(t, rep, "license"); !strings.Contains(strings.Join(r.Details, "\n"), "async mode") {
		t.Errorf("the license check does not say that asr needs async mode: %v", r.Details)
	}
}

// TestBrokenEndpoints produces each network failure for real on loopback
// and checks the doctor names it with its code.
func TestBrokenEndpoints(t *testing.T) {
	f := newFixture(t)

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "https://" + ln.Addr().String()
	ln.Close()

	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()

	hole, _ := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	defer hole.Close()
	go func() {
		var held []net.Conn
		for {
			c, err := hole.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()

	// A server whose certificate covers another host name.
	pkiDir := filepath.Join(f.site.Dir, "pki")
	if _, err := pki.IssueServer(pkiDir, []string{"other.example"}, f.site.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	wrongHost := tlsServer(t, pkiDir, pkiDir)

	// A server from another site's CA.
	other := t.TempDir()
	if _, err := pki.InitSite(other, []string{"127.0.0.1"}, f.site.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	foreign := tlsServer(t, other, other)
	pki.IssueClient(other, "stranger", pki.RoleInstance, 30, f.site.Clock.Now())

	tests := []struct {
		name  string
		opts  func() Options
		check string
		want  codes.Code
	}{
		{"closed-port", func() Options { return f.options(closed) }, "tcp", codes.Connect},
		{"blackholed-port", func() Options { return f.options("https://" + hole.Addr().String()) }, "tls", codes.Timeout},
		{"plain-http-port", func() Options { return f.options("https://" + plain.Listener.Addr().String()) }, "tls", codes.Protocol},
		{"unresolvable", func() Options { return f.options("https://licensor.invalid:8443") }, "resolve", codes.Resolve},
		{"wrong-host", func() Options { return f.options(wrongHost) }, "server-cert", codes.ServerCert},
		{"unknown-ca", func() Options { return f.options(foreign) }, "server-cert", codes.ServerCert},
		{"client-cert-from-another-ca", func() Options {
			o := f.options(f.url)
			o.CertFile, o.KeyFile = filepath.Join(other, "clients", "stranger.crt"), filepath.Join(other, "clients", "stranger.key")
			return o
		}, "client-ca-accepted", codes.TLSHandshake},
		{"no-client-cert", func() Options {
			o := f.options(f.url)
			o.CertFile, o.KeyFile = "", ""
			return o
		}, "client-cert", codes.ClientCert},
		{"clock-skew", func() Options {
			o := f.options(f.url)
			o.Now = func() time.Time { return time.Now().Add(10 * time.Minute) }
			return o
		}, "clock-skew", codes.ClockSkew},
		{"round-trip-denied", func() Options {
			o := f.options(f.url)
			o.Product, o.LicenseFile = "tts", ""
			return o
		}, "round-trip", codes.ProductUnlicensed},
		{"license-other-machine", func() Options {
			o := f.options()
			o.Fingerprint = func() (*fingerprint.Fingerprint, error) { return sitetest.FakeHost("elsewhere"), nil }
			return o
		}, "license", codes.Fingerprint},
		{"license-tampered", func() Options {
			o := f.options()
			data, _ := os.ReadFile(o.LicenseFile)
			lines := strings.Split(string(data), "\n")
			for i, l := range lines {
				if strings.HasPrefix(l, "-----BEGIN") {
					b := []byte(lines[i+4])
					if b[5] == 'A' {
						b[5] = 'B'
					} else {
						b[5] = 'A'
					}
					lines[i+4] = string(b)
				}
			}
			o.LicenseFile = filepath.Join(t.TempDir(), "site.lic")
			os.WriteFile(o.LicenseFile, []byte(strings.Join(lines, "\n")), 0o644)
			return o
		}, "license", codes.LicenseTampered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Diagnose(context.Background(), tt.opts())
			r := find(t, rep, tt.check)
			if r.Status != Fail || r.Code != int(tt.want) || r.Fix == "" {
				t.Fatalf("%s = %+v, want a failure with code %d", tt.check, r, tt.want)
			}
			if rep.OK {
				t.Fatal("the report is OK")
			}
		})
	}
}

// tlsServer serves with DIR/server.crt, requiring client certificates
// from the CA in caDir.
func tlsServer(t *testing.T, dir, caDir string) string {
	t.Helper()
	cfg, err := pki.ServerTLSConfig(filepath.Join(caDir, pki.CACertFile), filepath.Join(dir, pki.ServerCertFile), filepath.Join(dir, pki.ServerKeyFile), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(http.NotFoundHandler())
	s.TLS = cfg
	s.StartTLS()
	t.Cleanup(s.Close)
	return s.URL
}

func TestOnlyAndSkips(t *testing.T) {
	f := newFixture(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "https://" + ln.Addr().String()
	ln.Close()
	rep := Diagnose(context.Background(), f.options(closed))
	if r := find(t, rep, "tls"); r.Status != Skip {
		t.Errorf("tls after a failed tcp = %s", r.Status)
	}
	if r := find(t, rep, "license"); r.Status != Pass {
		t.Errorf("a failed server skipped the license check: %+v", r)
	}
	o := f.options(f.url)
	o.Only = "clock-skew"
	rep = Diagnose(context.Background(), o)
	if len(rep.Checks) != 1 || rep.Checks[0].Name != "clock-skew" {
		t.Fatalf("--only clock-skew reported %+v", rep.Checks)
	}
}

func TestScanLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	os.WriteFile(path, []byte(`time=... level=INFO msg=authorize code=0 product=ocr
time=... level=WARN msg=deny code=501 name=instance_limit product=ocr instance=a
time=... level=WARN msg=deny code=501 name=instance_limit product=ocr instance=b
{"time":"...","level":"ERROR","msg":"expire","code":701,"name":"store_unavailable"}
aipe auth failed, ret = 509
`), 0o644)
	r := ScanLog(path, time.Now())
	if r.Status != Warn || r.Code != int(codes.InstanceLimit) {
		t.Fatalf("ScanLog = %+v", r)
	}
	all := strings.Join(r.Details, "\n")
	for _, want := range []string{"code=501 instance_limit ×2", "instance=b", "code=701 store_unavailable ×1", "readyz", "code=509 fingerprint ×1"} {
		if !strings.Contains(all, want) {
			t.Errorf("details lack %q:\n%s", want, all)
		}
	}
	clean := filepath.Join(t.TempDir(), "clean.log")
	os.WriteFile(clean, []byte("msg=serving\nmsg=authorize code=0\n"), 0o644)
	if r := ScanLog(clean, time.Now()); r.Status != Pass {
		t.Errorf("a clean log: %+v", r)
	}
	if r := ScanLog(filepath.Join(t.TempDir(), "none.log"), time.Now()); r.Status != Fail || r.Code != int(codes.FileMissing) {
		t.Errorf("a missing log: %+v", r)
	}
}

func TestKeyFileCheck(t *testing.T) {
	f := newFixture(t)
	data, _ := os.ReadFile(f.srv.Config.License)
	signed, err := license.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	now := f.site.Clock.Now()
	issue := func(host *fingerprint.Fingerprint, iat time.Time, valid time.Duration) string {
		file, err := keyfile.Issue(f.srv.Key, &keyfile.Claims{Machine: host.Code, Components: host.Hashes(), MatchMin: 4,
			IssuedAt: iat.Unix(), NotBefore: iat.Unix(), Expires: iat.Add(valid).Unix(), License: signed.Compact,
			Products: []keyfile.Product{{Subject: "ocr", Functions: []string{"basic"}, NotAfter: now.AddDate(0, 1, 0).Unix()}}})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "host.key")
		os.WriteFile(path, file, 0o644)
		return path
	}
	// A key file the product last ran with an hour from now: its
	// high-water mark is later than this host's clock.
	rolledBack := issue(f.site.Host, now.Add(-time.Hour), 7*24*time.Hour)
	v, err := keyfile.NewVerifier(keyfile.Options{Path: rolledBack, Vendor: f.site.VendorPub, Product: "ocr", Logger: discard,
		Host: func() (*fingerprint.Fingerprint, error) { return f.site.Host, nil }, Clock: clock.NewFake(now.Add(time.Hour))})
	if err != nil || v.Check() != nil {
		t.Fatalf("the product's verifier: %v", err)
	}
	tests := []struct {
		name    string
		path    string
		product string
		status  Status
		code    codes.Code
		stage   string // the stage the result names
	}{
		{"valid", issue(f.site.Host, now.Add(-time.Hour), 7*24*time.Hour), "ocr", Pass, codes.OK, ""},
		{"every-product", issue(f.site.Host, now.Add(-time.Hour), 7*24*time.Hour), "", Pass, codes.OK, ""},
		{"few-days-left", issue(f.site.Host, now.Add(-6*24*time.Hour), 7*24*time.Hour), "ocr", Warn, codes.OK, "dates"},
		{"expired", issue(f.site.Host, now.Add(-8*24*time.Hour), 7*24*time.Hour), "ocr", Fail, codes.KeyFileExpired, "dates"},
		{"other-machine", issue(sitetest.FakeHost("elsewhere"), now.Add(-time.Hour), 7*24*time.Hour), "ocr", Fail, codes.KeyFileMachine, "machine"},
		{"missing", filepath.Join(t.TempDir(), "none.key"), "ocr", Fail, codes.KeyFileMissing, "file"},
		{"clock-before-the-mark", rolledBack, "ocr", Fail, codes.ClockRollback, "clock"},
		{"product-missing", issue(f.site.Host, now.Add(-time.Hour), 7*24*time.Hour), "asr", Fail, codes.ProductUnlicensed, "product asr"},
	}
	t.Run("fresh-reads-7-days", func(t *testing.T) {
		// Issued for 7 days a minute ago: a person reads 7 days, not 6.
		o := f.options()
		o.LicenseFile, o.OfflineKeyFile, o.Product = "", issue(f.site.Host, now.Add(-time.Minute), 7*24*time.Hour), "ocr"
		r := find(t, Diagnose(context.Background(), o), "key-file")
		if r.Status != Pass || !strings.Contains(r.Found, "(7 days left)") {
			t.Fatalf("key-file = %+v, want 7 days left", r)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := f.options()
			o.LicenseFile, o.OfflineKeyFile, o.Product = "", tt.path, tt.product
			r := find(t, Diagnose(context.Background(), o), "key-file")
			if r.Status != tt.status || r.Code != int(tt.code) {
				t.Fatalf("key-file = %+v, want %s with code %d", r, tt.status, tt.code)
			}
			if len(r.Stages) != len(r.Details) || len(r.Stages) < 6 {
				t.Fatalf("key-file stages %+v, details %q", r.Stages, r.Details)
			}
			if tt.stage != "" && (!strings.HasPrefix(r.Found, tt.stage+": ") || r.Fix == "") {
				t.Errorf("key-file = %+v, want it to name the stage %s and the fix", r, tt.stage)
			}
			// A diagnosis raises no high-water mark.
			if _, err := os.Stat(tt.path + ".seen"); err == nil && tt.path != rolledBack {
				t.Errorf("the doctor wrote %s.seen", tt.path)
			}
		})
	}
}

// TestLicenseCheckStages: the license check carries the verification's
// stages, which name what failed.
func TestLicenseCheckStages(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		host    *fingerprint.Fingerprint
		product string
		status  Status
		failed  string
		code    codes.Code
	}{
		{"valid", f.site.Host, "ocr", Pass, "", codes.OK},
		{"every-product", f.site.Host, "", Pass, "", codes.OK},
		{"other-machine", sitetest.FakeHost("elsewhere"), "ocr", Fail, "machine", codes.Fingerprint},
		{"product-missing", f.site.Host, "tts", Fail, "product tts", codes.ProductUnlicensed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := f.options()
			o.Product = tt.product
			o.Fingerprint = func() (*fingerprint.Fingerprint, error) { return tt.host, nil }
			r := find(t, Diagnose(context.Background(), o), "license")
			if r.Status != tt.status || r.Code != int(tt.code) {
				t.Fatalf("license = %+v, want %s with code %d", r, tt.status, tt.code)
			}
			var labels []string
			for _, st := range r.Stages {
				labels = append(labels, st.Label()+"="+string(st.Outcome))
			}
			want := "file=pass signature=pass machine=pass"
			if tt.failed == "machine" {
				want = "file=pass signature=pass machine=fail"
			}
			if got := strings.Join(labels, " "); !strings.HasPrefix(got, want) {
				t.Errorf("stages %s, want them to start %s", got, want)
			}
			if tt.failed != "" && !strings.HasPrefix(r.Found, tt.failed+": ") {
				t.Errorf("found %q does not name %s", r.Found, tt.failed)
			}
		})
	}
}

// TestClockSkewResolution: a server on this host is in sync, though the
// Date header's whole seconds make it look up to a second ahead; a real
// difference beyond the header's second and the round trip is reported
// as the least the clocks differ.
func TestClockSkewResolution(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		now    func() time.Time
		status Status
		say    string
		never  string
	}{
		// Our clock read at the very end of each second: without the
		// header's resolution it looks a second ahead.
		{"same-host-late-in-the-second", func() time.Time { return time.Now().Truncate(time.Second).Add(999 * time.Millisecond) }, Pass, "agree to within the measurement's resolution", "ahead"},
		{"same-host", time.Now, Pass, "agree to within the measurement's resolution", "ahead"},
		{"40s-behind", func() time.Time { return time.Now().Add(-40 * time.Second) }, Warn, "behind the server's", "ahead"},
		{"10m-ahead", func() time.Time { return time.Now().Add(10 * time.Minute) }, Fail, "ahead of the server's", "behind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := f.options(f.url)
			o.Only, o.Now = "clock-skew", tt.now
			r := find(t, Diagnose(context.Background(), o), "clock-skew")
			if r.Status != tt.status || !strings.Contains(r.Found, tt.say) || strings.Contains(r.Found, tt.never) {
				t.Fatalf("clock-skew = %+v, want %s saying %q", r, tt.status, tt.say)
			}
		})
	}
}
