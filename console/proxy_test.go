package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/console"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/server"
)

// proxied is a site server with a seat taken, and a console proxy for it
// holding the admin certificate.
type proxied struct {
	site  *sitetest.Site
	srv   *sitetest.Running
	proxy *console.Proxy
	addr  string // the proxy's address
	link  string // its one-time link
}

func newProxied(t *testing.T) *proxied {
	t.Helper()
	site := sitetest.New(t)
	srv := site.NewServer("a", sitetest.Product("ocr", 3, 0)).Start("")
	pr := &proxied{site: site, srv: srv}
	app := pr.tlsClient(t, "app1")
	resp, err := app.Post(srv.URL+api.PathAuthorize, "application/json", strings.NewReader(`{"product":"ocr","instance_id":"i-secret"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("authorize: %v %v", resp, err)
	}
	resp.Body.Close()
	pr.proxy, pr.addr = pr.startProxy(t)
	pr.link = pr.proxy.URL(pr.addr)
	return pr
}

func (pr *proxied) tlsClient(t *testing.T, name string) *http.Client {
	t.Helper()
	cert, key := pr.site.Client(name)
	cfg, err := pki.ClientTLSConfig(pr.site.CA(), cert, key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// startProxy runs a proxy for the site server, as 'licensor console' does.
func (pr *proxied) startProxy(t *testing.T) (*console.Proxy, string) {
	t.Helper()
	target, _ := url.Parse(pr.srv.URL)
	p, err := console.NewProxy(console.ProxyOptions{Server: target, Transport: pr.tlsClient(t, "ops").Transport, Clock: pr.site.Clock})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return p, ln.Addr().String()
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so that each answer can be checked.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (r reply) code() int {
	var e struct{ Code int }
	json.Unmarshal([]byte(r.body), &e)
	return e.Code
}

func do(t *testing.T, c *http.Client, method, url, body string, headers ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(data)}
}

// refused checks that an answer is a 403 with code c and nothing of the
// pool in it.
func refused(t *testing.T, what string, r reply, c codes.Code) {
	t.Helper()
	if r.status != http.StatusForbidden && c != codes.RequestMalformed || r.code() != int(c) || strings.Contains(r.body, "i-secret") || strings.Contains(r.body, "ACME") {
		t.Errorf("%s: %d %s, want code %d and nothing else", what, r.status, r.body, c)
	}
	if r.header.Get("Content-Security-Policy") != console.CSP || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: headers %v", what, r.header)
	}
}

// TestProxyOneTimeToken: the link's token opens one session, once; the
// session cookie is HttpOnly and SameSite=Strict and the redirect drops
// the token from the URL; nothing is answered without the session.
func TestProxyOneTimeToken(t *testing.T) {
	pr := newProxied(t)
	base := "http://" + pr.addr

	stranger := browser(t)
	for _, path := range []string{"/", "/console/", "/console/api/seats", "/console/api/overview", "/console/app.js", "/v1/admin/instances"} {
		refused(t, "no session, GET "+path, do(t, stranger, "GET", base+path, ""), codes.ConsoleSessionRequired)
	}
	refused(t, "wrong token", do(t, stranger, "GET", base+"/?token=00"+strings.Repeat("0", 62), ""), codes.ConsoleTokenRefused)
	refused(t, "empty token", do(t, stranger, "GET", base+"/?token=", ""), codes.ConsoleTokenRefused)

	b := browser(t)
	r := do(t, b, "GET", pr.link, "")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != console.Prefix {
		t.Fatalf("the link: %d %v", r.status, r.header)
	}
	cookie := r.header.Get("Set-Cookie")
	for _, want := range []string{console.SessionCookie + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("cookie %q lacks %s", cookie, want)
		}
	}
	if page := do(t, b, "GET", base+console.Prefix, ""); page.status != 200 || !strings.Contains(page.body, "app.js") || page.header.Get("Content-Security-Policy") != console.CSP {
		t.Fatalf("console page: %d %v %.100s", page.status, page.header, page.body)
	}
	var seats server.ConsoleSeats
	if r := do(t, b, "GET", base+server.PathConsoleSeats, ""); json.Unmarshal([]byte(r.body), &seats) != nil || len(seats.Seats) != 1 || seats.Seats[0].InstanceID != "i-secret" {
		t.Fatalf("seats through the proxy: %d %s", r.status, r.body)
	}
	if r := do(t, b, "GET", base+"/", ""); r.status != http.StatusSeeOther || r.header.Get("Location") != console.Prefix {
		t.Errorf("/ with a session: %d %v", r.status, r.header)
	}
	// The browser that holds the session may reload the link; no other
	// may use it.
	if r := do(t, b, "GET", pr.link, ""); r.status != http.StatusSeeOther || r.header.Get("Set-Cookie") != "" {
		t.Errorf("the link again, with the session: %d %v", r.status, r.header)
	}
	refused(t, "the link a second time", do(t, browser(t), "GET", pr.link, ""), codes.ConsoleTokenRefused)
	// The proxy forwards the console alone, never the rest of the admin API.
	if r := do(t, b, "GET", base+api.PathInstances, ""); r.code() != int(codes.RequestMalformed) || strings.Contains(r.body, "i-secret") {
		t.Errorf("admin API through the proxy: %d %s", r.status, r.body)
	}
	// A session ends after SessionTTL.
	pr.site.Clock.Advance(console.SessionTTL + time.Minute)
	refused(t, "expired session", do(t, b, "GET", base+server.PathConsoleSeats, ""), codes.ConsoleSessionRequired)
}

// TestProxyRefusesOtherHostsAndOrigins: a request naming another host (a
// page whose name resolves to 127.0.0.1) gets nothing, and a change from
// another origin or site is refused before it reaches the server.
func TestProxyRefusesOtherHostsAndOrigins(t *testing.T) {
	pr := newProxied(t)
	base := "http://" + pr.addr
	_, port, _ := net.SplitHostPort(pr.addr)
	b := browser(t)
	refused(t, "rebinding host on the link", do(t, b, "GET", pr.link, "", "Host", "evil.example:"+port), codes.RequestMalformed)
	if r := do(t, b, "GET", pr.link, ""); r.status != http.StatusSeeOther {
		t.Fatalf("the link: %d %s", r.status, r.body)
	}
	refused(t, "rebinding host with the session", do(t, b, "GET", base+server.PathConsoleSeats, "", "Host", "evil.example:"+port), codes.RequestMalformed)
	// localhost is the proxy's too (its cookie is another host's, so the
	// session is asked for, not the host refused).
	refused(t, "localhost", do(t, b, "GET", base+server.PathConsoleSeats, "", "Host", "localhost:"+port), codes.ConsoleSessionRequired)

	var sess server.ConsoleSession
	json.Unmarshal([]byte(do(t, b, "GET", base+server.PathConsoleSession, "").body), &sess)
	if sess.Admin != "ops" || sess.CSRF == "" {
		t.Fatalf("session %+v", sess)
	}
	revoke := `{"product":"ocr","instance_id":"i-secret","reason":"test"}`
	for _, tt := range []struct {
		name    string
		headers []string
	}{
		{"other-origin", []string{"Origin", "http://evil.example", console.CSRFHeader, sess.CSRF}},
		{"cross-site", []string{"Sec-Fetch-Site", "cross-site", console.CSRFHeader, sess.CSRF}},
		{"same-site-other-port", []string{"Origin", "http://127.0.0.1:1", console.CSRFHeader, sess.CSRF}},
		{"no-token", []string{"Origin", base}},
	} {
		refused(t, tt.name, do(t, b, "POST", base+server.PathConsoleRevoke, revoke, tt.headers...), codes.ConsoleChangeRefused)
	}
	// The token is bound to the proxy's session: another proxy's session
	// cannot use it.
	other, otherAddr := pr.startProxy(t)
	b2 := browser(t)
	do(t, b2, "GET", other.URL(otherAddr), "")
	refused(t, "another session's token", do(t, b2, "POST", "http://"+otherAddr+server.PathConsoleRevoke, revoke, console.CSRFHeader, sess.CSRF), codes.ConsoleChangeRefused)
	if r := do(t, b, "GET", base+server.PathConsoleSeats, ""); !strings.Contains(r.body, "i-secret") {
		t.Fatalf("a refused change freed the seat: %s", r.body)
	}

	r := do(t, b, "POST", base+server.PathConsoleRevoke, revoke, "Origin", base, "Sec-Fetch-Site", "same-origin", console.CSRFHeader, sess.CSRF)
	if r.status != 200 || !strings.Contains(r.body, `"freed":true`) {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
}

// TestProxyServerDown: a server that does not answer is named with its
// code, and nothing else is said.
func TestProxyServerDown(t *testing.T) {
	pr := newProxied(t)
	b := browser(t)
	do(t, b, "GET", pr.link, "")
	pr.srv.Stop()
	r := do(t, b, "GET", "http://"+pr.addr+server.PathConsoleSeats, "")
	if r.status == 200 || r.code() != int(codes.Connect) {
		t.Errorf("server down: %d %s", r.status, r.body)
	}
}

// FuzzProxyWithoutSession: whatever a request without the session says
// (path, query, host, headers), the proxy answers it alone, with an
// error, and forwards nothing.
func FuzzProxyWithoutSession(f *testing.F) {
	f.Add("/", "token=abc", "127.0.0.1:8080", "", "GET")
	f.Add("/console/api/seats", "", "localhost:8080", console.SessionCookie+"=00", "GET")
	f.Add("/console/api/revoke", "", "127.0.0.1:8080", "x=y", "POST")
	f.Add("/?token=", "token=&token=1", "[::1]:8080", "", "HEAD")
	target, _ := url.Parse("https://127.0.0.1:1")
	var forwarded atomic.Bool
	p, err := console.NewProxy(console.ProxyOptions{Server: target, Transport: forbidden{&forwarded}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path, query, host, cookie, method string) {
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/", nil)
		req.Method, req.Host = method, host
		req.URL.Path, req.URL.RawQuery = path, query
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		if w.Code < 300 {
			t.Fatalf("%s %s?%s (host %q, cookie %q): %d", method, path, query, host, cookie, w.Code)
		}
		if w.Header().Get("Content-Security-Policy") != console.CSP {
			t.Fatal("no CSP")
		}
		if forwarded.Load() {
			t.Fatalf("%s %s?%s (host %q, cookie %q) was forwarded", method, path, query, host, cookie)
		}
	})
}

// forbidden is a transport that no request may reach.
type forbidden struct{ forwarded *atomic.Bool }

func (x forbidden) RoundTrip(r *http.Request) (*http.Response, error) {
	x.forwarded.Store(true)
	return nil, io.EOF
}
