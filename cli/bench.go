package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/unwritable"
	"github.com/licensor/licensor/loadtest"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/server"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "measure what a site server sustains under many instances",
		help: `Usage: licensor bench --server URL --ca FILE --cert FILE --key FILE [--product P]
       [--mode cycle|heartbeat|authorize] [--clients 16] [--duration 10s | --requests N]
       [--warmup 1s] [--probe-rounds N [--pki-dir DIR]] [--json]
       licensor bench --probe [--pki-dir DIR] [--clients 16] [--duration 10s | --requests N]

Drives a running site server with --clients simulated instances at once,
each with its own instance id, over mutual TLS and keep-alive HTTP/1.1
as the SDK does. The client certificate needs the instance role. Several
servers sharing one pool (the nodes of a cluster): --server URL1,URL2, and
the clients are spread over them in turn.

Modes: cycle registers and releases (one operation is both requests);
heartbeat registers each instance once, then renews its lease, asking for
the renewal alone (no signed verdict), as the SDK's heartbeats mostly do;
authorize asks again for the seat the instance holds, as a sync-mode
check does, and gets a signed verdict each time. Products with QPS
control are asked in async mode. Every seat is released at the end.

Prints operations, throughput, latency percentiles and the failures by
code; --json prints them with stable keys (mode, clients,
duration_seconds, operations, ops_per_second, latency_ms {p50, p90, p99,
max}, errors [{code, name, count}], server, product, cpu_steal_percent).
Denials are counted, not fatal: the exit status is 1 only when the
server cannot be reached or every operation failed.

On a virtual machine, cpu steal is the part of the machine's CPU time
that its hypervisor gave other guests during the measured run (from
/proc/stat; null in JSON, and not printed, where it cannot be read). A
figure that reads low beside a high steal was measured on a machine
short of CPU: measure again.

Each client holds a seat of the product's pool while it runs, and the
pool has the instances the license gives the product ('licensor status'
shows them). With more --clients than seats, the clients beyond the
seats (and more, when other instances hold seats) find the pool full and
are refused with code=501 instance_limit, counted under errors; bench
warns of it on stderr before it starts. To measure without denials, give
--clients no more than the seats that are free.

--probe measures the machine instead, as the scale reference for a
server's figures: the same clients, in the same way, against two trivial
servers on 127.0.0.1, each a process of its own (this binary, started
and stopped by bench) with the site server's TLS and HTTP settings.
probe-trivial answers each request with a fixed body the size of a
heartbeat's renewal and is driven as heartbeat mode is; probe-ed25519
makes one Ed25519 signature per request, as a verdict takes, answers a
body the size of a verdict, and is driven as authorize mode is. Read a
server's heartbeats against probe-trivial and its authorize against
probe-ed25519, measured in the same run. --pki-dir names a site PKI
directory (ca.crt, server.crt, server.key; the client is --cert/--key,
or the first in DIR/clients); without it a throwaway PKI is made and
removed.

--probe-rounds N reads a server against its probe in one command: N runs
against the server, each between two runs of the probe its mode is read
against (probe-ed25519 for authorize, probe-trivial for heartbeat and
cycle), with the same clients, duration and warmup. Each round's ratio is
the server's requests per second (a cycle is two requests) over the mean
of the two probe runs beside it, so that the machine's drift during a
round moves both sides alike; for heartbeat and authorize, also its p99
over theirs. Then the median and range of the rounds' ratios. --json
prints mode, reference, rounds [{probe_before, server, probe_after,
ratio, p99_ratio}], ratio {median, min, max} and p99_ratio. The probe's
TLS files come from --pki-dir (its first client), or from a throwaway
PKI.`,
		setup: func(fs *flag.FlagSet) runFunc {
			var o benchOptions
			fs.StringVar(&o.server, "server", "", "the site server's URL, https://host:port (several, comma-separated: the nodes of one pool)")
			fs.StringVar(&o.ca, "ca", "", "the site CA certificate (ca.crt)")
			fs.StringVar(&o.cert, "cert", "", "a client certificate with the instance role")
			fs.StringVar(&o.key, "key", "", "the client certificate's private key")
			fs.StringVar(&o.product, "product", "", "the product to ask for (default: the license's first)")
			fs.StringVar(&o.mode, "mode", string(loadtest.Cycle), "cycle, heartbeat or authorize")
			fs.IntVar(&o.clients, "clients", loadtest.DefaultClients, "simulated instances at once")
			fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to measure")
			fs.IntVar(&o.requests, "requests", 0, "measure this many operations instead of --duration")
			fs.DurationVar(&o.warmup, "warmup", time.Second, "run this long first, uncounted")
			fs.DurationVar(&o.timeout, "timeout", loadtest.DefaultTimeout, "bound on each request")
			fs.BoolVar(&o.probe, "probe", false, "measure trivial server processes on this machine instead of a server")
			fs.StringVar(&o.pkiDir, "pki-dir", "", "with --probe or --probe-rounds: a site PKI directory to take the probe's TLS files from")
			fs.IntVar(&o.rounds, "probe-rounds", 0, "with --server: measure the server this many times, each run between two runs of its mode's probe, and print the ratios")
			fs.BoolVar(&o.json, "json", false, "print JSON")
			return func(ctx context.Context, e *Env, args []string) error {
				if len(args) > 0 {
					return usageErrorf("bench takes no arguments; 'licensor help bench' lists its flags")
				}
				server.TuneGC() // the clients, like the server, collect garbage as licensor serve does
				fs.Visit(func(f *flag.Flag) { o.set = append(o.set, f.Name) })
				if err := o.check(); err != nil {
					return err
				}
				if o.probe {
					return e.benchProbe(ctx, &o)
				}
				return e.bench(ctx, &o)
			}
		},
	})
}

type benchOptions struct {
	server, ca, cert, key, product, mode string
	clients, requests, rounds            int
	duration, warmup, timeout            time.Duration
	probe, json                          bool
	pkiDir                               string
	set                                  []string // the flags given
}

func (o *benchOptions) given(name string) bool {
	for _, s := range o.set {
		if s == name {
			return true
		}
	}
	return false
}

// check reports mistakes in the command line as usage errors.
func (o *benchOptions) check() error {
	switch {
	case o.given("duration") && o.given("requests"):
		return usageErrorf("bench: give --duration or --requests, not both")
	case o.clients < 1 || o.clients > loadtest.MaxClients:
		return usageErrorf("bench: --clients %d: want 1 to %d", o.clients, loadtest.MaxClients)
	case o.requests < 0:
		return usageErrorf("bench: --requests %d is negative", o.requests)
	case o.requests == 0 && o.duration <= 0:
		return usageErrorf("bench: --duration %s: want a positive duration such as 10s", o.duration)
	case o.warmup < 0 || o.timeout <= 0:
		return usageErrorf("bench: --warmup must not be negative and --timeout must be positive")
	}
	if o.probe {
		for _, f := range []string{"server", "product", "mode", "probe-rounds"} {
			if o.given(f) {
				return usageErrorf("bench --probe measures trivial servers on this machine; --%s does not apply", f)
			}
		}
		if (o.cert == "") != (o.key == "") {
			return usageErrorf("bench --probe: give --cert and --key together")
		}
		if o.pkiDir == "" && (o.ca != "" || o.cert != "") {
			return usageErrorf("bench --probe: --ca, --cert and --key go with --pki-dir; without it a throwaway PKI is made")
		}
		return nil
	}
	if o.rounds < 0 || o.rounds > loadtest.MaxRounds {
		return usageErrorf("bench: --probe-rounds %d: want 1 to %d (0, the default, measures the server alone)", o.rounds, loadtest.MaxRounds)
	}
	if o.pkiDir != "" && o.rounds == 0 {
		return usageErrorf("bench: --pki-dir goes with --probe or --probe-rounds; against a server give --ca, --cert and --key")
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"server", o.server}, {"ca", o.ca}, {"cert", o.cert}, {"key", o.key}} {
		if f.v == "" {
			missing = append(missing, "--"+f.name)
		}
	}
	if len(missing) > 0 {
		return usageErrorf("bench needs %s; 'licensor help bench' shows an example", strings.Join(missing, ", "))
	}
	for _, u := range strings.Split(o.server, ",") {
		if !strings.HasPrefix(u, "https://") {
			return usageErrorf("bench: --server %q: want https://host:port", u)
		}
	}
	if _, err := loadtest.ParseMode(o.mode); err != nil {
		return usageErrorf("bench: --mode %q: want cycle, heartbeat or authorize", o.mode)
	}
	return nil
}

func (e *Env) bench(ctx context.Context, o *benchOptions) error {
	tlsCfg, err := pki.ClientTLSConfig(o.ca, o.cert, o.key, e.Clock.Now())
	if err != nil {
		return err
	}
	mode, _ := loadtest.ParseMode(o.mode)
	urls := strings.Split(o.server, ",")
	cfg := loadtest.Config{
		Server: urls[0], Servers: urls[1:], TLS: tlsCfg, Product: o.product, Mode: mode, Clients: o.clients,
		Duration: o.duration, Requests: o.requests, Warmup: o.warmup, Timeout: o.timeout,
		Started: func(product string, seats int) {
			if o.clients > seats {
				fmt.Fprintf(e.Stderr, "licensor bench: warning: --clients %d is more than the %d seats the license gives %s: "+
					"%d clients at a time will be refused with code=501 instance_limit (counted under errors); "+
					"give --clients %d or fewer to measure without denials\n", o.clients, seats, product, o.clients-seats, seats)
			}
		},
	}
	if o.rounds > 0 {
		return e.benchCompare(ctx, o, cfg)
	}
	r, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if o.json {
		if err := e.writeJSON(r.Summary()); err != nil {
			return err
		}
	} else {
		printBench(e.Stdout, r)
	}
	return benchRanAtAll(r)
}

func (e *Env) benchProbe(ctx context.Context, o *benchOptions) error {
	cfg, cleanup, err := e.probeConfig(o)
	if err != nil {
		return err
	}
	defer cleanup()
	cfg.Clients, cfg.Duration, cfg.Requests, cfg.Warmup, cfg.Timeout = o.clients, o.duration, o.requests, o.warmup, o.timeout
	p, err := loadtest.Probe(ctx, cfg)
	if err != nil {
		return err
	}
	if o.json {
		if err := e.writeJSON(map[string]loadtest.Summary{"trivial": p.Trivial.Summary(), "ed25519": p.Ed25519.Summary()}); err != nil {
			return err
		}
	} else {
		printBench(e.Stdout, p.Trivial)
		printBench(e.Stdout, p.Ed25519)
	}
	if err := benchRanAtAll(p.Trivial); err != nil {
		return err
	}
	return benchRanAtAll(p.Ed25519)
}

// benchCompare measures the server o.rounds times, each run between two
// runs of its mode's probe, and prints the ratios.
func (e *Env) benchCompare(ctx context.Context, o *benchOptions, run loadtest.Config) error {
	pcfg, cleanup, err := e.probeConfig(o)
	if err != nil {
		return err
	}
	defer cleanup()
	c, err := loadtest.Compare(ctx, loadtest.CompareConfig{Run: run, Probe: pcfg, Rounds: o.rounds})
	if err != nil {
		return err
	}
	if o.json {
		if err := e.writeJSON(c.Summary()); err != nil {
			return err
		}
	} else {
		printCompare(e.Stdout, c)
	}
	for _, r := range c.Servers {
		if err := benchRanAtAll(r); err != nil {
			return err
		}
	}
	return nil
}

// printCompare writes a comparison, a line a round and the spread.
func printCompare(w io.Writer, c *loadtest.Comparison) {
	s := c.Servers[0]
	in := ""
	if loadtest.RequestsPerOp(c.Mode) > 1 {
		in = fmt.Sprintf(" (in requests: %d per operation)", loadtest.RequestsPerOp(c.Mode))
	}
	fmt.Fprintf(w, "licensor bench: mode=%s against %s%s, %s, clients=%d duration=%s server=%s product=%s\n",
		c.Mode, c.Reference, in, rounds(len(c.Servers)), s.Clients, benchRound(s.Duration), s.Server, s.Product)
	for i, r := range c.Servers {
		fmt.Fprintf(w, "  round %-2d  probe %.0f/s  server %.0f/s  probe %.0f/s  ratio %.2f",
			i+1, c.Probes[i].OpsPerSecond(), r.OpsPerSecond(), c.Probes[i+1].OpsPerSecond(), c.Ratio(i))
		if c.HasP99() {
			fmt.Fprintf(w, "  p99 %s against %s and %s (%.2f×)", benchLatency(r.Percentile(99)),
				benchLatency(c.Probes[i].Percentile(99)), benchLatency(c.Probes[i+1].Percentile(99)), c.P99Ratio(i))
		} else {
			fmt.Fprintf(w, "  p99 %s", benchLatency(r.Percentile(99)))
		}
		if r.Steal >= 0 && c.Probes[i].Steal >= 0 && c.Probes[i+1].Steal >= 0 {
			fmt.Fprintf(w, "  steal %.1f%% (probes %.1f%%, %.1f%%)", r.Steal*100, c.Probes[i].Steal*100, c.Probes[i+1].Steal*100)
		}
		fmt.Fprintf(w, "  %s\n", benchErrors(r))
	}
	ratio := c.Ratios()
	fmt.Fprintf(w, "  ratio     median %.2f  (%.2f–%.2f)\n", ratio.Median, ratio.Min, ratio.Max)
	if c.HasP99() {
		p := c.P99Ratios()
		fmt.Fprintf(w, "  p99 ratio median %.2f× (%.2f–%.2f)\n", p.Median, p.Min, p.Max)
	}
}

// rounds is "1 round" or "n rounds".
func rounds(n int) string {
	if n == 1 {
		return "1 round"
	}
	return fmt.Sprintf("%d rounds", n)
}

// benchErrors is a run's failures in a few words.
func benchErrors(r *loadtest.Result) string {
	n := 0
	worst := loadtest.ErrorCount{}
	for _, e := range r.Errors {
		n += e.Count
		if e.Count > worst.Count {
			worst = e
		}
	}
	if n == 0 {
		return "errors none"
	}
	return fmt.Sprintf("errors %d (most often code=%d %s)", n, int(worst.Code), worst.Code.Name())
}

// probeConfig is how the probe servers are started and reached: from the
// PKI in --pki-dir, or from a throwaway one that cleanup removes.
func (e *Env) probeConfig(o *benchOptions) (cfg loadtest.ProbeConfig, cleanup func(), err error) {
	cleanup = func() {}
	now := e.Clock.Now()
	pkiDir := o.pkiDir
	if pkiDir == "" {
		tmp, err := os.MkdirTemp("", "licensor-bench-")
		if err != nil {
			return cfg, cleanup, unwritable.File{Path: filepath.Join(os.TempDir(), "licensor-bench-*"), Noun: "temporary directory", By: "'licensor bench'", Dir: true,
				Then: "then run the command again (TMPDIR says where the temporary directory is made)."}.Error(err)
		}
		cleanup = func() { os.RemoveAll(tmp) }
		pkiDir = filepath.Join(tmp, "pki")
		if _, cfg.ClientTLS, err = loadtest.ThrowawayTLS(pkiDir, now); err != nil {
			cleanup()
			return cfg, func() {}, err
		}
	} else {
		// The probe process loads these too; loading them here first
		// reports a missing or expired file before anything starts.
		if _, err = pki.ServerTLSConfig(filepath.Join(pkiDir, pki.CACertFile),
			filepath.Join(pkiDir, pki.ServerCertFile), filepath.Join(pkiDir, pki.ServerKeyFile), now); err != nil {
			return cfg, cleanup, err
		}
		// Against a server (--probe-rounds), --ca, --cert and --key are
		// the server's; the probe takes its client from the PKI directory.
		cert, key, ca := o.cert, o.key, o.ca
		if !o.probe {
			cert, key, ca = "", "", ""
		}
		if cert == "" {
			if cert, key, err = benchFirstClient(pkiDir); err != nil {
				return cfg, cleanup, err
			}
		}
		if ca == "" {
			ca = filepath.Join(pkiDir, pki.CACertFile)
		}
		if cfg.ClientTLS, err = pki.ClientTLSConfig(ca, cert, key, now); err != nil {
			return cfg, cleanup, err
		}
	}
	exe := e.Executable
	if exe == nil {
		exe = os.Executable
	}
	self, err := exe()
	if err != nil {
		cleanup()
		return cfg, func() {}, codes.Errorf(codes.Unknown, "cannot find licensor's own binary to start the probe server: %w", err)
	}
	cfg.Command = func(mode loadtest.Mode) *exec.Cmd {
		return exec.Command(self, benchProbeServer, "--mode", string(mode), "--ca", filepath.Join(pkiDir, pki.CACertFile),
			"--cert", filepath.Join(pkiDir, pki.ServerCertFile), "--key", filepath.Join(pkiDir, pki.ServerKeyFile))
	}
	return cfg, cleanup, nil
}

// benchFirstClient is the first client certificate in a PKI directory, by
// name, that has its key beside it.
func benchFirstClient(dir string) (cert, key string, err error) {
	certs, _ := filepath.Glob(filepath.Join(dir, pki.ClientsDir, "*.crt"))
	sort.Strings(certs)
	for _, c := range certs {
		k := strings.TrimSuffix(c, ".crt") + ".key"
		if _, err := os.Stat(k); err == nil {
			return c, k, nil
		}
	}
	return "", "", codes.Errorf(codes.ClientCert, "%s holds no client certificate with its key", filepath.Join(dir, pki.ClientsDir)).
		WithFix(fmt.Sprintf("Issue one with 'licensor pki client --dir %s --name bench', or give --cert and --key.", dir))
}

// benchRanAtAll fails a run in which no operation succeeded, naming the most
// frequent failure.
func benchRanAtAll(r *loadtest.Result) error {
	if r.Operations == 0 {
		return codes.Errorf(codes.Unknown, "no operation completed in %s", r.Duration.Round(time.Millisecond)).
			WithFix("Give the run a longer --duration, or check the server's load.")
	}
	if r.Failed < r.Operations {
		return nil
	}
	worst := loadtest.ErrorCount{Code: codes.Unknown}
	for _, e := range r.Errors {
		if e.Count > worst.Count {
			worst = e
		}
	}
	msg := fmt.Sprintf("every one of the %d operations failed; most often code=%d %s (%d times)", r.Operations, int(worst.Code), worst.Code.Name(), worst.Count)
	if worst.Message != "" {
		msg += ": " + worst.Message
	}
	return &codes.Error{Code: worst.Code, Msg: msg}
}

func printBench(w io.Writer, r *loadtest.Result) {
	fmt.Fprintf(w, "licensor bench: mode=%s clients=%d duration=%s server=%s", r.Mode, r.Clients, benchRound(r.Duration), r.Server)
	if r.Product != "" {
		fmt.Fprintf(w, " product=%s", r.Product)
	}
	fmt.Fprintf(w, "\n  operations   %d  (%.1f/s)\n", r.Operations, r.OpsPerSecond())
	fmt.Fprintf(w, "  latency      p50 %s  p90 %s  p99 %s  max %s\n",
		benchLatency(r.Percentile(50)), benchLatency(r.Percentile(90)), benchLatency(r.Percentile(99)), benchLatency(r.Percentile(100)))
	if r.Steal >= 0 {
		fmt.Fprintf(w, "  cpu steal    %.1f%%  (of this machine's CPU time, taken by its hypervisor for other guests)\n", r.Steal*100)
	}
	if len(r.Errors) == 0 {
		fmt.Fprintf(w, "  errors       none\n")
		return
	}
	for i, e := range r.Errors {
		label := ""
		if i == 0 {
			label = "errors"
		}
		fmt.Fprintf(w, "  %-12s code=%d %s  %d", label, int(e.Code), e.Code.Name(), e.Count)
		if e.Message != "" {
			fmt.Fprintf(w, "  (%s)", e.Message)
		}
		fmt.Fprintln(w)
	}
}

// benchRound keeps a run's length readable: 10s, 1.2s, 350ms.
func benchRound(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// benchLatency writes two or three significant digits: 12ms, 1.1ms, 350µs.
func benchLatency(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0fms", ms)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.0fµs", ms*1000)
}
