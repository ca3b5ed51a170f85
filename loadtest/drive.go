package loadtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/verdict"
)

// plan bounds a measured run.
type plan struct {
	duration time.Duration
	requests int
	warmup   time.Duration
}

// drive runs each non-nil op in a loop on its own goroutine: warmup
// first, uncounted, then the measured run until the plan's bound or ctx
// is done. It returns the merged tally and the measured duration.
func drive(ctx context.Context, p plan, ops []func(context.Context) outcome) (*tally, time.Duration, float64) {
	start := time.Now()
	measure := start.Add(p.warmup)
	// The machine's CPU times when the measured part begins, read by a
	// timer (at once without a warmup) and waited for at the end.
	var cpu0 cpuTimes
	read := make(chan struct{})
	timer := time.AfterFunc(p.warmup, func() { cpu0 = readCPUTimes(); close(read) })
	var end time.Time // zero when bounded by requests
	if p.requests <= 0 {
		end = measure.Add(p.duration)
	}
	var tickets atomic.Int64
	tallies := make([]tally, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		if op == nil {
			continue
		}
		t := &tallies[i]
		wg.Go(func() {
			for ctx.Err() == nil {
				began := time.Now()
				counted := !began.Before(measure)
				if counted {
					if !end.IsZero() && !began.Before(end) {
						return
					}
					if p.requests > 0 && tickets.Add(1) > int64(p.requests) {
						return
					}
				}
				o := op(ctx)
				took := time.Since(began)
				if o.code != codes.OK && ctx.Err() != nil {
					return // cancelled under us: not the server's doing
				}
				if counted {
					t.record(o, took, true)
				}
			}
		})
	}
	wg.Wait()
	elapsed := max(time.Since(measure), 0)
	cpu1 := readCPUTimes()
	if timer.Stop() {
		close(read) // ended within the warmup: nothing was measured
	}
	<-read
	var all tally
	for i := range tallies {
		all.merge(&tallies[i])
	}
	return &all, elapsed, stealShare(cpu0, cpu1)
}

// each runs f(0) … f(n-1) at once and waits for them.
func each(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// outcome is one request's or operation's result.
type outcome struct {
	code codes.Code // codes.OK when granted
	// answered is set when the server answered, so the latency counts.
	answered bool
	// msg describes a failure with no licensor code (codes.Unknown).
	msg string
}

// poster sends requests over keep-alive HTTP/1.1 connections shared by
// every client, as many SDK instances on one host would hold connections:
// the measured requests over connections of its own (see client.go), the
// run's first over Go's HTTP client, whose errors say the most.
type poster struct {
	base    string
	host    string // the URL's host, for the Host header
	addr    string // host:port, to dial
	tls     *tls.Config
	timeout time.Duration
	idle    chan *conn
	tr      *http.Transport
	hc      *http.Client
}

func newPoster(base string, cfg *tls.Config, clients int, timeout time.Duration) *poster {
	tr := &http.Transport{
		TLSClientConfig:     cfg.Clone(),
		ForceAttemptHTTP2:   false, // HTTP/1.1, like the SDK
		MaxIdleConns:        2 * clients,
		MaxIdleConnsPerHost: 2 * clients,
		IdleConnTimeout:     time.Minute,
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: timeout,
	}
	base = strings.TrimRight(base, "/")
	var host, addr string
	if u, err := url.Parse(base); err == nil {
		host, addr = u.Host, u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "443")
		}
	}
	return &poster{base: base, host: host, addr: addr, tls: cfg.Clone(), timeout: timeout, idle: make(chan *conn, 2*clients),
		tr: tr, hc: &http.Client{Transport: tr, Timeout: timeout}}
}

// close drops the idle connections: a server shutting down gracefully
// waits for connections that are open but idle.
func (p *poster) close() {
	p.tr.CloseIdleConnections()
	for {
		select {
		case c := <-p.idle:
			c.close()
		default:
			return
		}
	}
}

// maxAnswer bounds what is read of an answer.
const maxAnswer = 1 << 20

func (p *poster) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	io.Copy(io.Discard, resp.Body) // read to the end, so the connection is reused
	return resp.StatusCode, data, err
}

// post sends a JSON body and returns the outcome and the answer's body.
func (p *poster) post(ctx context.Context, path string, body []byte) (outcome, []byte) {
	status, data, err := p.send(ctx, path, body)
	if err != nil {
		return outcome{code: codes.Unknown, msg: summarize(err)}, nil
	}
	return answerOutcome(status, data), data
}

// send posts body to path on an idle connection, or a new one, and keeps
// the connection for the next request when the answer allows. A request
// that fails on a kept connection before any answer (the server closed it
// while idle, or restarted) is sent once more on a new one, as Go's client
// does.
func (p *poster) send(ctx context.Context, path string, body []byte) (int, []byte, error) {
	var c *conn
	select {
	case c = <-p.idle:
	default:
	}
	kept := c != nil
	if !kept {
		var err error
		if c, err = dial(ctx, p.addr, p.tls, p.timeout); err != nil {
			return 0, nil, err
		}
	}
	status, data, reuse, err := c.post(ctx, p.host, path, body, p.timeout)
	if err != nil && kept && status == 0 && ctx.Err() == nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.close()
		if c, err = dial(ctx, p.addr, p.tls, p.timeout); err != nil {
			return 0, nil, err
		}
		status, data, reuse, err = c.post(ctx, p.host, path, body, p.timeout)
	}
	if err != nil || !reuse {
		c.close()
		return status, data, err
	}
	select {
	case p.idle <- c:
	default:
		c.close()
	}
	return status, data, nil
}

// answerOutcome reads a licensor answer: 200 is a grant, anything else an
// ErrorBody with its code.
func answerOutcome(status int, data []byte) outcome {
	if status == http.StatusOK {
		return outcome{code: codes.OK, answered: true}
	}
	var e struct {
		Code    *int   `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &e) != nil || e.Code == nil || *e.Code == 0 {
		return outcome{code: codes.Unknown, answered: true, msg: fmt.Sprintf("HTTP %d with a body that is not a licensor error: %.80q", status, data)}
	}
	return outcome{code: codes.Code(*e.Code), answered: true, msg: e.Message}
}

// getJSON fetches path into v; a failure is a *codes.Error naming the fix.
func (p *poster) getJSON(ctx context.Context, path string, v any) error {
	status, data, err := p.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return transportError(p.base, err)
	}
	if status != http.StatusOK {
		o := answerOutcome(status, data)
		return codes.Errorf(o.code, "GET %s%s: %s", p.base, path, o.msg)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return codes.Errorf(codes.Protocol, "GET %s%s: the answer is not the JSON expected: %v", p.base, path, err).
			WithFix("Check that the URL points at a licensor site server.")
	}
	return nil
}

// transportError gives a request that got no answer its code.
func transportError(base string, err error) error {
	var (
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		header  tls.RecordHeaderError
		op      *net.OpError
		nerr    net.Error
	)
	code := codes.Unknown
	switch {
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid):
		code = codes.ServerCert
	case errors.As(err, &header):
		code = codes.Protocol
	case errors.As(err, &op) && op.Op == "dial":
		code = codes.Connect
	case errors.As(err, &nerr) && nerr.Timeout():
		code = codes.Timeout
	case errors.As(err, &op) && op.Op == "remote error":
		code = codes.TLSHandshake
	}
	return codes.Errorf(code, "cannot reach the server at %s: %s", base, summarize(err))
}

// summarize is a transport failure without the request's method and URL,
// which every failure of a run shares.
func summarize(err error) string {
	var u *url.Error
	if errors.As(err, &u) {
		err = u.Err
	}
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// licenseOf returns the license id ("lic") of the verdict in a grant that
// carries the license, which it does only when the license in force is not
// the one the client said it holds; "" otherwise.
func licenseOf(data []byte) string {
	if !bytes.Contains(data, []byte(`"license":"`)) {
		return ""
	}
	var v api.VerdictBody
	if json.Unmarshal(data, &v) != nil || v.License == "" {
		return ""
	}
	parts := strings.Split(v.Verdict, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c verdict.Claims
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.LicenseID
}
