package license

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/keys"
)

func TestRequestRoundTrip(t *testing.T) {
	pub, _, _ := keys.Generate()
	site := host(siteRaw)
	data, err := json.Marshal(NewRequest(site, pub, "auth-01", t0))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRequest(data)
	if err != nil {
		t.Fatal(err)
	}
	if r.MachineCode != site.Code || r.Hostname != "auth-01" || len(r.Components) != 5 {
		t.Fatalf("request = %+v", r)
	}
	got, err := r.ServerKey.PublicKey()
	if err != nil || !got.Equal(pub) {
		t.Fatalf("server key = %v, %v", got, err)
	}
}

func TestParseRequestRejects(t *testing.T) {
	pub, _, _ := keys.Generate()
	good, _ := json.Marshal(NewRequest(host(siteRaw), pub, "auth-01", t0))
	edit := func(from, to string) []byte { return bytes.Replace(good, []byte(from), []byte(to), 1) }
	var r Request
	json.Unmarshal(good, &r)
	tests := []struct {
		name string
		data []byte
		say  string
	}{
		{"empty", nil, "not JSON"},
		{"not-json", []byte("machine code: 3f..."), "not JSON"},
		{"array", []byte("[]"), "not JSON"},
		{"truncated", good[:len(good)/2], "not JSON"},
		{"unknown-field", edit(`"version":1`, `"version":1,"seats":9`), "seats"},
		{"trailing", append(append([]byte{}, good...), []byte(`{}`)...), "after the JSON"},
		{"version", edit(`"version":1`, `"version":2`), "version 2"},
		{"bad-code", edit(r.MachineCode, "not-hex"), "machine_code"},
		{"edited-code", edit(r.MachineCode, strings.Repeat("0", 32)), "does not follow"},
		{"bad-component", edit(r.Components["mac"], "zz"), "components"},
		{"bad-key", edit(r.ServerKey.X, "AAAA"), "server_key"},
		{"control-hostname", edit(`"hostname":"auth-01"`, `"hostname":"a\u0007b"`), "hostname"},
		{"no-created", edit(`"created":"2026-11-23T12:00:00Z"`, `"created":"0001-01-01T00:00:00Z"`), "created"},
		{"huge", bytes.Repeat([]byte(" "), MaxRequestSize+1), "more than a request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest(tt.data)
			if codes.Of(err) != codes.RequestMalformed {
				t.Fatalf("err = %v, want request_malformed", err)
			}
			if !strings.Contains(err.Error(), tt.say) {
				t.Fatalf("%q does not say %q", err, tt.say)
			}
		})
	}
}

func FuzzParseRequest(f *testing.F) {
	pub, _, _ := keys.Generate()
	good, _ := json.Marshal(NewRequest(host(siteRaw), pub, "auth-01", t0))
	f.Add(good)
	r := NewRequest(host(siteRaw), pub, "auth-01", t0)
	r.Token = &RequestToken{Thumbprint: tokenThumb, Alg: TokenEdDSA, Serial: "9f2c"}
	withToken, _ := json.Marshal(r)
	f.Add(withToken)
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRequest(data)
		if err != nil {
			if codes.Of(err) != codes.RequestMalformed {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if _, err := r.ServerKey.PublicKey(); err != nil {
			t.Fatalf("accepted a request with a bad key: %v", err)
		}
	})
}
