package sdk

import (
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// bucket spends the instance's QPS share locally: tokens holding up to one
// second of the share, in whole calls, refilled every 10 ms.
//
// The tokens are split over shards, a cache line each, so that callers on
// different cores rarely write the same line: take spends from the shard
// its goroutine's stack falls in, and from the others in turn when that
// one is dry, so every token can be spent by any caller. One counter for
// all took 12 ns a call for one caller and 17–20 ns with two callers on
// two cores, its line moving between the cores on every call; the shards
// take 6.6–6.9 ns and 6.0–7.3 ns (BenchmarkAuthorizeAsyncQPS, paired
// runs). A call past the share looks at every shard and writes none
// (BenchmarkBucketRefuses: 2–4 ns).
//
// take, the hot path, only takes tokens. The refresher (setRate) and the
// refiller (refill) both add to the shards and count what was spent, so
// they take turns under mu: each counts the calls taken from a shard
// since the other last set its level, before setting it anew.
type bucket struct {
	shards []tokenShard
	spent  atomic.Int64 // calls since the last heartbeat

	mu   sync.Mutex
	rate int64 // milli-calls per second; guarded by mu
	frac int64 // milli-calls refilled but not yet a whole call; guarded by mu
	next int   // the shard that gets the next odd call; guarded by mu
}

// tokenShard is one cache line of the bucket.
type tokenShard struct {
	tokens atomic.Int64 // calls
	last   int64        // tokens when the level was last set; guarded by bucket.mu
	_      [48]byte
}

const refillEvery = 10 * time.Millisecond

// maxShards bounds the shards, a few for each core so that two busy
// goroutines seldom fall in one.
const maxShards = 64

func newBucket() *bucket {
	n := 1
	if p := runtime.GOMAXPROCS(0); p > 1 {
		n = min(1<<bits.Len(uint(4*p-1)), maxShards)
	}
	return newBucketOf(n)
}

// newBucketOf is a bucket of n shards, a power of two.
func newBucketOf(n int) *bucket { return &bucket{shards: make([]tokenShard, n)} }

func (b *bucket) take() bool {
	n := len(b.shards)
	i := stackShard(n)
	for range n {
		s := &b.shards[i]
		if s.tokens.Load() > 0 {
			if s.tokens.Add(-1) >= 0 {
				return true
			}
			s.tokens.Add(1) // another caller took the last one first
		}
		i = (i + 1) & (n - 1)
	}
	return false
}

// stackShard is the shard, of n (a power of two), for the calling
// goroutine: from where its stack lies, which stays put while it runs
// (but for the rare stack growth) and differs from any other running
// goroutine's.
func stackShard(n int) int {
	var here byte
	h := uint64(uintptr(unsafe.Pointer(&here))>>10) * 0x9e3779b97f4a7c15
	return int(h>>32) & (n - 1)
}

func (b *bucket) setRate(perSecond float64) {
	r := int64(math.Round(perSecond * 1000))
	b.mu.Lock()
	defer b.mu.Unlock()
	first := b.rate == 0 && r > 0
	b.rate = r
	if first {
		b.fill(r) // the first share: a full second's worth
	}
}

// refill adds 10 ms of the share and counts what was spent since.
func (b *bucket) refill() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fill(b.rate * int64(refillEvery) / int64(time.Second))
}

// fill adds add milli-calls to the bucket, as whole calls spread over the
// shards, keeping it at most a second of the share (and one call); it
// trims a bucket over that, after the share shrank. It counts the calls
// taken since the level was last set. b.mu held.
func (b *bucket) fill(add int64) {
	limit := max(b.rate/1000, 1)
	var held int64
	for i := range b.shards {
		held += max(b.shards[i].tokens.Load(), 0)
	}
	b.frac += add
	give := b.frac / 1000
	b.frac %= 1000
	if give >= limit-held {
		give, b.frac = limit-held, 0 // full: what does not fit is lost
	}
	n := int64(len(b.shards))
	each, odd := give/n, give%n
	trim := int64(0)
	if give < 0 {
		each, odd, trim = 0, 0, -give
	}
	for k := range n {
		i := (int64(b.next) + k) % n
		s := &b.shards[i]
		d := each
		if k < odd {
			d++
		}
		for {
			cur := s.tokens.Load()
			cut := min(trim, max(cur, 0))
			if s.tokens.CompareAndSwap(cur, cur+d-cut) {
				trim -= cut
				if spent := s.last - cur; spent > 0 {
					b.spent.Add(spent)
				}
				s.last = cur + d - cut
				break
			}
		}
	}
	b.next = int((int64(b.next) + odd) % n)
}
