// Package storeopen opens the store a configuration names, for every
// command that needs one (licensor serve, licensor audit verify): the
// embedded SQLite file in the data directory by default, a sqlite: path,
// or a PostgreSQL database that several site servers share. The server
// package never chooses: it is given the store.
package storeopen

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/postgres"
	"github.com/licensor/licensor/store/sqlite"
)

// StoreFile is the SQLite file in the data directory.
const StoreFile = "licensor.db"

// Setting is where the store is, as the configuration says.
type Setting struct {
	// Store is "" (SQLite in DataDir), "sqlite:PATH" or a PostgreSQL URL
	// ("postgres://…" or "postgresql://…") with no password in it.
	Store        string
	PasswordFile string // the PostgreSQL password, one line
	DataDir      string
	Node         string // this server's name among the nodes ("" the host name)
	// ReadOnly opens a PostgreSQL store to read it: no schema change, no
	// node registered.
	ReadOnly bool
}

// Kind is "sqlite" or "postgres".
func (s Setting) Kind() string {
	if IsPostgres(s.Store) {
		return "postgres"
	}
	return "sqlite"
}

// IsPostgres reports whether setting names a PostgreSQL database.
func IsPostgres(setting string) bool {
	return strings.HasPrefix(setting, "postgres://") || strings.HasPrefix(setting, "postgresql://")
}

// Check validates a store setting without opening it: the error is a
// *codes.Error naming the fix.
func Check(setting string) error {
	switch {
	case setting == "" || strings.HasPrefix(setting, "sqlite:"):
		if setting == "sqlite:" {
			return codes.Errorf(codes.StoreRefused, "store: \"sqlite:\" names no file").WithFix("Write sqlite:PATH, or leave store out for the data directory's licensor.db.")
		}
		return nil
	case IsPostgres(setting):
		u, err := url.Parse(setting)
		if err != nil {
			return codes.Errorf(codes.StoreRefused, "store: the PostgreSQL URL does not parse: %v", redactErr(err))
		}
		if _, has := u.User.Password(); has || u.Query().Has("password") {
			return codes.Errorf(codes.StoreRefused, "store: the PostgreSQL URL holds a password").
				WithFix("Take the password out of the configuration: put it in store_password_file (mode 0600), or in PGPASSFILE or PGPASSWORD in the service's environment.")
		}
		return nil
	}
	return codes.Errorf(codes.StoreRefused, "store: %q is neither sqlite:PATH nor a postgres:// URL", Redact(setting)).
		WithFix("Leave store out for SQLite in the data directory, or write sqlite:PATH or postgres://USER@HOST:PORT/DB?sslmode=verify-full.")
}

// Open opens the store s names. The SQLite file and its directory are
// made when missing.
func Open(ctx context.Context, s Setting) (store.Store, error) {
	if err := Check(s.Store); err != nil {
		return nil, err
	}
	if IsPostgres(s.Store) {
		return postgres.Open(ctx, postgres.Config{URL: s.Store, PasswordFile: s.PasswordFile, Node: s.Node, ReadOnly: s.ReadOnly})
	}
	path := SQLitePath(s)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, codes.Errorf(codes.StoreUnavailable, "cannot create the store's directory: %w", err)
	}
	st, err := sqlite.Open(path)
	if err != nil {
		return nil, codes.Errorf(codes.StoreUnavailable, "cannot open the store %s: %w", path, err)
	}
	return st, nil
}

// OpenExisting opens the store as Open does, but refuses to make an empty
// SQLite file where none is (for commands that read one).
func OpenExisting(ctx context.Context, s Setting) (store.Store, error) {
	if !IsPostgres(s.Store) {
		path := SQLitePath(s)
		if _, err := os.Stat(path); err != nil {
			return nil, codes.Errorf(codes.FileMissing, "no store at %s", path).WithFix("Give the data directory the server runs with (its data_dir), or --config with the server's configuration.")
		}
	}
	return Open(ctx, s)
}

// SQLitePath is the SQLite file s names.
func SQLitePath(s Setting) string {
	if p, ok := strings.CutPrefix(s.Store, "sqlite:"); ok {
		return p
	}
	return filepath.Join(s.DataDir, StoreFile)
}

// Redact is setting as it may be logged: without a password.
func Redact(setting string) string {
	u, err := url.Parse(setting)
	if err != nil || u.User == nil {
		return setting
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func redactErr(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return err.Error()
}
