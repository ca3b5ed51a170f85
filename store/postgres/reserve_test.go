package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/postgres"
)

// TestReservesMoveBetweenNodes: the seats one node's reserve holds free
// move to another node that needs them, up to the limit exactly; a limit
// lowered on one node binds the others' grants too, and a pool over its
// lowered limit grants nothing until it is under.
func TestReservesMoveBetweenNodes(t *testing.T) {
	url := pgtest.Database(t)
	a, b := openNode(t, url, "node-1"), openNode(t, url, "node-2")
	ctx := context.Background()
	n := 0
	grant := func(s *postgres.Store, limit int) (string, error) {
		n++
		id := fmt.Sprint("i-", n)
		_, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "CN=app", Limit: limit, TTL: stressTTL, Now: s0})
		return id, err
	}
	release := func(s *postgres.Store, id string) {
		t.Helper()
		if _, err := s.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: id, Reason: store.KindRelease, Actor: "CN=app", Now: s0}); err != nil {
			t.Fatal(err)
		}
	}
	full := func(err error, held int) bool {
		var fe *store.FullError
		return errors.As(err, &fe) && fe.Held == held
	}
	var onA []string
	for range 8 {
		id, err := grant(a, 10)
		if err != nil {
			t.Fatal(err)
		}
		onA = append(onA, id)
	}
	for range 2 {
		if _, err := grant(b, 10); err != nil {
			t.Fatalf("grant on b with 8 of 10 held on a: %v", err)
		}
	}
	for _, s := range []*postgres.Store{a, b} {
		if _, err := grant(s, 10); !full(err, 10) {
			t.Fatalf("grant past 10 of 10 = %v, want a FullError at 10", err)
		}
	}
	release(a, onA[0])
	if _, err := grant(b, 10); err != nil {
		t.Fatalf("grant on b after a release on a: %v", err)
	}
	checkTables(t, url)

	// The limit lowered to 6 (on b): 10 held, so neither node grants,
	// whatever limit it asks with, until 5 are released.
	if _, err := grant(b, 6); !full(err, 10) {
		t.Fatalf("grant under a lowered limit = %v, want a FullError at 10", err)
	}
	if _, err := grant(a, 10); !full(err, 10) {
		t.Fatalf("grant on a with the old limit after b lowered it = %v, want a FullError at 10", err)
	}
	for _, id := range onA[1:6] {
		release(a, id)
	}
	if _, err := grant(a, 6); err != nil {
		t.Fatalf("grant at 5 of 6: %v", err)
	}
	for _, s := range []*postgres.Store{a, b} {
		if _, err := grant(s, 6); !full(err, 6) {
			t.Fatalf("grant past 6 of 6 = %v, want a FullError at 6", err)
		}
	}
	checkTables(t, url)
}
