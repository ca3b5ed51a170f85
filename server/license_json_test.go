package server

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
)

// TestLicenseJSONFormats: GET /security/license in upstream mode keeps the
// seed's field names, gives every time in RFC 3339 UTC (never a local time
// without a zone) and daysLeft as a whole number, rounded as a person
// reads it.
func TestLicenseJSONFormats(t *testing.T) {
	s := newSite(t)
	os.Remove(s.cfg.License)
	v := s.vendorService(t)
	v.set(func(v *vendorService) { v.approved = true })
	s.cfg.Upstream, s.cfg.UpstreamCA = []string{v.srv.URL}, v.caFile
	r := s.start()
	s.clock.Advance(time.Minute) // 29 days 23 hours 59 minutes of the 30-day grant left
	a := call(t, s.client("app1"), "GET", r.url+api.PathLicense, nil)
	if a.status != 200 {
		t.Fatalf("GET %s: %d %s", api.PathLicense, a.status, a.body)
	}
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"holder", "issuer", "issued", "productLicenses", "fingerType", "daysLeft", "lastUpstreamContact"} {
		if _, ok := body[k]; !ok {
			t.Errorf("no %q in %s", k, a.body)
		}
	}
	if n, ok := body["daysLeft"].(json.Number); !ok || n.String() != "30" {
		t.Errorf("daysLeft = %v, want the integer 30", body["daysLeft"])
	}
	times := 0
	dateLike := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(path+"."+k, x)
			}
		case []any:
			for _, x := range v {
				walk(path+"[]", x)
			}
		case json.Number:
			if strings.ContainsAny(v.String(), ".eE") {
				t.Errorf("%s = %s: a count is an integer", path, v)
			}
		case string:
			if !dateLike.MatchString(v) {
				return
			}
			times++
			if tm, err := time.Parse(time.RFC3339, v); err != nil || !strings.HasSuffix(v, "Z") || tm.Nanosecond() != 0 {
				t.Errorf("%s = %q: want RFC 3339 in UTC, to the second", path, v)
			}
		}
	}
	walk("", body)
	if times < 4 { // issued, notBefore, notAfter, lastUpstreamContact
		t.Errorf("found %d times in %s", times, a.body)
	}
}

// TestReleaseAnswers: the release answers made once are what writeJSON
// writes for them.
func TestReleaseAnswers(t *testing.T) {
	for _, released := range []bool{true, false} {
		want, err := json.Marshal(map[string]any{"code": 0, "name": "ok", "released": released})
		if err != nil {
			t.Fatal(err)
		}
		got := releasedAnswer
		if !released {
			got = notHeldAnswer
		}
		if !bytes.Equal(got, append(want, '\n')) {
			t.Errorf("released %v: %s, want %s", released, got, want)
		}
	}
}
