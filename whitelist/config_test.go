package whitelist

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
)

func TestParseConfig(t *testing.T) {
	dir := filepath.Join("/etc", "licensor-vendor")
	for _, tt := range []struct {
		name, in string
		want     func(*Config) // edits Default() into the expected config
		err      string        // a substring of the error; "" for success
	}{
		{name: "empty-object", in: `{}`, want: func(c *Config) {
			c.TLS = TLSConfig{Cert: dir + "/pki/server.crt", Key: dir + "/pki/server.key"}
			c.VendorKey, c.DataDir = dir+"/vendor.key", dir+"/data"
		}},
		{name: "every-key", in: `{"listen":"127.0.0.1:9444","tls":{"cert":"/x/c.crt","key":"k.key"},"vendor_key":"/keys/v.key","data_dir":"/var/lib/wl","grace":"720h"}`,
			want: func(c *Config) {
				*c = Config{Listen: "127.0.0.1:9444", TLS: TLSConfig{Cert: "/x/c.crt", Key: dir + "/k.key"}, VendorKey: "/keys/v.key", DataDir: "/var/lib/wl", Grace: Duration(720 * time.Hour)}
			}},
		{name: "zero-grace", in: `{"grace":"0s","data_dir":"/d","vendor_key":"/v","tls":{"cert":"/c","key":"/k"}}`, want: func(c *Config) {
			*c = Config{Listen: ":9443", TLS: TLSConfig{Cert: "/c", Key: "/k"}, VendorKey: "/v", DataDir: "/d"}
		}},
		{name: "unknown-key", in: `{"grase":"720h"}`, err: `unknown key "grase"`},
		{name: "unknown-tls-key", in: `{"tls":{"ca":"ca.crt"}}`, err: `unknown key "ca"`},
		{name: "bad-grace", in: `{"grace":"90 days"}`, err: `field "grace": "90 days" is not a duration`},
		{name: "grace-not-string", in: `{"grace":90}`, err: `field "grace"`},
		{name: "negative-grace", in: `{"grace":"-1h"}`, err: "grace: -1h0m0s is out of range"},
		{name: "grace-too-long", in: `{"grace":"9000h"}`, err: "grace: 9000h0m0s is out of range"},
		{name: "bad-listen", in: `{"listen":"9443"}`, err: `listen: "9443" is not host:port`},
		{name: "empty-vendor-key", in: `{"vendor_key":""}`, err: "vendor_key: is empty"},
		{name: "listen-not-string", in: `{"listen":9443}`, err: `field "listen": want a string`},
		{name: "not-json", in: `listen: 9443`, err: "not valid JSON at line 1"},
		{name: "empty", in: ``, err: "the configuration is empty"},
		{name: "trailing-data", in: `{} {}`, err: "data after"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in), dir)
			if tt.err != "" {
				if codes.Of(err) != codes.ConfigInvalid || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse: %v; want code %v and %q", err, codes.ConfigInvalid, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			tt.want(&want)
			if got != want {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{`{}`, `{"listen":":1","grace":"1h"}`, `{"tls":{"cert":"a","key":"b"}}`, `{"grace":"x"}`, `[`, `{"tls":{"x":1}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(strings.NewReader(in), "/dir")
		if err != nil {
			if codes.Of(err) != codes.ConfigInvalid {
				t.Fatalf("Parse(%q): %v, not %v", in, err, codes.ConfigInvalid)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse(%q) accepted a config Validate refuses: %v", in, err)
		}
	})
}
