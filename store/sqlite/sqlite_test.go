package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/storetest"
)

func backend(t *testing.T) func() (store.Store, error) {
	path := filepath.Join(t.TempDir(), "licensor.db")
	return func() (store.Store, error) { return Open(path) }
}

func TestConformance(t *testing.T) {
	storetest.Run(t, backend)
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// TestAuditTamper edits, deletes and reorders audit rows behind the
// store's back and checks the chain names the event.
func TestAuditTamper(t *testing.T) {
	tests := []struct {
		name    string
		sql     string
		wantSeq int64
		reason  string
	}{
		{"edited", `UPDATE audit SET instance_id = 'mallory' WHERE seq = 2`, 2, "edited"},
		{"deleted", `DELETE FROM audit WHERE seq = 3`, 4, "deleted"},
		{"last-rewritten", `UPDATE audit SET actor = 'someone-else' WHERE seq = 5`, 5, "edited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "licensor.db")
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for i, id := range []string{"a", "b", "c", "d", "e"} {
				s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: id, Limit: 10, TTL: time.Minute, Now: t0.Add(time.Duration(i) * time.Second)})
			}
			s.Close()
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tt.sql); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s, err = Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var v store.Verifier
			err = s.Audit(ctx, 0, v.Check)
			var ce *store.ChainError
			if !errors.As(err, &ce) || ce.Seq != tt.wantSeq {
				t.Fatalf("Audit = %v, want a break at %d", err, tt.wantSeq)
			}
		})
	}
}
