package sqlite

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licensor/licensor/store"
)

// walRestarts reads the checkpoint sequence number from the WAL's header
// (bytes 12 to 16), which grows each time the WAL starts over.
func walRestarts(t *testing.T, path string) uint32 {
	t.Helper()
	h, err := os.ReadFile(path + "-wal")
	if err != nil || len(h) < 32 {
		t.Fatalf("no WAL header: %v", err)
	}
	return binary.BigEndian.Uint32(h[12:16])
}

// TestWALStartsOver checks that steady writes do not grow the WAL without
// bound: once the checkpointer finds it past restartFrames, the writer
// checkpoints it whole between two batches, and the next transaction
// starts it over.
func TestWALStartsOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "licensor.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	grant := func(id string) {
		t.Helper()
		if _, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "app", Limit: 1 << 20, TTL: time.Minute, Now: t0}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		grant(fmt.Sprint("i-", i))
	}
	before := walRestarts(t, path)
	s.walFrames.Store(s.restartFrames + 1) // as the checkpointer finds a long WAL
	grant("after-1")                       // its commit is followed by the catch-up
	grant("after-2")                       // and this one starts the WAL over
	if after := walRestarts(t, path); after <= before {
		t.Fatalf("the WAL's checkpoint sequence is %d, %d before the catch-up: it did not start over", after, before)
	}
}

// TestCloseLeavesOneFile checks that after Close the database file alone
// holds everything: a copy of it without the WAL opens with every lease.
func TestCloseLeavesOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "licensor.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		if _, err := s.Acquire(context.Background(), store.AcquireRequest{Product: "ocr", InstanceID: fmt.Sprint(i), Holder: "app", Limit: 100, TTL: time.Minute, Now: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "licensor.db")
	if err := os.WriteFile(backup, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Open(backup)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	held, err := b.Held(context.Background(), t0)
	if err != nil || held["ocr"] != n {
		t.Fatalf("the database file alone holds %v (%v), want ocr: %d", held, err, n)
	}
}
