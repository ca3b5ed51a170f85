package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/store"
)

// TestSeatsFoundByKey: every statement of a batch of grants and releases,
// guessed or decided under the pool's lock, finds seats by their keys and
// never reads the leases' table whole. A new database's statistics, or
// ones older than the pool's churn, call the table empty, and the plan
// the database keeps for a statement it runs again and again then scans
// it: every grant and release leaves a dead row there, which each such
// scan reads until autovacuum comes by. (Renewals are left to the
// planner: a renewal leaves no dead row a scan reads, each page's old
// versions being pruned as it is read, and with 16 clients over two nodes
// a heartbeat cost the database 50µs found by a scan, 80µs by key.)
func TestSeatsFoundByKey(t *testing.T) {
	url := pgtest.Database(t)
	ctx := context.Background()
	conn := connect(t, url)
	defer conn.Close(ctx)
	// Made by the schema's migrations: the builds of the table's indexes
	// read it whole.
	openNode(t, url, "node-1").Close()
	before := leaseScans(t, conn)
	a, b := openNode(t, url, "node-1"), openNode(t, url, "node-2")
	const seats = 12 // past the five runs after which the database keeps a statement's plan
	id := func(i int) string { return fmt.Sprintf("i%d", i) }
	now := s0
	for i := range seats {
		if _, err := a.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id(i), Holder: "CN=" + id(i), Limit: 100, TTL: stressTTL, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	// Released on the node that did not grant them: it knows nothing of
	// the seats, and takes the usual path.
	for i := range seats / 2 {
		if _, err := b.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: id(i), Reason: store.KindRelease, Actor: "CN=" + id(i), Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range seats / 2 { // taken again on the other node
		if _, err := a.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id(i), Holder: "CN=" + id(i), Limit: 100, TTL: stressTTL, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range seats {
		if _, err := b.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id(i), Holder: "CN=" + id(i), Limit: 100, TTL: stressTTL, Now: now}); err != nil {
			t.Fatal(err)
		}
	}

	a.Close()
	b.Close()
	if n := leaseScans(t, conn) - before; n != 0 {
		t.Fatalf("the leases' table was read whole %d times; want never", n)
	}
}

// leaseScans returns how many times the leases' table of conn's database
// was read whole, once every other session on it has ended.
func leaseScans(t *testing.T, conn *pgx.Conn) int64 {
	t.Helper()
	othersEnded(t, conn)
	var scans int64
	if err := conn.QueryRow(context.Background(), `SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'licensor_leases'`).Scan(&scans); err != nil {
		t.Fatal(err)
	}
	return scans
}
