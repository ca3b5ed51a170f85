package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/licensor/licensor/store"
)

// testRenewAgainstThief: another identity's renewals of a seat, sent
// with its holder's, never renew it and never make the holder's fail.
func testRenewAgainstThief(t *testing.T, open func(string) (store.Store, error)) {
	nodes := openNodes(t, open, 2)
	a, b := nodes[0], nodes[1]
	mustAcquire(t, a, "ocr", "i-1", 2, t0)
	const rounds = 100
	for r := range rounds {
		now := t0.Add(time.Duration(r+1) * time.Second)
		for _, thiefOn := range []store.Store{a, b} {
			var wg sync.WaitGroup
			var own, thief error
			var stolen store.Grant
			wg.Go(func() {
				_, own = a.Renew(ctx, store.RenewRequest{Product: "ocr", InstanceID: "i-1", Holder: "CN=i-1", TTL: ttl, Now: now})
			})
			wg.Go(func() {
				// Later than the holder's by a little, as a request that
				// came just after.
				stolen, thief = thiefOn.Renew(ctx, store.RenewRequest{Product: "ocr", InstanceID: "i-1", Holder: "CN=thief", TTL: ttl, Now: now.Add(time.Millisecond)})
			})
			wg.Wait()
			var owner *store.OwnerError
			if own != nil {
				t.Fatalf("round %d: the holder's renewal = %v, sent with another identity's; want it renewed", r, own)
			}
			if !errors.As(thief, &owner) {
				t.Fatalf("round %d: another identity's renewal = %+v, %v; want *OwnerError", r, stolen, thief)
			}
		}
	}
}

// testGrantRevokeRace: one node grants an id and revokes it in the same
// moment while another node grants the same id. However they fall, the
// seat the other node answered for stays, or is ended with an event; the
// pool's count never drifts from its seats.
func testGrantRevokeRace(t *testing.T, open func(string) (store.Store, error)) {
	nodes := openNodes(t, open, 2)
	a, b := nodes[0], nodes[1]
	const rounds, limit = 150, 1000
	type answer struct {
		err     error
		resumed bool
	}
	grants, revokes := 0, 0
	for r := range rounds {
		id := fmt.Sprint("i-", r)
		now := t0.Add(time.Duration(r) * time.Millisecond)
		var wg sync.WaitGroup
		var onA, onB answer
		var rev error
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			g, err := a.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "CN=" + id, Limit: limit, TTL: ttl, Now: now})
			onA = answer{err, g.Resumed}
		})
		wg.Go(func() {
			<-start
			_, rev = a.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: id, Reason: store.KindRevoke, Actor: "CN=admin", Now: now})
		})
		wg.Go(func() {
			<-start
			g, err := b.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "CN=" + id, Limit: limit, TTL: ttl, Now: now})
			onB = answer{err, g.Resumed}
		})
		close(start)
		wg.Wait()
		for _, x := range []answer{onA, onB} {
			if x.err != nil {
				t.Fatalf("round %d: Acquire = %v", r, x.err)
			}
			if !x.resumed {
				grants++
			}
		}
		switch {
		case rev == nil:
			revokes++
		case !errors.Is(rev, store.ErrNoLease):
			t.Fatalf("round %d: revoke = %v", r, rev)
		}
	}
	ev := auditTally(t, a)["ocr"]
	if ev[store.KindGrant] != grants || ev[store.KindRevoke] != revokes {
		t.Fatalf("events: %d grants, %d revokes; answered %d and %d", ev[store.KindGrant], ev[store.KindRevoke], grants, revokes)
	}
	// The seats that stand: every grant not revoked.
	at := t0.Add(time.Minute)
	if n := held(t, b, "ocr", at); n != grants-revokes {
		t.Fatalf("%d seats held; %d granted and %d revoked", n, grants, revokes)
	}
	end := at.Add(time.Hour)
	drain(t, nodes, end)
	checkFreshPool(t, b, "ocr", 5, end)
}
