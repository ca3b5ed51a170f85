package loadtest

import (
	"context"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/server"
)

// benchClients is how many instances drive the server at once.
const benchClients = 16

// parallel runs op on benchClients goroutines (b.SetParallelism rounds to
// a multiple of GOMAXPROCS) and reports ops/s and latency percentiles.
// newOp makes the n-th goroutine's operation.
func parallel(b *testing.B, newOp func(n int) func(context.Context) outcome) {
	ctx := context.Background()
	b.SetParallelism(max(1, benchClients/runtime.GOMAXPROCS(0)))
	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
		failures  = map[codes.Code]int{}
	)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		op := newOp(int(next.Add(1)))
		var lat []time.Duration
		failed := map[codes.Code]int{}
		for pb.Next() {
			began := time.Now()
			o := op(ctx)
			lat = append(lat, time.Since(began))
			if o.code != codes.OK {
				failed[o.code]++
			}
		}
		mu.Lock()
		defer mu.Unlock()
		latencies = append(latencies, lat...)
		for c, n := range failed {
			failures[c] += n
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(failures) > 0 {
		b.Errorf("failures by code: %v", failures)
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(percentile(latencies, 50))/1e6, "p50-ms")
	b.ReportMetric(float64(percentile(latencies, 99))/1e6, "p99-ms")
	b.ReportMetric(0, "ns/op") // per-op time of a parallel run misleads; ops/s says it
}

// benchServer drives a real server (SQLite store, system clock, logs
// discarded) in mode.
func benchServer(b *testing.B, mode Mode) {
	server.TuneGC() // as licensor serve runs
	s := newSite(b, nil, product("ocr", 1000, 0, time.Now()))
	benchRun(b, Config{Server: s.start(), TLS: s.clientTLS("app"), Product: "ocr", Mode: mode, Clients: benchClients, Timeout: DefaultTimeout})
}

// benchRun drives the server of cfg with Run's clients, in cfg.Mode.
func benchRun(b *testing.B, cfg Config) {
	r, err := newRun(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer r.close()
	var mu sync.Mutex
	var clients []*client
	parallel(b, func(n int) func(context.Context) outcome {
		c := r.newClient(n)
		mu.Lock()
		clients = append(clients, c)
		mu.Unlock()
		switch cfg.Mode {
		case Heartbeat:
			if o := c.register(context.Background()); o.code != codes.OK {
				b.Errorf("register %s: code %d %s", c.id, o.code, o.msg)
			}
			return c.heartbeat
		case Authorize:
			return c.authorize
		}
		return c.cycle
	})
	for _, c := range clients {
		c.release(context.Background())
	}
}

// BenchmarkCycle is register+release: two requests, two store writes.
func BenchmarkCycle(b *testing.B) { benchServer(b, Cycle) }

// BenchmarkHeartbeat is lease renewal by instances holding a seat.
func BenchmarkHeartbeat(b *testing.B) { benchServer(b, Heartbeat) }

// BenchmarkAuthorize is a sync-mode check of a seat already held.
func BenchmarkAuthorize(b *testing.B) { benchServer(b, Authorize) }

// BenchmarkProbe is the scale reference: the same clients and mutual TLS
// against a probe server process answering a renewal-sized body (driven
// as heartbeats are), and one that also makes an Ed25519 signature and
// answers a verdict-sized body (driven as authorize is).
func BenchmarkProbe(b *testing.B) {
	server.TuneGC() // as the server benchmarks run
	dir := filepath.Join(b.TempDir(), "pki")
	_, clientTLS, err := ThrowawayTLS(dir, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		mode Mode
	}{{"trivial", ProbeTrivial}, {"ed25519", ProbeEd25519}} {
		b.Run(tt.name, func(b *testing.B) {
			pc := &probeChildren{dir: dir}
			pp, err := startProbeProcess(pc.command(tt.mode))
			if err != nil {
				b.Fatal(err)
			}
			defer pp.stop()
			benchRun(b, Config{Server: pp.url, TLS: clientTLS, Mode: probeClientMode[tt.mode], Clients: benchClients, Timeout: DefaultTimeout})
		})
	}
}
