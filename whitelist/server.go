package whitelist

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
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
	tls    *tls.Config
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
	pair, err := pki.LoadServerCertificate(cfg.TLS.Cert, cfg.TLS.Key, clk.Now())
	if err != nil {
		return nil, err
	}
	st, err := Open(filepath.Join(cfg.DataDir, DBFile))
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg: cfg, clock: clk, log: log, store: st, vendor: vendor,
		// Server authentication only: sites prove who they are with the
		// machine code the vendor approved, not a certificate.
		tls: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}},
	}, nil
}

// Close closes the store.
func (s *Server) Close() error { return s.store.Close() }

// TLSConfig returns the service's TLS configuration.
func (s *Server) TLSConfig() *tls.Config { return s.tls.Clone() }

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
		Handler: s.Handler(), TLSConfig: s.TLSConfig(),
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
