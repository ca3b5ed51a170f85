package sqlite

import (
	"container/heap"
	"time"

	"github.com/licensor/licensor/store"
)

// key names a lease.
type key struct{ product, instance string }

// pool is the in-memory image of the leases table: the backend decides
// from it and persists each change before answering. Each product keeps
// its leases and a heap of expiries, so finding what lapsed, or the first
// lease to lapse, costs what comes due, not the pool's size.
type pool struct {
	products map[string]*productPool
}

type productPool struct {
	leases map[string]*store.Lease
	expiry expiryHeap
}

func newPool() *pool { return &pool{products: map[string]*productPool{}} }

func (p *pool) get(k key) *store.Lease {
	if pp := p.products[k.product]; pp != nil {
		return pp.leases[k.instance]
	}
	return nil
}

func (p *pool) held(product string) int {
	if pp := p.products[product]; pp != nil {
		return len(pp.leases)
	}
	return 0
}

// put adds or replaces a lease.
func (p *pool) put(l *store.Lease) {
	pp := p.products[l.Product]
	if pp == nil {
		pp = &productPool{leases: map[string]*store.Lease{}}
		p.products[l.Product] = pp
	}
	pp.leases[l.InstanceID] = l
	heap.Push(&pp.expiry, expiryEntry{at: l.Expires, instance: l.InstanceID})
}

func (p *pool) remove(k key) *store.Lease {
	pp := p.products[k.product]
	if pp == nil {
		return nil
	}
	l, ok := pp.leases[k.instance]
	if !ok {
		return nil
	}
	delete(pp.leases, k.instance)
	return l
}

// reap removes and returns the leases that lapsed before now. Entries of
// renewed or removed leases are dropped as they surface.
func (p *pool) reap(now time.Time) []*store.Lease {
	var out []*store.Lease
	for _, pp := range p.products {
		for len(pp.expiry) > 0 && pp.expiry[0].at.Before(now) {
			e := heap.Pop(&pp.expiry).(expiryEntry)
			l, ok := pp.leases[e.instance]
			if !ok || !l.Expires.Equal(e.at) || l.Live(now) {
				continue
			}
			delete(pp.leases, e.instance)
			out = append(out, l)
		}
	}
	return out
}

// oldest returns the earliest expiry among product's leases.
func (p *pool) oldest(product string) time.Time {
	pp := p.products[product]
	if pp == nil {
		return time.Time{}
	}
	for len(pp.expiry) > 0 {
		e := pp.expiry[0]
		if l, ok := pp.leases[e.instance]; ok && l.Expires.Equal(e.at) {
			return e.at
		}
		heap.Pop(&pp.expiry) // stale: renewed or removed
	}
	return time.Time{}
}

type expiryEntry struct {
	at       time.Time
	instance string
}

type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
