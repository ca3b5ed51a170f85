package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/licensor/licensor/store"
)

// TestBatchSizes commits batches of many sizes, grants and releases mixed,
// and checks each change reached the file: reopened, the store holds
// exactly the leases left and an audit chain that verifies.
func TestBatchSizes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "licensor.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[string]bool{}
	for _, n := range []int{1, 2, 7, 8, 9, 31, 32, 33, 41, 80} {
		// n grants at once share a batch (or a few): each waits for its
		// commit, and the writer gathers what arrives meanwhile.
		var wg sync.WaitGroup
		for i := range n {
			id := fmt.Sprintf("n%d-%d", n, i)
			want[id] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "app", Limit: 1 << 20, TTL: time.Hour, Now: t0}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		// Release every other one, as one lazy batch.
		for i := 0; i < n; i += 2 {
			id := fmt.Sprintf("n%d-%d", n, i)
			delete(want, id)
			if _, err := s.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: id, Reason: store.KindRelease, Actor: "app", Now: t0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	leases, err := s.Leases(ctx, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != len(want) {
		t.Fatalf("the file holds %d leases, want %d", len(leases), len(want))
	}
	for _, l := range leases {
		if !want[l.InstanceID] {
			t.Errorf("lease %s should have been released", l.InstanceID)
		}
	}
	var v store.Verifier
	if err := s.Audit(ctx, 0, v.Check); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
}
