package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
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

// v1Schema is the leases table before seats had kinds.
const v1Schema = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE leases (
	product TEXT NOT NULL, instance_id TEXT NOT NULL, holder TEXT NOT NULL,
	since INTEGER NOT NULL, renewed INTEGER NOT NULL, expires INTEGER NOT NULL,
	PRIMARY KEY (product, instance_id)
) WITHOUT ROWID;
CREATE TABLE audit (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, kind TEXT NOT NULL, product TEXT NOT NULL,
	instance_id TEXT NOT NULL, actor TEXT NOT NULL, code INTEGER NOT NULL, detail TEXT NOT NULL, prev BLOB, hash BLOB NOT NULL);
`

// TestMigrateV1 opens a file written before seats had kinds: a seat held
// by the key-file path becomes a key-file seat, the rest instance seats.
func TestMigrateV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "licensor.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(time.Hour).UnixMicro()
	for _, q := range []string{v1Schema,
		`INSERT INTO leases VALUES ('ocr', 'app-1', 'app1', 0, 0, ` + fmt.Sprint(exp) + `)`,
		`INSERT INTO leases VALUES ('ocr', 'keyfile:0123456789abcdef0123456789abcdef', 'renewer', 0, 0, ` + fmt.Sprint(exp) + `)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ls, err := s.Leases(context.Background(), "ocr", t0)
	if err != nil || len(ls) != 2 {
		t.Fatalf("Leases = %+v, %v", ls, err)
	}
	for _, l := range ls {
		want := store.SeatInstance
		if strings.HasPrefix(l.InstanceID, store.KeyFileSeatPrefix) {
			want = store.SeatKeyFile
		}
		if l.Kind != want {
			t.Errorf("%s: kind %q, want %q", l.InstanceID, l.Kind, want)
		}
	}
}

// TestRefuseNewerSchema: a file written by a later licensor is refused,
// not misread.
func TestRefuseNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "licensor.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE meta SET value = '99' WHERE key = 'schema_version'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(path)
	var ve *store.VersionError
	if !errors.As(err, &ve) || ve.Have != 99 || ve.Know != schemaVersion {
		t.Fatalf("Open(newer file) = %v, want *store.VersionError", err)
	}
}

// TestFailedCommitUnreadable: when a commit fails and the file cannot be
// read back, the store refuses every call rather than decide from a
// memory image the file does not hold, and recovers once it can read it.
func TestFailedCommitUnreadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "licensor.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	acquire := func(id string) error {
		_, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: id, Limit: 2, TTL: time.Minute, Now: t0})
		return err
	}
	if err := acquire("i-1"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`ALTER TABLE leases RENAME TO leases_gone`); err != nil {
		t.Fatal(err)
	}
	if err := acquire("i-2"); err == nil {
		t.Fatal("a grant was answered that the file cannot hold")
	}
	if _, err := s.Held(ctx, t0); err == nil {
		t.Fatal("Held answered from a memory image the file does not hold")
	}
	if _, err := db.Exec(`ALTER TABLE leases_gone RENAME TO leases`); err != nil {
		t.Fatal(err)
	}
	held, err := s.Held(ctx, t0)
	if err != nil || held["ocr"] != 1 {
		t.Fatalf("Held after the file is back = %v, %v; want the one seat committed", held, err)
	}
	if err := acquire("i-3"); err != nil {
		t.Fatalf("Acquire after the file is back = %v", err)
	}
}
