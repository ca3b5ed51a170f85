// Package server is the site license server: the process a customer runs,
// that every protected instance asks for permission over mutual TLS.
//
// At start it verifies the license (vendor signature, this machine, its
// own server key) and refuses to start when any check fails. It keeps the
// instance pools in a store (SQLite by default), signs every verdict with
// the server key, and writes one log line and one audit event per decision.
package server

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/verdict"
)

// ServerKeyFile and StoreFile are the data directory's files (the store
// file unless the configuration names another store).
const (
	ServerKeyFile = "server.key"
	StoreFile     = "licensor.db"
)

// Options are the server's dependencies; zero values take the defaults.
type Options struct {
	Clock       clock.Clock
	Logger      *slog.Logger
	Fingerprint func() (*fingerprint.Fingerprint, error)
	// Store is where the pool is kept (internal/storeopen opens the one
	// the configuration names). The server owns it: Close closes it, and
	// so does a New that fails.
	Store store.Store
}

// Server is a running site license server.
type Server struct {
	cfg         Config
	clock       clock.Clock
	log         *slog.Logger
	fingerprint func() (*fingerprint.Fingerprint, error)
	store       store.Store
	ownStore    bool

	vendorPub ed25519.PublicKey
	serverKey ed25519.PrivateKey
	serverKid string
	signer    *verdict.Signer
	tls       *pki.ServerTLS // swapped whole on SIGHUP (ReloadTLS)

	lic    atomic.Pointer[loaded]
	reload sync.Mutex
	high   atomic.Int64                // the time high-water mark, Unix nanoseconds
	skew   atomic.Pointer[codes.Error] // set while this node's clock disagrees with the cluster's

	// disagree is set while the cluster serves under a license this node
	// cannot: it then refuses every decision rather than serve under
	// another license's limits.
	disagree atomic.Pointer[codes.Error]
	// token proves a hardware token's presence, for a license that binds
	// one; tokenRefusal is set while grants are refused for its absence.
	token        *tokenGuard
	tokenRefusal atomic.Pointer[codes.Error]
	tokenCount   atomic.Int64
	// clusterRates is the cluster's rate of calls per product, when
	// several servers share the store.
	clusterRates atomic.Pointer[map[string]float64]
	metrics      *metrics
	usage        usage
	ready        atomic.Bool

	// Upstream mode: the license comes from the vendor's service.
	upstreamAt atomic.Int64 // last successful contact, Unix nanoseconds
	stopRun    context.CancelCauseFunc
}

// loaded is the license in force.
type loaded struct {
	license *license.License
	compact string
	view    license.View
	node    int    // this server's node: its index in license.Nodes()
	machine string // the licensed machine code this host matched: the node's
	at      time.Time
	data    []byte // the license file as read
}

// New verifies the configuration, the license and the clock, and opens
// the store. Every failure is a *codes.Error naming the fix.
func New(cfg Config, opts Options) (*Server, error) {
	s, err := newServer(cfg, opts)
	if err != nil && opts.Store != nil {
		opts.Store.Close()
	}
	return s, err
}

func newServer(cfg Config, opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, codes.Errorf(codes.StoreUnavailable, "the server was given no store")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, clock: opts.Clock, log: opts.Logger, fingerprint: opts.Fingerprint, store: opts.Store, ownStore: true}
	if s.clock == nil {
		s.clock = clock.System
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if s.fingerprint == nil {
		s.fingerprint = fingerprint.Collect
	}
	now := s.clock.Now()

	var err error
	if s.vendorPub, err = keys.LoadPublic(cfg.VendorPublicKey); err != nil {
		return nil, err
	}
	keyPath := filepath.Join(cfg.DataDir, ServerKeyFile)
	if _, err := os.Stat(keyPath); err != nil {
		return nil, codes.Errorf(codes.FileMissing, "the site server key %s does not exist", keyPath).
			WithFix(missingServerKeyFix(cfg))
	}
	if s.serverKey, err = keys.LoadPrivate(keyPath); err != nil {
		return nil, err
	}
	s.serverKid = keys.ID(s.serverKey.Public().(ed25519.PublicKey))
	if s.signer, err = verdict.NewSigner(s.serverKey); err != nil {
		return nil, codes.Errorf(codes.KeyMalformed, "the site server key %s: %v", keyPath, err)
	}
	var l *loaded
	if len(cfg.Upstream) > 0 {
		l, err = s.startUpstream(context.Background())
	} else if l, err = s.loadLicense(); err == nil {
		l, err = s.agreeLicense(context.Background(), l)
	}
	if err != nil {
		return nil, err
	}
	if s.tls, err = pki.NewServerTLS(cfg.TLS.CA, cfg.TLS.Cert, cfg.TLS.Key, now); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(s)

	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	ctx := context.Background()
	high, err := s.store.HighWater(ctx)
	if err != nil {
		return nil, codes.Errorf(codes.StoreUnavailable, "cannot read the time high-water mark: %w", err)
	}
	s.high.Store(high.UnixNano())
	if err := s.checkCluster(ctx); err != nil {
		return nil, err
	}
	if err := s.checkClock(now); err != nil {
		return nil, err
	}
	if err := s.openToken(ctx, l.license); err != nil {
		return nil, err
	}
	s.lic.Store(l)
	detail := fmt.Sprintf("license %s for %s, server key %s", l.license.ID, l.license.Holder, s.serverKid)
	if g := s.token; g != nil && l.license.BindsToken() {
		detail += fmt.Sprintf(", hardware token serial %s proved present (binding %s)", g.serial, l.license.Binding())
	}
	if cs, ok := s.store.(store.Cluster); ok {
		detail += fmt.Sprintf(", node %q of a shared store", cs.Node())
	}
	if err := s.store.Record(ctx, store.Event{Time: now, Kind: store.KindStart, Actor: "server", Detail: detail}); err != nil {
		return nil, codes.Errorf(codes.StoreUnavailable, "cannot write the audit log: %w", err)
	}
	ok = true
	return s, nil
}

// loadLicense reads and verifies the license file: vendor signature, this
// machine, and the server key it trusts.
func (s *Server) loadLicense() (*loaded, error) {
	data, err := license.ReadFile(s.cfg.License)
	if err != nil {
		return nil, err
	}
	l, err := s.checkLicense(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.cfg.License, err)
	}
	return l, nil
}

// checkLicense verifies a license file's bytes: vendor signature, and
// the node this server is (this machine and this server's key).
func (s *Server) checkLicense(data []byte) (*loaded, error) {
	signed, err := license.Parse(data)
	if err != nil {
		return nil, err
	}
	l, err := signed.Verify(s.vendorPub)
	if err != nil {
		return nil, err
	}
	host, err := s.fingerprint()
	if err != nil {
		return nil, codes.Errorf(codes.Fingerprint, "cannot compute this host's machine code: %w", err)
	}
	node, err := s.findNode(l, host)
	if err != nil {
		return nil, err
	}
	return &loaded{license: l, compact: signed.Compact, view: l.View(signed.KeyID), node: node, machine: l.Nodes()[node].Code, at: s.clock.Now(), data: data}, nil
}

// Reload re-reads the license file; on failure the license in force stays.
func (s *Server) Reload(ctx context.Context) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	if g := s.token; g != nil {
		// A token check decides under the license in force: it must not
		// end after the swap and refuse under the new license.
		g.check.Lock()
		defer g.check.Unlock()
	}
	now := s.clock.Now()
	l, err := s.loadLicense()
	if err == nil {
		l, err = s.agreeLicense(ctx, l)
	}
	if err == nil {
		err = s.reloadToken(ctx, l.license)
	}
	ev := store.Event{Time: now, Kind: store.KindReload, Actor: "server"}
	if err != nil {
		e := codes.As(err)
		ev.Code, ev.Detail = int(e.Code), "refused: "+e.Detail()
		s.log.Error("reload", "code", int(e.Code), "name", e.Code.Name(), "err", e.Detail(), "fix", e.FixText())
	} else {
		old := s.lic.Swap(l)
		if !l.license.BindsToken() {
			s.tokenRefusal.Store(nil)
		}
		ev.Detail = fmt.Sprintf("license %s replaces %s", l.license.ID, old.license.ID)
		s.log.Info("reload", "code", 0, "license", l.license.ID, "holder", l.license.Holder)
	}
	s.metrics.reloads.WithLabelValues(fmt.Sprint(int(codes.Of(err)))).Inc()
	if rerr := s.store.Record(ctx, ev); rerr != nil && err == nil {
		err = codes.Errorf(codes.StoreUnavailable, "the license was reloaded but the audit log could not be written: %w", rerr)
	}
	return err
}

// checkClock is the check every decision passes: the clock (checkTime),
// and a hardware token the license binds, while it is refused for its
// absence.
func (s *Server) checkClock(now time.Time) error {
	if err := s.checkTime(now); err != nil {
		return err
	}
	if e := s.tokenRefusal.Load(); e != nil {
		return e
	}
	return nil
}

// checkTime refuses a time set back beyond the tolerance, and raises the
// high-water mark. The reaper runs on it alone: leases lapse, and the
// mark is kept, while grants are refused for a missing token.
func (s *Server) checkTime(now time.Time) error {
	if e := s.skew.Load(); e != nil {
		return e
	}
	if e := s.disagree.Load(); e != nil {
		return e
	}
	n := now.UnixNano()
	for {
		h := s.high.Load()
		if n >= h {
			if s.high.CompareAndSwap(h, n) {
				return nil
			}
			continue
		}
		if time.Duration(h-n) > time.Duration(s.cfg.ClockTolerance) {
			return codes.Errorf(codes.ClockRollback, "the clock reads %s, but this server has already seen %s (more than %s later)",
				now.UTC().Format(time.RFC3339), time.Unix(0, h).UTC().Format(time.RFC3339), time.Duration(s.cfg.ClockTolerance))
		}
		return nil
	}
}

// TLSConfig is the production TLS configuration: TLS 1.2+, client
// certificates required and verified against the site CA; each handshake
// takes the certificate and CA in force (see ReloadTLS).
func (s *Server) TLSConfig() *tls.Config { return s.tls.Config() }

// Run serves on ln until ctx is cancelled, then shuts down gracefully:
// stop accepting, let in-flight requests finish (up to shutdown_timeout),
// commit the store.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         s.tls.Config(),
		Protocols:         pki.ServerProtocols(), // those the TLS configuration offers
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          s.metrics.tlsErrorLog(s.log),
	}
	ctx, s.stopRun = context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	reapCtx, stopReaper := context.WithCancel(context.WithoutCancel(ctx))
	wg.Go(func() { s.reaper(reapCtx) })
	wg.Go(func() { s.clusterLoop(reapCtx, ln.Addr().String()) })
	if len(s.cfg.Upstream) > 0 {
		wg.Go(func() { s.upstreamLoop(reapCtx) })
	}
	wg.Go(func() { s.tokenLoop(reapCtx) })
	s.ready.Store(true)
	attrs := []any{"addr", ln.Addr().String(), "license", s.lic.Load().license.ID, "server_key", s.serverKid}
	if cs, ok := s.store.(store.Cluster); ok {
		attrs = append(attrs, "node", cs.Node())
	}
	s.log.Info("serving", attrs...)

	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.ready.Store(false)
		s.log.Info("shutting down", "timeout", time.Duration(s.cfg.ShutdownTimeout).String())
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(s.cfg.ShutdownTimeout))
		err = srv.Shutdown(sctx)
		cancel()
		if err != nil {
			// Past the timeout: drop what is still open.
			s.log.Warn("shutdown timed out; closing the remaining connections", "err", err)
			srv.Close()
			err = nil
		}
		<-errc
	}
	stopReaper()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if cause := context.Cause(ctx); err == nil && codes.Of(cause) == codes.GrantExpired {
		err = cause // the grant ran out: the caller exits with its own status
	}
	return err
}

// reaper frees lapsed leases and persists the time high-water mark.
func (s *Server) reaper(ctx context.Context) {
	every(ctx, time.Duration(s.cfg.ReapInterval), s.reap)
}

// every calls fn at every interval until ctx ends. The server's periodic
// work (the reaper, the cluster's check-in, the upstream grant, the token
// checks) runs on it, each on its own goroutine.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

func (s *Server) reap(ctx context.Context) {
	now := s.clock.Now()
	if s.checkTime(now) != nil {
		return // a clock set back frees nothing
	}
	gone, err := s.store.Expire(ctx, now)
	if err != nil && ctx.Err() == nil {
		s.log.Error("expire", "code", int(codes.StoreUnavailable), "name", codes.StoreUnavailable.Name(), "err", err)
		return
	}
	for _, l := range gone {
		s.log.Info("expire", "code", 0, "product", l.Product, "instance", l.InstanceID, "holder", l.Holder,
			"lapsed", l.Expires.UTC().Format(time.RFC3339))
	}
	s.store.ObserveTime(ctx, time.Unix(0, s.high.Load()))
	s.usage.tick(now, 2*time.Duration(s.cfg.LeaseTTL))
	s.reportTick(ctx, now)
	if len(s.cfg.Upstream) > 0 {
		s.checkGrant(ctx, now)
	}
}

// Held counts the live leases per product.
func (s *Server) Held(ctx context.Context) (map[string]int, error) {
	return s.store.Held(ctx, s.clock.Now())
}

// SetShutdownTimeout changes how long a shutdown waits for in-flight
// requests; 0 drops them at once.
func (s *Server) SetShutdownTimeout(d time.Duration) { s.cfg.ShutdownTimeout = Duration(d) }

// Close closes the store if the server opened it.
func (s *Server) Close() error {
	s.closeToken()
	if s.ownStore && s.store != nil {
		return s.store.Close()
	}
	return nil
}
