package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/postgres"
)

// The adversarial tests only PostgreSQL has: what the tables say after
// nodes raced on them, deadlocks, a node cut off from the database in the
// middle of its work, and a store closed while it is busy.

var s0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const stressTTL = 90 * time.Second

func openNode(t *testing.T, url, node string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{URL: url, Node: node})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// connect opens a connection of the test's own to the database of url;
// the caller closes it.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// checkTables fails t unless the tables agree with themselves: each pool's
// count counts its leases, its reserves keep it within their cap, no lease is due after it expires, and
// every node's audit chain verifies.
func checkTables(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, url)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT p.product, p.base + (SELECT coalesce(sum(held), 0) FROM licensor_reserves r WHERE r.product = p.product),
		(SELECT count(*) FROM licensor_leases l WHERE l.product = p.product) FROM licensor_pools p ORDER BY p.product`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		var held, n int
		if err := rows.Scan(&p, &held, &n); err != nil {
			t.Fatal(err)
		}
		if held != n {
			t.Errorf("pool %s: counted %d, %d leases", p, held, n)
		}
	}
	rows.Close()
	// The reserves bound the count by the limit they were sized under,
	// unless the pool was found over it (and then nothing is reserved).
	var over int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM licensor_pools p WHERE
		p.base + (SELECT coalesce(sum(greatest(held, reserved)), 0) FROM licensor_reserves r WHERE r.product = p.product) >
		(SELECT coalesce(min(cap), 1 << 30) FROM licensor_reserves r WHERE r.product = p.product AND r.reserved > -(1 << 30))
		AND EXISTS (SELECT 1 FROM licensor_reserves r WHERE r.product = p.product AND r.reserved > -(1 << 30))`).Scan(&over); err != nil || over != 0 {
		t.Errorf("%d pools whose reserves pass their cap (%v)", over, err)
	}
	var bad int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM licensor_leases WHERE due > expires`).Scan(&bad); err != nil || bad != 0 {
		t.Errorf("%d leases due after they expire (%v)", bad, err)
	}
	r, err := postgres.Open(ctx, postgres.Config{URL: url, Node: "checker", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var c store.Chains
	if err := r.Audit(ctx, 0, c.Check); err != nil {
		t.Errorf("audit: %v", err)
	}
}

// TestStressCutMidLoad: one node of three is cut off from the database in
// the middle of its grants and releases, and comes back. Meanwhile it
// answers "store unavailable" and nothing else; afterwards every grant
// and release any node answered is in the tables and the audit, the
// counts hold, and every chain verifies.
func TestStressCutMidLoad(t *testing.T) {
	url := pgtest.Database(t)
	px := pgtest.NewProxy(t, url)
	ctx := context.Background()
	cut, err := postgres.Open(ctx, postgres.Config{URL: px.Via(url), Node: "node-3", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cut.Close() })
	nodes := []*postgres.Store{openNode(t, url, "node-1"), openNode(t, url, "node-2"), cut}

	type ledger struct {
		mu       sync.Mutex
		granted  map[string]string // id → node, answered
		released map[string]string // id → node, answered
		unsure   map[string]bool   // a request about the id failed: either way
	}
	led := ledger{granted: map[string]string{}, released: map[string]string{}, unsure: map[string]bool{}}
	var seq, failed atomic.Int64
	var phase atomic.Int32 // 0 before the cut, 1 cut, 2 restored
	var wg sync.WaitGroup
	for n, s := range nodes {
		for w := range 3 {
			wg.Go(func() {
				var mine []string
				for i := 0; i < 150; i++ {
					at := s0.Add(time.Duration(seq.Add(1)) * time.Millisecond)
					if len(mine) > 0 && i%3 == 2 {
						id := mine[0]
						mine = mine[1:]
						_, err := s.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: id, Reason: store.KindRelease, Actor: "CN=" + id, Now: at})
						led.mu.Lock()
						if err == nil {
							led.released[id] = s.Node()
						} else {
							led.unsure[id] = true
						}
						led.mu.Unlock()
						checkCutError(t, s, &phase, &failed, err)
						continue
					}
					id := fmt.Sprintf("n%d-w%d-%d", n+1, w, i)
					_, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "CN=" + id, Limit: 100000, TTL: time.Hour, Now: at})
					led.mu.Lock()
					if err == nil {
						led.granted[id] = s.Node()
						mine = append(mine, id)
					} else {
						led.unsure[id] = true
					}
					led.mu.Unlock()
					checkCutError(t, s, &phase, &failed, err)
				}
			})
		}
	}
	// Cut in the middle of the load, restore a little later.
	for seq.Load() < 300 {
		time.Sleep(time.Millisecond)
	}
	phase.Store(1) // before the cut: a request failing at once must not count as failing before it
	px.Cut()
	for f := failed.Load(); failed.Load() < f+20 && seq.Load() < 1200; {
		time.Sleep(time.Millisecond)
	}
	px.Restore()
	phase.Store(2)
	wg.Wait()
	if failed.Load() == 0 {
		t.Fatal("the cut node failed no request: the test cut nothing")
	}
	// The cut node works again.
	if _, err := cut.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: "after", Holder: "CN=after", Limit: 100000, TTL: time.Hour, Now: s0.Add(time.Hour)}); err != nil {
		t.Fatalf("Acquire on the restored node = %v", err)
	}
	checkTables(t, url)

	ls, err := nodes[0].Leases(ctx, "ocr", s0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]bool{}
	for _, l := range ls {
		live[l.InstanceID] = true
	}
	events := map[string]string{} // kind+id → node
	nodes[0].Audit(ctx, 0, func(e store.Event) error {
		events[e.Kind+" "+e.InstanceID] = e.Node
		return nil
	})
	for id, node := range led.granted {
		if events[store.KindGrant+" "+id] != node {
			t.Errorf("%s was granted by %s with no grant event of it", id, node)
		}
		if _, rel := led.released[id]; !rel && !led.unsure[id] && !live[id] {
			t.Errorf("%s was granted by %s and is gone", id, node)
		}
	}
	for id, node := range led.released {
		if live[id] {
			t.Errorf("%s was released by %s and is still held", id, node)
		}
		if events[store.KindRelease+" "+id] != node {
			t.Errorf("%s was released by %s with no release event of it", id, node)
		}
	}
}

// checkCutError fails t if err, from node s, is an answer that only a
// node reaching the database may give.
func checkCutError(t *testing.T, s *postgres.Store, phase *atomic.Int32, failed *atomic.Int64, err error) {
	if err == nil {
		return
	}
	if s.Node() != "node-3" {
		t.Errorf("%s, never cut off: %v", s.Node(), err)
		return
	}
	failed.Add(1)
	if phase.Load() == 0 {
		t.Errorf("%s failed before the cut: %v", s.Node(), err)
	}
	if c := codes.As(postgres.Describe(err)).Code; c != codes.StoreUnavailable {
		t.Errorf("%s cut off answered %v (code %d), want code %d", s.Node(), err, c, codes.StoreUnavailable)
	}
}

// TestStressCloseWhileBusy: a store closed while requests pour in answers
// every one of them, with their result or store.ErrClosed.
func TestStressCloseWhileBusy(t *testing.T) {
	url := pgtest.Database(t)
	ctx := context.Background()
	for round := range 8 {
		s, err := postgres.Open(ctx, postgres.Config{URL: url, Node: "node-1"})
		if err != nil {
			t.Fatal(err)
		}
		var calls atomic.Int64
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				for i := 0; ; i++ {
					id := fmt.Sprintf("r%d-g%d-%d", round, g, i%4)
					at := s0.Add(time.Duration(calls.Add(1)) * time.Millisecond)
					var err error
					switch i % 4 {
					case 0:
						_, err = s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "CN=" + id, Limit: 100000, TTL: stressTTL, Now: at})
					case 1:
						_, err = s.Renew(ctx, store.RenewRequest{Product: "ocr", InstanceID: id, Holder: "CN=" + id, TTL: stressTTL, Now: at})
					case 2:
						_, err = s.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: id, Reason: store.KindRelease, Actor: "CN=" + id, Now: at})
					default:
						_, err = s.Expire(ctx, at)
					}
					if errors.Is(err, store.ErrClosed) {
						return
					}
				}
			})
		}
		for calls.Load() < 200 {
			time.Sleep(time.Millisecond)
		}
		s.Close()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatalf("round %d: requests made while the store closed are still unanswered", round)
		}
	}
}

// TestRenewalEarlierThanGrant: a renewal timed before the grant it renews
// (another node's clock, a little behind) ends the lease earlier than the
// grant did: the reaper's next look moves with it, so that no lease is due
// after it expires and a lapsed seat is reaped when it lapses.
func TestRenewalEarlierThanGrant(t *testing.T) {
	url := pgtest.Database(t)
	a, b := openNode(t, url, "node-1"), openNode(t, url, "node-2")
	ctx := context.Background()
	if _, err := a.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: "i-1", Holder: "CN=i-1", Limit: 1, TTL: stressTTL, Now: s0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	g, err := b.Renew(ctx, store.RenewRequest{Product: "ocr", InstanceID: "i-1", Holder: "CN=i-1", TTL: stressTTL, Now: s0})
	if err != nil {
		t.Fatal(err)
	}
	if want := s0.Add(stressTTL); !g.Lease.Expires.Equal(want) {
		t.Fatalf("renewed to %v, want %v", g.Lease.Expires, want)
	}
	checkTables(t, url)
	lapsed := s0.Add(stressTTL + time.Millisecond)
	gone, err := a.Expire(ctx, lapsed)
	if err != nil || len(gone) != 1 {
		t.Fatalf("reaped at %v: %v, %v; want the lease", lapsed, gone, err)
	}
}
