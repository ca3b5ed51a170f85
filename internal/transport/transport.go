// Package transport is how licensor's clients reach a site server: one
// HTTP/1.1 keep-alive transport per server with connect and read timeouts,
// the client certificate always presented, and every failure classified
// with the curl-style codes (1, 6, 7, 28, 35, 58, 60) and its reason.
package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/licensor/licensor/codes"
)

// Transport defaults and limits.
const (
	DefaultConnectTimeout = time.Second
	DefaultReadTimeout    = 3 * time.Second
	// maxResponseBody bounds what do reads of an answer; a licensor server
	// never sends more.
	maxResponseBody = 1 << 20
)

// Config is what a transport is made from.
type Config struct {
	URL            string           // "https://host:port" of one site server
	RootCAs        *x509.CertPool   // the site CA; nil: the system's roots
	Certificate    *tls.Certificate // the client certificate (nil: none)
	ConnectTimeout time.Duration    // default 1 s
	ReadTimeout    time.Duration    // default 3 s: from the request sent to the response headers+body read
	// Resolver replaces the system resolver (tests use one that never
	// leaves the machine).
	Resolver *net.Resolver
}

// transport is one site server as the SDK reaches it: its own
// http.Transport (HTTP/1.1, keep-alive), connect timeout, read timeout,
// and the TLS configuration with the client certificate.
//
// Besides sending requests it remembers what the latest TLS handshake
// learned about our client certificate. Go's TLS client does not say
// whether the server asked for one, or whether ours was from a CA the
// server accepts, and the server's alert (bad_certificate, unknown CA)
// does not name the cause; with both facts a failure can say "issued by
// X; the server accepts Y".
type Transport struct {
	url            string // "https://host:port", no trailing slash
	connectTimeout time.Duration
	readTimeout    time.Duration
	cert           *tls.Certificate
	leaf           *x509.Certificate // cert's leaf; nil without a certificate
	roots          *x509.CertPool    // the CA file's; nil: the system's
	rt             *http.Transport

	mu   sync.Mutex
	last handshakeFacts // what the latest handshake learned; guarded by mu
}

// handshakeFacts is what a TLS handshake learned about our client certificate.
type handshakeFacts struct {
	requested bool     // the server asked for a client certificate
	sent      bool     // we sent one
	wrongCA   bool     // ours is not issued by any CA the server listed
	accepted  []string // the names of the CAs the server listed
}

// errNoAnswer is the cause with which do cancels a request whose answer
// did not arrive within the read timeout.
var errNoAnswer = errors.New("read timeout")

const serverURLFix = "Give the server URL as https://HOST:PORT, for example https://licensor.example.com:8443."

// New checks cfg and makes the transport. A URL that is not
// https://HOST[:PORT] is codes.InvalidArgument.
func New(cfg Config) (*Transport, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, codes.Errorf(codes.InvalidArgument, "server URL %q does not parse: %v", cfg.URL, err).WithFix(serverURLFix)
	}
	switch {
	case u.Scheme != "https":
		return nil, codes.Errorf(codes.InvalidArgument, "server URL %q: the scheme is %q, want https (the site server speaks only HTTPS)", cfg.URL, u.Scheme).WithFix(serverURLFix)
	case u.Hostname() == "":
		return nil, codes.Errorf(codes.InvalidArgument, "server URL %q has no host", cfg.URL).WithFix(serverURLFix)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		return nil, codes.Errorf(codes.InvalidArgument, "server URL %q: want only https://HOST:PORT, without user, path, query or fragment", cfg.URL).WithFix(serverURLFix)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, codes.Errorf(codes.InvalidArgument, "server URL %q: port %q, want 1 to 65535", cfg.URL, p).WithFix(serverURLFix)
		}
	}
	if cfg.ConnectTimeout < 0 || cfg.ReadTimeout < 0 {
		return nil, codes.Errorf(codes.InvalidArgument, "negative timeout (connect %s, read %s)", cfg.ConnectTimeout, cfg.ReadTimeout)
	}
	t := &Transport{
		url:            "https://" + u.Host,
		connectTimeout: orDefault(cfg.ConnectTimeout, DefaultConnectTimeout),
		readTimeout:    orDefault(cfg.ReadTimeout, DefaultReadTimeout),
		cert:           cfg.Certificate,
		roots:          cfg.RootCAs,
	}
	if c := cfg.Certificate; c != nil {
		if len(c.Certificate) == 0 {
			return nil, codes.Errorf(codes.ClientCert, "the client certificate holds no certificate")
		}
		t.leaf = c.Leaf
		if t.leaf == nil {
			if t.leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
				return nil, codes.Errorf(codes.ClientCert, "the client certificate does not decode: %w", err)
			}
		}
	}

	dialer := &net.Dialer{Timeout: t.connectTimeout, KeepAlive: 30 * time.Second, Resolver: cfg.Resolver}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	t.rt = &http.Transport{
		Proxy: nil, // a site server is on the site's own network
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			t.remember(handshakeFacts{}) // a new connection: forget the last one's facts
			return dialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{
			MinVersion:           tls.VersionTLS12,
			RootCAs:              cfg.RootCAs,
			GetClientCertificate: t.clientCertificate,
		},
		// A server that accepts the connection and never finishes the
		// handshake has not answered either.
		TLSHandshakeTimeout:    t.readTimeout,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		Protocols:              &protocols,
	}
	return t, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// clientCertificate answers the server's request for a client certificate.
// Go's own choice would silently send none when ours is from a CA the
// server does not list; we send it all the same, so that the server's
// alert is the real verdict, and remember the mismatch to explain it.
func (t *Transport) clientCertificate(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	h := handshakeFacts{requested: true, accepted: caNames(cri.AcceptableCAs)}
	if t.cert == nil {
		t.remember(h)
		return &tls.Certificate{}, nil // none: the server decides
	}
	h.sent = true
	if cri.SupportsCertificate(t.cert) != nil && len(cri.AcceptableCAs) > 0 && !t.issuedByAny(cri.AcceptableCAs) {
		h.wrongCA = true
	}
	t.remember(h)
	return t.cert, nil
}

// issuedByAny reports whether a certificate of our chain is issued by one
// of the CAs, given as DER-encoded subject names.
func (t *Transport) issuedByAny(cas [][]byte) bool {
	for i, der := range t.cert.Certificate {
		c := t.leaf
		if i > 0 {
			var err error
			if c, err = x509.ParseCertificate(der); err != nil {
				continue
			}
		}
		for _, ca := range cas {
			if bytes.Equal(c.RawIssuer, ca) {
				return true
			}
		}
	}
	return false
}

// caNames returns the common names (or, lacking one, the whole names) of
// DER-encoded distinguished names.
func caNames(ders [][]byte) []string {
	var out []string
	for _, der := range ders {
		var rdn pkix.RDNSequence
		if rest, err := asn1.Unmarshal(der, &rdn); err != nil || len(rest) > 0 {
			out = append(out, "(a name that does not decode)")
			continue
		}
		var n pkix.Name
		n.FillFromRDNSequence(&rdn)
		out = append(out, nameOf(n))
	}
	return out
}

func nameOf(n pkix.Name) string {
	if n.CommonName != "" {
		return n.CommonName
	}
	return n.String()
}

func (t *Transport) remember(h handshakeFacts) {
	t.mu.Lock()
	t.last = h
	t.mu.Unlock()
}

// do sends one request (method, path, JSON body or nil) and returns the
// HTTP status and body (read up to 1 MiB). A transport failure is a
// *codes.Error (see Classify) whose message names the server URL and the
// reason; an HTTP answer of any status is not an error here.
func (t *Transport) Do(ctx context.Context, method, path string, body []byte) (status int, respBody []byte, err error) {
	if !strings.HasPrefix(path, "/") {
		return 0, nil, codes.Errorf(codes.InvalidArgument, "request path %q does not start with /", path)
	}
	caller := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The read timeout runs from the request written to the body read.
	timer := time.AfterFunc(t.readTimeout, func() { cancel(errNoAnswer) })
	timer.Stop()
	defer timer.Stop()
	var reused atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn:      func(info httptrace.GotConnInfo) { reused.Store(info.Reused) },
		WroteRequest: func(httptrace.WroteRequestInfo) { timer.Reset(t.readTimeout) },
	})

	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.url+path, rd)
	if err != nil {
		return 0, nil, codes.Errorf(codes.InvalidArgument, "request %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	fail := func(err error) (int, []byte, error) {
		return 0, nil, t.classify(caller, ctx, err, !reused.Load())
	}
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return fail(err)
	}
	if len(data) > maxResponseBody {
		return 0, nil, codes.Errorf(codes.Protocol, "%s answered %s %s with more than %d bytes: not a licensor site server", t.url, method, path, maxResponseBody)
	}
	return resp.StatusCode, data, nil
}

// closeIdle closes the idle kept-alive connections.
func (t *Transport) CloseIdle() { t.rt.CloseIdleConnections() }

// classify is Classify with what the transport knows: its timeouts,
// whether the read timeout or the caller's context ended the request, and
// (when the failure came on a new connection) the facts of the handshake.
func (t *Transport) classify(caller, ctx context.Context, err error, fresh bool) *codes.Error {
	switch {
	case errors.Is(caller.Err(), context.DeadlineExceeded):
		return callerDeadline(t.url, err)
	case caller.Err() != nil:
		return callerCanceled(t.url, err)
	case context.Cause(ctx) == errNoAnswer:
		return codes.Errorf(codes.Timeout, "%s: no answer within %s to the request: %w", t.url, t.readTimeout, err).
			WithFix(fmt.Sprintf("The server accepted the connection but did not answer within the read timeout (%s): check its load and its log; raise the read timeout only if the path is known to be slow.", t.readTimeout))
	}
	c := classifier{server: t.url, connectTimeout: t.connectTimeout, readTimeout: t.readTimeout, roots: t.roots, systemRoots: t.roots == nil}
	if fresh {
		t.mu.Lock()
		h := t.last
		t.mu.Unlock()
		c.hs, c.leaf, c.now = &h, t.leaf, time.Now()
	}
	return c.classify(err)
}

// Classify turns a failure to reach server (its URL) into a *codes.Error:
//
//   - 1 protocol: the server answered in plain HTTP, or not in TLS at all;
//   - 6 resolve: the host name does not resolve;
//   - 7 connect: connection refused, host or network unreachable, closed
//     or reset before TLS;
//   - 28 timeout: the connection or the answer timed out, or the caller's
//     deadline passed;
//   - 35 tls_handshake: the server rejected the handshake (its alert is
//     named);
//   - 58 client_cert: the server requires a client certificate and got
//     none, or says ours has expired;
//   - 60 server_cert: the server's certificate is not trusted (unknown or
//     missing CA, self-signed, expired, another host name, an issuer not
//     allowed to sign certificates, a SHA-1 signature: see ChainFaults);
//   - -1 unknown: anything else, with the error's text.
//
// Errors that already carry a code are returned as they are; nil is nil.
// The SDK's own requests are classified the same way, with more facts:
// the timeouts, and whether the server asked for a client certificate
// and which CAs it accepts.
func Classify(server string, err error) *codes.Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return callerDeadline(server, err)
	case errors.Is(err, context.Canceled):
		return callerCanceled(server, err)
	}
	return classifier{server: server}.classify(err)
}

// ClassifySystemRoots is Classify for a client that verified the server
// against the system's trusted roots because no CA file was given: a
// certificate from an issuer they do not hold is said to be missing from
// them, not from a CA file.
func ClassifySystemRoots(server string, err error) *codes.Error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Classify(server, err)
	}
	if err == nil {
		return nil
	}
	return classifier{server: server, systemRoots: true}.classify(err)
}

// Reason is err's message and cause for a line that names server
// already: a failure classified here starts with its server's URL, which
// is cut. "https://a:8443: cannot connect: …" becomes "cannot connect:
// …", so that "https://a:8443: " + Reason(…) names the server once.
func Reason(server string, err error) string {
	msg := codes.As(err).Detail()
	if rest, ok := strings.CutPrefix(msg, strings.TrimRight(server, "/")+": "); ok {
		return rest
	}
	return msg
}

func callerDeadline(server string, err error) *codes.Error {
	return codes.Errorf(codes.Timeout, "%s: no answer before the caller's deadline: %w", server, err).
		WithFix("The deadline of the context given to the SDK passed first: give it more time, or check the network path to the server and the server's load.")
}

func callerCanceled(server string, err error) *codes.Error {
	return codes.Errorf(codes.Unknown, "%s: the request was canceled by the caller: %w", server, err).
		WithFix("The context given to the SDK was canceled; nothing is wrong with the server.")
}

// classifier classifies one failure. The fields beyond server are zero
// when unknown.
type classifier struct {
	server         string
	connectTimeout time.Duration
	readTimeout    time.Duration
	hs             *handshakeFacts   // the facts of the failed connection's handshake
	leaf           *x509.Certificate // our client certificate
	now            time.Time
	roots          *x509.CertPool // the CA file the server's chain was checked against
	systemRoots    bool           // no CA file: the chain was checked against the system's roots
}

func (c classifier) classify(err error) *codes.Error {
	if e, ok := errors.AsType[*codes.Error](err); ok {
		return e
	}
	if errors.Is(err, http.ErrSchemeMismatch) {
		return c.plainHTTP(err)
	}
	if rh, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		if string(rh.RecordHeader[:]) == "HTTP/" {
			return c.plainHTTP(err)
		}
		return codes.Errorf(codes.Protocol, "%s does not speak TLS: it answered with the bytes %q: %w", c.server, rh.RecordHeader[:], err).
			WithFix("Check the URL's port: another service listens there; the site server listens with HTTPS on 8443 by default.")
	}
	if d, ok := errors.AsType[*net.DNSError](err); ok {
		reason := d.Err
		if d.IsNotFound {
			reason = "no such host"
		}
		return codes.Errorf(codes.Resolve, "%s: cannot resolve the host name %q: %s: %w", c.server, d.Name, reason, err)
	}
	if e := c.serverCert(err); e != nil {
		return e
	}
	if a, ok := remoteAlert(err); ok {
		return c.rejected(a, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return callerDeadline(c.server, err)
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
			return codes.Errorf(codes.Timeout, "%s: connect timed out%s: %w", c.server, timeoutSuffix(" after", c.connectTimeout), err).
				WithFix("No answer to the connection attempt: check that the server is up and that no firewall drops packets to its port; raise the connect timeout only if the path is known to be slow.")
		}
		return codes.Errorf(codes.Timeout, "%s: no answer%s: the TLS handshake or the request did not finish: %w", c.server, timeoutSuffix(" within", c.readTimeout), err).
			WithFix("The server accepted the connection but did not answer: check that the port is the site server's (not a service that waits for the client to speak first), its load and its log.")
	}
	if op, ok := errors.AsType[*net.OpError](err); ok {
		switch op.Op {
		case "dial":
			return codes.Errorf(codes.Connect, "%s: cannot connect: %s: %w", c.server, dialReason(op), err)
		case "local error":
			return codes.Errorf(codes.TLSHandshake, "%s: the TLS handshake failed on our side: %v: %w", c.server, op.Err, err).
				WithFix("The server offered TLS parameters this client does not accept (version, cipher suites, certificate type): check the server's TLS settings and version.")
		}
	}
	if closedEarly(err) {
		if e := c.clientCertCause("closed the connection"); e != nil {
			return e
		}
		return codes.Errorf(codes.Connect, "%s: the connection was closed or reset before the server answered: %w", c.server, err).
			WithFix("Check that the port is the site server's, and that no firewall or proxy on the path cuts TLS connections; the server's log says whether it refused us.")
	}
	return codes.Errorf(codes.Unknown, "%s: %w", c.server, err)
}

func (c classifier) plainHTTP(err error) *codes.Error {
	return codes.Errorf(codes.Protocol, "%s answered in plain HTTP, not HTTPS: %w", c.server, err).
		WithFix("The port serves plain HTTP: check the port in the URL (the site server listens with HTTPS on 8443 by default), or a proxy in front of it that ends TLS.")
}

// timeoutSuffix is " after 1s", or "" when the timeout is not known.
func timeoutSuffix(word string, d time.Duration) string {
	if d == 0 {
		return ""
	}
	return word + " " + d.String()
}

// dialReason is the system's reason for a failed dial: "connection refused".
func dialReason(op *net.OpError) string {
	if se, ok := errors.AsType[*os.SyscallError](op.Err); ok {
		return se.Err.Error()
	}
	return op.Err.Error()
}

// closedEarly reports whether err says the peer closed or reset the
// connection.
func closedEarly(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// remoteAlert returns the TLS alert the server sent, if err carries one.
// crypto/tls reports it as a *net.OpError "remote error" around a value
// of its unexported alert type, a uint8 that tls.AlertError also is.
func remoteAlert(err error) (tls.AlertError, bool) {
	if a, ok := errors.AsType[tls.AlertError](err); ok {
		return a, true
	}
	op, ok := errors.AsType[*net.OpError](err)
	if !ok || op.Op != "remote error" || op.Err == nil {
		return 0, false
	}
	if v := reflect.ValueOf(op.Err); v.Kind() == reflect.Uint8 {
		return tls.AlertError(v.Uint()), true
	}
	return 0, false
}

// TLS alerts (RFC 8446 §6) that name a client certificate's fault.
const (
	alertCertificateExpired  tls.AlertError = 45
	alertCertificateRequired tls.AlertError = 116
)

func alertName(a tls.AlertError) string {
	return strings.TrimPrefix(a.Error(), "tls: ")
}

// rejected classifies the server's alert during (or, in TLS 1.3, right
// after) the handshake.
func (c classifier) rejected(a tls.AlertError, err error) *codes.Error {
	how := fmt.Sprintf("rejected the TLS handshake (alert %q)", alertName(a))
	if e := c.clientCertCause(how); e != nil {
		e.Err = err
		return e
	}
	switch a {
	case alertCertificateRequired:
		return codes.Errorf(codes.ClientCert, "%s requires a client certificate and we sent none (alert %q): %w", c.server, alertName(a), err).
			WithFix(clientCertFix)
	case alertCertificateExpired:
		return codes.Errorf(codes.ClientCert, "%s says our client certificate has expired (alert %q): %w", c.server, alertName(a), err).
			WithFix(clientCertFix)
	}
	return codes.Errorf(codes.TLSHandshake, "%s %s: %w", c.server, how, err)
}

const clientCertFix = "Issue a client certificate from the server's site CA with 'licensor pki client --dir SITE_DIR --name NAME' and configure it with its key."

// clientCertCause explains a refused handshake by what it learned of our
// client certificate, or returns nil when that explains nothing.
func (c classifier) clientCertCause(how string) *codes.Error {
	h := c.hs
	if h == nil || !h.requested {
		return nil
	}
	switch {
	case !h.sent:
		return codes.Errorf(codes.ClientCert, "%s %s: it requires a client certificate and none is configured", c.server, how).
			WithFix(clientCertFix)
	case c.leaf != nil && c.now.After(c.leaf.NotAfter):
		return codes.Errorf(codes.ClientCert, "%s %s: our client certificate %q expired at %s", c.server, how, c.leaf.Subject.CommonName, c.leaf.NotAfter.UTC().Format(time.RFC3339)).
			WithFix("Issue a fresh client certificate with 'licensor pki client --dir SITE_DIR --name NAME' and configure it with its key.")
	case h.wrongCA && c.leaf != nil:
		ours := nameOf(c.leaf.Issuer)
		theirs := quoteAll(h.accepted)
		return codes.Errorf(codes.TLSHandshake, "%s %s: client certificate %q is issued by %q; the server accepts certificates from %s",
			c.server, how, c.leaf.Subject.CommonName, ours, theirs).
			WithFix(fmt.Sprintf("Issue a client certificate from the server's site CA (%s) with 'licensor pki client --dir SITE_DIR --name NAME', where SITE_DIR holds that CA; or give the server the CA %q that issued ours.", theirs, ours))
	}
	return nil
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

const reissueServer = "'licensor pki server --dir SITE_DIR'"

// serverCert classifies our refusal of the server's certificate, or
// returns nil when err is not one.
func (c classifier) serverCert(err error) *codes.Error {
	if h, ok := errors.AsType[x509.HostnameError](err); ok && h.Certificate != nil {
		names := certNames(h.Certificate)
		covers := "no host name"
		if len(names) > 0 {
			covers = strings.Join(names, ", ")
		}
		return codes.Errorf(codes.ServerCert, "%s: the server certificate covers %s, not %s, the host in the URL: %w", c.server, covers, h.Host, err).
			WithFix(fmt.Sprintf("Use a server URL with a host the certificate covers, or reissue the server certificate for %s with 'licensor pki server --dir SITE_DIR --hosts %s,…'.", h.Host, h.Host))
	}
	if ci, ok := errors.AsType[x509.CertificateInvalidError](err); ok && ci.Cert != nil {
		cn := ci.Cert.Subject.CommonName
		if ci.Reason == x509.Expired {
			if time.Now().Before(ci.Cert.NotBefore) {
				return codes.Errorf(codes.ServerCert, "%s: the server certificate %q is not valid yet: its validity starts %s: %w", c.server, cn, ci.Cert.NotBefore.UTC().Format(time.RFC3339), err).
					WithFix("Check the clocks of this host and of the server (NTP); if they are right, reissue the server certificate with " + reissueServer + ".")
			}
			return codes.Errorf(codes.ServerCert, "%s: the server certificate %q expired on %s: %w", c.server, cn, ci.Cert.NotAfter.UTC().Format(time.RFC3339), err).
				WithFix("Reissue the server certificate with " + reissueServer + " and restart the server; if the date looks wrong, check this host's clock.")
		}
		return codes.Errorf(codes.ServerCert, "%s: the server certificate %q is not valid: %w", c.server, cn, err).
			WithFix("Reissue the server certificate with " + reissueServer + ".")
	}
	if e := c.chainFault(err); e != nil {
		return e
	}
	if ua, ok := errors.AsType[x509.UnknownAuthorityError](err); ok && ua.Cert != nil {
		cert := ua.Cert
		if bytes.Equal(cert.RawIssuer, cert.RawSubject) && c.systemRoots {
			return codes.Errorf(codes.ServerCert, "%s: the server certificate %q is self-signed, and no CA file was given: the system's trusted roots do not contain it: %w", c.server, nameOf(cert.Subject), err).
				WithFix("Give the CA file that vouches for the server (--ca on the command line, upstream_ca in the site server's configuration): the server's own certificate if it is self-signed, or the CA that issued it.")
		}
		if bytes.Equal(cert.RawIssuer, cert.RawSubject) {
			return codes.Errorf(codes.ServerCert, "%s: the server certificate %q is self-signed, not issued by the site CA: %w", c.server, nameOf(cert.Subject), err).
				WithFix("Start the server with the certificate 'licensor pki init' or " + reissueServer + " wrote, and give this client that site's ca.crt.")
		}
		if c.systemRoots {
			return codes.Errorf(codes.ServerCert, "%s: the server certificate %q is issued by %q, which the system's trusted roots do not contain (no CA file was given): %w", c.server, nameOf(cert.Subject), nameOf(cert.Issuer), err).
				WithFix("Give the CA file of the CA that issued the server's certificate (--ca on the command line, upstream_ca in the site server's configuration), or install that CA in this host's trusted roots; if the server's certificate comes from an intermediate CA, the server must send it after its own certificate.")
		}
		return codes.Errorf(codes.ServerCert, "%s: the server certificate %q is issued by %q, which the CA file does not contain: a missing intermediate or another CA: %w", c.server, nameOf(cert.Subject), nameOf(cert.Issuer), err).
			WithFix("If the server's certificate comes from an intermediate CA, make the server send it after its own certificate; otherwise give this client the ca.crt of the site that issued the server's certificate, or reissue that certificate from this site's CA with " + reissueServer + ".")
	}
	if _, ok := errors.AsType[x509.SystemRootsError](err); ok {
		return codes.Errorf(codes.ServerCert, "%s: no CA to verify the server certificate with: %w", c.server, err).
			WithFix("Give the client the site CA file (ca.crt).")
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return codes.Errorf(codes.ServerCert, "%s: the server certificate does not verify: %w", c.server, err)
	}
	return nil
}

// reissueServerFix is the sentence that says how to replace the server
// certificate with one from the site CA.
const reissueServerFix = "Issue a new server certificate from the site CA with " + reissueServer + " and restart the server with it."

// chainFault classifies a refusal of the server's chain that Go's
// verifier calls an unknown authority, or an insecure algorithm, when the
// chain itself says the real cause (see ChainFaults); it returns nil
// when it does not.
func (c classifier) chainFault(err error) *codes.Error {
	var chain []*x509.Certificate
	ua, isUA := errors.AsType[x509.UnknownAuthorityError](err)
	_, isInsecure := errors.AsType[x509.InsecureAlgorithmError](err)
	if !isUA && !isInsecure {
		return nil
	}
	if cv, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		chain = cv.UnverifiedCertificates
	} else if ua.Cert != nil {
		chain = []*x509.Certificate{ua.Cert}
	}
	faults := ChainFaults(chain, c.roots)
	if len(faults) == 0 {
		return nil
	}
	var reasons, fixes []string
	for _, f := range faults {
		what := fmt.Sprintf("the server certificate %q", certName(f.Cert))
		if f.Index > 0 {
			what = fmt.Sprintf("certificate %d of the server's chain, %q,", f.Index+1, certName(f.Cert))
		}
		reasons = append(reasons, what+" "+f.Reason())
		if fix := f.Fix(reissueServerFix); !slices.Contains(fixes, fix) {
			fixes = append(fixes, fix)
		}
	}
	return codes.Errorf(codes.ServerCert, "%s: %s: %w", c.server, strings.Join(reasons, "; and "), err).
		WithFix(strings.Join(fixes, " "))
}

// certNames returns the host names and addresses a certificate covers.
func certNames(c *x509.Certificate) []string {
	out := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}
