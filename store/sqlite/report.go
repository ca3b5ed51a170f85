package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/licensor/licensor/store"
)

// What usage reports keep is written by the one writer, in the batches,
// like everything else; it is read on the reader connection.

// reportBatch is what a batch carries for usage reports.
type reportBatch struct {
	usage []store.UsageSample
	moves []*stateMove
}

// stateMove moves the summaries' state from prev to next and adds its
// hours, if the state is still at prev when the batch commits (another
// process may share the file); otherwise it writes nothing.
type stateMove struct {
	prev  time.Time
	next  store.SummaryState
	hours []store.Summary
	ok    bool
}

func (r *reportBatch) empty() bool { return len(r.usage) == 0 && len(r.moves) == 0 }

func (r *reportBatch) commit(c *sql.Conn) error {
	ctx := context.Background()
	// Statements prepared once a batch: a day of summaries, or a year of
	// samples, is thousands of rows.
	if len(r.usage) > 0 {
		ins, err := c.PrepareContext(ctx, `INSERT INTO usage_samples (at, node, product, rate) VALUES (?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, u := range r.usage {
			if _, err := ins.ExecContext(ctx, micros(u.Time), u.Node, u.Product, u.Rate); err != nil {
				return err
			}
		}
	}
	var insHour *sql.Stmt
	for _, m := range r.moves {
		res, err := c.ExecContext(ctx, `UPDATE report_state SET at = ?, data = ? WHERE one = 1 AND at = ?`, optMicros(m.next.At), m.next.Data, optMicros(m.prev))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if m.ok = n == 1; !m.ok {
			continue
		}
		// An hour another process summarised first is kept as it was:
		// both summed the same events.
		if len(m.hours) > 0 && insHour == nil {
			if insHour, err = c.PrepareContext(ctx, `INSERT OR IGNORE INTO report_hours (hour, product, data, sets) VALUES (?, ?, ?, ?)`); err != nil {
				return err
			}
			defer insHour.Close()
		}
		for _, h := range m.hours {
			sets := h.Sets
			if sets == nil {
				sets = []byte{}
			}
			if _, err := insHour.ExecContext(ctx, micros(h.Hour), h.Product, h.Data, sets); err != nil {
				return err
			}
		}
	}
	return nil
}

// AuditBetween implements store.Reports.
func (s *Store) AuditBetween(ctx context.Context, from, to time.Time, fn func(store.Event) error) error {
	const page = 5000
	at, seq := optMicros(from), int64(-1)
	end := int64(1<<63 - 1)
	if !to.IsZero() {
		end = micros(to)
	}
	for {
		events, err := s.auditPage(ctx, fn, `SELECT seq, at, kind, product, instance_id, actor, code, detail, prev, hash FROM audit
			WHERE (at, seq) > (?, ?) AND at < ? ORDER BY at, seq LIMIT ?`, at, seq, end, page)
		if err != nil || len(events) < page {
			return err
		}
		last := events[len(events)-1]
		at, seq = micros(last.Time), last.Seq
	}
}

// ChainAt implements store.Reports.
func (s *Store) ChainAt(ctx context.Context, t time.Time) ([]store.Event, error) {
	var e store.Event
	err := scanEvent(s.db.QueryRowContext(ctx, `SELECT seq, at, kind, product, instance_id, actor, code, detail, prev, hash FROM audit
		WHERE at < ? ORDER BY at DESC, seq DESC LIMIT 1`, micros(t)), &e)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []store.Event{e}, nil
}

// RecordUsage implements store.Reports.
func (s *Store) RecordUsage(ctx context.Context, samples ...store.UsageSample) error {
	if len(samples) == 0 {
		return nil
	}
	if err := s.begin(); err != nil {
		return err
	}
	for _, u := range samples {
		u.Time = u.Time.UTC().Truncate(time.Microsecond)
		s.cur.report.usage = append(s.cur.report.usage, u)
	}
	return s.endWait(ctx)
}

// UsageBetween implements store.Reports.
func (s *Store) UsageBetween(ctx context.Context, from, to time.Time, fn func(store.UsageSample) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT at, node, product, rate FROM usage_samples WHERE at >= ? AND at < ? ORDER BY at, node, product`, optMicros(from), micros(to))
	if err != nil {
		return err
	}
	var out []store.UsageSample
	for rows.Next() {
		var u store.UsageSample
		var at int64
		if err := rows.Scan(&at, &u.Node, &u.Product, &u.Rate); err != nil {
			rows.Close()
			return err
		}
		u.Time = fromMicros(at)
		out = append(out, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, u := range out {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}

// Summaries implements store.Reports.
func (s *Store) Summaries(ctx context.Context, from, to time.Time, sets bool, fn func(store.Summary) error) error {
	const page = 2000
	hour, product := optMicros(from)-1, "\xff"
	setsCol := "NULL"
	if sets {
		setsCol = "sets"
	}
	for {
		rows, err := s.db.QueryContext(ctx, `SELECT hour, product, data, `+setsCol+` FROM report_hours WHERE (hour, product) > (?, ?) AND hour < ? ORDER BY hour, product LIMIT ?`,
			hour, product, micros(to), page)
		if err != nil {
			return err
		}
		var out []store.Summary
		for rows.Next() {
			var h store.Summary
			var at int64
			if err := rows.Scan(&at, &h.Product, &h.Data, &h.Sets); err != nil {
				rows.Close()
				return err
			}
			h.Hour = fromMicros(at)
			out = append(out, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
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
		hour, product = micros(last.Hour), last.Product
	}
}

// SummaryState implements store.Reports.
func (s *Store) SummaryState(ctx context.Context) (store.SummaryState, error) {
	var st store.SummaryState
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT at, data FROM report_state WHERE one = 1`).Scan(&at, &st.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return store.SummaryState{}, nil
	}
	if err != nil {
		return st, err
	}
	if at != 0 {
		st.At = fromMicros(at)
	}
	return st, nil
}

// SaveSummaries implements store.Reports.
func (s *Store) SaveSummaries(ctx context.Context, prev time.Time, next store.SummaryState, hours []store.Summary) (bool, error) {
	if err := s.begin(); err != nil {
		return false, err
	}
	m := &stateMove{prev: prev, next: next, hours: hours}
	s.cur.report.moves = append(s.cur.report.moves, m)
	b := s.detach()
	if err := wait(ctx, b); err != nil {
		return false, err
	}
	return m.ok, nil
}

var _ store.Reports = (*Store)(nil)
