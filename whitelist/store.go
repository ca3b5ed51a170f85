// Package whitelist is the vendor's online whitelist service: the machine
// codes the vendor approved, each with its customer, contract end and
// products, and the HTTPS endpoint (POST /v1/grant) that answers a site
// server's activation request with a license signed by the vendor key.
//
// A grant runs until the contract's end plus a grace period (90 days by
// default), so that a site keeps working while a renewal is negotiated. A
// site server in upstream mode fetches its grant at start and daily, so a
// renewal (an approval replaced with a later end) reaches it without a
// restart, and a revocation stops it at the end of the grant it holds.
//
// Approvals live in one SQLite file (pure Go, WAL) in the service's data
// directory; 'licensor vendor approve|list|revoke' edit it beside the
// running service.
package whitelist

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/license"
)

// DBFile is the store's file name in the data directory.
const DBFile = "whitelist.db"

// Approval is one machine code the vendor approved.
type Approval struct {
	MachineCode string `json:"machine_code"`
	Customer    string `json:"customer"`
	// Until is the contract's end; grants run to Until plus the grace.
	Until time.Time `json:"until"`
	// Products are granted with NotBefore as given (zero: the time of the
	// grant); their NotAfter is ignored.
	Products []license.Product `json:"products"`
	Created  time.Time         `json:"created"`
	Revoked  *time.Time        `json:"revoked,omitempty"`
}

// ErrNotFound is returned by Revoke for a machine code with no approval.
var ErrNotFound = errors.New("whitelist: no approval for this machine code")

// Approvals is what Grant reads: the Store, or a fake in tests.
type Approvals interface {
	Get(code string) (Approval, bool, error)
}

const schema = `
CREATE TABLE IF NOT EXISTS approvals (
	machine_code TEXT PRIMARY KEY,
	customer     TEXT NOT NULL,
	until        TEXT NOT NULL,
	products     TEXT NOT NULL,
	created      TEXT NOT NULL,
	revoked      TEXT
) WITHOUT ROWID;
`

// Store is the approvals, in SQLite.
type Store struct {
	db   *sql.DB
	path string
}

// Open opens the store at path, creating it (and its directory) if absent.
// Failures are codes.StoreUnavailable.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, codes.Errorf(codes.StoreUnavailable, "cannot create the data directory: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, codes.Errorf(codes.StoreUnavailable, "open %s: %w", path, err)
	}
	// One connection: the service only reads, and the CLI that writes
	// beside it is another process that busy_timeout waits for.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, codes.Errorf(codes.StoreUnavailable, "open %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Approve records a, replacing any approval of the same machine code (a
// renewal) and clearing its revocation. Failures are codes.InvalidArgument
// for a bad approval and codes.StoreUnavailable.
func (s *Store) Approve(a Approval) error {
	if err := a.validate(); err != nil {
		return err
	}
	products, err := json.Marshal(a.Products)
	if err != nil {
		return codes.Errorf(codes.InvalidArgument, "products: %w", err)
	}
	_, err = s.db.Exec(`INSERT INTO approvals (machine_code, customer, until, products, created, revoked) VALUES (?, ?, ?, ?, ?, NULL)
		ON CONFLICT (machine_code) DO UPDATE SET customer = excluded.customer, until = excluded.until,
			products = excluded.products, created = excluded.created, revoked = NULL`,
		a.MachineCode, a.Customer, formatTime(a.Until), string(products), formatTime(a.Created))
	if err != nil {
		return s.fail("approve", err)
	}
	return nil
}

// Revoke marks the approval of code revoked at at; revoking it again keeps
// the first time. ErrNotFound when code has no approval.
func (s *Store) Revoke(code string, at time.Time) error {
	if _, err := s.db.Exec(`UPDATE approvals SET revoked = ? WHERE machine_code = ? AND revoked IS NULL`, formatTime(at), code); err != nil {
		return s.fail("revoke", err)
	}
	switch _, ok, err := s.Get(code); {
	case err != nil:
		return err
	case !ok:
		return ErrNotFound
	}
	return nil
}

// Get returns the approval of code; ok is false when there is none.
func (s *Store) Get(code string) (a Approval, ok bool, err error) {
	rows, err := s.db.Query(`SELECT machine_code, customer, until, products, created, revoked FROM approvals WHERE machine_code = ?`, code)
	if err != nil {
		return Approval{}, false, s.fail("read", err)
	}
	all, err := s.scan(rows)
	if err != nil || len(all) == 0 {
		return Approval{}, false, err
	}
	return all[0], true, nil
}

// List returns every approval, ordered by customer and machine code.
func (s *Store) List() ([]Approval, error) {
	rows, err := s.db.Query(`SELECT machine_code, customer, until, products, created, revoked FROM approvals ORDER BY customer, machine_code`)
	if err != nil {
		return nil, s.fail("read", err)
	}
	return s.scan(rows)
}

func (s *Store) scan(rows *sql.Rows) ([]Approval, error) {
	defer rows.Close()
	var out []Approval
	for rows.Next() {
		var a Approval
		var until, products, created string
		var revoked sql.NullString
		if err := rows.Scan(&a.MachineCode, &a.Customer, &until, &products, &created, &revoked); err != nil {
			return nil, s.fail("read", err)
		}
		var err error
		if a.Until, err = time.Parse(time.RFC3339Nano, until); err != nil {
			return nil, s.fail("read until", err)
		}
		if a.Created, err = time.Parse(time.RFC3339Nano, created); err != nil {
			return nil, s.fail("read created", err)
		}
		if revoked.Valid {
			t, err := time.Parse(time.RFC3339Nano, revoked.String)
			if err != nil {
				return nil, s.fail("read revoked", err)
			}
			a.Revoked = &t
		}
		if err := json.Unmarshal([]byte(products), &a.Products); err != nil {
			return nil, s.fail("read products", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("read", err)
	}
	return out, nil
}

func (s *Store) fail(what string, err error) error {
	return codes.Errorf(codes.StoreUnavailable, "whitelist store %s: %s: %w", s.path, what, err)
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// validate checks what a grant will need, so that a bad approval is
// refused when it is made rather than when a site asks.
func (a Approval) validate() error {
	bad := func(format string, args ...any) error {
		return codes.Errorf(codes.InvalidArgument, format, args...)
	}
	switch {
	case !fingerprint.ValidCode(a.MachineCode):
		return bad("machine code %q is not a machine code: it is the 32 hex digits on the first line of 'licensor fingerprint'", a.MachineCode)
	case a.Customer == "":
		return bad("the customer is empty")
	case a.Until.IsZero():
		return bad("the contract end is missing")
	case a.Created.IsZero():
		return bad("the approval time is missing")
	case len(a.Products) == 0 || len(a.Products) > license.MaxProducts:
		return bad("%d products; an approval has 1 to %d", len(a.Products), license.MaxProducts)
	}
	if err := license.ValidText(a.Customer); err != nil {
		return bad("customer: %v", err)
	}
	seen := map[string]bool{}
	for _, p := range a.Products {
		if seen[p.Subject] {
			return bad("product %q is listed twice", p.Subject)
		}
		seen[p.Subject] = true
		if p.NotBefore.IsZero() {
			p.NotBefore = a.Created
		}
		if !a.Until.After(p.NotBefore) {
			return bad("product %q starts at %s, not before the contract end %s", p.Subject, license.FormatTime(p.NotBefore), license.FormatTime(a.Until))
		}
		p.NotAfter = a.Until
		if err := p.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// String is how the CLI names an approval's state.
func (a Approval) String() string {
	if a.Revoked != nil {
		return fmt.Sprintf("%s (%s) revoked %s UTC", a.MachineCode, a.Customer, license.FormatTime(*a.Revoked))
	}
	return fmt.Sprintf("%s (%s) until %s UTC", a.MachineCode, a.Customer, license.FormatTime(a.Until))
}
