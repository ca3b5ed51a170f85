package report

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/licensor/licensor/store"
)

// hourSum is one hour of one product, as kept in the store (JSON).
type hourSum struct {
	PeakInst  int `json:"pi,omitempty"`
	PeakKey   int `json:"pk,omitempty"`
	PeakTotal int `json:"pt,omitempty"`
	// Seat-seconds held, and the seconds the pool held PeakTotal seats.
	InstSecs float64     `json:"si,omitempty"`
	KeySecs  float64     `json:"sk,omitempty"`
	PeakSecs float64     `json:"sp,omitempty"`
	Denials  map[int]int `json:"d,omitempty"`
	// The distinct instance ids and hosts that held a seat in the hour:
	// their 64-bit FNV-1a hashes, sorted, as deltas in varints. They are
	// kept apart from the figures (store.Summary.Sets; encodeSets).
	Inst  []byte `json:"-"`
	Hosts []byte `json:"-"`
	// The rate of calls: the highest minute's, and the sum over the
	// minutes sampled.
	QPSMax     float64 `json:"qm,omitempty"`
	QPSSum     float64 `json:"qs,omitempty"`
	QPSMinutes int     `json:"qn,omitempty"`
}

// encodeHour encodes a kept hour: its figures (JSON) and its sets.
func encodeHour(h *hourSum) (data, sets []byte) {
	data, _ = json.Marshal(h)
	if len(h.Inst) > 0 || len(h.Hosts) > 0 {
		sets = binary.AppendUvarint(nil, uint64(len(h.Inst)))
		sets = append(append(sets, h.Inst...), h.Hosts...)
	}
	return data, sets
}

// decodeHour decodes a kept hour; sets is nil for a report that counts
// no distinct ids (and so did not read them).
func decodeHour(data, sets []byte) (*hourSum, error) {
	var h hourSum
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, err
	}
	if len(sets) > 0 {
		n, k := binary.Uvarint(sets)
		if k <= 0 || n > uint64(len(sets)-k) {
			return nil, fmt.Errorf("the hour's sets of ids are malformed")
		}
		h.Inst, h.Hosts = sets[k:k+int(n)], sets[k+int(n):]
	}
	return &h, nil
}

func hashID(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func encodeHashes(set map[uint64]struct{}) []byte {
	if len(set) == 0 {
		return nil
	}
	xs := make([]uint64, 0, len(set))
	for x := range set {
		xs = append(xs, x)
	}
	slices.Sort(xs)
	out := make([]byte, 0, 4*len(xs))
	var prev uint64
	for _, x := range xs {
		out = binary.AppendUvarint(out, x-prev)
		prev = x
	}
	return out
}

func eachHash(b []byte, fn func(uint64)) {
	var x uint64
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			return
		}
		x += d
		fn(x)
		b = b[n:]
	}
}

// seats is the engine's state: the seats held at a time, by product and
// id, with each seat's host.
type seats struct {
	at    time.Time
	held  map[string]map[string]string // product → seat id → host
	count map[string]*[2]int           // product → instance, key-file seats held
}

func newSeats(at time.Time) *seats {
	return &seats{at: at, held: map[string]map[string]string{}, count: map[string]*[2]int{}}
}

type seatsJSON struct {
	At    time.Time                    `json:"at"`
	Seats map[string]map[string]string `json:"seats"`
}

func (s *seats) encode() []byte {
	b, _ := json.Marshal(seatsJSON{At: s.at, Seats: s.held})
	return b
}

func decodeSeats(data []byte, at time.Time) (*seats, error) {
	var j seatsJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, err
	}
	s := newSeats(at)
	for p, ids := range j.Seats {
		for id, host := range ids {
			s.open(p, id, host)
		}
	}
	return s, nil
}

func keyFile(id string) bool { return strings.HasPrefix(id, store.KeyFileSeatPrefix) }

func (s *seats) counts(product string) *[2]int {
	c := s.count[product]
	if c == nil {
		c = &[2]int{}
		s.count[product] = c
	}
	return c
}

// open records a seat held; false if it already was.
func (s *seats) open(product, id, host string) bool {
	m := s.held[product]
	if m == nil {
		m = map[string]string{}
		s.held[product] = m
	}
	if _, ok := m[id]; ok {
		m[id] = host
		return false
	}
	m[id] = host
	c := s.counts(product)
	if keyFile(id) {
		c[1]++
	} else {
		c[0]++
	}
	return true
}

// close ends a seat; false if it was not held.
func (s *seats) close(product, id string) bool {
	m := s.held[product]
	if _, ok := m[id]; !ok {
		return false
	}
	delete(m, id)
	if len(m) == 0 {
		delete(s.held, product)
	}
	c := s.counts(product)
	if keyFile(id) {
		c[1]--
	} else {
		c[0]--
	}
	return true
}

// hostOf is a seat's host: its holder's identity, or a key-file seat's
// machine code.
func hostOf(id, holder string) string {
	if keyFile(id) {
		return strings.TrimPrefix(id, store.KeyFileSeatPrefix)
	}
	return holder
}

// summed is one product's hour, computed.
type summed struct {
	product string
	hour    time.Time
	sum     hourSum
}

// hourWork is a product's hour being summed.
type hourWork struct {
	sum         hourSum
	inst, hosts map[uint64]struct{}
}

// sweep walks time forward over the seats, hour by hour.
type sweep struct {
	s     *seats
	hour  time.Time // the current hour
	last  time.Time // accounted up to
	work  map[string]*hourWork
	done  []summed
	until time.Time
	qps   map[string]map[time.Time]float64 // product → minute → rate, summed over the nodes
	// bare leaves out the sets of distinct ids: a report that does not
	// count them (Query.SkipDistinct) has no use for them.
	bare bool
}

func (w *sweep) startHour(h time.Time) {
	w.hour, w.work = h, map[string]*hourWork{}
	for p, ids := range w.s.held {
		hw := w.product(p)
		if w.bare {
			continue
		}
		for id, host := range ids {
			hw.seat(id, host)
		}
	}
}

func (w *sweep) product(p string) *hourWork {
	hw := w.work[p]
	if hw == nil {
		hw = &hourWork{}
		if !w.bare {
			hw.inst, hw.hosts = map[uint64]struct{}{}, map[uint64]struct{}{}
		}
		c := w.s.counts(p)
		hw.sum.PeakInst, hw.sum.PeakKey, hw.sum.PeakTotal = c[0], c[1], c[0]+c[1]
		w.work[p] = hw
	}
	return hw
}

func (hw *hourWork) seat(id, host string) {
	if hw.hosts == nil {
		return // a bare sweep's
	}
	if !keyFile(id) {
		hw.inst[hashID(id)] = struct{}{}
	}
	hw.hosts[hashID(host)] = struct{}{}
}

// account adds the time from w.last to t (within the hour) at the seats
// held.
func (w *sweep) account(t time.Time) {
	dt := t.Sub(w.last).Seconds()
	if dt <= 0 {
		return
	}
	for p, hw := range w.work {
		c := w.s.counts(p)
		hw.sum.InstSecs += float64(c[0]) * dt
		hw.sum.KeySecs += float64(c[1]) * dt
		if c[0]+c[1] == hw.sum.PeakTotal && hw.sum.PeakTotal > 0 {
			hw.sum.PeakSecs += dt
		}
	}
	w.last = t
}

// advance moves the sweep to t, closing the hours it passes.
func (w *sweep) advance(t time.Time) {
	if t.After(w.until) {
		t = w.until
	}
	for {
		next := w.hour.Add(time.Hour)
		if t.Before(next) {
			w.account(t)
			return
		}
		w.account(next)
		w.closeHour()
		if next.Equal(w.until) {
			w.hour, w.last = next, next
			return
		}
		w.startHour(next)
	}
}

func (w *sweep) closeHour() {
	for p, minutes := range w.qps {
		var hw *hourWork
		for m := w.hour; m.Before(w.hour.Add(time.Hour)); m = m.Add(time.Minute) {
			r, ok := minutes[m]
			if !ok {
				continue
			}
			if hw == nil {
				hw = w.product(p)
			}
			hw.sum.QPSMax = max(hw.sum.QPSMax, r)
			hw.sum.QPSSum += r
			hw.sum.QPSMinutes++
		}
	}
	for p, hw := range w.work {
		hw.sum.Inst, hw.sum.Hosts = encodeHashes(hw.inst), encodeHashes(hw.hosts)
		if empty(&hw.sum) {
			continue
		}
		w.done = append(w.done, summed{product: p, hour: w.hour, sum: hw.sum})
	}
	w.work = nil
}

func empty(h *hourSum) bool {
	return h.PeakTotal == 0 && h.InstSecs == 0 && h.KeySecs == 0 && len(h.Denials) == 0 && len(h.Inst) == 0 && len(h.Hosts) == 0 && h.QPSMinutes == 0
}

// changed notes that product p's seats changed (after the change).
func (w *sweep) changed(p string) {
	hw := w.product(p)
	c := w.s.counts(p)
	hw.sum.PeakInst = max(hw.sum.PeakInst, c[0])
	hw.sum.PeakKey = max(hw.sum.PeakKey, c[1])
	if t := c[0] + c[1]; t > hw.sum.PeakTotal {
		hw.sum.PeakTotal, hw.sum.PeakSecs = t, 0
	}
}

// apply applies one event, at t (the sweep is there).
func (w *sweep) apply(e store.Event) {
	switch e.Kind {
	case store.KindGrant, store.KindResume:
		host := hostOf(e.InstanceID, e.Actor)
		if w.s.open(e.Product, e.InstanceID, host) || e.Kind == store.KindGrant {
			w.changed(e.Product)
		}
		w.product(e.Product).seat(e.InstanceID, host)
	case store.KindRelease, store.KindRevoke, store.KindExpire:
		if e.Kind == store.KindRevoke && keyFile(e.InstanceID) {
			return // counted until it lapses
		}
		if w.s.close(e.Product, e.InstanceID) {
			w.changed(e.Product)
		}
	case store.KindDeny:
		if e.Product == "" {
			return
		}
		hw := w.product(e.Product)
		if hw.sum.Denials == nil {
			hw.sum.Denials = map[int]int{}
		}
		hw.sum.Denials[e.Code]++
	}
}

// lapsedAt is when an expire event's lease lapsed (its detail says), or
// the event's time.
func lapsedAt(e store.Event) time.Time {
	if s, ok := strings.CutPrefix(e.Detail, "lease lapsed at "); ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil && t.Before(e.Time) {
			return t
		}
	}
	return e.Time
}

// summarise replays the events from s.at to until (hour by hour) on the
// seats s, and returns the hours summed, the seats at the end, and the
// number of events read. With maxEvents > 0 it stops at the end of the
// first hour past that many events.
func summarise(ctx context.Context, src Source, s *seats, until time.Time, maxEvents int, bare bool) ([]summed, *seats, int, error) {
	w := &sweep{s: s, last: s.at, until: until, bare: bare}
	if err := w.loadSamples(ctx, src, s.at, until); err != nil {
		return nil, nil, 0, err
	}
	w.startHour(s.at)
	n := 0
	end := until // moved earlier by maxEvents
	// A lapse is recorded when the server notices it, a little after the
	// lease's expiry: expire events up to Settle after the end are read,
	// and those whose lease lapsed before the end are counted there.
	err := src.AuditBetween(ctx, s.at, until.Add(Settle), func(e store.Event) error {
		t := e.Time
		if e.Kind == store.KindExpire {
			t = lapsedAt(e)
		}
		if !e.Time.Before(end) {
			if !e.Time.Before(end.Add(Settle)) {
				return errStop
			}
			if e.Kind != store.KindExpire || !t.Before(end) {
				return nil
			}
		}
		if t.Before(w.last) {
			t = w.last // a node's clock a little behind another's
		}
		w.advance(t)
		w.apply(e)
		n++
		if maxEvents > 0 && n == maxEvents {
			end = minTime(until, floorHour(e.Time).Add(time.Hour))
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, nil, n, err
	}
	w.until = end
	w.advance(end)
	if w.work != nil {
		w.closeHour() // a partial last hour (a live report's)
	}
	s.at = end
	return w.done, s, n, nil
}

// loadSamples reads the rate samples of [from, until), summed over the
// nodes per product and minute.
func (w *sweep) loadSamples(ctx context.Context, src Source, from, until time.Time) error {
	w.qps = map[string]map[time.Time]float64{}
	return src.UsageBetween(ctx, from, until, func(u store.UsageSample) error {
		if u.Product == "" || u.Rate < 0 {
			return nil
		}
		m := w.qps[u.Product]
		if m == nil {
			m = map[time.Time]float64{}
			w.qps[u.Product] = m
		}
		m[u.Time.UTC().Truncate(time.Minute)] += u.Rate
		return nil
	})
}
