package loadtest

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/pki"
)

// ProbeConfig is a baseline run: the same client loop as Run, against
// trivial handlers served in-process with the site server's TLS
// configuration.
type ProbeConfig struct {
	// ServerTLS is the handlers' TLS configuration (pki.ServerTLSConfig);
	// ClientTLS the clients' (pki.ClientTLSConfig), from the same CA.
	ServerTLS *tls.Config
	ClientTLS *tls.Config
	// Clients, Duration, Requests, Warmup and Timeout are as in Config.
	Clients  int
	Duration time.Duration
	Requests int
	Warmup   time.Duration
	Timeout  time.Duration
}

// ProbeResult is the baseline: what this machine does per second with
// mutual TLS and keep-alive HTTP/1.1 when the handler does (almost)
// nothing.
type ProbeResult struct {
	// Trivial answers a fixed JSON body.
	Trivial *Result
	// Ed25519 also signs the request body with Ed25519, as the site
	// server signs each verdict.
	Ed25519 *Result
}

// Probe measures the two trivial handlers one after the other, each on
// its own listener on 127.0.0.1.
func Probe(ctx context.Context, cfg ProbeConfig) (*ProbeResult, error) {
	if cfg.Clients == 0 {
		cfg.Clients = DefaultClients
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ServerTLS == nil || cfg.ClientTLS == nil {
		return nil, codes.Errorf(codes.InvalidArgument, "ServerTLS and ClientTLS are both needed; ThrowawayTLS makes a pair")
	}
	if err := checkBounds(cfg.Clients, cfg.Duration, cfg.Requests, cfg.Warmup, cfg.Timeout); err != nil {
		return nil, err
	}
	var out ProbeResult
	var err error
	if out.Trivial, err = probeOne(ctx, cfg, ProbeTrivial); err != nil {
		return nil, err
	}
	if out.Ed25519, err = probeOne(ctx, cfg, ProbeEd25519); err != nil {
		return nil, err
	}
	return &out, nil
}

var okBody = []byte(`{"code":0,"name":"ok"}` + "\n")

func trivialHandler(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, io.LimitReader(r.Body, 16<<10))
	w.Header().Set("Content-Type", "application/json")
	w.Write(okBody)
}

func signingHandler(key ed25519.PrivateKey) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<10))
		if err != nil {
			http.Error(w, `{"code":602,"name":"request_malformed"}`, http.StatusBadRequest)
			return
		}
		sig := ed25519.Sign(key, body)
		b, _ := json.Marshal(map[string]any{"code": 0, "name": "ok", "sig": base64.RawURLEncoding.EncodeToString(sig)})
		w.Header().Set("Content-Type", "application/json")
		w.Write(append(b, '\n'))
	}
}

// discardLog silences the probe servers' connection errors (a client
// closing its idle connections at the end, say).
var discardLog = log.New(io.Discard, "", 0)

// probeOne serves mode's handler on 127.0.0.1 while the clients drive it.
func probeOne(ctx context.Context, cfg ProbeConfig, mode Mode) (*Result, error) {
	ps, err := startProbeServer(cfg, mode)
	if err != nil {
		return nil, err
	}
	ops := make([]func(context.Context) outcome, cfg.Clients)
	for i := range ops {
		ops[i] = ps.op(i + 1)
	}
	t, elapsed := drive(ctx, plan{duration: cfg.Duration, requests: cfg.Requests, warmup: cfg.Warmup}, ops)
	if err := ps.stop(ctx); err != nil {
		return nil, err
	}
	res := t.result(elapsed)
	res.Mode, res.Server, res.Clients = mode, ps.url, cfg.Clients
	return res, nil
}

// probeServer is a trivial handler served over mutual TLS, and the
// clients' side of it.
type probeServer struct {
	url    string
	srv    *http.Server
	served chan error
	p      *poster
	runID  string
}

func startProbeServer(cfg ProbeConfig, mode Mode) (*probeServer, error) {
	handler := http.HandlerFunc(trivialHandler)
	if mode == ProbeEd25519 {
		_, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		handler = signingHandler(key)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, codes.Errorf(codes.Unknown, "cannot listen on 127.0.0.1: %w", err)
	}
	ps := &probeServer{
		url:    "https://" + ln.Addr().String(),
		srv:    &http.Server{Handler: handler, TLSConfig: cfg.ServerTLS.Clone(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: discardLog},
		served: make(chan error, 1),
		runID:  newRunID(),
	}
	ps.p = newPoster(ps.url, cfg.ClientTLS, cfg.Clients, cfg.Timeout)
	go func() { ps.served <- ps.srv.ServeTLS(ln, "", "") }()
	return ps, nil
}

// op is the n-th client's operation: POST a small JSON body, read the
// answer, as an authorize does.
func (ps *probeServer) op(n int) func(context.Context) outcome {
	body, _ := json.Marshal(map[string]string{"product": "probe", "instance_id": fmt.Sprintf("bench-%s-%d", ps.runID, n)})
	return func(ctx context.Context) outcome {
		o, _ := ps.p.post(ctx, "/probe", body)
		return o
	}
}

// stop closes the clients' connections and shuts the server down.
func (ps *probeServer) stop(ctx context.Context) error {
	ps.p.close()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := ps.srv.Shutdown(sctx); err != nil {
		ps.srv.Close()
	}
	if err := <-ps.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return codes.Errorf(codes.Unknown, "the probe server failed: %w", err)
	}
	return nil
}

// ThrowawayTLS makes a site CA, a server certificate for 127.0.0.1 and an
// instance client certificate in dir (which must not hold a CA yet) and
// returns the server's and the client's TLS configurations, as the site
// server and the SDK would build them.
func ThrowawayTLS(dir string, now time.Time) (serverTLS, clientTLS *tls.Config, err error) {
	site, err := pki.InitSite(dir, []string{"127.0.0.1", "localhost"}, now)
	if err != nil {
		return nil, nil, err
	}
	c, err := pki.IssueClient(dir, "bench", pki.RoleInstance, 1, now)
	if err != nil {
		return nil, nil, err
	}
	if serverTLS, err = pki.ServerTLSConfig(site.CACert, site.ServerCert, site.ServerKey, now); err != nil {
		return nil, nil, err
	}
	if clientTLS, err = pki.ClientTLSConfig(filepath.Join(dir, pki.CACertFile), c.Cert, c.Key, now); err != nil {
		return nil, nil, err
	}
	return serverTLS, clientTLS, nil
}
