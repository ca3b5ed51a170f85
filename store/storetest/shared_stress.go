package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensor/licensor/store"
)

// The adversarial part of the shared suite: several nodes race on the
// same few seats, and afterwards the pool, the answers and the audit
// chains must agree.

// stressClock is one clock for every node of a test, a millisecond later
// at each reading: requests interleave across nodes but never go back
// much in time.
type stressClock struct{ ms atomic.Int64 }

func (c *stressClock) now() time.Time { return t0.Add(time.Duration(c.ms.Add(1)) * time.Millisecond) }

// auditTally counts the events of every node's chain by kind and
// product, and fails t if a chain does not verify.
func auditTally(t *testing.T, s store.Store) map[string]map[string]int {
	t.Helper()
	var c store.Chains
	out := map[string]map[string]int{}
	err := s.Audit(ctx, 0, func(e store.Event) error {
		if out[e.Product] == nil {
			out[e.Product] = map[string]int{}
		}
		out[e.Product][e.Kind]++
		return c.Check(e)
	})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	return out
}

// checkFreshPool fails t unless product's pool, emptied, grants exactly
// limit new seats at now: the count a grant decides from has not drifted
// from the seats there are.
func checkFreshPool(t *testing.T, s store.Store, product string, limit int, now time.Time) {
	t.Helper()
	for i := range limit {
		id := fmt.Sprint("fresh-", i)
		g, err := s.Acquire(ctx, store.AcquireRequest{Product: product, InstanceID: id, Holder: "CN=" + id, Limit: limit, TTL: ttl, Now: now})
		if err != nil {
			t.Fatalf("%s: fresh seat %d of %d in an emptied pool: %v (the pool's count drifted from its seats)", product, i+1, limit, err)
		}
		if g.Held != i+1 {
			t.Fatalf("%s: fresh seat %d says %d held, want %d (the pool's count drifted from its seats)", product, i+1, g.Held, i+1)
		}
	}
	var full *store.FullError
	if _, err := s.Acquire(ctx, store.AcquireRequest{Product: product, InstanceID: "fresh-over", Holder: "CN=fresh-over", Limit: limit, TTL: ttl, Now: now}); !errors.As(err, &full) {
		t.Fatalf("%s: seat %d of %d = %v, want *FullError", product, limit+1, limit, err)
	}
}

// drain expires every seat on every node at the end of a test.
func drain(t *testing.T, nodes []store.Store, at time.Time) int {
	t.Helper()
	n := 0
	for _, s := range nodes {
		gone, err := s.Expire(ctx, at)
		if err != nil {
			t.Fatalf("Expire: %v", err)
		}
		n += len(gone)
	}
	for i, s := range nodes {
		h, err := s.Held(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		for p, c := range h {
			if c != 0 {
				t.Fatalf("node %d: %d seats of %s after every lease lapsed and was reaped", i+1, c, p)
			}
		}
	}
	return n
}

// testChurn: four nodes take, renew, release and revoke the same few
// seats of two products at once, with short leases that lapse and every
// node reaping. No answer is of an unexpected kind, no grant passes the
// limit, every answered change has its event, and once every seat has
// lapsed the pools grant their limits again, exactly.
func testChurn(t *testing.T, open func(string) (store.Store, error)) {
	nodes := openNodes(t, open, 4)
	limits := map[string]int{"asr": 2, "ocr": 4}
	products := []string{"asr", "ocr"}
	const ids, workers, rounds = 7, 3, 50
	const lease = 400 * time.Millisecond // a few hundred requests of the clock
	var clock stressClock
	type tally struct{ grants, releases, revokes, reaped int }
	var mu sync.Mutex
	got := map[string]*tally{"asr": {}, "ocr": {}}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var reapers sync.WaitGroup
	for _, s := range nodes {
		reapers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				gone, err := s.Expire(ctx, clock.now())
				if err != nil {
					t.Errorf("Expire = %v", err)
					return
				}
				mu.Lock()
				for _, l := range gone {
					got[l.Product].reaped++
				}
				mu.Unlock()
			}
		})
	}
	for n, s := range nodes {
		for w := range workers {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(n), uint64(w)))
				for range rounds {
					p := products[r.IntN(len(products))]
					id := fmt.Sprint("i-", r.IntN(ids))
					holder := "CN=" + id
					now := clock.now()
					var full *store.FullError
					switch op := r.IntN(10); {
					case op < 4:
						g, err := s.Acquire(ctx, store.AcquireRequest{Product: p, InstanceID: id, Holder: holder, Limit: limits[p], TTL: lease, Now: now})
						switch {
						case err == nil:
							if g.Held > limits[p] && !g.Resumed {
								t.Errorf("node %d granted %s of %s with %d of %d seats held", n+1, id, p, g.Held, limits[p])
							}
							if !g.Resumed {
								mu.Lock()
								got[p].grants++
								mu.Unlock()
							}
						case errors.As(err, &full):
						default:
							t.Errorf("node %d: Acquire(%s, %s) = %v", n+1, p, id, err)
						}
					case op < 7:
						_, err := s.Renew(ctx, store.RenewRequest{Product: p, InstanceID: id, Holder: holder, TTL: lease, Now: now})
						if err != nil && !errors.Is(err, store.ErrNoLease) {
							t.Errorf("node %d: Renew(%s, %s) = %v", n+1, p, id, err)
						}
					case op < 9:
						_, err := s.Release(ctx, store.ReleaseRequest{Product: p, InstanceID: id, Reason: store.KindRelease, Actor: holder, Now: now})
						switch {
						case err == nil:
							mu.Lock()
							got[p].releases++
							mu.Unlock()
						case errors.Is(err, store.ErrNoLease):
						default:
							t.Errorf("node %d: Release(%s, %s) = %v", n+1, p, id, err)
						}
					default:
						_, err := s.Release(ctx, store.ReleaseRequest{Product: p, InstanceID: id, Reason: store.KindRevoke, Actor: "CN=admin", Now: now})
						switch {
						case err == nil:
							mu.Lock()
							got[p].revokes++
							mu.Unlock()
						case errors.Is(err, store.ErrNoLease):
						default:
							t.Errorf("node %d: revoke(%s, %s) = %v", n+1, p, id, err)
						}
					}
				}
			})
		}
	}
	wg.Wait()
	close(stop)
	reapers.Wait()
	if t.Failed() {
		t.FailNow()
	}
	end := clock.now().Add(time.Hour)
	reaped := drain(t, nodes, end)
	ev := auditTally(t, nodes[0])
	for _, p := range products {
		g := got[p]
		e := ev[p]
		if e[store.KindGrant] != g.grants || e[store.KindRelease] != g.releases || e[store.KindRevoke] != g.revokes {
			t.Errorf("%s: events grant %d, release %d, revoke %d; answered %d, %d, %d",
				p, e[store.KindGrant], e[store.KindRelease], e[store.KindRevoke], g.grants, g.releases, g.revokes)
		}
		// Every seat granted ended once: released, revoked or lapsed.
		if ended := e[store.KindRelease] + e[store.KindRevoke] + e[store.KindExpire]; ended != e[store.KindGrant] {
			t.Errorf("%s: %d seats granted, %d ended (release %d, revoke %d, expire %d); want every seat ended once",
				p, e[store.KindGrant], ended, e[store.KindRelease], e[store.KindRevoke], e[store.KindExpire])
		}
	}
	total := reaped
	for _, g := range got {
		total += g.reaped
	}
	if expires := ev["asr"][store.KindExpire] + ev["ocr"][store.KindExpire]; total != expires {
		t.Errorf("Expire returned %d leases in all, the audit has %d expire events", total, expires)
	}
	for _, p := range products {
		checkFreshPool(t, nodes[len(nodes)-1], p, limits[p], end)
	}
}

// testLoweredLimit: a pool full at its old limit, its seats released on
// every node while every node grants at a lower limit: no grant passes
// the new limit, and what stands at the end is within it.
func testLoweredLimit(t *testing.T, open func(string) (store.Store, error)) {
	nodes := openNodes(t, open, 3)
	const old, lower = 9, 3
	for i := range old {
		mustAcquire(t, nodes[i%3], "ocr", fmt.Sprint("old-", i), old, t0)
	}
	var clock stressClock
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for i := range old {
		wg.Go(func() {
			id := fmt.Sprint("old-", i)
			if _, err := nodes[(i+1)%3].Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: id, Reason: store.KindRelease, Actor: "CN=" + id, Now: clock.now()}); err != nil {
				t.Errorf("Release(%s) = %v", id, err)
			}
		})
	}
	for i := range 30 {
		wg.Go(func() {
			id := fmt.Sprint("new-", i)
			g, err := nodes[i%3].Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "CN=" + id, Limit: lower, TTL: ttl, Now: clock.now()})
			var full *store.FullError
			switch {
			case err == nil:
				if g.Held > lower {
					t.Errorf("%s granted with %d seats held, limit %d", id, g.Held, lower)
				}
				mu.Lock()
				granted++
				mu.Unlock()
			case errors.As(err, &full):
			default:
				t.Errorf("Acquire(%s) = %v", id, err)
			}
		})
	}
	wg.Wait()
	at := clock.now()
	for i, s := range nodes {
		if n := held(t, s, "ocr", at); n != granted || n > lower {
			t.Fatalf("node %d sees %d seats; %d granted at limit %d", i+1, n, granted, lower)
		}
	}
}

// testKeyFileUnderChurn: key-file seats taken, extended and revoked on
// every node among instance churn and reaping are never shortened or
// freed before their key files expire, and no instance path changes them.
func testKeyFileUnderChurn(t *testing.T, open func(string) (store.Store, error)) {
	nodes := openNodes(t, open, 3)
	const machines, limit = 4, 8
	var clock stressClock
	want := map[string]time.Time{} // the latest expiry each key-file seat was granted
	var mu sync.Mutex
	var wg sync.WaitGroup
	for n, s := range nodes {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(n), 7))
			for range 80 {
				now := clock.now()
				m := fmt.Sprint("m", r.IntN(machines))
				id := store.KeyFileSeat(m)
				var owner *store.OwnerError
				var revoked *store.RevokedError
				var full *store.FullError
				switch op := r.IntN(8); op {
				case 0, 1: // the key-file path, with validities long and short
					v := keyFileTTL
					if op == 1 {
						v = time.Hour
					}
					g, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Kind: store.SeatKeyFile, Holder: "CN=renewer", Limit: limit, TTL: v, Now: now})
					switch {
					case err == nil:
						mu.Lock()
						if g.Expires.After(want[id]) {
							want[id] = g.Expires
						}
						mu.Unlock()
					case errors.As(err, &revoked), errors.As(err, &full):
					default:
						t.Errorf("key-file Acquire(%s) = %v", id, err)
					}
				case 2:
					_, err := s.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: id, Reason: store.KindRevoke, Actor: "CN=admin", Now: now})
					if err != nil && !errors.Is(err, store.ErrNoLease) {
						t.Errorf("revoke(%s) = %v", id, err)
					}
				case 3: // the instance paths on a key-file seat's id (the edge
					// refuses such ids to Acquire, which would make one)
					_, err := s.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: id, Reason: store.KindRelease, Actor: "CN=renewer", Now: now})
					if err != nil && !errors.Is(err, store.ErrNoLease) && !errors.As(err, &owner) {
						t.Errorf("Release(%s) = %v", id, err)
					}
					_, err = s.Renew(ctx, store.RenewRequest{Product: "ocr", InstanceID: id, Holder: "CN=renewer", TTL: ttl, Now: now})
					if err != nil && !errors.Is(err, store.ErrNoLease) && !errors.As(err, &owner) {
						t.Errorf("Renew(%s) = %v", id, err)
					}
				case 4:
					if _, err := s.Expire(ctx, now); err != nil {
						t.Errorf("Expire = %v", err)
					}
				default: // instances come and go beside them
					iid := fmt.Sprint("i-", r.IntN(6))
					if _, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: iid, Holder: "CN=" + iid, Limit: limit, TTL: 100 * time.Millisecond, Now: now}); err != nil && !errors.As(err, &full) {
						t.Errorf("Acquire(%s) = %v", iid, err)
					}
					s.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: iid, Reason: store.KindRelease, Actor: "CN=" + iid, Now: now})
				}
			}
		})
	}
	wg.Wait()
	// Just before the earliest of them expires, each key-file seat is there
	// with the latest expiry it was granted.
	var first time.Time
	for _, e := range want {
		if first.IsZero() || e.Before(first) {
			first = e
		}
	}
	late := first.Add(-time.Second)
	for _, s := range nodes {
		if _, err := s.Expire(ctx, late); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := nodes[0].Leases(ctx, "ocr", late)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]store.Lease{}
	for _, l := range ls {
		have[l.InstanceID] = l
	}
	for id, exp := range want {
		l, ok := have[id]
		if !ok || l.Kind != store.SeatKeyFile || !l.Expires.Equal(exp) {
			t.Errorf("key-file seat %s = %+v (found %v); want it held until %s", id, l, ok, exp.Format(time.RFC3339Nano))
		}
	}
}

// testLapsedRetaken: leases lapsed; one node reaps while the others take
// the same ids again. Each lapsed lease is ended by one expire event, and
// every new grant is a new seat.
func testLapsedRetaken(t *testing.T, open func(string) (store.Store, error)) {
	nodes := openNodes(t, open, 3)
	const n = 60
	for i := range n {
		mustAcquire(t, nodes[i%3], "ocr", fmt.Sprint("i-", i), 1000, t0)
	}
	later := t0.Add(ttl + time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	reaped := 0
	wg.Go(func() {
		for range 5 {
			gone, err := nodes[0].Expire(ctx, later)
			if err != nil {
				t.Errorf("Expire = %v", err)
			}
			mu.Lock()
			reaped += len(gone)
			mu.Unlock()
		}
	})
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprint("i-", i)
			g, err := nodes[1+i%2].Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "CN=" + id, Limit: 1000, TTL: ttl, Now: later})
			if err != nil || g.Resumed || !g.Since.Equal(later) {
				t.Errorf("Acquire(%s) after its lease lapsed = %+v, %v; want a new seat", id, g, err)
			}
		})
	}
	wg.Wait()
	for _, s := range nodes {
		gone, err := s.Expire(ctx, later)
		if err != nil {
			t.Fatal(err)
		}
		reaped += len(gone)
	}
	ev := auditTally(t, nodes[0])["ocr"]
	if ev[store.KindExpire] != n || reaped != n || ev[store.KindGrant] != 2*n {
		t.Fatalf("%d expire events, %d reaped, %d grants; want %d, %d and %d", ev[store.KindExpire], reaped, ev[store.KindGrant], n, n, 2*n)
	}
	if h := held(t, nodes[2], "ocr", later); h != n {
		t.Fatalf("%d held, want %d", h, n)
	}
}
