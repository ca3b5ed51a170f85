package postgres

import (
	"github.com/jackc/pgx/v5"
)

// A product's count lives in rows of its own per node (licensor_reserves),
// so that the nodes' batches never wait for each other's commits: with one
// row for the pool, every grant and release of every node took that row's
// lock and held it through its commit's flush, so the cluster's commits
// were flushed one after another, never together.
//
// The pool's count is base (licensor_pools, the count of schema 2, fixed
// since) plus every node's held. A node changes only its own held, and
// grants without the pool's lock while its held stays within its
// reserved, for requests whose limit is at least the row's cap. The
// reserves are sized (resize) under the pool's lock with every node's row
// locked, from the exact count: each node m is given reserved_m ≥ held_m
// with base + Σ reserved ≤ limit, and cap = limit on every row. From then
// on a node's held grows only within its reserve and shrinks freely, so
//
//	count = base + Σ held_m ≤ base + Σ max(held_m at the resize, reserved_m) ≤ limit
//
// until the next resize: a grant within the reserve never passes the
// limit its request names. A pool found over its limit (a limit lowered
// below the seats held) gets no reserve at all (noReserve), so that every
// grant is decided under the lock until it is under again; nor does a
// node's row before its first resize. A batch that
// needs more than its node's reserve, or whose limit is below cap, fails
// its last statement and is decided again under the lock, which resizes.

// noReserve is the reserve of a pool found over its limit, and of a row
// not yet sized (the column's default): no held fits.
const noReserve = -(1 << 30)

// poolCount is the SQL for the count of the product named by the column
// expression col.
func poolCount(col string) string {
	return `((SELECT base FROM licensor_pools WHERE product = ` + col + `) + (SELECT coalesce(sum(held), 0) FROM licensor_reserves WHERE product = ` + col + `))`
}

// take is one product's change in a batch that has not resized.
type take struct {
	product string
	delta   int  // the change to the count
	granted bool // the batch grants a seat of it
	peak    int  // the highest the change reached after a grant
	limit   int  // the least limit a grant asked for
}

// queueTake queues the change of node's held by takes (sorted by product),
// as the last statement before COMMIT: it fails the transaction (1/0)
// when a grant passes the node's reserve or its limit is below the cap.
// Each product's count after the change (as far as the statement sees
// other nodes') goes to after.
func queueTake(b *pgx.Batch, node string, takes []take, after map[string]int) {
	n := len(takes)
	ps, ds, ks, ls, gs := make([]string, n), make([]int32, n), make([]int32, n), make([]int32, n), make([]bool, n)
	for i, t := range takes {
		ps[i], ds[i], ks[i], ls[i], gs[i] = t.product, int32(t.delta), int32(t.peak), int32(t.limit), t.granted
	}
	if n > 1 {
		// A node's rows are locked in product order, as a resize locks
		// them.
		b.Queue(`SELECT 1 FROM licensor_reserves WHERE product = ANY($1) AND node = $2 ORDER BY product FOR UPDATE`, ps, node)
	}
	b.Queue(`WITH u AS (UPDATE licensor_reserves r SET held = r.held + t.d
			FROM unnest($1::text[], $2::int[], $3::int[], $4::int[], $5::bool[]) AS t(p, d, k, l, g)
			WHERE r.product = t.p AND r.node = $6 AND (NOT t.g OR (r.held + t.k <= r.reserved AND r.cap <= t.l))
			RETURNING r.product, t.d),
		c AS (SELECT 1 / (CASE WHEN count(*) = $7 THEN 1 ELSE 0 END) AS ok FROM u)
		SELECT u.product, `+poolCount("u.product")+` + u.d, c.ok FROM c LEFT JOIN u ON true`,
		ps, ds, ks, ls, gs, node, n).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var p string
			var count, ok int
			if err := rows.Scan(&p, &count, &ok); err != nil {
				return err
			}
			after[p] = count
		}
		return rows.Err()
	})
}

// reserveRow is a node's row of a product's reserves.
type reserveRow struct {
	node               string
	held, reserved, at int // at: the row's cap
}

// resize sets the reserves of a product whose count is total (every row's
// held as it will be committed) under limit: the asking node me gets a
// share of what is free, then every other node keeps what it has unused
// up to the same share, while any is left: no more than what is free is
// reserved in all, however many nodes share it.
func resize(rows []reserveRow, me string, total, limit int) {
	free := limit - total
	share := 0
	if free > 0 {
		share = max(1, free/(2*len(rows)))
	}
	left := max(free, 0)
	give := func(r *reserveRow, want int) {
		n := min(want, share, left)
		r.reserved = r.held + n
		left -= n
	}
	for i := range rows {
		if r := &rows[i]; r.node == me && free >= 0 {
			give(r, share)
		}
	}
	for i := range rows {
		r := &rows[i]
		r.at = limit
		switch {
		case free < 0:
			r.reserved = noReserve
		case r.node != me:
			give(r, max(r.reserved-r.held, 0))
		}
	}
}

// queueReserves queues the writing of products' reserve rows (locked by
// the batch), each with the change of its held.
func queueReserves(b *pgx.Batch, product []string, rows []reserveRow, deltas []int) {
	n := len(rows)
	ns, hs, rs, cs := make([]string, n), make([]int32, n), make([]int32, n), make([]int32, n)
	for i, r := range rows {
		ns[i], hs[i], rs[i], cs[i] = r.node, int32(deltas[i]), int32(r.reserved), int32(r.at)
	}
	b.Queue(`INSERT INTO licensor_reserves AS r (product, node, held, reserved, cap)
		SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::int[])
		ON CONFLICT (product, node) DO UPDATE SET held = r.held + EXCLUDED.held, reserved = EXCLUDED.reserved, cap = EXCLUDED.cap`,
		product, ns, hs, rs, cs)
}
