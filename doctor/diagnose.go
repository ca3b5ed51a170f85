package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keyfile"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/sdk"
)

// Options are what the doctor is told about.
type Options struct {
	Servers                   []string
	CAFile, CertFile, KeyFile string
	LicenseFile, VendorPub    string
	OfflineKeyFile            string // an offline key file to check
	Product                   string // for the license and key file checks and the round trip
	LogFile                   string
	// Journal is a systemd unit whose journal is scanned from LogSince
	// ago (24 h when 0) on.
	Journal  string
	LogSince time.Duration
	// Only, when set, reports only the checks of that name.
	Only string

	Now            func() time.Time
	Fingerprint    func() (*fingerprint.Fingerprint, error)
	Hostname       string
	ConnectTimeout time.Duration // 1 s
	ReadTimeout    time.Duration // 3 s
	// SkewWarn and SkewFail bound the clock difference with a server (30 s, 5 min).
	SkewWarn, SkewFail time.Duration
	// Resolver replaces the system resolver (tests stay on the machine).
	Resolver *net.Resolver
	// TokenModule, when set, runs the hardware token checks
	// (DiagnoseHWTokens) on that PKCS#11 module, with the PIN in
	// TokenPINFile (or LICENSOR_TOKEN_PIN) and the license's token key.
	TokenModule, TokenPINFile string
	TokenTimeout              time.Duration
}

// CheckNames lists every check in the order they run.
var CheckNames = []string{"ca-file", "client-cert", "license", "key-file", "token-module", "token-present", "token-key", "resolve", "tcp", "tls", "server-cert", "client-ca-accepted", "clock-skew", "round-trip", "log-scan"}

// Diagnose runs the checks and returns the report.
func Diagnose(ctx context.Context, o Options) *Report {
	o.defaults()
	d := &diagnosis{o: o}
	d.local(ctx)
	if o.TokenModule != "" {
		d.add(DiagnoseHWTokens(ctx, HWTokenOptions{Module: o.TokenModule, Timeout: o.TokenTimeout, PINFile: o.TokenPINFile,
			LicenseFile: o.LicenseFile, VendorPub: o.VendorPub})...)
	}
	for _, u := range o.Servers {
		d.server(ctx, u)
	}
	if o.LogFile != "" {
		d.add(ScanLog(o.LogFile, o.Now()))
	}
	if o.Journal != "" {
		since := o.LogSince
		if since <= 0 {
			since = 24 * time.Hour
		}
		d.add(ScanJournal(ctx, "", o.Journal, o.Now().Add(-since)))
	}
	rep := &Report{Checks: d.results, OK: true}
	for _, r := range rep.Checks {
		if r.Status == Fail {
			rep.OK = false
		}
	}
	return rep
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = sdk.DefaultConnectTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = sdk.DefaultReadTimeout
	}
	if o.SkewWarn == 0 {
		o.SkewWarn = 30 * time.Second
	}
	if o.SkewFail == 0 {
		o.SkewFail = 5 * time.Minute
	}
	if o.Fingerprint == nil {
		o.Fingerprint = fingerprint.Collect
	}
}

type diagnosis struct {
	o       Options
	results []Result
	pool    *x509.CertPool
	cert    *tls.Certificate
}

func (d *diagnosis) add(rs ...Result) {
	for _, r := range rs {
		if d.o.Only == "" || r.Name == d.o.Only {
			d.results = append(d.results, r)
		}
	}
}

// local checks what needs no server: the CA file, the client certificate,
// the license.
func (d *diagnosis) local(ctx context.Context) {
	o := d.o
	if o.CAFile != "" {
		pool, r := ExplainCAFileAt(o.CAFile, o.Now())
		d.add(r)
		if r.Status != Fail {
			d.pool = pool
		}
	} else if len(o.Servers) > 0 {
		d.add(Result{Name: "ca-file", Status: Fail, Code: int(codes.CAFile), Found: "no CA file given (--ca)",
			Fix: "Give the site CA file the server's certificate chains to: 'licensor pki init' wrote it as ca.crt."})
	}
	if o.CertFile != "" || o.KeyFile != "" {
		cert, err := pki.LoadClientCertificate(o.CertFile, o.KeyFile, o.Now())
		if err != nil {
			d.add(fail("client-cert", err))
		} else {
			d.cert = &cert
			rep := ExplainChain(certChain(cert), ChainOptions{Client: true, Now: o.Now(), Roots: d.pool})
			r := summarize("client-cert", rep, fmt.Sprintf("%q, role %s, expires %s", cert.Leaf.Subject.CommonName, roleOf(cert.Leaf), cert.Leaf.NotAfter.UTC().Format(time.RFC3339)))
			d.add(r)
		}
	} else if len(o.Servers) > 0 {
		d.add(Result{Name: "client-cert", Status: Fail, Code: int(codes.ClientCert), Found: "no client certificate given (--cert, --key)",
			Fix: "The site server requires a client certificate: 'licensor pki client --dir SITE_DIR --name NAME --role instance'."})
	}
	if o.LicenseFile != "" {
		d.add(d.license())
	}
	if o.OfflineKeyFile != "" {
		d.add(d.keyFile())
	}
}

// keyFile checks an offline key file as the product will: the chain, this
// host, the clock against the high-water mark the product keeps, the
// dates (fewer than 5 days left warns), the products. It writes nothing.
func (d *diagnosis) keyFile() Result {
	o := d.o
	const name = "key-file"
	if o.VendorPub == "" {
		return Result{Name: name, Status: Fail, Code: int(codes.InvalidArgument), Found: "no vendor public key given (--vendor-pub)",
			Fix: "Give the vendor's public key the license in the key file was signed with."}
	}
	vendor, err := keys.LoadPublic(o.VendorPub)
	if err != nil {
		return fail(name, err)
	}
	now := o.Now()
	in := keyfile.Inspect(o.OfflineKeyFile, vendor, keyfile.Checks{Host: o.Fingerprint, Product: o.Product, Now: now})
	ok := ""
	if c := in.Claims; c != nil {
		_, _, expires := c.Times()
		ok = fmt.Sprintf("%s: bound to this host %s, valid until %s UTC (%s left), products %s",
			o.OfflineKeyFile, c.Machine, license.FormatTime(expires), license.DaysLeft(expires.Sub(now)), strings.Join(c.Subjects(), ", "))
	}
	return fromReport(name, &in.Report, ok)
}

// fromReport folds a verification into one Result: the first failure, or
// else the first warning, says what was found; every stage is a line of
// details, and the stages themselves go along for --json.
func fromReport(name string, rep *license.Report, ok string) Result {
	r := Result{Name: name, Status: Pass, Found: ok, Stages: rep.Stages}
	if st, failed := rep.Failed(); failed {
		r.Status, r.Code, r.Found, r.Fix = Fail, int(st.Code), st.Label()+": "+st.Found, st.Fix
	} else if st, warned := rep.Warned(); warned {
		r.Status, r.Code, r.Found, r.Fix = Warn, int(st.Code), st.Label()+": "+st.Found, st.Fix
	}
	for _, st := range rep.Stages {
		line := fmt.Sprintf("%s %s: %s", st.Outcome, st.Label(), st.Found)
		if st.Code != 0 {
			line = fmt.Sprintf("%s %s: code=%d %s: %s", st.Outcome, st.Label(), int(st.Code), st.Code.Name(), st.Found)
		}
		r.Details = append(r.Details, line)
	}
	return r
}

func certChain(c tls.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, der := range c.Certificate {
		if x, err := x509.ParseCertificate(der); err == nil {
			out = append(out, x)
		}
	}
	return out
}

func roleOf(c *x509.Certificate) string {
	r, err := pki.RoleOf(c)
	if err != nil {
		return "none"
	}
	return string(r)
}

// summarize folds a chain report into one Result named name.
func summarize(name string, rep *ChainReport, ok string) Result {
	r := Result{Name: name, Status: Pass, Found: ok}
	for _, c := range rep.Checks {
		switch c.Status {
		case Fail:
			if r.Status != Fail {
				r.Status, r.Code, r.Found, r.Fix = Fail, c.Code, c.Name+": "+c.Found, c.Fix
			} else {
				r.Details = append(r.Details, c.Name+": "+c.Found)
			}
		case Warn:
			if r.Status == Pass {
				r.Status, r.Code, r.Fix = Warn, c.Code, c.Fix
			}
			r.Details = append(r.Details, c.Name+": "+c.Found)
		}
	}
	return r
}

// license checks the license file: signature, this machine, each
// product's dates (fewer than 30 days left warns), and what QPS control
// asks of the clients.
func (d *diagnosis) license() Result {
	o := d.o
	const name = "license"
	if o.VendorPub == "" {
		return Result{Name: name, Status: Fail, Code: int(codes.InvalidArgument), Found: "no vendor public key given (--vendor-pub)",
			Fix: "Give the vendor's public key the license was signed with."}
	}
	vendor, err := keys.LoadPublic(o.VendorPub)
	if err != nil {
		return fail(name, err)
	}
	in := license.Inspect(o.LicenseFile, vendor, license.Checks{Host: o.Fingerprint, Product: o.Product, Now: o.Now()})
	l := in.License
	ok := ""
	if l != nil {
		ok = fmt.Sprintf("license %s for %s, signed by vendor key %s", l.ID, l.Holder, in.Signed.KeyID)
	}
	r := fromReport(name, &in.Report, ok)
	if st, _ := in.Stage(license.StageMachine); st.Outcome == license.Fail {
		r.Details = append(r.Details, "run the doctor with --license on the site server's host: the license binds that machine")
	}
	if l != nil {
		for _, p := range l.Products {
			if p.QPS > 0 {
				r.Details = append(r.Details, fmt.Sprintf("product %s has QPS control (qps=%d): clients must run in async mode (LICENSOR_ASYNC=1), sync clients get 504", p.Subject, p.QPS))
			}
		}
	}
	return r
}

// server runs the network checks against one server, in order; each
// needs the one before it.
func (d *diagnosis) server(ctx context.Context, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		d.add(Result{Name: "resolve", Status: Fail, Code: int(codes.InvalidArgument), Found: fmt.Sprintf("%q is not an https://HOST:PORT URL", raw),
			Fix: "Give the server as https://HOST:PORT (8443 by default)."})
		return
	}
	p := &probe{d: d, raw: raw, host: u.Hostname(), port: u.Port()}
	if p.port == "" {
		p.port = "443"
	}
	at := func(r Result) Result { r.Found = raw + ": " + r.Found; return r }
	d.add(runChecks(ctx, []Check{
		{Name: "resolve", Run: p.resolve},
		{Name: "tcp", Needs: []string{"resolve"}, Run: p.tcp},
		{Name: "tls", Needs: []string{"tcp"}, Run: p.tls},
		{Name: "server-cert", Needs: []string{"tls"}, Run: p.serverCert},
		{Name: "client-ca-accepted", Needs: []string{"tls"}, Run: p.clientCA},
		{Name: "clock-skew", Needs: []string{"client-ca-accepted"}, Run: func(ctx context.Context) Result { return d.clockSkew(ctx, raw) }},
		{Name: "round-trip", Needs: []string{"client-ca-accepted"}, Run: func(ctx context.Context) Result { return d.roundTrip(ctx, raw) }},
	}, at)...)
}

// probe is what the server checks learn, each from the one before.
type probe struct {
	d          *diagnosis
	raw        string
	host, port string
	addrs      []string
	conn       net.Conn
	state      tls.ConnectionState
	asked      bool
	accepted   [][]byte
	herr       error
}

func (p *probe) resolve(ctx context.Context) Result {
	if ip := net.ParseIP(p.host); ip != nil {
		p.addrs = []string{p.host}
		return pass("resolve", "%s is an IP address", p.host)
	}
	rctx, cancel := context.WithTimeout(ctx, p.d.o.ConnectTimeout)
	defer cancel()
	res := p.d.o.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	addrs, err := res.LookupHost(rctx, p.host)
	if err != nil {
		return fail("resolve", codes.Errorf(codes.Resolve, "%s does not resolve: %v", p.host, err))
	}
	p.addrs = addrs
	return pass("resolve", "%s resolves to %s", p.host, strings.Join(addrs, ", "))
}

func (p *probe) tcp(ctx context.Context) Result {
	o := p.d.o
	dialer := &net.Dialer{Timeout: o.ConnectTimeout, Resolver: o.Resolver}
	addr := net.JoinHostPort(p.addrs[0], p.port)
	start := time.Now()
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		c := sdk.Classify(p.raw, err)
		r := fail("tcp", c)
		switch {
		case c.Code == codes.Timeout:
			r.Found = fmt.Sprintf("connecting to %s timed out after %s: a firewall drops the packets, or the host is down", addr, o.ConnectTimeout)
		case strings.Contains(err.Error(), "refused"):
			r.Found = fmt.Sprintf("%s refused the connection: nothing listens on port %s", addr, p.port)
		case strings.Contains(err.Error(), "unreachable"):
			r.Found = fmt.Sprintf("%s is unreachable: no route to the host", addr)
		}
		return r
	}
	p.conn = conn
	return pass("tcp", "connected to %s in %s", addr, time.Since(start).Round(time.Microsecond))
}

// tls: does the port speak TLS, what chain does it present, which CAs
// does it accept client certificates from?
func (p *probe) tls(ctx context.Context) Result {
	tcfg := &tls.Config{
		ServerName:         p.host,
		InsecureSkipVerify: true, // the chain is checked by server-cert, with reasons
		MinVersion:         tls.VersionTLS12,
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			p.asked, p.accepted = true, cri.AcceptableCAs
			if p.d.cert != nil {
				return p.d.cert, nil
			}
			return &tls.Certificate{}, nil
		},
	}
	tc := tls.Client(p.conn, tcfg)
	p.conn.SetDeadline(time.Now().Add(p.d.o.ReadTimeout))
	herr := tc.HandshakeContext(ctx)
	p.state = tc.ConnectionState()
	if herr == nil {
		// A server that refuses our certificate says so after the
		// handshake in TLS 1.3: read once to hear its alert.
		tc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		var b [1]byte
		if _, err := tc.Read(b[:]); err != nil && !isTimeout(err) && !errors.Is(err, net.ErrClosed) {
			herr = err
		}
	}
	tc.Close()
	p.herr = herr
	var rh tls.RecordHeaderError
	switch {
	case errors.As(herr, &rh):
		return fail("tls", codes.Errorf(codes.Protocol, "port %s does not speak TLS (it answered %q): plain HTTP, or another service", p.port, printable(rh.RecordHeader[:])))
	case len(p.state.PeerCertificates) == 0 && herr != nil:
		return fail("tls", sdk.Classify(p.raw, herr))
	}
	return pass("tls", "%s, %s", tls.VersionName(p.state.Version), tls.CipherSuiteName(p.state.CipherSuite))
}

func (p *probe) serverCert(ctx context.Context) Result {
	leaf := p.state.PeerCertificates[0]
	rep := ExplainChain(p.state.PeerCertificates, ChainOptions{Roots: p.d.pool, Host: p.host, Now: p.d.o.Now()})
	return summarize("server-cert", rep, fmt.Sprintf("%q issued by %q, valid until %s, covers %s", leaf.Subject.CommonName,
		leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339), p.host))
}

// clientCA: when the handshake failed, the checks that need a working
// connection (clock-skew, round-trip) are skipped, whatever it found.
func (p *probe) clientCA(ctx context.Context) Result {
	r := p.d.clientCAAccepted(p.asked, p.accepted, p.herr)
	r.blocks = p.herr != nil
	return r
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < 32 || r > 126 {
			return '.'
		}
		return r
	}, string(b))
}

// clientCAAccepted compares our certificate's issuer with the CAs the
// server's CertificateRequest lists: the bad_certificate case.
func (d *diagnosis) clientCAAccepted(asked bool, accepted [][]byte, herr error) Result {
	const name = "client-ca-accepted"
	if !asked {
		return warn(name, codes.TLSHandshake, "the server did not ask for a client certificate: it does not enforce mutual TLS", "Serve with 'licensor serve', which requires client certificates.")
	}
	var names []string
	for _, raw := range accepted {
		var rdn pkix.RDNSequence
		if _, err := asn1.Unmarshal(raw, &rdn); err == nil {
			var n pkix.Name
			n.FillFromRDNSequence(&rdn)
			names = append(names, fmt.Sprintf("%q", n.CommonName))
		}
	}
	if d.cert == nil {
		return Result{Name: name, Status: Fail, Code: int(codes.ClientCert), Found: "the server requires a client certificate and none was given",
			Fix: "Give the client certificate and key (--cert, --key) issued by the site CA."}
	}
	ours := d.cert.Leaf.Issuer.CommonName
	match := len(accepted) == 0 // a server that lists no CAs accepts any it can verify
	for _, raw := range accepted {
		if string(raw) == string(d.cert.Leaf.RawIssuer) {
			match = true
		}
	}
	if !match {
		return Result{Name: name, Status: Fail, Code: int(codes.TLSHandshake),
			Found: fmt.Sprintf("our client certificate %q is issued by %q; the server accepts certificates from %s", d.cert.Leaf.Subject.CommonName, ours, strings.Join(names, ", ")),
			Fix:   "Issue the client certificate from the server's site CA ('licensor pki client --dir SITE_DIR --name NAME --role instance'), or give the server the CA that issued it."}
	}
	if herr != nil {
		return fail(name, sdk.Classify("", herr))
	}
	return pass(name, "the server accepts certificates from %s; ours is issued by %q", strings.Join(names, ", "), ours)
}

// clockSkew compares this host's clock with the server's Date header.
func (d *diagnosis) clockSkew(ctx context.Context, raw string) Result {
	const name = "clock-skew"
	cfg := &tls.Config{RootCAs: d.pool, MinVersion: tls.VersionTLS12}
	if d.cert != nil {
		cfg.Certificates = []tls.Certificate{*d.cert}
	}
	hc := &http.Client{Timeout: d.o.ConnectTimeout + d.o.ReadTimeout, Transport: &http.Transport{TLSClientConfig: cfg, DialContext: (&net.Dialer{Resolver: d.o.Resolver}).DialContext}}
	defer hc.CloseIdleConnections()
	before := d.o.Now()
	resp, err := hc.Get(raw + api.PathHealth)
	if err != nil {
		return fail(name, sdk.Classify(raw, err))
	}
	resp.Body.Close()
	after := d.o.Now()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return Result{Name: name, Status: Skip, Found: "the server sent no Date header"}
	}
	// The Date header counts whole seconds: the server's clock read
	// between date and date+1s, at some moment between before and after
	// on ours. A difference inside that window is below what this
	// measurement can see, so the clocks are in sync as far as it can
	// tell; outside it, the nearest edge is the least the clocks differ.
	rtt := after.Sub(before)
	lo, hi := before.Sub(date.Add(time.Second)), after.Sub(date)
	window := fmt.Sprintf("the server's Date header counts whole seconds and the round trip took %s", rtt.Round(time.Millisecond))
	if lo <= 0 && hi >= 0 {
		return pass(name, "this host's clock and the server's agree to within the measurement's resolution (%s)", window)
	}
	skew, way := lo, "ahead of"
	if hi < 0 {
		skew, way = -hi, "behind"
	}
	desc := fmt.Sprintf("this host's clock is at least %s %s the server's (%s)", license.DaysLeft(skew), way, window)
	switch {
	case skew > d.o.SkewFail:
		return Result{Name: name, Status: Fail, Code: int(codes.ClockSkew), Found: desc + fmt.Sprintf("; more than %s", license.DaysLeft(d.o.SkewFail)), Fix: codeFix(codes.ClockSkew)}
	case skew > d.o.SkewWarn:
		return warn(name, codes.ClockSkew, desc, "")
	}
	return pass(name, "%s; within %s", desc, license.DaysLeft(d.o.SkewWarn))
}

func codeFix(c codes.Code) string {
	in, _ := c.Info()
	return in.Fix
}

// roundTrip authorizes once through the SDK, as a product would.
func (d *diagnosis) roundTrip(ctx context.Context, raw string) Result {
	const name = "round-trip"
	o := d.o
	if o.Product == "" || o.VendorPub == "" || d.cert == nil {
		return skip(name, "give --product, --vendor-pub and a client certificate to authorize once through the SDK")
	}
	c, err := sdk.New(sdk.Config{Servers: []string{raw}, CAFile: o.CAFile, CertFile: o.CertFile, KeyFile: o.KeyFile, VendorKeyFile: o.VendorPub,
		Product: o.Product, InstanceID: "licensor-doctor-" + o.Hostname, ConnectTimeout: o.ConnectTimeout, ReadTimeout: o.ReadTimeout,
		Logger: discard})
	if err != nil {
		return fail(name, err)
	}
	defer c.Close()
	if err := c.Authorize(ctx); err != nil {
		return fail(name, err)
	}
	st := c.Status()
	return pass(name, "authorized %s: verdict checked from the vendor key to the server key; seat %d of %d (released)", st.Product, st.Held, st.Limit)
}
