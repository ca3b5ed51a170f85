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
// its leases and a heap of when to look at each again, so finding what
// lapsed, or the first lease to lapse, costs what comes due, not the
// pool's size.
//
// The heap holds one slot per lease, whatever the rate of renewals: a
// renewal moves the lease's expiry but not its slot, which keeps the time
// the lease was due when last scheduled. A slot that comes due with its
// lease renewed since is moved to the new expiry then, once per lease
// time-to-live however often the lease was renewed.
type pool struct {
	products map[string]*productPool
}

type productPool struct {
	leases map[string]*slot
	expiry slotHeap
}

// slot is a lease and its place in the expiry heap.
type slot struct {
	lease *store.Lease
	// at is when the reaper looks at the lease: its expiry when it was
	// scheduled, never later than its expiry now.
	at    time.Time
	index int
}

func newPool() *pool { return &pool{products: map[string]*productPool{}} }

func (p *pool) get(k key) *store.Lease {
	if pp := p.products[k.product]; pp != nil {
		if s := pp.leases[k.instance]; s != nil {
			return s.lease
		}
	}
	return nil
}

func (p *pool) held(product string) int {
	if pp := p.products[product]; pp != nil {
		return len(pp.leases)
	}
	return 0
}

// put adds a lease, or replaces one with its renewal (whose expiry is
// not earlier).
func (p *pool) put(l *store.Lease) {
	pp := p.products[l.Product]
	if pp == nil {
		pp = &productPool{leases: map[string]*slot{}}
		p.products[l.Product] = pp
	}
	if s := pp.leases[l.InstanceID]; s != nil {
		s.lease = l
		if l.Expires.Before(s.at) { // not a renewal: schedule it as it is
			s.at = l.Expires
			heap.Fix(&pp.expiry, s.index)
		}
		return
	}
	s := &slot{lease: l, at: l.Expires}
	pp.leases[l.InstanceID] = s
	heap.Push(&pp.expiry, s)
}

func (p *pool) remove(k key) *store.Lease {
	pp := p.products[k.product]
	if pp == nil {
		return nil
	}
	s, ok := pp.leases[k.instance]
	if !ok {
		return nil
	}
	delete(pp.leases, k.instance)
	heap.Remove(&pp.expiry, s.index)
	return s.lease
}

// reap removes and returns the leases that lapsed before now.
func (p *pool) reap(now time.Time) []*store.Lease {
	var out []*store.Lease
	for _, pp := range p.products {
		for len(pp.expiry) > 0 && pp.expiry[0].at.Before(now) {
			s := pp.expiry[0]
			if s.lease.Live(now) { // renewed since it was scheduled
				s.at = s.lease.Expires
				heap.Fix(&pp.expiry, 0)
				continue
			}
			heap.Pop(&pp.expiry)
			delete(pp.leases, s.lease.InstanceID)
			out = append(out, s.lease)
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
	// Every slot's time is at most its lease's expiry, so a first slot
	// whose time is its lease's expiry holds the earliest one.
	for len(pp.expiry) > 0 {
		s := pp.expiry[0]
		if s.at.Equal(s.lease.Expires) {
			return s.at
		}
		s.at = s.lease.Expires
		heap.Fix(&pp.expiry, 0)
	}
	return time.Time{}
}

type slotHeap []*slot

func (h slotHeap) Len() int           { return len(h) }
func (h slotHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h slotHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *slotHeap) Push(x any) {
	s := x.(*slot)
	s.index = len(*h)
	*h = append(*h, s)
}
func (h *slotHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}
