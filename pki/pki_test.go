package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

var testHosts = []string{"auth-01.example.com", "auth-01", "*.site.example.com", "127.0.0.1", "::1", "10.1.2.3"}

func initSite(t *testing.T, now time.Time) (string, *Site) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "site")
	site, err := InitSite(dir, testHosts, now)
	if err != nil {
		t.Fatal(err)
	}
	return dir, site
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func wantCode(t *testing.T, err error, want codes.Code, say string) {
	t.Helper()
	if codes.Of(err) != want {
		t.Fatalf("err = %v, want code %v", err, want)
	}
	if !strings.Contains(err.Error(), say) {
		t.Fatalf("err = %v, want it to say %q", err, say)
	}
}

func TestInitSiteFiles(t *testing.T) {
	dir, site := initSite(t, t0)
	tests := []struct {
		name string
		path string
		mode os.FileMode
		pem  string
	}{
		{"ca-cert", site.CACert, 0o644, "CERTIFICATE"},
		{"ca-key", site.CAKey, 0o600, "PRIVATE KEY"},
		{"server-cert", site.ServerCert, 0o644, "CERTIFICATE"},
		{"server-key", site.ServerKey, 0o600, "PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if filepath.Dir(tt.path) != dir {
				t.Errorf("%s is not in %s", tt.path, dir)
			}
			st, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != tt.mode {
				t.Errorf("mode %v, want %v", st.Mode().Perm(), tt.mode)
			}
			data, _ := os.ReadFile(tt.path)
			if b, _ := pem.Decode(data); b == nil || b.Type != tt.pem {
				t.Errorf("not a PEM %q block:\n%s", tt.pem, data)
			}
		})
	}
	ca, key, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || ca.MaxPathLen != 0 || !ca.MaxPathLenZero || ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("CA constraints: IsCA %v, MaxPathLen %d, KeyUsage %v", ca.IsCA, ca.MaxPathLen, ca.KeyUsage)
	}
	if !strings.HasPrefix(ca.Subject.CommonName, "licensor site CA ") {
		t.Errorf("CA CN %q", ca.Subject.CommonName)
	}
	if !ca.NotBefore.Equal(t0.Add(-time.Hour)) || !ca.NotAfter.Equal(t0.Add(CAValidity)) {
		t.Errorf("CA valid %v to %v", ca.NotBefore, ca.NotAfter)
	}
	if k, ok := key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want P-256", key)
	}
	srv := readCert(t, site.ServerCert)
	if srv.KeyUsage != x509.KeyUsageDigitalSignature || !srv.NotAfter.Equal(t0.Add(ServerValidity)) {
		t.Errorf("server cert: KeyUsage %v, NotAfter %v", srv.KeyUsage, srv.NotAfter)
	}
}

func TestInitSiteRefusesOverwrite(t *testing.T) {
	dir, site := initSite(t, t0)
	before, _ := os.ReadFile(site.CAKey)
	_, err := InitSite(dir, nil, t0)
	wantCode(t, err, codes.FileExists, "ca.")
	if !strings.Contains(codes.As(err).FixText(), "pki server") {
		t.Errorf("fix %q does not name 'pki server'", codes.As(err).FixText())
	}
	after, _ := os.ReadFile(site.CAKey)
	if string(before) != string(after) {
		t.Error("the CA key changed")
	}
}

func TestInitSiteBadHosts(t *testing.T) {
	for _, h := range []string{"", "bad_host", "-lead.example", "a..b", "*.com", "a.*.example.com", strings.Repeat("a", 64) + ".com", strings.Repeat("abc.", 64) + "com", "host name"} {
		t.Run(strings.NewReplacer(" ", "-", "*", "star").Replace(h[:min(len(h), 20)])+"-bad", func(t *testing.T) {
			dir := t.TempDir()
			_, err := InitSite(dir, []string{"localhost", h}, t0)
			wantCode(t, err, codes.InvalidArgument, "host")
			if _, err := os.Stat(filepath.Join(dir, CACertFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused init wrote ca.crt: %v", err)
			}
		})
	}
}

func TestServerCertVerifies(t *testing.T) {
	dir, site := initSite(t, t0)
	pool, err := LoadCertPool(site.CACert)
	if err != nil {
		t.Fatal(err)
	}
	srv := readCert(t, site.ServerCert)
	for _, tt := range []struct {
		name string
		host string
		ok   bool
	}{
		{"dns", "auth-01.example.com", true},
		{"short-name", "auth-01", true},
		{"wildcard", "node7.site.example.com", true},
		{"ipv4", "127.0.0.1", true},
		{"ipv6", "::1", true},
		{"other-ip", "10.1.2.3", true},
		{"unlisted-name", "auth-02.example.com", false},
		{"unlisted-ip", "10.1.2.4", false},
		{"wildcard-two-levels", "a.b.site.example.com", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := srv.Verify(x509.VerifyOptions{DNSName: tt.host, Roots: pool, CurrentTime: t0,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if (err == nil) != tt.ok {
				t.Fatalf("Verify(%s) = %v, want ok=%v", tt.host, err, tt.ok)
			}
		})
	}
	if net.ParseIP("::1") == nil {
		t.Fatal("::1 does not parse")
	}

	// Reissuing keeps the CA and covers the new names only.
	caBefore, _ := os.ReadFile(site.CACert)
	site2, err := IssueServer(dir, []string{"auth-02.example.com"}, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	caAfter, _ := os.ReadFile(site2.CACert)
	if string(caBefore) != string(caAfter) {
		t.Error("IssueServer changed the CA")
	}
	srv2 := readCert(t, site2.ServerCert)
	if _, err := srv2.Verify(x509.VerifyOptions{DNSName: "auth-02.example.com", Roots: pool, CurrentTime: t0.Add(24 * time.Hour)}); err != nil {
		t.Errorf("reissued cert: %v", err)
	}
	if _, err := srv2.Verify(x509.VerifyOptions{DNSName: "auth-01.example.com", Roots: pool, CurrentTime: t0.Add(24 * time.Hour)}); err == nil {
		t.Error("reissued cert still covers auth-01.example.com")
	}
	if _, err := LoadServerCertificate(site2.ServerCert, site2.ServerKey, t0.Add(24*time.Hour)); err != nil {
		t.Errorf("reissued pair: %v", err)
	}
	_, err = IssueServer(t.TempDir(), nil, t0)
	wantCode(t, err, codes.CAFile, "does not exist")
}

func TestLocalHosts(t *testing.T) {
	got := strings.Join(LocalHosts("auth-01"), ",")
	if got != "auth-01,localhost,127.0.0.1,::1" {
		t.Errorf("LocalHosts(auth-01) = %s", got)
	}
	for _, h := range []string{"", "bad_name", "localhost"} {
		if got := strings.Join(LocalHosts(h), ","); got != "localhost,127.0.0.1,::1" {
			t.Errorf("LocalHosts(%q) = %s", h, got)
		}
	}
	if _, err := checkHosts(DefaultHosts()); err != nil {
		t.Errorf("DefaultHosts are not valid: %v", err)
	}
}

func TestIssueClient(t *testing.T) {
	dir, site := initSite(t, t0)
	pool, _ := LoadCertPool(site.CACert)
	for _, role := range []Role{RoleInstance, RoleRenew, RoleAdmin} {
		t.Run(string(role), func(t *testing.T) {
			c, err := IssueClient(dir, "host-"+string(role), role, 30, t0)
			if err != nil {
				t.Fatal(err)
			}
			if c.Cert != filepath.Join(dir, "clients", "host-"+string(role)+".crt") || !c.NotAfter.Equal(t0.AddDate(0, 0, 30)) {
				t.Errorf("client = %+v", c)
			}
			for path, mode := range map[string]os.FileMode{c.Cert: 0o644, c.Key: 0o600} {
				if st, err := os.Stat(path); err != nil || st.Mode().Perm() != mode {
					t.Errorf("%s: %v, mode %v, want %v", path, err, st.Mode().Perm(), mode)
				}
			}
			cert := readCert(t, c.Cert)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("client cert does not verify for clientAuth: %v", err)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: t0}); err == nil {
				t.Error("client cert verifies for serverAuth")
			}
			if got, err := RoleOf(cert); got != role || err != nil {
				t.Errorf("RoleOf = %q, %v; want %q", got, err, role)
			}
			if cert.Subject.CommonName != c.Name {
				t.Errorf("CN %q", cert.Subject.CommonName)
			}
			if _, err := LoadClientCertificate(c.Cert, c.Key, t0); err != nil {
				t.Errorf("LoadClientCertificate: %v", err)
			}
		})
	}
	c, err := IssueClient(dir, "default-days", RoleInstance, 0, t0)
	if err != nil || !c.NotAfter.Equal(t0.AddDate(0, 0, DefaultClientDays)) {
		t.Errorf("days 0: %+v, %v", c, err)
	}
	// A client never outlives the CA.
	c, err = IssueClient(dir, "late", RoleInstance, MaxClientDays, t0.AddDate(9, 0, 0))
	if err != nil || !c.NotAfter.Equal(t0.Add(CAValidity)) {
		t.Errorf("late client: NotAfter %v, %v; want the CA's", c.NotAfter, err)
	}
}

func TestIssueClientRefuses(t *testing.T) {
	dir, _ := initSite(t, t0)
	if _, err := IssueClient(dir, "app1", RoleInstance, 0, t0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dir  string
		cli  string
		role Role
		days int
		want codes.Code
		say  string
	}{
		{"existing-name", dir, "app1", RoleInstance, 0, codes.FileExists, "app1.crt exists"},
		{"empty-name", dir, "", RoleInstance, 0, codes.InvalidArgument, "client name"},
		{"leading-dot", dir, ".hidden", RoleInstance, 0, codes.InvalidArgument, "client name"},
		{"slash", dir, "../escape", RoleInstance, 0, codes.InvalidArgument, "client name"},
		{"space", dir, "app 1", RoleInstance, 0, codes.InvalidArgument, "client name"},
		{"too-long", dir, strings.Repeat("a", 65), RoleInstance, 0, codes.InvalidArgument, "client name"},
		{"unknown-role", dir, "app2", Role("root"), 0, codes.InvalidArgument, `"root"`},
		{"empty-role", dir, "app2", "", 0, codes.InvalidArgument, "role"},
		{"negative-days", dir, "app2", RoleInstance, -1, codes.InvalidArgument, "days -1"},
		{"too-many-days", dir, "app2", RoleInstance, MaxClientDays + 1, codes.InvalidArgument, "days 3651"},
		{"no-ca", t.TempDir(), "app2", RoleInstance, 0, codes.CAFile, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := IssueClient(tt.dir, tt.cli, tt.role, tt.days, t0)
			wantCode(t, err, tt.want, tt.say)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "clients", "app2.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused issue left a key behind: %v", err)
	}
	if _, err := IssueClient(dir, strings.Repeat("a", 64), RoleAdmin, MaxClientDays, t0); err != nil {
		t.Errorf("64-character name, %d days: %v", MaxClientDays, err)
	}
}

// signWith issues a client-auth certificate with the given URIs from the CA
// in dir, bypassing IssueClient's checks.
func signWith(t *testing.T, dir string, uris ...string) *x509.Certificate {
	t.Helper()
	ca, caKey, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "odd"},
		NotBefore: t0, NotAfter: t0.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestRoleOf(t *testing.T) {
	dir, _ := initSite(t, t0)
	tests := []struct {
		name string
		uris []string
		want Role
		say  string
	}{
		{"one-role", []string{"urn:licensor:role:renew"}, RoleRenew, ""},
		{"role-among-others", []string{"spiffe://site/app", "urn:licensor:role:admin"}, RoleAdmin, ""},
		{"no-role", nil, "", "no role"},
		{"only-other-uris", []string{"spiffe://site/app"}, "", "no role"},
		{"two-roles", []string{"urn:licensor:role:instance", "urn:licensor:role:admin"}, "", "2 roles"},
		{"same-role-twice", []string{"urn:licensor:role:instance", "urn:licensor:role:instance"}, "", "2 roles"},
		{"unknown-role", []string{"urn:licensor:role:root"}, "", `unknown role "root"`},
		{"empty-role", []string{"urn:licensor:role:"}, "", "unknown role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RoleOf(signWith(t, dir, tt.uris...))
			if tt.say == "" {
				if err != nil || got != tt.want {
					t.Fatalf("RoleOf = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			wantCode(t, err, codes.ClientCert, tt.say)
		})
	}
}

func TestParseRole(t *testing.T) {
	for _, s := range []string{"instance", "renew", "admin"} {
		if r, err := ParseRole(s); err != nil || string(r) != s {
			t.Errorf("ParseRole(%q) = %q, %v", s, r, err)
		}
		if got := Role(s).URI().String(); got != "urn:licensor:role:"+s {
			t.Errorf("URI = %s", got)
		}
	}
	for _, s := range []string{"", "Admin", "root", "instance "} {
		_, err := ParseRole(s)
		wantCode(t, err, codes.InvalidArgument, "unknown role")
	}
}

func TestLoadClientCertificate(t *testing.T) {
	dir, site := initSite(t, t0)
	c, err := IssueClient(dir, "app1", RoleInstance, 30, t0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := IssueClient(dir, "app2", RoleInstance, 30, t0)
	if err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir()
	garbage := filepath.Join(scratch, "garbage.pem")
	os.WriteFile(garbage, []byte("hello, not a certificate\n"), 0o644)
	badDER := filepath.Join(scratch, "bad-der.pem")
	os.WriteFile(badDER, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 1, 2, 3}}), 0o644)
	tests := []struct {
		name      string
		cert, key string
		now       time.Time
		say       string // empty for a pair that loads
	}{
		{"ok", c.Cert, c.Key, t0, ""},
		{"within-skew", c.Cert, c.Key, t0.Add(-30 * time.Minute), ""},
		{"missing-cert", filepath.Join(scratch, "none.crt"), c.Key, t0, "does not exist"},
		{"missing-key", c.Cert, filepath.Join(scratch, "none.key"), t0, "does not exist"},
		{"mismatched-key", c.Cert, other.Key, t0, "is not the key of"},
		{"expired", c.Cert, c.Key, t0.AddDate(0, 0, 31), "expired on"},
		{"not-yet-valid", c.Cert, c.Key, t0.Add(-2 * time.Hour), "not valid until"},
		{"not-a-certificate", garbage, c.Key, t0, "no PEM certificate"},
		{"certificate-does-not-decode", badDER, c.Key, t0, "does not decode"},
		{"key-is-a-certificate", c.Cert, c.Cert, t0, `PEM block is "CERTIFICATE"`},
		{"key-is-garbage", c.Cert, garbage, t0, "not a PEM key file"},
		{"server-cert-as-client", site.ServerCert, site.ServerKey, t0, "lacks clientAuth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pair, err := LoadClientCertificate(tt.cert, tt.key, tt.now)
			if tt.say == "" {
				if err != nil || pair.Leaf == nil || len(pair.Certificate) != 1 {
					t.Fatalf("pair %+v, err %v", pair, err)
				}
				return
			}
			wantCode(t, err, codes.ClientCert, tt.say)
			if fix := codes.As(err).FixText(); !strings.Contains(fix, "licensor pki client") {
				t.Errorf("fix %q does not name 'licensor pki client'", fix)
			}
		})
	}
}

func TestLoadServerCertificate(t *testing.T) {
	dir, site := initSite(t, t0)
	c, _ := IssueClient(dir, "app1", RoleInstance, 30, t0)
	tests := []struct {
		name      string
		cert, key string
		now       time.Time
		say       string
	}{
		{"missing-key", site.ServerCert, filepath.Join(dir, "none.key"), t0, "does not exist"},
		{"mismatched-key", site.ServerCert, site.CAKey, t0, "is not the key of"},
		{"expired", site.ServerCert, site.ServerKey, t0.Add(ServerValidity + time.Second), "expired on"},
		{"client-cert-as-server", c.Cert, c.Key, t0, "lacks serverAuth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadServerCertificate(tt.cert, tt.key, tt.now)
			wantCode(t, err, codes.ServerCert, tt.say)
			if fix := codes.As(err).FixText(); !strings.Contains(fix, "licensor pki server") {
				t.Errorf("fix %q does not name 'licensor pki server'", fix)
			}
		})
	}
	_, err := ServerTLSConfig(site.CACert, c.Cert, c.Key, t0)
	wantCode(t, err, codes.ServerCert, "lacks serverAuth")
}

func TestLoadCertPool(t *testing.T) {
	_, site := initSite(t, t0)
	scratch := t.TempDir()
	empty := filepath.Join(scratch, "empty.pem")
	os.WriteFile(empty, nil, 0o644)
	text := filepath.Join(scratch, "text.pem")
	os.WriteFile(text, []byte("subject=CN = nothing here\n"), 0o644)
	unreadable := filepath.Join(scratch, "dir.pem")
	os.Mkdir(unreadable, 0o755)
	tests := []struct {
		name string
		file string
		say  string
	}{
		{"missing-file", filepath.Join(scratch, "none.crt"), "does not exist"},
		{"empty-file", empty, "no PEM certificate"},
		{"no-certificates", text, "no PEM certificate"},
		{"key-not-certificate", site.CAKey, `only ["PRIVATE KEY"] blocks`},
		{"directory", unreadable, "cannot read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadCertPool(tt.file)
			wantCode(t, err, codes.CAFile, tt.say)
		})
	}
	if _, err := LoadCertPool(site.CACert); err != nil {
		t.Errorf("LoadCertPool(ca.crt): %v", err)
	}
	_, err := ClientTLSConfig(filepath.Join(scratch, "none.crt"), site.ServerCert, site.ServerKey, t0)
	wantCode(t, err, codes.CAFile, "does not exist")
}

func TestLoadCA(t *testing.T) {
	dir, site := initSite(t, t0)
	_, otherSite := initSite(t, t0)
	tests := []struct {
		name    string
		prepare func(dir string)
		want    codes.Code
		say     string
	}{
		{"missing-key", func(d string) { os.Remove(filepath.Join(d, CAKeyFile)) }, codes.FileMissing, "does not exist"},
		{"garbage-key", func(d string) { os.WriteFile(filepath.Join(d, CAKeyFile), []byte("x"), 0o600) }, codes.KeyMalformed, "not a PEM key"},
		{"other-ca-key", func(d string) {
			data, _ := os.ReadFile(otherSite.CAKey)
			os.WriteFile(filepath.Join(d, CAKeyFile), data, 0o600)
		}, codes.KeyMalformed, "is not the key of"},
		{"server-cert-as-ca", func(d string) {
			data, _ := os.ReadFile(site.ServerCert)
			os.WriteFile(filepath.Join(d, CACertFile), data, 0o644)
		}, codes.CAFile, "not a CA certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			for _, f := range []string{CACertFile, CAKeyFile} {
				data, _ := os.ReadFile(filepath.Join(dir, f))
				os.WriteFile(filepath.Join(d, f), data, 0o600)
			}
			tt.prepare(d)
			_, _, err := LoadCA(d)
			wantCode(t, err, tt.want, tt.say)
		})
	}
}

func TestDescribe(t *testing.T) {
	dir, site := initSite(t, t0)
	c, _ := IssueClient(dir, "app1", RoleRenew, 30, t0)
	ca := readCert(t, site.CACert)
	tests := []struct {
		name  string
		path  string
		now   time.Time
		check func(t *testing.T, in CertInfo)
	}{
		{"ca", site.CACert, t0, func(t *testing.T, in CertInfo) {
			if !in.IsCA || in.Subject != ca.Subject.CommonName || in.Issuer != in.Subject || in.Role != "" || len(in.EKU) != 0 {
				t.Errorf("%+v", in)
			}
			if in.DaysLeft != 3650 {
				t.Errorf("days left %d", in.DaysLeft)
			}
		}},
		{"server", site.ServerCert, t0, func(t *testing.T, in CertInfo) {
			if strings.Join(in.DNSNames, ",") != "auth-01.example.com,auth-01,*.site.example.com" ||
				strings.Join(in.IPs, ",") != "127.0.0.1,::1,10.1.2.3" || strings.Join(in.EKU, ",") != "serverAuth" || in.IsCA {
				t.Errorf("%+v", in)
			}
		}},
		{"client", c.Cert, t0.Add(12 * time.Hour), func(t *testing.T, in CertInfo) {
			if in.Role != RoleRenew || in.Subject != "app1" || in.Issuer != ca.Subject.CommonName ||
				strings.Join(in.URIs, ",") != "urn:licensor:role:renew" || strings.Join(in.EKU, ",") != "clientAuth" || in.DaysLeft != 29 {
				t.Errorf("%+v", in)
			}
		}},
		{"client-expired", c.Cert, t0.AddDate(0, 0, 30).Add(time.Hour), func(t *testing.T, in CertInfo) {
			if in.DaysLeft != -1 {
				t.Errorf("days left %d, want -1", in.DaysLeft)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := readCert(t, tt.path)
			in := Describe(cert, tt.now)
			if in.Serial == "" || !in.NotAfter.Equal(cert.NotAfter) {
				t.Errorf("serial %q, NotAfter %v", in.Serial, in.NotAfter)
			}
			tt.check(t, in)
		})
	}
}

// TestWriteUnwritable: a site directory or file that cannot be written is
// file_unwritable, naming the file and the cause. The faults are real and
// stop root too: a path through a regular file, a directory in a file's
// place.
func TestWriteUnwritable(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := InitSite(filepath.Join(plain, "site"), testHosts, t0)
	wantCode(t, err, codes.FileUnwritable, "cannot create the site CA directory "+filepath.Join(plain, "site")+": "+plain+" is not a directory")

	dir, site := initSite(t, t0)
	if err := os.Remove(site.ServerKey); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(site.ServerKey, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err = IssueServer(dir, testHosts, t0)
	wantCode(t, err, codes.FileUnwritable, "cannot write the private key "+site.ServerKey+": it is a directory")
}
