// Package sdk is what a protected product links: it asks the site license
// server whether this copy may run, and answers with nil or a *codes.Error
// that says exactly what is wrong and how to fix it.
//
// Two modes:
//
//   - sync: each Authorize asks a server (one round trip over mutual TLS,
//     kept alive).
//   - async: the SDK registers, heartbeats and refreshes the verdict in the
//     background; Authorize answers from memory in nanoseconds. A verdict
//     not refreshed for 10 minutes is stale (507); a refresher that has
//     stopped is 506. A product licensed with QPS control must run in async
//     mode (504 otherwise); its calls are spent locally from the share the
//     server grants (505 past it).
//
// Every answer is checked along the chain of trust: the vendor key (built
// into the product) signs the license, the license names the site server's
// key, and that key signs the verdict, which is bound to this instance, this
// product, this license and this request: every request, sync or async,
// carries a fresh nonce the verdict must echo. In async mode most
// heartbeats ask for the renewal alone, which the server does not sign;
// the SDK asks for a new verdict when the one it holds is StaleAfter/4
// old, and a renewal never extends the time a verdict is trusted (see
// the refresher's rule in async.go). A failure answer is never
// ok: a body whose code is 0, not in the table, or not the one its HTTP
// status goes with is a weird reply (8).
//
// Several servers may be given: a failed one is skipped and probed in the
// background until it answers again; when all fail, 2012.
//
// The package imports no server, store, SQL driver or CLI code; a test
// holds it to that.
package sdk

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/transport"
	"github.com/licensor/licensor/jws"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/verdict"
)

// Defaults.
const (
	DefaultConnectTimeout = transport.DefaultConnectTimeout
	DefaultReadTimeout    = transport.DefaultReadTimeout
	DefaultProbeInterval  = 500 * time.Millisecond
	DefaultStaleAfter     = 10 * time.Minute
	DefaultExpiryWarning  = 30 * 24 * time.Hour
	// clockSkew is how far the server's and this host's clocks may differ.
	clockSkew = 5 * time.Minute
)

// Config configures a Client. Servers, the three TLS files, the vendor
// key and Product are required.
type Config struct {
	// Servers are the site servers' URLs, tried in order.
	Servers []string
	// CAFile vouches for the servers; CertFile and KeyFile are this
	// instance's client certificate (role instance) and key.
	CAFile, CertFile, KeyFile string
	// VendorPublicKey is the vendor's key, built into the product; or
	// VendorKeyFile names a PEM file holding it.
	VendorPublicKey ed25519.PublicKey
	VendorKeyFile   string
	// Product is the licensed product this copy is.
	Product string
	// InstanceID names this instance; keep it stable across restarts so a
	// restart resumes its seat. Default: the host name and the product,
	// which is right for one instance per host.
	InstanceID string
	// Async selects async mode.
	Async bool
	// ConnectTimeout (1 s) and ReadTimeout (3 s) bound each request.
	ConnectTimeout, ReadTimeout time.Duration
	// ProbeInterval is how often servers are probed (500 ms).
	ProbeInterval time.Duration
	// StaleAfter is how old an async verdict may be (10 minutes).
	StaleAfter time.Duration
	// ExpiryWarning is how long before the license ends OnExpiryApproaching
	// fires (30 days).
	ExpiryWarning time.Duration

	// OnConnectError is called when a server cannot be reached.
	OnConnectError func(server string, err error)
	// OnStateChange is called when the answer turns from authorized to
	// denied or back; err is nil when authorized. It is called once more
	// when the client is closed, with an err that wraps ErrClosed.
	OnStateChange func(authorized bool, err error)
	// OnExpiryApproaching is called (at most daily) when the product's
	// license ends within ExpiryWarning.
	OnExpiryApproaching func(product string, notAfter time.Time)

	// Clock and Logger default to the system clock and slog.Default().
	Clock  clock.Clock
	Logger *slog.Logger

	resolver *net.Resolver // tests: a resolver that stays on the machine
}

// The environment FromEnv reads.
var envKeys = map[string]string{
	"LICENSOR_SERVERS":         "comma-separated server URLs",
	"LICENSOR_ASYNC":           "1 or true for async mode",
	"LICENSOR_CA":              "the site CA file",
	"LICENSOR_CERT":            "this instance's client certificate",
	"LICENSOR_KEY":             "its private key",
	"LICENSOR_VENDOR_PUB":      "the vendor's public key file",
	"LICENSOR_PRODUCT":         "the product name",
	"LICENSOR_INSTANCE_ID":     "this instance's id",
	"LICENSOR_CONNECT_TIMEOUT": "e.g. 1s",
	"LICENSOR_READ_TIMEOUT":    "e.g. 3s",
}

// notForTheSDK are licensor's own variables for its other parts, which a
// product's environment may hold: FromEnv leaves them alone.
var notForTheSDK = map[string]bool{
	"LICENSOR_TOKEN_PIN": true, // the site server's hardware token PIN
}

// FromEnv reads a Config from LICENSOR_* environment variables; an unknown
// LICENSOR_ variable or an invalid value is an error naming it.
func FromEnv() (Config, error) {
	return configFromEnv(os.Environ())
}

func configFromEnv(environ []string) (Config, error) {
	var c Config
	bad := func(k, format string, args ...any) (Config, error) {
		return Config{}, codes.Errorf(codes.ConfigInvalid, "%s: "+format, append([]any{k}, args...)...)
	}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "LICENSOR_") || notForTheSDK[k] {
			continue
		}
		if _, ok := envKeys[k]; !ok {
			known := make([]string, 0, len(envKeys))
			for name := range envKeys {
				known = append(known, name)
			}
			return bad(k, "unknown setting (known: %s)", strings.Join(sortStrings(known), ", "))
		}
		switch k {
		case "LICENSOR_SERVERS":
			for _, u := range strings.Split(v, ",") {
				if u = strings.TrimSpace(u); u != "" {
					c.Servers = append(c.Servers, u)
				}
			}
		case "LICENSOR_ASYNC":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad(k, "%q: want 1, 0, true or false", v)
			}
			c.Async = b
		case "LICENSOR_CA":
			c.CAFile = v
		case "LICENSOR_CERT":
			c.CertFile = v
		case "LICENSOR_KEY":
			c.KeyFile = v
		case "LICENSOR_VENDOR_PUB":
			c.VendorKeyFile = v
		case "LICENSOR_PRODUCT":
			c.Product = v
		case "LICENSOR_INSTANCE_ID":
			c.InstanceID = v
		case "LICENSOR_CONNECT_TIMEOUT", "LICENSOR_READ_TIMEOUT":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return bad(k, "%q: want a duration such as 1s", v)
			}
			if k == "LICENSOR_CONNECT_TIMEOUT" {
				c.ConnectTimeout = d
			} else {
				c.ReadTimeout = d
			}
		}
	}
	return c, nil
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// keyFileSeatPrefix begins the ids of key-file hosts' seats, which the
// server refuses as instance ids (store.KeyFileSeatPrefix; the SDK does
// not import the store).
const keyFileSeatPrefix = "keyfile:"

// Client authorizes one instance of one product.
type Client struct {
	cfg     Config
	clock   clock.Clock
	log     *slog.Logger
	vendor  ed25519.PublicKey
	servers []*server

	mu      sync.Mutex // guards the fields below and the license
	lic     *license.License
	licRaw  string
	current int // index of the server holding our lease (async)
	warned  time.Time
	last    Status

	state  atomic.Pointer[state]
	bucket *bucket

	stop     chan struct{}
	wg       sync.WaitGroup
	closed   atomic.Bool
	seated   atomic.Bool   // a server granted this client a seat
	refreshC chan struct{} // asks the refresher to act now
	// verdictAlways is set when a server refused a heartbeat asking for
	// the renewal alone, as servers older than renewals do.
	verdictAlways atomic.Bool
}

// server is one site server as the client sees it.
type server struct {
	url string
	t   *transport.Transport
	up  atomic.Bool
	err atomic.Pointer[codes.Error] // why it is down
}

// state is the async answer, swapped whole.
type state struct {
	err *codes.Error // nil: authorized
	// refreshed is when the last verdict was accepted: signed, and bound
	// to the nonce of a request sent just before. Staleness counts from
	// it, and a renewal without a verdict never moves it.
	refreshed time.Time
	expires   time.Time // the lease's expiry, which renewals move
	qps       bool
	share     float64 // the QPS share the last verdict signed
	// verdictDue makes the next refresh ask for a verdict whatever its
	// age (a renewal came from another server, or offered a larger share).
	verdictDue bool
}

// New checks cfg, loads the certificates and keys, and in async mode
// registers and starts the refresher (New returns even when no server
// answers; Authorize then says why).
func New(cfg Config) (*Client, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, clock: cfg.Clock, log: cfg.Logger, stop: make(chan struct{}), refreshC: make(chan struct{}, 1)}
	var err error
	if c.vendor = cfg.VendorPublicKey; c.vendor == nil {
		if c.vendor, err = keys.LoadPublic(cfg.VendorKeyFile); err != nil {
			return nil, err
		}
	}
	pool, err := pki.LoadCertPool(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	cert, err := pki.LoadClientCertificate(cfg.CertFile, cfg.KeyFile, c.clock.Now())
	if err != nil {
		return nil, err
	}
	for _, u := range cfg.Servers {
		t, err := transport.New(transport.Config{URL: u, RootCAs: pool, Certificate: &cert, ConnectTimeout: cfg.ConnectTimeout, ReadTimeout: cfg.ReadTimeout, Resolver: cfg.resolver})
		if err != nil {
			return nil, err
		}
		s := &server{url: u, t: t}
		s.up.Store(true)
		c.servers = append(c.servers, s)
	}
	c.state.Store(&state{err: codes.Errorf(codes.Stale, "no verdict yet: the SDK has not reached a server")})
	c.wg.Go(c.probe)
	if cfg.Async {
		c.bucket = newBucket()
		c.refresh(context.Background()) // the first answer, before New returns
		c.wg.Go(c.refresher)
		c.wg.Go(c.refiller)
	}
	return c, nil
}

// fill checks cfg and sets the defaults.
func (cfg *Config) fill() error {
	bad := func(field, format string, args ...any) error {
		return codes.Errorf(codes.ConfigInvalid, "%s: "+format, append([]any{field}, args...)...)
	}
	switch {
	case len(cfg.Servers) == 0:
		return bad("Servers (LICENSOR_SERVERS)", "no server given")
	case cfg.CAFile == "":
		return bad("CAFile (LICENSOR_CA)", "no CA file given")
	case cfg.CertFile == "" || cfg.KeyFile == "":
		return bad("CertFile, KeyFile (LICENSOR_CERT, LICENSOR_KEY)", "no client certificate given")
	case cfg.VendorPublicKey == nil && cfg.VendorKeyFile == "":
		return bad("VendorPublicKey (LICENSOR_VENDOR_PUB)", "no vendor key given")
	case !license.ValidName(cfg.Product):
		return bad("Product (LICENSOR_PRODUCT)", "%q: want 1 to 64 letters, digits, '.', '_' or '-'", cfg.Product)
	case cfg.ConnectTimeout < 0 || cfg.ReadTimeout < 0 || cfg.ProbeInterval < 0 || cfg.StaleAfter < 0:
		return bad("timeouts", "negative")
	}
	if cfg.InstanceID == "" {
		host, _ := os.Hostname()
		cfg.InstanceID = host + "/" + cfg.Product
	}
	if strings.HasPrefix(cfg.InstanceID, keyFileSeatPrefix) {
		return bad("InstanceID (LICENSOR_INSTANCE_ID)", "%q: ids beginning with %q name key-file hosts' seats; choose another", cfg.InstanceID, keyFileSeatPrefix)
	}
	if len(cfg.InstanceID) > 128 || strings.ContainsAny(cfg.InstanceID, " \"\\\t\r\n") {
		return bad("InstanceID (LICENSOR_INSTANCE_ID)", "%q: want 1 to 128 printable characters without spaces or quotes", cfg.InstanceID)
	}
	setDefault := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	setDefault(&cfg.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&cfg.ReadTimeout, DefaultReadTimeout)
	setDefault(&cfg.ProbeInterval, DefaultProbeInterval)
	setDefault(&cfg.StaleAfter, DefaultStaleAfter)
	setDefault(&cfg.ExpiryWarning, DefaultExpiryWarning)
	if cfg.Clock == nil {
		cfg.Clock = clock.System
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return nil
}

// Authorize says whether this copy may run now: nil, or a *codes.Error.
// In async mode it answers from memory without allocating.
func (c *Client) Authorize(ctx context.Context) error {
	if c.cfg.Async {
		st := c.state.Load()
		if st.err != nil {
			return st.err
		}
		if st.qps && !c.bucket.take() {
			return errQPSExceeded
		}
		return nil
	}
	return c.authorizeSync(ctx)
}

var errQPSExceeded = codes.Errorf(codes.QPSExceeded, "this instance spent its share of the licensed QPS for this second")

// authorizeSync asks the servers in order, skipping those known down.
func (c *Client) authorizeSync(ctx context.Context) error {
	if c.closed.Load() {
		return errClosed()
	}
	a, err := c.ask(ctx, api.PathAuthorize, "sync", 0, true)
	c.record(a, err)
	return err
}

// ask sends an instance request to the first server that answers and
// checks the answer. Every request, sync or async, carries a fresh nonce
// that any verdict in the answer must echo: an answer captured earlier,
// even one for this instance and still in time, is refused (518). A
// heartbeat sent with wantVerdict false asks for the renewal alone, and
// may be answered without a verdict (answer.renewal). It returns the
// verdict claims and the body.
func (c *Client) ask(ctx context.Context, path, mode string, calls int64, wantVerdict bool) (*answer, error) {
	nonce := newNonce()
	c.mu.Lock()
	haveLicense := ""
	if c.lic != nil {
		haveLicense = c.lic.ID
	}
	start := c.current
	c.mu.Unlock()
	req := api.InstanceRequest{Product: c.cfg.Product, InstanceID: c.cfg.InstanceID, Mode: mode, Nonce: nonce, HaveLicense: haveLicense, Calls: calls}
	renewalOK := path == api.PathHeartbeat && !wantVerdict && haveLicense != ""
	if renewalOK {
		req.Verdict = new(bool)
	}
	body, _ := json.Marshal(req)
	var reasons []string
	tried := 0
	for i := range c.servers {
		idx := (start + i) % len(c.servers)
		s := c.servers[idx]
		if !s.up.Load() {
			if e := s.err.Load(); e != nil {
				reasons = append(reasons, s.url+": "+transport.Reason(s.url, e))
			}
			continue
		}
		tried++
		status, resp, err := s.t.Do(ctx, http.MethodPost, path, body)
		if err != nil {
			c.markDown(s, err)
			reasons = append(reasons, s.url+": "+transport.Reason(s.url, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		a, err := c.check(s.url, status, resp, nonce, renewalOK)
		if a != nil {
			a.server = idx
		}
		if codes.Of(err) == codes.StoreUnavailable && i < len(c.servers)-1 {
			// This server cannot decide now (its database is out of
			// reach): another may.
			c.markDown(s, err)
			reasons = append(reasons, s.url+": "+codes.As(err).Detail())
			continue
		}
		return a, err
	}
	if tried == 0 && len(c.servers) == 1 {
		// One server, known down: still try it rather than give up.
		s := c.servers[0]
		status, resp, err := s.t.Do(ctx, http.MethodPost, path, body)
		if err == nil {
			s.up.Store(true)
			a, err := c.check(s.url, status, resp, nonce, renewalOK)
			return a, err
		}
		c.markDown(s, err)
		return nil, err
	}
	if len(c.servers) == 1 && len(reasons) == 1 {
		if e := c.servers[0].err.Load(); e != nil {
			return nil, e
		}
	}
	return nil, codes.Errorf(codes.AllServersDown, "every server failed: %s", strings.Join(reasons, "; "))
}

// answer is a checked verdict, or a checked renewal (renewal set, claims
// nil).
type answer struct {
	claims  *verdict.Claims
	body    api.VerdictBody
	server  int
	renewal bool
}

// check turns an HTTP answer from server into a checked verdict or its
// code. A failure status is never ok: its body must be a licensor error
// body that the table vouches for, or the answer is weird (8). Any verdict
// must echo nonce, which is never empty, whether the request asked for
// one or not. With renewalOK (a heartbeat that asked for no verdict) an
// answer without a verdict is a renewal: it must be for this instance and
// product, carry no license, and the license held must still be in its
// dates; it vouches for nothing more (see refresh).
func (c *Client) check(server string, status int, resp []byte, nonce string, renewalOK bool) (*answer, error) {
	if status != http.StatusOK {
		return nil, transport.ErrorFromBody(server, status, resp)
	}
	if nonce == "" {
		return nil, codes.Errorf(codes.Unknown, "internal: a request was sent without a nonce, so no answer can be bound to it")
	}
	var v api.VerdictBody
	if err := json.Unmarshal(resp, &v); err != nil {
		return nil, codes.Errorf(codes.Protocol, "the server's answer is not a verdict: %v", err)
	}
	now := c.clock.Now()
	if v.Verdict == "" && renewalOK {
		if v.Code != 0 || v.License != "" || v.Lease.Product != c.cfg.Product || v.Lease.InstanceID != c.cfg.InstanceID {
			return nil, codes.Errorf(codes.WeirdReply, "%s answered a heartbeat with a renewal that is not for instance %q of %q, or carries a license without a verdict (code %d, lease %q of %q)",
				server, c.cfg.InstanceID, c.cfg.Product, v.Code, v.Lease.InstanceID, v.Lease.Product)
		}
		lic, err := c.license("")
		if err != nil {
			return nil, err
		}
		if err := lic.CheckProduct(c.cfg.Product, now); err != nil {
			return nil, err
		}
		return &answer{body: v, renewal: true}, nil
	}
	if v.Verdict == "" {
		return nil, codes.Errorf(codes.VerdictForged, "%s answered with no verdict a request that needs one (a registration, or a heartbeat whose verdict was due)", server)
	}
	lic, err := c.license(v.License)
	if err != nil {
		return nil, err
	}
	serverKey, err := verdictKey(lic, v.Verdict)
	if err != nil {
		return nil, err
	}
	claims, err := verdict.Verify(v.Verdict, serverKey, verdict.Expect{
		InstanceID: c.cfg.InstanceID, Product: c.cfg.Product, LicenseID: lic.ID, Nonce: nonce, Now: now, Skew: clockSkew,
	})
	switch {
	case err == nil:
	case isErr(err, verdict.ErrSignature), isErr(err, verdict.ErrMalformed):
		return nil, codes.Errorf(codes.VerdictForged, "%v", err)
	default:
		return nil, codes.Errorf(codes.VerdictReplayed, "%v", err)
	}
	if kid := keys.ID(serverKey); !lic.SignsFor(kid, claims.Machine) {
		if lic.IsCluster() {
			return nil, codes.Errorf(codes.Fingerprint, "the server signing with key %s runs on machine %q, which the cluster license for %s does not name for that key", kid, claims.Machine, lic.Holder)
		}
		return nil, codes.Errorf(codes.Fingerprint, "the server runs on machine %q, which the license for %s does not name", claims.Machine, lic.Holder)
	}
	if err := lic.CheckProduct(c.cfg.Product, now); err != nil {
		return nil, err
	}
	return &answer{claims: claims, body: v}, nil
}

func isErr(err, target error) bool {
	for e := err; e != nil; {
		if e == target {
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

// verdictKey returns the server key token must verify with: a
// single-server license's one key, or the key of the cluster node that
// token's header names; a key the license does not name is
// codes.VerdictForged.
func verdictKey(lic *license.License, token string) (ed25519.PublicKey, error) {
	if !lic.IsCluster() {
		key, err := lic.ServerPublicKey()
		if err != nil {
			return nil, codes.Errorf(codes.LicenseMalformed, "the license's server key: %v", err)
		}
		return key, nil
	}
	obj, err := jws.Parse(token)
	if err != nil {
		return nil, codes.Errorf(codes.VerdictForged, "%v: %v", verdict.ErrMalformed, err)
	}
	key, ok := lic.NodeKey(obj.Header.KeyID)
	if !ok {
		return nil, codes.Errorf(codes.VerdictForged, "%v: signed by key %q, the license names the keys of its nodes: %s",
			verdict.ErrSignature, obj.Header.KeyID, strings.Join(lic.ServerKeyIDs(), ", "))
	}
	return key, nil
}

// license verifies a license the server sent, or returns the one held
// when the server left it out.
func (c *Client) license(raw string) (*license.License, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if raw == "" || raw == c.licRaw {
		if c.lic == nil {
			return nil, codes.Errorf(codes.LicenseMalformed, "the server sent no license")
		}
		return c.lic, nil
	}
	signed, err := license.Parse([]byte(raw))
	if err != nil {
		return nil, err
	}
	l, err := signed.Verify(c.vendor)
	if err != nil {
		return nil, err
	}
	c.lic, c.licRaw = l, raw
	return l, nil
}

// markDown records that s failed and tells the product.
func (c *Client) markDown(s *server, err error) {
	e := codes.As(err)
	s.err.Store(e)
	if s.up.Swap(false) {
		c.log.Warn("licensor: server unreachable", "server", s.url, "code", int(e.Code), "name", e.Code.Name(), "err", e.Detail())
	}
	if c.cfg.OnConnectError != nil {
		c.cfg.OnConnectError(s.url, e)
	}
}

// probe checks every server on an interval: a down server comes back when
// it answers; the server holding our lease going down makes the refresher
// fail over at once.
func (c *Client) probe() {
	t := time.NewTicker(c.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		c.probeOnce()
	}
}

func (c *Client) probeOnce() {
	c.mu.Lock()
	current := c.current
	c.mu.Unlock()
	for i, s := range c.servers {
		if s.up.Load() && !(c.cfg.Async && i == current) {
			continue // sync mode finds failures by using the servers
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ConnectTimeout+c.cfg.ReadTimeout)
		status, _, err := s.t.Do(ctx, http.MethodGet, api.PathHealth, nil)
		cancel()
		switch {
		case err != nil:
			wasUp := s.up.Load()
			c.markDown(s, err)
			if wasUp && c.cfg.Async && i == current {
				c.kick()
			}
		case status == http.StatusOK:
			if !s.up.Swap(true) {
				c.log.Info("licensor: server answers again", "server", s.url)
			}
		}
	}
}

func (c *Client) kick() {
	select {
	case c.refreshC <- struct{}{}:
	default:
	}
}

func newNonce() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Status is what the client last heard from a server.
type Status struct {
	Authorized bool         `json:"authorized"`
	Error      *codes.Error `json:"-"`
	Server     string       `json:"server"`
	Product    string       `json:"product"`
	InstanceID string       `json:"instance_id"`
	LicenseID  string       `json:"license_id"`
	Holder     string       `json:"holder"`
	Functions  []string     `json:"functions"`
	NotAfter   time.Time    `json:"not_after"`
	Lease      time.Time    `json:"lease_expires"`
	Resumed    bool         `json:"resumed"`
	Held       int          `json:"held"`
	Limit      int          `json:"limit"`
	QPSShare   float64      `json:"qps_share,omitempty"`
	// Refreshed is when the last verdict was accepted; in async mode,
	// heartbeats answered with the renewal alone do not move it.
	Refreshed time.Time `json:"refreshed"`
}

// Status returns the client's last answer and what it knows of the license.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.last
	st.Product, st.InstanceID = c.cfg.Product, c.cfg.InstanceID
	if c.lic != nil {
		st.LicenseID, st.Holder = c.lic.ID, c.lic.Holder
		if p, ok := c.lic.Product(c.cfg.Product); ok {
			st.Functions, st.NotAfter = p.Functions, p.NotAfter
		}
	}
	if c.cfg.Async {
		s := c.state.Load()
		st.Authorized, st.Error, st.Refreshed = s.err == nil, s.err, s.refreshed
	}
	return st
}

// Has reports whether the license grants the product function f.
func (c *Client) Has(f string) bool {
	for _, x := range c.Status().Functions {
		if x == f {
			return true
		}
	}
	return false
}

// record keeps the last answer for Status.
func (c *Client) record(a *answer, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.last.Authorized, c.last.Error = false, codes.As(err)
		return
	}
	c.seated.Store(true)
	b := a.body
	share := c.last.QPSShare
	switch {
	case !a.renewal:
		share = a.claims.QPS
	case b.QPS != nil:
		share = min(share, b.QPS.Share) // as refresh applies it
	}
	c.last = Status{Authorized: true, Server: c.servers[a.server].url, Lease: b.Lease.Expires, Resumed: b.Lease.Resumed,
		Held: b.Lease.Held, Limit: b.Lease.Limit, QPSShare: share, Refreshed: c.clock.Now()}
}

// Close releases the lease, if this client took one, and stops every
// goroutine.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	close(c.stop)
	c.wg.Wait()
	var err error
	if c.seated.Load() {
		c.mu.Lock()
		s := c.servers[c.current]
		if !c.cfg.Async {
			for _, x := range c.servers {
				if x.url == c.last.Server {
					s = x
				}
			}
		}
		c.mu.Unlock()
		body, _ := json.Marshal(api.InstanceRequest{Product: c.cfg.Product, InstanceID: c.cfg.InstanceID})
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ConnectTimeout+c.cfg.ReadTimeout)
		_, _, err = s.t.Do(ctx, http.MethodPost, api.PathRelease, body)
		cancel()
	}
	if c.cfg.Async {
		c.setState(&state{err: errClosed()})
	}
	for _, s := range c.servers {
		s.t.CloseIdle()
	}
	if err != nil {
		return fmt.Errorf("release the lease: %w", err)
	}
	return nil
}

// Classify names a failure to reach a server with its code and reason, as
// Authorize does: 1, 6, 7, 28, 35, 58, 60, or -1.
func Classify(server string, err error) *codes.Error { return transport.Classify(server, err) }
