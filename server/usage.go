package server

import (
	"sync"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/store"
)

// QPS control.
//
// A product licensed with qps = Q > 0 is shared among its live instances:
// each verdict (and each heartbeat's) carries share = Q / n, where n is the
// number of instances holding a lease at that moment. The SDK spends its
// share locally with a token bucket, with no round trip per call, and
// reports in each heartbeat how many calls it answered since the last.
//
// Accuracy: shares are re-balanced at each heartbeat (every lease_ttl/3,
// 30 s by default), so after an instance joins, the others keep their
// larger share until their next heartbeat: for at most one heartbeat
// interval the product may run at up to Q + Q/n (one extra share). When an
// instance leaves, the others are below Q until their next heartbeat. The
// server checks each report: an instance whose reported rate since its
// last heartbeat exceeds its share by more than 25% (plus one call per
// second, for rounding) gets code 505 instead of a renewed verdict.
// licensor_qps_used reports the product's rate from the sum of reports;
// when several servers share a store, each node records its rate there
// every cluster_interval and reports the sum over the nodes.
type usage struct {
	mu     sync.Mutex
	last   map[usageKey]time.Time
	calls  map[string]int64
	rates  map[string]float64
	tickAt time.Time
	// sampled is when the rates were last sampled for usage reports.
	sampled time.Time
}

type usageKey struct{ product, instance string }

const qpsSlack = 1.25

func (u *usage) start(l store.Lease, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.last == nil {
		u.last = map[usageKey]time.Time{}
	}
	k := usageKey{l.Product, l.InstanceID}
	if _, ok := u.last[k]; !ok {
		u.last[k] = now
	}
}

// report accounts calls since the instance's last heartbeat and refuses a
// rate above its share.
func (u *usage) report(l store.Lease, calls int64, share float64, now time.Time) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.last == nil {
		u.last = map[usageKey]time.Time{}
	}
	if u.calls == nil {
		u.calls = map[string]int64{}
	}
	k := usageKey{l.Product, l.InstanceID}
	prev, ok := u.last[k]
	u.last[k] = now
	u.calls[l.Product] += calls
	elapsed := now.Sub(prev).Seconds()
	if !ok || elapsed < 1 || share <= 0 {
		return nil
	}
	if rate := float64(calls) / elapsed; rate > share*qpsSlack+1 {
		return codes.Errorf(codes.QPSExceeded, "instance %q of %q answered %.1f calls/s since its last heartbeat; its share of the licensed QPS is %.1f/s",
			l.InstanceID, l.Product, rate, share)
	}
	return nil
}

func (u *usage) stop(product, instance string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.last, usageKey{product, instance})
}

// tick turns the calls reported since the last tick into a rate per
// product, smoothed over about a minute, and forgets instances not heard
// from for longer than maxAge (their leases have lapsed).
func (u *usage) tick(now time.Time, maxAge time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, t := range u.last {
		if now.Sub(t) > maxAge {
			delete(u.last, k)
		}
	}
	if u.tickAt.IsZero() {
		u.tickAt = now
		return
	}
	elapsed := now.Sub(u.tickAt).Seconds()
	if elapsed <= 0 {
		return
	}
	u.tickAt = now
	if u.rates == nil {
		u.rates = map[string]float64{}
	}
	alpha := min(1, elapsed/60)
	for p := range u.rates {
		if _, ok := u.calls[p]; !ok {
			u.rates[p] *= 1 - alpha
		}
	}
	for p, n := range u.calls {
		u.rates[p] = u.rates[p]*(1-alpha) + alpha*float64(n)/elapsed
	}
	clear(u.calls)
}

func (u *usage) rate(product string) float64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.rates[product]
}

// rates returns every product's rate measured on this server.
func (u *usage) snapshot() map[string]float64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]float64, len(u.rates))
	for p, r := range u.rates {
		out[p] = r
	}
	return out
}

// qpsUsed is a product's rate of calls: the cluster's, summed over the
// nodes, when several servers share the store; this server's otherwise.
func (s *Server) qpsUsed(product string) float64 {
	if m := s.clusterRates.Load(); m != nil {
		return (*m)[product]
	}
	return s.usage.rate(product)
}

// sampleDue reports whether a minute has passed since the rates were last
// sampled for usage reports, and if so starts the next minute.
func (u *usage) sampleDue(now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.sampled.IsZero() && now.Sub(u.sampled) < time.Minute {
		return false
	}
	u.sampled = now
	return true
}
