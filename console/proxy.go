package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
)

// The proxy's session: a cookie the first request with the one-time
// token sets, good for SessionTTL.
const (
	SessionCookie = "licensor_console_session"
	SessionTTL    = 12 * time.Hour
	// SessionHeader carries a digest of the proxy's session to the site
	// server, which binds its CSRF token to it: a token fetched through
	// one session is refused in any other.
	SessionHeader = "X-Console-Session"
	// CSRFHeader carries the console's CSRF token on every change.
	CSRFHeader = "X-Console-CSRF"
)

// ProxyOptions configure a Proxy.
type ProxyOptions struct {
	// Server is the site server's URL (https://HOST:PORT).
	Server *url.URL
	// Transport reaches it over mutual TLS with the admin certificate.
	Transport http.RoundTripper
	// Clock ends sessions (clock.System when nil).
	Clock clock.Clock
	// Classify names a failure to reach the server with its code.
	Classify func(error) error
}

// Proxy is the local end of 'licensor console', as 'kubectl proxy' or a
// notebook server: it listens on loopback, holds the admin certificate,
// and forwards the console's requests (those under Prefix, nothing else)
// to the site server over mutual TLS. It answers only one browser: the
// first request carrying its one-time token gets a session cookie
// (HttpOnly, SameSite=Strict) and is redirected to the console without
// the token; the token never works again, and a request without a live
// session gets a 403 and nothing else. Changes (POST) must also come from
// the proxy's own origin.
type Proxy struct {
	opts  ProxyOptions
	rp    *httputil.ReverseProxy
	token string
	port  string // the port of the listener Serve was given, for the Host check

	mu       sync.Mutex
	used     bool
	sessions map[string]time.Time // session id → its end
}

// NewProxy makes a proxy with a fresh one-time token.
func NewProxy(o ProxyOptions) (*Proxy, error) {
	if o.Clock == nil {
		o.Clock = clock.System
	}
	tok, err := randomHex(32)
	if err != nil {
		return nil, err
	}
	p := &Proxy{opts: o, token: tok, sessions: map[string]time.Time{}}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      o.Transport,
		ModifyResponse: func(resp *http.Response) error { resp.Header.Del("Set-Cookie"); return nil },
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			if o.Classify != nil {
				err = o.Classify(err)
			}
			e := codes.As(err)
			if e.Code == codes.Unknown {
				e = codes.Errorf(codes.Connect, "the site server %s did not answer", o.Server.Host)
			}
			writeError(w, e)
		},
	}
	return p, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// URL is the link to open: the proxy's address with the one-time token.
func (p *Proxy) URL(addr string) string {
	return "http://" + addr + "/?token=" + p.token
}

// Serve answers on ln until ctx is cancelled. ln must listen on loopback.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return err
	}
	p.port = port
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-errc
		return nil
	}
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	SetHeaders(w.Header())
	if !p.loopbackHost(r.Host) {
		// A page elsewhere whose name resolves to 127.0.0.1 (DNS
		// rebinding) sends its own name as the Host.
		writeError(w, codes.Errorf(codes.RequestMalformed, "the console proxy answers requests for 127.0.0.1:%s and localhost:%s only, not %q", p.port, p.port, r.Host).
			WithFix("Open the link 'licensor console' printed, as it is."))
		return
	}
	if r.URL.Path == "/" && r.URL.Query().Has("token") {
		p.redeem(w, r)
		return
	}
	sid, ok := p.session(r)
	if !ok {
		writeError(w, codes.Errorf(codes.ConsoleSessionRequired, "this request carries no console session"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := SameOrigin(r, "http://"+r.Host); err != nil {
			writeError(w, err)
			return
		}
	}
	switch {
	case r.URL.Path == "/" || r.URL.Path == strings.TrimSuffix(Prefix, "/"):
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
	case strings.HasPrefix(r.URL.Path, Prefix):
		r.Header.Set(SessionHeader, sessionTag(sid))
		p.rp.ServeHTTP(w, r)
	default:
		writeError(w, codes.Errorf(codes.RequestMalformed, "the console proxy forwards %s only; no %s", Prefix, r.URL.Path))
	}
}

// redeem trades the one-time token for a session.
func (p *Proxy) redeem(w http.ResponseWriter, r *http.Request) {
	given := r.URL.Query().Get("token")
	p.mu.Lock()
	ok := !p.used && subtle.ConstantTimeCompare([]byte(given), []byte(p.token)) == 1
	if ok {
		p.used = true
	}
	p.mu.Unlock()
	if !ok {
		if _, has := p.session(r); has {
			// The browser that redeemed it, reloading the link.
			http.Redirect(w, r, Prefix, http.StatusSeeOther)
			return
		}
		writeError(w, codes.Errorf(codes.ConsoleTokenRefused, "the link's token is wrong or was used already"))
		return
	}
	sid, err := randomHex(32)
	if err != nil {
		writeError(w, codes.Errorf(codes.Unknown, "cannot make a session: %w", err))
		return
	}
	now := p.opts.Clock.Now()
	p.mu.Lock()
	for id, end := range p.sessions {
		if now.After(end) {
			delete(p.sessions, id)
		}
	}
	p.sessions[sid] = now.Add(SessionTTL)
	p.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// session returns the request's live session.
func (p *Proxy) session(r *http.Request) (string, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return "", false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	end, ok := p.sessions[c.Value]
	if !ok || p.opts.Clock.Now().After(end) {
		return "", false
	}
	return c.Value, true
}

// loopbackHost reports whether a Host header names this proxy on
// loopback.
func (p *Proxy) loopbackHost(host string) bool {
	h, port, err := net.SplitHostPort(host)
	if err != nil || port != p.port {
		return false
	}
	return h == "127.0.0.1" || h == "localhost" || h == "::1"
}

// rewrite sends a console request to the site server: the same path,
// the server's host, no cookie (the proxy's session is its own), and the
// session's digest for the CSRF token. Origin and Sec-Fetch-Site name the
// proxy's origin, which ServeHTTP has checked; the server sees the
// request as the admin certificate's, from no other site.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.opts.Server)
	pr.Out.URL.Path, pr.Out.URL.RawPath = pr.In.URL.Path, pr.In.URL.RawPath
	pr.Out.Host = p.opts.Server.Host
	for _, h := range []string{"Cookie", "Origin", "Referer", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest", "Sec-Fetch-User"} {
		pr.Out.Header.Del(h)
	}
}

// sessionTag is what the server learns of a session: a digest, not the
// cookie itself.
func sessionTag(sid string) string {
	sum := sha256.Sum256([]byte("licensor console session\x00" + sid))
	return hex.EncodeToString(sum[:16])
}

// SameOrigin checks that a change comes from the console's own origin:
// its Origin header, when there is one, is origin, and its Sec-Fetch-Site,
// when there is one, is same-origin. A client that sends neither (not a
// browser) passes; the CSRF token stops what a browser could forge.
func SameOrigin(r *http.Request, origin string) error {
	if o := r.Header.Get("Origin"); o != "" && o != origin {
		return codes.Errorf(codes.ConsoleChangeRefused, "a change from the origin %q, not the console's (%s)", o, origin)
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return codes.Errorf(codes.ConsoleChangeRefused, "a change from another site (Sec-Fetch-Site: %s)", s)
	}
	return nil
}

// writeError answers with a code's error body and nothing else.
func writeError(w http.ResponseWriter, err error) {
	e := codes.As(err)
	b, _ := json.Marshal(map[string]any{"code": int(e.Code), "name": e.Code.Name(), "message": e.Msg, "fix": e.FixText()})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Code.HTTPStatus())
	w.Write(append(b, '\n'))
}
