package license

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
)

// hostCode is a machine code made from a name.
func hostCode(name string) string {
	return fingerprint.CodeOf(map[string]string{fingerprint.Hostname: fingerprint.HashComponent(fingerprint.Hostname, name)})
}

func manyHosts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = hostCode(fmt.Sprintf("render-%04d", i))
	}
	return out
}

func TestKeyFilePolicyValidate(t *testing.T) {
	a, b := hostCode("render-a"), hostCode("render-b")
	tests := []struct {
		name   string
		policy *KeyFilePolicy
		phrase string // empty: valid
	}{
		{"none", nil, ""},
		{"hosts", &KeyFilePolicy{Hosts: []string{a, b}}, ""},
		{"validity", &KeyFilePolicy{ValidityHours: 72}, ""},
		{"hosts-and-validity", &KeyFilePolicy{Hosts: []string{a}, ValidityHours: 24}, ""},
		{"shortest-validity", &KeyFilePolicy{ValidityHours: 1}, ""},
		{"longest-validity", &KeyFilePolicy{ValidityHours: 90 * 24}, ""},
		{"most-hosts", &KeyFilePolicy{Hosts: manyHosts(MaxKeyFileHosts)}, ""},

		{"empty", &KeyFilePolicy{}, "keyFile names no hosts and no validityHours"},
		{"empty-hosts", &KeyFilePolicy{Hosts: []string{}}, "keyFile names no hosts"},
		{"too-many-hosts", &KeyFilePolicy{Hosts: manyHosts(MaxKeyFileHosts + 1)}, "keyFile.hosts names 501 hosts, at most 500"},
		{"bad-code", &KeyFilePolicy{Hosts: []string{a, "render-b"}}, `keyFile.hosts[1] "render-b" is not a 32-hex machine code`},
		{"upper-case-code", &KeyFilePolicy{Hosts: []string{strings.ToUpper(a)}}, "keyFile.hosts[0]"},
		{"empty-code", &KeyFilePolicy{Hosts: []string{""}}, "keyFile.hosts[0]"},
		{"duplicate", &KeyFilePolicy{Hosts: []string{a, b, a}}, "keyFile.hosts[2] " + a + " is listed twice"},
		{"negative-validity", &KeyFilePolicy{ValidityHours: -1}, "keyFile.validityHours -1 is out of range 1..2160"},
		{"validity-too-long", &KeyFilePolicy{Hosts: []string{a}, ValidityHours: 90*24 + 1}, "keyFile.validityHours 2161"},
	}
	f := newFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := f.license()
			l.KeyFile = tt.policy
			file, err := Sign(l, f.vendorPriv)
			if tt.phrase == "" {
				if err != nil {
					t.Fatalf("Sign = %v", err)
				}
				s, err := Parse(file)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.Verify(f.vendorPub)
				if err != nil {
					t.Fatalf("Verify = %v", err)
				}
				if !reflect.DeepEqual(got.KeyFile, tt.policy) {
					t.Fatalf("keyFile = %+v, want %+v", got.KeyFile, tt.policy)
				}
				return
			}
			// The vendor cannot sign it...
			if codes.Of(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tt.phrase) {
				t.Fatalf("Sign = %v, want invalid_argument saying %q", err, tt.phrase)
			}
			// ...and a site refuses it when it is signed anyway.
			raw, err := signLicense(f.vendorPriv, l)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Verify(f.vendorPub)
			if codes.Of(err) != codes.LicenseMalformed || !strings.Contains(err.Error(), tt.phrase) {
				t.Fatalf("Verify = %v, want license_malformed saying %q", err, tt.phrase)
			}
		})
	}
}

// A license without a key-file policy is signed and read as before: the
// field is absent from the signed payload, and every host may hold key
// files for the server's validity.
func TestKeyFilePolicyAbsent(t *testing.T) {
	f := newFixture(t)
	s, err := Parse(f.file)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(s.Compact, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(payload, []byte("keyFile")) {
		t.Fatalf("a license without a policy carries the field: %s", payload)
	}
	l, err := s.Verify(f.vendorPub)
	if err != nil {
		t.Fatal(err)
	}
	if l.KeyFile != nil || !l.KeyFile.AllowsHost(hostCode("anyone")) || l.KeyFile.Restricted() || l.KeyFile.Validity() != 0 {
		t.Fatalf("keyFile = %+v: a license without a policy must allow any host and leave the validity to the server", l.KeyFile)
	}
	if v := l.View(s.KeyID); v.KeyFile != nil {
		t.Fatalf("view shows a policy: %+v", v.KeyFile)
	}
}

func TestKeyFilePolicyHosts(t *testing.T) {
	a, b := hostCode("render-a"), hostCode("render-b")
	tests := []struct {
		name       string
		policy     *KeyFilePolicy
		host       string
		allows     bool
		restricted bool
		validity   time.Duration
	}{
		{"nil-policy", nil, a, true, false, 0},
		{"validity-only", &KeyFilePolicy{ValidityHours: 72}, b, true, false, 72 * time.Hour},
		{"listed", &KeyFilePolicy{Hosts: []string{a}}, a, true, true, 0},
		{"not-listed", &KeyFilePolicy{Hosts: []string{a}, ValidityHours: 24}, b, false, true, 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.AllowsHost(tt.host); got != tt.allows {
				t.Errorf("AllowsHost = %v, want %v", got, tt.allows)
			}
			if got := tt.policy.Restricted(); got != tt.restricted {
				t.Errorf("Restricted = %v, want %v", got, tt.restricted)
			}
			if got := tt.policy.Validity(); got != tt.validity {
				t.Errorf("Validity = %v, want %v", got, tt.validity)
			}
		})
	}
}

// The policy is signed: a site cannot add itself to the hosts.
func TestKeyFilePolicyTampered(t *testing.T) {
	f := newFixture(t)
	l := f.license()
	listed := hostCode("render-a")
	l.KeyFile = &KeyFilePolicy{Hosts: []string{listed}}
	file, err := Sign(l, f.vendorPriv)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := Parse(file)
	parts := strings.Split(s.Compact, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	added := bytes.Replace(payload, []byte(listed), []byte(hostCode("render-b")), 1)
	if bytes.Equal(added, payload) {
		t.Fatal("fixture: host not found in payload")
	}
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString(added) + "." + parts[2]
	s, err = Parse([]byte(forged))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(f.vendorPub); codes.Of(err) != codes.LicenseTampered {
		t.Fatalf("Verify(forged hosts) = %v, want license_tampered", err)
	}

	// An unknown key in the policy is not silently dropped.
	unknown, err := signRaw(f.vendorPriv, bytes.Replace(payload, []byte(`"keyFile":{`), []byte(`"keyFile":{"host":"x",`), 1))
	if err != nil {
		t.Fatal(err)
	}
	s, err = Parse([]byte(unknown))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(f.vendorPub); codes.Of(err) != codes.LicenseMalformed || !strings.Contains(err.Error(), "host") {
		t.Fatalf("Verify(unknown policy key) = %v, want license_malformed", err)
	}
}
