package server

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
)

func TestParseConfig(t *testing.T) {
	c, err := Parse(strings.NewReader(`{"listen": "127.0.0.1:9443", "lease_ttl": "2m", "tls": {"ca": "/etc/licensor/ca.crt"}}`), "/srv/site")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9443" || time.Duration(c.LeaseTTL) != 2*time.Minute {
		t.Fatalf("config = %+v", c)
	}
	if c.TLS.CA != "/etc/licensor/ca.crt" || c.TLS.Cert != filepath.Join("/srv/site", "pki/server.crt") || c.License != "/srv/site/site.lic" {
		t.Fatalf("paths = %+v", c)
	}
	if time.Duration(c.ClockTolerance) != 5*time.Minute || time.Duration(c.UpstreamTimeout) != 10*time.Second {
		t.Fatalf("defaults not kept: %+v", c)
	}
	if c, err := Parse(strings.NewReader(`{"log_file": "log/licensor.log"}`), "/srv/site"); err != nil || c.LogFile != "/srv/site/log/licensor.log" {
		t.Fatalf("log_file is resolved against the file's directory: %q, %v", c.LogFile, err)
	}
	if c, err := Parse(strings.NewReader(`{"upstream_timeout": "250ms"}`), ""); err != nil || time.Duration(c.UpstreamTimeout) != 250*time.Millisecond {
		t.Fatalf("upstream_timeout 250ms: %v, %v", time.Duration(c.UpstreamTimeout), err)
	}
	// "//" starts a comment outside strings, not inside.
	c, err = Parse(strings.NewReader("// site A\n{\n  \"upstream\": [\"https://vendor:9443\"] // the vendor\n  // , \"listen\": \"bad\"\n}"), "")
	if err != nil || len(c.Upstream) != 1 || c.Upstream[0] != "https://vendor:9443" || c.Listen != ":8443" {
		t.Fatalf("commented configuration: %+v, %v", c, err)
	}
	// The defaults round-trip through JSON.
	b, _ := json.Marshal(Default())
	back, err := Parse(strings.NewReader(string(b)), "")
	if err != nil || !reflect.DeepEqual(back, Default()) {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
}

func TestParseConfigRejects(t *testing.T) {
	tests := []struct{ name, in, say string }{
		{"empty", ``, "empty"},
		{"not-json", `listen = ":8443"`, "not valid JSON at line 1"},
		{"syntax-line", "{\n\"listen\": \":8443\",\n}", "line 3"},
		{"syntax-line-after-comments", "// one\n// two\n{\n\"listen\": \":8443\",\n}", "line 5"},
		{"block-comment", "/* no */ {}", "not valid JSON at line 1"},
		{"unknown-key", `{"listne": ":8443"}`, `unknown key "listne"`},
		{"unknown-nested", `{"tls": {"certificate": "x"}}`, `unknown key "certificate"`},
		{"wrong-type", `{"max_body_bytes": "big"}`, `field "max_body_bytes"`},
		{"bad-duration", `{"lease_ttl": "forever"}`, `field "lease_ttl": "forever" is not a duration`},
		{"duration-number", `{"clock_tolerance": 90}`, `field "clock_tolerance": want a duration`},
		{"nested-type", `{"tls": {"ca": 1}}`, `"tls.ca"`},
		{"ttl-short", `{"lease_ttl": "1s"}`, "lease_ttl: 1s is out of range"},
		{"reap-long", `{"reap_interval": "10m"}`, "reap_interval"},
		{"bad-listen", `{"listen": "8443"}`, "listen"},
		{"empty-path", `{"license": ""}`, "license: is empty"},
		{"bad-format", `{"log_format": "xml"}`, "log_format"},
		{"bad-level", `{"log_level": "loud"}`, "log_level"},
		{"body-small", `{"max_body_bytes": 10}`, "max_body_bytes"},
		{"upstream-timeout-short", `{"upstream_timeout": "10ms"}`, "upstream_timeout: 10ms is out of range 100ms..5m"},
		{"upstream-timeout-long", `{"upstream_timeout": "1h"}`, "upstream_timeout: 1h0m0s is out of range"},
		{"upstream-timeout-typo", `{"upstream_timout": "1s"}`, `unknown key "upstream_timout"`},
		{"trailing", `{} {}`, "after the configuration"},
		{"huge", `{"license": "` + strings.Repeat("x", MaxConfigSize) + `"}`, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in), "")
			if codes.Of(err) != codes.ConfigInvalid {
				t.Fatalf("err = %v, want config_invalid", err)
			}
			if !strings.Contains(err.Error(), tt.say) {
				t.Fatalf("%q does not say %q", err, tt.say)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	b, _ := json.Marshal(Default())
	f.Add(string(b))
	f.Add(`{"lease_ttl": "2m"}`)
	f.Add(`{"tls": {"ca": 1}}`)
	f.Add("// comment\n{\"upstream\": [\"https://v:9443\"]} // trailing\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(strings.NewReader(in), "/srv")
		if err != nil {
			if codes.Of(err) != codes.ConfigInvalid {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid configuration: %v", err)
		}
	})
}
