package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/licensor/licensor/store"
)

// SharedBackend makes a fresh, empty location that several nodes share
// and returns a function that opens it as the node named.
type SharedBackend func(t *testing.T) (open func(node string) (store.Store, error))

// RunShared runs what only several writers on one store show: the
// conformance suite a backend shared by several site servers passes
// besides Run.
func RunShared(t *testing.T, backend SharedBackend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(node string) (store.Store, error))
	}{
		{"nodes-open-at-once", testOpenAtOnce},
		{"nodes-race-for-the-last-seats", testNodesRace},
		{"renewed-on-one-released-on-another", testAcrossNodes},
		{"revoke-anywhere", testRevokeAnywhere},
		{"expiry-seen-by-all-reaped-once", testExpireShared},
		{"high-water-is-the-clusters", testHighWaterShared},
		{"each-node-keeps-its-chain", testChains},
		{"churn-on-few-seats-keeps-counts-and-events", testChurn},
		{"lowered-limit-while-seats-are-released", testLoweredLimit},
		{"keyfile-seats-under-churn-never-shorten", testKeyFileUnderChurn},
		{"lapsed-ids-retaken-while-reaping", testLapsedRetaken},
		{"another-identitys-renewal-beside-the-holders", testRenewAgainstThief},
		{"grant-and-revoke-race-another-nodes-grant", testGrantRevokeRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, backend(t))
		})
	}
}

func openNodes(t *testing.T, open func(string) (store.Store, error), n int) []store.Store {
	t.Helper()
	out := make([]store.Store, n)
	for i := range out {
		s, err := open(fmt.Sprint("node-", i+1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out[i] = s
	}
	return out
}

// testOpenAtOnce: nodes starting at once on an empty store each find it
// ready, and the schema is made once.
func testOpenAtOnce(t *testing.T, open func(string) (store.Store, error)) {
	const n = 4
	var wg sync.WaitGroup
	stores := make([]store.Store, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = open(fmt.Sprint("node-", i+1)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		defer stores[i].Close()
	}
	mustAcquire(t, stores[0], "ocr", "i-1", 1, t0)
	if n := held(t, stores[n-1], "ocr", t0); n != 1 {
		t.Fatalf("the last node sees %d seats, want 1", n)
	}
}

// testNodesRace: 1,000 registrations spread over three nodes grant exactly
// the limit, however they interleave.
func testNodesRace(t *testing.T, open func(string) (store.Store, error)) {
	nodes := openNodes(t, open, 3)
	const clients, limit = 1000, 100
	var wg sync.WaitGroup
	var tally acquires
	for i := range clients {
		wg.Go(func() {
			_, _, err := acquire(nodes[i%len(nodes)], "ocr", fmt.Sprint("i-", i), limit, t0)
			tally.count(t, err)
		})
	}
	wg.Wait()
	if tally.granted != limit || tally.full != clients-limit {
		t.Fatalf("granted %d, refused %d; want %d and %d", tally.granted, tally.full, limit, clients-limit)
	}
	for i, s := range nodes {
		if n := held(t, s, "ocr", t0); n != limit {
			t.Fatalf("node %d sees %d seats, want %d", i+1, n, limit)
		}
	}
}

// testAcrossNodes: a seat taken on one node is resumed, renewed and
// released on another, and the first node sees each change.
func testAcrossNodes(t *testing.T, open func(string) (store.Store, error)) {
	nodes := openNodes(t, open, 2)
	a, b := nodes[0], nodes[1]
	first := mustAcquire(t, a, "ocr", "i-1", 1, t0)
	l, resumed, err := acquire(b, "ocr", "i-1", 1, t0.Add(time.Second))
	if err != nil || !resumed || !l.Since.Equal(first.Since) {
		t.Fatalf("Acquire on the other node = %+v, resumed %v, %v; want the seat resumed", l, resumed, err)
	}
	g, err := renew(b, "ocr", "i-1", t0.Add(30*time.Second))
	if err != nil || !g.Expires.Equal(t0.Add(30*time.Second+ttl)) {
		t.Fatalf("Renew on the other node = %+v, %v", g, err)
	}
	// The renewal holds on the first node too: past the first expiry the
	// pool is still full there.
	if _, _, err := acquire(a, "ocr", "i-2", 1, t0.Add(ttl+time.Second)); err == nil {
		t.Fatal("the first node gave away a seat another node renewed")
	}
	if _, err := release(b, "ocr", "i-1", store.KindRelease, "CN=i-1", t0.Add(40*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := renew(a, "ocr", "i-1", t0.Add(41*time.Second)); !errors.Is(err, store.ErrNoLease) {
		t.Fatalf("Renew on the first node after a release on the other = %v, want ErrNoLease", err)
	}
	mustAcquire(t, a, "ocr", "i-2", 1, t0.Add(42*time.Second))
}

// testRevokeAnywhere: a revoke on one node ends the seat on every node,
// and another holder is refused on any node.
func testRevokeAnywhere(t *testing.T, open func(string) (store.Store, error)) {
	nodes := openNodes(t, open, 2)
	a, b := nodes[0], nodes[1]
	mustAcquire(t, a, "ocr", "i-1", 2, t0)
	var owner *store.OwnerError
	if _, err := b.Renew(ctx, store.RenewRequest{Product: "ocr", InstanceID: "i-1", Holder: "CN=thief", TTL: ttl, Now: t0.Add(time.Second)}); !errors.As(err, &owner) {
		t.Fatalf("Renew by another holder on the other node = %v, want *OwnerError", err)
	}
	if _, err := release(b, "ocr", "i-1", store.KindRevoke, "CN=admin", t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := renew(a, "ocr", "i-1", t0.Add(3*time.Second)); !errors.Is(err, store.ErrNoLease) {
		t.Fatalf("Renew after a revoke on the other node = %v, want ErrNoLease", err)
	}
	// A key-file seat revoked on one node is refused on the other.
	if _, err := acquireKeyFile(a, "ocr", "m1", 2, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := release(b, "ocr", store.KeyFileSeat("m1"), store.KindRevoke, "CN=admin", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var revoked *store.RevokedError
	if _, err := acquireKeyFile(a, "ocr", "m1", 2, t0.Add(2*time.Minute)); !errors.As(err, &revoked) {
		t.Fatalf("key-file renewal after a revoke on the other node = %v, want *RevokedError", err)
	}
}

// testExpireShared: every node sees a lease lapse at its expiry, and when
// all of them reap at once, each lease is removed and recorded once.
func testExpireShared(t *testing.T, open func(string) (store.Store, error)) {
	nodes := openNodes(t, open, 3)
	for i := range 30 {
		mustAcquire(t, nodes[i%3], "ocr", fmt.Sprint("i-", i), 100, t0)
	}
	later := t0.Add(ttl + time.Second)
	for i, s := range nodes {
		if n := held(t, s, "ocr", later); n != 0 {
			t.Fatalf("node %d sees %d live seats after they lapsed", i+1, n)
		}
	}
	var wg sync.WaitGroup
	counts := make([]int, len(nodes))
	for i, s := range nodes {
		wg.Go(func() {
			gone, err := s.Expire(ctx, later)
			if err != nil {
				t.Error(err)
			}
			counts[i] = len(gone)
		})
	}
	wg.Wait()
	if total := counts[0] + counts[1] + counts[2]; total != 30 {
		t.Fatalf("the nodes reaped %v leases, %d in all; want 30 in all", counts, total)
	}
	expires := 0
	nodes[0].Audit(ctx, 0, func(e store.Event) error {
		if e.Kind == store.KindExpire {
			expires++
		}
		return nil
	})
	if expires != 30 {
		t.Fatalf("%d expire events, want 30", expires)
	}
}

// testHighWaterShared: the high-water mark is the latest time any node
// has seen.
func testHighWaterShared(t *testing.T, open func(string) (store.Store, error)) {
	nodes := openNodes(t, open, 2)
	nodes[0].ObserveTime(ctx, t0.Add(time.Hour))
	mustAcquire(t, nodes[1], "ocr", "i-1", 1, t0)
	if hw, err := nodes[1].HighWater(ctx); err != nil || !hw.Equal(t0.Add(time.Hour)) {
		t.Fatalf("HighWater on the other node = %v, %v; want the cluster's latest", hw, err)
	}
}

// testChains: each node's events form a chain of their own, named by the
// node, and every chain verifies.
func testChains(t *testing.T, open func(string) (store.Store, error)) {
	nodes := openNodes(t, open, 2)
	var wg sync.WaitGroup
	for n, s := range nodes {
		wg.Go(func() {
			for i := range 20 {
				id := fmt.Sprintf("n%d-i%d", n, i)
				mustAcquire(t, s, "ocr", id, 1000, t0)
				if i%2 == 0 {
					release(s, "ocr", id, store.KindRelease, "CN="+id, t0.Add(time.Second))
				}
			}
		})
	}
	wg.Wait()
	var c store.Chains
	byNode := map[string]int{}
	err := nodes[0].Audit(ctx, 0, func(e store.Event) error {
		byNode[e.Node]++
		return c.Check(e)
	})
	if err != nil {
		t.Fatal(err)
	}
	if byNode["node-1"] != 30 || byNode["node-2"] != 30 || len(c.Heads()) != 2 {
		t.Fatalf("events by node %v, chains %+v; want 30 on each of 2", byNode, c.Heads())
	}
}
