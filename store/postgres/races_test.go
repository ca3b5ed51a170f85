package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/postgres"
)

// TestStressGrantRevokeTables: a grant and a revoke of one id on one node,
// at the moment another node grants the id: the pool's count keeps counting
// the leases there are.
func TestStressGrantRevokeTables(t *testing.T) {
	url := pgtest.Database(t)
	a, b := openNode(t, url, "node-1"), openNode(t, url, "node-2")
	ctx := context.Background()
	for r := range 100 {
		id := fmt.Sprint("i-", r)
		now := s0.Add(time.Duration(r) * time.Millisecond)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, op := range []func(){
			func() {
				a.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "CN=" + id, Limit: 1000, TTL: stressTTL, Now: now})
			},
			func() {
				a.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: id, Reason: store.KindRevoke, Actor: "CN=admin", Now: now})
			},
			func() {
				b.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "CN=" + id, Limit: 1000, TTL: stressTTL, Now: now})
			},
		} {
			wg.Go(func() { <-start; op() })
		}
		close(start)
		wg.Wait()
	}
	checkTables(t, url)
}

// TestStressNoDeadlocks: four nodes take, renew and release the seats of
// three nearly full pools at once, and reap: their locks are taken in an
// order that never deadlocks in the database (each deadlock PostgreSQL
// breaks costs the waiters deadlock_timeout, a second by default).
func TestStressNoDeadlocks(t *testing.T) {
	url := pgtest.Database(t)
	ctx := context.Background()
	var nodes []*postgres.Store
	for i := range 4 {
		nodes = append(nodes, openNode(t, url, fmt.Sprint("node-", i+1)))
	}
	products := []string{"asr", "ocr", "tts"}
	const limit, ids = 3, 5
	var clock atomic.Int64
	now := func() time.Time { return s0.Add(time.Duration(clock.Add(1)) * time.Millisecond) }
	var wg sync.WaitGroup
	for n, s := range nodes {
		for w := range 4 {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(n), uint64(w)))
				for range 60 {
					p := products[r.IntN(len(products))]
					id := fmt.Sprint("i-", r.IntN(ids))
					var err error
					switch r.IntN(6) {
					case 0, 1, 2:
						_, err = s.Acquire(ctx, store.AcquireRequest{Product: p, InstanceID: id, Holder: "CN=" + id, Limit: limit, TTL: 300 * time.Millisecond, Now: now()})
					case 3:
						_, err = s.Renew(ctx, store.RenewRequest{Product: p, InstanceID: id, Holder: "CN=" + id, TTL: 300 * time.Millisecond, Now: now()})
					case 4:
						_, err = s.Release(ctx, store.ReleaseRequest{Product: p, InstanceID: id, Reason: store.KindRelease, Actor: "CN=" + id, Now: now()})
					default:
						_, err = s.Expire(ctx, now())
					}
					var full *store.FullError
					if err != nil && !errors.As(err, &full) && !errors.Is(err, store.ErrNoLease) {
						t.Errorf("node %d: %v", n+1, err)
					}
				}
			})
		}
	}
	wg.Wait()
	for _, s := range nodes {
		s.Close()
	}
	checkTables(t, url)
	if n := deadlocks(t, url); n != 0 {
		t.Fatalf("PostgreSQL broke %d deadlocks between the nodes' transactions", n)
	}
}

// deadlocks counts the deadlocks PostgreSQL detected in the database of
// url, once every other session on it has ended.
func deadlocks(t *testing.T, url string) int64 {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, url)
	defer conn.Close(ctx)
	othersEnded(t, conn)
	var n int64
	if err := conn.QueryRow(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// othersEnded waits for every session on conn's database but conn's own
// to end: a session's counts reach the statistics by the time it exits.
func othersEnded(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var others int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&others); err != nil {
			t.Fatal(err)
		}
		if others == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still on the database after every node closed", others)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
