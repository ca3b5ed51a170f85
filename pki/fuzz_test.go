package pki

import (
	"encoding/pem"
	"os"
	"testing"
)

func FuzzParseRole(f *testing.F) {
	for _, s := range []string{"instance", "renew", "admin", "", "root", "ADMIN", "instance\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRole(s)
		if err != nil {
			if r != "" {
				t.Fatalf("ParseRole(%q) = %q with error %v", s, r, err)
			}
			return
		}
		if string(r) != s {
			t.Fatalf("ParseRole(%q) = %q", s, r)
		}
		if got, err := ParseRole(string(r)); err != nil || got != r {
			t.Fatalf("round trip %q: %q, %v", r, got, err)
		}
	})
}

// FuzzParseCertificates feeds the certificate reader (CA bundles, client
// and server certificates, 'pki show') arbitrary files.
func FuzzParseCertificates(f *testing.F) {
	dir := f.TempDir()
	site, err := InitSite(dir, []string{"localhost"}, t0)
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []string{site.CACert, site.ServerCert, site.CAKey} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAo=\n-----END CERTIFICATE-----\n"))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x00}}))
	f.Add([]byte("not pem"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificates(data)
		if err != nil {
			if certs != nil {
				t.Fatal("certificates returned with an error")
			}
			return
		}
		if len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		for _, c := range certs {
			Describe(c, t0)
			RoleOf(c)
		}
	})
}

// FuzzParsePrivateKey feeds the key reader arbitrary files.
func FuzzParsePrivateKey(f *testing.F) {
	dir := f.TempDir()
	site, err := InitSite(dir, []string{"localhost"}, t0)
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []string{site.CAKey, site.ServerKey, site.CACert} {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nMAo=\n-----END EC PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePrivateKey(data)
		if err == nil && k.Public() == nil {
			t.Fatal("a key without a public key")
		}
	})
}
