package license

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/licensor/licensor/fingerprint"
)

// stdDecode is the reference: encoding/json, unknown fields refused.
func stdDecode(data []byte) (License, error) {
	var l License
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(&l)
	if err == nil && dec.More() {
		err = errTrailing
	}
	return l, err
}

var errTrailing = jsonError("data after the JSON value")

type jsonError string

func (e jsonError) Error() string { return string(e) }

func TestDecodeJSON(t *testing.T) {
	fx := newFixture(t)
	l := fx.license()
	l.Info, l.Version, l.FingerType, l.ID = "license", Version, FingerTypeMachine, "lic_1"
	l.KeyFile = &KeyFilePolicy{Hosts: []string{fx.site.Code}, ValidityHours: 72}
	good, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeJSON(string(good))
	if err != nil {
		t.Fatalf("decodeJSON(Marshal) = %v", err)
	}
	if !reflect.DeepEqual(&got, l) {
		t.Fatalf("decodeJSON(Marshal(l)) =\n %+v\nwant\n %+v", got, *l)
	}
	cl := newClusterFixture(t).license()
	cl.Info, cl.Version, cl.FingerType, cl.ID = "license", Version, FingerTypeMachine, "lic_2"
	cluster, err := json.Marshal(cl)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeJSON(string(cluster)); err != nil || !reflect.DeepEqual(&got, cl) {
		t.Fatalf("decodeJSON(Marshal(cluster)) = %v\n %+v\nwant\n %+v", err, got, *cl)
	}
	c := string(cluster)
	s := string(good)
	for _, tt := range []struct{ name, doc, want string }{
		{"node unknown field", strings.Replace(c, `"name":"auth-02"`, `"host":"auth-02"`, 1), `unknown field "host"`},
		{"node key twice", strings.Replace(c, `"name":"auth-02",`, `"name":"auth-02","serverKey":{},`, 1), `"serverKey" given twice`},
		{"nodes not an array", strings.Replace(c, `"nodes":[`, `"nodes":{"x":[`, 1), "want '['"},
		{"node null", strings.Replace(c, `"nodes":[`, `"nodes":[null,`, 1), "want '{'"},
		{"unknown field", strings.Replace(s, `"holder"`, `"owner"`, 1), `unknown field "owner"`},
		{"other case", strings.Replace(s, `"holder"`, `"Holder"`, 1), `unknown field "Holder"`},
		{"twice", strings.Replace(s, `"info":"license"`, `"info":"license","info":"license"`, 1), `"info" given twice`},
		{"trailing", s + " {}", "data after"},
		{"string for int", strings.Replace(s, `"version":1`, `"version":"1"`, 1), "want a number"},
		{"fraction", strings.Replace(s, `"version":1`, `"version":1.0`, 1), "not an integer"},
		{"time escaped", strings.Replace(s, `"issued":"2026-11-23T12:00:00Z"`, `"issued":"2026-11-23T12:00:00\u005a"`, 1), "RFC 3339"},
		{"not a time", strings.Replace(s, `"issued":"2026-11-23T12:00:00Z"`, `"issued":"yesterday"`, 1), "RFC 3339"},
		{"truncated", s[:len(s)/2], "unterminated string"},
		{"cut after a value", s[:strings.Index(s, `,"holder"`)], "unexpected end"},
		{"null object", strings.Replace(s, `"serverKey":{`, `"serverKey":null,"x":{`, 1), "want '{'"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeJSON(tt.doc); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("decodeJSON = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// FuzzDecode holds the hand-written decoder to encoding/json: whatever it
// accepts, encoding/json accepts with the same meaning.
func FuzzDecode(f *testing.F) {
	fx := newFixture(f)
	l := fx.license()
	l.Info, l.Version, l.FingerType, l.ID = "license", Version, FingerTypeMachine, "lic_1"
	plain, _ := json.Marshal(l)
	l.KeyFile = &KeyFilePolicy{Hosts: []string{fx.site.Code}, ValidityHours: 72}
	l.Machines = append(l.Machines, fingerprint.Machine{Code: fx.site.Code})
	policy, _ := json.Marshal(l)
	cl := newClusterFixture(f).license()
	cl.Info, cl.Version, cl.FingerType, cl.ID = "license", Version, FingerTypeMachine, "lic_2"
	cluster, _ := json.Marshal(cl)
	l.Token, l.Bind = &TokenBinding{Thumbprint: tokenThumb, Alg: TokenES256, Serial: "S1"}, BindToken
	token, _ := json.Marshal(l)
	f.Add(plain)
	f.Add(policy)
	f.Add(token)
	f.Add(cluster)
	f.Add([]byte(`{"nodes":[{"code":"","components":null,"serverKey":{"kty":""}}],"machines":[],"nodes":null}`))
	f.Add([]byte(`{"holder":"A\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t","machines":null,"productLicenses":[]}`))
	f.Add([]byte(`{"version":-0,"matchMin":9223372036854775807}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeJSON(string(data))
		if err != nil {
			return
		}
		want, err := stdDecode(data)
		if err != nil {
			t.Fatalf("decodeJSON accepted what encoding/json refuses (%v): %q", err, data)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeJSON and encoding/json differ on %q:\n %+v\n %+v", data, got, want)
		}
	})
}

func TestValidName(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	for _, s := range []string{"", "a", "ocr", "ocr-fast", "OCR_2.1", "-x", ".x", "_x", "a b", "é", "a/b",
		strings.Repeat("a", 64), strings.Repeat("a", 65), "a\x00", "9lives"} {
		if got, want := ValidName(s), re.MatchString(s); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
	}
}
