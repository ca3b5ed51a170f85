package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/postgres"
)

// TestNodeNameIsOwn: a second server opened with a node name another one
// holds is refused with the code, naming the holder, and writes nothing;
// the name is free again once its holder closes, and a read-only store
// never needs it.
func TestNodeNameIsOwn(t *testing.T) {
	url := pgtest.Database(t)
	ctx := context.Background()
	a := openNode(t, url, "node-1")
	if err := a.Announce(ctx, store.NodeInfo{Address: "10.0.0.1:8443"}); err != nil {
		t.Fatal(err)
	}
	events := countEvents(t, url)
	_, err := postgres.Open(ctx, postgres.Config{URL: url, Node: "node-1", NameWait: 20 * time.Millisecond})
	if e := codes.As(err); e.Code != codes.NodeNameTaken || !strings.Contains(e.Error(), `"node-1"`) || !strings.Contains(e.Error(), "10.0.0.1:8443") {
		t.Fatalf("Open with a name in use = %v, want code %d naming the node and its address", err, codes.NodeNameTaken)
	}
	t.Log(codes.As(err).Detail())
	if n := countEvents(t, url); n != events {
		t.Fatalf("the refused Open wrote %d audit events", n-events)
	}
	r, err := postgres.Open(ctx, postgres.Config{URL: url, Node: "node-1", ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open beside the holder: %v", err)
	}
	r.Close()
	if _, err := a.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: "i-1", Holder: "CN=i-1", Limit: 5, TTL: time.Minute, Now: s0}); err != nil {
		t.Fatalf("the holder's grant: %v", err)
	}

	// Closed, the name is free at once; a holder closing while another
	// waits hands it over within the wait.
	a.Close()
	b, err := postgres.Open(ctx, postgres.Config{URL: url, Node: "node-1", NameWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	go func() { time.Sleep(50 * time.Millisecond); b.Close() }()
	c, err := postgres.Open(ctx, postgres.Config{URL: url, Node: "node-1", NameWait: 5 * time.Second})
	if err != nil {
		t.Fatalf("Open while the holder closes: %v", err)
	}
	c.Close()
}

// TestNodeNameLost: a node whose connection to the database was cut takes
// its name again when it announces itself; if another server took the
// name meanwhile, the node refuses to write from then on, with the code.
func TestNodeNameLost(t *testing.T) {
	url := pgtest.Database(t)
	ctx := context.Background()
	a := openNode(t, url, "node-1")
	endNameHolders(t, url)
	if err := a.Announce(ctx, store.NodeInfo{Address: "10.0.0.1:8443"}); err != nil {
		t.Fatalf("Announce after the name's connection was cut: %v", err)
	}
	if _, err := postgres.Open(ctx, postgres.Config{URL: url, Node: "node-1", NameWait: 20 * time.Millisecond}); codes.Of(err) != codes.NodeNameTaken {
		t.Fatalf("Open beside a node that took its name again = %v, want code %d", err, codes.NodeNameTaken)
	}

	endNameHolders(t, url)
	b := openNode(t, url, "node-1") // the name is free: another server takes it
	if err := a.Announce(ctx, store.NodeInfo{}); codes.Of(err) != codes.NodeNameTaken {
		t.Fatalf("Announce of a node whose name was taken = %v, want code %d", err, codes.NodeNameTaken)
	}
	if _, err := a.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: "i-1", Holder: "CN=i-1", Limit: 5, TTL: time.Minute, Now: s0}); codes.Of(err) != codes.NodeNameTaken {
		t.Fatalf("grant on a node whose name was taken = %v, want code %d", err, codes.NodeNameTaken)
	}
	if _, err := b.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: "i-1", Holder: "CN=i-1", Limit: 5, TTL: time.Minute, Now: s0}); err != nil {
		t.Fatalf("grant on the name's holder: %v", err)
	}
}

// endNameHolders ends the database sessions that hold node names in the
// database of url, as the database ends a killed process's, and waits
// until they are gone.
func endNameHolders(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, url)
	defer conn.Close(ctx)
	const holders = `FROM pg_locks WHERE locktype = 'advisory' AND classid = 27753 AND objsubid = 2
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) `+holders); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) `+holders).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the sessions holding node names did not end")
}

func countEvents(t *testing.T, url string) int {
	t.Helper()
	conn := connect(t, url)
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM licensor_audit`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
