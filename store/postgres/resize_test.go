package postgres

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestResizeReservesNoMoreThanFree: whatever the rows held and reserved
// before, the reserves a resize sets hold every node's seats and leave
// the pool's count, were every reserve filled, within the limit; a pool
// over its limit is reserved nothing.
func TestResizeReservesNoMoreThanFree(t *testing.T) {
	tests := []struct {
		name         string
		held, before []int // row 0 is the asking node's
		total, limit int
		want         []int
	}{
		{"one free, four nodes", []int{0, 0, 0, 0}, []int{0, 1, 1, 1}, 2, 3, []int{1, 0, 0, 0}},
		{"others keep what is left", []int{1, 0, 0}, []int{1, 2, 1, 0}, 1, 10, []int{2, 1, 1}},
		{"none free", []int{2, 0}, []int{2, 1}, 3, 3, []int{2, 0}},
		{"over the limit", []int{3, 1}, []int{3, 2}, 5, 4, []int{noReserve, noReserve}},
		{"wide share", []int{0, 0}, []int{0, 40}, 0, 100, []int{25, 25}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := make([]reserveRow, len(tt.held))
			for i := range rows {
				rows[i] = reserveRow{node: fmt.Sprint("node-", i), held: tt.held[i], reserved: tt.before[i]}
			}
			resize(rows, "node-0", tt.total, tt.limit)
			for i, r := range rows {
				if r.reserved != tt.want[i] || r.at != tt.limit {
					t.Errorf("row %d: reserved %d cap %d, want %d cap %d", i, r.reserved, r.at, tt.want[i], tt.limit)
				}
			}
		})
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		n, limit := 1+r.IntN(6), r.IntN(12)
		rows := make([]reserveRow, n)
		total := r.IntN(3) // the base
		for i := range rows {
			rows[i] = reserveRow{node: fmt.Sprint("node-", i), held: r.IntN(4)}
			rows[i].reserved = rows[i].held + r.IntN(4) - 1
			total += rows[i].held
		}
		me := fmt.Sprint("node-", r.IntN(n))
		before := fmt.Sprint(rows)
		resize(rows, me, total, limit)
		filled := total
		for _, row := range rows {
			if total > limit {
				if row.reserved != noReserve {
					t.Fatalf("%s, count %d over limit %d: %v reserved", before, total, limit, rows)
				}
				continue
			}
			if row.reserved < row.held {
				t.Fatalf("%s, count %d, limit %d, %s asking: %v reserves less than held", before, total, limit, me, rows)
			}
			filled += row.reserved - row.held
		}
		if total <= limit && filled > limit {
			t.Fatalf("%s, count %d, limit %d, %s asking: %v fill to %d", before, total, limit, me, rows, filled)
		}
	}
}
