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
// dead and no longer counts, whether or not Expire has removed it yet.
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

// Lease is one instance's seat in a product's pool.
type Lease struct {
	Product    string    `json:"product"`
	InstanceID string    `json:"instance_id"`
	Holder     string    `json:"holder"` // who asked: the client certificate's subject
	Since      time.Time `json:"since"`  // first granted
	Renewed    time.Time `json:"renewed"`
	Expires    time.Time `json:"expires"`
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
	Holder     string
	Limit      int // the product's instanceSize
	TTL        time.Duration
	Now        time.Time
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
	// Acquire grants req.InstanceID a seat in req.Product's pool, or resumes
	// the live seat it holds (Resumed) and extends it by req.TTL. A full
	// pool is a *FullError. A new seat and its "grant" audit event are
	// durable when Acquire returns; a resumed seat is extended as Renew
	// extends it.
	Acquire(ctx context.Context, req AcquireRequest) (Grant, error)
	// Renew extends a live lease by ttl; ErrNoLease if there is none. The
	// new expiry is committed with the next change that is waited for, or
	// within milliseconds: a crash may forget the last renewals (a lease
	// then lapses up to one heartbeat early), never a seat.
	Renew(ctx context.Context, product, instanceID string, ttl time.Duration, now time.Time) (Grant, error)
	// Release frees a lease and records why: "release" (by the instance)
	// or "revoke" (by an operator). ErrNoLease if there is no live lease.
	// A revocation is durable when Release returns; a release is committed
	// as renewals are (a crash may bring the seat back until it lapses,
	// which can refuse a seat for one lease TTL, never grant one twice).
	Release(ctx context.Context, product, instanceID, reason, actor string, now time.Time) (Lease, error)
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
	// Audit calls fn for each audit event with Seq > after, in order.
	Audit(ctx context.Context, after int64, fn func(Event) error) error

	Close() error
}

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
