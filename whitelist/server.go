package whitelist

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
)

// ShutdownTimeout is how long requests in flight may take to finish when
// Run's context ends.
const ShutdownTimeout = 10 * time.Second

// Server is the whitelist service.
type Server struct {
	cfg    Config
	clock  clock.Clock
	log    *slog.Logger
	store  *Store
	vendor ed25519.PrivateKey
	tls    *pki.ServerTLS // swapped on ReloadTLS
}

// NewServer loads the vendor key and the service's certificate and opens
// the store. The caller must Close it.
func NewServer(cfg Config, clk clock.Clock, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	vendor, err := keys.LoadPrivate(cfg.VendorKey)
	if err != nil {
		return nil, err
	}
	// Server authentication only: sites prove who they are with the
	// machine code the vendor approved, not a certificate.
	tlsCfg, err := pki.NewServerTLS("", cfg.TLS.Cert, cfg.TLS.Key, clk.Now())
	if err != nil {
		return nil, err
	}
	st, err := Open(filepath.Join(cfg.DataDir, DBFile))
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg: cfg, clock: clk, log: log, store: st, vendor: vendor, tls: tlsCfg,
	}, nil
}

// Close closes the store.
func (s *Server) Close() error { return s.store.Close() }

// TLSConfig returns the service's TLS configuration.
func (s *Server) TLSConfig() *tls.Config { return s.tls.Config().Clone() }

// ReloadTLS re-reads the service's certificate and key: new connections
// get the new certificate, open ones go on. When they do not load, the
// certificate in force stays and the error carries the code. licensor
// vendor serve calls it on SIGHUP.
func (s *Server) ReloadTLS() error {
	old, cur, err := s.tls.Reload(s.clock.Now())
	if err != nil {
		e := codes.As(err)
		s.log.Error("reload-tls", "code", int(e.Code), "name", e.Code.Name(), "err", e.Detail(), "fix", e.FixText(),
			"kept_serial", fmt.Sprintf("%x", old.SerialNumber))
		return err
	}
	s.log.Info("reload-tls", "code", 0, "serial", fmt.Sprintf("%x", cur.SerialNumber), "not_after", cur.NotAfter.UTC().Format(time.RFC3339),
		"replaces", fmt.Sprintf("%x", old.SerialNumber))
	return nil
}

// Handler serves POST /v1/grant.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathGrant, s.handleGrant)
	return mux
}

func (s *Server) handleGrant(w http.ResponseWriter, r *http.Request) {
	// One byte more than a request may be, so ParseRequest names the size.
	body, err := io.ReadAll(io.LimitReader(r.Body, license.MaxRequestSize+1))
	if err != nil {
		s.fail(w, r, codes.Errorf(codes.RequestMalformed, "cannot read the request body: %w", err))
		return
	}
	g, l, err := grant(s.store, s.vendor, time.Duration(s.cfg.Grace), body, s.clock.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("grant", "machine", l.Machines[0].Code, "customer", g.Customer, "license", l.ID, "remote", r.RemoteAddr, "contract_end", g.ContractEnd, "not_after", g.NotAfter)
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := codes.As(err)
	attrs := []any{"code", int(e.Code), "name", e.Code.Name(), "remote", r.RemoteAddr, "err", e.Detail()}
	if e.Err != nil {
		attrs = append(attrs, "cause", e.Err.Error()) // for the log only
	}
	s.log.Warn("refuse", attrs...)
	writeJSON(w, e.Code.HTTPStatus(), api.ErrorBody{Code: int(e.Code), Name: e.Code.Name(), Message: e.Msg, Fix: e.FixText()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":-1,"name":"unknown","message":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// Run serves HTTPS (TLS 1.2+) on ln until ctx ends, then shuts down
// gracefully, giving requests in flight ShutdownTimeout to finish.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler: s.Handler(), TLSConfig: s.TLSConfig(), Protocols: pki.ServerProtocols(),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0), // failed handshakes from scanners are not news
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "vendor_key", keys.ID(s.vendor.Public().(ed25519.PublicKey)), "grace", time.Duration(s.cfg.Grace).String())
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		if err != nil {
			s.log.Warn("shutdown timed out; closing the remaining connections", "err", err)
			srv.Close()
			err = nil
		}
		<-errc
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
