package postgres

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/licensor/licensor/store"
)

// A batch's usual transaction takes two round trips to the database: one
// to lock and read the seats it is about, one to write what it decided
// from them, with COMMIT. Most batches need nothing read first: their
// grants are of ids no seat holds and their releases are of seats their
// holders have, live. Such a batch is written in one round trip, on the
// guess that it is of that kind, with statements that fail the
// transaction when the guess is wrong: a grant's insert meets the seat
// there (a unique violation), a release deletes fewer seats than it names
// (1/0), a grant passes the node's reserve (1/0, see reserve.go). A failed guess commits
// nothing, and the batch is decided the usual way.
//
// The guess comes from what this node's writer has seen: the seats it
// committed and has not seen end (known). A grant is guessed fresh when
// its id is not known, a release is guessed good when its seat is. The
// guess costs one wasted round trip when wrong (a seat taken on another
// node, a restart), and is never what makes an answer right: the
// database checks it.
//
// The locks are taken in the usual order (the seats' advisory locks, the
// seats' rows, the node's reserve rows last), so a speculative batch and a usual
// one never deadlock.

// maxKnown bounds the seats the writer remembers; past it, it forgets
// them all (which costs only guesses).
const maxKnown = 1 << 17

// speculative reports whether batch is of the kind that needs nothing
// read first, as far as the writer knows.
func (s *Store) speculative(batch []*op) bool {
	seen := make(map[key]bool, len(batch))
	seats := 0
	for _, o := range batch {
		var k key
		switch o.kind {
		case opAcquire:
			k = key{o.acq.Product, o.acq.InstanceID}
			if o.acq.Kind != store.SeatInstance || s.known[k] {
				return false
			}
		case opRelease:
			k = key{o.rel.Product, o.rel.InstanceID}
			if o.rel.Reason != store.KindRelease || !s.known[k] {
				return false
			}
		case opRecord:
			continue
		default:
			return false
		}
		if seen[k] || !s.products[k.product] {
			return false
		}
		seen[k] = true
		seats++
	}
	return seats > 0
}

// remember updates what the writer knows of seats from a committed batch.
func (s *Store) remember(writes map[key]*store.Lease, reaped []store.Lease) {
	if len(s.known) > maxKnown {
		clear(s.known)
	}
	for k, l := range writes {
		if l == nil {
			delete(s.known, k)
		} else {
			s.known[k] = true
		}
	}
	for _, l := range reaped {
		delete(s.known, key{l.Product, l.InstanceID})
	}
}

// lockByKey takes the seats' advisory locks in the order given ($1), and
// has the rest of the batch's transaction find seats by their keys and
// plan its statements once per connection. Left to itself, the planner
// scans the leases' table and hashes it whenever its statistics say the
// table is small, as they do of a new database's, or of a pool of few
// seats that churn (a benchmark's, or a site's of a few products): every
// grant and release leaves a dead row, which such a scan reads until
// autovacuum comes by, up to a minute later. Measured with 16 clients
// over two nodes, a release's statement grew from 30µs to over 1ms within
// ten seconds, and a batch's transaction from 1.1ms to 2.0ms; planned for
// the keys, it stays at 50µs, and a generic plan spares the 70µs of
// planning it anew. Both kinds of batch, guessed and decided under
// locks, begin with it.
const lockByKey = `SELECT set_config('enable_seqscan', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true),
	(SELECT count(pg_advisory_xact_lock(x)) FROM (SELECT x FROM unnest($1::bigint[]) WITH ORDINALITY AS t(x, o) ORDER BY o) AS s)`

// errGuess: a speculative batch's guess was wrong; nothing was committed.
var errGuess = errors.New("the batch is not of the kind that needs nothing read")

// trySpeculative runs batch in one round trip on the guess that
// speculative describes. It answers errGuess, having committed nothing,
// when the database refuses the guess; decided is as for try.
func (s *Store) trySpeculative(batch []*op) (decided bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	conn, err := s.begin(ctx, batch)
	if err != nil {
		return false, err
	}
	defer conn.Release()

	var latest time.Time
	var ps, is []string                  // the seats, for their locks
	var rp, ri, rh []string              // the releases: product, id, holder
	var rn []time.Time                   // and when
	var fresh []*store.Lease             // the grants
	var events []store.Event             // in batch order
	delta := map[string]int{}            // each product's change
	peak := map[string]int{}             // its highest change after a grant
	limit := map[string]int{}            // the least limit a grant asked for
	writes := make(map[key]*store.Lease) // for remember
	for _, o := range batch {
		if t := o.time(); t.After(latest) {
			latest = t
		}
		switch o.kind {
		case opAcquire:
			req := o.acq
			ps, is = append(ps, req.Product), append(is, req.InstanceID)
			l := &store.Lease{Product: req.Product, InstanceID: req.InstanceID, Kind: store.SeatInstance, Holder: req.Holder,
				Since: req.Now, Renewed: req.Now, Expires: req.Now.Add(req.TTL), Node: s.node}
			fresh = append(fresh, l)
			writes[key{req.Product, req.InstanceID}] = l
			delta[req.Product]++
			if d, ok := peak[req.Product]; !ok || delta[req.Product] > d {
				peak[req.Product] = delta[req.Product]
			}
			if l, ok := limit[req.Product]; !ok || req.Limit < l {
				limit[req.Product] = req.Limit
			}
			o.grant = store.Grant{Lease: *l, Held: delta[req.Product]} // Held: the change so far, made a count below
			events = append(events, store.Event{Time: req.Now, Kind: store.KindGrant, Product: req.Product, InstanceID: req.InstanceID, Actor: req.Holder})
		case opRelease:
			req := o.rel
			ps, is = append(ps, req.Product), append(is, req.InstanceID)
			rp, ri, rh, rn = append(rp, req.Product), append(ri, req.InstanceID), append(rh, req.Actor), append(rn, req.Now)
			writes[key{req.Product, req.InstanceID}] = nil
			delta[req.Product]--
			events = append(events, store.Event{Time: req.Now, Kind: req.Reason, Product: req.Product, InstanceID: req.InstanceID, Actor: req.Actor, Detail: req.EventDetail("")})
		case opRecord:
			events = append(events, o.events...)
		}
	}

	// One pipeline with one Sync: the database runs it as one implicit
	// transaction, committed (and flushed) at the Sync, rolled back
	// whole at the first statement that fails. BEGIN and COMMIT would be
	// two statements more, and a failed guess would leave the connection
	// in an aborted transaction, which the pool closes.
	b := &pgx.Batch{}
	b.Queue(lockByKey, seatLocks(ps, is))
	released := map[key]store.Lease{}
	if len(rp) > 0 {
		// Each release's seat, live and its holder's instance seat, or
		// the transaction fails: the count is an aggregate, so it has a
		// row (and divides by zero) even when nothing was deleted.
		// Each seat is found by its key and deleted where it was found
		// (see lockByKey); a seat changed since is not deleted, and the
		// guess fails.
		b.Queue(`WITH d AS (DELETE FROM licensor_leases l WHERE l.ctid = ANY (ARRAY(
					SELECT (SELECT x.ctid FROM licensor_leases x WHERE x.product = t.p AND x.instance_id = t.i
						AND x.holder = t.h AND x.kind = 'instance' AND x.expires >= t.n)
					FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS t(p, i, h, n)))
				RETURNING `+prefixed("l.", leaseCols)+`),
			c AS (SELECT 1 / (CASE WHEN count(*) = $5 THEN 1 ELSE 0 END) AS ok FROM d)
			SELECT d.*, c.ok FROM c LEFT JOIN d ON true`, rp, ri, rh, rn, len(rp)).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var l store.Lease
				var ok int
				if err := scanLeaseAnd(rows, &l, &ok); err != nil {
					return err
				}
				released[key{l.Product, l.InstanceID}] = l
			}
			return rows.Err()
		})
	}
	queueLeases(b, fresh, "", s.node)
	head := queueEvents(b, events, s.head, s.node)
	s.observe(latest)
	products := make([]string, 0, len(delta))
	for p := range delta {
		products = append(products, p)
	}
	sort.Strings(products)
	takes := make([]take, len(products))
	for i, p := range products {
		l, granted := limit[p]
		takes[i] = take{product: p, delta: delta[p], granted: granted, peak: peak[p], limit: l}
	}
	after := map[string]int{}
	queueTake(b, s.node, takes, after)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			if pe.Code == "22012" || pe.Code == "23505" {
				return false, errGuess
			}
			return false, err
		}
		return true, err
	}
	for _, o := range batch {
		switch o.kind {
		case opAcquire:
			// The count after the batch is read from the statement's
			// snapshot: other nodes' rows as they were when it began, so
			// it may be off by what they changed since (by more than the
			// limit allows, where a resize moved their reserve to this
			// node meanwhile). Held is that estimate, within the limit.
			p := o.acq.Product
			o.grant.Held = min(max(o.grant.Held+after[p]-delta[p], 1), o.acq.Limit)
		case opRelease:
			o.lease = released[key{o.rel.Product, o.rel.InstanceID}]
		}
		close(o.decided)
	}
	s.head, s.headKnown = head, true
	s.remember(writes, nil)
	for p, n := range after {
		s.learnCount(p, n, latest)
	}
	for _, o := range batch {
		close(o.done)
	}
	return true, nil
}
