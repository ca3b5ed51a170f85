package sdk

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
)

// TestAsyncQPSFirstShareLate starts an async client of a QPS product
// before its server listens, so the refiller is already running when the
// first QPS verdict sets the share: run with -race, the two goroutines
// must not race on the bucket, and the share must then be spent and
// counted as usual.
func TestAsyncQPSFirstShareLate(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := e.config("asr", "https://"+addr)
	cfg.Async = true
	c := e.client(cfg)
	if err := c.Authorize(context.Background()); codes.Of(err) != codes.Connect {
		t.Fatalf("before the server listens: Authorize = %v, want connect", err)
	}
	// The refiller runs meanwhile; the server starts, and the refresher
	// is asked to try again at once (once only: a second request pending
	// would heartbeat, and hand the calls counted below to the server).
	e.site.NewServer("a", products()...).Start(addr)
	c.kick()
	deadline := time.Now().Add(5 * time.Second)
	for c.Authorize(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("no verdict once the server listens: %v", c.Authorize(context.Background()))
		}
		time.Sleep(5 * time.Millisecond) // waiting for the refresher, not for time to pass
	}
	// One call was spent by the loop's last Authorize; spend more, up to
	// the share (100/s, a second's worth in the bucket), and see each one
	// counted by the refiller for the next heartbeat.
	taken := 1
	for range 50 {
		if c.Authorize(context.Background()) == nil {
			taken++
		}
	}
	if taken < 50 {
		t.Fatalf("only %d of 51 calls allowed with a share of 100/s", taken)
	}
	for c.bucket.spent.Load() < int64(taken) {
		if time.Now().After(deadline) {
			t.Fatalf("the refiller counted %d calls of %d", c.bucket.spent.Load(), taken)
		}
		time.Sleep(refillEvery) // waiting for the refiller
	}
	if got := c.bucket.spent.Load(); got != int64(taken) {
		t.Fatalf("the refiller counted %d calls, %d were taken", got, taken)
	}
}

// drain takes from b with g goroutines until it refuses them all, and
// returns how many calls it allowed.
func drain(b *bucket, g int) int64 {
	var taken atomic.Int64
	var wg sync.WaitGroup
	for range g {
		wg.Go(func() {
			for b.take() {
				taken.Add(1)
			}
		})
	}
	wg.Wait()
	return taken.Load()
}

// TestBucketSpendsEveryToken: whatever shard a caller's stack falls in,
// the bucket allows exactly its share, counts each call taken, and refills
// a second of share in a second of refills.
func TestBucketSpendsEveryToken(t *testing.T) {
	for _, shards := range []int{1, 2, 8, maxShards} {
		for _, qps := range []float64{1, 7, 100, 1000, 1e6} {
			t.Run(fmt.Sprintf("shards=%d/qps=%g", shards, qps), func(t *testing.T) {
				b := newBucketOf(shards)
				b.setRate(qps)
				want := int64(qps)
				if got := drain(b, 4); got != want {
					t.Fatalf("first share: %d calls allowed, want %d", got, want)
				}
				b.refill() // counts what was spent, adds 10 ms
				if got := b.spent.Swap(0); got != want {
					t.Fatalf("%d calls counted, %d taken", got, want)
				}
				for range 99 {
					b.refill()
				}
				if got := drain(b, 4); got != want {
					t.Fatalf("after a second of refills: %d calls allowed, want %d", got, want)
				}
				b.refill()
				if got := b.spent.Load(); got != want {
					t.Fatalf("%d calls counted, %d taken", got, want)
				}
			})
		}
	}
}

// TestBucketKeepsASecond: refills never fill the bucket past a second of
// the share, and a share that shrinks trims what is held to the new one.
func TestBucketKeepsASecond(t *testing.T) {
	b := newBucketOf(8)
	b.setRate(100)
	for range 500 {
		b.refill()
	}
	if got := drain(b, 2); got != 100 {
		t.Fatalf("after 5 s of refills on a full bucket: %d allowed, want 100", got)
	}
	for range 100 {
		b.refill()
	}
	b.setRate(10) // the share shrank: not a first share, nothing added
	b.refill()    // trims to a second of the new share
	if got := drain(b, 2); got != 10 {
		t.Fatalf("after the share shrank to 10/s: %d allowed, want 10", got)
	}
	b.refill()
	if got := b.spent.Load(); got != 110 {
		t.Fatalf("%d calls counted, 110 taken (the 90 trimmed were not)", got)
	}
}

// TestBucketRefillsWhileTaken races callers with the refiller (run with
// -race): no more calls are allowed than the bucket was given, and every
// one is counted.
func TestBucketRefillsWhileTaken(t *testing.T) {
	b := newBucketOf(8)
	b.setRate(10_000) // 100 calls a refill
	var taken atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if b.take() {
					taken.Add(1)
				}
			}
		})
	}
	const refills = 200
	for range refills {
		b.refill()
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	b.refill() // counts the last takes
	given := int64(10_000 + (refills+1)*100)
	if n := taken.Load(); n > given || n == 0 {
		t.Fatalf("%d calls allowed of %d given", n, given)
	}
	if got := b.spent.Load(); got != taken.Load() {
		t.Fatalf("%d calls counted, %d taken", got, taken.Load())
	}
}

// TestStackShard: a shard is in range, and goroutines running at once
// fall in more than one.
func TestStackShard(t *testing.T) {
	seen := map[int]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			i := stackShard(64)
			mu.Lock()
			seen[i] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	for i := range seen {
		if i < 0 || i >= 64 {
			t.Fatalf("shard %d of 64", i)
		}
	}
	if len(seen) < 8 {
		t.Fatalf("64 goroutines fell in %d shards of 64", len(seen))
	}
	if got := stackShard(1); got != 0 {
		t.Fatalf("shard %d of 1", got)
	}
}

// BenchmarkBucketRefuses is a call past the share, on a bucket of as many
// shards as this machine's gets: every shard is looked at, none written.
func BenchmarkBucketRefuses(b *testing.B) {
	bk := newBucket()
	bk.setRate(1)
	drain(bk, 1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if bk.take() {
				b.Error("allowed past the share")
				return
			}
		}
	})
}
