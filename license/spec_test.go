package license

import (
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
)

func TestParseProductSpec(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		spec string
		want Product
	}{
		{"ocr:instances=10,qps=50,not-before=2026-01-01,not-after=2026-12-31,functions=table|handwriting",
			Product{Subject: "ocr", InstanceSize: 10, QPS: 50, Functions: []string{"table", "handwriting"},
				NotBefore: day(2026, 1, 1), NotAfter: day(2026, 12, 31).Add(24*time.Hour - time.Second)}},
		{"codec:days=30", Product{Subject: "codec", InstanceSize: 1, Functions: []string{}, NotBefore: t0, NotAfter: t0.AddDate(0, 0, 30)}},
		{"asr: instances = 3 , not-after=2027-06-01T12:00:00+02:00", Product{Subject: "asr", InstanceSize: 3, Functions: []string{},
			NotBefore: t0, NotAfter: time.Date(2027, 6, 1, 10, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.want.Subject, func(t *testing.T) {
			got, err := ParseProductSpec(tt.spec, t0)
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != tt.want.Subject || got.InstanceSize != tt.want.InstanceSize || got.QPS != tt.want.QPS ||
				!got.NotBefore.Equal(tt.want.NotBefore) || !got.NotAfter.Equal(tt.want.NotAfter) ||
				strings.Join(got.Functions, "|") != strings.Join(tt.want.Functions, "|") {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseProductSpecRejects(t *testing.T) {
	tests := []struct{ name, spec, say string }{
		{"empty", "", "name it"},
		{"no-subject", ":days=3", "name it"},
		{"bad-subject", "o cr:days=3", "name it"},
		{"no-end", "ocr:instances=3", "not-after"},
		{"unknown-key", "ocr:days=3,seats=4", `unknown key "seats"`},
		{"not-kv", "ocr:days", "not key=value"},
		{"twice", "ocr:days=3,days=4", "twice"},
		{"both-ends", "ocr:days=3,not-after=2027-01-01", "not both"},
		{"bad-number", "ocr:days=3,instances=ten", "instances"},
		{"zero-instances", "ocr:days=3,instances=0", "instances 0"},
		{"negative-qps", "ocr:days=3,qps=-1", "qps -1"},
		{"bad-date", "ocr:not-after=31/12/2027", "YYYY-MM-DD"},
		{"reversed", "ocr:not-before=2027-01-02,not-after=2027-01-01", "is not after"},
		{"bad-function", "ocr:days=3,functions=a||b", "function"},
		{"days-out-of-range", "ocr:days=0", "days=0"},
		{"huge", "ocr:functions=" + strings.Repeat("a|", 3000), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseProductSpec(tt.spec, t0)
			if codes.Of(err) != codes.InvalidArgument {
				t.Fatalf("err = %v, want invalid_argument", err)
			}
			if !strings.Contains(err.Error(), tt.say) {
				t.Fatalf("%q does not say %q", err, tt.say)
			}
		})
	}
}

func FuzzParseProductSpec(f *testing.F) {
	f.Add("ocr:instances=10,qps=50,not-before=2026-01-01,not-after=2026-12-31,functions=a|b")
	f.Add("x:days=1")
	f.Fuzz(func(t *testing.T, spec string) {
		p, err := ParseProductSpec(spec, t0)
		if err != nil {
			if codes.Of(err) != codes.InvalidArgument {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted an invalid product %+v: %v", p, err)
		}
	})
}
