package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/report"
)

// TestReportOfRealPool plays grants, a denial at the limit, a release, a
// revoke and lapses on a real server with real clients, and checks the
// figures the admin API reports, plain, CSV and signed.
func TestReportOfRealPool(t *testing.T) {
	s := newSite(t)
	s.clock.Set(t0.Add(-59 * time.Minute)) // the log starts here
	r := s.start()
	base := t0.Add(-59 * time.Minute).Truncate(time.Hour).Add(time.Hour) // the first hour the log covers whole
	s.clock.Set(base)
	app1, app2, ops := s.client("app1"), s.client("app2"), s.client("ops")
	at := func(sec int) { s.clock.Set(base.Add(time.Duration(sec) * time.Second)) }
	for _, id := range []string{"i1", "i2", "i3"} {
		if a := r.authorize(t, app1, "ocr", id); a.status != 200 {
			t.Fatalf("authorize %s: %d %s", id, a.status, a.body)
		}
	}
	at(10)
	if a := r.authorize(t, app2, "ocr", "i4"); a.code() != int(codes.InstanceLimit) {
		t.Fatalf("a fourth seat: %d %s", a.status, a.body)
	}
	at(20)
	if a := call(t, app1, "POST", r.url+api.PathRelease, api.InstanceRequest{Product: "ocr", InstanceID: "i1"}); a.status != 200 {
		t.Fatalf("release: %d %s", a.status, a.body)
	}
	at(30)
	if a := r.authorize(t, app2, "ocr", "i4"); a.status != 200 {
		t.Fatalf("authorize i4: %d %s", a.status, a.body)
	}
	at(40)
	if a := call(t, ops, "POST", r.url+api.PathRevoke, RevokeRequest{Product: "ocr", InstanceID: "i2"}); a.status != 200 {
		t.Fatalf("revoke: %d %s", a.status, a.body)
	}
	at(200) // i3 lapsed at 90 s, i4 at 120 s: the report ends them there
	now := s.clock.Now()

	q := url.Values{"from": {base.Format(time.RFC3339)}, "to": {now.Format(time.RFC3339)}, "product": {"ocr"}, "by": {"hour"}}
	var rep report.Report
	a := call(t, ops, "GET", r.url+api.PathReport+"?"+q.Encode(), nil)
	if a.status != 200 {
		t.Fatalf("report: %d %s", a.status, a.body)
	}
	a.decode(t, &rep)
	if len(rep.Products) != 1 || rep.Products[0].Name != "ocr" || rep.Products[0].Limit != 3 {
		t.Fatalf("report products = %+v", rep.Products)
	}
	got := rep.Products[0].Total
	// Seat-seconds: 3×20 + 2×10 + 3×10 + 2×50 + 1×30 = 240.
	want := report.Period{PeakInstance: 3, PeakTotal: 3, AtLimit: 30 * time.Second, Instances: 4, Hosts: 2}
	if got.PeakInstance != want.PeakInstance || got.PeakTotal != 3 || got.PeakKeyFile != 0 || got.AtLimit != want.AtLimit ||
		got.Instances != 4 || got.Hosts != 2 || got.Denials[int(codes.InstanceLimit)] != 1 || got.Denied() != 1 {
		t.Fatalf("total = %+v, want %+v and one 501", got, want)
	}
	if avg, w := got.AvgInstance, 240/now.Sub(base).Seconds(); avg < w-1e-9 || avg > w+1e-9 {
		t.Fatalf("average %v, want %v", avg, w)
	}

	q.Set("format", "csv")
	a = call(t, ops, "GET", r.url+api.PathReport+"?"+q.Encode(), nil)
	if a.status != 200 || !strings.HasPrefix(string(a.body), strings.Join(report.CSVHeader, ",")+"\n") || !strings.Contains(string(a.body), "ocr,total,") {
		t.Fatalf("csv: %d %s", a.status, a.body)
	}

	q.Del("format")
	q.Set("signed", "1")
	a = call(t, ops, "GET", r.url+api.PathReport+"?"+q.Encode(), nil)
	if a.status != 200 {
		t.Fatalf("signed: %d %s", a.status, a.body)
	}
	v, err := report.ReadSigned(a.body, report.VerifyOptions{VendorKey: s.vendorPub})
	if err != nil {
		t.Fatalf("the signed report does not verify: %v", err)
	}
	if v.Report.Products[0].Total.AtLimit != 30*time.Second {
		t.Fatalf("signed total = %+v", v.Report.Products[0].Total)
	}

	tests := []struct {
		name   string
		client *http.Client
		query  string
		want   codes.Code
	}{
		{"signed-before-the-log", ops, "signed=1&from=" + url.QueryEscape(base.Add(-2*time.Hour).Format(time.RFC3339)), codes.ReportPeriodUncovered},
		{"signed-into-the-future", ops, "signed=1&to=" + url.QueryEscape(now.Add(time.Hour).Format(time.RFC3339)), codes.ReportPeriodUncovered},
		{"bad-date", ops, "from=yesterday", codes.RequestMalformed},
		{"bad-by", ops, "by=week", codes.RequestMalformed},
		{"bad-format", ops, "format=xml", codes.RequestMalformed},
		{"instance-role", app1, "", codes.RoleForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a := call(t, tt.client, "GET", r.url+api.PathReport+"?"+tt.query, nil); a.code() != int(tt.want) {
				t.Fatalf("%s: %d %s, want code %d", tt.query, a.status, a.body, tt.want)
			}
		})
	}
}
