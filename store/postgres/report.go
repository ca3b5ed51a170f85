package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/licensor/licensor/store"
)

// Usage reports read the nodes' audit chains together, by time (the
// licensor_audit_at index of migration 2), and keep their hourly
// summaries and rate samples in tables every node shares: whichever node
// summarises an hour first keeps it, and the others find it done.

// auditCols are the columns scanAudit reads, in order.
const auditCols = `node, seq, at, kind, product, instance_id, actor, code, detail, prev, hash`

func scanAudit(r pgx.Row, e *store.Event) error {
	if err := r.Scan(&e.Node, &e.Seq, &e.Time, &e.Kind, &e.Product, &e.InstanceID, &e.Actor, &e.Code, &e.Detail, &e.Prev, &e.Hash); err != nil {
		return err
	}
	e.Time = e.Time.UTC()
	return nil
}

// optTime is t for a nullable column: NULL for the zero time.
func optTime(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// collect runs one query (a page of a paged read) under the store's
// timeout and returns its rows, scanned.
func collect[T any](ctx context.Context, s *Store, scan func(pgx.Row, *T) error, sql string, args ...any) ([]T, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := scan(rows, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// AuditBetween implements store.Reports.
func (s *Store) AuditBetween(ctx context.Context, from, to time.Time, fn func(store.Event) error) error {
	if err := s.open(); err != nil {
		return err
	}
	const page = 5000
	end := optTime(to)
	var events []store.Event
	var err error
	events, err = collect(ctx, s, scanAudit, `SELECT `+auditCols+` FROM licensor_audit
		WHERE at >= $1 AND ($2::timestamptz IS NULL OR at < $2) ORDER BY at, node, seq LIMIT $3`, from, end, page)
	for {
		if err != nil {
			return err
		}
		for _, e := range events {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(events) < page {
			return nil
		}
		last := events[len(events)-1]
		events, err = collect(ctx, s, scanAudit, `SELECT `+auditCols+` FROM licensor_audit
			WHERE (at, node, seq) > ($1, $2, $3) AND ($4::timestamptz IS NULL OR at < $4) ORDER BY at, node, seq LIMIT $5`,
			last.Time, last.Node, last.Seq, end, page)
	}
}

// ChainAt implements store.Reports: for each node's chain, found by a
// skip scan of the primary key, its last event before t.
func (s *Store) ChainAt(ctx context.Context, t time.Time) ([]store.Event, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	return collect(ctx, s, scanAudit, `WITH RECURSIVE nodes (node) AS (
			(SELECT node FROM licensor_audit ORDER BY node LIMIT 1)
			UNION ALL
			SELECT (SELECT a.node FROM licensor_audit a WHERE a.node > n.node ORDER BY a.node LIMIT 1) FROM nodes n WHERE n.node IS NOT NULL
		)
		SELECT e.* FROM nodes n, LATERAL (SELECT `+auditCols+` FROM licensor_audit a
			WHERE a.node = n.node AND a.at < $1 ORDER BY a.at DESC, a.seq DESC LIMIT 1) e
		WHERE n.node IS NOT NULL ORDER BY e.node`, t)
}

// RecordUsage implements store.Reports.
func (s *Store) RecordUsage(ctx context.Context, samples ...store.UsageSample) error {
	if err := s.open(); err != nil {
		return err
	}
	if len(samples) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ats, nodes, products, rates := make([]time.Time, len(samples)), make([]string, len(samples)), make([]string, len(samples)), make([]float64, len(samples))
	for i, u := range samples {
		ats[i], nodes[i], products[i], rates[i] = u.Time.UTC(), u.Node, u.Product, u.Rate
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO licensor_usage_samples (at, node, product, rate)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::float8[])`, ats, nodes, products, rates)
	return err
}

// UsageBetween implements store.Reports.
func (s *Store) UsageBetween(ctx context.Context, from, to time.Time, fn func(store.UsageSample) error) error {
	if err := s.open(); err != nil {
		return err
	}
	scan := func(r pgx.Row, u *store.UsageSample) error {
		if err := r.Scan(&u.Time, &u.Node, &u.Product, &u.Rate); err != nil {
			return err
		}
		u.Time = u.Time.UTC()
		return nil
	}
	out, err := collect(ctx, s, scan, `SELECT at, node, product, rate FROM licensor_usage_samples
		WHERE at >= $1 AND at < $2 ORDER BY at, node, product`, from, to)
	if err != nil {
		return err
	}
	for _, u := range out {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}

func scanSummary(r pgx.Row, h *store.Summary) error {
	if err := r.Scan(&h.Hour, &h.Product, &h.Data, &h.Sets); err != nil {
		return err
	}
	h.Hour = h.Hour.UTC()
	return nil
}

// Summaries implements store.Reports.
func (s *Store) Summaries(ctx context.Context, from, to time.Time, sets bool, fn func(store.Summary) error) error {
	if err := s.open(); err != nil {
		return err
	}
	const page = 2000
	cols := "hour, product, data, NULL::bytea"
	if sets {
		cols = "hour, product, data, sets"
	}
	out, err := collect(ctx, s, scanSummary, `SELECT `+cols+` FROM licensor_report_hours
		WHERE hour >= $1 AND hour < $2 ORDER BY hour, product LIMIT $3`, from, to, page)
	for {
		if err != nil {
			return err
		}
		for _, h := range out {
			if err := fn(h); err != nil {
				return err
			}
		}
		if len(out) < page {
			return nil
		}
		last := out[len(out)-1]
		out, err = collect(ctx, s, scanSummary, `SELECT `+cols+` FROM licensor_report_hours
			WHERE (hour, product) > ($1, $2) AND hour < $3 ORDER BY hour, product LIMIT $4`, last.Hour, last.Product, to, page)
	}
}

// SummaryState implements store.Reports.
func (s *Store) SummaryState(ctx context.Context) (store.SummaryState, error) {
	if err := s.open(); err != nil {
		return store.SummaryState{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var st store.SummaryState
	var at pgtype.Timestamptz
	err := s.pool.QueryRow(ctx, `SELECT at, data FROM licensor_report_state WHERE one`).Scan(&at, &st.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.SummaryState{}, nil
	}
	if err != nil {
		return st, err
	}
	if at.Valid {
		st.At = at.Time.UTC()
	}
	return st, nil
}

// SaveSummaries implements store.Reports: the state moves by
// compare-and-set, and an hour another node kept first stays as it was
// (both summed the same events).
func (s *Store) SaveSummaries(ctx context.Context, prev time.Time, next store.SummaryState, hours []store.Summary) (bool, error) {
	if err := s.open(); err != nil {
		return false, err
	}
	if next.Data == nil {
		next.Data = []byte{}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	tag, err := tx.Exec(ctx, `UPDATE licensor_report_state SET at = $1, data = $2 WHERE one AND at IS NOT DISTINCT FROM $3`,
		optTime(next.At), next.Data, optTime(prev))
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() != 1 {
		return false, nil
	}
	if len(hours) > 0 {
		hs, ps, ds, ss := make([]time.Time, len(hours)), make([]string, len(hours)), make([][]byte, len(hours)), make([][]byte, len(hours))
		for i, h := range hours {
			hs[i], ps[i], ds[i], ss[i] = h.Hour.UTC(), h.Product, h.Data, h.Sets
			if ds[i] == nil {
				ds[i] = []byte{}
			}
			if ss[i] == nil {
				ss[i] = []byte{}
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO licensor_report_hours (hour, product, data, sets)
			SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bytea[], $4::bytea[]) ON CONFLICT DO NOTHING`, hs, ps, ds, ss); err != nil {
			return false, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, err
	}
	return true, nil
}

var _ store.Reports = (*Store)(nil)
