// Package report computes usage reports from the site server's audit log:
// per product and period, the peak and average seats held (instance and
// key-file seats apart), the licensed limit, the time spent at it, the
// denials by code, the distinct instances and hosts, and the rate of
// calls against the licensed QPS.
//
// The engine keeps hourly summaries in the store (store.Reports): each
// hour of each product is computed once from the events of that hour and
// the seats held at its start, and kept; the seats held at the end of the
// last summarised hour are kept beside them. A report reads the summaries
// of its range and replays only the events after the last one, so that
// its cost grows with the hours and events of its range, not with the
// whole log. Hours are summarised lazily (by Build, and by the server a
// little at a time, see Index) once they are Settle old, so that events
// arriving late from a node whose commit or clock lags are still counted.
//
// How the figures are read from the events:
//   - A seat is held from its grant to its release, its revoke (an
//     instance seat's; a revoked key-file seat stays counted) or its
//     lapse. A lapse is placed at the lease's expiry the expire event
//     names, not when the server noticed it.
//   - An instance's host is the identity that holds its seat (the client
//     certificate's subject); a key-file seat's host is its machine code.
//     Instances counts distinct instance ids of instance seats, Hosts the
//     distinct hosts of both kinds.
//   - Time at the limit is the time the product's pool held its licensed
//     limit of seats (or more, after a lowered limit), summed per hour
//     over the hours whose peak reached it.
//   - QPS used is the highest rate of calls sampled in a minute of the
//     period (the server samples each product with QPS control once a
//     minute, summed over the nodes); QPSAvg is their mean.
package report

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/store"
)

// Query says what to report.
type Query struct {
	From, To time.Time // To zero: now; From zero: 30 days before To
	Product  string    // "" for every product
	By       string    // "hour", "day" (the default) or "month"
	// License is the license in force: the limits and QPS reported
	// against. Nil reports no limits.
	License *license.License
	// Now is the clock's time (zero: the system's). The report never
	// covers time after it.
	Now time.Time
	// SkipDistinct leaves Instances and Hosts at 0: counting distinct
	// ids merges each hour's set of them, most of a long report's cost
	// (a month by hour at 10,000 seats: 7 million set inserts), which a
	// chart of seats and denials does not need.
	SkipDistinct bool
}

// Period lengths.
const (
	ByHour  = "hour"
	ByDay   = "day"
	ByMonth = "month"
)

// Report is the usage of every product over a range, period by period.
type Report struct {
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	By        string    `json:"by"`
	Products  []Product `json:"products"`
	Node      string    `json:"node,omitempty"`       // the server that made it, in a store several share
	LicenseID string    `json:"license_id,omitempty"` // the license reported against
	Generated time.Time `json:"generated"`
}

// Product is one product's usage.
type Product struct {
	Name        string   `json:"name"`
	Limit       int      `json:"limit"`        // instanceSize in force (0: not licensed)
	QPSLicensed float64  `json:"qps_licensed"` // 0: no QPS control
	Periods     []Period `json:"periods"`
	Total       Period   `json:"total"`
}

// Period is the usage of one product in one period.
type Period struct {
	Start        time.Time     `json:"start"`
	End          time.Time     `json:"end"`
	PeakInstance int           `json:"peak_instance"`
	PeakKeyFile  int           `json:"peak_keyfile"`
	PeakTotal    int           `json:"peak_total"` // instance and key-file seats held at once
	AvgInstance  float64       `json:"avg_instance"`
	AvgKeyFile   float64       `json:"avg_keyfile"`
	AtLimit      time.Duration `json:"at_limit_ns"`
	Denials      map[int]int   `json:"denials,omitempty"` // code → count; 501 is demand past the limit
	Instances    int           `json:"instances"`
	Hosts        int           `json:"hosts"`
	QPSUsed      float64       `json:"qps_used"`
	QPSAvg       float64       `json:"qps_avg"`
}

// Denied is the period's denials, all codes together.
func (p Period) Denied() int {
	n := 0
	for _, c := range p.Denials {
		n += c
	}
	return n
}

// Source is what the engine reads, and where it keeps its summaries: a
// store (store/sqlite, store/postgres). A remote report is built by the
// server and fetched whole (the admin API), not computed from afar.
type Source interface {
	store.Reports
	// Audit is store.Store's: the chains in order, to verify them.
	Audit(ctx context.Context, after int64, fn func(store.Event) error) error
}

// Settle is how old an hour must be before it is summarised and kept.
const Settle = 10 * time.Minute

// Build computes the report q asks for. It first brings the summaries up
// to date (Index); a store it cannot write to is read all the same.
func Build(ctx context.Context, src Source, q Query) (*Report, error) {
	q, err := normalize(q)
	if err != nil {
		return nil, err
	}
	if _, err := Index(ctx, src, q.Now, 0); err != nil && ctx.Err() != nil {
		return nil, err
	}
	st, err := src.SummaryState(ctx)
	if err != nil {
		return nil, err
	}
	b := newBuilder(q)
	if !st.At.IsZero() && q.From.Before(st.At) {
		end := minTime(q.To, st.At)
		err := src.Summaries(ctx, q.From, end, !q.SkipDistinct, func(s store.Summary) error {
			if q.Product != "" && s.Product != q.Product {
				return nil
			}
			h, err := decodeHour(s.Data, s.Sets)
			if err != nil {
				return fmt.Errorf("the summary of %s at %s: %w", s.Product, s.Hour.Format(time.RFC3339), err)
			}
			b.add(s.Product, s.Hour, h)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if q.To.After(st.At) {
		// The hours not yet summarised: replay them from the state kept
		// (from the log's first hour when nothing is).
		var state *seats
		if st.At.IsZero() {
			first, ok, err := firstEvent(ctx, src)
			if err != nil {
				return nil, err
			}
			if ok {
				state = newSeats(floorHour(first.Time))
			}
		} else if state, err = decodeSeats(st.Data, st.At); err != nil {
			return nil, fmt.Errorf("the summaries' state: %w", err)
		}
		if state != nil && state.at.Before(q.To) {
			hours, _, _, err := summarise(ctx, src, state, q.To, 0, q.SkipDistinct)
			if err != nil {
				return nil, err
			}
			for _, h := range hours {
				if !h.hour.Before(q.From) && (q.Product == "" || h.product == q.Product) {
					b.add(h.product, h.hour, &h.sum)
				}
			}
		}
	}
	return b.report(), nil
}

// normalize fills q's defaults and checks it: the range runs from the
// hour From falls in to the end of the hour To falls in, never past Now.
func normalize(q Query) (Query, error) {
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	q.Now = q.Now.UTC()
	switch q.By {
	case "":
		q.By = ByDay
	case ByHour, ByDay, ByMonth:
	default:
		return q, fmt.Errorf("by %q: want hour, day or month", q.By)
	}
	if q.To.IsZero() {
		q.To = q.Now
	}
	if q.From.IsZero() {
		q.From = q.To.AddDate(0, 0, -30)
	}
	q.From = floorHour(q.From.UTC())
	if to := floorHour(q.To.UTC()); !to.Equal(q.To) {
		q.To = to.Add(time.Hour)
	}
	q.To = minTime(q.To.UTC(), q.Now)
	if !q.From.Before(q.To) {
		return q, fmt.Errorf("the range %s to %s is empty", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	return q, nil
}

// ErrStop ends an iteration early.
var errStop = errors.New("stop")

func firstEvent(ctx context.Context, src Source) (store.Event, bool, error) {
	var first store.Event
	ok := false
	err := src.AuditBetween(ctx, time.Time{}, time.Time{}, func(e store.Event) error {
		first, ok = e, true
		return errStop
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return first, ok, err
}

// Index summarises the hours that are Settle old and not yet kept, and
// keeps them with the seats held at their end. maxEvents bounds the work
// (it stops at the first hour's end past that many events; 0: no bound).
// It returns how many hours it kept.
func Index(ctx context.Context, src Source, now time.Time, maxEvents int) (int, error) {
	until := floorHour(now.UTC().Add(-Settle))
	st, err := src.SummaryState(ctx)
	if err != nil {
		return 0, err
	}
	var state *seats
	if st.At.IsZero() {
		first, ok, err := firstEvent(ctx, src)
		if err != nil || !ok {
			return 0, err
		}
		state = newSeats(floorHour(first.Time))
	} else if state, err = decodeSeats(st.Data, st.At); err != nil {
		return 0, fmt.Errorf("the summaries' state: %w", err)
	}
	kept := 0
	for state.at.Before(until) {
		prev := state.at
		if st.At.IsZero() {
			prev = time.Time{}
		}
		// A day at a time: one transaction each, and a store shared with
		// a running server is never held long.
		hours, next, n, err := summarise(ctx, src, state, minTime(until, state.at.Add(24*time.Hour)), maxEvents, false)
		if err != nil {
			return kept, err
		}
		sums := make([]store.Summary, 0, len(hours))
		for _, h := range hours {
			data, sets := encodeHour(&h.sum)
			sums = append(sums, store.Summary{Product: h.product, Hour: h.hour, Data: data, Sets: sets})
		}
		ok, err := src.SaveSummaries(ctx, prev, store.SummaryState{At: next.at, Data: next.encode()}, sums)
		if err != nil || !ok {
			return kept, err // !ok: another writer went ahead
		}
		kept += len(hours)
		st.At, state = next.at, next
		if maxEvents > 0 {
			if maxEvents -= n; maxEvents <= 0 {
				break
			}
		}
	}
	return kept, nil
}

func floorHour(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// periodStart is the start of the period of length by that t falls in.
func periodStart(t time.Time, by string) time.Time {
	t = t.UTC()
	switch by {
	case ByHour:
		return t.Truncate(time.Hour)
	case ByMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func periodEnd(start time.Time, by string) time.Time {
	switch by {
	case ByHour:
		return start.Add(time.Hour)
	case ByMonth:
		return start.AddDate(0, 1, 0)
	}
	return start.AddDate(0, 0, 1)
}

// builder adds hours up into periods.
type builder struct {
	q        Query
	products map[string]*productAcc
}

type productAcc struct {
	periods map[time.Time]*periodAcc
	total   periodAcc
}

type periodAcc struct {
	start, end         time.Time
	hour               hourSum // the sums; peaks are maxima
	atLimit            float64
	inst, hosts        map[uint64]struct{}
	qpsMinutes, qpsSum float64
}

func newBuilder(q Query) *builder {
	b := &builder{q: q, products: map[string]*productAcc{}}
	if q.License != nil {
		for _, p := range q.License.Products {
			if q.Product == "" || p.Subject == q.Product {
				b.product(p.Subject)
			}
		}
	} else if q.Product != "" {
		b.product(q.Product)
	}
	return b
}

func (b *builder) product(name string) *productAcc {
	p := b.products[name]
	if p == nil {
		p = &productAcc{periods: map[time.Time]*periodAcc{}}
		p.total.start, p.total.end = b.q.From, b.q.To
		b.products[name] = p
	}
	return p
}

func (b *builder) limit(name string) (int, float64) {
	if b.q.License == nil {
		return 0, 0
	}
	p, ok := b.q.License.Product(name)
	if !ok {
		return 0, 0
	}
	return p.InstanceSize, float64(p.QPS)
}

func (b *builder) add(product string, hour time.Time, h *hourSum) {
	if hour.Before(b.q.From) || !hour.Before(b.q.To) {
		return
	}
	p := b.product(product)
	start := periodStart(hour, b.q.By)
	pa := p.periods[start]
	if pa == nil {
		pa = &periodAcc{start: start, end: periodEnd(start, b.q.By)}
		if pa.start.Before(b.q.From) {
			pa.start = b.q.From
		}
		if pa.end.After(b.q.To) {
			pa.end = b.q.To
		}
		p.periods[start] = pa
	}
	limit, _ := b.limit(product)
	pa.merge(h, limit, !b.q.SkipDistinct)
	p.total.merge(h, limit, !b.q.SkipDistinct)
}

func (a *periodAcc) merge(h *hourSum, limit int, distinct bool) {
	s := &a.hour
	s.PeakInst = max(s.PeakInst, h.PeakInst)
	s.PeakKey = max(s.PeakKey, h.PeakKey)
	s.PeakTotal = max(s.PeakTotal, h.PeakTotal)
	s.InstSecs += h.InstSecs
	s.KeySecs += h.KeySecs
	if limit > 0 && h.PeakTotal >= limit {
		a.atLimit += h.PeakSecs
	}
	for c, n := range h.Denials {
		if s.Denials == nil {
			s.Denials = map[int]int{}
		}
		s.Denials[c] += n
	}
	if distinct {
		if a.inst == nil {
			a.inst, a.hosts = map[uint64]struct{}{}, map[uint64]struct{}{}
		}
		eachHash(h.Inst, func(x uint64) { a.inst[x] = struct{}{} })
		eachHash(h.Hosts, func(x uint64) { a.hosts[x] = struct{}{} })
	}
	s.QPSMax = max(s.QPSMax, h.QPSMax)
	a.qpsSum += h.QPSSum
	a.qpsMinutes += float64(h.QPSMinutes)
}

func (a *periodAcc) period() Period {
	p := Period{Start: a.start, End: a.end, PeakInstance: a.hour.PeakInst, PeakKeyFile: a.hour.PeakKey, PeakTotal: a.hour.PeakTotal,
		AtLimit: time.Duration(a.atLimit * float64(time.Second)).Round(time.Millisecond), Denials: a.hour.Denials,
		Instances: len(a.inst), Hosts: len(a.hosts), QPSUsed: a.hour.QPSMax}
	if secs := a.end.Sub(a.start).Seconds(); secs > 0 {
		p.AvgInstance = a.hour.InstSecs / secs
		p.AvgKeyFile = a.hour.KeySecs / secs
	}
	if a.qpsMinutes > 0 {
		p.QPSAvg = a.qpsSum / a.qpsMinutes
	}
	return p
}

func (b *builder) report() *Report {
	r := &Report{From: b.q.From, To: b.q.To, By: b.q.By, Generated: b.q.Now, Products: []Product{}}
	if b.q.License != nil {
		r.LicenseID = b.q.License.ID
	}
	names := make([]string, 0, len(b.products))
	for n := range b.products {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		pa := b.products[n]
		limit, qps := b.limit(n)
		p := Product{Name: n, Limit: limit, QPSLicensed: qps, Periods: []Period{}}
		// Every period of the range, those with no use included.
		for start := periodStart(b.q.From, b.q.By); start.Before(b.q.To); start = periodEnd(start, b.q.By) {
			a := pa.periods[start]
			if a == nil {
				a = &periodAcc{start: maxTime(start, b.q.From), end: minTime(periodEnd(start, b.q.By), b.q.To)}
			}
			p.Periods = append(p.Periods, a.period())
		}
		p.Total = pa.total.period()
		r.Products = append(r.Products, p)
	}
	return r
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
