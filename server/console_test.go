package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/console"
	"github.com/licensor/licensor/store"
)

// consoleAnswer is an answer with its headers.
type consoleAnswer struct {
	answer
	header http.Header
}

// consoleCall sends a request with headers (name, value, name, value…).
func consoleCall(t *testing.T, c *http.Client, method, url, body string, headers ...string) consoleAnswer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return consoleAnswer{answer{resp.StatusCode, data}, resp.Header}
}

// checkConsoleHeaders checks the security headers of a console answer.
func checkConsoleHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Security-Policy": console.CSP,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"X-Frame-Options":         "DENY",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", what, k, got, want)
		}
	}
}

// TestConsoleAdminOnly: the pages and their JSON go to admin-role clients
// only, every answer (a refusal too) carries the security headers, and
// the assets are the embedded ones with their types.
func TestConsoleAdminOnly(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app, ops := s.client("app1"), s.client("ops")
	r.authorize(t, app, "ocr", "i-secret")
	for _, path := range []string{console.Prefix, console.Prefix + "app.js", PathConsoleOverview, PathConsoleSeats, PathConsoleHealth, PathConsoleSession, PathConsoleCodes} {
		a := consoleCall(t, app, "GET", r.url+path, "")
		if a.status != http.StatusForbidden || a.code() != int(codes.RoleForbidden) || strings.Contains(string(a.body), "i-secret") {
			t.Errorf("instance GET %s: %d %s", path, a.status, a.body)
		}
		checkConsoleHeaders(t, "refusal of "+path, a.header)
	}
	if a := consoleCall(t, app, "POST", r.url+PathConsoleRevoke, `{"product":"ocr","instance_id":"i-secret","reason":"x"}`); a.code() != int(codes.RoleForbidden) {
		t.Errorf("instance revoke: %d %s", a.status, a.body)
	}
	for _, tt := range []struct {
		path, ctype, has string
	}{
		{console.Prefix, "text/html; charset=utf-8", `<script src="app.js" defer></script>`},
		{console.Prefix + "index.html", "text/html; charset=utf-8", "licensor console"},
		{console.Prefix + "app.js", "text/javascript; charset=utf-8", "'use strict'"},
		{console.Prefix + "app.css", "text/css; charset=utf-8", ":root"},
		{console.Prefix + "favicon.svg", "image/svg+xml", "<svg"},
		{PathConsoleSeats, "application/json", "i-secret"},
	} {
		a := consoleCall(t, ops, "GET", r.url+tt.path, "")
		if a.status != 200 || a.header.Get("Content-Type") != tt.ctype || !strings.Contains(string(a.body), tt.has) {
			t.Errorf("GET %s: %d %q %.80s", tt.path, a.status, a.header.Get("Content-Type"), a.body)
		}
		checkConsoleHeaders(t, tt.path, a.header)
	}
	for _, path := range []string{console.Prefix + "nope.js", console.Prefix + "static/app.js", console.Prefix + "api/nope", console.Prefix + "..%2fserver.key"} {
		a := consoleCall(t, ops, "GET", r.url+path, "")
		if a.code() != int(codes.RequestMalformed) {
			t.Errorf("GET %s: %d %s", path, a.status, a.body)
		}
		checkConsoleHeaders(t, path, a.header)
	}
	if a := consoleCall(t, ops, "DELETE", r.url+PathConsoleSeats, ""); a.code() != int(codes.RequestMalformed) {
		t.Errorf("DELETE seats: %d %s", a.status, a.body)
	}
	// No page of the console inlines a script or a style: the CSP would
	// refuse them.
	for _, name := range []string{"index.html", "app.js"} {
		a := consoleCall(t, ops, "GET", r.url+console.Prefix+name, "")
		a.body = []byte(strings.ReplaceAll(string(a.body), "'http://www.w3.org/2000/svg'", "SVGNS"))
		for _, bad := range []string{"<script>", "style=", "onclick=", "innerHTML", "http://", "https://"} {
			if strings.Contains(string(a.body), bad) {
				t.Errorf("%s holds %q", name, bad)
			}
		}
	}
}

// TestConsoleOverview: the gauges count the pool's seats by kind against
// the license, and the license and certificates carry their days left.
func TestConsoleOverview(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app, ops := s.client("app1"), s.client("ops")
	r.authorize(t, app, "ocr", "i-1")
	r.authorize(t, app, "ocr", "i-2")
	if a := r.requestKeyFile(t, s.client("renewer"), fakeHost("render-01")); a.status != 200 {
		t.Fatalf("key file: %d %s", a.status, a.body)
	}
	var o ConsoleOverview
	consoleCall(t, ops, "GET", r.url+PathConsoleOverview, "").decode(t, &o)
	pools := map[string]ConsoleGauge{}
	for _, p := range o.Pools {
		pools[p.Product] = p
	}
	if got := pools["ocr"]; got != (ConsoleGauge{Product: "ocr", Limit: 3, Held: 3, Instances: 2, KeyFiles: 1}) {
		t.Errorf("ocr gauge %+v", got)
	}
	if got := pools["asr"]; got.Limit != 2 || got.QPS != 100 || got.Held != 1 || got.KeyFiles != 1 {
		t.Errorf("asr gauge %+v", got)
	}
	if o.License.Holder != "ACME" || o.License.ID == "" || len(o.License.Products) != 4 {
		t.Errorf("license %+v", o.License)
	}
	for _, p := range o.License.Products {
		if p.Subject == "ocr" && (p.DaysLeft < 28 || p.DaysLeft > 31) || p.Subject == "old" && p.DaysLeft != 0 {
			t.Errorf("days left of %s: %d", p.Subject, p.DaysLeft)
		}
	}
	roles := map[string]ConsoleCert{}
	for _, c := range o.Certs {
		roles[c.Role] = c
	}
	if roles["server"].DaysLeft < 300 || roles["ca"].DaysLeft < roles["server"].DaysLeft || roles["ca"].Subject == "" {
		t.Errorf("certificates %+v", o.Certs)
	}
}

// TestConsoleSeats lists every seat with its kind, holder and dates; a
// key-file host's with its machine code, beside the rule that keeps it
// counted.
func TestConsoleSeats(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app, ops := s.client("app1"), s.client("ops")
	r.authorize(t, app, "ocr", "i-1")
	host := fakeHost("render-01")
	r.requestKeyFile(t, s.client("renewer"), host)
	var body ConsoleSeats
	consoleCall(t, ops, "GET", r.url+PathConsoleSeats+"?product=ocr", "").decode(t, &body)
	if len(body.Seats) != 2 || body.Nodes || body.KeyFileRule != KeyFileRule {
		t.Fatalf("seats %+v", body)
	}
	byKind := map[store.SeatKind]ConsoleSeat{}
	for _, st := range body.Seats {
		byKind[st.Kind] = st
	}
	if i := byKind[store.SeatInstance]; i.InstanceID != "i-1" || i.Holder != "app1" || i.Host != "" || !i.Expires.After(i.Since) {
		t.Errorf("instance seat %+v", i)
	}
	if k := byKind[store.SeatKeyFile]; k.Host != host.Code || k.Holder != "renewer" || k.Expires.Sub(k.Since) != time.Duration(s.cfg.KeyFileValidity) {
		t.Errorf("key-file seat %+v", k)
	}
}

// ocrSeats counts the seats held in ocr.
func (r *running) ocrSeats(t *testing.T) int {
	t.Helper()
	leases, err := r.store.Leases(context.Background(), "ocr", r.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return len(leases)
}

// consoleToken fetches a CSRF token as c.
func (r *running) consoleToken(t *testing.T, c *http.Client, headers ...string) string {
	t.Helper()
	var sess ConsoleSession
	consoleCall(t, c, "GET", r.url+PathConsoleSession, "", headers...).decode(t, &sess)
	if sess.Admin != "ops" || sess.CSRF == "" {
		t.Fatalf("session %+v", sess)
	}
	return sess.CSRF
}

// TestConsoleRevoke: a revoke needs the session's CSRF token, the
// console's origin and a reason; one that has them goes through the admin
// revoke, frees the seat, and is audited with the admin's identity and
// the reason. Every refused change leaves the seat as it was.
func TestConsoleRevoke(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app, ops := s.client("app1"), s.client("ops")
	r.authorize(t, app, "ocr", "i-1")
	host := fakeHost("render-01")
	r.requestKeyFile(t, s.client("renewer"), host)
	tok := r.consoleToken(t, ops)
	origin := "https://" + strings.TrimPrefix(r.url, "https://")
	other := r.consoleToken(t, ops, console.SessionHeader, "another-session")
	s.clock.Advance(time.Second)
	stale := r.csrfToken("ops", "", s.clock.Now().Add(-csrfTTL-time.Minute))
	body := `{"product":"ocr","instance_id":"i-1","reason":"host decommissioned"}`
	for _, tt := range []struct {
		name    string
		body    string
		headers []string
		code    codes.Code
	}{
		{"no-token", body, nil, codes.ConsoleChangeRefused},
		{"garbage-token", body, []string{console.CSRFHeader, "garbage"}, codes.ConsoleChangeRefused},
		{"another-session's-token", body, []string{console.CSRFHeader, other}, codes.ConsoleChangeRefused},
		{"token-for-another-session", body, []string{console.CSRFHeader, tok, console.SessionHeader, "another-session"}, codes.ConsoleChangeRefused},
		{"stale-token", body, []string{console.CSRFHeader, stale}, codes.ConsoleChangeRefused},
		{"other-origin", body, []string{console.CSRFHeader, tok, "Origin", "https://evil.example"}, codes.ConsoleChangeRefused},
		{"cross-site", body, []string{console.CSRFHeader, tok, "Sec-Fetch-Site", "cross-site"}, codes.ConsoleChangeRefused},
		{"no-reason", `{"product":"ocr","instance_id":"i-1","reason":"  "}`, []string{console.CSRFHeader, tok}, codes.RequestMalformed},
		{"unknown-field", `{"product":"ocr","instance_id":"i-1","reason":"x","force":true}`, []string{console.CSRFHeader, tok}, codes.RequestMalformed},
		{"no-such-seat", `{"product":"ocr","instance_id":"i-9","reason":"x"}`, []string{console.CSRFHeader, tok}, codes.LeaseUnknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := consoleCall(t, ops, "POST", r.url+PathConsoleRevoke, tt.body, tt.headers...)
			if a.code() != int(tt.code) {
				t.Fatalf("%d %s, want code %d", a.status, a.body, tt.code)
			}
			checkConsoleHeaders(t, "refused revoke", a.header)
			if r.ocrSeats(t) != 2 {
				t.Fatal("a refused change freed a seat")
			}
		})
	}

	a := consoleCall(t, ops, "POST", r.url+PathConsoleRevoke, body, console.CSRFHeader, tok, "Origin", origin, "Sec-Fetch-Site", "same-origin")
	var rb RevokeBody
	a.decode(t, &rb)
	if a.status != 200 || !rb.Freed || rb.Holder != "app1" {
		t.Fatalf("revoke: %d %s", a.status, a.body)
	}
	a = consoleCall(t, ops, "POST", r.url+PathConsoleRevoke, `{"product":"ocr","instance_id":"`+store.KeyFileSeat(host.Code)+`","reason":"moved"}`, console.CSRFHeader, tok)
	rb = RevokeBody{}
	a.decode(t, &rb)
	if a.status != 200 || rb.Freed || rb.CountedUntil.IsZero() {
		t.Fatalf("key-file revoke: %d %s", a.status, a.body)
	}
	if n := r.ocrSeats(t); n != 1 {
		t.Errorf("%d seats after the revokes, want the key-file host's alone", n)
	}
	revokes := map[string]store.Event{}
	r.store.Audit(context.Background(), 0, func(e store.Event) error {
		if e.Kind == store.KindRevoke {
			revokes[e.InstanceID] = e
		}
		return nil
	})
	if e := revokes["i-1"]; e.Actor != "ops" || e.Detail != "console: host decommissioned" {
		t.Errorf("audit of the revoke: %+v", e)
	}
	if e := revokes[store.KeyFileSeat(host.Code)]; e.Actor != "ops" || !strings.HasSuffix(e.Detail, "; console: moved") {
		t.Errorf("audit of the key-file revoke: %+v", e)
	}
}

// TestConsoleHealth: each of the server's checks, with its code and fix
// when it does not pass.
func TestConsoleHealth(t *testing.T) {
	s := newSite(t)
	r := s.start()
	ops := s.client("ops")
	health := func() map[string]HealthCheck {
		var h ConsoleHealth
		consoleCall(t, ops, "GET", r.url+PathConsoleHealth, "").decode(t, &h)
		out := map[string]HealthCheck{}
		for _, c := range h.Checks {
			out[c.Name] = c
		}
		return out
	}
	h := health()
	for name, want := range map[string]string{
		"store": "pass", "clock": "pass", "server-certificate": "pass", "ca-certificate": "pass",
		"license-ocr": "pass", "license-tts": "fail", "license-old": "fail", "upstream": "skip",
	} {
		if h[name].Status != want {
			t.Errorf("%s: %+v, want %s", name, h[name], want)
		}
	}
	if c := h["license-tts"]; c.Code != int(codes.NotYetValid) || c.Fix == "" {
		t.Errorf("license-tts %+v", c)
	}
	if c := h["license-old"]; c.Code != int(codes.Expired) {
		t.Errorf("license-old %+v", c)
	}

	// Three weeks on, ocr is within 30 days of its end; a year and more
	// on, the server certificate has expired.
	s.clock.Advance(21 * 24 * time.Hour)
	if c := health()["license-ocr"]; c.Status != "warn" || c.Code != int(codes.Expired) {
		t.Errorf("license-ocr near its end: %+v", c)
	}
	cert := r.tls.Certificate().Leaf
	s.clock.Set(cert.NotAfter.Add(-10 * 24 * time.Hour))
	if c := health()["server-certificate"]; c.Status != "warn" || c.Code != int(codes.ServerCert) {
		t.Errorf("server certificate 10 days before its end: %+v", c)
	}
	s.clock.Set(cert.NotAfter.Add(time.Hour))
	if c := health()["server-certificate"]; c.Status != "fail" || c.Code != int(codes.ServerCert) || c.Fix == "" {
		t.Errorf("expired server certificate: %+v", c)
	}
	// A clock set back past the tolerance fails the clock check.
	s.clock.Set(cert.NotAfter.Add(-24 * time.Hour))
	if c := health()["clock"]; c.Status != "fail" || c.Code != int(codes.ClockRollback) {
		t.Errorf("clock set back: %+v", c)
	}
}

// TestConsoleCodes serves the one table of codes.
func TestConsoleCodes(t *testing.T) {
	s := newSite(t)
	r := s.start()
	var got []codes.Info
	consoleCall(t, s.client("ops"), "GET", r.url+PathConsoleCodes, "").decode(t, &got)
	want := codes.All()
	if len(got) != len(want) {
		t.Fatalf("%d codes, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("code %d: %+v, want %+v", want[i].Code, got[i], want[i])
		}
	}
}

func TestParseConsoleRevoke(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		code       codes.Code
		reason     string
	}{
		{"ok", `{"product":"ocr","instance_id":"i-1","reason":"gone"}`, codes.OK, "console: gone"},
		{"trimmed", `{"product":"ocr","instance_id":"i-1","reason":"  gone \t"}`, codes.OK, "console: gone"},
		{"unicode", `{"product":"ocr","instance_id":"i-1","reason":"départ — fin"}`, codes.OK, "console: départ — fin"},
		{"key-file", `{"product":"ocr","instance_id":"keyfile:0123","reason":"x"}`, codes.OK, "console: x"},
		{"no-reason", `{"product":"ocr","instance_id":"i-1"}`, codes.RequestMalformed, ""},
		{"blank-reason", `{"product":"ocr","instance_id":"i-1","reason":" "}`, codes.RequestMalformed, ""},
		{"newline", `{"product":"ocr","instance_id":"i-1","reason":"a\nb"}`, codes.RequestMalformed, ""},
		{"long", `{"product":"ocr","instance_id":"i-1","reason":"` + strings.Repeat("x", 400) + `"}`, codes.RequestTooLarge, ""},
		{"bad-product", `{"product":"o cr","instance_id":"i-1","reason":"x"}`, codes.RequestMalformed, ""},
		{"bad-id", `{"product":"ocr","instance_id":"","reason":"x"}`, codes.RequestMalformed, ""},
		{"unknown-field", `{"product":"ocr","instance_id":"i-1","reason":"x","x":1}`, codes.RequestMalformed, ""},
		{"two-objects", `{"product":"ocr","instance_id":"i-1","reason":"x"}{}`, codes.RequestMalformed, ""},
		{"not-json", `product=ocr`, codes.RequestMalformed, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rr, err := parseConsoleRevoke([]byte(tt.body))
			if codes.Of(err) != tt.code || rr.Reason != tt.reason {
				t.Fatalf("= %+v, %v; want code %d, reason %q", rr, err, tt.code, tt.reason)
			}
		})
	}
}

func FuzzParseConsoleRevoke(f *testing.F) {
	f.Add([]byte(`{"product":"ocr","instance_id":"i-1","reason":"gone"}`))
	f.Add([]byte(`{"product":"ocr","instance_id":"keyfile:00","reason":"\u0000"}`))
	f.Add([]byte(`{"reason":"` + strings.Repeat("é", 200) + `"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rr, err := parseConsoleRevoke(data)
		if err != nil {
			if codes.Of(err) == codes.Unknown {
				t.Fatalf("uncoded error %v", err)
			}
			return
		}
		if validateRevoke(rr) != nil || !strings.HasPrefix(rr.Reason, consoleReasonPrefix) || len(rr.Reason) > maxReason {
			t.Fatalf("accepted %+v", rr)
		}
		if _, err := json.Marshal(rr); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRevokeReason: the admin API's revoke keeps a reason too, bounded.
func TestRevokeReason(t *testing.T) {
	s := newSite(t)
	r := s.start()
	app, ops := s.client("app1"), s.client("ops")
	r.authorize(t, app, "ocr", "i-1")
	if a := call(t, ops, "POST", r.url+api.PathRevoke, RevokeRequest{Product: "ocr", InstanceID: "i-1", Reason: strings.Repeat("x", maxReason+1)}); a.code() != int(codes.RequestTooLarge) {
		t.Fatalf("long reason: %d %s", a.status, a.body)
	}
	if a := call(t, ops, "POST", r.url+api.PathRevoke, RevokeRequest{Product: "ocr", InstanceID: "i-1", Reason: "ticket 42"}); a.status != 200 {
		t.Fatalf("revoke: %d %s", a.status, a.body)
	}
	var detail string
	r.store.Audit(context.Background(), 0, func(e store.Event) error {
		if e.Kind == store.KindRevoke {
			detail = e.Detail
		}
		return nil
	})
	if detail != "ticket 42" {
		t.Errorf("revoke detail %q", detail)
	}
}

// TestConsoleHistory: the history comes from the report engine: seats
// held hour by hour against the limit, and the denials, which the
// overview counts by code too.
func TestConsoleHistory(t *testing.T) {
	s := newSite(t)
	// The denials go at ten past an hour and the checks 91 minutes on, so
	// that no hour ends between the last denial and the overview, whatever
	// the time of day the test runs.
	now := s.clock.Now()
	s.clock.Advance(now.Truncate(time.Hour).Add(time.Hour + 10*time.Minute).Sub(now))
	r := s.start()
	app, ops := s.client("app1"), s.client("ops")
	for _, id := range []string{"i-1", "i-2", "i-3"} {
		r.authorize(t, app, "ocr", id)
	}
	if a := r.authorize(t, app, "ocr", "i-4"); a.code() != int(codes.InstanceLimit) {
		t.Fatalf("fourth instance: %d %s", a.status, a.body)
	}
	r.authorize(t, app, "nope", "i-1")
	s.clock.Advance(90 * time.Minute)

	var h ConsoleHistory
	consoleCall(t, ops, "GET", r.url+PathConsoleHistory+"?range=day", "").decode(t, &h)
	if h.Bucket != "hour" || len(h.Denials) < 24 || len(h.Denials) > 25 {
		t.Fatalf("history %+v", h)
	}
	var ocr HistoryProduct
	for _, p := range h.Products {
		if p.Product == "ocr" {
			ocr = p
		}
	}
	if ocr.Limit != 3 || ocr.Peak != 3 || len(ocr.Points) == 0 {
		t.Errorf("ocr history %+v", ocr)
	}
	denied := 0
	for _, d := range h.Denials {
		denied += d.Count
	}
	want := []ConsoleDenial{{Code: 501, Name: "instance_limit", Count: 1}, {Code: 508, Name: "product_unlicensed", Count: 1}}
	if denied != 2 || len(h.DenialCodes) != 2 || h.DenialCodes[0] != want[0] || h.DenialCodes[1] != want[1] {
		t.Errorf("denials %+v, by code %+v", h.Denials, h.DenialCodes)
	}
	// The history is a minute stale at most.
	r.authorize(t, app, "nope", "i-2")
	s.clock.Advance(30 * time.Second)
	var again ConsoleHistory
	consoleCall(t, ops, "GET", r.url+PathConsoleHistory+"?range=day", "").decode(t, &again)
	if len(again.DenialCodes) != 2 || again.DenialCodes[1].Count != 1 {
		t.Errorf("within the minute: %+v", again.DenialCodes)
	}
	s.clock.Advance(31 * time.Second)
	consoleCall(t, ops, "GET", r.url+PathConsoleHistory+"?range=day", "").decode(t, &again)
	if len(again.DenialCodes) != 2 || again.DenialCodes[1].Count != 2 {
		t.Errorf("a minute on: %+v", again.DenialCodes)
	}

	var month ConsoleHistory
	consoleCall(t, ops, "GET", r.url+PathConsoleHistory+"?range=month", "").decode(t, &month)
	if month.Bucket != "day" || len(month.Denials) < 30 {
		t.Errorf("month: %s, %d periods", month.Bucket, len(month.Denials))
	}
	if a := consoleCall(t, ops, "GET", r.url+PathConsoleHistory+"?range=year", ""); a.code() != int(codes.RequestMalformed) {
		t.Errorf("range=year: %d %s", a.status, a.body)
	}

	var o ConsoleOverview
	consoleCall(t, ops, "GET", r.url+PathConsoleOverview, "").decode(t, &o)
	if len(o.Denials) != 2 || o.Denials[0] != (ConsoleDenial{Code: 508, Name: "product_unlicensed", Count: 2, Last: o.Now}) || o.Denials[1].Code != 501 || o.Denials[1].Count != 1 || o.Denials[1].Last.IsZero() {
		t.Errorf("overview denials %+v", o.Denials)
	}

	for _, d := range h.Downloads {
		a := consoleCall(t, ops, "GET", r.url+console.Prefix+d.Href, "")
		ext := strings.TrimPrefix(d.File, strings.SplitN(d.File, ".", 2)[0])
		if a.status != 200 || !strings.Contains(a.header.Get("Content-Disposition"), ext+`"`) || !strings.Contains(string(a.body), "ocr") {
			t.Errorf("download %s (%s): %d %q %.100s", d.Format, d.File, a.status, a.header.Get("Content-Disposition"), a.body)
		}
		checkConsoleHeaders(t, "download "+d.Format, a.header)
	}
}

// TestConsoleDenialsNow: a denial at the very time of the overview is
// counted (the report engine's ranges end before their end).
func TestConsoleDenialsNow(t *testing.T) {
	s := newSite(t)
	r := s.start()
	r.authorize(t, s.client("app1"), "nope", "i-1")
	var o ConsoleOverview
	consoleCall(t, s.client("ops"), "GET", r.url+PathConsoleOverview, "").decode(t, &o)
	if len(o.Denials) != 1 || o.Denials[0].Code != int(codes.ProductUnlicensed) {
		t.Errorf("denials %+v", o.Denials)
	}
}
