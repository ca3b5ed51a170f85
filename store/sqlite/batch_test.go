package sqlite

import (
	"context"
	"database/sql"
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

// TestRows writes batches of rows around maxRows through one rows
// statement and checks that every row arrived, and that a statement is
// prepared only for the counts written.
func TestRows(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "rows.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	r := rows{conn: c, perRow: 2, head: `INSERT INTO t (a, b) VALUES `}
	next := 0
	for _, n := range []int{0, 1, maxRows, maxRows + 1, 2*maxRows + 8} {
		var args []any
		for range n {
			args = append(args, next, fmt.Sprint("row ", next))
			next++
		}
		if err := r.exec(args); err != nil {
			t.Fatalf("%d rows: %v", n, err)
		}
	}
	var count, sum int
	if err := c.QueryRowContext(ctx, `SELECT count(*), sum(a) FROM t WHERE b = 'row ' || a`).Scan(&count, &sum); err != nil {
		t.Fatal(err)
	}
	if count != next || sum != next*(next-1)/2 {
		t.Errorf("%d rows (sum %d), want %d (sum %d)", count, sum, next, next*(next-1)/2)
	}
	for n, st := range r.stmts {
		if want := n == 1 || n == 8 || n == maxRows; (st != nil) != want {
			t.Errorf("statement for %d rows prepared: %v", n, st != nil)
		}
	}
	// A statement the database refuses is reported, and nothing is kept.
	bad := rows{conn: c, perRow: 1, head: `INSERT INTO no_such_table (a) VALUES `}
	if err := bad.exec([]any{1}); err == nil || bad.stmts[1] != nil {
		t.Errorf("a refused statement: %v, kept %v", err, bad.stmts[1] != nil)
	}
}
