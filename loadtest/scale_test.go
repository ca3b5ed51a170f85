package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/internal/storeopen"
	"github.com/licensor/licensor/server"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/sqlite"
)

// The scale figures the project holds itself to, measured on a real
// server: 100,000 live leases on one node in at most 256 MB of RSS, and a
// restart with 100,000 leases serving again within 2 s.

// scaleLeases is the pool the scale benchmarks fill.
const scaleLeases = 100_000

// scaleLeaseTTL keeps the filled leases live: the site's fake clock does
// not move, so nothing lapses during a benchmark anyway.
const scaleLeaseTTL = time.Hour

// scaleSite is a site licensing "ocr" for scaleLeases instances, on a fake
// clock stopped at the current second (TLS checks certificates against the
// system clock, so the site's time cannot be a fixed date), whose data
// directory holds scaleLeases live leases held by "app". The leases are
// written through the store before any server runs: driving 100,000
// grants over mutual TLS would take far longer and end in the same file.
func scaleSite(b *testing.B) *site {
	b.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	s := newSite(b, clock.NewFake(now), product("ocr", scaleLeases, 0, now))
	st, err := sqlite.Open(filepath.Join(s.cfg.DataDir, server.StoreFile))
	if err != nil {
		b.Fatal(err)
	}
	fillThrough(b, st, now)
	return s
}

// scaleSitePostgres is scaleSite with its pool in a fresh PostgreSQL
// database (the site's store setting names it), filled by SQL.
func scaleSitePostgres(b *testing.B) *site {
	b.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	s := newSite(b, clock.NewFake(now), product("ocr", scaleLeases, 0, now))
	full := pgtest.Database(b)
	db, password := pgtest.WithoutPassword(b, full)
	s.cfg.Store, s.cfg.StorePassword, s.cfg.Node = db, filepath.Join(s.dir, "pgpassword"), "bench"
	if err := os.WriteFile(s.cfg.StorePassword, []byte(password), 0o600); err != nil {
		b.Fatal(err)
	}
	st, err := storeopen.Open(context.Background(), s.setting()) // makes the schema
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, full)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO licensor_pools (product, base) VALUES ('ocr', $1)`, scaleLeases); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO licensor_leases (product, instance_id, kind, holder, since, renewed, expires, due, node)
		SELECT 'ocr', 'scale-' || lpad(i::text, 6, '0'), 'instance', 'app', $1, $1, $2, $2, 'bench'
		FROM generate_series(0, $3 - 1) AS i`, now, now.Add(scaleLeaseTTL), scaleLeases); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE licensor_leases`); err != nil {
		b.Fatal(err)
	}
	return s
}

// setting is where the site's store is.
func (s *site) setting() storeopen.Setting {
	return storeopen.Setting{Store: s.cfg.Store, PasswordFile: s.cfg.StorePassword, DataDir: s.cfg.DataDir, Node: s.cfg.Node}
}

// fillThrough fills st with scaleLeases live leases held by "app" and
// closes it.
func fillThrough(b *testing.B, st store.Store, now time.Time) {
	b.Helper()
	const workers = 64 // each Acquire waits for its commit; concurrent ones share transactions
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < scaleLeases; i += workers {
				_, err := st.Acquire(context.Background(), store.AcquireRequest{Product: "ocr", InstanceID: scaleInstance(i),
					Holder: "app", Limit: scaleLeases, TTL: scaleLeaseTTL, Now: now})
				if err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if err := st.Close(); err != nil && first == nil {
		first = err
	}
	if first != nil {
		b.Fatalf("fill %d leases: %v", scaleLeases, first)
	}
}

func scaleInstance(i int) string { return fmt.Sprintf("scale-%06d", i) }

// scaleServer is a server started by scaleServe.
type scaleServer struct {
	srv    *server.Server
	url    string
	cancel context.CancelFunc
	done   chan error
}

// scaleServe makes the site's server with opts and serves it on a new
// loopback listener; stop ends it.
func scaleServe(s *site, opts server.Options) (*scaleServer, error) {
	opts.Clock = s.clock
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.Fingerprint = func() (*fingerprint.Fingerprint, error) { return s.host, nil }
	if opts.Store == nil {
		st, err := storeopen.Open(context.Background(), s.setting())
		if err != nil {
			return nil, err
		}
		opts.Store = st
	}
	srv, err := server.New(s.cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("server.New: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	ss := &scaleServer{srv: srv, url: "https://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { ss.done <- srv.Run(ctx, ln) }()
	return ss, nil
}

func (ss *scaleServer) stop() error {
	ss.cancel()
	err := <-ss.done
	if cerr := ss.srv.Close(); err == nil {
		err = cerr
	}
	return err
}

// scaleResume asks for the seat instance i holds, over a new connection,
// and checks that the server resumed it.
func scaleResume(ctx context.Context, s *site, url string, i int) error {
	p := newPoster(url, s.clientTLS("app"), 1, DefaultTimeout)
	defer p.close()
	body, _ := json.Marshal(api.InstanceRequest{Product: "ocr", InstanceID: scaleInstance(i), Mode: "sync"})
	o, data := p.post(ctx, api.PathAuthorize, body)
	if o.code != codes.OK {
		return fmt.Errorf("authorize %s: code %d %s", scaleInstance(i), o.code, o.msg)
	}
	var v api.VerdictBody
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("authorize %s: %w", scaleInstance(i), err)
	}
	if !v.Lease.Resumed || v.Lease.Held != scaleLeases {
		return fmt.Errorf("authorize %s: resumed %t, held %d; want a resumed seat of %d held", scaleInstance(i), v.Lease.Resumed, v.Lease.Held, scaleLeases)
	}
	return nil
}

// vmRSS is this process's resident set size in bytes, from /proc.
func vmRSS() (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/self/status has no VmRSS")
}

// BenchmarkLiveLeases100k measures the memory of a server holding 100,000
// live leases: rss-MB (VmRSS after a forced GC), heap-MB (HeapInuse) and
// leases (the store's Held). The server runs in this process, so both
// figures include the benchmark's own memory: the site's files, one TLS
// client, the test runtime. base-rss-MB is the process before the server
// starts (after the fill's memory is handed back), for subtracting.
// Target: rss-MB ≤ 256.
func BenchmarkLiveLeases100k(b *testing.B) { liveLeases(b, scaleSite(b)) }

// BenchmarkLiveLeases100kPostgres is BenchmarkLiveLeases100k with the
// pool in PostgreSQL: a node keeps none of it in memory.
func BenchmarkLiveLeases100kPostgres(b *testing.B) { liveLeases(b, scaleSitePostgres(b)) }

func liveLeases(b *testing.B, s *site) {
	runtime.GC()
	debug.FreeOSMemory() // hand back what filling the file took
	base, err := vmRSS()
	if err != nil {
		b.Skip(err) // no /proc: not Linux
	}
	// The store is opened here, as licensor serve does, and kept so that
	// Held can be asked of it directly instead of through a
	// 100,000-lease JSON answer.
	st, err := storeopen.Open(context.Background(), s.setting())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ss, err := scaleServe(s, server.Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := ss.stop(); err != nil {
			b.Errorf("server: %v", err)
		}
	}()
	ctx := context.Background()
	if err := scaleResume(ctx, s, ss.url, scaleLeases/2); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("leases=%d", scaleLeases), func(b *testing.B) {
		var (
			rss  int64
			ms   runtime.MemStats
			held map[string]int
		)
		for range b.N {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if rss, err = vmRSS(); err != nil {
				b.Fatal(err)
			}
			if held, err = st.Held(ctx, s.clock.Now()); err != nil {
				b.Fatal(err)
			}
		}
		if held["ocr"] != scaleLeases {
			b.Errorf("the store holds %v, want ocr: %d", held, scaleLeases)
		}
		b.ReportMetric(float64(rss)/(1<<20), "rss-MB")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
		b.ReportMetric(float64(base)/(1<<20), "base-rss-MB")
		b.ReportMetric(float64(held["ocr"]), "leases")
		b.ReportMetric(0, "ns/op") // the time of a GC and a count says nothing
	})
}

// BenchmarkRestart100k measures a restart with 100,000 live leases in the
// store: from server.New (license checks, opening the store and reading
// every lease) through serving the listener to the first answer, the
// resume of a lease held before the restart over a new mTLS connection
// (restart-ms). new-ms is the server.New part of it.
// Target: restart-ms ≤ 2000.
func BenchmarkRestart100k(b *testing.B) { restart(b, scaleSite(b)) }

// BenchmarkRestart100kPostgres is BenchmarkRestart100k with the pool in
// PostgreSQL.
func BenchmarkRestart100kPostgres(b *testing.B) { restart(b, scaleSitePostgres(b)) }

func restart(b *testing.B, s *site) {
	ctx := context.Background()
	b.Run(fmt.Sprintf("leases=%d", scaleLeases), func(b *testing.B) {
		var total, newTotal time.Duration
		for i := range b.N {
			start := time.Now()
			st, err := storeopen.Open(ctx, s.setting())
			if err != nil {
				b.Fatal(err)
			}
			srv, err := server.New(s.cfg, server.Options{Clock: s.clock, Logger: slog.New(slog.DiscardHandler),
				Fingerprint: func() (*fingerprint.Fingerprint, error) { return s.host, nil }, Store: st})
			if err != nil {
				b.Fatalf("server.New: %v", err)
			}
			newTotal += time.Since(start)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- srv.Run(runCtx, ln) }()
			err = scaleResume(ctx, s, "https://"+ln.Addr().String(), i%scaleLeases)
			total += time.Since(start)

			b.StopTimer()
			cancel()
			if rerr := <-done; rerr != nil {
				b.Errorf("server.Run: %v", rerr)
			}
			srv.Close()
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(total.Microseconds())/1e3/float64(b.N), "restart-ms")
		b.ReportMetric(float64(newTotal.Microseconds())/1e3/float64(b.N), "new-ms")
	})
}
