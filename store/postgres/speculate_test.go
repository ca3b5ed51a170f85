package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/postgres"
)

// TestSpeculativeGuesses: every way a one-round-trip batch's guess can be
// wrong gets the answer the usual path gives, with the counts and the
// audit chains intact, and the common batches are guessed right.
func TestSpeculativeGuesses(t *testing.T) {
	url := pgtest.Database(t)
	a, b := openNode(t, url, "node-1"), openNode(t, url, "node-2")
	ctx := context.Background()
	acq := func(s *postgres.Store, id string, limit int, now time.Time) (store.Grant, error) {
		return s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "CN=" + id, Limit: limit, TTL: stressTTL, Now: now})
	}
	rel := func(s *postgres.Store, id, actor string, now time.Time) (store.Lease, error) {
		return s.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: id, Reason: store.KindRelease, Actor: actor, Now: now})
	}
	guesses := func(s *postgres.Store) (int64, int64) { return postgres.Guesses(s) }
	// wrong runs f and checks that it was guessed, and guessed wrong.
	wrong := func(s *postgres.Store, what string, f func()) {
		t.Helper()
		t0, w0 := guesses(s)
		f()
		t1, w1 := guesses(s)
		if t1-t0 != 1 || w1-w0 != 1 {
			t.Fatalf("%s: %d guesses, %d wrong; want 1 wrong guess", what, t1-t0, w1-w0)
		}
	}
	now := s0

	// The product's pool row is made on the usual path; from then on a
	// fresh grant and its release are guessed right.
	if _, err := acq(a, "warm", 10, now); err != nil {
		t.Fatal(err)
	}
	t0, w0 := guesses(a)
	g, err := acq(a, "x", 10, now)
	if err != nil || g.Resumed || g.Held != 2 || g.Node != "node-1" {
		t.Fatalf("fresh grant = %+v, %v; want a new seat, held 2, node-1", g, err)
	}
	l, err := rel(a, "x", "CN=x", now)
	if err != nil || l.InstanceID != "x" || l.Holder != "CN=x" || l.Node != "node-1" || !l.Expires.Equal(now.Add(stressTTL)) {
		t.Fatalf("release = %+v, %v; want x's lease", l, err)
	}
	if t1, w1 := guesses(a); t1-t0 != 2 || w1 != w0 {
		t.Fatalf("%d guesses, %d wrong for a grant and a release; want 2 right", t1-t0, w1-w0)
	}

	// A seat another node granted: a's guess that the id is free is
	// wrong, and the grant resumes the seat.
	if _, err := acq(b, "y", 10, now); err != nil {
		t.Fatal(err)
	}
	wrong(a, "grant of another node's seat", func() {
		g, err := acq(a, "y", 10, now)
		if err != nil || !g.Resumed || g.Held != 2 {
			t.Fatalf("grant of b's seat on a = %+v, %v; want it resumed, held 2", g, err)
		}
	})

	// A seat released on another node: a's guess that it holds it is
	// wrong, and the release finds no lease.
	if _, err := rel(b, "y", "CN=y", now); err != nil {
		t.Fatal(err)
	}
	wrong(a, "release of a seat released elsewhere", func() {
		if _, err := rel(a, "y", "CN=y", now); !errors.Is(err, store.ErrNoLease) {
			t.Fatalf("release of a released seat = %v, want ErrNoLease", err)
		}
	})

	// Another holder's release, and a release after the lease lapsed.
	if _, err := acq(a, "z", 10, now); err != nil {
		t.Fatal(err)
	}
	wrong(a, "release by another holder", func() {
		var oe *store.OwnerError
		if _, err := rel(a, "z", "CN=other", now); !errors.As(err, &oe) {
			t.Fatalf("release by another holder = %v, want an OwnerError", err)
		}
	})
	wrong(a, "release of a lapsed seat", func() {
		if _, err := rel(a, "z", "CN=z", now.Add(stressTTL+time.Second)); !errors.Is(err, store.ErrNoLease) {
			t.Fatalf("release of a lapsed seat = %v, want ErrNoLease", err)
		}
	})

	// A full pool: the guess that the grant fits is wrong, and the grant
	// is refused with the count read under the pool's lock.
	if _, err := acq(b, "w", 2, now); err != nil {
		t.Fatal(err)
	}
	wrong(a, "grant past the limit", func() {
		var full *store.FullError
		if _, err := acq(a, "v", 2, now); !errors.As(err, &full) || full.Held != 2 || full.Limit != 2 {
			t.Fatalf("grant into a full pool = %v, want a FullError at 2 of 2", err)
		}
	})
	checkTables(t, url)
}

// TestSpeculativeBatchCounts: grants and releases answered together in
// one-round-trip batches get the counts they would one at a time (each
// grant's Held is the pool after it, all different), and the pool never
// passes its limit.
func TestSpeculativeBatchCounts(t *testing.T) {
	url := pgtest.Database(t)
	a := openNode(t, url, "node-1")
	ctx := context.Background()
	if _, err := a.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: "warm", Holder: "CN=warm", Limit: 40, TTL: stressTTL, Now: s0}); err != nil {
		t.Fatal(err)
	}
	const n = 64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var helds []int
	refused := 0
	for i := range n {
		wg.Go(func() {
			g, err := a.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: fmt.Sprint("i-", i), Holder: "CN=i", Limit: 40, TTL: stressTTL, Now: s0})
			mu.Lock()
			defer mu.Unlock()
			var full *store.FullError
			switch {
			case err == nil:
				helds = append(helds, g.Held)
			case errors.As(err, &full):
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	sort.Ints(helds)
	if len(helds) != 39 || refused != n-39 {
		t.Fatalf("%d granted, %d refused; want 39 and %d", len(helds), refused, n-39)
	}
	for i, h := range helds {
		if h != i+2 {
			t.Fatalf("the grants' Held are %v, want 2 to 40, once each", helds)
		}
	}
	if tried, _ := postgres.Guesses(a); tried == 0 {
		t.Fatal("no batch was guessed")
	}
	checkTables(t, url)
}
