// Package storetest is the conformance suite every store backend passes:
// the pool's rules, durability across a reopen, the time high-water mark
// and the audit chain.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
		{"keyfile-seat-outlives-instance-paths", testKeyFileSeat},
		{"keyfile-seat-revoked-stays-counted", testKeyFileRevoke},
		{"keyfile-seat-never-shortens", testKeyFileExtend},
		{"lease-belongs-to-its-holder", testOwner},
		{"answered-changes-are-durable", testDurable},
		{"decided-sees-the-grant-once", testDecided},
		{"revoke-keeps-its-reason", testRevokeNote},
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

// renew renews id's instance seat as its holder, "CN="+id.
func renew(s store.Store, product, id string, now time.Time) (store.Grant, error) {
	return s.Renew(ctx, store.RenewRequest{Product: product, InstanceID: id, Holder: "CN=" + id, TTL: ttl, Now: now})
}

func release(s store.Store, product, id, reason, actor string, now time.Time) (store.Lease, error) {
	return s.Release(ctx, store.ReleaseRequest{Product: product, InstanceID: id, Reason: reason, Actor: actor, Now: now})
}

// keyFileTTL is a key file's validity in the suite.
const keyFileTTL = 72 * time.Hour

func acquireKeyFile(s store.Store, product, machine string, limit int, now time.Time) (store.Grant, error) {
	return s.Acquire(ctx, store.AcquireRequest{Product: product, InstanceID: store.KeyFileSeat(machine), Kind: store.SeatKeyFile,
		Holder: "CN=renewer", Limit: limit, TTL: keyFileTTL, Now: now})
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
	g, err := renew(s, "ocr", "i-1", now)
	if err != nil || !g.Expires.Equal(now.Add(ttl)) || !g.Renewed.Equal(now) || !g.Since.Equal(t0) || !g.Resumed || g.Held != 1 {
		t.Fatalf("Renew = %+v, %v", g, err)
	}
	// Renewed past its first expiry, it still holds the seat.
	if _, _, err := acquire(s, "ocr", "i-2", 1, t0.Add(ttl+time.Second)); err == nil {
		t.Fatal("a renewed lease lost its seat at its old expiry")
	}
	if _, err := renew(s, "ocr", "nobody", now); !errors.Is(err, store.ErrNoLease) {
		t.Fatalf("Renew(unknown) = %v, want ErrNoLease", err)
	}
	if _, err := renew(s, "ocr", "i-1", now.Add(ttl+time.Second)); !errors.Is(err, store.ErrNoLease) {
		t.Fatalf("Renew(lapsed) = %v, want ErrNoLease", err)
	}
}

func testRelease(t *testing.T, open func() (store.Store, error)) {
	s := mustOpen(t, open)
	mustAcquire(t, s, "ocr", "i-1", 1, t0)
	if _, err := release(s, "ocr", "i-1", store.KindRelease, "CN=i-1", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := held(t, s, "ocr", t0.Add(time.Second)); n != 0 {
		t.Fatalf("held = %d after release", n)
	}
	if _, err := release(s, "ocr", "i-1", store.KindRelease, "CN=i-1", t0.Add(2*time.Second)); !errors.Is(err, store.ErrNoLease) {
		t.Fatalf("second Release = %v, want ErrNoLease", err)
	}
	mustAcquire(t, s, "ocr", "i-2", 1, t0.Add(3*time.Second))
	if _, err := release(s, "ocr", "i-2", store.KindRevoke, "CN=admin", t0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := renew(s, "ocr", "i-2", t0.Add(5*time.Second)); !errors.Is(err, store.ErrNoLease) {
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
	var tally acquires
	for i := range clients {
		wg.Go(func() {
			// Each instance asks twice, as a reconnecting client would.
			for range 2 {
				_, _, err := acquire(s, "ocr", fmt.Sprint("i-", i), limit, t0)
				tally.count(t, err)
			}
		})
	}
	wg.Wait()
	if n := held(t, s, "ocr", t0); n != limit {
		t.Fatalf("held = %d, want exactly %d", n, limit)
	}
	if tally.granted != 2*limit || tally.full != 2*(clients-limit) {
		t.Fatalf("granted %d (resumes included), refused %d; want %d and %d", tally.granted, tally.full, 2*limit, 2*(clients-limit))
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
	g, err := renew(s, "ocr", "i-0", t0.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want["i-0"] = g.Lease
	if _, err := release(s, "ocr", "i-4", store.KindRelease, "CN=i-4", t0.Add(31*time.Second)); err != nil {
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
	release(s, "ocr", "a", store.KindRelease, "CN=a", t0.Add(3*time.Second))
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

// testKeyFileSeat: no instance path frees, resumes or shortens a key-file
// host's seat, whatever id it names.
func testKeyFileSeat(t *testing.T, open func() (store.Store, error)) {
	s := mustOpen(t, open)
	g, err := acquireKeyFile(s, "ocr", "m1", 2, t0)
	if err != nil || g.Kind != store.SeatKeyFile || !g.Expires.Equal(t0.Add(keyFileTTL)) {
		t.Fatalf("Acquire(key file) = %+v, %v", g, err)
	}
	mustAcquire(t, s, "ocr", "i-1", 2, t0)
	id := store.KeyFileSeat("m1")
	now := t0.Add(time.Minute)
	var owner *store.OwnerError
	if _, err := release(s, "ocr", id, store.KindRelease, "CN=renewer", now); !errors.As(err, &owner) {
		t.Errorf("Release(key-file seat) = %v, want *OwnerError", err)
	}
	if _, err := s.Renew(ctx, store.RenewRequest{Product: "ocr", InstanceID: id, Holder: "CN=renewer", TTL: ttl, Now: now}); !errors.As(err, &owner) {
		t.Errorf("Renew(key-file seat) = %v, want *OwnerError", err)
	}
	if _, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "CN=renewer", Limit: 2, TTL: ttl, Now: now}); !errors.As(err, &owner) {
		t.Errorf("Acquire(instance, key-file seat's id) = %v, want *OwnerError", err)
	}
	// An instance seat is not the key-file path's either.
	if _, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: "i-1", Kind: store.SeatKeyFile, Holder: "CN=i-1", Limit: 2, TTL: keyFileTTL, Now: now}); !errors.As(err, &owner) {
		t.Errorf("Acquire(key file, an instance's id) = %v, want *OwnerError", err)
	}
	ls, err := s.Leases(ctx, "ocr", now)
	if err != nil || len(ls) != 2 {
		t.Fatalf("Leases = %+v, %v", ls, err)
	}
	for _, l := range ls {
		if l.InstanceID == id && (l.Kind != store.SeatKeyFile || !l.Expires.Equal(t0.Add(keyFileTTL))) {
			t.Errorf("key-file seat after the instance paths = %+v, want it as granted", l)
		}
		if l.InstanceID == "i-1" && l.Kind != store.SeatInstance {
			t.Errorf("instance seat = %+v", l)
		}
	}
	if _, _, err := acquire(s, "ocr", "i-2", 2, now); err == nil {
		t.Error("a third seat was granted in a pool of two")
	}
	// It outlives any lease TTL: counted until the key file expires.
	late := t0.Add(keyFileTTL - time.Second)
	if n := held(t, s, "ocr", late); n != 1 {
		t.Errorf("held = %d just before the key file expires, want the key-file seat", n)
	}
	if n := held(t, s, "ocr", t0.Add(keyFileTTL+time.Second)); n != 0 {
		t.Errorf("held = %d after the key file expired", n)
	}
}

// testKeyFileRevoke: a revoked key-file seat is counted until it expires,
// and its renewals are refused; then the host may come back.
func testKeyFileRevoke(t *testing.T, open func() (store.Store, error)) {
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acquireKeyFile(s, "ocr", "m1", 1, t0); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	l, err := release(s, "ocr", store.KeyFileSeat("m1"), store.KindRevoke, "CN=ops", now)
	if err != nil || l.Kind != store.SeatKeyFile || !l.Revoked.Equal(now) || l.RevokedBy != "CN=ops" || !l.Expires.Equal(t0.Add(keyFileTTL)) {
		t.Fatalf("revoke = %+v, %v; want the seat kept until %s", l, err, t0.Add(keyFileTTL))
	}
	if n := held(t, s, "ocr", now); n != 1 {
		t.Fatalf("held = %d after revoking a key-file seat, want 1", n)
	}
	if _, _, err := acquire(s, "ocr", "i-1", 1, now); err == nil {
		t.Fatal("a revoked key-file seat was given to an instance")
	}
	// A second revoke changes nothing.
	if l2, err := release(s, "ocr", store.KeyFileSeat("m1"), store.KindRevoke, "CN=other", now.Add(time.Minute)); err != nil || !l2.Revoked.Equal(now) {
		t.Fatalf("second revoke = %+v, %v", l2, err)
	}
	s.Close()
	s = mustOpen(t, open)
	var rev *store.RevokedError
	_, err = acquireKeyFile(s, "ocr", "m1", 1, now.Add(time.Hour))
	if !errors.As(err, &rev) || !rev.Expires.Equal(t0.Add(keyFileTTL)) || !rev.Revoked.Equal(now) {
		t.Fatalf("renewal after the revoke (and a reopen) = %v, want *RevokedError until %s", err, t0.Add(keyFileTTL))
	}
	after := t0.Add(keyFileTTL + time.Second)
	if g, err := acquireKeyFile(s, "ocr", "m1", 1, after); err != nil || g.Resumed || !g.Revoked.IsZero() {
		t.Fatalf("Acquire after the revoked key file expired = %+v, %v; want a new seat", g, err)
	}
}

// testKeyFileExtend: a key file given later with a shorter validity does
// not shorten the seat the earlier one holds.
func testKeyFileExtend(t *testing.T, open func() (store.Store, error)) {
	s := mustOpen(t, open)
	if _, err := acquireKeyFile(s, "ocr", "m1", 1, t0); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	g, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: store.KeyFileSeat("m1"), Kind: store.SeatKeyFile,
		Holder: "CN=renewer", Limit: 1, TTL: time.Hour, Now: now})
	if err != nil || !g.Resumed || !g.Expires.Equal(t0.Add(keyFileTTL)) {
		t.Fatalf("renewal with a shorter validity = %+v, %v; want the seat still until %s", g, err, t0.Add(keyFileTTL))
	}
	g, err = acquireKeyFile(s, "ocr", "m1", 1, now)
	if err != nil || !g.Expires.Equal(now.Add(keyFileTTL)) {
		t.Fatalf("renewal = %+v, %v; want until %s", g, err, now.Add(keyFileTTL))
	}
}

// testOwner: only the identity that took an instance seat resumes, renews
// or releases it; an operator's revoke ends it whoever holds it.
func testOwner(t *testing.T, open func() (store.Store, error)) {
	s := mustOpen(t, open)
	l := mustAcquire(t, s, "ocr", "i-1", 2, t0)
	now := t0.Add(time.Second)
	var owner *store.OwnerError
	_, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: "i-1", Holder: "CN=mallory", Limit: 2, TTL: ttl, Now: now})
	if !errors.As(err, &owner) || owner.Holder != "CN=i-1" || owner.Asker != "CN=mallory" {
		t.Errorf("Acquire by another holder = %v, want *OwnerError naming both", err)
	}
	if _, err := s.Renew(ctx, store.RenewRequest{Product: "ocr", InstanceID: "i-1", Holder: "CN=mallory", TTL: time.Hour, Now: now}); !errors.As(err, &owner) {
		t.Errorf("Renew by another holder = %v, want *OwnerError", err)
	}
	if _, err := release(s, "ocr", "i-1", store.KindRelease, "CN=mallory", now); !errors.As(err, &owner) {
		t.Errorf("Release by another holder = %v, want *OwnerError", err)
	}
	ls, err := s.Leases(ctx, "ocr", now)
	if err != nil || len(ls) != 1 || ls[0].Holder != l.Holder || !ls[0].Expires.Equal(l.Expires) {
		t.Fatalf("after another holder's requests: %+v, %v; want %+v untouched", ls, err, l)
	}
	// The holder itself (a renewed certificate of the same name) resumes.
	if _, resumed, err := acquire(s, "ocr", "i-1", 2, now); err != nil || !resumed {
		t.Errorf("Acquire by the holder = %v, resumed %v", err, resumed)
	}
	if _, err := release(s, "ocr", "i-1", store.KindRevoke, "CN=ops", now); err != nil {
		t.Errorf("revoke = %v", err)
	}
	if n := held(t, s, "ocr", now); n != 0 {
		t.Errorf("held = %d after the revoke", n)
	}
}

// testDurable: what Acquire, Release and a revoke answered is in the
// store's location when they return, seen by a second store opened beside
// the first, which is never closed (as after kill -9).
func testDurable(t *testing.T, open func() (store.Store, error)) {
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mustAcquire(t, s, "ocr", "a", 10, t0)
	mustAcquire(t, s, "ocr", "b", 10, t0)
	mustAcquire(t, s, "ocr", "c", 10, t0)
	if _, err := acquireKeyFile(s, "ocr", "m1", 10, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := release(s, "ocr", "a", store.KindRelease, "CN=a", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := release(s, "ocr", "b", store.KindRevoke, "CN=ops", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := release(s, "ocr", store.KeyFileSeat("m1"), store.KindRevoke, "CN=ops", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	other := mustOpen(t, open)
	now := t0.Add(2 * time.Second)
	ls, err := other.Leases(ctx, "ocr", now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.Lease{}
	for _, l := range ls {
		got[l.InstanceID] = l
	}
	if _, ok := got["a"]; ok {
		t.Error("a release answered is not in the store")
	}
	if _, ok := got["b"]; ok {
		t.Error("a revoke answered is not in the store")
	}
	if _, ok := got["c"]; !ok {
		t.Error("a grant answered is not in the store")
	}
	if kf := got[store.KeyFileSeat("m1")]; kf.Kind != store.SeatKeyFile || kf.Revoked.IsZero() {
		t.Errorf("key-file seat in the store = %+v, want it revoked", kf)
	}
	var kinds []string
	if err := other.Audit(ctx, 0, func(e store.Event) error { kinds = append(kinds, e.Kind); return nil }); err != nil {
		t.Fatal(err)
	}
	want := "[grant grant grant grant release revoke revoke]"
	if fmt.Sprint(kinds) != want {
		t.Errorf("audit in the store = %v, want %s", kinds, want)
	}
}

// testDecided: Acquire calls Decided once with the grant it returns, and
// never for a refusal.
func testDecided(t *testing.T, open func() (store.Store, error)) {
	s := mustOpen(t, open)
	var seen []store.Grant
	req := store.AcquireRequest{Product: "ocr", InstanceID: "i-1", Holder: "CN=i-1", Limit: 1, TTL: ttl, Now: t0,
		Decided: func(g store.Grant) { seen = append(seen, g) }}
	g, err := s.Acquire(ctx, req)
	if err != nil || len(seen) != 1 || seen[0] != g {
		t.Fatalf("Acquire = %+v, %v; Decided saw %+v", g, err, seen)
	}
	req.Now = t0.Add(time.Second)
	if g, err := s.Acquire(ctx, req); err != nil || len(seen) != 2 || seen[1] != g || !g.Resumed {
		t.Fatalf("resume = %+v, %v; Decided saw %+v", g, err, seen)
	}
	req.InstanceID, req.Holder = "i-2", "CN=i-2"
	if _, err := s.Acquire(ctx, req); err == nil || len(seen) != 2 {
		t.Fatalf("refused Acquire = %v; Decided saw %+v", err, seen)
	}
	req.InstanceID, req.Holder = "i-1", "CN=mallory"
	if _, err := s.Acquire(ctx, req); err == nil || len(seen) != 2 {
		t.Fatalf("another holder's Acquire = %v; Decided saw %+v", err, seen)
	}
}

// acquires counts the answers of concurrent Acquires: granted, or refused
// because the pool is full; anything else fails the test.
type acquires struct {
	mu            sync.Mutex
	granted, full int
}

func (a *acquires) count(t *testing.T, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var f *store.FullError
	switch {
	case err == nil:
		a.granted++
	case errors.As(err, &f):
		a.full++
	default:
		t.Errorf("Acquire = %v", err)
	}
}

// testRevokeNote: an operator's reason for a revoke is in its audit
// event, with the operator's identity, for either kind of seat.
func testRevokeNote(t *testing.T, open func() (store.Store, error)) {
	s := mustOpen(t, open)
	mustAcquire(t, s, "ocr", "i-1", 3, t0)
	if _, err := acquireKeyFile(s, "ocr", "m1", 3, t0); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"i-1", store.KeyFileSeat("m1")} {
		if _, err := s.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: id, Reason: store.KindRevoke, Actor: "CN=ops", Now: t0.Add(time.Second), Note: "console: left the company"}); err != nil {
			t.Fatalf("revoke %s: %v", id, err)
		}
	}
	got := map[string]store.Event{}
	s.Audit(ctx, 0, func(e store.Event) error {
		if e.Kind == store.KindRevoke {
			got[e.InstanceID] = e
		}
		return nil
	})
	for _, id := range []string{"i-1", store.KeyFileSeat("m1")} {
		e := got[id]
		if e.Actor != "CN=ops" || !strings.HasSuffix(e.Detail, "console: left the company") {
			t.Errorf("revoke event of %s: actor %q, detail %q", id, e.Actor, e.Detail)
		}
	}
	if d := got[store.KeyFileSeat("m1")].Detail; !strings.HasPrefix(d, "key-file seat not renewed; counted until ") {
		t.Errorf("key-file revoke detail %q lost what the store says", d)
	}
}
