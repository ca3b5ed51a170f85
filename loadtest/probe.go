package loadtest

import (
	"bufio"
	"bytes"
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
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
)

// The probe is the scale reference for a site server's figures: what
// this machine does with mutual TLS and keep-alive HTTP/1.1 when the
// handler does (almost) nothing. It is measured the way a server is: the
// trivial server is a process of its own (the same binary, 'licensor
// bench-probe-server'), serving with the site server's TLS and HTTP
// settings, driven by Run's own clients. One answers every request with a
// body the size of a heartbeat's renewal and is the reference for
// heartbeats; the other makes one Ed25519 signature per request and
// answers with a body the size of a signed verdict, the reference for
// authorize. A probe served inside the load tool's own process would
// share its scheduler and garbage collector with the clients and read
// some 40% faster than any server can be.

// Probe answer sizes, those of a site server's answers to a bench client
// holding the license in force (TestProbeAnswerSizes holds them to it):
// a heartbeat's renewal, a signed verdict, and the verdict's signing
// input (its JWS header and payload).
const (
	probeRenewalSize = 207
	probeVerdictSize = 790
	probeSignedSize  = 483
)

// ProbeConfig is a baseline run: the same clients as Run, against the two
// probe servers, each started as a process of its own.
type ProbeConfig struct {
	// Command returns the command that serves mode's probe (ProbeTrivial
	// or ProbeEd25519), which runs ServeProbeProcess: 'licensor
	// bench-probe-server'. Probe starts it, reads its URL from the first
	// line it prints, and stops it by closing its standard input.
	Command func(mode Mode) *exec.Cmd
	// ClientTLS is the clients' TLS configuration (pki.ClientTLSConfig),
	// from the CA that issued the probe server's certificate.
	ClientTLS *tls.Config
	// Clients, Duration, Requests, Warmup and Timeout are as in Config.
	Clients  int
	Duration time.Duration
	Requests int
	Warmup   time.Duration
	Timeout  time.Duration
}

// ProbeResult is the baseline.
type ProbeResult struct {
	// Trivial answers a fixed body, the size of a heartbeat's renewal; it
	// is driven as Run drives heartbeats.
	Trivial *Result
	// Ed25519 also signs each request with Ed25519, as the site server
	// signs a verdict, and answers a body the size of one; it is driven as
	// Run drives authorize.
	Ed25519 *Result
}

// probeClientMode is the Run mode that drives each probe.
var probeClientMode = map[Mode]Mode{ProbeTrivial: Heartbeat, ProbeEd25519: Authorize}

// Probe measures the two probe servers one after the other.
func Probe(ctx context.Context, cfg ProbeConfig) (*ProbeResult, error) {
	if err := cfg.prepare(); err != nil {
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

// prepare fills in cfg's defaults and checks it.
func (cfg *ProbeConfig) prepare() error {
	if cfg.Clients == 0 {
		cfg.Clients = DefaultClients
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Command == nil || cfg.ClientTLS == nil {
		return codes.Errorf(codes.InvalidArgument, "Command and ClientTLS are both needed")
	}
	return checkBounds(cfg.Clients, cfg.Duration, cfg.Requests, cfg.Warmup, cfg.Timeout)
}

// probeOne starts mode's probe server process, drives it, and stops it.
func probeOne(ctx context.Context, cfg ProbeConfig, mode Mode) (res *Result, err error) {
	pp, err := startProbeProcess(cfg.Command(mode))
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := pp.stop(); serr != nil && err == nil {
			res, err = nil, serr
		}
	}()
	res, err = Run(ctx, Config{Server: pp.url, TLS: cfg.ClientTLS, Mode: probeClientMode[mode], Clients: cfg.Clients,
		Duration: cfg.Duration, Requests: cfg.Requests, Warmup: cfg.Warmup, Timeout: cfg.Timeout})
	if err != nil {
		return nil, err
	}
	res.Mode = mode
	return res, nil
}

// probeStartTimeout bounds how long a probe process may take to say where
// it listens, and probeStopTimeout how long it may take to exit once told.
const (
	probeStartTimeout = 10 * time.Second
	probeStopTimeout  = 5 * time.Second
)

// probeProcess is a running probe server process.
type probeProcess struct {
	cmd    *exec.Cmd
	url    string
	stdin  io.Closer
	stderr *tailBuffer
	done   chan error // Wait's result
}

// startProbeProcess starts cmd and reads the URL it serves on.
func startProbeProcess(cmd *exec.Cmd) (*probeProcess, error) {
	pp := &probeProcess{cmd: cmd, stderr: &tailBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = pp.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, codes.Errorf(codes.Unknown, "cannot start the probe server: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, codes.Errorf(codes.Unknown, "cannot start the probe server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, codes.Errorf(codes.Unknown, "cannot start the probe server %s: %w", cmd.Path, err)
	}
	pp.stdin = stdin
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
		io.Copy(io.Discard, stdout) // whatever else it prints; ends when it exits
		pp.done <- cmd.Wait()
	}()
	select {
	case s := <-line:
		if u := strings.TrimSpace(s); strings.HasPrefix(u, "https://") {
			pp.url = u
			return pp, nil
		}
		pp.stop()
		return nil, codes.Errorf(codes.Unknown, "the probe server %s did not start: %s", cmd.Path, pp.stderr.summary())
	case <-time.After(probeStartTimeout):
		pp.stop()
		return nil, codes.Errorf(codes.Timeout, "the probe server %s did not say where it listens within %s: %s", cmd.Path, probeStartTimeout, pp.stderr.summary())
	}
}

// stop closes the process's standard input, which tells it to shut down,
// and waits for it to exit; one that takes longer than probeStopTimeout
// is killed.
func (pp *probeProcess) stop() error {
	pp.stdin.Close()
	select {
	case err := <-pp.done:
		if err != nil {
			return codes.Errorf(codes.Unknown, "the probe server %s failed: %v: %s", pp.cmd.Path, err, pp.stderr.summary())
		}
		return nil
	case <-time.After(probeStopTimeout):
		pp.cmd.Process.Kill()
		<-pp.done
		return codes.Errorf(codes.Unknown, "the probe server %s did not exit within %s of being told to, and was killed", pp.cmd.Path, probeStopTimeout)
	}
}

// tailBuffer keeps the last few kilobytes a process writes.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := strings.TrimSpace(string(t.b)); s != "" {
		return s
	}
	return "it printed nothing"
}

// ServeProbeProcess is the probe server's side of a probe process: it
// serves mode's probe on listen (host:port) with serverTLS, the site
// server's TLS configuration (pki.NewServerTLS), writes its URL and a
// newline to out once it listens, and serves until in ends (the parent
// closed it, or died) or ctx is done.
func ServeProbeProcess(ctx context.Context, mode Mode, serverTLS *tls.Config, listen string, in io.Reader, out io.Writer) error {
	h, err := probeHandler(mode)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return codes.Errorf(codes.Unknown, "cannot listen on %s: %w", listen, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, in)
		cancel()
	}()
	if _, err := fmt.Fprintf(out, "https://%s\n", ln.Addr()); err != nil {
		ln.Close()
		return err
	}
	return serveProbe(ctx, ln, serverTLS, h)
}

// discardLog silences the probe server's connection errors (a client
// closing its idle connections at the end, say).
var discardLog = log.New(io.Discard, "", 0)

// serveProbe serves h on ln with the site server's HTTP settings (those of
// server.Server.Run) until ctx is done.
func serveProbe(ctx context.Context, ln net.Listener, serverTLS *tls.Config, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         serverTLS,
		Protocols:         pki.ServerProtocols(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          discardLog,
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeStopTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// probeHandler answers what Run asks: the license (one product, "probe",
// with seats for every client), and authorize, heartbeat and release.
func probeHandler(mode Mode) (http.Handler, error) {
	var answer http.HandlerFunc
	switch mode {
	case ProbeTrivial:
		answer = trivialAnswer
	case ProbeEd25519:
		_, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		answer = signingAnswer(key)
	default:
		return nil, codes.Errorf(codes.InvalidArgument, "probe mode %q: want %s or %s", mode, ProbeTrivial, ProbeEd25519)
	}
	view, _ := json.Marshal(license.View{ID: "probe", Holder: "probe", Issuer: "probe",
		ProductLicenses: []license.ProductView{{Subject: "probe", InstanceSize: MaxClients}}})
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathLicense, func(w http.ResponseWriter, r *http.Request) { writeProbe(w, view) })
	mux.HandleFunc("POST "+api.PathAuthorize, answer)
	mux.HandleFunc("POST "+api.PathHeartbeat, answer)
	mux.HandleFunc("POST "+api.PathRelease, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 16<<10))
		writeProbe(w, releasedBody)
	})
	return mux, nil
}

var releasedBody = []byte(`{"code":0,"name":"ok","released":true}` + "\n")

// leaseTail ends every probe answer as a lease body ends a real one.
var leaseTail = []byte(`"lease":{"product":"probe","instance_id":"bench-00000000-16","since":"2026-01-01T00:00:00Z","expires":"2026-01-01T00:01:30Z","resumed":true,"heartbeat_in_seconds":30,"held":16,"limit":10000}}` + "\n")

// renewalBody is the trivial probe's answer, padded to the size of a
// heartbeat's renewal.
var renewalBody = pad([]byte(`{"code":0,"name":"ok",`), leaseTail, probeRenewalSize)

// pad joins head and tail with spaces between them to make size bytes.
func pad(head, tail []byte, size int) []byte {
	b := append([]byte(nil), head...)
	if n := size - len(head) - len(tail); n > 0 {
		b = append(b, bytes.Repeat([]byte(" "), n)...)
	}
	return append(b, tail...)
}

func trivialAnswer(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, io.LimitReader(r.Body, 16<<10))
	writeProbe(w, renewalBody)
}

// signingAnswer signs, for each request, a message the size of a
// verdict's signing input (base64url text, as a JWS's is) that ends with
// the request's body encoded, and answers a body the size of a verdict
// that carries the message and the signature.
func signingAnswer(key ed25519.PrivateKey) http.HandlerFunc {
	head := []byte(`{"code":0,"name":"ok","verdict":"`)
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<10))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		msg := bytes.Repeat([]byte("A"), probeSignedSize)
		enc := base64.RawURLEncoding.AppendEncode(nil, body)
		copy(msg[max(0, len(msg)-len(enc)):], enc)
		out := make([]byte, 0, probeVerdictSize)
		out = append(out, head...)
		out = append(out, msg...)
		out = append(out, '.')
		out = base64.RawURLEncoding.AppendEncode(out, ed25519.Sign(key, msg))
		out = append(out, '"', ',')
		writeProbe(w, pad(out, leaseTail, probeVerdictSize))
	}
}

// contentJSON is the Content-Type of every probe answer.
var contentJSON = []string{"application/json"}

func writeProbe(w http.ResponseWriter, body []byte) {
	w.Header()["Content-Type"] = contentJSON
	w.Write(body)
}

// ThrowawayTLS makes a site CA, a server certificate for 127.0.0.1 and an
// instance client certificate in dir (which must not hold a CA yet) and
// returns the server's and the client's TLS configurations, as the site
// server and the SDK would build them. The files stay in dir: a probe
// process reads the server's.
func ThrowawayTLS(dir string, now time.Time) (serverTLS, clientTLS *tls.Config, err error) {
	site, err := pki.InitSite(dir, []string{"127.0.0.1", "localhost"}, now)
	if err != nil {
		return nil, nil, err
	}
	c, err := pki.IssueClient(dir, "bench", pki.RoleInstance, 1, now)
	if err != nil {
		return nil, nil, err
	}
	st, err := pki.NewServerTLS(site.CACert, site.ServerCert, site.ServerKey, now)
	if err != nil {
		return nil, nil, err
	}
	if clientTLS, err = pki.ClientTLSConfig(filepath.Join(dir, pki.CACertFile), c.Cert, c.Key, now); err != nil {
		return nil, nil, err
	}
	return st.Config(), clientTLS, nil
}
