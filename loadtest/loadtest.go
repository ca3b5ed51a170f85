// Package loadtest drives a site license server the way many protected
// instances would, over the same mutual TLS and keep-alive HTTP/1.1 as the
// SDK, and measures what it sustains: operations per second and the
// latency of each operation. It is the engine of 'licensor bench'; its
// benchmarks run it against a server started in-process.
//
// Probe runs the same clients against trivial servers, each a process of
// its own with the site server's TLS and HTTP settings (ServeProbeProcess,
// 'licensor bench-probe-server'), so that the license server's figures
// can be read against what this machine does with no license logic at
// all, measured the same way.
package loadtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/license"
)

// Mode is what each simulated instance does in a loop.
type Mode string

// The modes of Run, and the names Probe gives its two results.
const (
	// Cycle registers (POST /v1/authorize) and releases (POST
	// /v1/release): one operation is both requests.
	Cycle Mode = "cycle"
	// Heartbeat registers once before the clock starts, then renews its
	// lease (POST /v1/heartbeat), asking for the renewal alone as the
	// SDK's async refresher does between verdicts.
	Heartbeat Mode = "heartbeat"
	// Authorize asks again and again for the seat it already holds, as a
	// sync-mode SDK does on every check.
	Authorize Mode = "authorize"

	ProbeTrivial Mode = "probe-trivial"
	ProbeEd25519 Mode = "probe-ed25519"
)

// ParseMode reads "cycle", "heartbeat" or "authorize".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Cycle, Heartbeat, Authorize:
		return m, nil
	}
	return "", codes.Errorf(codes.InvalidArgument, "mode %q: want cycle, heartbeat or authorize", s)
}

// Defaults for the zero values of Config.
const (
	DefaultClients = 16
	DefaultTimeout = 10 * time.Second
)

// Config is one run against a site server.
type Config struct {
	// Server is the server's base URL, "https://host:port".
	Server string
	// Servers, when set, are more servers sharing one pool (the nodes of
	// a cluster): the clients are spread over Server and them in turn.
	Servers []string
	// TLS is the client side of mutual TLS: the site CA and a client
	// certificate with the instance role (pki.ClientTLSConfig).
	TLS *tls.Config
	// Product is the product to ask for; empty takes the license's first.
	Product string
	// Started, when set, is called once the server has answered with its
	// license, before the first request: the product the run asks for and
	// the instances (seats) the license gives it.
	Started func(product string, seats int)
	// Mode is Cycle when empty.
	Mode Mode
	// Clients is how many instances run at once, each with its own
	// instance id (DefaultClients when zero).
	Clients int
	// Duration bounds the measured run by time; Requests, when positive,
	// bounds it by operations instead.
	Duration time.Duration
	Requests int
	// Warmup runs before the measured run; its operations are not counted.
	Warmup time.Duration
	// Timeout bounds each request (DefaultTimeout when zero).
	Timeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Mode == "" {
		c.Mode = Cycle
	}
	if c.Clients == 0 {
		c.Clients = DefaultClients
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
}

// Validate checks c with its defaults applied; errors name the field.
func (c Config) Validate() error {
	c.setDefaults()
	if c.Server == "" {
		return codes.Errorf(codes.InvalidArgument, "Server is empty: want the site server's URL, https://host:port")
	}
	for _, s := range append([]string{c.Server}, c.Servers...) {
		if u, err := url.Parse(s); err != nil || u.Scheme != "https" || u.Host == "" {
			return codes.Errorf(codes.InvalidArgument, "Server %q: want https://host:port", s)
		}
	}
	switch {
	case c.TLS == nil:
		return codes.Errorf(codes.InvalidArgument, "TLS is nil: the server requires a client certificate")
	}
	if _, err := ParseMode(string(c.Mode)); err != nil {
		return err
	}
	return checkBounds(c.Clients, c.Duration, c.Requests, c.Warmup, c.Timeout)
}

// MaxClients bounds Clients: each is a goroutine and a connection.
const MaxClients = 10000

func checkBounds(clients int, duration time.Duration, requests int, warmup, timeout time.Duration) error {
	switch {
	case clients < 1 || clients > MaxClients:
		return codes.Errorf(codes.InvalidArgument, "Clients %d: want 1 to %d", clients, MaxClients)
	case requests < 0:
		return codes.Errorf(codes.InvalidArgument, "Requests %d is negative", requests)
	case requests == 0 && duration <= 0:
		return codes.Errorf(codes.InvalidArgument, "Duration %s: want a positive duration, or a positive Requests", duration)
	case warmup < 0:
		return codes.Errorf(codes.InvalidArgument, "Warmup %s is negative", warmup)
	case timeout < 0:
		return codes.Errorf(codes.InvalidArgument, "Timeout %s is negative", timeout)
	}
	return nil
}

// Result is a run's figures.
type Result struct {
	Mode    Mode
	Server  string
	Product string
	Clients int
	// Operations counts the measured operations, granted or not; Failed
	// those that were not.
	Operations int
	Failed     int
	// Duration is the measured run: from the end of the warmup until the
	// last operation finished.
	Duration time.Duration
	// Errors counts every failed request of the measured run, by code,
	// ordered by code: failed operations, and also failed registrations
	// (heartbeat mode registers before the clock starts) and failed
	// releases at the end, which are not operations.
	Errors []ErrorCount
	// Steal is the part of the machine's CPU time, 0 to 1, that the
	// hypervisor gave other guests during the measured run (Linux's
	// /proc/stat); negative where it cannot be told.
	Steal float64
	// latencies are those of every operation the server answered, sorted.
	latencies []time.Duration
}

// ErrorCount is how many requests failed with one code. Transport
// failures, where no answer came, are codes.Unknown (-1).
type ErrorCount struct {
	Code  codes.Code
	Count int
	// Message is the first failure's message, kept for code -1, whose
	// causes vary (connection refused, timeout, a body that is not JSON).
	Message string
}

// OpsPerSecond is the measured throughput.
func (r *Result) OpsPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Operations) / r.Duration.Seconds()
}

// Percentile returns the latency below which p percent (0 to 100) of the
// answered operations fall, by nearest rank; 0 when none was answered.
// Percentile(100) is the slowest.
func (r *Result) Percentile(p float64) time.Duration {
	return percentile(r.latencies, p)
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	return sorted[min(max(rank, 1), n)-1]
}

// Answered is how many operations got an answer from the server and so
// have a latency.
func (r *Result) Answered() int { return len(r.latencies) }

// Summary is a Result as 'licensor bench --json' prints it; the keys are
// stable.
type Summary struct {
	Mode            Mode           `json:"mode"`
	Clients         int            `json:"clients"`
	DurationSeconds float64        `json:"duration_seconds"`
	Operations      int            `json:"operations"`
	OpsPerSecond    float64        `json:"ops_per_second"`
	LatencyMS       Latency        `json:"latency_ms"`
	Errors          []ErrorSummary `json:"errors"`
	Server          string         `json:"server"`
	Product         string         `json:"product"`
	// CPUStealPercent is Result.Steal in percent, null where it cannot
	// be told.
	CPUStealPercent *float64 `json:"cpu_steal_percent"`
}

// Latency is a run's latency percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// ErrorSummary is one code's count.
type ErrorSummary struct {
	Code    int    `json:"code"`
	Name    string `json:"name"`
	Count   int    `json:"count"`
	Message string `json:"message,omitempty"`
}

// Summary returns r's figures for JSON.
func (r *Result) Summary() Summary {
	ms := func(p float64) float64 { return float64(r.Percentile(p)) / float64(time.Millisecond) }
	s := Summary{
		Mode: r.Mode, Clients: r.Clients, DurationSeconds: r.Duration.Seconds(),
		Operations: r.Operations, OpsPerSecond: r.OpsPerSecond(),
		LatencyMS: Latency{P50: ms(50), P90: ms(90), P99: ms(99), Max: ms(100)},
		Errors:    []ErrorSummary{}, Server: r.Server, Product: r.Product,
	}
	for _, e := range r.Errors {
		s.Errors = append(s.Errors, ErrorSummary{Code: int(e.Code), Name: e.Code.Name(), Count: e.Count, Message: e.Message})
	}
	if r.Steal >= 0 {
		p := r.Steal * 100
		s.CPUStealPercent = &p
	}
	return s
}

// Run drives the server at cfg.Server until cfg's bound, then releases
// every seat its instances hold. It fails only when the run cannot start:
// a bad Config, or a server that cannot be reached or does not license
// the product. Denials during the run are counted in the Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r, err := newRun(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if cfg.Started != nil {
		cfg.Started(r.product, r.seats)
	}

	clients := make([]*client, cfg.Clients)
	ops := make([]func(context.Context) outcome, cfg.Clients)
	var setup tally
	for i := range clients {
		clients[i] = r.newClient(i + 1)
	}
	switch cfg.Mode {
	case Cycle:
		for i, c := range clients {
			ops[i] = c.cycle
		}
	case Authorize:
		for i, c := range clients {
			ops[i] = c.authorize
		}
	case Heartbeat:
		// Register every instance before the clock starts; one refused
		// (a full pool, say) sits the run out, its refusal counted.
		outs := make([]outcome, len(clients))
		each(len(clients), func(i int) { outs[i] = clients[i].register(ctx) })
		for i, c := range clients {
			if outs[i].code == codes.OK {
				ops[i] = c.heartbeat
			} else {
				setup.record(outs[i], 0, false)
			}
		}
	}

	t, elapsed, steal := drive(ctx, plan{duration: cfg.Duration, requests: cfg.Requests, warmup: cfg.Warmup}, ops)

	// Release every seat, even when ctx was cancelled: a bench must not
	// leave the pool full behind it.
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Timeout)
	defer cancel()
	outs := make([]outcome, len(clients))
	each(len(clients), func(i int) { outs[i] = clients[i].release(cleanup) })
	for _, o := range outs {
		if o.code != codes.OK {
			setup.record(o, 0, false)
		}
	}
	t.merge(&setup)

	res := t.result(elapsed)
	res.Steal = steal
	res.Mode, res.Server, res.Product, res.Clients = cfg.Mode, strings.Join(append([]string{cfg.Server}, cfg.Servers...), ","), r.product, cfg.Clients
	return res, nil
}

// run is the state the clients of one Run share.
type run struct {
	cfg     Config
	p       *poster   // the first server's: the license is read there
	ps      []*poster // every server's, the first included
	product string
	seats   int // the product's instances in the license
	runID   string
	// haveLicense is the id of the license in force, sent so that answers
	// leave the license out; async is set for a product with QPS control.
	haveLicense atomic.Pointer[string]
	async       atomic.Bool
}

// newRun asks the server for its license: whether it answers at all, the
// license id, and whether the product has QPS control (async mode).
func newRun(ctx context.Context, cfg Config) (*run, error) {
	r := &run{cfg: cfg, product: cfg.Product, runID: newRunID()}
	urls := append([]string{cfg.Server}, cfg.Servers...)
	for i, u := range urls {
		// Each server's share of the clients, rounded up.
		r.ps = append(r.ps, newPoster(u, cfg.TLS, (cfg.Clients+len(urls)-1-i)/len(urls)+1, cfg.Timeout))
	}
	r.p = r.ps[0]
	var view license.View
	if err := r.p.getJSON(ctx, api.PathLicense, &view); err != nil {
		r.close()
		return nil, err
	}
	var names []string
	found := false
	for _, p := range view.ProductLicenses {
		names = append(names, p.Subject)
		if r.product == "" {
			r.product = p.Subject
		}
		if p.Subject == r.product {
			found = true
			r.seats = p.InstanceSize
			r.async.Store(p.QPS > 0)
		}
	}
	if !found {
		r.close()
		return nil, codes.Errorf(codes.ProductUnlicensed, "the license in force at %s (%s) does not list product %q; it lists %s",
			cfg.Server, view.ID, r.product, strings.Join(names, ", ")).
			WithFix("Pass --product with one of the products the license lists.")
	}
	r.haveLicense.Store(&view.ID)
	return r, nil
}

func (r *run) close() {
	for _, p := range r.ps {
		p.close()
	}
}

func newRunID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// body is an instance request for id from a client that holds the license
// have, in async mode or not; renewal asks a heartbeat for the renewal
// alone ("verdict": false), as the SDK's heartbeats mostly do.
func (r *run) body(id, have string, async, renewal bool) []byte {
	req := api.InstanceRequest{Product: r.product, InstanceID: id, Mode: "sync", HaveLicense: have}
	if async {
		req.Mode = "async"
	}
	if renewal {
		req.Verdict = new(bool)
	}
	b, _ := json.Marshal(req)
	return b
}

// learn updates what the run knows from an answer: a verdict that carries
// the license means another license is in force; code 504 means the
// product needs async mode.
func (r *run) learn(o outcome, data []byte) {
	switch o.code {
	case codes.OK:
		if id := licenseOf(data); id != "" {
			r.haveLicense.Store(&id)
		}
	case codes.QPSNeedsAsync:
		r.async.Store(true)
	}
}

// client is one simulated instance.
type client struct {
	r  *run
	p  *poster // the server this instance asks
	id string
	// held is set while the instance holds a seat (heartbeat mode).
	held bool
	// body and renewal are the authorize and heartbeat bodies made for
	// the license and mode the run knew then (have, async), made again
	// when either changes: encoding them for every request would charge
	// the load tool's work to the server it shares the machine with.
	body, renewal []byte
	have          *string
	async         bool
}

// request returns the client's authorize body, or with renewal its
// heartbeat body.
func (c *client) request(renewal bool) []byte {
	have, async := c.r.haveLicense.Load(), c.r.async.Load()
	if c.body == nil || have != c.have || async != c.async {
		c.body, c.renewal = c.r.body(c.id, *have, async, false), c.r.body(c.id, *have, async, true)
		c.have, c.async = have, async
	}
	if renewal {
		return c.renewal
	}
	return c.body
}

func (r *run) newClient(n int) *client {
	return &client{r: r, p: r.ps[n%len(r.ps)], id: fmt.Sprintf("bench-%s-%d", r.runID, n)}
}

func (c *client) authorize(ctx context.Context) outcome {
	o, data := c.p.post(ctx, api.PathAuthorize, c.request(false))
	c.r.learn(o, data)
	return o
}

func (c *client) register(ctx context.Context) outcome {
	o := c.authorize(ctx)
	c.held = o.code == codes.OK
	return o
}

// cycle is one register+release operation.
func (c *client) cycle(ctx context.Context) outcome {
	if o := c.authorize(ctx); o.code != codes.OK {
		return o
	}
	return c.release(ctx)
}

// heartbeat renews the lease; an instance that lost it (lapsed, revoked)
// registers again, as the SDK does.
func (c *client) heartbeat(ctx context.Context) outcome {
	if !c.held {
		return c.register(ctx)
	}
	o, data := c.p.post(ctx, api.PathHeartbeat, c.request(true))
	c.r.learn(o, data)
	if o.code == codes.LeaseUnknown {
		c.held = false
	}
	return o
}

func (c *client) release(ctx context.Context) outcome {
	b, _ := json.Marshal(api.InstanceRequest{Product: c.r.product, InstanceID: c.id})
	o, _ := c.p.post(ctx, api.PathRelease, b)
	if o.code == codes.OK {
		c.held = false
	}
	return o
}

// tally is what one client counted.
type tally struct {
	latencies  []time.Duration
	operations int
	failed     int
	errors     map[codes.Code]*ErrorCount
}

// record counts o; an operation (op) is also counted as one, with its
// latency when the server answered.
func (t *tally) record(o outcome, d time.Duration, op bool) {
	if op {
		t.operations++
		if o.answered {
			t.latencies = append(t.latencies, d)
		}
	}
	if o.code == codes.OK {
		return
	}
	if op {
		t.failed++
	}
	if t.errors == nil {
		t.errors = map[codes.Code]*ErrorCount{}
	}
	e := t.errors[o.code]
	if e == nil {
		e = &ErrorCount{Code: o.code}
		if o.code == codes.Unknown {
			e.Message = o.msg
		}
		t.errors[o.code] = e
	}
	e.Count++
}

func (t *tally) merge(o *tally) {
	t.latencies = append(t.latencies, o.latencies...)
	t.operations += o.operations
	t.failed += o.failed
	for code, e := range o.errors {
		if t.errors == nil {
			t.errors = map[codes.Code]*ErrorCount{}
		}
		if have := t.errors[code]; have != nil {
			have.Count += e.Count
		} else {
			c := *e
			t.errors[code] = &c
		}
	}
}

func (t *tally) result(elapsed time.Duration) *Result {
	slices.Sort(t.latencies)
	r := &Result{Operations: t.operations, Failed: t.failed, Duration: elapsed, latencies: t.latencies}
	for _, e := range t.errors {
		r.Errors = append(r.Errors, *e)
	}
	slices.SortFunc(r.Errors, func(a, b ErrorCount) int { return cmp.Compare(a.Code, b.Code) })
	return r
}
