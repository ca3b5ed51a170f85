package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensor/licensor/internal/cohort"
	"github.com/licensor/licensor/store"
)

type opKind int

const (
	opAcquire opKind = iota
	opRelease
	opRecord
	opExpire
)

// op is one request to the writer.
type op struct {
	kind   opKind
	acq    store.AcquireRequest
	rel    store.ReleaseRequest
	events []store.Event
	now    time.Time

	grant   store.Grant
	lease   store.Lease
	expired []store.Lease
	err     error
	decided chan struct{} // the answer is decided; closed before the commit
	done    chan struct{} // the answer is final
}

func (o *op) time() time.Time {
	switch o.kind {
	case opAcquire:
		return o.acq.Now
	case opRelease:
		return o.rel.Now
	}
	return o.now
}

func (o *op) product() string {
	switch o.kind {
	case opAcquire:
		return o.acq.Product
	case opRelease:
		return o.rel.Product
	}
	return ""
}

// enqueue sends o to the writer, unless the store is closed: Close waits
// for the sends in flight (the gate), so that nothing is queued after the
// writer and renewers have drained their queues and stopped.
func (s *Store) enqueue(ctx context.Context, o *op) error {
	s.gate.RLock()
	defer s.gate.RUnlock()
	if err := s.open(); err != nil {
		return err
	}
	select {
	case s.queue <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// submit hands o to the writer and waits for its answer. Once handed over,
// o runs to the end whatever ctx does: its change may be committed.
func (s *Store) submit(ctx context.Context, o *op, decided func()) error {
	o.decided, o.done = make(chan struct{}), make(chan struct{})
	if err := s.enqueue(ctx, o); err != nil {
		return err
	}
	<-o.decided
	if o.err == nil && decided != nil {
		decided()
	}
	<-o.done
	return o.err
}

// Acquire implements store.Store.
func (s *Store) Acquire(ctx context.Context, req store.AcquireRequest) (store.Grant, error) {
	if req.Kind == "" {
		req.Kind = store.SeatInstance
	}
	req.Now = micro(req.Now)
	o := &op{kind: opAcquire, acq: req}
	var decided func()
	if req.Decided != nil {
		decided = func() { req.Decided(o.grant) }
	}
	if err := s.submit(ctx, o, decided); err != nil {
		return store.Grant{}, err
	}
	return o.grant, nil
}

// Release implements store.Store.
func (s *Store) Release(ctx context.Context, req store.ReleaseRequest) (store.Lease, error) {
	req.Now = micro(req.Now)
	o := &op{kind: opRelease, rel: req}
	if err := s.submit(ctx, o, nil); err != nil {
		return o.lease, err
	}
	return o.lease, nil
}

// Record implements store.Store.
func (s *Store) Record(ctx context.Context, events ...store.Event) error {
	if len(events) == 0 {
		return nil
	}
	return s.submit(ctx, &op{kind: opRecord, events: events}, nil)
}

// Expire implements store.Store. Every node reaps; a lease is removed, and
// its event written, by whichever gets to it first, once.
func (s *Store) Expire(ctx context.Context, now time.Time) ([]store.Lease, error) {
	o := &op{kind: opExpire, now: micro(now)}
	if err := s.submit(ctx, o, nil); err != nil {
		return nil, err
	}
	return o.expired, nil
}

// groupWindow is how long a batch of grants and releases gathers at most;
// a batch goes as soon as the askers of the recent batches are back (see
// internal/cohort). Measured with 16 clients over two nodes (paired runs,
// the same PostgreSQL): 4,953–5,045 register+release cycles/s with that
// rule against 3,485–3,499 with the window alone, PostgreSQL's CPU per
// cycle unchanged (the batches stay as large) and the nodes' 17% lower.
var groupWindow = 300 * time.Microsecond

// writer commits the queued requests, a batch per transaction.
func (s *Store) writer() {
	defer s.done.Done()
	var seen cohort.Cohort
	for {
		var first *op
		select {
		case first = <-s.queue:
		case <-s.stop:
			for {
				select {
				case o := <-s.queue:
					s.finish([]*op{o}, store.ErrClosed)
				default:
					return
				}
			}
		}
		if first.kind == opExpire {
			s.run([]*op{first})
			continue
		}
		// A transaction's statements cost the database the same for one
		// request as for many: let the batch gather for up to
		// groupWindow, as the embedded store does, or until the askers
		// of the recent batches are back (see internal/cohort).
		batch, expire, isExpire := cohort.Gather(&seen, s.queue, []*op{first}, groupWindow, maxBatch, func(o *op) bool { return o.kind == opExpire })
		s.run(batch)
		if isExpire {
			s.run([]*op{expire})
		}
	}
}

// finish gives every unanswered op of batch err.
func (s *Store) finish(batch []*op, err error) {
	for _, o := range batch {
		select {
		case <-o.done:
			continue
		default:
		}
		o.err = err
		select {
		case <-o.decided:
		default:
			close(o.decided)
		}
		close(o.done)
	}
}

// run commits batch, again when it lost a race before anything was
// decided, and answers every op in it.
func (s *Store) run(batch []*op) {
	if s.speculative(batch) {
		s.guesses.Add(1)
		decided, err := s.trySpeculative(batch)
		switch {
		case err == nil:
			return
		case errors.Is(err, errGuess):
			s.wrongGuesses.Add(1)
		case decided:
			s.headKnown = false
			s.finish(batch, err)
			return
		}
		// Nothing was committed: decide the usual way.
	}
	var err error
	optimistic := true
	for attempt := 0; attempt < 4; attempt++ {
		var decided bool
		decided, err = s.try(batch, optimistic)
		if err == nil {
			return
		}
		if conflict(err) {
			optimistic = false // decide again under the pool's lock
			continue
		}
		// Before the answers are decided nothing is committed: the batch
		// may run again on another connection.
		if decided || !retryable(err) {
			break
		}
	}
	s.headKnown = false // the commit's outcome may be unknown: read the head again
	s.finish(batch, err)
}

// key names a lease.
type key struct{ product, instance string }

// txState is what one batch decides from: the seats its requests are
// about, as the database has them under the batch's locks.
type txState struct {
	leases  map[key]*store.Lease // nil: no seat
	existed map[key]bool         // the seats read (and locked) from the database
	held    map[string]int
	held0   map[string]int // the counts as read
	peak    map[string]int // the highest held-held0 after a grant
	// every node's reserve rows, read under their locks (pessimistic)
	reserves map[string][]reserveRow
	limit    map[string]int // the least limit a grant of the batch asked for
	oldest   func(product string) time.Time
	writes   map[key]*store.Lease // nil: delete
	order    []key
	events   []store.Event
	reaped   []store.Lease
	changed  map[string]bool // products whose held changed
	node     string
}

func (st *txState) write(k key, l *store.Lease) {
	if l != nil {
		l.Node = st.node
	}
	if _, ok := st.writes[k]; !ok {
		st.order = append(st.order, k)
	}
	st.writes[k] = l
	st.leases[k] = l
}

// get returns k's seat if it is live at now; a lapsed one is removed.
func (st *txState) get(k key, now time.Time) *store.Lease {
	l := st.leases[k]
	if l == nil {
		return nil
	}
	if !l.Live(now) {
		st.lapse(*l, now)
		st.write(k, nil)
		return nil
	}
	return l
}

// lapse counts l, found lapsed at now, out of its pool.
func (st *txState) lapse(l store.Lease, now time.Time) {
	st.held[l.Product]--
	st.changed[l.Product] = true
	st.reaped = append(st.reaped, l)
	st.events = append(st.events, store.Event{Time: now, Kind: store.KindExpire, Product: l.Product, InstanceID: l.InstanceID, Actor: "server",
		Detail: "lease lapsed at " + l.Expires.UTC().Format(time.RFC3339)})
}

// errRefusal: an optimistic batch would refuse a seat, which it may do
// only from a count read under the pool's lock.
var errRefusal = errors.New("a refusal is decided under the pool's lock")

// conflict reports whether an optimistic batch met another node's change:
// its count no longer fits the limit, or a seat it found free was taken.
func conflict(err error) bool {
	var pe *pgconn.PgError
	return errors.Is(err, errRefusal) || (errors.As(err, &pe) && (pe.Code == "22012" || pe.Code == "23505"))
}

// try runs batch as one transaction; decided reports whether answers were
// given out before the commit (after which it must not run again).
//
// Optimistic, it reads the pools' counts without locking them, decides,
// and changes its node's own reserve rows (reserve.go) only with the last
// statement before COMMIT, which fails the transaction when a grant
// passes the node's reserve: no other node's batch waits for it. A batch
// that would refuse a seat, or that needs more than its reserve, or met
// another node's change, runs again pessimistically: the pools' rows and
// every node's reserve rows locked first, the counts read under the
// locks, and the reserves of the products it granted resized.
func (s *Store) try(batch []*op, optimistic bool) (decided bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	// One connection, two round trips: BEGIN with the locks and reads,
	// then the writes with COMMIT.
	conn, err := s.begin(ctx, batch)
	if err != nil {
		return false, err
	}
	defer conn.Release()

	st := &txState{leases: map[key]*store.Lease{}, held: map[string]int{}, held0: map[string]int{}, limit: map[string]int{}, existed: map[key]bool{},
		writes: map[key]*store.Lease{}, changed: map[string]bool{}, peak: map[string]int{}, node: s.node}
	var products []string
	var expire *op
	var latest time.Time
	minNow := time.Time{}
	for _, o := range batch {
		if o.kind == opExpire {
			expire = o
		}
		if t := o.time(); !t.IsZero() {
			if minNow.IsZero() || t.Before(minNow) {
				minNow = t
			}
			if t.After(latest) {
				latest = t
			}
		}
	}
	if expire != nil {
		// The products with lapsed seats: found without locks, then
		// locked and reaped below.
		rows, err := conn.Query(ctx, `SELECT product FROM licensor_pools p
			WHERE EXISTS (SELECT 1 FROM licensor_leases l WHERE l.product = p.product AND l.due < $1)`, expire.now)
		if err != nil {
			return false, err
		}
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return false, err
			}
			products = append(products, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return false, err
		}
	} else {
		seen := map[string]bool{}
		for _, o := range batch {
			if p := o.product(); p != "" && !seen[p] {
				seen[p] = true
				products = append(products, p)
			}
		}
	}
	sort.Strings(products)

	b1 := &pgx.Batch{}
	if len(products) > 0 {
		var ps, is []string
		for _, o := range batch {
			switch o.kind {
			case opAcquire:
				ps, is = append(ps, o.acq.Product), append(is, o.acq.InstanceID)
			case opRelease:
				ps, is = append(ps, o.rel.Product), append(is, o.rel.InstanceID)
			}
		}
		b := b1
		var unknown []string
		for _, p := range products {
			if !s.products[p] {
				unknown = append(unknown, p)
			}
		}
		if len(unknown) > 0 {
			// Made outside the transaction, so that no pool row is locked
			// before the seats are (see the lock order below).
			if _, err := conn.Exec(ctx, `WITH p AS (INSERT INTO licensor_pools (product) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING)
				INSERT INTO licensor_reserves (product, node) SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING`, unknown, s.node); err != nil {
				return false, err
			}
		}
		b.Queue("BEGIN")
		// Locks are taken in one order by every batch of every node: the
		// seats the batch is about (by key: an advisory lock on each, for
		// the ids no row holds yet, and the rows there are), then the
		// lapsed seats it reaps (skipping those another batch is
		// reaping), then the pools' rows (by product) and the reserve
		// rows (by product and node) — pessimistic here; optimistic, the
		// node's own reserve rows in the last statement before COMMIT.
		b.Queue(lockByKey, seatLocks(ps, is))
		b.Queue(`SELECT `+leaseCols+` FROM licensor_leases WHERE (product, instance_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
			ORDER BY product, instance_id FOR UPDATE`, ps, is).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				l, _, err := scanLease(rows)
				if err != nil {
					return err
				}
				k := key{l.Product, l.InstanceID}
				st.leases[k], st.existed[k] = &l, true
			}
			return rows.Err()
		})
		if expire != nil || !optimistic { // what came due: see queueReap
			queueReap(b, st, products, minNow)
		}
		// held already carries the reaped seats taken off it.
		counts := func(rows pgx.Rows) error {
			for rows.Next() {
				var p string
				var n int
				if err := rows.Scan(&p, &n); err != nil {
					return err
				}
				st.held[p] += n
				st.held0[p] += n
			}
			return rows.Err()
		}
		if optimistic {
			b.Queue(`SELECT product, `+poolCount("p.product")+` FROM licensor_pools p WHERE product = ANY($1)`, products).Query(counts)
		} else {
			// The pools' rows, then every node's reserve rows: no node
			// changes the count until the commit.
			b.Queue(`SELECT product, base FROM licensor_pools WHERE product = ANY($1) ORDER BY product FOR UPDATE`, products).Query(counts)
			b.Queue(`SELECT product, node, held, reserved, cap FROM licensor_reserves WHERE product = ANY($1) ORDER BY product, node FOR UPDATE`, products).Query(func(rows pgx.Rows) error {
				st.reserves = map[string][]reserveRow{}
				for rows.Next() {
					var p string
					var r reserveRow
					if err := rows.Scan(&p, &r.node, &r.held, &r.reserved, &r.at); err != nil {
						return err
					}
					st.held[p] += r.held
					st.held0[p] += r.held
					st.reserves[p] = append(st.reserves[p], r)
				}
				return rows.Err()
			})
		}
	}
	if len(products) > 0 { // otherwise BEGIN goes with the writes
		if err := conn.SendBatch(ctx, b1).Close(); err != nil {
			return false, err
		}
	}
	st.oldest = func(product string) time.Time { return oldestExpiry(ctx, conn, product) }

	for _, o := range batch {
		switch o.kind {
		case opAcquire:
			s.decideAcquire(st, o)
			var full *store.FullError
			if optimistic && errors.As(o.err, &full) {
				return false, errRefusal
			}
			if l, ok := st.limit[o.acq.Product]; !ok || o.acq.Limit < l {
				st.limit[o.acq.Product] = o.acq.Limit
			}
		case opRelease:
			s.decideRelease(st, o)
		case opRecord:
			st.events = append(st.events, o.events...)
		}
	}

	// The writes, one statement each, pipelined with COMMIT: the deletes,
	// the upserts, the audit events and the counts. (Made the parts of
	// one WITH statement they cost the database more, not less: each
	// combination of parts is a statement of its own to plan.)
	b := &pgx.Batch{}
	if len(products) == 0 {
		b.Queue("BEGIN")
	}
	var up, fresh []*store.Lease
	var delKeys []key
	for _, k := range st.order {
		switch l := st.writes[k]; {
		case l == nil && !st.existed[k]:
			// Made and ended within the batch (granted, then released):
			// there is no row of ours to delete, and a row there now is
			// another node's.
		case l == nil:
			delKeys = append(delKeys, k)
		case st.existed[k]:
			up = append(up, l)
		default:
			fresh = append(fresh, l)
		}
	}
	if len(delKeys) > 0 {
		ps, is := make([]string, len(delKeys)), make([]string, len(delKeys))
		for i, k := range delKeys {
			ps[i], is[i] = k.product, k.instance
		}
		b.Queue(`DELETE FROM licensor_leases WHERE (product, instance_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, ps, is)
	}
	// Seats that existed are locked: written over. New ones are inserted,
	// and fail the transaction if another node took the id meanwhile.
	queueLeases(b, up, `ON CONFLICT (product, instance_id) DO UPDATE SET kind = EXCLUDED.kind, holder = EXCLUDED.holder, since = EXCLUDED.since,
		renewed = EXCLUDED.renewed, expires = EXCLUDED.expires, due = EXCLUDED.due, revoked = EXCLUDED.revoked, revoked_by = EXCLUDED.revoked_by, node = EXCLUDED.node`, s.node)
	queueLeases(b, fresh, "", s.node)
	head := queueEvents(b, st.events, s.head, s.node)
	s.observe(latest) // written with the next ObserveTime, and at Close
	// The counts, in the last statement before COMMIT, so that the
	// reserve rows' locks are held only for the commit: optimistic, the
	// node's own change, failing the transaction (1/0) past its reserve;
	// pessimistic, with every node's row locked, the products it granted
	// seats of resized from their exact counts.
	if len(st.changed) > 0 {
		var ps []string
		for p := range st.changed {
			ps = append(ps, p)
		}
		sort.Strings(ps)
		if optimistic {
			takes := make([]take, len(ps))
			for i, p := range ps {
				l, granted := st.limit[p]
				takes[i] = take{product: p, delta: st.held[p] - st.held0[p], granted: granted, peak: st.peak[p], limit: l}
			}
			queueTake(b, s.node, takes, map[string]int{})
		} else {
			var prods []string
			var rows []reserveRow
			var deltas []int
			for _, p := range ps {
				d := st.held[p] - st.held0[p]
				rs, mine := st.reserves[p], -1
				for i := range rs {
					if rs[i].node == s.node {
						mine = i
					}
				}
				if mine < 0 {
					rs, mine = append(rs, reserveRow{node: s.node, reserved: noReserve}), len(rs)
				}
				rs[mine].held += d
				if l, granted := st.limit[p]; granted {
					resize(rs, s.node, st.held[p], l)
				} else {
					rs = rs[mine : mine+1] // the others are as they were
				}
				for _, r := range rs {
					prods, rows = append(prods, p), append(rows, r)
					if r.node == s.node {
						deltas = append(deltas, d)
					} else {
						deltas = append(deltas, 0)
					}
				}
			}
			queueReserves(b, prods, rows, deltas)
		}
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		// A statement the database refused was not committed; a
		// connection lost on the way may have committed or not.
		var pe *pgconn.PgError
		return !errors.As(err, &pe), err
	}
	for _, p := range products {
		s.products[p] = true
	}
	for _, o := range batch {
		close(o.decided)
	}
	s.head, s.headKnown = head, true
	s.remember(st.writes, st.reaped)
	for p := range st.held0 {
		s.learnCount(p, st.held[p], latest)
	}
	s.mu.Lock()
	s.reaped = append(s.reaped, st.reaped...)
	if expire != nil {
		expire.expired, s.reaped = s.reaped, nil
	}
	s.mu.Unlock()
	for _, o := range batch {
		close(o.done)
	}
	return true, nil
}

// begin readies a transaction for batch: the head of the node's audit
// chain known, the answers cleared, a connection. A connection released
// inside a failed transaction is closed by the pool, which rolls it back.
func (s *Store) begin(ctx context.Context, batch []*op) (*pgxpool.Conn, error) {
	if !s.headKnown {
		if err := s.readHead(ctx); err != nil {
			return nil, err
		}
	}
	for _, o := range batch {
		o.err, o.grant, o.lease = nil, store.Grant{}, store.Lease{}
	}
	return s.pool.Acquire(ctx)
}

// queueLeases queues the writing of rows, as new leases of node (onConflict
// empty: a row there fails the transaction) or over the ones there.
func queueLeases(b *pgx.Batch, rows []*store.Lease, onConflict, node string) {
	n := len(rows)
	if n == 0 {
		return
	}
	ps, is, kinds, holders, bys := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	since, renewed, expires, revoked := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n), make([]*time.Time, n)
	for i, l := range rows {
		ps[i], is[i], kinds[i], holders[i], bys[i] = l.Product, l.InstanceID, string(l.Kind), l.Holder, l.RevokedBy
		since[i], renewed[i], expires[i] = l.Since, l.Renewed, l.Expires
		if !l.Revoked.IsZero() {
			r := l.Revoked
			revoked[i] = &r
		}
	}
	b.Queue(`INSERT INTO licensor_leases (product, instance_id, kind, holder, since, renewed, expires, due, revoked, revoked_by, node)
		SELECT p, i, k, h, s, r, e, e, v, b, $10 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::text[]) AS t(p, i, k, h, s, r, e, v, b)
		`+onConflict,
		ps, is, kinds, holders, since, renewed, expires, revoked, bys, node)
}

// queueEvents seals events as node's, in a chain from head, and queues
// their writing; it returns the new head.
func queueEvents(b *pgx.Batch, events []store.Event, head *store.Event, node string) *store.Event {
	n := len(events)
	if n == 0 {
		return head
	}
	nodes, kinds, ps, is, actors, details := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seqs, cs := make([]int64, n), make([]int32, n)
	ats := make([]time.Time, n)
	prevs, hashes := make([][]byte, n), make([][]byte, n)
	for i := range events {
		e := &events[i]
		e.Node = node
		e.Seal(head)
		head = e
		nodes[i], seqs[i], ats[i], kinds[i], ps[i], is[i], actors[i], cs[i], details[i], prevs[i], hashes[i] =
			e.Node, e.Seq, e.Time, e.Kind, e.Product, e.InstanceID, e.Actor, int32(e.Code), e.Detail, e.Prev, e.Hash
	}
	b.Queue(`INSERT INTO licensor_audit (node, seq, at, kind, product, instance_id, actor, code, detail, prev, hash)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[], $10::bytea[], $11::bytea[])`,
		nodes, seqs, ats, kinds, ps, is, actors, cs, details, prevs, hashes)
	return head
}

// queueReap queues the removal of products' leases that lapsed before
// now, skipping those another batch is reaping, and moves the renewed ones
// that came due to their new expiry.
//
// An optimistic batch leaves this to the reaper (every reap interval): the
// count it reads still carries the lapsed seats, so it can only find the
// pool fuller than it is (a grant's Held, and so its QPS share, errs low
// until the reaper runs, as a renewal's does), and a grant that would not
// fit runs again under the lock, reaping first. Skipping it spares a
// statement that was a fifth of an optimistic batch's cost in the
// database.
func queueReap(b *pgx.Batch, st *txState, products []string, now time.Time) {
	b.Queue(`WITH bumped AS (UPDATE licensor_leases SET due = expires WHERE product = ANY($1) AND due < $2 AND expires >= $2)
		DELETE FROM licensor_leases WHERE (product, instance_id) IN (SELECT product, instance_id FROM licensor_leases
			WHERE product = ANY($1) AND due < $2 AND expires < $2 FOR UPDATE SKIP LOCKED) RETURNING `+leaseCols, products, now).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			l, _, err := scanLease(rows)
			if err != nil {
				return err
			}
			k := key{l.Product, l.InstanceID}
			if st.existed[k] { // one of the batch's own: gone before any request sees it
				delete(st.leases, k)
				delete(st.existed, k)
			}
			st.lapse(l, now)
		}
		return rows.Err()
	})
}

// readHead reads the last event of this node's chain.
func (s *Store) readHead(ctx context.Context) error {
	var e store.Event
	err := s.pool.QueryRow(ctx, `SELECT node, seq, at, kind, product, instance_id, actor, code, detail, prev, hash FROM licensor_audit WHERE node = $1 ORDER BY seq DESC LIMIT 1`, s.node).
		Scan(&e.Node, &e.Seq, &e.Time, &e.Kind, &e.Product, &e.InstanceID, &e.Actor, &e.Code, &e.Detail, &e.Prev, &e.Hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		s.head = nil
	case err != nil:
		return err
	default:
		e.Time = e.Time.UTC()
		s.head = &e
	}
	s.headKnown = true
	return nil
}

// decideAcquire answers o by the pool's rules (those of store/sqlite).
func (s *Store) decideAcquire(st *txState, o *op) {
	req := o.acq
	k := key{req.Product, req.InstanceID}
	if l := st.get(k, req.Now); l != nil {
		if err := store.CheckOwner(*l, req.Kind, req.Holder); err != nil {
			o.err = err
			return
		}
		c := *l
		if req.Kind == store.SeatInstance {
			if l.Node != "" && l.Node != st.node {
				// The seat moves with its product to this node: say so,
				// since the audit shows no other trace of the move.
				st.events = append(st.events, store.Event{Time: req.Now, Kind: store.KindResume, Product: req.Product, InstanceID: req.InstanceID, Actor: req.Holder,
					Detail: fmt.Sprintf("seat moved from node %q", l.Node)})
			}
			c.Renewed, c.Expires = req.Now, req.Now.Add(req.TTL)
			st.write(k, &c)
			o.grant = store.Grant{Lease: c, Resumed: true, Held: st.held[req.Product]}
			return
		}
		if !l.Revoked.IsZero() {
			o.err = &store.RevokedError{Lease: *l}
			return
		}
		// A key-file seat lasts as long as the last key file given: it
		// moves later, never earlier.
		c.Holder, c.Renewed = req.Holder, req.Now
		if exp := req.Now.Add(req.TTL); exp.After(c.Expires) {
			c.Expires = exp
		}
		st.write(k, &c)
		st.events = append(st.events, store.Event{Time: req.Now, Kind: store.KindResume, Product: req.Product, InstanceID: req.InstanceID, Actor: req.Holder,
			Detail: "key-file seat held until " + c.Expires.UTC().Format(time.RFC3339)})
		o.grant = store.Grant{Lease: c, Resumed: true, Held: st.held[req.Product]}
		return
	}
	held := st.held[req.Product]
	if held >= req.Limit {
		o.err = &store.FullError{Product: req.Product, Held: held, Limit: req.Limit, OldestExpires: st.oldestOf(req.Product)}
		return
	}
	l := &store.Lease{Product: req.Product, InstanceID: req.InstanceID, Kind: req.Kind, Holder: req.Holder, Since: req.Now, Renewed: req.Now, Expires: req.Now.Add(req.TTL)}
	st.write(k, l)
	st.held[req.Product] = held + 1
	if d, ok := st.peak[req.Product]; !ok || held+1-st.held0[req.Product] > d {
		st.peak[req.Product] = held + 1 - st.held0[req.Product]
	}
	st.changed[req.Product] = true
	e := store.Event{Time: req.Now, Kind: store.KindGrant, Product: req.Product, InstanceID: req.InstanceID, Actor: req.Holder}
	if req.Kind == store.SeatKeyFile {
		e.Detail = "key-file seat held until " + l.Expires.UTC().Format(time.RFC3339)
	}
	st.events = append(st.events, e)
	o.grant = store.Grant{Lease: *l, Held: held + 1}
}

// oldestOf is the earliest expiry among product's seats as far as the
// batch knows them.
func (st *txState) oldestOf(product string) time.Time {
	t := st.oldest(product)
	for _, l := range st.leases {
		if l != nil && l.Product == product && (t.IsZero() || l.Expires.Before(t)) {
			t = l.Expires
		}
	}
	return t
}

// decideRelease answers o by the pool's rules.
func (s *Store) decideRelease(st *txState, o *op) {
	req := o.rel
	k := key{req.Product, req.InstanceID}
	l := st.get(k, req.Now)
	if l == nil {
		o.err = store.ErrNoLease
		return
	}
	if req.Reason != store.KindRevoke {
		if err := store.CheckOwner(*l, store.SeatInstance, req.Actor); err != nil {
			o.err = err
			return
		}
	}
	if l.Kind == store.SeatKeyFile {
		if !l.Revoked.IsZero() { // revoked already: counted until it expires
			o.lease = *l
			return
		}
		c := *l
		c.Revoked, c.RevokedBy = req.Now, req.Actor
		st.write(k, &c)
		st.events = append(st.events, store.Event{Time: req.Now, Kind: store.KindRevoke, Product: req.Product, InstanceID: req.InstanceID, Actor: req.Actor,
			Detail: req.EventDetail("key-file seat not renewed; counted until " + c.Expires.UTC().Format(time.RFC3339))})
		o.lease = c
		return
	}
	st.write(k, nil)
	st.held[req.Product]--
	st.changed[req.Product] = true
	st.events = append(st.events, store.Event{Time: req.Now, Kind: req.Reason, Product: req.Product, InstanceID: req.InstanceID, Actor: req.Actor, Detail: req.EventDetail("")})
	o.lease = *l
}

// oldestExpiry is when the first of product's seats lapses unless renewed
// (asked only of a full pool). Every lease's due is at most its expiry, so
// reading leases in order of due, the earliest expiry seen is the answer
// once the next due is not earlier.
func oldestExpiry(ctx context.Context, conn *pgxpool.Conn, product string) time.Time {
	var best time.Time
	after := time.Time{}
	for range 64 { // bounded: a pool renewed out of order gives an estimate
		rows, err := conn.Query(ctx, `SELECT due, expires FROM licensor_leases WHERE product = $1 AND due > $2 ORDER BY due LIMIT 64`, product, after)
		if err != nil {
			return best
		}
		n := 0
		done := false
		for rows.Next() {
			var due, exp time.Time
			if rows.Scan(&due, &exp) != nil {
				break
			}
			n++
			if !best.IsZero() && !due.Before(best) {
				done = true
				break
			}
			if best.IsZero() || exp.Before(best) {
				best = exp
			}
			after = due
		}
		rows.Close()
		if done || n < 64 {
			return best.UTC()
		}
	}
	return best.UTC()
}

// seatLocks are the advisory lock keys of the seats (product, id), sorted
// and without repeats: two batches lock a seat they share in one order.
func seatLocks(ps, is []string) []int64 {
	seen := map[int64]bool{}
	var out []int64
	for i := range ps {
		h := fnv.New64a()
		h.Write([]byte(ps[i]))
		h.Write([]byte{0})
		h.Write([]byte(is[i]))
		x := int64(h.Sum64())
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}
