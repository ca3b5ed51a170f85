// Package store is the site server's durable state: the instance pool's
// leases, the time high-water mark and the hash-chained audit log.
//
// Store is the interface every backend implements (store/sqlite, the
// embedded default; a PostgreSQL backend for several servers sharing one
// pool follows the same contract). store/storetest is the conformance suite
// each backend must pass.
//
// The pool's rules live in the contract, not in the callers: Acquire
// grants a seat or resumes the one the instance already holds, and refuses
// past the limit with a *FullError; a lease not renewed by its expiry is
// dead and no longer counts, whether or not Expire has removed it yet. A
// seat has a kind (an instance's or a key-file host's) and a holder (the
// identity that took it), and the store enforces both: only the holder
// renews or releases an instance seat, only the key-file path makes or
// extends a key-file seat, and nothing frees a key-file seat before it
// expires. Every change an answer reports is durable before the answer.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limits on identifiers, checked by callers at the edge and again here.
const (
	MaxProductLen  = 64
	MaxInstanceLen = 128
	MaxHolderLen   = 256
)

// SeatKind is what a seat is held by.
type SeatKind string

// The seat kinds. An instance's seat is renewed by heartbeats and freed
// by a release, a revoke or its lapse. A key-file host's seat is held for
// as long as the key file it was given is valid: the key file works
// offline and cannot be recalled, so nothing shortens the seat; it is
// made and extended only by the key-file path, and a revoke stops its
// renewals while it stays counted until it expires.
const (
	SeatInstance SeatKind = "instance"
	SeatKeyFile  SeatKind = "keyfile"
)

// Lease is one seat in a product's pool.
type Lease struct {
	Product    string    `json:"product"`
	InstanceID string    `json:"instance_id"`
	Kind       SeatKind  `json:"kind"`
	Holder     string    `json:"holder"` // who took it: the client certificate's subject name
	Since      time.Time `json:"since"`  // first granted
	Renewed    time.Time `json:"renewed"`
	Expires    time.Time `json:"expires"`
	// Revoked is when an operator (RevokedBy) revoked a key-file seat:
	// still counted until Expires, never renewed. Instance seats are freed
	// by a revoke and never carry it.
	Revoked   time.Time `json:"revoked,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
	// Node is the server that last granted or renewed the seat, in a
	// store several servers share; "" in a single server's.
	Node string `json:"node,omitempty"`
}

// Live reports whether the lease still holds its seat at now.
func (l Lease) Live(now time.Time) bool { return !now.After(l.Expires) }

// Grant is a seat granted, resumed or renewed.
type Grant struct {
	Lease
	Resumed bool // the instance already held this seat
	Held    int  // seats of the product held, this one included
}

// AcquireRequest asks for a seat.
type AcquireRequest struct {
	Product    string
	InstanceID string
	Kind       SeatKind // SeatInstance when empty
	Holder     string
	Limit      int // the product's instanceSize
	TTL        time.Duration
	Now        time.Time
	// Decided, when set, is called in the caller's goroutine with the
	// grant once it is decided, so that the caller can prepare its answer
	// (sign a verdict) while the grant is committed; a backend whose
	// commit goes with the decision (store/postgres) calls it after. It
	// is called at most once. Nothing it prepares may be shown unless
	// Acquire returns without an error.
	Decided func(Grant)
}

// RenewRequest extends an instance's seat.
type RenewRequest struct {
	Product    string
	InstanceID string
	Holder     string // must be the lease's holder
	TTL        time.Duration
	Now        time.Time
}

// ReleaseRequest ends a seat.
type ReleaseRequest struct {
	Product    string
	InstanceID string
	// Reason is KindRelease (the holder gives its seat back) or
	// KindRevoke (an operator ends it, whoever holds it).
	Reason string
	Actor  string // who asks: for a release, the lease's holder
	Now    time.Time
	// Note is an operator's reason for a revoke, kept in its audit
	// event's detail.
	Note string
}

// EventDetail is the detail of the release's audit event: what the store
// says of it ("" for none), and the note.
func (r ReleaseRequest) EventDetail(what string) string {
	switch {
	case r.Note == "":
		return what
	case what == "":
		return r.Note
	}
	return what + "; " + r.Note
}

// FullError is Acquire's answer when the pool is full.
type FullError struct {
	Product       string
	Held, Limit   int
	OldestExpires time.Time // when the first seat lapses unless renewed
}

func (e *FullError) Error() string {
	return fmt.Sprintf("pool %q is full: %d of %d seats held; the first lapses at %s unless renewed",
		e.Product, e.Held, e.Limit, e.OldestExpires.UTC().Format(time.RFC3339))
}

// OwnerError is the answer to a request about a seat another identity
// holds, or a seat of the other kind: the seat is left as it was.
type OwnerError struct {
	Lease          // the seat as it is
	Asker string   // who asked
	Kind  SeatKind // the kind of seat the request is about
}

func (e *OwnerError) Error() string {
	if e.Kind != e.Lease.Kind {
		return fmt.Sprintf("%s of %q is a %s seat; a request for a %s seat cannot change it", e.InstanceID, e.Product, e.Lease.Kind, e.Kind)
	}
	return fmt.Sprintf("%s of %q is held by %q, not %q", e.InstanceID, e.Product, e.Holder, e.Asker)
}

// RevokedError is Acquire's answer to a key-file host whose seat an
// operator revoked: the seat stays counted until it expires, unrenewed.
type RevokedError struct{ Lease }

func (e *RevokedError) Error() string {
	return fmt.Sprintf("the key-file seat %s of %q was revoked at %s by %q; it stays counted until %s",
		e.InstanceID, e.Product, e.Revoked.UTC().Format(time.RFC3339), e.RevokedBy, e.Expires.UTC().Format(time.RFC3339))
}

// VersionError is a backend's answer when its data was written by a later
// licensor, in a layout this one does not know.
type VersionError struct{ Have, Know int }

func (e *VersionError) Error() string {
	return fmt.Sprintf("the store's schema is version %d, written by a later licensor; this one knows up to version %d", e.Have, e.Know)
}

// Errors.
var (
	// ErrNoLease: the instance holds no live lease (never had one, released,
	// revoked or lapsed).
	ErrNoLease = errors.New("no live lease")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
)

// Store is the durable state of one site (or of several servers sharing a
// pool). Every method is safe for concurrent use. Times come from the
// caller's clock.
type Store interface {
	// Acquire grants req.InstanceID a seat of req.Kind in req.Product's
	// pool, or extends the live seat it holds (Resumed). A full pool is a
	// *FullError; a seat held by another holder or of the other kind is an
	// *OwnerError; a revoked key-file seat is a *RevokedError. An instance
	// seat is extended by req.TTL as Renew extends it; a key-file seat's
	// expiry only moves later. A new seat, a key-file seat's extension and
	// their audit events are durable when Acquire returns.
	Acquire(ctx context.Context, req AcquireRequest) (Grant, error)
	// Renew extends a live instance seat by req.TTL: ErrNoLease if there
	// is none, an *OwnerError if another holder has it or it is a key-file
	// seat. The new expiry is committed with the next change that is waited
	// for, or within milliseconds: a crash may forget the last renewals (a
	// lease then lapses up to one heartbeat early), never a seat.
	Renew(ctx context.Context, req RenewRequest) (Grant, error)
	// Release ends a seat and records why. A release frees the holder's
	// own instance seat (an *OwnerError for another holder's or a key-file
	// seat). A revoke frees an instance seat whoever holds it, and marks a
	// key-file seat revoked: it stays counted until it expires, and Acquire
	// refuses to extend it (the returned Lease says which happened).
	// ErrNoLease if there is no live seat. Both are durable, with their
	// audit events, when Release returns.
	Release(ctx context.Context, req ReleaseRequest) (Lease, error)
	// Expire removes the leases that lapsed before now and records an
	// "expire" event for each; it returns them, and those that other calls
	// found lapsed and removed since the last Expire. Its cost grows with
	// what expires, not with the pool.
	Expire(ctx context.Context, now time.Time) ([]Lease, error)
	// Leases lists the live leases of product ("" for every product),
	// ordered by product then Since.
	Leases(ctx context.Context, product string, now time.Time) ([]Lease, error)
	// Held counts the live leases per product.
	Held(ctx context.Context, now time.Time) (map[string]int, error)

	// HighWater is the latest time the store has seen.
	HighWater(ctx context.Context) (time.Time, error)
	// ObserveTime raises the high-water mark to t if t is later.
	ObserveTime(ctx context.Context, t time.Time) error

	// Record appends decisions that change no lease (a denial, a reload).
	Record(ctx context.Context, events ...Event) error
	// Audit calls fn for each audit event with Seq > after, in order. A
	// store shared by several nodes holds one chain per node (Event.Node)
	// and gives them one after the other, ordered by node.
	Audit(ctx context.Context, after int64, fn func(Event) error) error

	Close() error
}

// NodeInfo is one server of several sharing a store, as it last
// announced itself.
type NodeInfo struct {
	Name      string    `json:"name"`
	Address   string    `json:"address"`
	Version   string    `json:"version"`
	LicenseID string    `json:"license_id"`
	KeyID     string    `json:"server_key_id"`
	Started   time.Time `json:"started,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"` // by the database's clock
	Seats     int       `json:"seats"`              // live seats it last granted or renewed
}

// Cluster is what a store several servers share adds: each node announces
// itself, and any node lists them all.
type Cluster interface {
	Node() string
	Announce(ctx context.Context, n NodeInfo) error
	Nodes(ctx context.Context, now time.Time) ([]NodeInfo, error)
	// ReportUsage records this node's rate of calls per product; Usage
	// sums the rates of the nodes that reported within fresh.
	ReportUsage(ctx context.Context, rates map[string]float64) error
	Usage(ctx context.Context, fresh time.Duration) (map[string]float64, error)
}

// LicenseInForce is the license a cluster serves under: the file's bytes,
// as a node read them.
type LicenseInForce struct {
	ID     string
	Issued time.Time
	Data   []byte
	SetBy  string // the node that put it in force
}

// ClusterLicense is what a store several servers share keeps so that they
// serve under one license: each node offers the license it was started or
// reloaded with, the latest issued wins, and every node follows it.
type ClusterLicense interface {
	// OfferLicense puts l in force unless a license issued later (or as
	// late, with a greater id) is; it returns the license in force.
	OfferLicense(ctx context.Context, l LicenseInForce) (LicenseInForce, error)
	// License returns the license in force (a zero ID if none is yet).
	License(ctx context.Context) (LicenseInForce, error)
}

// CheckOwner reports whether a request for a seat of kind by holder may
// change the seat l: an *OwnerError if l is of the other kind, or another
// holder's instance seat (a key-file seat is bound to its machine code,
// whoever renews it).
func CheckOwner(l Lease, kind SeatKind, holder string) error {
	if l.Kind != kind || (kind == SeatInstance && l.Holder != holder) {
		return &OwnerError{Lease: l, Asker: holder, Kind: kind}
	}
	return nil
}

// KeyFileSeatPrefix begins the id of every key-file host's seat: the
// prefix and the host's machine code. Instance ids may not begin with it.
const KeyFileSeatPrefix = "keyfile:"

// KeyFileSeat is the id of the seat a key-file host holds by machine code.
func KeyFileSeat(machine string) string { return KeyFileSeatPrefix + machine }

// ValidID reports whether s may be an instance id or product name of at
// most max bytes: printable ASCII without spaces, quotes or backslashes.
func ValidID(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
