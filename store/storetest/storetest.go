// Package storetest is the conformance suite every store backend passes:
// the pool's rules, durability across a reopen, the time high-water mark
// and the audit chain.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/licensor/licensor/store"
)

// Backend makes a fresh, empty backend location and returns a function
// that opens it; the suite opens it again after Close to test durability.
type Backend func(t *testing.T) (open func() (store.Store, error))

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const ttl = 90 * time.Second

// Run runs the suite.
func Run(t *testing.T, backend Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func() (store.Store, error))
	}{
		{"grant-and-resume", testGrantResume},
		{"limit-is-exact", testLimit},
		{"lapsed-lease-frees-its-seat", testLapse},
		{"renew", testRenew},
		{"release-and-revoke", testRelease},
		{"expire", testExpire},
		{"products-are-separate", testProducts},
		{"concurrent-acquire-never-over-grants", testConcurrent},
		{"reopen-keeps-the-pool", testReopen},
		{"high-water-mark", testHighWater},
		{"audit-chain", testAudit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, backend(t))
		})
	}
}

var ctx = context.Background()

func mustOpen(t *testing.T, open func() (store.Store, error)) store.Store {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func acquire(s store.Store, product, id string, limit int, now time.Time) (store.Lease, bool, error) {
	g, err := s.Acquire(ctx, store.AcquireRequest{Product: product, InstanceID: id, Holder: "CN=" + id, Limit: limit, TTL: ttl, Now: now})
	return g.Lease, g.Resumed, err
}

func mustAcquire(t *testing.T, s store.Store, product, id string, limit int, now time.Time) store.Lease {
	t.Helper()
	l, _, err := acquire(s, product, id, limit, now)
	if err != nil {
		t.Fatalf("Acquire(%s, %s) = %v", product, id, err)
	}
	return l
}

func held(t *testing.T, s store.Store, product string, now time.Time) int {
	t.Helper()
	h, err := s.Held(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	return h[product]
}

func testGrantResume(t *testing.T, open func() (store.Store, error)) {
	s := mustOpen(t, open)
	mustAcquire(t, s, "ocr", "i-0", 3, t0)
	g, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: "i-1", Holder: "CN=i-1", Limit: 3, TTL: ttl, Now: t0})
	if err != nil || g.Resumed || g.Held != 2 {
		t.Fatalf("Acquire = %+v, %v; want a new seat, 2 held", g, err)
	}
	l := g.Lease
	if !l.Since.Equal(t0) || !l.Expires.Equal(t0.Add(ttl)) || l.Holder != "CN=i-1" {
		t.Fatalf("lease = %+v", l)
	}
	later := t0.Add(30 * time.Second)
	l2, resumed, err := acquire(s, "ocr", "i-1", 2, later)
	if err != nil || !resumed {
		t.Fatalf("second Acquire = %v, resumed %v", err, resumed)
	}
	if !l2.Since.Equal(t0) || !l2.Expires.Equal(later.Add(ttl)) {
		t.Fatalf("resumed lease = %+v: want the same seat, extended", l2)
	}
	if n := held(t, s, "ocr", later); n != 2 {
		t.Fatalf("a reconnect took a second seat: %d held", n)
	}
}

func testLimit(t *testing.T, open func() (store.Store, error)) {
	s := mustOpen(t, open)
	for i := range 3 {
		mustAcquire(t, s, "ocr", fmt.Sprint("i-", i), 3, t0.Add(time.Duration(i)*time.Second))
	}
	_, _, err := acquire(s, "ocr", "i-3", 3, t0.Add(5*time.Second))
	var full *store.FullError
	if !errors.As(err, &full) {
		t.Fatalf("fourth Acquire = %v, want *FullError", err)
	}
	if full.Held != 3 || full.Limit != 3 || !full.OldestExpires.Equal(t0.Add(ttl)) {
		t.Fatalf("FullError = %+v", full)
	}
	// A holder resumes even when the pool is full.
	if _, resumed, err := acquire(s, "ocr", "i-1", 3, t0.Add(6*time.Second)); err != nil || !resumed {
		t.Fatalf("resume in a full pool = %v, %v", err, resumed)
	}
	// A smaller limit (a reloaded license) refuses new seats, keeps old ones.
	if _, _, err := acquire(s, "ocr", "i-9", 2, t0.Add(7*time.Second)); !errors.As(err, &full) {
		t.Fatalf("Acquire past a lowered limit = %v", err)
	}
	if n := held(t, s, "ocr", t0.Add(7*time.Second)); n != 3 {
		t.Fatalf("held = %d after a refused Acquire, want 3", n)
	}
}

func testLapse(t *testing.T, open func() (store.Store, error)) {
	s := mustOpen(t, open)
	mustAcquire(t, s, "ocr", "i-1", 1, t0)
	if _, _, err := acquire(s, "ocr", "i-2", 1, t0.Add(ttl)); err == nil {
		t.Fatal("the seat was given away at the last instant of its lease")
	}
	after := t0.Add(ttl + time.Second)
	if _, resumed, err := acquire(s, "ocr", "i-2", 1, after); err != nil || resumed {
		t.Fatalf("Acquire after the lease lapsed = %v, resumed %v", err, resumed)
	}
	// The lapsed instance comes back to a full pool.
	if _, _, err := acquire(s, "ocr", "i-1", 1, after); err == nil {
		t.Fatal("a lapsed lease was resumed over the new holder")
	}
}

func testRenew(t *testing.T, open func() (store.Store, error)) {
	s := mustOpen(t, open)
	mustAcquire(t, s, "ocr", "i-1", 1, t0)
	now := t0.Add(60 * time.Second)
	g, err := s.Renew(ctx, "ocr", "i-1", ttl, now)
	if err != nil || !g.Expires.Equal(now.Add(ttl)) || !g.Renewed.Equal(now) || !g.Since.Equal(t0) || !g.Resumed || g.Held != 1 {
		t.Fatalf("Renew = %+v, %v", g, err)
	}
	// Renewed past its first expiry, it still holds the seat.
	if _, _, err := acquire(s, "ocr", "i-2", 1, t0.Add(ttl+time.Second)); err == nil {
		t.Fatal("a renewed lease lost its seat at its old expiry")
	}
	if _, err := s.Renew(ctx, "ocr", "nobody", ttl, now); !errors.Is(err, store.ErrNoLease) {
		t.Fatalf("Renew(unknown) = %v, want ErrNoLease", err)
	}
	if _, err := s.Renew(ctx, "ocr", "i-1", ttl, now.Add(ttl+time.Second)); !errors.Is(err, store.ErrNoLease) {
		t.Fatalf("Renew(lapsed) = %v, want ErrNoLease", err)
	}
}

func testRelease(t *testing.T, open func() (store.Store, error)) {
	s := mustOpen(t, open)
	mustAcquire(t, s, "ocr", "i-1", 1, t0)
	if _, err := s.Release(ctx, "ocr", "i-1", store.KindRelease, "CN=i-1", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := held(t, s, "ocr", t0.Add(time.Second)); n != 0 {
		t.Fatalf("held = %d after release", n)
	}
	if _, err := s.Release(ctx, "ocr", "i-1", store.KindRelease, "CN=i-1", t0.Add(2*time.Second)); !errors.Is(err, store.ErrNoLease) {
		t.Fatalf("second Release = %v, want ErrNoLease", err)
	}
	mustAcquire(t, s, "ocr", "i-2", 1, t0.Add(3*time.Second))
	if _, err := s.Release(ctx, "ocr", "i-2", store.KindRevoke, "CN=admin", t0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Renew(ctx, "ocr", "i-2", ttl, t0.Add(5*time.Second)); !errors.Is(err, store.ErrNoLease) {
		t.Fatalf("Renew after revoke = %v, want ErrNoLease", err)
	}
}

func testExpire(t *testing.T, open func() (store.Store, error)) {
	s := mustOpen(t, open)
	mustAcquire(t, s, "ocr", "a", 5, t0)
	mustAcquire(t, s, "ocr", "b", 5, t0.Add(10*time.Second))
	mustAcquire(t, s, "asr", "c", 1, t0.Add(20*time.Second))
	gone, err := s.Expire(ctx, t0.Add(ttl+15*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 2 {
		t.Fatalf("Expire removed %d leases, want 2 (a, b): %+v", len(gone), gone)
	}
	gone, err = s.Expire(ctx, t0.Add(ttl+15*time.Second))
	if err != nil || len(gone) != 0 {
		t.Fatalf("second Expire = %v, %v", gone, err)
	}
	ls, err := s.Leases(ctx, "", t0.Add(ttl+15*time.Second))
	if err != nil || len(ls) != 1 || ls[0].InstanceID != "c" {
		t.Fatalf("Leases = %+v, %v", ls, err)
	}
	// A lease another call found lapsed is reported by the next Expire.
	if _, _, err := acquire(s, "asr", "d", 1, t0.Add(ttl+25*time.Second)); err != nil {
		t.Fatalf("Acquire in place of the lapsed c = %v", err)
	}
	gone, err = s.Expire(ctx, t0.Add(ttl+25*time.Second))
	if err != nil || len(gone) != 1 || gone[0].InstanceID != "c" {
		t.Fatalf("Expire after an Acquire removed c = %+v, %v", gone, err)
	}
}

func testProducts(t *testing.T, open func() (store.Store, error)) {
	s := mustOpen(t, open)
	mustAcquire(t, s, "ocr", "i-1", 1, t0)
	mustAcquire(t, s, "asr", "i-1", 1, t0) // the same instance id in another pool
	ls, err := s.Leases(ctx, "", t0)
	if err != nil || len(ls) != 2 || ls[0].Product != "asr" || ls[1].Product != "ocr" {
		t.Fatalf("Leases = %+v, %v", ls, err)
	}
	ls, err = s.Leases(ctx, "ocr", t0)
	if err != nil || len(ls) != 1 {
		t.Fatalf("Leases(ocr) = %+v, %v", ls, err)
	}
}

func testConcurrent(t *testing.T, open func() (store.Store, error)) {
	s := mustOpen(t, open)
	const clients, limit = 1000, 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted, full := 0, 0
	for i := range clients {
		wg.Go(func() {
			// Each instance asks twice, as a reconnecting client would.
			for range 2 {
				_, _, err := acquire(s, "ocr", fmt.Sprint("i-", i), limit, t0)
				mu.Lock()
				var f *store.FullError
				switch {
				case err == nil:
					granted++
				case errors.As(err, &f):
					full++
				default:
					t.Errorf("Acquire = %v", err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n := held(t, s, "ocr", t0); n != limit {
		t.Fatalf("held = %d, want exactly %d", n, limit)
	}
	if granted != 2*limit || full != 2*(clients-limit) {
		t.Fatalf("granted %d (resumes included), refused %d; want %d and %d", granted, full, 2*limit, 2*(clients-limit))
	}
}

func testReopen(t *testing.T, open func() (store.Store, error)) {
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]store.Lease{}
	for i := range 5 {
		l := mustAcquire(t, s, "ocr", fmt.Sprint("i-", i), 10, t0.Add(time.Duration(i)*time.Second))
		want[l.InstanceID] = l
	}
	g, err := s.Renew(ctx, "ocr", "i-0", ttl, t0.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want["i-0"] = g.Lease
	if _, err := s.Release(ctx, "ocr", "i-4", store.KindRelease, "CN=i-4", t0.Add(31*time.Second)); err != nil {
		t.Fatal(err)
	}
	delete(want, "i-4")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, open)
	ls, err := s.Leases(ctx, "ocr", t0.Add(32*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != len(want) {
		t.Fatalf("after reopen %d leases, want %d", len(ls), len(want))
	}
	for _, l := range ls {
		w := want[l.InstanceID]
		if !l.Since.Equal(w.Since) || !l.Expires.Equal(w.Expires) || !l.Renewed.Equal(w.Renewed) || l.Holder != w.Holder {
			t.Errorf("after reopen %+v, want %+v", l, w)
		}
	}
}

func testHighWater(t *testing.T, open func() (store.Store, error)) {
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	if hw, err := s.HighWater(ctx); err != nil || !hw.IsZero() {
		t.Fatalf("fresh HighWater = %v, %v", hw, err)
	}
	s.ObserveTime(ctx, t0.Add(time.Hour))
	s.ObserveTime(ctx, t0) // earlier: ignored
	mustAcquire(t, s, "ocr", "i-1", 1, t0.Add(2*time.Hour))
	if hw, _ := s.HighWater(ctx); !hw.Equal(t0.Add(2 * time.Hour)) {
		t.Fatalf("HighWater = %v, want the latest time seen", hw)
	}
	s.Close()
	s = mustOpen(t, open)
	if hw, _ := s.HighWater(ctx); !hw.Equal(t0.Add(2 * time.Hour)) {
		t.Fatalf("HighWater after reopen = %v", hw)
	}
}

func testAudit(t *testing.T, open func() (store.Store, error)) {
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, s, "ocr", "a", 1, t0)
	acquire(s, "ocr", "a", 1, t0.Add(time.Second))
	s.Record(ctx, store.Event{Time: t0.Add(2 * time.Second), Kind: store.KindDeny, Product: "ocr", InstanceID: "b", Actor: "CN=b", Code: 501, Detail: "pool full"})
	s.Release(ctx, "ocr", "a", store.KindRelease, "CN=a", t0.Add(3*time.Second))
	mustAcquire(t, s, "ocr", "c", 1, t0.Add(4*time.Second))
	s.Expire(ctx, t0.Add(4*time.Second+ttl+time.Second))
	s.Close()

	s = mustOpen(t, open)
	s.Record(ctx, store.Event{Time: t0.Add(time.Hour), Kind: store.KindReload, Actor: "server"})
	var kinds []string
	var v store.Verifier
	err = s.Audit(ctx, 0, func(e store.Event) error {
		kinds = append(kinds, e.Kind)
		return v.Check(e)
	})
	if err != nil {
		t.Fatal(err)
	}
	// A resumed seat is not an event: only changes to who holds seats are.
	want := []string{"grant", "deny", "release", "grant", "expire", "reload"}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("audit kinds %v, want %v", kinds, want)
	}
	var tail []int64
	s.Audit(ctx, 5, func(e store.Event) error { tail = append(tail, e.Seq); return nil })
	if fmt.Sprint(tail) != "[6]" {
		t.Fatalf("Audit(after 5) = %v", tail)
	}
}
