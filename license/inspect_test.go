package license

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
)

// outcomes is a report in short: "file=pass signature=pass … product ocr=fail:503".
func outcomes(r *Report) string {
	var b strings.Builder
	for i, s := range r.Stages {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s.Label() + "=" + string(s.Outcome))
		if s.Code != 0 {
			b.WriteString(":" + strconv.Itoa(int(s.Code)))
		}
	}
	return b.String()
}

func TestInspect(t *testing.T) {
	f := newFixture(t)
	_, otherVendor, _ := keys.Generate()
	onSite := func() (*fingerprint.Fingerprint, error) { return f.site, nil }
	elsewhere := func() (*fingerprint.Fingerprint, error) {
		raw := map[string]string{}
		for k, v := range siteRaw {
			raw[k] = v
		}
		raw[fingerprint.MAC], raw[fingerprint.RootDisk] = "00:1b:21:aa:bb:cc", "another-disk"
		return host(raw), nil
	}
	tampered := func() []byte {
		lines := strings.Split(string(f.file), "\n")
		for i, l := range lines {
			if l == beginArmor {
				b := []byte(lines[i+4])
				b[10] = 'A'
				if lines[i+4][10] == 'A' {
					b[10] = 'B'
				}
				lines[i+4] = string(b)
			}
		}
		return []byte(strings.Join(lines, "\n"))
	}
	other := f.license()
	otherFile, _ := Sign(other, otherVendor)
	const skipped = "signature=skip machine=skip product=skip"
	tests := []struct {
		name  string
		file  []byte // nil: no file
		host  func() (*fingerprint.Fingerprint, error)
		prod  string
		now   time.Time
		want  string
		found string
	}{
		{name: "valid", file: f.file, host: onSite, prod: "ocr", now: t0.Add(time.Hour),
			want: "file=pass signature=pass machine=pass product ocr=pass", found: "valid until 2027-11-23"},
		{name: "machine-not-asked", file: f.file, prod: "ocr", now: t0.Add(time.Hour),
			want: "file=pass signature=pass machine=skip product ocr=pass"},
		{name: "every-product", file: f.file, host: onSite, now: t0.AddDate(0, 1, 3),
			want: "file=pass signature=pass machine=pass product ocr=pass product ocr-fast=warn", found: "in 28 days"},
		{name: "missing", now: t0, want: "file=fail:605 " + skipped, found: "does not exist"},
		{name: "truncated", file: f.file[:len(f.file)-50], now: t0, want: "file=fail:601 " + skipped, found: "truncated"},
		{name: "tampered", file: tampered(), now: t0, want: "file=pass signature=fail:511 machine=skip product=skip", found: "altered"},
		{name: "wrong-vendor-key", file: otherFile, now: t0, want: "file=pass signature=fail:512 machine=skip product=skip", found: "vendor key"},
		{name: "other-machine", file: f.file, host: elsewhere, prod: "ocr", now: t0,
			want: "file=pass signature=pass machine=fail:509 product ocr=pass", found: "changed: mac, root-disk"},
		{name: "no-fingerprint", file: f.file, prod: "ocr", now: t0,
			host: func() (*fingerprint.Fingerprint, error) { return nil, errors.New("no /etc/machine-id") },
			want: "file=pass signature=pass machine=fail:-1 product ocr=pass", found: "machine-id"},
		{name: "expired", file: f.file, host: onSite, prod: "ocr", now: t0.AddDate(1, 0, 1),
			want: "file=pass signature=pass machine=pass product ocr=fail:503", found: "expired at"},
		{name: "not-yet-valid", file: f.file, host: onSite, prod: "ocr-fast", now: t0,
			want: "file=pass signature=pass machine=pass product ocr-fast=fail:510", found: "licensed from"},
		{name: "one-of-every-product-not-yet-valid", file: f.file, host: onSite, now: t0,
			want: "file=pass signature=pass machine=pass product ocr=pass product ocr-fast=fail:510"},
		{name: "product-missing", file: f.file, host: onSite, prod: "tts", now: t0,
			want: "file=pass signature=pass machine=pass product tts=fail:508", found: `"tts"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := t.TempDir() + "/site.lic"
			if tt.file != nil {
				if err := os.WriteFile(path, tt.file, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			in := Inspect(path, f.vendorPub, Checks{Host: tt.host, Product: tt.prod, Now: tt.now})
			if got := outcomes(&in.Report); got != tt.want {
				t.Fatalf("stages\n got %s\nwant %s", got, tt.want)
			}
			st, failed := in.Failed()
			if !failed {
				st, _ = in.Warned()
				if st.Name == "" {
					st, _ = in.Stage("product " + tt.prod)
				}
			}
			if !strings.Contains(st.Found, tt.found) {
				t.Errorf("%s: %q does not say %q", st.Label(), st.Found, tt.found)
			}
			if failed && (st.Fix == "" || codes.Of(in.Err()) != st.Code) {
				t.Errorf("the failure %+v lacks its fix or is not Err", st)
			}
			if (in.License != nil) != strings.Contains(tt.want, "signature=pass") {
				t.Errorf("License = %v with stages %s", in.License, tt.want)
			}
			// The signature stage fails as Verify does.
			if in.Signed != nil {
				_, err := in.Signed.Verify(f.vendorPub)
				if st, _ := in.Stage(StageSignature); codes.Of(err) != st.Code {
					t.Errorf("Verify = %v, signature stage %+v", err, st)
				}
			}
		})
	}
}
