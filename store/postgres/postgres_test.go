package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"

	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/postgres"
	"github.com/licensor/licensor/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() (store.Store, error) {
		url := pgtest.Database(t)
		return func() (store.Store, error) {
			// A store the suite left open stands for a process killed:
			// the database ends its sessions, and with them its hold on
			// the node's name.
			endNameHolders(t, url)
			return postgres.Open(context.Background(), postgres.Config{URL: url, Node: "n1"})
		}
	})
}

func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) func(string) (store.Store, error) {
		url := pgtest.Database(t)
		return func(node string) (store.Store, error) {
			return postgres.Open(context.Background(), postgres.Config{URL: url, Node: node})
		}
	})
}

func TestRefusesNewerSchema(t *testing.T) {
	url := pgtest.Database(t)
	s, err := postgres.Open(context.Background(), postgres.Config{URL: url, Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn := connect(t, url)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `UPDATE licensor_schema SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(context.Background(), postgres.Config{URL: url, Node: "n1"})
	if codes.As(err).Code != codes.StoreTooNew {
		t.Fatalf("Open on a later schema = %v, want code %d", err, codes.StoreTooNew)
	}
}

// TestBadSettings: a store setting the database refuses gets its code and
// fix, repeats no password, and writes nothing.
func TestBadSettings(t *testing.T) {
	url := pgtest.Database(t)
	bare, password := pgtest.WithoutPassword(t, url)
	dir := t.TempDir()
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("not-the-password\n"), 0o600)
	right := filepath.Join(dir, "right")
	os.WriteFile(right, []byte(password+"\n"), 0o600)
	tests := []struct {
		name string
		cfg  postgres.Config
		code codes.Code
	}{
		{"garbage", postgres.Config{URL: "postgres://%zz@@/"}, codes.StoreRefused},
		{"wrong password", postgres.Config{URL: bare, PasswordFile: wrong}, codes.StoreRefused},
		{"no password", postgres.Config{URL: bare + "&passfile=" + filepath.Join(dir, "none")}, codes.StoreRefused},
		{"missing password file", postgres.Config{URL: bare, PasswordFile: filepath.Join(dir, "missing")}, codes.FileMissing},
		{"no such database", postgres.Config{URL: strings.Replace(bare, "/t_", "/nothere_", 1), PasswordFile: right}, codes.StoreRefused},
		{"nothing listens", postgres.Config{URL: "postgres://licensor@127.0.0.1:1/x?connect_timeout=2", PasswordFile: right}, codes.StoreUnavailable},
		{"bad node name", postgres.Config{URL: bare, PasswordFile: right, Node: "two words"}, codes.ConfigInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := postgres.Open(context.Background(), tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			ce := codes.As(err)
			if ce.Code != tt.code || ce.FixText() == "" {
				t.Fatalf("Open = %v (code %d), want code %d with a fix", err, ce.Code, tt.code)
			}
			if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "not-the-password") {
				t.Fatalf("the error repeats a password: %v", err)
			}
		})
	}
	// Nothing was written: the database has no tables yet.
	conn := connect(t, url)
	defer conn.Close(context.Background())
	var n int
	conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'licensor%'`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d licensor tables after refused opens, want 0", n)
	}
	// The right password file opens it.
	s, err := postgres.Open(context.Background(), postgres.Config{URL: bare, PasswordFile: right})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
