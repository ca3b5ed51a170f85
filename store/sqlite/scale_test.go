package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/licensor/licensor/store"
)

// The scale figures the project holds itself to: a store of 100,000 live
// leases opens fast, and the reaper's cost grows with what expires, not
// with the pool.

// scaleFill acquires n leases of product named prefix-0 … prefix-(n-1),
// granted at now for ttl. Each Acquire waits for its commit, so many run
// at once and share transactions, as the server's clients do.
func scaleFill(tb testing.TB, s *Store, product, prefix string, n int, now time.Time, ttl time.Duration) {
	tb.Helper()
	const workers = 64
	ctx := context.Background()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				_, err := s.Acquire(ctx, store.AcquireRequest{Product: product, InstanceID: fmt.Sprint(prefix, "-", i),
					Holder: "app", Limit: 1 << 30, TTL: ttl, Now: now})
				if err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		tb.Fatalf("fill %d leases: %v", n, first)
	}
}

// scaleStore opens a new store in a temporary directory holding n live
// leases of "ocr" that lapse at t0+ttl.
func scaleStore(tb testing.TB, n int, ttl time.Duration) (*Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "licensor.db")
	s, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	scaleFill(tb, s, "ocr", "long", n, t0, ttl)
	return s, path
}

// farTTL keeps a lease live however far a benchmark moves time.
const farTTL = 10 * 365 * 24 * time.Hour

// BenchmarkOpen100k measures Open of a file holding 100,000 live leases:
// the read of every lease into memory that a server restart waits for.
func BenchmarkOpen100k(b *testing.B) {
	const n = 100_000
	s, path := scaleStore(b, n, farTTL)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("leases=%d", n), func(b *testing.B) {
		ctx := context.Background()
		var total time.Duration
		for range b.N {
			start := time.Now()
			s, err := Open(path)
			total += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			held, err := s.Held(ctx, t0)
			if err != nil || held["ocr"] != n {
				b.Fatalf("Held after Open: %v, %v; want ocr: %d", held, err, n)
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(total.Microseconds())/1e3/float64(b.N), "open-ms")
	})
}

// expireBatch is how many leases lapse before each Expire call of
// BenchmarkExpire.
const expireBatch = 100

// BenchmarkExpire measures an Expire call that frees expireBatch leases,
// in pools of several sizes: the time per call (ns/op) should not grow
// with the pool. Before each call, outside the timer, expireBatch leases
// are granted for half a step and the clock moves one step, so that
// exactly they lapse while the rest of the pool stays live.
func BenchmarkExpire(b *testing.B) {
	const step = time.Second
	ctx := context.Background()
	for _, pool := range []int{1_000, 10_000, 100_000} {
		s, _ := scaleStore(b, pool-expireBatch, farTTL)
		now := t0
		b.Run(fmt.Sprintf("pool=%d", pool), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				scaleFill(b, s, "ocr", "short", expireBatch, now, step/2)
				now = now.Add(step)
				b.StartTimer()
				gone, err := s.Expire(ctx, now)
				if err != nil {
					b.Fatal(err)
				}
				if len(gone) != expireBatch {
					b.Fatalf("Expire freed %d leases, want %d", len(gone), expireBatch)
				}
			}
			b.ReportMetric(expireBatch, "expired/op")
		})
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpireNothing measures an Expire call, as the reaper makes each
// reap_interval, when nothing lapsed: it should cost about the same in a
// pool of 1,000 as in one of 100,000. The clock moves a millisecond per
// call, so the time high-water mark is raised (and committed in the
// background) as in a server.
func BenchmarkExpireNothing(b *testing.B) {
	ctx := context.Background()
	for _, pool := range []int{1_000, 100_000} {
		s, _ := scaleStore(b, pool, farTTL)
		now := t0
		b.Run(fmt.Sprintf("pool=%d", pool), func(b *testing.B) {
			for range b.N {
				now = now.Add(time.Millisecond)
				gone, err := s.Expire(ctx, now)
				if err != nil {
					b.Fatal(err)
				}
				if len(gone) != 0 {
					b.Fatalf("Expire freed %d leases, want none", len(gone))
				}
			}
		})
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
