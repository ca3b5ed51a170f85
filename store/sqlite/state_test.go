package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/licensor/licensor/store"
)

// TestPoolRenewals checks that the expiry heap holds one slot per lease
// however often leases are renewed, and that the reaper and oldest still
// see each lease's latest expiry.
func TestPoolRenewals(t *testing.T) {
	p := newPool()
	lease := func(id string, exp time.Time) *store.Lease {
		return &store.Lease{Product: "ocr", InstanceID: id, Since: t0, Renewed: t0, Expires: exp}
	}
	for i := range 10 {
		p.put(lease(fmt.Sprint("i-", i), t0.Add(time.Minute)))
	}
	// Renew all but i-0 a thousand times, each further out.
	for r := 1; r <= 1000; r++ {
		for i := 1; i < 10; i++ {
			p.put(lease(fmt.Sprint("i-", i), t0.Add(time.Minute+time.Duration(r)*time.Second)))
		}
	}
	pp := p.products["ocr"]
	if len(pp.expiry) != 10 || len(pp.leases) != 10 {
		t.Fatalf("%d slots for %d leases, want 10 and 10", len(pp.expiry), len(pp.leases))
	}
	if got := p.oldest("ocr"); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("oldest = %v, want i-0's expiry %v", got, t0.Add(time.Minute))
	}
	gone := p.reap(t0.Add(2 * time.Minute))
	if len(gone) != 1 || gone[0].InstanceID != "i-0" {
		t.Fatalf("reaped %v, want only i-0", gone)
	}
	if got, want := p.oldest("ocr"), t0.Add(time.Minute+1000*time.Second); !got.Equal(want) {
		t.Fatalf("oldest after the reap = %v, want %v", got, want)
	}
	if len(pp.expiry) != 9 {
		t.Fatalf("%d slots after the reap, want 9", len(pp.expiry))
	}
	if l := p.remove(key{"ocr", "i-5"}); l == nil || len(pp.expiry) != 8 || p.get(key{"ocr", "i-5"}) != nil {
		t.Fatalf("remove left %d slots (lease %v)", len(pp.expiry), l)
	}
	if gone := p.reap(t0.Add(time.Hour)); len(gone) != 8 || len(pp.expiry) != 0 || p.held("ocr") != 0 {
		t.Fatalf("reaped %d at the end, %d slots left", len(gone), len(pp.expiry))
	}
	// A lease put again with an earlier expiry (the clock set back a
	// little) is looked at when that comes.
	p.put(lease("j", t0.Add(time.Hour)))
	p.put(lease("j", t0.Add(time.Minute)))
	if gone := p.reap(t0.Add(2 * time.Minute)); len(gone) != 1 {
		t.Fatalf("the lease moved earlier was not reaped at its new expiry: %v", gone)
	}
}
